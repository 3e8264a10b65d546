"""Per-node storage-event hook tokens (nodes service): made at registration and shown once, stored only
as a hash, replaced by the operator or an admin (the old one refused at once), and checked by the
internal VerifyHookToken, which answers an unknown node and a wrong token alike and only to the
gateway's service account."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import grpc
import pytest
from sqlalchemy import text

from services.nodes.domain import hooks
from tests.conftest import AuthUnderTest, NodesUnderTest
from tests.gateway_fixture import gateway_key
from wio.nodes.v1 import nodes_pb2

pytestmark = pytest.mark.integration


async def register(nodes: NodesUnderTest, s3: Any, metadata: Any) -> nodes_pb2.RegisterNodeResponse:
    reply: nodes_pb2.RegisterNodeResponse = await nodes.stub.RegisterNode(
        nodes_pb2.RegisterNodeRequest(
            name=f"hooks-{uuid.uuid4().hex[:8]}",
            endpoint=s3.endpoint,
            region=s3.region,
            kind=nodes_pb2.NODE_KIND_SEAWEEDFS,
            access_key=s3.access_key,
            secret_key=s3.secret_key,
            role_arn=s3.role_arn,
        ),
        metadata=metadata,
    )
    return reply


async def service_metadata(auth: AuthUnderTest, key: str) -> tuple[tuple[str, str], ...]:
    return await auth.as_key(key)


async def verify(nodes: NodesUnderTest, md: Any, node: str, token: str) -> nodes_pb2.VerifyHookTokenResponse:
    reply: nodes_pb2.VerifyHookTokenResponse = await nodes.internal.VerifyHookToken(
        nodes_pb2.VerifyHookTokenRequest(node=node, token=token), metadata=md
    )
    return reply


async def node_row(nodes: NodesUnderTest, node_id: str) -> dict[str, Any]:
    async with nodes.runtime.engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT * FROM nodes.nodes WHERE id = :id"), {"id": node_id})
        ).mappings()
        return dict(row.one())


@pytest.fixture
async def operator(auth: AuthUnderTest) -> tuple[Any, tuple[tuple[str, str], ...]]:
    # Nodes on loopback are for admins to register (README, Security): the operator is one.
    user, key = await auth.new_user("hookop", admin=True)
    return user, await auth.as_key(key)


@pytest.fixture(scope="module")
async def as_gateway(auth: AuthUnderTest) -> tuple[tuple[str, str], ...]:
    return await service_metadata(auth, await gateway_key(auth))


async def test_token_is_shown_once_and_only_its_hash_is_stored(
    infra: Any, nodes: NodesUnderTest, operator: Any, as_gateway: Any
) -> None:
    _user, md = operator
    reply = await register(nodes, infra.s3, md)
    token = reply.hook_token
    assert token.startswith(hooks.PREFIX) and len(token) >= 40
    # Not in any later answer about the node.
    got = await nodes.stub.GetNode(nodes_pb2.GetNodeRequest(node=reply.node.id), metadata=md)
    listed = await nodes.stub.ListNodes(nodes_pb2.ListNodesRequest(), metadata=md)
    assert token not in str(got) and token not in str(listed)
    # The row holds its SHA-256 and nowhere the token itself.
    row = await node_row(nodes, reply.node.id)
    assert row["hook_token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(row) and token.encode() not in b"".join(
        v for v in row.values() if isinstance(v, bytes)
    )
    by_id = await verify(nodes, as_gateway, reply.node.id, token)
    by_name = await verify(nodes, as_gateway, reply.node.name, token)
    assert (by_id.valid, by_id.node_id) == (by_name.valid, by_name.node_id) == (True, reply.node.id)


async def test_unknown_node_and_wrong_token_answer_alike(
    infra: Any, nodes: NodesUnderTest, operator: Any, as_gateway: Any
) -> None:
    _user, md = operator
    reply = await register(nodes, infra.s3, md)
    other = await register(nodes, infra.s3, md)
    answers = [
        await verify(nodes, as_gateway, reply.node.id, reply.hook_token + "x"),
        await verify(nodes, as_gateway, reply.node.id, reply.hook_token[:-1]),
        await verify(nodes, as_gateway, reply.node.id, other.hook_token),  # another node's token
        await verify(nodes, as_gateway, reply.node.id, ""),
        await verify(nodes, as_gateway, reply.node.id, "x" * 10_000),
        await verify(nodes, as_gateway, str(uuid.uuid4()), reply.hook_token),
        await verify(nodes, as_gateway, "no-such-node", reply.hook_token),
        await verify(nodes, as_gateway, "", reply.hook_token),
    ]
    assert {a.SerializeToString() for a in answers} == {
        nodes_pb2.VerifyHookTokenResponse().SerializeToString()
    }


async def test_rotation_by_the_operator_or_an_admin_refuses_the_old_token_at_once(
    infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, operator: Any, as_gateway: Any
) -> None:
    _user, md = operator
    reply = await register(nodes, infra.s3, md)
    first = reply.hook_token
    rotated = await nodes.stub.RotateHookToken(
        nodes_pb2.RotateHookTokenRequest(node=reply.node.name), metadata=md
    )
    assert rotated.node_id == reply.node.id and rotated.hook_token not in ("", first)
    assert not (await verify(nodes, as_gateway, reply.node.id, first)).valid
    assert (await verify(nodes, as_gateway, reply.node.id, rotated.hook_token)).valid
    # An admin may too.
    by_admin = await nodes.stub.RotateHookToken(
        nodes_pb2.RotateHookTokenRequest(node=reply.node.id), metadata=await auth.as_key(auth.admin_key)
    )
    assert not (await verify(nodes, as_gateway, reply.node.id, rotated.hook_token)).valid
    assert (await verify(nodes, as_gateway, reply.node.id, by_admin.hook_token)).valid


async def test_a_non_operator_cannot_rotate_and_changes_nothing(
    infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, operator: Any, as_gateway: Any
) -> None:
    _user, md = operator
    reply = await register(nodes, infra.s3, md)
    before = (await node_row(nodes, reply.node.id))["hook_token_hash"]
    _bob, bob_key = await auth.new_user("hookbob")
    for node in (reply.node.id, reply.node.name):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await nodes.stub.RotateHookToken(
                nodes_pb2.RotateHookTokenRequest(node=node), metadata=await auth.as_key(bob_key)
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "NODE_OPERATOR_REQUIRED" in str(refused.value.trailing_metadata())
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await nodes.stub.RotateHookToken(nodes_pb2.RotateHookTokenRequest(node="no-such-node"), metadata=md)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await node_row(nodes, reply.node.id))["hook_token_hash"] == before
    assert (await verify(nodes, as_gateway, reply.node.id, reply.hook_token)).valid


async def test_only_the_gateway_may_verify(
    infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, operator: Any
) -> None:
    _user, md = operator
    reply = await register(nodes, infra.s3, md)
    request = nodes_pb2.VerifyHookTokenRequest(node=reply.node.id, token=reply.hook_token)
    _account, workspaces_key = await auth.identity.bootstrap_account(
        f"svc-workspaces-{uuid.uuid4().hex[:6]}", None, "service", True
    )
    assert workspaces_key is not None
    for caller in (md, await auth.as_key(auth.admin_key), await auth.as_key(workspaces_key)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await nodes.internal.VerifyHookToken(request, metadata=caller)
        assert refused.value.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)


async def test_a_node_from_before_hook_tokens_is_refused_until_rotated(
    infra: Any, nodes: NodesUnderTest, operator: Any, as_gateway: Any
) -> None:
    _user, md = operator
    reply = await register(nodes, infra.s3, md)
    # What migration 0007 leaves on a node registered before it.
    async with nodes.runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE nodes.nodes SET hook_token_hash = NULL WHERE id = :id"), {"id": reply.node.id}
        )
    for token in (reply.hook_token, "", hooks.PREFIX):
        assert not (await verify(nodes, as_gateway, reply.node.id, token)).valid
    rotated = await nodes.stub.RotateHookToken(
        nodes_pb2.RotateHookTokenRequest(node=reply.node.id), metadata=md
    )
    assert (await verify(nodes, as_gateway, reply.node.id, rotated.hook_token)).valid


@pytest.mark.unit
def test_token_matching() -> None:
    token, stored = hooks.new_token()
    assert hooks.matches(token, stored)
    assert stored == hashlib.sha256(token.encode()).hexdigest() and token not in stored
    assert not hooks.matches(token, None)
    assert not hooks.matches("", stored)
    assert not hooks.matches("", None)
    assert not hooks.matches(token + "a", stored)
    # A stored hash of a very long token cannot be matched through the length cut.
    long = "a" * (hooks.MAX_TOKEN_LENGTH + 5)
    assert not hooks.matches(long, hooks.hash_token(long[: hooks.MAX_TOKEN_LENGTH]))
    assert len({hooks.new_token()[0] for _ in range(100)}) == 100
