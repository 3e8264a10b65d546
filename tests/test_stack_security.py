"""The stack's own PostgreSQL and SeaweedFS accept only wio: tried against the servers the fixtures start.

PostgreSQL wants the generated password on every connection; SeaweedFS answers without a client
certificate only on its S3 port, and there only to signed requests.
"""

from __future__ import annotations

import asyncio
import http.client
import importlib
import os
import pwd
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import grpc
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from deploy.certificates import ensure_authority
from deploy.ports import pick_free_port
from deploy.postgres import (
    LEGACY_USER,
    SERVICE_USER,
    PostgresServer,
    asyncpg_dsn,
    binaries,
    generate_password,
    redacted,
    start_postgres,
)
from deploy.seaweedfs import SeaweedServer, node_authority
from tests.stack_fixture import InfraUnderTest, S3Node

pytestmark = pytest.mark.integration

# asyncpg ships no type information.
asyncpg: Any = importlib.import_module("asyncpg")

HOST = "127.0.0.1"


# --- PostgreSQL --------------------------------------------------------------------------------


def _own_postgres(infra: InfraUnderTest) -> PostgresServer:
    if infra.postgres is None:
        pytest.skip("PostgreSQL comes from WIO_TEST_DATABASE_URL; only the one the fixture starts is checked")
    return infra.postgres


async def _connect(**kwargs: Any) -> Any:
    conn = await asyncpg.connect(timeout=10, **kwargs)
    try:
        return await conn.fetchval("SELECT current_user")
    finally:
        await conn.close()


async def _refused(**kwargs: Any) -> str:
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError) as refused:
        await _connect(**kwargs)
    return str(refused.value)


