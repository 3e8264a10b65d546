"""`wio workspace`, `wio create`, `wio share`, `wio shares`, `wio credentials`, `wio exec`, `wio mc`,
`wio link` and `wio root import` as a user runs them: the installed CLI in its own process against the
real identity, nodes and workspaces services and SeaweedFS.

What the brokered credentials allow is proven by SeaweedFS itself (boto3 listing inside and outside).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import Config

from cli import errors
from tests.conftest import AuthUnderTest, NodesUnderTest, WorkspacesUnderTest
from tests.gateway_fixture import GatewayUnderTest
from tests.test_cli_nodes import Cli, one_clean_line, unique
from wio.auth.v1 import auth_pb2
from wio.nodes.v1 import nodes_pb2

pytestmark = pytest.mark.integration

WIO = str(Path(sys.executable).with_name("wio"))
LINE_TIME = r"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\]"
# One policy for a single workspace fits (about 410 characters), one for two does not (about 500).
SMALL_POLICY_LIMIT = 450

# Lists inside and outside a workspace with whatever AWS_* variables it is given, then exits 3.
LIST_SCRIPT = """
import sys
import boto3
from botocore.client import Config
from botocore.exceptions import ClientError

bucket, inside, outside = sys.argv[1:4]
s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
found = s3.list_objects_v2(Bucket=bucket, Prefix=inside).get("Contents", [])
print("inside", " ".join(sorted(item["Key"] for item in found)))
try:
    s3.list_objects_v2(Bucket=bucket, Prefix=outside)
    print("outside allowed")
except ClientError as exc:
    print("outside", exc.response["Error"]["Code"])
sys.exit(3)
"""

# Lists a prefix through an AWS profile whose credentials come from credential_process.
PROFILE_SCRIPT = """
import sys
import boto3
from botocore.client import Config

bucket, inside = sys.argv[1:3]
session = boto3.session.Session(profile_name="wio-test")
s3 = session.client("s3", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
print(" ".join(sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=inside)["Contents"])))
"""

# Stands in for mc: reports its arguments and aliases, and lists each alias path with the alias's
# credentials, so a test sees both the rewriting and what those credentials allow.
FAKE_MC = """
import json
import os
import sys
from urllib.parse import unquote, urlsplit

import boto3
from botocore.client import Config
from botocore.exceptions import ClientError

hosts = {}
for name, value in os.environ.items():
    if name.startswith("MC_HOST_"):
        url = urlsplit(value)
        userinfo, _, hostport = url.netloc.rpartition("@")
        key, secret, token = (unquote(part) for part in userinfo.split(":"))
        hosts[name[len("MC_HOST_"):]] = (f"{url.scheme}://{hostport}", key, secret, token)
listed = {}
for arg in sys.argv[1:]:
    alias, _, rest = arg.partition("/")
    if alias not in hosts:
        continue
    endpoint, key, secret, token = hosts[alias]
    bucket, _, prefix = rest.partition("/")
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=os.environ["FAKE_MC_REGION"],
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    try:
        found = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        listed[arg] = sorted(item["Key"] for item in found)
    except ClientError as exc:
        listed[arg] = exc.response["Error"]["Code"]
print(json.dumps({"args": sys.argv[1:], "aliases": sorted(hosts), "listed": listed}))
"""


def write_config(folder: Path, auth: str, nodes: str, workspaces: str, api_key: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(
        f'[server]\naddress = "{auth}"\n'
        f'[server.services]\nnodes = "{nodes}"\nworkspaces = "{workspaces}"\n'
        f'[auth]\napi_key = "{api_key}"\n'
    )
    path.chmod(0o600)
    return path


@dataclass
class User:
    name: str
    key: str
    home: Path
    config: Path
    clis: list[Cli]

    @property
    def cli(self) -> Cli:
        return self.clis[0]

    def variant(self, **env: str) -> Cli:
        """This user's CLI with more environment (e.g. another PATH)."""
        cli = Cli(self.home, self.config)
        cli.env.update(env)
        self.clis.append(cli)
        return cli

    def outputs(self) -> str:
        return "".join(output for cli in self.clis for output in cli.outputs)


