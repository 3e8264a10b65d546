"""A wio service run as a process of its own (`python -m services.<name>`), for tests that must kill one
outright or run several replicas: its environment, waiting until it answers, and SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.conftest import SECRET_KEY

ROOT = Path(__file__).resolve().parent.parent


def service_env(infra: Any, service: str, settings: Mapping[str, str]) -> dict[str, str]:
    """This environment without WIO_* settings, plus the test stack's database, NATS (as the service's
    own user) and secret key, plus `settings`."""
    nats_user, nats_password = infra.nats_login(service)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIO_")}
    env.update(
        {
            "WIO_DATABASE_URL": infra.database_url,
            "WIO_NATS_URL": infra.nats_url,
            "WIO_NATS_USER": nats_user,
            "WIO_NATS_PASSWORD": nats_password,
            "WIO_SECRET_KEY": SECRET_KEY,
            "WIO_LOG_LEVEL": "WARNING",
            **settings,
        }
    )
    return env


class ServiceProcess:
    """`python -m services.<service>` listening on `address`, its output in `log`."""

    def __init__(self, service: str, address: str, env: Mapping[str, str], log: Path) -> None:
        self.service = service
        self.address = address
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{service}"], cwd=ROOT, env=dict(env), stdout=out, stderr=out
            )

    async def wait_ready(
        self, answers: Callable[[grpc.aio.Channel], Awaitable[None]], within: float = 60.0
    ) -> None:
        """Until `answers` (a call on a channel to the service) stops failing; fails the test if the
        process exits first or `within` seconds pass."""
        async with grpc.aio.insecure_channel(self.address) as channel:
            deadline = time.monotonic() + within
            while True:
                if self.process.poll() is not None:
                    pytest.fail(f"{self.service} exited: {self.log.read_text(errors='replace')}")
                try:
                    await answers(channel)
                    return
                except grpc.aio.AioRpcError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