@pytest.fixture
def no_password_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No PGPASSWORD or ~/.pgpass may quietly supply the password to a client that gave none."""
    for name in ("PGPASSWORD", "PGPASSFILE", "PGUSER", "PGHOST", "PGPORT"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "pgpass"
    empty.write_text("")
    empty.chmod(0o600)
    return empty


async def test_postgres_refuses_a_connection_without_the_password(
    infra: InfraUnderTest, no_password_sources: Path
) -> None:
    server = _own_postgres(infra)
    common = {"user": "postgres", "database": "postgres", "passfile": str(no_password_sources)}
    tcp = {**common, "host": HOST, "port": server.port}
    assert "password authentication failed" in await _refused(**tcp)
    assert "password authentication failed" in await _refused(**tcp, password="wrong-" + server.password)
    # The unix socket is no back door either.
    socket_dir = server.root / "run"
    assert (socket_dir / f".s.PGSQL.{server.port}").is_socket()
    assert "password authentication failed" in await _refused(
        **common, host=str(socket_dir), port=server.port
    )
    # The password it was started with opens both.
    assert await _connect(**tcp, password=server.password) == "postgres"
    assert await _connect(**common, host=str(socket_dir), port=server.port, password=server.password) == (
        "postgres"
    )


async def test_postgres_trusts_nothing(infra: InfraUnderTest) -> None:
    """The server's own reading of pg_hba.conf: scram-sha-256 for every rule, and the stored password
    is a SCRAM verifier."""
    server = _own_postgres(infra)
    conn = await asyncpg.connect(asyncpg_dsn(server.url("postgres")), timeout=10)
    try:
        rules = await conn.fetch("SELECT type, address, auth_method, error FROM pg_hba_file_rules")
        stored = await conn.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'")
    finally:
        await conn.close()
    assert {(r["type"], r["address"], r["auth_method"], r["error"]) for r in rules} == {
        ("local", None, "scram-sha-256", None),
        ("host", "127.0.0.1", "scram-sha-256", None),
        ("host", "::1", "scram-sha-256", None),
    }
    assert stored.startswith("SCRAM-SHA-256$")
    assert "trust" not in (server.data_dir / "pg_hba.conf").read_text()


def test_postgres_data_folder_is_private(infra: InfraUnderTest) -> None:
    server = _own_postgres(infra)
    info = server.data_dir.stat()
    assert stat.S_IMODE(info.st_mode) == 0o700
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    real_uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    assert real_uid == info.st_uid
    if os.geteuid() == 0:
        account = pwd.getpwnam(SERVICE_USER)
        assert info.st_uid == account.pw_uid and server.user == SERVICE_USER
        assert account.pw_shell.endswith(("nologin", "false"))
        assert not Path(account.pw_dir).exists()
    else:
        assert info.st_uid == os.geteuid()


def _legacy_cluster(folder: Path) -> pwd.struct_passwd | None:
    """A data folder as the launcher made it before passwords: trust, owned by `nobody` under root,
    holding a table."""
    legacy = pwd.getpwnam(LEGACY_USER) if os.geteuid() == 0 else None
    bin_dir = binaries(legacy)
    data = folder / "postgres" / "data"
    data.mkdir(parents=True)
    data.chmod(0o700)
    as_user: dict[str, Any] = {}
    if legacy is not None:
        os.chown(data, legacy.pw_uid, legacy.pw_gid)
        as_user = {"user": legacy.pw_uid, "group": legacy.pw_gid, "extra_groups": []}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    initdb.append("--locale=C.UTF-8")
    subprocess.run(initdb, check=True, capture_output=True, cwd="/", env=env, **as_user)
    subprocess.run(
        [str(bin_dir / "postgres"), "--single", "-D", str(data), "postgres"],
        input=b"CREATE TABLE made_before (x int)\n",
        check=True,
        capture_output=True,
        cwd="/",
        env=env,
        **as_user,
    )
    assert "trust" in (data / "pg_hba.conf").read_text()
    return legacy


@pytest.fixture
def legacy_folder() -> Iterator[Path]:
    # Like the session's own folder: in /tmp, so the server's account can pass through.
    folder = Path(tempfile.mkdtemp(prefix="wio-test-legacy-"))
    folder.chmod(0o711)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def test_a_trust_data_folder_from_before_is_moved_to_passwords(
    legacy_folder: Path, no_password_sources: Path
) -> None:
    folder = legacy_folder
    legacy = _legacy_cluster(folder)
    password = generate_password()
    server = await asyncio.to_thread(start_postgres, folder, pick_free_port(), password, database="wio")
    try:
        assert server.migrated
        data_owner = server.data_dir.stat().st_uid
        if legacy is not None:
            owners = {p.lstat().st_uid for p in server.data_dir.rglob("*")}
            assert owners == {data_owner} == {pwd.getpwnam(SERVICE_USER).pw_uid}
        tcp = {"user": "postgres", "database": "postgres", "host": HOST, "port": server.port}
        assert "password authentication failed" in await _refused(**tcp, passfile=str(no_password_sources))
        assert await _connect(**tcp, password=password) == "postgres"
        conn = await asyncpg.connect(asyncpg_dsn(server.url("postgres")), timeout=10)
        try:
            assert await conn.fetchval("SELECT to_regclass('made_before') IS NOT NULL")
        finally:
            await conn.close()
    finally:
        server.stop()
    # The next start finds nothing left to move.
    again = await asyncio.to_thread(start_postgres, folder, server.port, password, database=None)
    again.stop()
    assert not again.migrated


@pytest.mark.unit
def test_redacted_hides_only_the_password() -> None:
    url = "postgresql+asyncpg://postgres:s3cr%2Ft@127.0.0.1:15432/wio"
    assert redacted(url) == "postgresql+asyncpg://postgres:***@127.0.0.1:15432/wio"
    assert redacted("postgresql://u@[::1]:5432/x") == "postgresql://u@[::1]:5432/x"


# --- SeaweedFS ---------------------------------------------------------------------------------


def _own_weed(node: S3Node) -> SeaweedServer:
    if node.server is None:
        pytest.skip("this S3 node comes from the environment; only nodes the fixture starts are checked")
    return node.server


def _s3(node: S3Node, **keys: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=node.endpoint,
        region_name=node.region,
        aws_access_key_id=keys.get("access_key", node.access_key),
        aws_secret_access_key=keys.get("secret_key", node.secret_key),
        aws_session_token=keys.get("session_token"),
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
    )


@pytest.fixture
def stored(infra: InfraUnderTest) -> Iterator[tuple[S3Node, SeaweedServer, str, str]]:
    """A bucket of its own holding one object: (node, server, bucket, key)."""
    node = infra.s3
    server = _own_weed(node)
    bucket = f"sec-{uuid.uuid4().hex[:12]}"
    key = "kept/object.txt"
    s3 = _s3(node)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=b"still here")
    yield node, server, bucket, key
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"])
    s3.delete_bucket(Bucket=bucket)


def _still_there(node: S3Node, bucket: str, key: str) -> None:
    s3 = _s3(node)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"still here"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]


def _tls(server: SeaweedServer, client_cert: bool) -> ssl.SSLContext:
    authority = server.authority
    context = ssl.create_default_context(cafile=str(authority.ca))
    if client_cert:
        pair = authority.pairs["client"]
        context.load_cert_chain(str(pair.cert), str(pair.key))
    return context


def _http(port: int, method: str, path: str, context: ssl.SSLContext | None = None) -> int | None:
    """The HTTP status, or None when the server ended the connection without answering (TLS refused)."""
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
    else:
        conn = http.client.HTTPSConnection(HOST, port, timeout=10, context=context)
    try:
        conn.request(method, path, body=b"overwritten" if method in ("PUT", "POST") else None)
        response = conn.getresponse()
        response.read()
        return response.status
    except (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected):
        return None
    finally:
        conn.close()


def _refuses_http(port: int, method: str, path: str, server: SeaweedServer) -> None:
    # Plain HTTP meets a TLS server (Go answers 400); TLS without a client certificate is cut off.
    plain = _http(port, method, path)
    assert plain is None or plain == 400, (port, method, path, plain)
    assert _http(port, method, path, _tls(server, client_cert=False)) is None, (port, method, path)


def test_filer_http_refuses_without_a_client_certificate(
    stored: tuple[S3Node, SeaweedServer, str, str],
) -> None:
    node, server, bucket, key = stored
    path = f"/buckets/{bucket}/{key}"
    for method in ("GET", "PUT", "POST", "DELETE"):
        _refuses_http(server.ports.filer, method, path, server)
    _refuses_http(server.ports.filer, "GET", f"/buckets/{bucket}/", server)
    # With the certificate the connection is accepted, and the filer still wants a signed JWT.
    assert _http(server.ports.filer, "GET", path, _tls(server, client_cert=True)) == 401
    assert _http(server.ports.filer, "DELETE", path, _tls(server, client_cert=True)) == 401
    _still_there(node, bucket, key)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=10)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(str(self.socket_path))
        self.sock = sock


def test_filer_unix_socket_wants_a_signed_jwt(stored: tuple[S3Node, SeaweedServer, str, str]) -> None:
    """The filer's local socket skips TLS; only its owner may connect, and it still wants a JWT."""
    node, server, bucket, key = stored
    path = server.folder / "filer.sock"
    if not path.is_socket():
        pytest.skip("the node's folder is too deep for a local socket; weed keeps its default")
    assert not stat.S_IMODE(path.stat().st_mode) & 0o077
    for method in ("GET", "PUT", "DELETE"):
        conn = _UnixHTTPConnection(path)
        try:
            conn.request(method, f"/buckets/{bucket}/{key}", body=b"x" if method == "PUT" else None)
            assert conn.getresponse().status == 401, method
        finally:
            conn.close()
    _still_there(node, bucket, key)


