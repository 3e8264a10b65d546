"""Prints WhoAmI latency (p50/p99 over --calls calls) with the identity service idle, and while 20
concurrent clients exchange wrong secrets without pause: once all against one key id (the failure limit
soon answers them without argon2), once rotating over --keys real key ids (each allows a few argon2
checks before its limit, so the checks' threads stay busy). Also prints what the attackers were told.

Starts its own stack (`wio-dev up`) on free ports in a temporary folder. The attackers run in a process of
their own, so the client measuring WhoAmI does not share an event loop with them; each measurement stops
after --max-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from collections import Counter
from multiprocessing.synchronize import Event
from typing import Any

import grpc

from bench.stack import Stack, percentiles, private_stack
from services.common.grpc_errors import error_reason
from wio.auth.v1 import auth_pb2, auth_pb2_grpc

ATTACKERS = 20


async def whoami(address: str, api_key: str, calls: int, max_seconds: float) -> tuple[list[float], str]:
    """Latencies of up to `calls` WhoAmI calls made within `max_seconds`, with a token exchanged first,
    and a note of what cut the run short, if anything."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        exchanged = await stub.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=api_key), timeout=60)
        metadata = (("authorization", f"Bearer {exchanged.access_token}"),)
        for _ in range(50):  # warm-up
            await stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=metadata, timeout=30)
        latencies: list[float] = []
        deadline = time.perf_counter() + max_seconds
        while len(latencies) < calls:
            if time.perf_counter() > deadline:
                return latencies, f"stopped after {max_seconds:.0f} s"
            started = time.perf_counter()
            try:
                await stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=metadata, timeout=30)
            except grpc.aio.AioRpcError as error:
                return latencies, f"stopped by {error.code().name}: {error.details()}"
            latencies.append(time.perf_counter() - started)
    return latencies, ""


async def attack(address: str, wrong_keys: list[str], stop: Event, told: dict[str, int]) -> None:
    counts: Counter[str] = Counter()

    async def one(stub: Any, offset: int) -> None:
        i = offset
        while not stop.is_set():
            request = auth_pb2.ExchangeApiKeyRequest(api_key=wrong_keys[i % len(wrong_keys)])
            i += ATTACKERS
            try:
                await stub.ExchangeApiKey(request, timeout=30)
                counts["accepted"] += 1
            except grpc.aio.AioRpcError as error:
                counts[error_reason(error) or error.code().name] += 1

    async with grpc.aio.insecure_channel(address) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        await asyncio.gather(*(one(stub, n) for n in range(ATTACKERS)))
    told.update(counts)


def attacker_process(address: str, wrong_keys: list[str], stop: Event, told: dict[str, int]) -> None:
    asyncio.run(attack(address, wrong_keys, stop, told))


def under_attack(
    address: str, api_key: str, calls: int, max_seconds: float, wrong_keys: list[str]
) -> tuple[list[float], str, dict[str, int]]:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        stop = context.Event()
        told = manager.dict()
        attackers = context.Process(target=attacker_process, args=(address, wrong_keys, stop, told))
        attackers.start()
        time.sleep(1.0)  # let the attack get going
        started = time.perf_counter()
        try:
            latencies, cut = asyncio.run(whoami(address, api_key, calls, max_seconds))
        finally:
            stop.set()
            attackers.join(60)
        seconds = time.perf_counter() - started
        counts = dict(told)
    counts["seconds measured"] = round(seconds)
    return latencies, cut, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=60.0, help="per measurement")
    args = parser.parse_args()
    with private_stack() as stack:
        run(stack, args.calls, args.keys, args.max_seconds)


def wrong(key: str) -> str:
    return key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")


def report(label: str, latencies: list[float], cut: str) -> None:
    figures = percentiles(latencies) if latencies else "no call answered"
    print(f"{label} {figures} ({len(latencies)} calls{'; ' + cut if cut else ''})")


def run(stack: Stack, calls: int, keys: int, max_seconds: float) -> None:
    address = stack.config["server"]["address"]
    auth = auth_pb2_grpc.AuthServiceStub(stack.channel("auth"))
    admin = stack.bearer(stack.admin_key)

    def user(name: str) -> str:
        request = auth_pb2.CreateUserRequest(username=name, email=f"{name}@example.org")
        return str(auth.CreateUser(request, metadata=admin).api_key_secret)

    watcher, victim, attacker = user("watcher"), user("victim"), user("attacker")
    # The attacker's own keys: real key ids whose secrets the attack gets wrong.
    attacker_md = stack.bearer(attacker)
    own = [
        auth.CreateApiKey(auth_pb2.CreateApiKeyRequest(name=f"k{i}"), metadata=attacker_md).secret
        for i in range(keys)
    ]

    report(
        "WhoAmI idle:                                  ",
        *asyncio.run(whoami(address, watcher, calls, max_seconds)),
    )
    one_key, cut, told = under_attack(address, watcher, calls, max_seconds, [wrong(victim)])
    report(f"WhoAmI, {ATTACKERS} bad exchanges at once, one key id: ", one_key, cut)
    print(f"  attackers were told: {told}")
    many, cut, told = under_attack(address, watcher, calls, max_seconds, [wrong(k) for k in own])
    report(f"WhoAmI, {ATTACKERS} bad exchanges at once, {keys} key ids:", many, cut)
    print(f"  attackers were told: {told}")


if __name__ == "__main__":
    main()
