"""The local stack: start, reuse, stop and report PostgreSQL, NATS, SeaweedFS and the wio services.

Everything lives in one state folder. Its stack.json (mode 0600) records the ports, the generated
secrets and exactly which processes were started, so `down` stops those and nothing else, and a
second `up` reuses the same data, secrets and ports and starts only what is not running.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from deploy import ports as port_settings
from deploy.cli_config import write_cli_config
from deploy.errors import LaunchError
from deploy.gateway import gateway_answers, gateway_url, hook_token_refused, hook_url, start_gateway
from deploy.local_node import register_local_node, rotate_local_hook_token
from deploy.nats import USERS, NatsCredentials, nats_info, reload_nats, start_nats
from deploy.ports import HOST, SERVICES, WeedPorts, require_free
from deploy.postgres import generate_password, postgres_answers, redacted, start_postgres
from deploy.process import ManagedProcess
from deploy.seaweedfs import (
    NOTIFICATION_FILE,
    WeedCredentials,
    remove_stale_sockets,
    s3_answers,
    start_seaweedfs,
    write_notification,
)
from deploy.services import (
    StackSettings,
    health,
    require_service_module,
    run_bootstrap,
    start_service,
)
from deploy.state import STATE_VERSION, busy, load_state, locked, save_state, stack_file

T = TypeVar("T")

INFRA = ("postgres", "nats", "s3", "s3_second")
WEED_NODES = ("s3", "s3_second")
# The HTTP gateway: started after the services, stopped before them.
GATEWAY = "gateway"


def _say(message: str = "", end: str = "\n") -> None:
    # Progress only: a closed pipe (`wio-dev up | head`) must not interrupt starting or stopping.
    with contextlib.suppress(BrokenPipeError):
        print(message, end=end, flush=True)


def _entry(data: dict[str, Any], key: str) -> dict[str, Any]:
    """The record of one component ({} when there is none); services sit under "services"."""
    entry = data.get("services", {}).get(key) if key in SERVICES else data.get(key)
    return entry if isinstance(entry, dict) else {}


def _process(entry: dict[str, Any] | None, name: str) -> ManagedProcess | None:
    if not entry or not entry.get("process"):
        return None
    return ManagedProcess.from_json(name, entry["process"])


def _running(entry: dict[str, Any] | None, name: str) -> ManagedProcess | None:
    process = _process(entry, name)
    return process if process is not None and process.is_running() else None


# --- ports -------------------------------------------------------------------------------------


def _settings_for(key: str) -> dict[str, port_settings.Port]:
    if key == "postgres":
        return {"": port_settings.POSTGRES}
    if key == "nats":
        return {"": port_settings.NATS}
    if key in WEED_NODES:
        return port_settings.weed_port_settings(second=key == "s3_second")
    if key == GATEWAY:
        return {"": port_settings.GATEWAY}
    return {"": port_settings.SERVICE_PORTS[key]}


def _resolve_ports(data: dict[str, Any], second_node: bool) -> None:
    """A component keeps the ports of its first start: its data and addresses written elsewhere
    (CLI config, registered nodes) depend on them. Until then the environment decides."""
    recorded: dict[str, Any] = data.setdefault("ports", {})
    keys = ["postgres", "nats", "s3", *(["s3_second"] if second_node else []), *SERVICES, GATEWAY]
    for key in keys:
        settings = _settings_for(key)
        wanted: Any
        if key in WEED_NODES:
            wanted = {name: port.value() for name, port in settings.items()}
        else:
            wanted = settings[""].value()
        entry = _entry(data, key)
        # Only a successful start records an address ("port", "endpoint" or "address").
        ever_started = not entry.get("external") and bool({"port", "endpoint", "address"} & set(entry))
        if key not in recorded or not ever_started:
            recorded[key] = wanted
            continue
        for name, port in settings.items():
            old = recorded[key][name] if key in WEED_NODES else recorded[key]
            if port.is_set() and port.value() != old:
                _say(
                    f"note: {port.env}={port.value()} is ignored: this state folder keeps the port of its"
                    f" first start ({old}); use another --state folder to change ports"
                )


def _port_descriptions(key: str, data: dict[str, Any]) -> dict[int, str]:
    settings = _settings_for(key)
    if key in WEED_NODES:
        return {
            int(data["ports"][key][name]): f"{port.name}, set by {port.env}"
            for name, port in settings.items()
        }
    port = settings[""]
    return {int(data["ports"][key]): f"{port.name}, set by {port.env}"}


# --- up ----------------------------------------------------------------------------------------


@dataclass
class _Up:
    state_dir: Path
    data: dict[str, Any]
    started: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def save(self) -> None:
        save_state(self.state_dir, self.data)

    def record(self, key: str, entry: dict[str, Any], stop: Callable[[], None] | None) -> None:
        if key in SERVICES:
            self.data.setdefault("services", {})[key] = entry
        else:
            self.data[key] = entry
        self.save()
        if stop is not None:
            self.started.append((key, stop))

    def stop_started(self) -> None:
        for key, stop in reversed(self.started):
            _say(f"stopping {key} ...")
            stop()
            entry = _entry(self.data, key)
            if entry:
                entry["process"] = None
            self.save()
        self.started.clear()


def _timed(what: str, action: Callable[[], T]) -> T:
    _say(f"starting {what} ...", end=" ")
    began = time.monotonic()
    try:
        result = action()
    except BaseException:
        _say("failed")
        raise
    _say(f"ok ({time.monotonic() - began:.1f} s)")
    return result


def _external_answers(url: str, default_port: int, check: Callable[[int, str], bool]) -> bool:
    parts = urlsplit(url)
    return check(parts.port or default_port, parts.hostname or HOST)


def _refuse_external_over_own(up: _Up, key: str, env: str) -> None:
    # Replacing the record would forget the running server's PID, and `down` could not stop it.
    process = _running(_entry(up.data, key), key)
    if process is not None and not _entry(up.data, key).get("external"):
        raise LaunchError(
            f"{env} is set, but this state folder's own {key} is running (pid {process.pid});"
            " run `wio-dev down` first or unset the variable"
        )


def _start_postgres(up: _Up) -> None:
    external = os.environ.get("WIO_DATABASE_URL", "").strip()
    if external:
        _refuse_external_over_own(up, "postgres", "WIO_DATABASE_URL")
        up.record("postgres", {"external": True, "url": external, "process": None}, None)
        return
    entry = up.data.get("postgres") or {}
    if not entry.get("external") and _running(entry, "postgres"):
        if entry.get("auth") != "scram-sha-256":
            _say(
                "note: the running PostgreSQL was started before password authentication and still trusts"
                " every local connection; `wio-dev down` and `wio-dev up` move it to passwords"
            )
        return
    # Generated once and saved before the first start, so the data always matches the password.
    password = str(up.data.setdefault("postgres_password", generate_password()))
    up.save()
    port = int(up.data["ports"]["postgres"])
    server = _timed(f"PostgreSQL on {HOST}:{port}", lambda: start_postgres(up.state_dir, port, password))
    if not server.data_dir.is_relative_to(up.state_dir):
        _say(
            f"note: {server.user} cannot reach {up.state_dir}, so the PostgreSQL data is in {server.data_dir}"
        )
    if server.migrated:
        _say(
            f"note: the PostgreSQL data in {server.data_dir} trusted every local connection; it now needs"
            f" the generated password (in {stack_file(up.state_dir)}) and belongs to {server.user}"
        )
    up.record(
        "postgres",
        {
            "external": False,
            "url": server.url("wio"),
            "port": port,
            "data_dir": str(server.data_dir),
            "user": server.user,
            "auth": "scram-sha-256",
            "process": server.process.to_json(),
        },
        server.stop,
    )


def _start_nats(up: _Up) -> None:
    external = os.environ.get("WIO_NATS_URL", "").strip()
    if external:
        _refuse_external_over_own(up, "nats", "WIO_NATS_URL")
        up.record("nats", {"external": True, "url": external, "process": None}, None)
        return
    entry = up.data.get("nats") or {}
    running = None if entry.get("external") else _running(entry, "nats")
    if running is not None:
        missing = set(USERS) - set(entry.get("users") or {})
        if missing:
            # Users added since it started (the gateway's): the running server reads its config again.
            credentials = NatsCredentials.from_json(entry.get("users") or {})
            reload_nats(up.state_dir / "nats", int(up.data["ports"]["nats"]), credentials, running)
            entry["users"] = credentials.to_json()
            up.save()
            _say(f"NATS: added the user(s) {', '.join(sorted(missing))} to the running server")
        return
    port = int(up.data["ports"]["nats"])
    if not entry.get("external") and entry.get("users"):
        credentials = NatsCredentials.from_json(entry["users"])
    else:
        credentials = NatsCredentials.generate()
    server = _timed(f"NATS JetStream on {HOST}:{port}", lambda: start_nats(up.state_dir, port, credentials))
    up.record(
        "nats",
        {
            "external": False,
            "url": server.url,
            "port": port,
            "users": credentials.to_json(),
            "process": server.process.to_json(),
        },
        server.stop,
    )


def _start_weed(up: _Up, key: str) -> None:
    entry = up.data.get(key) or {}
    folder = up.state_dir / ("seaweedfs" if key == "s3" else "seaweedfs-second")
    if _running(entry, key):
        if not (folder / "security.toml").is_file():
            _say(
                f"note: the running {key} was started before client certificates and answers anyone on"
                " its filer, master and volume ports; `wio-dev down` and `wio-dev up` close them"
            )
        return
    ports = WeedPorts.from_dict(up.data["ports"][key])
    if entry.get("credentials"):
        credentials = WeedCredentials.from_json(entry["credentials"])
    else:
        # Generated once and saved before the first start, so the data always matches the keys.
        credentials = WeedCredentials.generate()
        entry = {"credentials": credentials.to_json(), "process": None}
        up.record(key, entry, None)
    label = "SeaweedFS S3/STS" + (" (second node)" if key == "s3_second" else "")
    server = _timed(
        f"{label} on {HOST}:{ports.s3}",
        lambda: start_seaweedfs(
            folder, ports, credentials, name=key, log=up.state_dir / "logs" / f"{key}.log"
        ),
    )
    up.record(
        key,
        {
            **server.access.to_json(),
            "folder": str(folder),
            "credentials": credentials.to_json(),
            "process": server.process.to_json(),
        },
        server.stop,
    )


def _stop_service(process: ManagedProcess) -> Callable[[], None]:
    def stop() -> None:
        process.stop(20.0)

    return stop


def _start_services(up: _Up) -> str | None:
    """Start the services that are not running; returns the admin's API key if it was just made."""
    for name in SERVICES:
        require_service_module(name)
    services = up.data.setdefault("services", {})
    missing = [name for name in SERVICES if not _running(services.get(name), name)]
    if not missing:
        return None
    settings = _stack_settings(up.data)
    result = _timed(
        "auth bootstrap (schema, admin, service accounts)",
        lambda: run_bootstrap(settings, up.state_dir / "logs" / "bootstrap.log", new_admin_key=False),
    )
    _store_service_keys(up.data, result.service_keys)
    up.save()
    settings = _stack_settings(up.data)
    for name in SERVICES:
        if name not in missing:
            continue
        process = _timed(
            f"{name} on {settings.address(name)}",
            functools.partial(start_service, name, settings, up.state_dir / "logs"),
        )
        up.record(
            name,
            {"address": settings.address(name), "log": process.log, "process": process.to_json()},
            _stop_service(process),
        )
    return result.admin_key


