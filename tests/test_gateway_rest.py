"""The REST side of the gateway over real HTTP, against the session's real services, SeaweedFS included:
routes from the protos' annotations, JSON in both name styles, auth by token or API key, grpc-gateway's
error body, the OpenAPI document, and the stack's permission rules seen through REST."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from botocore.exceptions import ClientError

from deploy.ports import pick_free_port
from tests.gateway_fixture import gateway_settings, run_gateway
from tests.rest_support import RestLab, Who, rest, s3_client, unique
from wio.auth.v1 import auth_pb2

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(rest_lab: RestLab) -> RestLab:
    return rest_lab


async def test_main_flow_key_workspace_share_credentials(lab: RestLab) -> None:
    alice, bob = await lab.user("alice"), await lab.user("bob")
    # Exchange a key: the body in proto names, the answer in lowerCamelCase with an RFC 3339 time.
    exchanged = await lab.call("POST", "/v1/auth/token", {"api_key": alice.key})
    assert exchanged.status == 200, exchanged.body
    assert exchanged.json["tokenType"] == "Bearer"
    assert exchanged.json["expiresAt"].endswith("Z")
    alice.token = exchanged.json["accessToken"]
    me = await rest(lab.gw.port, "GET", "/v1/auth/whoami", token=alice.token)
    assert me.status == 200 and me.json["user"]["username"] == alice.name
    assert me.headers["x-request-id"] and me.headers["cache-control"] == "no-store"

    name = unique("ws")
    created = await rest(
        lab.gw.port,
        "POST",
        "/v1/workspaces",
        {"name": name, "type": "WORKSPACE_TYPE_PRIVATE", "node": lab.node},
        token=alice.token,
    )
    assert created.status == 200, created.body
    workspace = created.json["workspace"]
    # Enums as names, lowerCamelCase names.
    assert workspace["type"] == "WORKSPACE_TYPE_PRIVATE" and workspace["ownerUsername"] == alice.name
    ref = f"{alice.name}/{name}"

    listed = await lab.call("GET", f"/v1/workspaces?nameContains={name}", who=alice)
    assert [w["name"] for w in listed.json["workspaces"]] == [name]
    # A path variable holding `/` ({workspace=**}).
    shown = await lab.call("GET", f"/v1/workspaces/{ref}", who=alice)
    assert shown.status == 200 and shown.json["workspace"]["id"] == workspace["id"]
    # Query parameters by proto name and by enum name.
    filtered = await lab.call(
        "GET", f"/v1/workspaces?name_contains={name}&type=WORKSPACE_TYPE_PUBLIC", who=alice
    )
    assert filtered.status == 200 and filtered.json.get("workspaces", []) == []

    # bob sees nothing of it until it is shared.
    hidden = await lab.call("GET", f"/v1/workspaces/{ref}", who=bob)
    assert hidden.status in (403, 404) and alice.name not in hidden.json["message"].replace(ref, "")
    shared = await lab.call(
        "POST", "/v1/shares", {"workspace": ref, "sharee": bob.name, "permission": "PERMISSION_READ"}, alice
    )
    assert shared.status == 200, shared.body
    assert shared.json["share"]["permission"] == "PERMISSION_READ"

    # Credentials over REST work with boto3 against the real S3 server, scoped as shared.
    mine = await lab.call("POST", "/v1/credentials", {"workspaces": [ref]}, alice)
    assert mine.status == 200, mine.body
    alice_s3 = s3_client(mine.json["sets"][0])
    key = f"{workspace['prefix'].rstrip('/')}/hello.txt"
    await asyncio.to_thread(alice_s3.put_object, Bucket=workspace["bucket"], Key=key, Body=b"hi bob")
    theirs = await lab.call("POST", "/v1/credentials", {"workspaces": [ref]}, bob)
    assert theirs.status == 200, theirs.body
    bob_s3 = s3_client(theirs.json["sets"][0])
    got = await asyncio.to_thread(bob_s3.get_object, Bucket=workspace["bucket"], Key=key)
    assert got["Body"].read() == b"hi bob"
    with pytest.raises(ClientError):
        await asyncio.to_thread(bob_s3.put_object, Bucket=workspace["bucket"], Key=key, Body=b"no")

    # The share is revoked over REST: bob's new credentials are refused.
    share_id = shared.json["share"]["id"]
    revoked = await lab.call("DELETE", f"/v1/shares/{share_id}", who=alice)
    assert revoked.status == 200, revoked.body
    refused = await lab.call("POST", "/v1/credentials", {"workspaces": [ref]}, bob)
    assert refused.status in (403, 404), refused.body


async def test_errors_map_to_http_with_the_reason(lab: RestLab) -> None:
    alice = await lab.user("alice")
    missing = await lab.call("GET", f"/v1/workspaces/{alice.name}/{unique('none')}", who=alice)
    assert missing.status == 404 and missing.reason == "WORKSPACE_NOT_FOUND", missing.body
    assert missing.json["code"] == 5 and missing.json["message"]

    anonymous = await lab.call("GET", "/v1/workspaces")
    assert anonymous.status == 401 and anonymous.json["code"] == 16

    wrong_key = await lab.call("GET", "/v1/workspaces", who=Who("x", "wio_nokey_" + "x" * 30))
    assert wrong_key.status == 401, wrong_key.body
    odd_scheme = await lab.call("GET", "/v1/workspaces", headers={"Authorization": "Basic abc"})
    assert odd_scheme.status == 401
    for junk in ("Bearer " + "x" * 5000, "Bearer caf\u00e9", "ApiKey "):
        refused = await lab.call("GET", "/v1/workspaces", headers={"Authorization": junk})
        assert refused.status == 401 and refused.json["code"] == 16, (junk[:20], refused.body)

    broken = await lab.call("POST", "/v1/workspaces", who=alice, raw=b'{"name": "x",')
    assert broken.status == 400 and "not valid JSON" in broken.json["message"]
    wrong_field = await lab.call("POST", "/v1/workspaces", {"name": "x", "colour": "red"}, alice)
    assert wrong_field.status == 400 and "colour" in wrong_field.json["message"]
    wrong_type = await lab.call("POST", "/v1/workspaces", {"name": "x", "type": "WORKSPACE_TYPE_NOPE"}, alice)
    assert wrong_type.status == 400 and "type" in wrong_type.json["message"].lower()
    not_object = await lab.call("POST", "/v1/workspaces", [1, 2], alice)
    assert not_object.status == 400

    huge = await lab.call("POST", "/v1/workspaces", {"name": "x" * (70 * 1024)}, alice)
    assert huge.status == 413 and huge.json["code"] == 3

    unknown = await lab.call("GET", "/v1/nothing/here", who=alice)
    assert unknown.status == 404 and unknown.json["message"] == "no such route"
    outside = await lab.call("GET", "/nothing")
    assert outside.status == 404 and outside.json["code"] == 5
    wrong_method = await lab.call("PUT", "/v1/workspaces", {}, alice)
    assert wrong_method.status == 405 and "GET" in wrong_method.headers["allow"]
    # No traceback, ever.
    for answer in (missing, broken, wrong_field, huge, unknown, wrong_method):
        assert b"Traceback" not in answer.body
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.headers["x-content-type-options"] == "nosniff"


async def test_request_ids_in_and_out(lab: RestLab) -> None:
    given = await lab.call("GET", "/v1/auth/jwks", headers={"X-Request-Id": "abc-123"})
    assert given.status == 200 and given.headers["x-request-id"] == "abc-123"
    made = await lab.call("GET", "/v1/auth/jwks", headers={"X-Request-Id": "bad id\twith spaces" + "x" * 100})
    assert made.headers["x-request-id"] != "" and " " not in made.headers["x-request-id"]
    assert len(made.headers["x-request-id"]) <= 64
    on_error = await lab.call("GET", "/nope")
    assert on_error.headers["x-request-id"]


async def test_api_key_is_exchanged_once_and_the_client_address_goes_on(
    lab: RestLab, auth: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spy on the real auth service (the exchange still runs): the gateway exchanges a key once and
    keeps the token; auth counts failures by the HTTP client's address, which it believes because the
    gateway's own service token comes with it."""
    alice = await lab.user("alice")
    real = auth.identity.exchange_api_key
    seen: list[str] = []

    async def spy(api_key: str, client: str) -> Any:
        if api_key == alice.key:
            seen.append(client)
        return await real(api_key, client)

    monkeypatch.setattr(auth.identity, "exchange_api_key", spy)
    for _ in range(5):
        answer = await lab.call("GET", "/v1/auth/whoami", who=alice)
        assert answer.status == 200 and answer.json["user"]["username"] == alice.name
    assert seen == ["via-gateway:ipv4:127.0.0.1"]
    # The REST key exchange itself is forwarded the same way.
    exchanged = await lab.call("POST", "/v1/auth/token", {"apiKey": alice.key})
    assert exchanged.status == 200 and seen[-1] == "via-gateway:ipv4:127.0.0.1"
    # A direct gRPC caller claiming an address in the metadata is not believed.
    claimed = (("x-wio-client-address", "ipv4:6.6.6.6"),)
    await auth.stub.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=alice.key), metadata=claimed)
    assert seen[-1].startswith("ipv4:127.0.0.1")
    keys = await lab.call("GET", "/v1/apikeys", who=alice)
    assert keys.status == 200 and keys.json["apiKeys"][0]["id"]


