"""The wio services as processes: the auth bootstrap, then `python -m services.<name>` each, each
waited for until it answers the standard gRPC health check."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deploy.errors import LaunchError
from deploy.ports import HOST, SERVICES
from deploy.process import ManagedProcess, open_log, spawn, tail, wait_until

ADMIN_USERNAME = "admin"
# The auth service rejects an address without a dot in its domain, such as admin@localhost.
ADMIN_EMAIL = "admin@localhost.localdomain"
# Services that act on their own behalf and so get an auth account and key.
SERVICE_ACCOUNTS = tuple(name for name in SERVICES if name != "auth")
# ... and every process with an account of its own: the services and the HTTP gateway.
ACCOUNTS = (*SERVICE_ACCOUNTS, "gateway")


@dataclass(frozen=True)
class StackSettings:
    """What every service is started with."""

    database_url: str
    nats_url: str
    secret_key: str
    ports: Mapping[str, int]
    service_keys: Mapping[str, str]
    # NATS user -> password when the launcher runs NATS; empty for an external NATS, whose user (if
    # any) the services take from the environment.
    nats_passwords: Mapping[str, str] = field(default_factory=dict, repr=False)
    # The HTTP gateway's port: links (`wio link`) point there.
    gateway_port: int = 0

    def address(self, name: str) -> str:
        return f"{HOST}:{self.ports[name]}"

    def base_env(self) -> dict[str, str]:
        return {
            "WIO_DATABASE_URL": self.database_url,
            "WIO_NATS_URL": self.nats_url,
            "WIO_SECRET_KEY": self.secret_key,
            "WIO_AUTH_ADDRESS": self.address("auth"),
            "WIO_NODES_ADDRESS": self.address("nodes"),
            "WIO_WORKSPACES_ADDRESS": self.address("workspaces"),
        }

    def nats_env(self, name: str) -> dict[str, str]:
        """The service's own NATS user, in its environment only (never in process arguments)."""
        if name not in self.nats_passwords:
            return {}
        return {"WIO_NATS_USER": name, "WIO_NATS_PASSWORD": self.nats_passwords[name]}

    def gateway_env(self, port: int) -> dict[str, str]:
        """The gateway: no database, its own NATS user and service account."""
        env = {k: v for k, v in self.base_env().items() if k != "WIO_DATABASE_URL"} | self.nats_env("gateway")
        env["WIO_GATEWAY_LISTEN"] = f"{HOST}:{port}"
        env["WIO_GATEWAY_SERVICE_API_KEY"] = self.service_keys.get("gateway", "")
        # The REST side reaches every service.
        for name in self.ports:
            if name in ("auth", "nodes", "workspaces", "indexer"):
                env[f"WIO_{name.upper()}_ADDRESS"] = self.address(name)
        return env

    def service_env(self, name: str) -> dict[str, str]:
        env = self.base_env() | self.nats_env(name)
        env[f"WIO_{name.upper()}_LISTEN"] = self.address(name)
        if name == "auth":
            env["WIO_AUTH_DIRECTORY"] = ",".join(f"{s}={self.address(s)}" for s in SERVICE_ACCOUNTS)
        else:
            env[f"WIO_{name.upper()}_SERVICE_API_KEY"] = self.service_keys.get(name, "")
        if name == "workspaces" and self.gateway_port:
            env["WIO_GATEWAY_PUBLIC_URL"] = f"http://{HOST}:{self.gateway_port}"
        return env


@dataclass(frozen=True)
class BootstrapResult:
    admin_username: str
    admin_key: str | None
    service_keys: dict[str, str | None]


def project_root() -> Path:
    """The folder holding the `services` package; services run from there so `-m` finds them."""
    spec = importlib.util.find_spec("services")
    if spec is None or not spec.submodule_search_locations:
        raise LaunchError("the `services` package cannot be found: run from the project (pip install -e .)")
    return Path(next(iter(spec.submodule_search_locations))).parent


def require_service_module(name: str) -> None:
    main = project_root() / "services" / name / "__main__.py"
    if not main.is_file():
        raise LaunchError(
            f"services/{name}/__main__.py does not exist yet, so `python -m services.{name}` cannot run"
        )


def _python_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_bootstrap(
    settings: StackSettings, log: Path, *, new_admin_key: bool, timeout: float = 120.0
) -> BootstrapResult:
    """`python -m services.auth bootstrap`: schema, first admin and service accounts, if missing."""
    require_service_module("auth")
    command = [
        sys.executable,
        "-m",
        "services.auth",
        "bootstrap",
        "--admin-username",
        ADMIN_USERNAME,
        "--admin-email",
        ADMIN_EMAIL,
    ]
    for name in ACCOUNTS:
        command += ["--service", name]
    if new_admin_key:
        command.append("--new-admin-key")
    with open_log(log) as errors:
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                # The bootstrap runs the auth service's start-up, so it connects as auth.
                env=_python_env(settings.base_env() | settings.nats_env("auth")),
                cwd=project_root(),
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise LaunchError(f"the auth bootstrap did not finish in {timeout:.0f} s; see {log}") from exc
    if result.returncode != 0:
        raise LaunchError(f"the auth bootstrap failed (exit {result.returncode}):\n{tail(log)}\n(log: {log})")
    lines = [line for line in result.stdout.decode(errors="replace").splitlines() if line.strip()]
    try:
        data = json.loads(lines[-1])
        admin = data["admin"]
        services = data.get("services") or {}
        return BootstrapResult(
            admin_username=str(admin.get("username") or ADMIN_USERNAME),
            admin_key=admin.get("api_key") or None,
            service_keys={name: (services.get(name) or None) for name in ACCOUNTS},
        )
    except (IndexError, ValueError, KeyError, TypeError, AttributeError) as exc:
        # Never echo the output itself: it holds keys.
        raise LaunchError(f"the auth bootstrap printed no JSON object as expected; see {log}") from exc


def health(address: str, timeout: float = 1.0) -> str:
    """The gRPC health status of the whole server ("SERVING", ...), or "no answer"."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    options = [("grpc.enable_http_proxy", 0)]
    with grpc.insecure_channel(address, options=options) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
        except grpc.RpcError:
            return "no answer"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def start_service(
    name: str, settings: StackSettings, logs_dir: Path, *, timeout: float = 30.0
) -> ManagedProcess:
    require_service_module(name)
    log = logs_dir / f"{name}.log"
    process = spawn(
        name,
        [sys.executable, "-m", f"services.{name}"],
        log,
        env=_python_env(settings.service_env(name)),
        cwd=project_root(),
    )
    address = settings.address(name)
    try:
        wait_until(
            lambda: health(address) == "SERVING",
            timeout,
            process=process,
            what=f"the {name} service on {address} (gRPC health check)",
            log=str(log),
        )
    except LaunchError as exc:
        process.stop()
        raise LaunchError(f"{exc}\n{tail(log)}") from exc
    return process