def _store_service_keys(data: dict[str, Any], keys: dict[str, str | None]) -> None:
    stored: dict[str, str] = data.setdefault("service_keys", {})
    for name, key in keys.items():
        if key:
            stored[name] = key
        elif name not in stored:
            raise LaunchError(
                f"the auth account of the {name} service exists but its API key is not in stack.json;"
                " stop the stack and start over with a fresh state folder"
            )


def _stack_settings(data: dict[str, Any]) -> StackSettings:
    return StackSettings(
        database_url=str(data["postgres"]["url"]),
        nats_url=str(data["nats"]["url"]),
        secret_key=str(data["secret_key"]),
        ports={name: int(data["ports"][name]) for name in SERVICES},
        service_keys=dict(data.get("service_keys", {})),
        nats_passwords=dict(data["nats"].get("users") or {}),
        gateway_port=int(data["ports"].get(GATEWAY) or 0),
    )


def _new_state(state_dir: Path) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "state_dir": str(state_dir),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "secret_key": secrets.token_urlsafe(32),
    }


def _prepare_state_dir(state_dir: Path) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    # Others may pass through (PostgreSQL runs as `wio-postgres` when we are root) but not list it.
    state_dir.chmod(0o711)
    (state_dir / "logs").mkdir(mode=0o700, exist_ok=True)
    (state_dir / "logs").chmod(0o700)  # an older stack made it readable by all