async def test_down_service_gives_503_quickly(lab: RestLab) -> None:
    closed = f"127.0.0.1:{pick_free_port()}"
    settings = gateway_settings(lab.gw, workspaces_address=closed)
    async with run_gateway(settings) as gw:
        alice_key = lab.admin.key
        started = time.monotonic()
        answer = await rest(gw.port, "GET", "/v1/workspaces", api_key=alice_key)
        elapsed = time.monotonic() - started
        assert answer.status == 503, answer.body
        assert answer.json["code"] == 14 and closed not in answer.json["message"]
        assert elapsed < 5, elapsed
        ready = await rest(gw.port, "GET", "/readyz")
        assert ready.status == 503 and ready.json["services"]["workspaces"] != "SERVING"
        assert ready.json["services"]["auth"] == "SERVING"
        assert (await rest(gw.port, "GET", "/healthz")).status == 200


async def test_openapi_document_from_the_protos(lab: RestLab) -> None:
    doc = (await lab.call("GET", "/openapi.json")).json
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    assert "/v1/workspaces/{workspace}:permission" in paths
    assert set(paths["/v1/workspaces"]) == {"get", "post"}
    # Internal RPCs never appear.
    ids = {op["operationId"] for methods in paths.values() for op in methods.values()}
    assert not any("Internal" in i for i in ids)
    assert "WorkspacesService_ListWorkspaces" in ids
    # Descriptions come from the proto comments.
    assert "shared with them" in paths["/v1/workspaces"]["get"]["description"]
    schemas = doc["components"]["schemas"]
    workspace = schemas["wio.workspaces.v1.Workspace"]["properties"]
    assert workspace["createdAt"]["format"] == "date-time"
    assert workspace["type"]["enum"][1] == "WORKSPACE_TYPE_PRIVATE"
    assert (
        schemas["wio.workspaces.v1.DeleteWorkspaceResponse"]["properties"]["objectsDeleted"]["type"]
        == "string"
    )
    assert set(schemas["Error"]["required"]) == {"code", "message", "details"}
    assert set(doc["components"]["securitySchemes"]) == {"Bearer", "ApiKey"}
    assert paths["/v1/auth/token"]["post"]["security"] == []
    assert "lowerCamelCase" in doc["info"]["description"]
    page = await lab.call("GET", "/docs")
    assert page.status == 200 and b"/v1/workspaces" in page.body and b"<script" not in page.body


