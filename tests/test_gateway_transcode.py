"""The REST side's pieces without servers: path templates, requests from paths, queries and bodies, the
catalog and its settings."""

from __future__ import annotations

import os

import pytest

from gateway import config
from gateway.catalog import Catalog, domain_of
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
