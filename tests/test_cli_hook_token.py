"""`wio node create` shows the node's hook token once, `wio node hook-token NODE` replaces it (the
operator only), through the installed CLI against the in-process services; the new token is the one the
gateway takes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AuthUnderTest, NodesUnderTest
from tests.gateway_fixture import GatewayUnderTest
from tests.test_cli_nodes import Cli, one_clean_line, unique, write_config

pytestmark = pytest.mark.integration


def token_in(out: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith("hook token: ")]
    return line.removeprefix("hook token: ")


async def test_hook_token_shown_once_and_replaced_through_the_cli(
    tmp_path: Path, auth: AuthUnderTest, nodes: NodesUnderTest, gateway: GatewayUnderTest, infra: Any
) -> None:
    s3 = infra.s3
    _owner, owner_key = await auth.new_user("cli-hook", admin=True)
    _other, other_key = await auth.new_user("cli-hook-other")
    owner = Cli(tmp_path, write_config(tmp_path / "owner", auth.address, nodes.address, owner_key))
    other = Cli(tmp_path, write_config(tmp_path / "other", auth.address, nodes.address, other_key))
    name = unique("cli-hook")
    connection = ["--endpoint", s3.endpoint, "--access-key", s3.access_key, "--role-arn", s3.role_arn]
    code, out, err = await owner(
        "node", "create", name, "--kind", "seaweedfs", *connection, "--secret-key", s3.secret_key
    )
    assert code == 0, err
    first = token_in(out)
    assert first.startswith("wioh_") and "shown only this once" in out
    assert (await gateway.hook(name, b"{}", first))[0] == 204
    # Never again: not in show or ls.
    for args in (("node", "show", name), ("node", "ls"), ("node", "ls", "--json")):
        code, out, err = await owner(*args)
        assert code == 0 and first not in out + err

    code, out, err = await other("node", "hook-token", name)
    assert code == 5 and out == ""
    one_clean_line(err)

    code, out, err = await owner("node", "hook-token", name)
    assert code == 0, err
    second = token_in(out)
    assert second not in ("", first) and "the old one no longer works" in out
    assert (await gateway.hook(name, b"{}", second))[0] == 204
    # The first is refused once the gateway's short memory of it has passed.
    await asyncio.sleep(gateway.settings.hook_cache_seconds + 0.5)
    assert (await gateway.hook(name, b"{}", first))[0] == 401