# --- a service the gateway has never heard of ----------------------------------------------------------

TEST_PROTO = """
syntax = "proto3";

package gwtest.v1;

import "google/api/annotations.proto";

// A service added after the gateway was written.
service EchoService {
  // Says it back.
  rpc Echo(EchoRequest) returns (EchoResponse) {
    option (google.api.http) = {
      post: "/v1/echo/{name}"
      body: "*"
    };
  }
  // Says it back, from query parameters.
  rpc Lookup(EchoRequest) returns (EchoResponse) {
    option (google.api.http) = {get: "/v1/echo/{name}:lookup"};
  }
  // Counts up to `upto`, one message each.
  rpc Count(CountRequest) returns (stream CountResponse) {
    option (google.api.http) = {get: "/v1/count/{upto}"};
  }
}

// Never exposed, annotated or not.
service EchoInternalService {
  rpc Secret(EchoRequest) returns (EchoResponse) {
    option (google.api.http) = {get: "/v1/secret"};
  }
}

enum Mood {
  MOOD_UNSPECIFIED = 0;
  MOOD_HAPPY = 1;
}

message Inner {
  // A note.
  string note_text = 1;
}

message EchoRequest {
  string name = 1;
  int64 big_number = 2;
  Mood mood = 3;
  repeated string tags = 4;
  Inner inner = 5;
}

message EchoResponse {
  string name = 1;
  int64 big_number = 2;
  Mood mood = 3;
  repeated string tags = 4;
  string note_text = 5;
  // The caller's address as the gateway passed it on.
  string client_address = 6;
}

message CountRequest {
  int32 upto = 1;
}

message CountResponse {
  int32 n = 1;
}
"""


