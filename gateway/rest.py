"""REST -> gRPC: each annotated RPC of the catalog answered over HTTP. The caller's token goes on as gRPC
metadata, so each service decides exactly as for the CLI; an API key is exchanged with auth first (and
the token kept until shortly before it expires). Errors come back as `{code, message, details}` with
grpc-gateway's status table."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import grpc
from google.protobuf import json_format, message_factory
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gateway.catalog import Catalog, Operation
from gateway.errors import INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED, UNIMPLEMENTED
from gateway.hooks import read_limited
from gateway.transcode import RequestError, Template, build_request, compile_template, to_json
from services.common.callers import CLIENT_ADDRESS_KEY
from services.common.clients import AuthClient
from services.common.errors import DomainError
from wio.auth.v1 import auth_pb2, auth_pb2_grpc

log = logging.getLogger(__name__)

STATUS_DETAILS_KEY = "grpc-status-details-bin"
NDJSON = "application/x-ndjson"
# A token or key: printable ASCII without spaces, at most 4 KiB.
CREDENTIAL = re.compile(r"[\x21-\x7e]{1,4096}")

# grpc-gateway's table (GUIDE.md): gRPC code -> HTTP status.
HTTP_STATUS: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}


class Refusal(Exception):
    """An answer other than success, already shaped: status, gRPC code number, message, details."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        details: Sequence[dict[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})

    def response(self) -> Response:
        body = {"code": self.code, "message": self.message, "details": self.details}
        return JSONResponse(body, self.status, headers=self.headers)


def refusal_of(exc: grpc.RpcError) -> Refusal:
    """A failed call as the HTTP answer: its status, message and google.rpc.Status details as JSON."""
    code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else grpc.StatusCode.UNKNOWN
    message = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else ""
    details: list[dict[str, Any]] = []
    headers: dict[str, str] = {}
    trailers = exc.trailing_metadata() if isinstance(exc, grpc.aio.AioRpcError) else None
    for key, value in cast("Sequence[tuple[str, str | bytes]]", trailers or ()):
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            for detail in status_pb2.Status.FromString(value).details:
                try:
                    details.append(json_format.MessageToDict(detail))
                except (json_format.SerializeToJsonError, TypeError, KeyError):
                    details.append({"@type": detail.type_url})
                retry = error_details_pb2.RetryInfo()
                if detail.Unpack(retry):
                    headers["Retry-After"] = str(max(1, retry.retry_delay.seconds))
    status = HTTP_STATUS.get(code, 500)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and not details:
        # The transport's own words (addresses, sub-channel states) are for the log, not the caller.
        log.warning("service call failed: %s %s", code.name, message)
        message = (
            "a service the gateway needs is not available; try again later"
            if code == grpc.StatusCode.UNAVAILABLE
            else "the service did not answer in time"
        )
    elif status == 500 and not details:
        log.warning("service call failed: %s %s", code.name, message)
        message = "internal error"
    return Refusal(status, code.value[0], message or code.name.lower(), details, headers)


@dataclass
class Route:
    operation: Operation
    template: Template
    request_class: type[Message]
    call: Any  # a grpc.aio unary-unary or unary-stream multicallable
    server_streaming: bool


class ApiKeyExchanger:
    """`Authorization: ApiKey <key>` -> an access token from auth, kept (under a hash of the key, never
    the key) until EARLY_SECONDS before it expires. Refusals are not kept: auth counts them."""

    EARLY_SECONDS = 30.0
    MAX_ENTRIES = 10_000

    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        self._timeout = timeout
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def token(self, api_key: str, metadata: Sequence[tuple[str, str]]) -> str:
        key = hashlib.sha256(api_key.encode()).hexdigest()
        hit = self._tokens.get(key)
        if hit is not None and time.time() < hit[1]:
            return hit[0]
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                hit = self._tokens.get(key)
                if hit is not None and time.time() < hit[1]:
                    return hit[0]
                issued = time.time()
                reply = await self._stub.ExchangeApiKey(
                    auth_pb2.ExchangeApiKeyRequest(api_key=api_key), metadata=metadata, timeout=self._timeout
                )
                expires = float(reply.expires_at.seconds) or issued
                lifetime = max(0.0, expires - issued)
                keep_until = expires - min(self.EARLY_SECONDS, lifetime / 3)
                self._tokens[key] = (reply.access_token, keep_until)
                self._tokens.move_to_end(key)
                while len(self._tokens) > self.MAX_ENTRIES:
                    self._tokens.popitem(last=False)
                return reply.access_token
        finally:
            if not lock.locked():
                self._locks.pop(key, None)


def client_address(request: Request) -> str:
    """The HTTP peer as the services write addresses ("ipv4:1.2.3.4"); no proxy header is trusted."""
    client = request.scope.get("client")
    host = client[0] if client else ""
    if not host:
        return ""
    return f"ipv6:[{host}]" if ":" in host else f"ipv4:{host}"


