"""The HTTP gateway as a process of the local stack: `python -m gateway`, waited for until GET /healthz
answers."""

from __future__ import annotations

import http.client
import sys
from pathlib import Path

from deploy.errors import LaunchError
from deploy.ports import HOST
from deploy.process import ManagedProcess, spawn, tail, wait_until
from deploy.services import StackSettings, _python_env, project_root

NAME = "gateway"


def gateway_url(port: int) -> str:
    return f"http://{HOST}:{port}"


def hook_url(port: int, node_id: str) -> str:
    """Where a node's storage-event webhook posts."""
    return f"{gateway_url(port)}/hooks/s3/{node_id}"


def gateway_answers(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def hook_token_refused(port: int, node_id: str, token: str, timeout: float = 10.0) -> bool:
    """Whether the gateway refuses `token` for the node (401). Asked with a body that is not JSON, so an
    accepted token gets 400 and nothing is published."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request("POST", f"/hooks/s3/{node_id}", body=b"token check", headers=headers)
        return conn.getresponse().status == 401
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def start_gateway(
    settings: StackSettings, port: int, logs_dir: Path, *, timeout: float = 30.0
) -> ManagedProcess:
    log = logs_dir / f"{NAME}.log"
    process = spawn(
        NAME,
        [sys.executable, "-m", "gateway"],
        log,
        env=_python_env(settings.gateway_env(port)),
        cwd=project_root(),
    )
    try:
        wait_until(
            lambda: gateway_answers(port),
            timeout,
            process=process,
            what=f"the gateway on {gateway_url(port)} (GET /healthz)",
            log=str(log),
        )
    except LaunchError as exc:
        process.stop()
        raise LaunchError(f"{exc}\n{tail(log)}") from exc
    return process