@dataclass
class Lab:
    """Alice operates two nodes on the test SeaweedFS: `node` with private (base prefix ws/), public and
    unmanaged roots, and `small` with a private root and a session-policy limit that fits one workspace.
    Bob is in Alice's group; Carol is in nothing."""

    alice: User
    bob: User
    carol: User
    group: str
    node: str
    small: str
    buckets: dict[str, str]
    roots: dict[str, str]
    s3: Any
    admin_s3: Any
    folder: Path

    def put(self, bucket: str, key: str, body: bytes = b"x") -> None:
        self.admin_s3.put_object(Bucket=bucket, Key=key, Body=body)


def admin_client(s3: Any) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name=s3.region or "us-east-1",
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
async def lab(
    tmp_path_factory: pytest.TempPathFactory,
    infra: Any,
    auth: AuthUnderTest,
    nodes: NodesUnderTest,
    workspaces: WorkspacesUnderTest,
) -> AsyncIterator[Lab]:
    folder = tmp_path_factory.mktemp("cli-ws")
    s3 = infra.s3

    async def user(prefix: str, admin: bool = False) -> User:
        created, key = await auth.new_user(prefix, admin=admin)
        home = folder / prefix
        config = write_config(home, auth.address, nodes.address, workspaces.address, key)
        return User(created.username, key, home, config, [Cli(home, config)])

    # Alice registers the test nodes, on loopback: only an admin may.
    alice, bob, carol = await user("clia", admin=True), await user("clib"), await user("clic")
    as_alice = await auth.as_key(alice.key)
    group = unique("team")
    await auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=group), metadata=as_alice)
    await auth.stub.AddGroupMember(
        auth_pb2.AddGroupMemberRequest(group=group, username=bob.name), metadata=as_alice
    )

    node, small = unique("cliws"), unique("clismall")
    for name, limit in ((node, 0), (small, SMALL_POLICY_LIMIT)):
        await nodes.register_test_s3(s3, name, as_alice, policy_size_limit=limit)
    admin_s3 = admin_client(s3)
    buckets = {kind: unique(kind[:5]) for kind in ("private", "public", "unmanaged", "small")}
    admin_s3.create_bucket(Bucket=buckets["unmanaged"])
    roots = {}
    for kind, on, prefix, root_type in (
        ("private", node, "ws", nodes_pb2.ROOT_TYPE_PRIVATE),
        ("public", node, "", nodes_pb2.ROOT_TYPE_PUBLIC),
        ("unmanaged", node, "", nodes_pb2.ROOT_TYPE_UNMANAGED),
        ("small", small, "", nodes_pb2.ROOT_TYPE_PRIVATE),
    ):
        request = nodes_pb2.CreateRootRequest(
            node=on, bucket=buckets[kind], base_prefix=prefix, type=root_type
        )
        roots[kind] = (await nodes.stub.CreateRoot(request, metadata=as_alice)).root.id
    lab = Lab(alice, bob, carol, group, node, small, buckets, roots, s3, admin_s3, folder)
    yield lab
    # Whatever the tests printed, no node secret got into it.
    everything = alice.outputs() + bob.outputs() + carol.outputs()
    assert s3.secret_key not in everything
    assert "Traceback" not in everything


async def ok(cli: Cli, *args: str) -> str:
    code, out, err = await cli(*args)
    assert code == 0, f"wio {' '.join(args)} -> {code}: {err}"
    return out


async def fails(cli: Cli, code: int, *args: str) -> str:
    """Runs a command that must fail with `code` and one clean error line; answers that line."""
    status, out, err = await cli(*args)
    assert status == code, f"wio {' '.join(args)} -> {status}: {out}{err}"
    assert out == ""
    one_clean_line(err)
    return err