def compile_test_proto(folder: Path) -> None:
    """protoc (grpc_tools) into `folder`, with a descriptor set carrying the comments, as gen_protos does."""
    import grpc_tools
    from grpc_tools import protoc

    src = folder / "src"
    out = folder / "out"
    (src / "gwtest" / "v1").mkdir(parents=True)
    (out / "gwtest" / "v1").mkdir(parents=True)
    (src / "gwtest" / "v1" / "echo.proto").write_text(TEST_PROTO)
    root = Path(__file__).resolve().parent.parent
    result = protoc.main(
        [
            "protoc",
            f"-I{src}",
            f"-I{root / 'third_party' / 'proto'}",
            f"-I{Path(grpc_tools.__file__).parent / '_proto'}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            "--include_source_info",
            f"--descriptor_set_out={out / 'gwtest' / 'descriptors.binpb'}",
            "gwtest/v1/echo.proto",
        ]
    )
    assert result == 0
    for package in (out / "gwtest", out / "gwtest" / "v1"):
        (package / "__init__.py").touch()


@pytest.fixture(scope="module")
def test_proto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("proto")
    compile_test_proto(folder)
    sys.path.insert(0, str(folder / "out"))
    try:
        from gwtest.v1 import echo_pb2, echo_pb2_grpc  # type: ignore[import-not-found]

        yield echo_pb2, echo_pb2_grpc
    finally:
        sys.path.remove(str(folder / "out"))


