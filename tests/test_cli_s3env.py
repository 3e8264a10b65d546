"""cli/s3env.py: credential sets as shell exports, AWS_* variables, rclone sections, credential_process
JSON, and mc aliases and paths."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cli import errors
from cli.errors import CliError
from tests.cli_support import timestamp

pytestmark = pytest.mark.unit


def credential_set(**overrides: Any) -> Any:
    from wio.workspaces.v1 import workspaces_pb2

    values: dict[str, Any] = {
        "node_id": "n1",
        "node_name": "lab",
        "endpoint": "http://127.0.0.1:9000",
        "region": "us-east-1",
        "access_key": "AKTEMP",
        # Characters a shell, an INI file or a URL would take for syntax.
        "secret_key": "se/cr+et:$x y",
        "session_token": "tok/en==",
        "expires_at": timestamp(datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)),
        "scopes": [
            workspaces_pb2.CredentialScope(
                workspace="alice/data",
                bucket="lab-data",
                prefix="ws/alice/data/",
                permission=workspaces_pb2.PERMISSION_READWRITE,
            )
        ],
    }
    values.update(overrides)
    return workspaces_pb2.CredentialSet(**values)


def test_env_format_quotes_values_and_lists_scopes() -> None:
    import shlex

    from cli.s3env import env_text

    lines = env_text(credential_set()).splitlines()
    assert lines[:2] == [
        "# wio credentials for node lab, valid until 2030-01-02T03:04:05Z",
        "# alice/data/: readwrite, s3://lab-data/ws/alice/data/",
    ]
    exported = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in lines[2:])
    assert exported == {
        "AWS_ACCESS_KEY_ID": "AKTEMP",
        "AWS_SECRET_ACCESS_KEY": "se/cr+et:$x y",
        "AWS_SESSION_TOKEN": "tok/en==",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    no_region = env_text(credential_set(region=""))
    assert "AWS_REGION" not in no_region and "AWS_DEFAULT_REGION" not in no_region


def test_aws_process_format_is_what_credential_process_reads() -> None:
    from cli.s3env import aws_process_text

    assert json.loads(aws_process_text(credential_set())) == {
        "Version": 1,
        "AccessKeyId": "AKTEMP",
        "SecretAccessKey": "se/cr+et:$x y",
        "SessionToken": "tok/en==",
        "Expiration": "2030-01-02T03:04:05Z",
    }


def test_rclone_format_is_one_section() -> None:
    from cli.s3env import rclone_text

    assert rclone_text(credential_set(node_name="lab.east")).splitlines() == [
        "# wio credentials for node lab.east, valid until 2030-01-02T03:04:05Z",
        "# alice/data/: readwrite, wio-lab-east:lab-data/ws/alice/data/",
        "[wio-lab-east]",
        "type = s3",
        "provider = Other",
        "access_key_id = AKTEMP",
        "secret_access_key = se/cr+et:$x y",
        "session_token = tok/en==",
        "endpoint = http://127.0.0.1:9000",
        "region = us-east-1",
        "no_check_bucket = true",
    ]


def test_single_set_formats_refuse_several_sets() -> None:
    from cli.s3env import only_set

    one = credential_set()
    assert only_set([one], "--format env") is one
    with pytest.raises(CliError) as info:
        only_set([one, credential_set()], "--format env")
    assert info.value.exit_code == errors.EXIT_USAGE
    assert info.value.message.startswith(
        "these workspaces need 2 credential sets (all on node lab, whose session-policy size limit "
        "splits them), and --format env holds only one"
    )
    assert "se/cr+et" not in info.value.message
    with pytest.raises(CliError) as info:
        only_set([one, credential_set(node_name="other"), credential_set()], "`wio exec`")
    assert "3 credential sets (on nodes lab, other)" in info.value.message
    with pytest.raises(CliError):
        only_set([], "--format env")


def test_exec_environment_replaces_profile_and_names_s3_endpoint() -> None:
    from cli.s3env import exec_environment

    base = {"PATH": "/bin", "AWS_PROFILE": "work", "AWS_DEFAULT_PROFILE": "work", "AWS_SESSION_TOKEN": "old"}
    env = exec_environment(credential_set(), base)
    assert "AWS_PROFILE" not in env and "AWS_DEFAULT_PROFILE" not in env
    assert env["PATH"] == "/bin"
    assert env["AWS_SESSION_TOKEN"] == "tok/en=="
    assert env["AWS_ENDPOINT_URL"] == env["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:9000"
    assert base["AWS_PROFILE"] == "work"  # the caller's mapping is left alone


def test_mc_host_quotes_each_part() -> None:
    from urllib.parse import unquote, urlsplit

    from cli.s3env import mc_host

    value = mc_host(credential_set(endpoint="https://s3.example.org:9443/"))
    assert value == "https://AKTEMP:se%2Fcr%2Bet%3A%24x%20y:tok%2Fen%3D%3D@s3.example.org:9443"
    userinfo = urlsplit(value).netloc.rpartition("@")[0]
    assert [unquote(part) for part in userinfo.split(":")] == ["AKTEMP", "se/cr+et:$x y", "tok/en=="]


def test_mc_aliases_one_per_set() -> None:
    from cli.s3env import mc_aliases

    sets = [
        credential_set(),
        credential_set(),
        credential_set(node_name="Other Node!"),
        credential_set(node_name="", node_id="id-9"),
    ]
    assert mc_aliases(sets) == ["wio-lab", "wio-lab-2", "wio-Other-Node", "wio-id-9"]


def test_mc_candidates_skip_subcommand_flags_urls_and_local_paths() -> None:
    from cli.s3env import mc_candidates

    local = {"./here.txt", "data"}
    args = ["--json", "cp", "-r", "ws/", "./here.txt", "data", "https://x/y", "alice/ws/file", "--attr=a=b"]
    assert mc_candidates(args, local.__contains__) == [3, 7]
    # A global flag's value is neither the subcommand nor a path.
    assert mc_candidates(["--config-dir", "/cfg", "ls", "ws"], local.__contains__) == [3]
    assert mc_candidates(["ls"], local.__contains__) == []


def test_mc_path_keeps_inner_path_and_trailing_slash() -> None:
    from cli.s3env import mc_path, set_for_workspace

    assert mc_path("wio-lab", "b", "ws/a/d/", "", "d") == "wio-lab/b/ws/a/d/"
    assert mc_path("wio-lab", "b", "ws/a/d/", "x/y.txt", "d/x/y.txt") == "wio-lab/b/ws/a/d/x/y.txt"
    assert mc_path("wio-lab", "b", "ws/a/d/", "x", "d/x/") == "wio-lab/b/ws/a/d/x/"
    sets = [credential_set(), credential_set(scopes=[])]
    assert set_for_workspace(sets, "alice/data") == 0
    assert set_for_workspace(sets, "alice/other") is None