def exports(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            found[name] = shlex.split(value)[0]
    return found


async def run_python(script: str, *args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


# Workspaces and shares ------------------------------------------------------------------------------------


async def test_workspaces_and_shares(lab: Lab) -> None:
    alice, bob, carol = lab.alice.cli, lab.bob.cli, lab.carol.cli
    me = lab.alice.name
    name, public = unique("data"), unique("open")

    bucket = lab.buckets["private"]
    created, created_public = await asyncio.gather(
        ok(alice, "workspace", "create", name, "--node", lab.node),
        ok(alice, "create", public, "--public", "--node", lab.node),
    )
    assert created == f"created workspace {me}/{name}/ (private) on {lab.node}: {bucket}/ws/{me}/{name}/\n"
    assert created_public.startswith(f"created workspace {me}/{public}/ (public) on {lab.node}: ")

    # Listed like the seed: [created] owner/name/ (type). Bob sees the public workspace but not the
    # private one, which to him does not exist.
    everything, public_only, by_name, bobs, as_json, bob_sees, bob_show = await asyncio.gather(
        ok(alice, "ws", "ls", "--node", lab.node),
        ok(alice, "ws", "ls", "--node", lab.node, "--type", "public"),
        ok(alice, "workspace", "ls", "--name", name[-8:], "--owner", me),
        ok(alice, "ws", "ls", "--owner", lab.bob.name),
        ok(alice, "ws", "ls", "--node", lab.node, "--json"),
        ok(bob, "ws", "ls", "--owner", me),
        fails(bob, errors.EXIT_NOT_FOUND, "ws", "show", f"{me}/{name}"),
    )
    assert re.search(rf"^{LINE_TIME} {me}/{name}/ \(private\)$", everything, re.M), everything
    assert re.search(rf"^{LINE_TIME} {me}/{public}/ \(public\)$", everything, re.M), everything
    assert f"{me}/{public}/" in public_only and f"{me}/{name}/" not in public_only
    assert len(by_name.splitlines()) == 1 and f" {me}/{name}/ (private)" in by_name
    assert bobs == ""
    assert {w["name"]: w["type"] for w in json.loads(as_json)} == {
        name: "WORKSPACE_TYPE_PRIVATE",
        public: "WORKSPACE_TYPE_PUBLIC",
    }
    assert f"{me}/{public}/ (public)" in bob_sees and name not in bob_sees
    assert name in bob_show

    # Shares to a user and to a group.
    out = await ok(alice, "share", name, lab.bob.name, "--permission", "read", "--expires", "7d")
    assert re.fullmatch(
        rf"{LINE_TIME} \S+ {me}/{name}/ {lab.bob.name} \(read\) expires=\d{{4}}-\S+\n", out
    ), out
    direct_id = out.split()[1]
    out = await ok(alice, "share", f"{me}/{name}", f"group:{lab.group}", "-p", "readwrite")
    assert f" group:{lab.group} (readwrite) expires=never" in out
    group_id = out.split()[1]
    (
        _,
        _,
        bob_show,
        alice_show,
        shown_json,
        alice_shares,
        bob_shares,
        carol_shares,
    ) = await asyncio.gather(
        fails(alice, errors.EXIT_CONFLICT, "share", name, f"group:{lab.group}"),
        fails(alice, errors.EXIT_NOT_FOUND, "share", name, unique("nobody")),
        ok(bob, "ws", "show", f"{me}/{name}"),
        ok(alice, "ws", "show", name),
        ok(alice, "ws", "show", f"{name}/inner/file", "--json"),
        ok(alice, "shares", "ls", name),
        ok(bob, "shares", "ls"),
        ok(carol, "shares", "ls", "--json"),
    )

    rows = dict(line.split(":", 1) for line in bob_show.splitlines())
    assert rows["workspace"].strip() == f"{me}/{name}/"
    assert rows["your permission"].strip() == "readwrite"
    assert rows["because"].strip() == f"shared with group {lab.group} (readwrite)"
    assert "shares" not in rows  # bob manages none of them
    rows = dict(line.split(":", 1) for line in alice_show.splitlines())
    assert (rows["your permission"].strip(), rows["because"].strip()) == ("own", "owner")
    assert rows["location"].strip() == f"{bucket}/ws/{me}/{name}/"
    assert (
        f"{lab.bob.name} read until " in rows["shares"] and f"group:{lab.group} readwrite" in rows["shares"]
    )
    shown = json.loads(shown_json)
    assert shown["path"] == "inner/file" and shown["workspace"]["permission"] == "PERMISSION_OWN"
    assert {line.split()[1] for line in alice_shares.splitlines()} == {direct_id, group_id}
    assert direct_id in bob_shares and group_id in bob_shares
    assert carol_shares == '{\n  "made": [],\n  "with_me": []\n}\n'

    out = await ok(alice, "shares", "update", direct_id, "--permission", "own", "--no-expiry")
    assert out.rstrip().endswith(f"{me}/{name}/ {lab.bob.name} (own) expires=never")
    out = await ok(alice, "shares", "update", direct_id, "-p", "read", "--expires", "2099-01-31")
    assert out.rstrip().endswith("(read) expires=2099-01-31T00:00:00.000000")
    await fails(bob, errors.EXIT_NOT_FOUND, "shares", "update", group_id, "-p", "own")

    code, out, err = await alice("shares", "rm", direct_id)
    assert (code, out) == (0, f"revoked share {direct_id}\n"), err
    assert "valid until they expire" in err
    out = await ok(bob, "ws", "show", f"{me}/{name}")
    assert "shared with group" in out  # still readwrite through the group
    await ok(alice, "shares", "rm", group_id)
    await fails(bob, errors.EXIT_NOT_FOUND, "ws", "show", f"{me}/{name}")
    await fails(alice, errors.EXIT_NOT_FOUND, "shares", "rm", group_id)

    # Removing: asks (refused without a terminal), refuses a path, refuses a workspace with objects.
    lab.put(bucket, f"ws/{me}/{name}/a.txt")
    lab.put(bucket, f"ws/{me}/{name}/deep/b.txt")
    await fails(alice, errors.EXIT_USAGE, "ws", "rm", name)
    await fails(alice, errors.EXIT_USAGE, "ws", "rm", f"{name}/deep", "--yes")
    err = await fails(alice, errors.EXIT_CONFLICT, "ws", "rm", name, "--yes")
    assert "not empty" in err
    await fails(bob, errors.EXIT_DENIED, "ws", "rm", f"{me}/{public}", "--yes")
    out = await ok(alice, "workspace", "rm", name, "--force", "--yes")
    assert re.fullmatch(rf"removed workspace {me}/{name}/ \(\d+ objects deleted\)\n", out), out
    assert "Contents" not in lab.admin_s3.list_objects_v2(Bucket=bucket, Prefix=f"ws/{me}/{name}/")
    assert f"{me}/{name}/" not in await ok(alice, "ws", "ls")
    err = await fails(alice, errors.EXIT_NOT_FOUND, "ws", "rm", name, "--yes")
    assert err.startswith("error: no workspace")
    await ok(alice, "ws", "rm", public, "--yes")


# Credentials, exec ---------------------------------------------------------------------------------------


async def test_credentials_formats_and_exec(lab: Lab) -> None:
    alice, me = lab.alice.cli, lab.alice.name
    name, bucket = unique("creds"), lab.buckets["private"]
    await ok(alice, "create", name, "--node", lab.node)
    inside, outside = f"ws/{me}/{name}/", "ws/"
    lab.put(bucket, f"{inside}in.txt")
    lab.put(bucket, "ws/outside.txt")

    out, as_json, rclone, aws_process = await asyncio.gather(
        ok(alice, "credentials", name),
        ok(alice, "credentials", name, "--format", "json"),
        ok(alice, "credentials", name, "-f", "rclone"),
        ok(alice, "credentials", name, "--format", "aws-process"),
    )
    env = exports(out)
    assert set(env) == {
        *("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
        *("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"),
    }
    assert env["AWS_ENDPOINT_URL"] == lab.s3.endpoint
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == (lab.s3.region or "us-east-1")
    assert f"# {me}/{name}/: own, s3://{bucket}/{inside}" in out.splitlines()

    sets = json.loads(as_json)["sets"]
    assert len(sets) == 1
    assert sets[0]["node_name"] == lab.node
    assert sets[0]["scopes"] == [
        {"workspace": f"{me}/{name}", "bucket": bucket, "prefix": inside, "permission": "PERMISSION_OWN"}
    ]
    assert sets[0]["expires_at"].endswith("Z")

    lines = rclone.splitlines()
    assert f"[wio-{lab.node}]" in lines
    for row in ("type = s3", "provider = Other", f"endpoint = {lab.s3.endpoint}"):
        assert row in lines
    for field in ("access_key_id", "secret_access_key", "session_token", "region"):
        assert any(line.startswith(f"{field} = ") for line in lines), field
    assert f"# {me}/{name}/: own, wio-{lab.node}:{bucket}/{inside}" in lines

    document = json.loads(aws_process)
    assert set(document) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    assert document["Version"] == 1
    expiration = datetime.strptime(document["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expiration > datetime.now(UTC)

    clean = {k: v for k, v in alice.env.items() if not k.startswith("AWS_")}
    marker = inside  # a managed workspace's folder marker

    # An AWS profile whose credential_process is `wio credentials ... --format aws-process`.
    aws_config = lab.folder / f"aws-{name}.ini"
    aws_config.write_text(
        "[profile wio-test]\n"
        f"credential_process = {WIO} credentials {me}/{name} --format aws-process\n"
        f"endpoint_url = {lab.s3.endpoint}\n"
        f"region = {lab.s3.region or 'us-east-1'}\n"
    )
    profile_env = {**clean, "AWS_CONFIG_FILE": str(aws_config), "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    code, out, err = await run_python(PROFILE_SCRIPT, bucket, inside, env=profile_env)
    assert (code, out) == (0, f"{marker} {inside}in.txt\n"), err

    # exec: the variables reach the command; S3 allows the workspace and refuses around it; the
    # command's exit code is wio's. A profile in the environment does not get in the way.
    with_profile = lab.alice.variant(AWS_PROFILE="no-such-profile")
    command = (sys.executable, "-c", LIST_SCRIPT, bucket, inside, outside)
    code, out, err = await with_profile("exec", name, "--", *command)
    assert code == 3, err
    assert out.splitlines() == [f"inside {marker} {inside}in.txt", "outside AccessDenied"]

    # Usage errors found before connecting are covered in tests/test_cli_unit.py.
    _, not_found, missing = await asyncio.gather(
        fails(alice, errors.EXIT_NOT_FOUND, "exec", unique("missing"), "--", sys.executable, "-c", "pass"),
        fails(alice, 127, "exec", name, "--", "no-such-command-for-wio"),
        fails(alice, errors.EXIT_NOT_FOUND, "credentials", unique("missing")),
    )
    assert "command not found: no-such-command-for-wio" in not_found
    assert "no workspace" in missing


async def test_several_credential_sets(lab: Lab) -> None:
    """Two workspaces on the small node need two sets: json shows both; single-set forms refuse."""
    alice, me = lab.alice.cli, lab.alice.name
    first, second = unique("s1"), unique("s2")
    await asyncio.gather(*(ok(alice, "create", name, "--node", lab.small) for name in (first, second)))

    formats = ("env", "rclone", "aws-process")
    both, on_node, one, exec_refused, node_refused, *refused = await asyncio.gather(
        ok(alice, "credentials", first, second, "--format", "json"),
        ok(alice, "credentials", "--node", lab.small, "-f", "json"),
        ok(alice, "credentials", first),
        fails(alice, errors.EXIT_USAGE, "exec", first, second, "--", sys.executable, "-c", "pass"),
        # Everything on the node is the same two workspaces.
        fails(alice, errors.EXIT_USAGE, "credentials", "--node", lab.small),
        *(fails(alice, errors.EXIT_USAGE, "credentials", first, second, "--format", f) for f in formats),
    )
    sets = json.loads(both)["sets"]
    assert sorted(s["scopes"][0]["workspace"] for s in sets) == sorted([f"{me}/{first}", f"{me}/{second}"])
    assert all(len(s["scopes"]) == 1 for s in sets)
    assert len(json.loads(on_node)["sets"]) == 2
    assert exports(one)["AWS_SESSION_TOKEN"]  # one of them alone is fine
    for fmt, err in zip(formats, refused, strict=True):
        assert f"need 2 credential sets (all on node {lab.small}" in err
        assert f"--format {fmt} holds only one" in err
    assert "`wio exec` holds only one" in exec_refused
    assert "need 2 credential sets" in node_refused
    await asyncio.gather(*(ok(alice, "ws", "rm", name, "--yes") for name in (first, second)))


# mc ----------------------------------------------------------------------------------------------------


async def test_mc(lab: Lab) -> None:
    alice, me = lab.alice.cli, lab.alice.name
    bindir, empty = lab.folder / "bin", lab.folder / "empty-bin"
    bindir.mkdir(exist_ok=True)
    empty.mkdir(exist_ok=True)
    fake = bindir / "mc"
    fake.write_text(f"#!{sys.executable}\n{FAKE_MC}")
    fake.chmod(0o755)
    local = lab.folder / "local.txt"
    local.write_text("here")

    name, bucket = unique("mcd"), lab.buckets["private"]
    await ok(alice, "create", name, "--node", lab.node)
    lab.put(bucket, f"ws/{me}/{name}/hello.txt")
    alias = f"wio-{lab.node}"
    path = f"{alias}/{bucket}/ws/{me}/{name}/"

    # Without mc: said plainly, before anything else happens.
    err = await fails(lab.alice.variant(PATH=str(empty)), errors.EXIT_ERROR, "mc", "ls", f"{name}/")
    assert err.startswith("error: mc is not installed")

    region = lab.s3.region or "us-east-1"
    alice = lab.alice.variant(PATH=str(bindir), FAKE_MC_REGION=region)
    not_mine = unique("nothing")
    out = await ok(alice, "mc", "--json", "ls", "--recursive", f"{name}/", str(local), not_mine)
    seen = json.loads(out)
    assert seen["args"] == ["--json", "ls", "--recursive", path, str(local), not_mine]
    assert seen["aliases"] == [alias]
    assert seen["listed"] == {path: [f"ws/{me}/{name}/", f"ws/{me}/{name}/hello.txt"]}

    # Every reference form; a path inside is kept, and the subcommand is never taken for a workspace.
    seen = json.loads(await ok(alice, "mc", "cat", f"{me}/{name}/hello.txt"))
    assert seen["args"] == ["cat", f"{path}hello.txt"]
    seen = json.loads(await ok(alice, "mc", "ls", f"{me}/{name}", f"{name}/sub/"))
    assert seen["args"] == ["ls", path, f"{path}sub/"]

    # Workspaces needing two credential sets get two aliases, each allowed its own workspace only.
    first, second = unique("m1"), unique("m2")
    for each in (first, second):
        await ok(alice, "create", each, "--node", lab.small)
    seen = json.loads(await ok(alice, "mc", "cp", "--recursive", f"{first}/", f"{second}/"))
    small_alias, small_bucket = f"wio-{lab.small}", lab.buckets["small"]
    assert seen["aliases"] == [small_alias, f"{small_alias}-2"]
    source, target = seen["args"][2:]
    assert {source.split("/", 1)[1], target.split("/", 1)[1]} == {
        f"{small_bucket}/{me}/{first}/",
        f"{small_bucket}/{me}/{second}/",
    }
    assert source.split("/", 1)[0] != target.split("/", 1)[0]
    assert seen["listed"] == {source: [source.split("/", 2)[2]], target: [target.split("/", 2)[2]]}

    # Someone else's private workspace is not a reference for bob: passed on as it is.
    bob = lab.bob.variant(PATH=str(bindir), FAKE_MC_REGION=region)
    seen = json.loads(await ok(bob, "mc", "ls", f"{me}/{name}/"))
    assert seen == {"args": ["ls", f"{me}/{name}/"], "aliases": [], "listed": {}}
    # The small node's workspaces go, so test_several_credential_sets counts its own only.
    await asyncio.gather(*(ok(alice, "ws", "rm", each, "--yes") for each in (first, second)))


# why, root import, link ------------------------------------------------------------------------------------


async def test_why_import_and_link(lab: Lab, gateway: GatewayUnderTest) -> None:
    alice, bob, me = lab.alice.cli, lab.bob.cli, lab.alice.name
    name, bucket = unique("why"), lab.buckets["private"]
    await ok(alice, "create", name, "--node", lab.node)
    await ok(alice, "share", name, lab.bob.name, "-p", "read")
    lab.put(bucket, f"ws/{me}/{name}/report.txt", b"the report")

    why_bob, why_json, _, why_me, link_json, *_ = await asyncio.gather(
        ok(alice, "ws", "why", name, "--user", lab.bob.name, "--permission", "readwrite"),
        ok(bob, "workspace", "why", f"{me}/{name}", "--json"),
        fails(bob, errors.EXIT_DENIED, "ws", "why", f"{me}/{name}", "--user", lab.carol.name),
        ok(alice, "ws", "why", name),
        ok(bob, "link", f"{me}/{name}/report.txt", "--json"),
        fails(alice, errors.EXIT_NOT_FOUND, "link", f"{name}/absent.txt"),
        fails(lab.carol.cli, errors.EXIT_NOT_FOUND, "link", f"{me}/{name}/report.txt"),
    )
    lines = why_bob.splitlines()
    assert lines[0].startswith(f"{lab.bob.name} cannot write {me}/{name}/"), why_bob
    assert any(re.fullmatch(r"  \+ read\s+shared with them", line) for line in lines[1:]), why_bob
    explained = json.loads(why_json)
    assert explained["allowed"] is True and explained["username"] == lab.bob.name
    assert why_me.startswith(f"{me} can read {me}/{name}/") and "  + own" in why_me

    # A link downloads the object through the gateway without any credentials, until it is revoked.
    code, url, err = await alice("link", f"{name}/report.txt", "--expires", "10m")
    assert code == 0 and "works until" in err and "shown only this once" in err, err
    url = url.strip()

    def download(address: str) -> bytes:
        return bytes(urllib.request.urlopen(address, timeout=30).read())  # noqa: S310 - the test gateway

    assert await asyncio.to_thread(download, url) == b"the report"
    link = json.loads(link_json)
    assert link["url"].startswith(f"{gateway.url}/l/") and link["expires_at"].endswith("Z")
    listed = json.loads(await ok(alice, "links", "ls", "--json"))
    mine = next(item for item in listed if url.startswith(f"{gateway.url}/l/{item['id']}."))
    assert mine["object"] == f"{me}/{name}/report.txt" and mine["creator"] == me
    assert re.search(
        rf"{LINE_TIME} {mine['id']} {me}/{name}/report.txt active expires=", await ok(alice, "links", "ls")
    )
    await fails(bob, errors.EXIT_NOT_FOUND, "links", "rm", mine["id"])
    assert f"revoked link {mine['id']}" in await ok(alice, "links", "rm", mine["id"])
    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(download, url)
    assert refused.value.code == 404
    assert "revoked" in await ok(alice, "links", "ls")

    # An unmanaged workspace maps a folder by hand; import maps the rest, once.
    unmanaged = lab.buckets["unmanaged"]
    for key in ("proj-a/readme.txt", "proj-b/x/y.txt", "Old Stuff/z.txt", "kept/k.txt", "Case/a", "case/b"):
        lab.put(unmanaged, key)
    kept = unique("kept")
    out = await ok(alice, "ws", "create", kept, "--prefix", "kept", "--root", lab.roots["unmanaged"])
    assert out == f"created workspace {me}/{kept}/ (unmanaged) on {lab.node}: {unmanaged}/kept/\n"
    (code, out, err), *_ = await asyncio.gather(
        alice("root", "import", lab.roots["unmanaged"]),
        fails(bob, errors.EXIT_DENIED, "root", "import", lab.roots["unmanaged"]),
        fails(alice, errors.EXIT_INVALID, "root", "import", lab.roots["private"]),
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[-1] == "imported 3 folders; 1 already mapped, 2 skipped"
    # SeaweedFS ignores case in session policies: folders equal ignoring case are skipped, named together.
    warnings = sorted(line for line in err.splitlines() if line.startswith("warning: skipped "))
    assert [w.split(":")[1].strip() for w in warnings] == ["skipped Case/", "skipped case/"], err
    assert "equals case/ ignoring case" in warnings[0] and "equals Case/ ignoring case" in warnings[1]
    created = sorted(line.split()[1] for line in lines[:-1])
    assert created == sorted(f"{me}/{n}/" for n in ("proj-a", "proj-b", "old-stuff"))
    assert all(line.endswith(" (unmanaged)") for line in lines[:-1])
    out = await ok(alice, "root", "import", lab.roots["unmanaged"])
    assert out == "imported 0 folders; 4 already mapped, 2 skipped\n"

    out = await ok(alice, "ws", "rm", kept, "--yes")
    assert out == f"removed workspace {me}/{kept}/ (its data was not touched)\n"
    assert lab.admin_s3.list_objects_v2(Bucket=unmanaged, Prefix="kept/")["KeyCount"] == 1
