"""Server interceptors: request id, domain-error mapping, authentication.

grpc.aio interceptors only see the method name, so each one wraps the method's handler to act on the call.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable
from typing import Any, TypeAlias, cast

import grpc

from services.common.callers import may_call, service_of
from services.common.errors import DomainError, Reason
from services.common.grpc_errors import status_for
from services.common.identity import Caller, request_id, set_caller
from services.common.tokens import TokenVerifier

log = logging.getLogger(__name__)

# Interceptors see every method, so requests and responses are any message here.
# (Quoted: grpc's classes are generic only in its type stubs.)
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Behavior: TypeAlias = Callable[[Any, Context], Awaitable[Any]]
Wrapper: TypeAlias = Callable[[Behavior, str], Behavior]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Continuation: TypeAlias = Callable[[grpc.HandlerCallDetails], Awaitable["Handler | None"]]

# Health checks and reflection need no token.
ALWAYS_PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class Undecodable:
    """A request whose bytes are no message of its type: what the deserializer of an ErrorInterceptor's
    handler answers instead of raising (gRPC would answer UNKNOWN), so the caller gets INVALID_ARGUMENT."""

    def __init__(self, method: str) -> None:
        self.method = method

    def refusal(self) -> DomainError:
        return DomainError(Reason.INVALID_ARGUMENT, f"the request is not a valid message for {self.method}")


def _tolerant(deserializer: Callable[[bytes], Any] | None, method: str) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception:
            return Undecodable(method)

    return parse


async def _refused(request: Undecodable) -> AsyncIterator[Any]:
    raise request.refusal()
    yield  # an async generator that fails on its first step


def _wrap(
    handler: Handler | None, method: str, wrapper: Wrapper, each_item: bool = False, tolerant: bool = False
) -> Handler | None:
    """`wrapper` around the handler's behavior. A server stream (crawl progress) goes through it too: once
    before the stream starts (checks, who is calling), or with `each_item` around every step of it (so an
    error raised mid-stream is mapped like one raised by a unary call). `tolerant`: a request that does
    not parse reaches the behavior as Undecodable."""
    if handler is None or handler.request_streaming:
        return handler  # wio has no client-streaming RPCs
    deserializer = (
        _tolerant(handler.request_deserializer, method) if tolerant else handler.request_deserializer
    )
    if handler.response_streaming:
        stream = cast("Behavior", handler.unary_stream)

        async def start(request: Any, context: Context) -> Any:
            return stream(request, context)

        begin = start if each_item else wrapper(start, method)

        async def relay(request: Any, context: Context) -> AsyncIterator[Any]:
            if tolerant and isinstance(request, Undecodable):
                async for item in _guarded(_refused(request), context, wrapper, method):
                    yield item
                return
            iterator = await begin(request, context)
            if not each_item:
                async for item in iterator:
                    yield item
                return
            async for item in _guarded(iterator, context, wrapper, method):
                yield item

        return grpc.unary_stream_rpc_method_handler(
            relay,
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )
    # Under grpc.aio a unary handler is a coroutine function taking the aio context; grpc's types
    # describe the synchronous server's handlers.
    behavior = cast("Behavior", handler.unary_unary)
    return grpc.unary_unary_rpc_method_handler(
        wrapper(behavior, method),
        request_deserializer=deserializer,
        response_serializer=handler.response_serializer,
    )


async def _guarded(
    iterator: AsyncIterator[Any], context: Context, wrapper: Wrapper, method: str
) -> AsyncIterator[Any]:
    """Each step of a stream through `wrapper`."""
    done = object()

    async def step(_request: Any, _context: Context) -> Any:
        try:
            return await anext(iterator)
        except StopAsyncIteration:
            return done

    stepper = wrapper(step, method)
    while True:
        item = await stepper(None, context)
        if item is done:
            return
        yield item


def _metadata(context: Context, key: str) -> str:
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return v if isinstance(v, str) else v.decode()
    return ""


REQUEST_ID = "x-request-id"


def with_request_id(trailers: Iterable[tuple[str, str | bytes]]) -> tuple[tuple[str, str | bytes], ...]:
    """The trailers with the call's request id added. The id rides in the trailers, which every answer
    has: sending it as initial metadata of its own costs each call a separate write (about 0.3 ms)."""
    return (*trailers, (REQUEST_ID, request_id.get()))


class RequestIdInterceptor(grpc.aio.ServerInterceptor):
    """Takes x-request-id from the caller or makes one, and echoes it back in the trailers for log
    correlation (a refusal's trailers carry it too: ErrorInterceptor)."""

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(details)

        def wrapper(behavior: Behavior, method: str) -> Behavior:
            async def call(request: Any, context: Context) -> Any:
                request_id.set(_metadata(context, REQUEST_ID)[:64] or uuid.uuid4().hex)
                answer = await behavior(request, context)
                context.set_trailing_metadata(with_request_id(context.trailing_metadata() or ()))
                return answer

            return call

        return _wrap(handler, details.method, wrapper)


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Turns DomainError into status + ErrorInfo, and anything unexpected into a bare INTERNAL."""

    def __init__(self, domain: str) -> None:
        self.domain = domain

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(details)

        def wrapper(behavior: Behavior, method: str) -> Behavior:
            async def refuse(error: DomainError, context: Context) -> None:
                code, message, trailers = status_for(error, self.domain)
                # Sent at once by abort: the request id goes with them.
                context.set_trailing_metadata(with_request_id(trailers))
                await context.abort(code, message)

            async def call(request: Any, context: Context) -> Any:
                try:
                    if isinstance(request, Undecodable):
                        raise request.refusal()
                    return await behavior(request, context)
                except DomainError as error:
                    await refuse(error, context)
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    refused = database_refusal(exc)
                    if refused is not None:
                        # The SQLSTATE only: the driver's message would carry the statement's values.
                        log.info(
                            "%s: the database refused the request (%s, request %s)",
                            method,
                            sqlstate_of(exc),
                            request_id.get(),
                        )
                        await refuse(refused, context)
                    log.exception("unexpected error in %s (request %s)", method, request_id.get())
                    await refuse(
                        DomainError(Reason.INTERNAL, f"internal error (request id {request_id.get()})"),
                        context,
                    )

            return call

        return _wrap(handler, details.method, wrapper, each_item=True, tolerant=True)


# What PostgreSQL's refusals the services let through mean to the caller, by SQLSTATE class. Every rule
# that checks input comes first; these keep one that was missed from being INTERNAL.
DATABASE_REFUSALS = {
    # "data exception": a value it cannot take (a NUL in text, a number out of range, bad encoding).
    "22": (Reason.INVALID_ARGUMENT, "a value in the request cannot be stored or compared"),
    # "program limit exceeded": a statement too large or complex (a request listing very many values).
    "54": (Reason.INVALID_ARGUMENT, "the request is too large: name fewer values"),
    # "transaction rollback": a deadlock or serialization failure with a concurrent change; nothing was
    # changed and the same request may be made again.
    "40": (Reason.CONCURRENT_CHANGE, "a concurrent change got in the way and nothing was done; try again"),
}


def sqlstate_of(exc: BaseException) -> str:
    """PostgreSQL's SQLSTATE of a failed statement (SQLAlchemy's error wraps the driver's), or ""."""
    driver_error = getattr(exc, "orig", None) or exc
    sqlstate = getattr(driver_error, "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) else ""


def database_refusal(exc: BaseException) -> DomainError | None:
    """The caller's error for a PostgreSQL refusal, if it is one; what the database said stays here."""
    found = DATABASE_REFUSALS.get(sqlstate_of(exc)[:2])
    return DomainError(*found) if found is not None else None


def is_internal_method(method: str) -> bool:
    """Internal services (named *InternalService) answer only other wio services."""
    service = method.lstrip("/").split("/", 1)[0]
    return service.endswith("InternalService")


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Verifies the bearer token locally and sets the caller; public methods go through without one."""

    def __init__(self, verifier: TokenVerifier, public_methods: Collection[str] = ()) -> None:
        self.verifier = verifier
        self.public_methods = frozenset(public_methods)

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(details)
        method = details.method
        if method in self.public_methods or method.startswith(ALWAYS_PUBLIC_PREFIXES):

            def public(behavior: Behavior, _method: str) -> Behavior:
                async def call(request: Any, context: Context) -> Any:
                    # No token needed; one that verifies still says who calls (the gateway forwarding
                    # an HTTP client's key exchange), one that does not is ignored.
                    set_caller(await self._optional_caller(context))
                    return await behavior(request, context)

                return call

            return _wrap(handler, method, public)

        def wrapper(behavior: Behavior, _method: str) -> Behavior:
            async def call(request: Any, context: Context) -> Any:
                header = _metadata(context, "authorization")
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not token:
                    raise DomainError(Reason.UNAUTHENTICATED, "this call needs an access token")
                caller = await self.verifier.verify(token.strip())
                if is_internal_method(method):
                    if not caller.is_service:
                        raise DomainError(
                            Reason.SERVICE_CALLER_REQUIRED, "internal call: only wio services may make it"
                        )
                    if not may_call(caller.username, method):
                        raise DomainError(
                            Reason.SERVICE_NOT_ALLOWED,
                            f"internal call: the {service_of(caller.username)} service may not make it",
                        )
                set_caller(caller)
                return await behavior(request, context)

            return call

        return _wrap(handler, method, wrapper)

    async def _optional_caller(self, context: Context) -> Caller | None:
        scheme, _, token = _metadata(context, "authorization").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            return await self.verifier.verify(token.strip())
        except DomainError:
            return None
