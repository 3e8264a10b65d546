"""cli/output.py: listing lines like the seed's, detail blocks and explanations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf import timestamp_pb2

from cli.output import apikey_line, detail_block, format_time, group_line, print_lines, user_line
from cli.text import shown
from tests.cli_support import CREATED, timestamp
from wio.auth.v1 import auth_pb2

pytestmark = pytest.mark.unit


def test_format_time_is_seed_style() -> None:
    assert format_time(timestamp(CREATED)) == "2020-10-17T21:07:18.996866"
    # Microseconds are always printed, so columns line up.
    assert format_time(timestamp(datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC))) == "2020-01-02T03:04:05.000000"
    assert format_time(timestamp_pb2.Timestamp()) == "never"


def test_user_line() -> None:
    user = auth_pb2.User(
        username="alice",
        email="alice@example.org",
        role=auth_pb2.ROLE_ADMIN,
        created_at=timestamp(CREATED),
    )
    assert user_line(user) == "[2020-10-17T21:07:18.996866] alice alice@example.org admin"
    user.disabled = True
    user.role = auth_pb2.ROLE_USER
    assert user_line(user) == "[2020-10-17T21:07:18.996866] alice alice@example.org user (disabled)"
    # An empty column keeps its place, so the line still splits into the same fields.
    bootstrap = auth_pb2.User(username="root", role=auth_pb2.ROLE_ADMIN, created_at=timestamp(CREATED))
    assert user_line(bootstrap) == "[2020-10-17T21:07:18.996866] root - admin"


def test_group_line() -> None:
    group = auth_pb2.Group(name="lab", member_count=3, created_at=timestamp(CREATED))
    assert group_line(group) == "[2020-10-17T21:07:18.996866] lab (3 members)"
    group.member_count = 1
    assert group_line(group) == "[2020-10-17T21:07:18.996866] lab (1 member)"


def test_apikey_line() -> None:
    key = auth_pb2.ApiKey(
        id="k1",
        name="laptop",
        prefix="wio_ab12",
        created_at=timestamp(CREATED),
        expires_at=timestamp(datetime(2021, 1, 1, tzinfo=UTC)),
    )
    assert apikey_line(key) == (
        "[2020-10-17T21:07:18.996866] k1 laptop wio_ab12… expires=2021-01-01T00:00:00.000000 last_used=never"
    )
    key.revoked = True
    key.name = ""
    assert apikey_line(key).endswith(
        "k1 - wio_ab12… expires=2021-01-01T00:00:00.000000 last_used=never (revoked)"
    )


def test_workspace_line_is_like_the_seed() -> None:
    from cli.output import workspace_details, workspace_line
    from wio.workspaces.v1 import workspaces_pb2

    workspace = workspaces_pb2.Workspace(
        id="w1",
        name="meva",
        owner_username="alice",
        type=workspaces_pb2.WORKSPACE_TYPE_UNMANAGED,
        node_name="lab",
        root_id="r1",
        bucket="lab-data",
        prefix="meva/",
        created_at=timestamp(CREATED),
    )
    assert workspace_line(workspace) == "[2020-10-17T21:07:18.996866] alice/meva/ (unmanaged)"
    details = dict(line.split(":", 1) for line in workspace_details(workspace).splitlines())
    assert {key: value.strip() for key, value in details.items()} == {
        "workspace": "alice/meva/",
        "owner": "alice",
        "type": "unmanaged",
        "node": "lab",
        "location": "lab-data/meva/",
        "root": "r1",
        "id": "w1",
        "created": "2020-10-17T21:07:18.996866",
        "your permission": "none",
    }


def test_share_line_and_explanation() -> None:
    from cli.output import explanation, share_line
    from wio.workspaces.v1 import workspaces_pb2

    share = workspaces_pb2.Share(
        id="s1",
        workspace="alice/data",
        sharee="group:lab",
        permission=workspaces_pb2.PERMISSION_READWRITE,
        created_at=timestamp(CREATED),
    )
    assert (
        share_line(share) == "[2020-10-17T21:07:18.996866] s1 alice/data/ group:lab (readwrite) expires=never"
    )
    reply = workspaces_pb2.ExplainPermissionResponse(
        summary="bob cannot write alice/data/: the best they have is read",
        factors=[
            workspaces_pb2.PermissionFactor(
                permission=workspaces_pb2.PERMISSION_READ, reason="shared with them", active=True
            ),
            workspaces_pb2.PermissionFactor(
                permission=workspaces_pb2.PERMISSION_OWN,
                reason="shared with them (expired ...)",
                active=False,
            ),
        ],
    )
    assert explanation(reply).splitlines() == [
        "bob cannot write alice/data/: the best they have is read",
        "  + read       shared with them",
        "  - own        shared with them (expired ...) (does not count now)",
    ]
    nothing = workspaces_pb2.ExplainPermissionResponse(summary="carol cannot read alice/data/")
    assert explanation(nothing).splitlines()[1] == "  (nothing gives them any permission on it)"


def test_text_from_others_cannot_fake_or_hide_lines(capsys: pytest.CaptureFixture[str]) -> None:
    key = "evil\x1b[2J\nalice/secret/passwords.txt  9B\r.txt\u202etxt.exe\x07"
    print_lines([f"bob/data/{key}  9B"])
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "\r" not in out and "\x1b" not in out and "\u202e" not in out
    assert out == "bob/data/evil\\x1b[2J\\nalice/secret/passwords.txt  9B\\r.txt\\u202etxt.exe\\x07  9B\n"
    block = detail_block([("name", "lab"), ("description", "hello\n fake: line")])
    assert block.splitlines() == ["name:        lab", "description: hello\\n fake: line"]
    # Ordinary text, accents and all, is left alone.
    assert shown("Café résumé/data 2024.csv") == "Café résumé/data 2024.csv"
