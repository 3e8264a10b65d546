"""Registers the stack's own SeaweedFS as a node, operated by the first admin, with a private and a
public root, so workspaces can be created right after the first `up`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deploy.errors import LaunchError
from deploy.seaweedfs import S3Access

NODE_NAME = "local"
ROOTS = (("wio-private", "private"), ("wio-public", "public"))
TIMEOUT = 30.0


def register_local_node(
    data: dict[str, Any], admin_key: str | None, fresh_admin_key: Callable[[], str]
) -> str | None:
    """Register once (recorded in the state as `local_node`, with its hook token); answers a line to
    print, or None."""
    if data.get("local_node"):
        return None
    import grpc

    from wio.auth.v1 import auth_pb2, auth_pb2_grpc
    from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc

    access = S3Access.from_json(data["s3"])
    services = data["services"]
    # A key made only for this is revoked again afterwards.
    key = admin_key or fresh_admin_key()
    hook_token = ""
    with grpc.insecure_channel(services["auth"]["address"]) as auth_channel:
        auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
        token = auth.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=key), timeout=TIMEOUT).access_token
        md = (("authorization", f"Bearer {token}"),)
        try:
            with grpc.insecure_channel(services["nodes"]["address"]) as nodes_channel:
                nodes = nodes_pb2_grpc.NodesServiceStub(nodes_channel)
                node, hook_token = _node(nodes, nodes_pb2, access, md)
                existing = {
                    r.bucket
                    for r in nodes.ListRoots(nodes_pb2.ListRootsRequest(node=node.id), metadata=md).roots
                }
                for bucket, kind in ROOTS:
                    if bucket not in existing:
                        nodes.CreateRoot(
                            nodes_pb2.CreateRootRequest(
                                node=node.id,
                                bucket=bucket,
                                type=getattr(nodes_pb2, f"ROOT_TYPE_{kind.upper()}"),
                            ),
                            metadata=md,
                            timeout=TIMEOUT,
                        )
                listed = nodes.ListRoots(nodes_pb2.ListRootsRequest(node=node.id), metadata=md).roots
                roots = {r.bucket: r.id for r in listed}
        except grpc.RpcError as exc:
            raise LaunchError(
                f"registering the local SeaweedFS as node {NODE_NAME!r} failed: {exc.details()}"
            ) from exc
        finally:
            if admin_key is None:
                _revoke(auth, auth_pb2, key, md)
    data["local_node"] = {"id": node.id, "name": NODE_NAME, "roots": roots}
    if hook_token:
        data["local_node"]["hook_token"] = hook_token
    return (
        f"registered SeaweedFS as node {NODE_NAME!r} with roots wio-private (private) and wio-public (public)"
    )


def _node(nodes: Any, nodes_pb2: Any, access: S3Access, md: Any) -> tuple[Any, str]:
    """The local node, registered now if missing, and its hook token when it was just made."""
    import grpc

    try:
        node = nodes.GetNode(nodes_pb2.GetNodeRequest(node=NODE_NAME), metadata=md, timeout=TIMEOUT).node
        return node, ""
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
    request = nodes_pb2.RegisterNodeRequest(
        name=NODE_NAME,
        endpoint=access.endpoint,
        region=access.region,
        kind=nodes_pb2.NODE_KIND_SEAWEEDFS,
        access_key=access.access_key,
        secret_key=access.secret_key,
        role_arn=access.role_arn,
    )
    reply = nodes.RegisterNode(request, metadata=md, timeout=TIMEOUT)
    return reply.node, reply.hook_token


def rotate_local_hook_token(
    data: dict[str, Any], admin_key: str | None, fresh_admin_key: Callable[[], str]
) -> str:
    """A new hook token for the local node (a stack from before hook tokens has none, or lost it),
    recorded in the state; the old one stops working."""
    import grpc

    from wio.auth.v1 import auth_pb2, auth_pb2_grpc
    from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc

    services = data["services"]
    key = admin_key or fresh_admin_key()
    with grpc.insecure_channel(services["auth"]["address"]) as auth_channel:
        auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
        token = auth.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=key), timeout=TIMEOUT).access_token
        md = (("authorization", f"Bearer {token}"),)
        try:
            with grpc.insecure_channel(services["nodes"]["address"]) as nodes_channel:
                reply = nodes_pb2_grpc.NodesServiceStub(nodes_channel).RotateHookToken(
                    nodes_pb2.RotateHookTokenRequest(node=data["local_node"]["id"]),
                    metadata=md,
                    timeout=TIMEOUT,
                )
        except grpc.RpcError as exc:
            raise LaunchError(f"a new hook token for node {NODE_NAME!r} failed: {exc.details()}") from exc
        finally:
            if admin_key is None:
                _revoke(auth, auth_pb2, key, md)
    data["local_node"]["hook_token"] = str(reply.hook_token)
    return str(reply.hook_token)


def _revoke(auth: Any, auth_pb2: Any, key: str, md: Any) -> None:
    key_id = key.split("_")[1]
    auth.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(id=key_id), metadata=md, timeout=TIMEOUT)