async def test_a_new_annotated_rpc_appears_in_rest_and_openapi(lab: RestLab, test_proto: Any) -> None:
    echo_pb2, echo_pb2_grpc = test_proto

    servicer: Any = echo_pb2_grpc.EchoServiceServicer

    class Echo(servicer):  # type: ignore[misc]
        async def Echo(self, request: Any, context: Any) -> Any:
            address = dict(context.invocation_metadata()).get("x-wio-client-address", "")
            return echo_pb2.EchoResponse(
                name=request.name,
                big_number=request.big_number,
                mood=request.mood,
                tags=request.tags,
                note_text=request.inner.note_text,
                client_address=address,
            )

        async def Lookup(self, request: Any, context: Any) -> Any:
            return await self.Echo(request, context)

        async def Count(self, request: Any, context: Any) -> Any:
            for n in range(1, request.upto + 1):
                yield echo_pb2.CountResponse(n=n)
            if request.upto > 3:
                await context.abort(grpc.StatusCode.OUT_OF_RANGE, "too far")

    server = grpc.aio.server()
    echo_pb2_grpc.add_EchoServiceServicer_to_server(Echo(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        settings = gateway_settings(
            lab.gw, proto_packages=("wio", "gwtest"), more_addresses={"gwtest": f"127.0.0.1:{port}"}
        )
        async with run_gateway(settings) as gw:
            said = await rest(
                gw.port,
                "POST",
                "/v1/echo/hello",
                {
                    "bigNumber": "9007199254740993",
                    "mood": "MOOD_HAPPY",
                    "tags": ["a"],
                    "inner": {"note_text": "n"},
                },
            )
            assert said.status == 200, said.body
            assert said.json == {
                "name": "hello",
                "bigNumber": "9007199254740993",  # int64 as a string, exactly
                "mood": "MOOD_HAPPY",
                "tags": ["a"],
                "noteText": "n",
                "clientAddress": "ipv4:127.0.0.1",
            }
            looked = await rest(
                gw.port, "GET", "/v1/echo/a%2Fb:lookup?tags=x&tags=y&inner.noteText=z&big_number=5&mood=1"
            )
            assert looked.status == 200, looked.body
            assert looked.json["name"] == "a/b" and looked.json["tags"] == ["x", "y"]
            assert looked.json["noteText"] == "z" and looked.json["bigNumber"] == "5"
            assert looked.json["mood"] == "MOOD_HAPPY"
            bad_query = await rest(gw.port, "GET", "/v1/echo/a:lookup?nope=1")
            assert bad_query.status == 400 and "nope" in bad_query.json["message"]

            counted = await rest(gw.port, "GET", "/v1/count/3")
            assert counted.status == 200 and counted.headers["content-type"].startswith(
                "application/x-ndjson"
            )
            assert counted.body.decode().splitlines() == ['{"n": 1}', '{"n": 2}', '{"n": 3}']
            cut = await rest(gw.port, "GET", "/v1/count/5")
            lines = cut.body.decode().splitlines()
            assert lines[:5] == [f'{{"n": {n}}}' for n in range(1, 6)]
            assert '"error"' in lines[-1] and "too far" in lines[-1]

            assert (await rest(gw.port, "GET", "/v1/secret")).status == 404
            doc = (await rest(gw.port, "GET", "/openapi.json")).json
            assert doc["paths"]["/v1/echo/{name}"]["post"]["description"] == "Says it back."
            assert "/v1/count/{upto}" in doc["paths"] and "/v1/secret" not in doc["paths"]
            inner = doc["components"]["schemas"]["gwtest.v1.Inner"]["properties"]["noteText"]
            assert inner["description"] == "A note."
            lookup_params = {p["name"] for p in doc["paths"]["/v1/echo/{name}:lookup"]["get"]["parameters"]}
            assert {"name", "bigNumber", "tags", "inner.noteText", "mood"} <= lookup_params
    finally:
        await server.stop(None)


async def test_cors_only_for_configured_origins(lab: RestLab) -> None:
    preflight = {
        "Origin": "https://app.example.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    closed = await lab.call("OPTIONS", "/v1/workspaces", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    settings = gateway_settings(lab.gw, cors_origins=("https://app.example.org",))
    async with run_gateway(settings) as gw:
        allowed = await rest(gw.port, "OPTIONS", "/v1/workspaces", headers=preflight)
        assert allowed.status == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.org"
        other = await rest(
            gw.port, "OPTIONS", "/v1/workspaces", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"
        simple = await rest(gw.port, "GET", "/v1/auth/jwks", headers={"Origin": "https://app.example.org"})
        assert simple.headers["access-control-allow-origin"] == "https://app.example.org"
        assert "X-Request-Id" in simple.headers["access-control-expose-headers"]
