"""`wio node ...` and `wio root ...`: formatting and argument handling against a small fake of the nodes
service, and the real CLI end to end against the in-process identity and nodes services."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import uuid
from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from cli import errors, main
from cli.output import check_details, node_details, node_line, root_line
from tests.conftest import AuthUnderTest, NodesUnderTest, WorkspacesUnderTest
from wio.auth.v1 import auth_pb2, auth_pb2_grpc
from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
CREATED = datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC)
NODE_ID = "6a4cf079-6c2f-4f09-abb0-abe39379e168"
ROOT_ID = "ddb915fb-d911-4a8a-8971-b2fccd4e4ea8"
API_KEY = "wio_fake-key"
SECRET = "s3cr3t-do-not-print"


def timestamp(when: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(when)
    return ts


def node_message(**overrides: Any) -> Any:
    values: dict[str, Any] = {
        "id": NODE_ID,
        "name": "local",
        "endpoint": "http://127.0.0.1:18333",
        "region": "us-east-1",
        "kind": nodes_pb2.NODE_KIND_SEAWEEDFS,
        "operator_id": "u1",
        "operator_username": "alice",
        "status": nodes_pb2.NODE_STATUS_ONLINE,
        "latency_ms": 3.26,
        "created_at": timestamp(CREATED),
        "last_seen_at": timestamp(CREATED + timedelta(minutes=1)),
        "access_key": "AKIDEXAMPLE",
        "role_arn": "arn:aws:iam::000000000000:role/wio",
        "max_credential_seconds": 3600,
        "policy_size_limit": 2048,
    }
    values.update(overrides)
    return nodes_pb2.Node(**values)


def root_message(**overrides: Any) -> Any:
    values: dict[str, Any] = {
        "id": ROOT_ID,
        "node_id": NODE_ID,
        "node_name": "local",
        "bucket": "lab-data",
        "base_prefix": "ws/",
        "type": nodes_pb2.ROOT_TYPE_PRIVATE,
        "created_by": "u1",
        "created_at": timestamp(CREATED),
    }
    values.update(overrides)
    return nodes_pb2.Root(**values)


# Formatting --------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_node_line_is_like_the_seed() -> None:
    assert node_line(node_message()) == (
        f"[2026-11-25T10:00:00.123456] {NODE_ID} http://127.0.0.1:18333 local online"
    )


@pytest.mark.unit
@pytest.mark.parametrize(
    ("status", "label"),
    [
        (nodes_pb2.NODE_STATUS_DEGRADED, "degraded"),
        (nodes_pb2.NODE_STATUS_OFFLINE, "offline"),
        (nodes_pb2.NODE_STATUS_UNSPECIFIED, "unknown"),
    ],
)
def test_node_line_status(status: int, label: str) -> None:
    assert node_line(node_message(status=status)).endswith(f" local {label}")


@pytest.mark.unit
def test_root_lines() -> None:
    assert root_line(root_message()) == (
        f"[2026-11-25T10:00:00.123456] {ROOT_ID} local lab-data/ws/ (private)"
    )
    whole_bucket = root_message(
        base_prefix="",
        type=nodes_pb2.ROOT_TYPE_UNMANAGED,
        allowed_creators=["bob", "group:imaging"],
    )
    assert root_line(whole_bucket) == (
        f"[2026-11-25T10:00:00.123456] {ROOT_ID} local lab-data/ (unmanaged) creators: bob, group:imaging"
    )


@pytest.mark.unit
def test_node_details_and_check_details() -> None:
    rows = [line.partition(":") for line in node_details(node_message()).splitlines()]
    shown = {key: value.strip() for key, _, value in rows}
    assert shown["id"] == NODE_ID
    assert shown["kind"] == "seaweedfs"
    assert shown["operator"] == "alice"
    assert shown["status"] == "online"
    assert shown["latency"] == "3.3 ms"
    assert shown["sts endpoint"] == "(same as endpoint)"
    assert shown["access key"] == "AKIDEXAMPLE"
    assert shown["last seen"] == "2026-11-25T10:01:00.123456"
    failed = nodes_pb2.NodeCheck(reachable=True, credentials_ok=True, latency_ms=12.0, detail="no STS")
    assert check_details(failed).splitlines() == [
        "reachable:   yes",
        "credentials: ok",
        "STS:         failed",
        "latency:     12.0 ms",
        "detail:      no STS",
    ]


# Arguments, against a fake nodes service ----------------------------------------------------------------


class FakeAuth(auth_pb2_grpc.AuthServiceServicer):
    def ExchangeApiKey(self, request: Any, context: Any) -> Any:
        if request.api_key != API_KEY:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "API key is invalid")
        expires = datetime.now(UTC) + timedelta(minutes=15)
        return auth_pb2.ExchangeApiKeyResponse(access_token="token", expires_at=timestamp(expires))


class FakeNodes(nodes_pb2_grpc.NodesServiceServicer):
    """Records what the CLI sent and answers with fixed messages."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.check = nodes_pb2.NodeCheck(reachable=True, credentials_ok=True, sts_ok=True, latency_ms=4.0)

    def RegisterNode(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return nodes_pb2.RegisterNodeResponse(node=node_message(name=request.name), check=self.check)

    def CheckNode(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return nodes_pb2.CheckNodeResponse(node=node_message(), check=self.check)

    def UpdateNode(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return nodes_pb2.UpdateNodeResponse(node=node_message())

    def CreateRoot(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        root = root_message(
            bucket=request.bucket, base_prefix=request.base_prefix.strip("/") + "/", type=request.type
        )
        return nodes_pb2.CreateRootResponse(root=root, bucket_created=True)


@pytest.fixture
def fake_nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNodes]:
    """Both fakes on one port, and a config (in tmp_path) pointing at them."""
    # The fakes answer only what the tests call; grpc answers UNIMPLEMENTED for the rest.
    servicer = FakeNodes()  # type: ignore[abstract]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    auth_pb2_grpc.add_AuthServiceServicer_to_server(FakeAuth(), server)  # type: ignore[abstract]
    nodes_pb2_grpc.add_NodesServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    isolate_config(monkeypatch, write_config(tmp_path, f"127.0.0.1:{port}", f"127.0.0.1:{port}", API_KEY))
    try:
        yield servicer
    finally:
        server.stop(grace=None)


def isolate_config(monkeypatch: pytest.MonkeyPatch, config: Path) -> None:
    for name in [name for name in os.environ if name.startswith("WIO_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WIO_CONFIG", str(config))


def write_config(folder: Path, auth_address: str, nodes_address: str, api_key: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(
        f'[server]\naddress = "{auth_address}"\n'
        f'[server.services]\nnodes = "{nodes_address}"\n'
        f'[auth]\napi_key = "{api_key}"\n'
    )
    path.chmod(0o600)
    return path


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """Run `wio ARGS` in-process through run(); answers (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["wio", *args])
    with pytest.raises(SystemExit) as exit_info:
        main.run()
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.mark.unit
def test_update_without_options_is_refused_before_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # No config at all: reaching the network would fail differently ("not logged in").
    isolate_config(monkeypatch, tmp_path / "absent.toml")
    status, out, err = run_cli(monkeypatch, capsys, "node", "update", "lab")
    assert (status, out) == (errors.EXIT_USAGE, "")
    assert err.startswith("error: nothing to update")
    assert len(err.splitlines()) == 1


@pytest.mark.unit
def test_update_secret_twice_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate_config(monkeypatch, tmp_path / "absent.toml")
    args = ("node", "update", "lab", "--secret-key", SECRET, "--prompt-secret")
    status, out, err = run_cli(monkeypatch, capsys, *args)
    assert (status, out) == (errors.EXIT_USAGE, "")
    assert SECRET not in err


@pytest.mark.unit
def test_update_masks_only_the_options_given(
    fake_nodes: FakeNodes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Zero and empty values are changes too (back to the default, clearing the STS endpoint).
    args = ("--region", "eu-west-1", "--max-credential-seconds", "0", "--sts-endpoint", "")
    status, out, err = run_cli(monkeypatch, capsys, "node", "update", "local", *args)
    assert status == 0, err
    assert out == "updated node local\n"
    (request,) = fake_nodes.requests
    assert request.node == "local"
    assert list(request.update_mask.paths) == ["max_credential_seconds", "region", "sts_endpoint"]
    assert request.changes.region == "eu-west-1"


@pytest.mark.unit
def test_update_prompted_secret_is_read_from_stdin(
    fake_nodes: FakeNodes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(SECRET + "\n"))
    status, out, err = run_cli(monkeypatch, capsys, "node", "update", "local", "--prompt-secret")
    assert status == 0, err
    (request,) = fake_nodes.requests
    assert list(request.update_mask.paths) == ["secret_key"]
    assert request.changes.secret_key == SECRET
    assert SECRET not in out + err


@pytest.mark.unit
def test_create_reads_piped_secret_and_never_prints_it(
    fake_nodes: FakeNodes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(SECRET + "\n"))
    args = ("--endpoint", "http://127.0.0.1:18333", "--access-key", "AKIDEXAMPLE", "--kind", "aws")
    status, out, err = run_cli(monkeypatch, capsys, "node", "create", "lab", *args)
    assert status == 0, err
    assert out == "registered node lab (online, 4.0 ms; STS ok)\n"
    (request,) = fake_nodes.requests
    assert request.secret_key == SECRET
    assert request.kind == nodes_pb2.NODE_KIND_AWS
    assert SECRET not in out + err


@pytest.mark.unit
def test_create_without_any_secret_is_refused(
    fake_nodes: FakeNodes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    args = ("--endpoint", "http://127.0.0.1:18333", "--access-key", "AKIDEXAMPLE")
    status, out, err = run_cli(monkeypatch, capsys, "node", "create", "lab", *args)
    assert (status, out) == (errors.EXIT_ERROR, "")
    assert err == "error: a secret key is required\n"
    assert fake_nodes.requests == []


@pytest.mark.unit
def test_failed_check_exits_non_zero(
    fake_nodes: FakeNodes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_nodes.check = nodes_pb2.NodeCheck(
        reachable=True, credentials_ok=True, latency_ms=4.0, detail="AssumeRole refused"
    )
    status, out, err = run_cli(monkeypatch, capsys, "node", "check", "local")
    assert status == errors.EXIT_ERROR
    assert "STS:         failed" in out and "AssumeRole refused" in out
    assert err == "error: node local failed its check\n"


@pytest.mark.unit
def test_root_create_sends_type_and_creators(
    fake_nodes: FakeNodes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--prefix", "ws", "--type", "public", "--allow", "bob", "--allow", "group:imaging")
    status, out, err = run_cli(monkeypatch, capsys, "root", "create", "local", "lab-data", *args)
    assert status == 0, err
    assert out == f"created root {ROOT_ID} on local: lab-data/ws/ (public) (bucket created)\n"
    (request,) = fake_nodes.requests
    assert (request.node, request.bucket, request.base_prefix) == ("local", "lab-data", "ws")
    assert request.type == nodes_pb2.ROOT_TYPE_PUBLIC
    assert list(request.allowed_creators) == ["bob", "group:imaging"]


# End to end ----------------------------------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Cli:
    """The installed `wio` as a separate process, with one user's config and a home of its own."""

    def __init__(self, home: Path, config: Path) -> None:
        self.env = {name: value for name, value in os.environ.items() if not name.startswith("WIO_")}
        self.env.update(WIO_CONFIG=str(config), HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
        self.outputs: list[str] = []

    async def __call__(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        # The services run on this event loop: a blocking subprocess call would starve them.
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("wio")),
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            cwd=ROOT,
        )
        data = stdin.encode() if stdin is not None else None
        out, err = await asyncio.wait_for(process.communicate(data), 120)
        assert process.returncode is not None
        self.outputs += [out.decode(), err.decode()]
        return process.returncode, out.decode(), err.decode()


def one_clean_line(err: str) -> None:
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and "Traceback" not in err, err


@pytest.mark.integration
async def test_nodes_and_roots_through_the_cli(
    tmp_path: Path,
    auth: AuthUnderTest,
    nodes: NodesUnderTest,
    workspaces: WorkspacesUnderTest,
    infra: Any,
) -> None:
    # workspaces runs because nodes asks it whether a root still holds workspaces before removing it.
    s3 = infra.s3
    # The node is on loopback: only an admin may register it.
    _owner, owner_key = await auth.new_user("cli-op", admin=True)
    _other, other_key = await auth.new_user("cli-other")
    owner = Cli(tmp_path, write_config(tmp_path / "owner", auth.address, nodes.address, owner_key))
    other = Cli(tmp_path, write_config(tmp_path / "other", auth.address, nodes.address, other_key))
    name, bucket = unique("cli-node"), unique("cli-bucket")
    region = ["--region", s3.region] if s3.region else []
    connection = ["--endpoint", s3.endpoint, "--access-key", s3.access_key, "--role-arn", s3.role_arn]

    code, out, err = await owner(
        "node", "create", name, "--kind", "seaweedfs", *connection, *region, "--secret-key", s3.secret_key
    )
    assert code == 0, err
    assert out.startswith(f"registered node {name} (online, ") and "STS ok" in out

    code, out, err = await owner("node", "ls")
    assert code == 0, err
    line = next(line for line in out.splitlines() if f" {name} " in line)
    assert line.endswith(f"{s3.endpoint} {name} online")

    code, out, err = await owner("node", "ls", "--json")
    assert code == 0, err
    listed = {node["name"]: node for node in json.loads(out)}
    assert listed[name]["status"] == "NODE_STATUS_ONLINE"

    code, out, err = await owner("node", "show", name)
    assert code == 0, err
    assert "access key:" in out and s3.access_key in out

    code, out, err = await owner("node", "check", name)
    assert code == 0, err
    assert "STS:         ok" in out
    # SeaweedFS matches session-policy object resources ignoring case, and the probe says so.
    assert "object matching: ignores case" in out and "policy size limit 2048" in out

    code, out, err = await owner("root", "create", name, bucket, "--prefix", "ws")
    assert code == 0, err
    assert out.startswith("created root ") and f"on {name}: {bucket}/ws/ (private)" in out
    root_id = out.split()[2]

    code, out, err = await owner("root", "ls", "--node", name)
    assert code == 0, err
    assert f" {root_id} {name} {bucket}/ws/ (private)" in out

    # Not the operator: refused, in one line.
    code, out, err = await other("node", "rm", name, "--yes")
    assert code == errors.EXIT_DENIED
    one_clean_line(err)
    assert "operator" in err

    # A wrong secret (piped in) fails the registration check; nothing is stored.
    wrong_secret = "wrong-" + uuid.uuid4().hex
    code, out, err = await owner(
        "node", "create", unique("cli-bad"), *connection, *region, stdin=wrong_secret
    )
    assert code != 0 and out == ""
    one_clean_line(err)
    assert wrong_secret not in err

    # The operator removes the root, then the node (refused while it still has the root).
    code, _, err = await owner("node", "rm", name, "--yes")
    assert code == errors.EXIT_CONFLICT
    one_clean_line(err)
    code, _, err = await owner("root", "rm", root_id, "--yes")
    assert code == 0, err
    code, _, err = await owner("node", "rm", name, "--yes")
    assert code == 0, err
    code, out, _ = await owner("node", "ls")
    assert f" {name} " not in out

    everything = "".join(owner.outputs + other.outputs)
    assert s3.secret_key not in everything
    assert "Traceback" not in everything