def _busy_ports(up: _Up, keys: list[str]) -> dict[int, str]:
    wanted: dict[int, str] = {}
    for key in keys:
        if key in ("postgres", "nats"):
            env = "WIO_DATABASE_URL" if key == "postgres" else "WIO_NATS_URL"
            entry = up.data.get(key) or {}
            if os.environ.get(env, "").strip() or (not entry.get("external") and _running(entry, key)):
                continue
        elif key in WEED_NODES or key == GATEWAY:
            if _running(up.data.get(key), key):
                continue
        elif _running(up.data.get("services", {}).get(key), key):
            continue
        wanted.update(_port_descriptions(key, up.data))
    return wanted


def _start_gateway(up: _Up) -> None:
    entry = up.data.get(GATEWAY) or {}
    if _running(entry, GATEWAY):
        return
    if not up.data.get("service_keys", {}).get(GATEWAY):
        # A stack from before the gateway: its account is made now (the bootstrap only adds).
        result = _timed(
            "auth bootstrap (the gateway's account)",
            lambda: run_bootstrap(
                _stack_settings(up.data), up.state_dir / "logs" / "bootstrap.log", new_admin_key=False
            ),
        )
        _store_service_keys(up.data, result.service_keys)
        up.save()
    port = int(up.data["ports"][GATEWAY])
    url = gateway_url(port)
    process = _timed(
        f"HTTP gateway on {url} (REST API {url}/v1/..., OpenAPI {url}/openapi.json, docs {url}/docs)",
        lambda: start_gateway(_stack_settings(up.data), port, up.state_dir / "logs"),
    )
    up.record(
        GATEWAY,
        {"url": gateway_url(port), "port": port, "log": process.log, "process": process.to_json()},
        _stop_service(process),
    )


