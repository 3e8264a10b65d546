"""Processes the launcher starts: spawn detached, remember exactly which process it was, stop it.

A PID alone can be reused by the system after the process is gone, so each record also keeps the
process's start time from /proc; a PID whose start time differs is someone else's and is left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from deploy.errors import LaunchError


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) from /proc, or None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return None
    # The command name may hold spaces and parentheses; the fields after the last ')' are fixed.
    rest = raw.rsplit(")", 1)[1].split()
    return rest[0], int(rest[19])


def start_time(pid: int) -> int | None:
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def _alive(pid: int, started: int | None) -> bool:
    if Path("/proc").is_dir():
        stat = _proc_stat(pid)
        if stat is None or stat[0] in ("Z", "X"):
            return False
        return started is None or stat[1] == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class ManagedProcess:
    """One started process: what `down` needs to stop it and nothing else."""

    name: str
    pid: int
    started: int | None
    # PostgreSQL's postmaster treats SIGTERM as "wait for every client to leave"; SIGINT is the
    # clean fast shutdown, which is what stopping the stack means.
    stop_signal: int = signal.SIGTERM
    log: str = ""
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def is_running(self) -> bool:
        if self.popen is not None and self.popen.poll() is not None:
            return False
        return _alive(self.pid, self.started)

    def stop(self, timeout: float = 15.0) -> bool:
        """Signal, wait up to `timeout`, then SIGKILL. True when it had to be killed."""
        if not self.is_running():
            return False
        self._signal(self.stop_signal)
        if self._wait(timeout):
            return False
        self._signal(signal.SIGKILL)
        self._wait(10.0)
        return True

    def send(self, signum: int) -> None:
        """Send a signal (e.g. SIGHUP: reload the config) if the process is still this one."""
        self._signal(signum)

    def _signal(self, signum: int) -> None:
        # Checked just before sending, so a recycled PID never gets our signal.
        if not self.is_running():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def _wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                return True
            time.sleep(0.1)
        return not self.is_running()

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "started": self.started,
            "stop_signal": int(self.stop_signal),
            "log": self.log,
        }

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> ManagedProcess:
        return cls(
            name=name,
            pid=int(data["pid"]),
            started=data.get("started"),
            stop_signal=int(data.get("stop_signal", signal.SIGTERM)),
            log=str(data.get("log", "")),
        )


def open_log(log: Path) -> BinaryIO:
    """A server's log, opened for appending, readable by this account only: logs name users,
    workspaces and addresses, which another account on the machine has no business seeing."""
    log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


def spawn(
    name: str,
    command: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    umask: int = -1,
) -> ManagedProcess:
    """Start a server in its own session (Ctrl-C in the terminal reaches only the launcher, which
    stops the servers in order), with stdout and stderr appended to `log`; `umask` (when >= 0) is the
    mode mask of every file and socket it makes."""
    with open_log(log) as out:
        try:
            popen = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                umask=umask,
            )
        except OSError as exc:
            raise LaunchError(f"cannot start {name} ({command[0]}): {exc}") from exc
    return ManagedProcess(name, popen.pid, start_time(popen.pid), log=str(log), popen=popen)


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    *,
    process: ManagedProcess | None = None,
    what: str,
    log: str = "",
) -> None:
    """Poll `check` until it is true; fail early when `process` has exited."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            if check():
                return
        except Exception as exc:
            # Not ready yet; the last reason is reported if it never gets there.
            last_error = f" (last error: {exc})"
        where = f"; see {log}" if log else ""
        if process is not None and not process.is_running():
            raise LaunchError(f"{what}: the process exited{where}")
        if time.monotonic() > deadline:
            raise LaunchError(f"{what}: no answer after {timeout:.0f} s{last_error}{where}")
        time.sleep(0.2)


def tail(path: str | Path, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
