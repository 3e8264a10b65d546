"""What every answer carries: the request id (the caller's X-Request-Id when it is a sane one, else a new
one) and the headers a browser needs to keep an API answer out of frames, caches and sniffing."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,64}")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
# The same as raw ASGI headers, built once: (lower-case name, value), with Cache-Control last.
_EDGE_HEADERS = (
    *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS.items()),
    (b"cache-control", b"no-store"),
)


def request_id_from(raw: str) -> str:
    raw = raw.strip()
    return raw if _REQUEST_ID.fullmatch(raw) else uuid.uuid4().hex


class EdgeHeaders:
    """ASGI middleware: request id in (scope state) and out, security headers, `Cache-Control: no-store`
    unless the route set its own caching or CSP (the docs page)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for key, value in scope.get("headers", ()):
            if key == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = request_id_from(incoming)
        scope.setdefault("state", {})["request_id"] = rid
        rid_header = (b"x-request-id", rid.encode("latin-1"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Raw headers, appended: no header object to build for each answer.
                headers = [item for item in message.get("headers", ()) if item[0].lower() != b"x-request-id"]
                present = {item[0].lower() for item in headers}
                headers.append(rid_header)
                headers.extend(item for item in _EDGE_HEADERS if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