def _notification_matches(folder: Path, endpoint: str, token: str) -> bool:
    import tomllib

    try:
        webhook = tomllib.loads((folder / NOTIFICATION_FILE).read_text())["notification"]["webhook"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(webhook.get("enabled")) and (webhook.get("endpoint"), webhook.get("bearer_token")) == (
        endpoint,
        token,
    )


def _configure_local_webhook(up: _Up, admin_key: str | None) -> None:
    """The local SeaweedFS posts its changes to the gateway with the local node's hook token. It reads
    notification.toml only when it starts, and the token exists only once the node is registered: so
    the first `up` (and a later one of a stack from before this) writes it and restarts SeaweedFS once.
    A stack without the token (registered before hook tokens) gets a new one."""
    local = up.data.get("local_node")
    s3 = up.data.get("s3") or {}
    if not local or not s3:
        return
    port = int(up.data["ports"][GATEWAY])
    token = local.get("hook_token")
    if token and hook_token_refused(port, str(local["id"]), str(token)):
        # Replaced since (`wio node hook-token local`): SeaweedFS gets a new one.
        _say(f"the recorded hook token of node {local.get('name', 'local')!r} is refused; making a new one")
        token = ""
    if not token:
        try:
            token = rotate_local_hook_token(
                up.data, admin_key, functools.partial(_fresh_admin_key, up.state_dir, up.data)
            )
        except LaunchError as exc:
            # E.g. a nodes service still running from before hook tokens: the rest of the stack works.
            _say(f"note: storage events of the local SeaweedFS are not set up: {exc}")
            _say("  `wio-dev down` then `wio-dev up` restarts the services and sets them up")
            return
        up.save()
    folder = Path(s3.get("folder") or up.state_dir / "seaweedfs")
    endpoint = hook_url(port, str(local["id"]))
    if _notification_matches(folder, endpoint, str(token)):
        return
    write_notification(folder, endpoint, str(token))
    process = _running(s3, "s3")
    if process is not None:
        _say("restarting SeaweedFS S3/STS so that it reads notification.toml (storage events) ...", end=" ")
        process.stop(30.0)
        remove_stale_sockets(folder, WeedPorts.from_dict(up.data["ports"]["s3"]))
        _say("stopped")
    up.started = [(key, stop) for key, stop in up.started if key != "s3"]
    s3["process"] = None
    up.save()
    _start_weed(up, "s3")


def up(
    state_dir: Path, *, second_node: bool = False, foreground: bool = False, infra_only: bool = False
) -> int:
    """Start what is not running yet; with `foreground`, wait and stop it all on Ctrl-C or SIGTERM."""
    if foreground:
        # From here on SIGTERM and a closed terminal act like Ctrl-C: what was started gets stopped.
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _interrupted)
    _prepare_state_dir(state_dir)
    with locked(state_dir):
        data = load_state(state_dir) or _new_state(state_dir)
        second_node = second_node or bool(_running(data.get("s3_second"), "s3_second"))
        _resolve_ports(data, second_node)
        up_run = _Up(state_dir, data)
        up_run.save()
        if not infra_only:
            # Before anything starts: a missing service would otherwise leave a half-started stack.
            for name in SERVICES:
                require_service_module(name)
        keys = ["postgres", "nats", "s3", *(["s3_second"] if second_node else [])]
        require_free(_busy_ports(up_run, keys if infra_only else [*keys, *SERVICES, GATEWAY]))
        try:
            _start_postgres(up_run)
            _start_nats(up_run)
            _start_weed(up_run, "s3")
            if second_node:
                _start_weed(up_run, "s3_second")
            admin_key = None if infra_only else _start_services(up_run)
            config = None if infra_only else write_cli_config(state_dir, data, admin_key)
            if not infra_only:
                registered = register_local_node(
                    data, admin_key, functools.partial(_fresh_admin_key, state_dir, data)
                )
                up_run.save()
                if registered:
                    _say(registered)
                _start_gateway(up_run)
                _configure_local_webhook(up_run, admin_key)
        except BaseException:
            if up_run.started:
                _say("start-up did not finish; stopping what this command started")
                up_run.stop_started()
            raise
        _summary(up_run, admin_key, config)
        started = list(up_run.started)
    if foreground:
        return _foreground(state_dir, started)
    return 0


