"""The REST side's pieces without servers: path templates, requests from paths, queries and bodies, the
catalog and its settings."""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, json_format, message_factory, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from gateway import config
from gateway.catalog import Catalog, domain_of, proto_files
from gateway.transcode import RequestError, build_request, compile_template, to_json
from services.common.config import ConfigError
from wio.nodes.v1 import nodes_pb2
from wio.workspaces.v1 import workspaces_pb2

pytestmark = pytest.mark.unit


def test_templates_match_segments_globs_and_verbs() -> None:
    one = compile_template("/v1/users/{username}")
    assert one.match("/v1/users/alice") == {"username": "alice"}
    assert one.match("/v1/users/a/b") is None and one.match("/v1/users/") is None
    glob = compile_template("/v1/workspaces/{workspace=**}:permission")
    assert glob.match("/v1/workspaces/alice/proj/x:permission") == {"workspace": "alice/proj/x"}
    assert glob.match("/v1/workspaces/alice/proj") is None
    assert glob.openapi_path == "/v1/workspaces/{workspace}:permission"
    encoded = compile_template("/v1/shares/{id}")
    assert encoded.match("/v1/shares/a%2Fb%20c") == {"id": "a/b c"}
    verb = compile_template("/v1/users:lookup")
    assert verb.match("/v1/users:lookup") == {} and verb.match("/v1/users") is None
    assert verb.literal_weight > compile_template("/v1/users/{username}").literal_weight


def test_requests_from_path_query_and_body() -> None:
    listed = build_request(
        workspaces_pb2.ListWorkspacesRequest,
        "",
        {},
        "name_contains=x&type=WORKSPACE_TYPE_PUBLIC&owner=bob",
        b"",
    )
    assert listed == workspaces_pb2.ListWorkspacesRequest(
        name_contains="x", type=workspaces_pb2.WORKSPACE_TYPE_PUBLIC, owner="bob"
    )
    camel = build_request(workspaces_pb2.ListWorkspacesRequest, "", {}, "nameContains=y&type=2", b"")
    assert camel.name_contains == "y" and camel.type == workspaces_pb2.WORKSPACE_TYPE_PUBLIC
    repeated = build_request(workspaces_pb2.IssueCredentialsRequest, "", {}, "workspaces=a&workspaces=b", b"")
    assert list(repeated.workspaces) == ["a", "b"]
    # Path variables win over the body; both name styles in the body.
    update = build_request(
        workspaces_pb2.UpdateShareRequest,
        "*",
        {"id": "s1"},
        "",
        b'{"id": "other", "permission": "PERMISSION_OWN", "update_mask": "permission", '
        b'"expiresAt": "2030-01-01T00:00:00Z"}',
    )
    assert update.id == "s1" and update.permission == workspaces_pb2.PERMISSION_OWN
    assert list(update.update_mask.paths) == ["permission"] and update.expires_at.seconds > 0
    nested = build_request(
        nodes_pb2.UpdateNodeRequest, "", {"node": "n"}, "changes.region=eu&changes.kind=2", b""
    )
    assert nested.changes.region == "eu" and nested.changes.kind == 2


@pytest.mark.parametrize(
    ("query", "body", "named"),
    [
        ("nope=1", b"", "nope"),
        ("type=NOT_A_TYPE", b"", "type"),
        ("owner=a&owner=b", b"", "owner"),
        ("", b'{"name": ', "JSON"),
        ("", b'{"colour": 1}', "colour"),
        ("", b"[1]", "object"),
        ("", b'{"name": "\xff"}', "UTF-8"),
        ("", b'{"name": "q", "nodes": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nests too deeply"),
        ("", b'{"name": ' + b"1" * 5000 + b"}", "number too long"),
        ("", b'{"name": "q", "type": "\\ud800"}', "CreateWorkspaceRequest"),
        ("type=" + "9" * 5000, b"", "type"),
        ("pageSize=%EF%BC%91", b"", "pageSize: expected an integer"),
        ("pageSize=1e3", b"", "pageSize: expected an integer"),
    ],
)
def test_bad_requests_name_the_problem(query: str, body: bytes, named: str) -> None:
    rule = "*" if body else ""
    request_class = workspaces_pb2.CreateWorkspaceRequest if body else workspaces_pb2.ListWorkspacesRequest
    with pytest.raises(RequestError) as info:
        build_request(request_class, rule, {}, query, body)
    assert named in str(info.value)


def test_answers_use_protobuf_json_defaults() -> None:
    reply = workspaces_pb2.DeleteWorkspaceResponse(objects_deleted=2**53 + 1)
    assert to_json(reply) == {"objectsDeleted": str(2**53 + 1)}
    ws = workspaces_pb2.Workspace(owner_username="a", type=workspaces_pb2.WORKSPACE_TYPE_PRIVATE)
    assert to_json(ws) == {"ownerUsername": "a", "type": "WORKSPACE_TYPE_PRIVATE"}


def _filled(message: Message, rng: random.Random, depth: int = 0) -> Message:
    """Every field of `message` given a value that is not its default (at random, unknown enum numbers,
    64-bit extremes and non-finite doubles included), sub-messages down to a few levels."""
    for field in message.DESCRIPTOR.fields:
        if field.containing_oneof is not None and rng.random() < 0.5:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            target = getattr(message, field.name)
            key_field, value_field = field.message_type.fields
            for _ in range(2):
                key = _scalar_value(key_field, rng)
                if value_field.message_type is not None:
                    _filled(target[key], rng, depth + 1)
                else:
                    target[key] = _scalar_value(value_field, rng)
        elif field.message_type is not None:
            if depth > 3:
                continue
            if field.is_repeated:
                for _ in range(2):
                    _filled(getattr(message, field.name).add(), rng, depth + 1)
            elif field.message_type.full_name == "google.protobuf.Timestamp":
                getattr(message, field.name).FromSeconds(rng.randrange(0, 4_000_000_000))
                getattr(message, field.name).nanos = rng.choice([0, 5_000_000, 123_456_000, 7])
            elif field.message_type.full_name == "google.protobuf.FieldMask":
                getattr(message, field.name).paths.extend(["a_b", "c"])
            else:
                getattr(message, field.name).SetInParent()
                _filled(getattr(message, field.name), rng, depth + 1)
        elif field.is_repeated:
            getattr(message, field.name).extend(_scalar_value(field, rng) for _ in range(2))
        else:
            setattr(message, field.name, _scalar_value(field, rng))
    return message


def _scalar_value(field: FieldDescriptor, rng: random.Random) -> Any:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return rng.choice(["a", "ünï", "x/y z", "1"])
    if kind == FieldDescriptor.TYPE_BYTES:
        return bytes(rng.randrange(256) for _ in range(5))
    if kind == FieldDescriptor.TYPE_BOOL:
        return True
    if kind == FieldDescriptor.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values if v.number]
        # An open enum (proto3) keeps a number it has no name for.
        return rng.choice([*numbers, *([] if field.enum_type.is_closed else [99])])
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        large = 3e300 if kind == FieldDescriptor.TYPE_DOUBLE else 0.1
        return rng.choice([1.5, -0.1, large, math.inf, -math.inf])
    if kind in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64):
        return rng.choice([-(2**63), 2**53 + 1, 7])
    if kind in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return rng.choice([2**64 - 1, 3])
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return rng.choice([2**32 - 1, 3])
    return rng.choice([-(2**31), 2**31 - 1, 5])


