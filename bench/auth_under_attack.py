"""Prints WhoAmI latency (p50/p99 over --calls calls) with the identity service idle, and while 20
concurrent clients exchange wrong secrets without pause: once all against one key id (the failure limit
soon answers them without argon2), once rotating over --keys real key ids (each allows a few argon2
checks before its limit, so the checks' threads stay busy). Also prints what the attackers were told.

Starts its own stack (`wio-dev up`) on free ports in a temporary folder. The attackers run in a process of
their own, so the client measuring WhoAmI does not share an event loop with them.
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


async def whoami(address: str, token: str, calls: int) -> list[float]:
    metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        for _ in range(50):  # warm-up
            await stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=metadata, timeout=10)
        latencies = []
        for _ in range(calls):
            started = time.perf_counter()
            await stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=metadata, timeout=10)
            latencies.append(time.perf_counter() - started)
    return latencies


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
    address: str, token: str, calls: int, wrong_keys: list[str]
) -> tuple[list[float], dict[str, int]]:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        stop = context.Event()
        told = manager.dict()
        attackers = context.Process(target=attacker_process, args=(address, wrong_keys, stop, told))
        attackers.start()
        time.sleep(1.0)  # let the attack get going
        started = time.perf_counter()
        try:
            latencies = asyncio.run(whoami(address, token, calls))
        finally:
            stop.set()
            attackers.join(60)
        seconds = time.perf_counter() - started
        counts = dict(told)
    counts["seconds measured"] = round(seconds)
    return latencies, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=100)
    args = parser.parse_args()
    with private_stack() as stack:
        run(stack, args.calls, args.keys)


def wrong(key: str) -> str:
    return key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")


def run(stack: Stack, calls: int, keys: int) -> None:
    address = stack.config["server"]["address"]
    auth = auth_pb2_grpc.AuthServiceStub(stack.channel("auth"))
    admin = stack.bearer(stack.admin_key)
    victim = auth.CreateUser(
        auth_pb2.CreateUserRequest(username="victim", email="victim@example.org"), metadata=admin
    )
    # The attacker's own keys: real key ids whose secrets the attack gets wrong.
    attacker = auth.CreateUser(
        auth_pb2.CreateUserRequest(username="attacker", email="attacker@example.org"), metadata=admin
    )
    attacker_md = stack.bearer(attacker.api_key_secret)
    own = [
        auth.CreateApiKey(auth_pb2.CreateApiKeyRequest(name=f"k{i}"), metadata=attacker_md).secret
        for i in range(keys)
    ]
    token = auth.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=victim.api_key_secret)).access_token

    idle = asyncio.run(whoami(address, token, calls))
    print(f"WhoAmI idle:                                   {percentiles(idle)} ({calls} calls)")
    one_key, told = under_attack(address, token, calls, [wrong(victim.api_key_secret)])
    print(f"WhoAmI, {ATTACKERS} bad exchanges at once, one key id:  {percentiles(one_key)}")
    print(f"  attackers were told: {told}")
    many, told = under_attack(address, token, calls, [wrong(k) for k in own])
    print(f"WhoAmI, {ATTACKERS} bad exchanges at once, {keys} key ids: {percentiles(many)}")
    print(f"  attackers were told: {told}")
    # Here the victim shares the attackers' address (all on loopback), so its key may have to wait for
    # the window; from any other address it is accepted at once (tests/test_hardening.py).
    try:
        auth.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=victim.api_key_secret))
        print("the victim's own key, from the attackers' address: accepted")
    except grpc.RpcError as error:
        print(f"the victim's own key, from the attackers' address: {error_reason(error)} (as designed)")


if __name__ == "__main__":
    main()