def _summary(up_run: _Up, admin_key: str | None, config: tuple[Path, bool] | None) -> None:
    data = up_run.data
    _say("")
    _say(f"wio local stack is up (state folder: {up_run.state_dir})")
    started = {key for key, _stop in up_run.started}
    for key, where, detail in _component_lines(data):
        entry = _entry(data, key)
        if entry and entry.get("external"):
            note = "external (from the environment)"
        elif key in started:
            note = "started"
        elif _process(entry, key) is not None:
            note = "already running"
        else:
            continue
        _say(f"  {key:<11} {where:<24} {note}{'  ' + detail if detail else ''}")
    _say("")
    if config is not None:
        config_path, wrote_user_config = config
        also = " (also written to ~/.config/wio/config.toml)" if wrote_user_config else ""
        _say(f"CLI config: {config_path}{also}")
        _say(f"  export WIO_CONFIG={config_path}")
        if admin_key:
            _say(f"First admin 'admin', API key (shown only this once; also in the CLI config): {admin_key}")
        else:
            _say(
                "The first admin's API key was printed when the stack was first started (it is in the"
                " CLI config); `wio-dev admin-key` makes a fresh one."
            )
    gateway, local = data.get(GATEWAY), data.get("local_node")
    if gateway and local:
        _say(f"Storage events: the local SeaweedFS posts to {hook_url(int(gateway['port']), local['id'])}")
    _say(f"S3 keys and other generated secrets: {stack_file(up_run.state_dir)}")
    _say(f"Logs: {up_run.state_dir / 'logs'}. Stop everything with `wio-dev down`.")