class RestRoutes:
    """Matches a request to an operation, builds the message, calls the service and answers."""

    def __init__(
        self,
        catalog: Catalog,
        channels: Mapping[str, grpc.aio.Channel],
        exchanger: ApiKeyExchanger,
        identity: AuthClient,
        public: Collection[str],
        *,
        timeout: float,
        stream_timeout: float,
        max_bytes: int,
    ) -> None:
        self.routes: list[Route] = []
        for op in catalog.operations:
            channel = channels.get(op.domain)
            if channel is None:
                continue
            request_class = message_factory.GetMessageClass(op.rpc.input_type)
            response_class = message_factory.GetMessageClass(op.rpc.output_type)
            factory = channel.unary_stream if op.server_streaming else channel.unary_unary
            call = factory(
                op.path,
                request_serializer=request_class.SerializeToString,
                response_deserializer=response_class.FromString,
            )
            template = compile_template(op.binding.template)
            self.routes.append(Route(op, template, request_class, call, op.server_streaming))
        # The most literal templates first: `/v1/users:lookup` before `/v1/users/{username}`.
        self.routes.sort(key=lambda r: (-r.template.literal_weight, -len(r.template.fields)))
        # The same order, by HTTP method: a request is matched against its method's templates only.
        self.by_method: dict[str, list[Route]] = {}
        for route in self.routes:
            self.by_method.setdefault(route.operation.binding.method, []).append(route)
        self.exchanger = exchanger
        self.identity = identity
        self.public = frozenset(public)
        self.timeout = timeout
        self.stream_timeout = stream_timeout
        self.max_bytes = max_bytes

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]]:
        for route in self.by_method.get(method, ()):
            values = route.template.match(raw_path)
            if values is not None:
                return route, values
        allowed = {r.operation.binding.method for r in self.routes if r.template.match(raw_path) is not None}
        if allowed:
            raise Refusal(
                405, UNIMPLEMENTED, "method not allowed", headers={"Allow": ", ".join(sorted(allowed))}
            )
        raise Refusal(404, NOT_FOUND, "no such route")

    async def as_gateway(self, metadata: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """`metadata` with the gateway's own token, so auth believes the client address in it (auth
        counts failed key exchanges per address). Without a token of its own, the call goes as it is."""
        try:
            return [*metadata, *await self.identity.call_metadata()]
        except (DomainError, grpc.RpcError) as exc:
            log.warning("no service token for the gateway: %s", type(exc).__name__)
            return metadata

    async def metadata(
        self, request: Request, request_id: str, operation: Operation
    ) -> list[tuple[str, str]]:
        metadata = [("x-request-id", request_id)]
        address = client_address(request)
        if address:
            metadata.append((CLIENT_ADDRESS_KEY, address))
        header = ""
        for key, value in request.scope["headers"]:
            if key == b"authorization":
                header = value.decode("latin-1").strip()
                break
        if not header:
            # A public call (a key exchange) goes with the gateway's identity, nothing else does.
            return await self.as_gateway(metadata) if operation.path in self.public else metadata
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if not CREDENTIAL.fullmatch(credential):
            # Nothing gRPC metadata could not carry, nothing larger than any real token or key.
            raise Refusal(401, UNAUTHENTICATED, "the Authorization header has no valid credential")
        if scheme.lower() == "bearer":
            token = credential
        elif scheme.lower() == "apikey":
            try:
                token = await self.exchanger.token(credential, await self.as_gateway(metadata))
            except grpc.RpcError as exc:
                raise refusal_of(exc) from None
        else:
            raise Refusal(401, UNAUTHENTICATED, "Authorization must be `Bearer <token>` or `ApiKey <key>`")
        metadata.append(("authorization", f"Bearer {token}"))
        return metadata

    async def handle(self, request: Request) -> Response:
        scope = request.scope
        request_id = str(scope.get("state", {}).get("request_id", ""))
        try:
            raw_path = scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0]
            route, values = self.match(scope["method"], raw_path or request.url.path)
            body = b""
            if route.operation.binding.body:
                limited = await read_limited(request, self.max_bytes)
                if limited is None:
                    raise Refusal(413, INVALID_ARGUMENT, f"the body is larger than {self.max_bytes} bytes")
                body = limited
            try:
                message = build_request(
                    route.request_class,
                    route.operation.binding.body,
                    values,
                    # As Starlette's request.url.query has it, without building the whole URL.
                    scope.get("query_string", b"").decode(),
                    body,
                )
            except RequestError as exc:
                raise Refusal(400, INVALID_ARGUMENT, str(exc)) from None
            metadata = await self.metadata(request, request_id, route.operation)
            if route.server_streaming:
                return await self._stream(route, message, metadata)
            try:
                reply = await route.call(message, metadata=metadata, timeout=self.timeout)
            except grpc.RpcError as exc:
                raise refusal_of(exc) from None
            return self._answer(route, reply)
        except Refusal as refusal:
            return refusal.response()

    def _answer(self, route: Route, reply: Message) -> Response:
        field = route.operation.binding.response_body
        if field:
            body = to_json(reply).get(reply.DESCRIPTOR.fields_by_name[field].json_name)
            return JSONResponse(body)
        return JSONResponse(to_json(reply))

    async def _stream(self, route: Route, message: Message, metadata: list[tuple[str, str]]) -> Response:
        """NDJSON, one message a line. The first message (or the error) is awaited before answering, so
        a refusal still gets its HTTP status; an error later in the stream ends it with an `error` line."""
        call = route.call(message, metadata=metadata, timeout=self.stream_timeout)
        iterator = call.__aiter__()
        try:
            first = await iterator.__anext__()
        except StopAsyncIteration:
            first = None
        except grpc.RpcError as exc:
            raise refusal_of(exc) from None

        async def lines() -> AsyncIterator[bytes]:
            try:
                if first is not None:
                    yield json.dumps(to_json(first)).encode() + b"\n"
                async for item in iterator:
                    yield json.dumps(to_json(item)).encode() + b"\n"
            except grpc.RpcError as exc:
                refused = refusal_of(exc)
                body = {"code": refused.code, "message": refused.message, "details": refused.details}
                yield json.dumps({"error": body}).encode() + b"\n"
            finally:
                call.cancel()

        return StreamingResponse(lines(), media_type=NDJSON)