def test_master_volume_and_admin_http_refuse_without_a_client_certificate(
    stored: tuple[S3Node, SeaweedServer, str, str],
) -> None:
    node, server, bucket, key = stored
    ports = server.ports
    for path in (f"/col/delete?collection={bucket}", "/dir/status", "/vol/status", "/dir/assign"):
        _refuses_http(ports.master, "GET", path, server)
        _refuses_http(ports.master, "POST", path, server)
    for path in ("/status", "/1,01637037d6"):
        _refuses_http(ports.volume, "GET", path, server)
        _refuses_http(ports.volume, "DELETE", path, server)
    _refuses_http(ports.admin, "GET", "/", server)
    # The bucket's data survived the /col/delete attempts.
    _still_there(node, bucket, key)
    # The refusals are the missing certificate's doing: with it the master answers.
    assert _http(ports.master, "GET", "/dir/status", _tls(server, client_cert=True)) == 200


def test_a_certificate_from_another_authority_is_refused(
    stored: tuple[S3Node, SeaweedServer, str, str], tmp_path: Path
) -> None:
    _node, server, bucket, _key = stored
    stranger = ensure_authority(tmp_path / "other", ["client"], "someone else")
    context = ssl.create_default_context(cafile=str(server.authority.ca))
    context.load_cert_chain(str(stranger.pairs["client"].cert), str(stranger.pairs["client"].key))
    assert _http(server.ports.master, "GET", f"/col/delete?collection={bucket}", context) is None
    assert _http(server.ports.filer, "GET", f"/buckets/{bucket}/", context) is None
    # While the node's own client certificate gets through.
    assert _http(server.ports.master, "GET", "/dir/status", _tls(server, client_cert=True)) == 200


def _field(number: int, value: str | bool) -> bytes:
    """One protobuf field (a string or a bool), enough to write a DeleteEntryRequest by hand."""
    if isinstance(value, bool):
        return bytes([number << 3 | 0, int(value)])
    raw = value.encode()
    assert len(raw) < 128
    return bytes([number << 3 | 2, len(raw)]) + raw


def _unary(channel: grpc.Channel, method: str, request: bytes) -> bytes:
    call = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    return bytes(call(request, timeout=5))