def _component_lines(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    lines: list[tuple[str, str, str]] = []
    for key in INFRA:
        entry = data.get(key)
        if not entry or (key in WEED_NODES and "endpoint" not in entry):
            continue
        if key == "postgres":
            lines.append((key, _address_of(entry["url"], 5432), redacted(entry["url"])))
        elif key == "nats":
            lines.append((key, _address_of(entry["url"], 4222), entry["url"]))
        else:
            lines.append((key, entry["endpoint"], f"region {entry['region']}, role {entry['role_arn']}"))
    for name in SERVICES:
        entry = data.get("services", {}).get(name)
        if entry:
            lines.append((name, entry["address"], ""))
    gateway = data.get(GATEWAY)
    if gateway and "url" in gateway:
        lines.append((GATEWAY, f"{HOST}:{gateway['port']}", gateway["url"]))
    return lines


def _address_of(url: str, default_port: int) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or HOST}:{parts.port or default_port}"


def _foreground(state_dir: Path, started: list[tuple[str, Callable[[], None]]]) -> int:
    """Wait; on Ctrl-C or SIGTERM stop what this command started. Ends by itself when `down`
    stopped those processes from elsewhere."""
    names = {key for key, _stop in started}
    if not names:
        _say("everything was already running, and --foreground stops only what it starts: not waiting")
        return 0
    _say("running in the foreground; Ctrl-C stops what this command started")
    code = 0
    try:
        while True:
            time.sleep(1.0)
            data = load_state(state_dir) or {}
            alive = []
            for key in names:
                entry = _entry(data, key)
                process = _process(entry, key)
                if process is None:
                    continue  # stopped through `wio-dev down`
                if process.is_running():
                    alive.append(key)
                elif busy(state_dir):
                    alive.append(key)  # `wio-dev down` is stopping it right now
                else:
                    _say(f"{key} exited unexpectedly (its log is in {state_dir / 'logs'}); stopping the rest")
                    raise _Exited
            if not alive:
                _say("everything this command started was stopped")
                return 0
    except KeyboardInterrupt:
        _say("")
    except _Exited:
        code = 1
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    with locked(state_dir, wait=True):
        data = load_state(state_dir) or {}
        _stop_components(state_dir, data, only=names)
    return code


class _Exited(Exception):
    """A component's process ended on its own while `up --foreground` watched it."""


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


# --- down --------------------------------------------------------------------------------------


