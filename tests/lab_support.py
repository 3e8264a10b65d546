"""A small lab for the tests of the outside interfaces (events, other-language clients): the test S3 node
registered under a fresh name by an admin operator, with one private root on a fresh bucket."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tests.conftest import AuthUnderTest, NodesUnderTest
from wio.nodes.v1 import nodes_pb2


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Person:
    name: str
    key: str
    md: Any


@dataclass
class SmallLab:
    node: str
    root_id: str
    bucket: str
    operator: Person


async def person(auth: AuthUnderTest, prefix: str, admin: bool = False) -> Person:
    user, key = await auth.new_user(prefix, admin=admin)
    return Person(user.username, key, await auth.as_key(key))


async def small_lab(infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, prefix: str) -> SmallLab:
    # The node is on loopback: only an admin may register it.
    operator = await person(auth, f"{prefix}op", admin=True)
    node, bucket = unique(prefix), unique(f"{prefix}b")
    await nodes.register_test_s3(infra.s3, node, operator.md)
    root = await nodes.stub.CreateRoot(
        nodes_pb2.CreateRootRequest(node=node, bucket=bucket, type=nodes_pb2.ROOT_TYPE_PRIVATE),
        metadata=operator.md,
    )
    return SmallLab(node, root.root.id, bucket, operator)