def _message_classes() -> list[type[Message]]:
    """Every message type of the generated code (answers, requests, events), and a few of Google's:
    error details (a map), a Struct and a descriptor (proto2: closed enums, extensions, floats)."""
    found: list[type[Message]] = []

    def add(descriptor: Descriptor) -> None:
        if not descriptor.GetOptions().map_entry:
            found.append(message_factory.GetMessageClass(descriptor))
        for nested in descriptor.nested_types:
            add(nested)

    for file, _root in proto_files(["wio"]):
        for descriptor in file.message_types_by_name.values():
            add(descriptor)
    for descriptor in (
        error_details_pb2.ErrorInfo.DESCRIPTOR,
        struct_pb2.Struct.DESCRIPTOR,
        descriptor_pb2.FieldOptions.DESCRIPTOR,
    ):
        add(descriptor)
    return found


def _printed(printer: Callable[[Message], Any], message: Message) -> Any:
    """What `printer` makes of `message`, or that it refused it (a Struct holding an infinite number)."""
    try:
        return printer(message)
    except (ValueError, json_format.Error):
        return "refused"


def test_answers_are_the_json_of_protobufs_own_printer() -> None:
    rng = random.Random(7)
    classes = _message_classes()
    assert len(classes) > 100
    filled = 0
    for message_class in classes:
        assert to_json(message_class()) == json_format.MessageToDict(message_class())
        for _ in range(3):
            message = _filled(message_class(), rng)
            expected = _printed(json_format.MessageToDict, message)
            assert _printed(to_json, message) == expected, message_class.DESCRIPTOR.full_name
            filled += expected != "refused" and expected != {}
    assert filled > 300


def test_catalog_exposes_annotated_public_rpcs_only() -> None:
    catalog = Catalog.discover(["wio"])
    paths = {op.path for op in catalog.operations}
    assert "/wio.workspaces.v1.WorkspacesService/ListWorkspaces" in paths
    assert not any("Internal" in p for p in paths)
    assert {op.domain for op in catalog.operations} == {"auth", "nodes", "workspaces", "indexer"}
    streams = {op.rpc.name for op in catalog.operations if op.server_streaming}
    assert streams == {"IndexWorkspace", "IndexRoot", "VerifyRoot"}
    assert catalog.comments.get("wio.workspaces.v1.WorkspacesService.ListWorkspaces")
    assert domain_of("wio.workspaces.v1") == "workspaces" and domain_of("gwtest.v2beta1") == "gwtest"
    only_auth = Catalog.discover(["wio"], ["auth"])
    assert {op.domain for op in only_auth.operations} == {"auth"}


def test_rest_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("WIO_")]:
        monkeypatch.delenv(name)
    defaults = config.load()
    assert defaults.cors_origins == () and defaults.rest_max_bytes == 1024 * 1024
    assert set(defaults.service_addresses) == {"auth", "nodes", "workspaces", "indexer"}
    monkeypatch.setenv("WIO_GATEWAY_ADDRESSES", "echo=127.0.0.1:9000")
    monkeypatch.setenv("WIO_GATEWAY_CORS_ORIGINS", "https://app.example.org/, http://localhost:3000")
    monkeypatch.setenv("WIO_INDEXER_ADDRESS", "127.0.0.1:7")
    settings = config.load()
    assert settings.service_addresses["echo"] == "127.0.0.1:9000"
    assert settings.service_addresses["indexer"] == "127.0.0.1:7"
    assert settings.cors_origins == ("https://app.example.org", "http://localhost:3000")
    for name, value in (
        ("WIO_GATEWAY_CORS_ORIGINS", "*"),
        ("WIO_GATEWAY_CORS_ORIGINS", "app.example.org"),
        ("WIO_GATEWAY_ADDRESSES", "no-equals"),
        ("WIO_GATEWAY_REST_MAX_BYTES", "0"),
        ("WIO_GATEWAY_REST_TIMEOUT_SECONDS", "0"),
    ):
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError, match=name):
            config.load()
        monkeypatch.delenv(name)