def _grpc_credentials(server: SeaweedServer, client_cert: bool) -> grpc.ChannelCredentials:
    authority = server.authority
    if not client_cert:
        return grpc.ssl_channel_credentials(root_certificates=authority.ca.read_bytes())
    pair = authority.pairs["client"]
    return grpc.ssl_channel_credentials(
        root_certificates=authority.ca.read_bytes(),
        private_key=pair.key.read_bytes(),
        certificate_chain=pair.cert.read_bytes(),
    )


def _grpc_refused(
    target: str, method: str, request: bytes, credentials: grpc.ChannelCredentials | None
) -> None:
    options = [("grpc.enable_http_proxy", 0)]
    channel = (
        grpc.insecure_channel(target, options=options)
        if credentials is None
        else grpc.secure_channel(target, credentials, options=options)
    )
    with channel, pytest.raises(grpc.RpcError) as refused:
        _unary(channel, method, request)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, (target, refused.value)


def test_grpc_ports_refuse_without_a_client_certificate(
    stored: tuple[S3Node, SeaweedServer, str, str],
) -> None:
    node, server, bucket, key = stored
    ports = server.ports
    folder, name = f"/buckets/{bucket}/{key}".rsplit("/", 1)
    # What `weed shell fs.rm` sends: delete the entry and its data.
    delete = _field(1, folder) + _field(2, name) + _field(4, True)
    filer = f"{HOST}:{ports.filer_grpc}"
    for credentials in (None, _grpc_credentials(server, client_cert=False)):
        _grpc_refused(filer, "/filer_pb.SeaweedFiler/DeleteEntry", delete, credentials)
        for port, method in (
            (ports.master_grpc, "/master_pb.Seaweed/CollectionDelete"),
            (ports.volume_grpc, "/volume_server_pb.VolumeServer/DeleteCollection"),
            (ports.s3_grpc, "/s3_pb.SeaweedS3/Configure"),
            (ports.admin_grpc, "/worker_pb.WorkerService/WorkerStream"),
        ):
            _grpc_refused(f"{HOST}:{port}", method, _field(1, bucket), credentials)
    _still_there(node, bucket, key)
    # The certificate the launcher made opens the filer's gRPC port.
    with grpc.secure_channel(filer, _grpc_credentials(server, client_cert=True)) as channel:
        _unary(channel, "/filer_pb.SeaweedFiler/GetFilerConfiguration", b"")


def test_s3_serves_only_signed_requests(stored: tuple[S3Node, SeaweedServer, str, str]) -> None:
    node, server, bucket, key = stored
    for method, path in (
        ("GET", f"/{bucket}/{key}"),
        ("PUT", f"/{bucket}/{key}"),
        ("PUT", f"/{bucket}/anonymous.txt"),
        ("DELETE", f"/{bucket}/{key}"),
        ("GET", f"/{bucket}?list-type=2"),
        ("DELETE", f"/{bucket}"),
    ):
        assert _http(server.ports.s3, method, path) == 403, (method, path)
    with pytest.raises(ClientError):
        _s3(node, secret_key="wrong-" + node.secret_key).get_object(Bucket=bucket, Key=key)
    _still_there(node, bucket, key)


def test_secrets_and_certificates_are_private(infra: InfraUnderTest) -> None:
    server = _own_weed(infra.s3)
    tls = server.authority.folder
    assert stat.S_IMODE(tls.stat().st_mode) == 0o700
    files = list(tls.iterdir())
    assert {p.name for p in files} >= {"ca.crt", "ca.key", "client.crt", "client.key", "jwt.json"}
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}
    assert stat.S_IMODE((server.folder / "security.toml").stat().st_mode) == 0o600
    assert stat.S_IMODE(server.folder.stat().st_mode) == 0o700


def test_a_restarted_node_keeps_its_certificates_data_and_locks(second_s3: S3Node) -> None:
    server = _own_weed(second_s3)
    bucket = f"sec-{uuid.uuid4().hex[:12]}"
    s3 = _s3(second_s3)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="kept/object.txt", Body=b"still here")
    before = {p.name: p.read_bytes() for p in server.authority.folder.iterdir()}
    second_s3.stop()
    second_s3.start()
    server = _own_weed(second_s3)
    assert {p.name: p.read_bytes() for p in server.authority.folder.iterdir()} == before
    assert node_authority(server.folder).ca == server.authority.ca
    _still_there(second_s3, bucket, "kept/object.txt")
    _refuses_http(server.ports.filer, "GET", f"/buckets/{bucket}/kept/object.txt", server)
    _refuses_http(server.ports.master, "GET", f"/col/delete?collection={bucket}", server)
    _still_there(second_s3, bucket, "kept/object.txt")
    s3.delete_object(Bucket=bucket, Key="kept/object.txt")
    s3.delete_bucket(Bucket=bucket)