def _stop_components(state_dir: Path, data: dict[str, Any], only: set[str] | None = None) -> int:
    stopped = 0
    for key in [GATEWAY, *reversed(SERVICES), *reversed(INFRA)]:
        if only is not None and key not in only:
            continue
        entry = _entry(data, key)
        process = _process(entry, key)
        if process is None:
            continue
        if process.is_running():
            _say(f"stopping {key} (pid {process.pid}) ...", end=" ")
            killed = process.stop(30.0 if key in INFRA else 20.0)
            _say("killed after the timeout" if killed else "stopped")
            stopped += 1
        else:
            _say(f"{key} (pid {process.pid}) was not running")
        if key in WEED_NODES and "ports" in data and key in data["ports"]:
            remove_stale_sockets(
                Path(entry.get("folder", state_dir)), WeedPorts.from_dict(data["ports"][key])
            )
        entry["process"] = None
        save_state(state_dir, data)
    return stopped


def down(state_dir: Path) -> int:
    data = load_state(state_dir)
    if data is None:
        _say(f"nothing to stop: no stack.json in {state_dir}")
        return 0
    with locked(state_dir):
        data = load_state(state_dir) or data
        stopped = _stop_components(state_dir, data)
    _say(f"stopped {stopped} process(es); data and secrets stay in {state_dir}")
    return 0


# --- status ------------------------------------------------------------------------------------


def _answers(key: str, entry: dict[str, Any]) -> bool:
    if key == "postgres":
        return _external_answers(entry["url"], 5432, lambda port, host: postgres_answers(port, host))
    if key == "nats":
        return _external_answers(entry["url"], 4222, lambda port, host: nats_info(port, host) is not None)
    if key in WEED_NODES:
        return s3_answers(int(urlsplit(entry["endpoint"]).port or 80))
    if key == GATEWAY:
        return gateway_answers(int(entry["port"]))
    return health(entry["address"]) == "SERVING"


def status(state_dir: Path) -> int:
    data = load_state(state_dir)
    if data is None:
        _say(f"not started: no stack.json in {state_dir}")
        return 1
    _say(f"state folder: {state_dir}")
    healthy = True
    for key, where, _detail in _component_lines(data):
        entry = _entry(data, key)
        process = _process(entry, key)
        if entry.get("external"):
            answers = _answers(key, entry)
            state = "external, " + ("answers" if answers else "NOT ANSWERING")
            healthy = healthy and answers
        elif process is None:
            state = "stopped"
        elif not process.is_running():
            state = f"not running (pid {process.pid} is gone)"
            healthy = False
        else:
            answers = _answers(key, entry)
            state = f"pid {process.pid}, " + ("answers" if answers else "NOT ANSWERING")
            healthy = healthy and answers
        _say(f"  {key:<11} {where:<24} {state}")
    return 0 if healthy else 1


# --- admin-key ---------------------------------------------------------------------------------


def _fresh_admin_key(state_dir: Path, data: dict[str, Any]) -> str:
    result = run_bootstrap(_stack_settings(data), state_dir / "logs" / "bootstrap.log", new_admin_key=True)
    if not result.admin_key:
        raise LaunchError("the auth bootstrap made no new admin key")
    return result.admin_key


def admin_key(state_dir: Path) -> int:
    """A fresh API key for the first admin, printed on stdout and put into the state's CLI config."""
    with locked(state_dir):
        data = load_state(state_dir)
        if data is None or "postgres" not in data or "nats" not in data:
            raise LaunchError(f"no stack in {state_dir}: start it with `wio-dev up`")
        for key in ("postgres", "nats"):
            entry = data[key]
            if not entry.get("external") and not _running(entry, key):
                raise LaunchError(f"{key} is not running: start the stack with `wio-dev up`")
        settings = _stack_settings(data)
        result = run_bootstrap(settings, state_dir / "logs" / "bootstrap.log", new_admin_key=True)
        _store_service_keys(data, result.service_keys)
        save_state(state_dir, data)
        if not result.admin_key:
            raise LaunchError("the auth bootstrap made no new admin key")
        config_path, _wrote = write_cli_config(state_dir, data, result.admin_key)
    print(f"new API key for '{result.admin_username}' (also written to {config_path}):", file=sys.stderr)
    print(result.admin_key, flush=True)
    return 0
