"""Channels, the access-token cache and authenticated stubs for every wio service.

Commands import this module inside their functions: it loads grpc, which `wio --help` must not pay for.

    with connect() as client:
        reply = stubs.nodes(client).ListNodes(nodes_pb2.ListNodesRequest())

Every call through `client.stub(...)` (cli/stubs.py makes them all) gets the bearer token, a deadline,
one retry with a fresh token when a cached one is refused, and failures raised as RpcFailure (which
knows the address it tried).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

import grpc

if TYPE_CHECKING:
    from google.protobuf.message import Message

from cli.config import AUTH_SERVICE, Config, TlsConfig, check_transport, load_config, write_private
from cli.errors import CliError, ConfigError, NotLoggedInError, RpcFailure, status_name

DEFAULT_TIMEOUT = 10.0
# A cached token is used only while it has at least this long to live, so it cannot expire mid-command.
TOKEN_MARGIN_SECONDS = 60.0
USER_AGENT = "wio-cli"


StubT = TypeVar("StubT")


class _Default:
    """Marks "use the client's timeout" where None already means "no deadline"."""


DEFAULT = _Default()


# Token cache -------------------------------------------------------------------------------------------


def key_fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class TokenCache:
    """Access tokens on disk (mode 0600), one per (server address, API key hash).

    Keying by the key's hash means a changed or replaced key never picks up the old key's token, and
    the file never holds the key itself. Failing to read or write it only costs an extra exchange.
    """

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock

    @staticmethod
    def entry_key(address: str, api_key: str) -> str:
        return f"{address} {key_fingerprint(api_key)}"

    def get(self, address: str, api_key: str) -> str | None:
        entry = self._load().get(self.entry_key(address, api_key))
        if not isinstance(entry, dict):
            return None
        token, expires_at = entry.get("access_token"), entry.get("expires_at")
        if not isinstance(token, str) or not isinstance(expires_at, (int, float)):
            return None
        if expires_at - TOKEN_MARGIN_SECONDS <= self._clock():
            return None
        return token

    def put(self, address: str, api_key: str, token: str, expires_at: float) -> None:
        now = self._clock()
        entries = {
            key: entry
            for key, entry in self._load().items()
            if isinstance(entry, dict)
            and isinstance(entry.get("expires_at"), (int, float))
            # Drop what has expired, so the file does not grow forever.
            and entry["expires_at"] > now
        }
        entries[self.entry_key(address, api_key)] = {"access_token": token, "expires_at": expires_at}
        self._save(entries)

    def drop(self, address: str, api_key: str) -> None:
        entries = self._load()
        if entries.pop(self.entry_key(address, api_key), None) is not None:
            self._save(entries)

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        tokens = data.get("tokens") if isinstance(data, dict) else None
        return dict(tokens) if isinstance(tokens, dict) else {}

    def _save(self, entries: dict[str, Any]) -> None:
        with contextlib.suppress(ConfigError):
            write_private(self.path, json.dumps({"version": 1, "tokens": entries}, indent=1) + "\n")


# Channels ----------------------------------------------------------------------------------------------


def _read_file(path: str, what: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read TLS {what} {path}: {exc.strerror}") from exc


def open_channel(address: str, tls: TlsConfig) -> grpc.Channel:
    """TLS when configured; plaintext only to loopback unless explicitly allowed. `address` may name
    several replicas (services/common/channels.py: round robin, safe calls retried)."""
    from services.common.channels import AddressError
    from services.common.channels import open_channel as open_grpc_channel

    check_transport(address, tls)
    credentials = None
    if tls.active:
        if bool(tls.cert) != bool(tls.key):
            raise ConfigError("TLS client certificate and key go together: set both tls.cert and tls.key")
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read_file(tls.ca, "CA") if tls.ca else None,
            private_key=_read_file(tls.key, "key") if tls.key else None,
            certificate_chain=_read_file(tls.cert, "certificate") if tls.cert else None,
        )
    try:
        return open_grpc_channel(address, credentials, user_agent=USER_AGENT)
    except AddressError as exc:
        raise ConfigError(str(exc)) from exc


# Client ------------------------------------------------------------------------------------------------


class Client:
    """Connections to the wio services named by one config; close it (or use `with`) when done."""

    def __init__(
        self,
        config: Config,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        cache: TokenCache | None = None,
        channel_factory: Callable[[str, TlsConfig], grpc.Channel] = open_channel,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.cache = cache if cache is not None else TokenCache(config.token_cache_path)
        self._channel_factory = channel_factory
        self._channels: dict[str, grpc.Channel] = {}
        self._directory: dict[str, str] | None = None
        self._token: str | None = None
        self._token_from_cache = False

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    # Where things are

    def address(self, service: str) -> str:
        known = self.config.service_address(service)
        if known:
            return known
        if service == AUTH_SERVICE:
            raise NotLoggedInError("not logged in: run `wio login ADDRESS`")
        # Not stored at login (or the address was overridden): ask the identity service.
        found = self.directory().get(service)
        if not found:
            raise ConfigError(f"the server at {self.config.address} lists no {service!r} service")
        return found

    def directory(self) -> dict[str, str]:
        """The other services' addresses, as the identity service answers them (no token needed)."""
        if self._directory is None:
            from cli import stubs
            from wio.auth.v1 import auth_pb2

            auth = stubs.auth(self, authenticated=False)
            reply = auth.GetServiceDirectory(auth_pb2.GetServiceDirectoryRequest())
            self._directory = {endpoint.name: endpoint.address for endpoint in reply.services}
        return self._directory

    def channel(self, service: str) -> grpc.Channel:
        address = self.address(service)
        if address not in self._channels:
            self._channels[address] = self._channel_factory(address, self.config.tls)
        return self._channels[address]

    # Who we are

    def token(self) -> str:
        """An access token for the configured API key: the cached one while it is fresh, else a new one."""
        if self._token is not None:
            return self._token
        address, api_key = self.address(AUTH_SERVICE), self.config.api_key
        if not api_key:
            raise NotLoggedInError("not logged in: run `wio login ADDRESS`")
        cached = self.cache.get(address, api_key)
        if cached:
            self._token, self._token_from_cache = cached, True
            return cached

        from wio.auth.v1 import auth_pb2, auth_pb2_grpc

        raw = auth_pb2_grpc.AuthServiceStub(self.channel(AUTH_SERVICE))
        try:
            reply = raw.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=api_key), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise RpcFailure(exc, address) from exc
        token = str(reply.access_token)
        if reply.HasField("expires_at"):
            self.cache.put(address, api_key, token, float(reply.expires_at.seconds))
        self._token, self._token_from_cache = token, False
        return token

    def forget_token(self) -> None:
        """Drop the token, here and on disk (e.g. after it was refused, or its key was revoked)."""
        self._token, self._token_from_cache = None, False
        if self.config.address and self.config.api_key:
            self.cache.drop(self.config.address, self.config.api_key)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token()}"),)

    # Calling

    def stub(
        self, service: str, stub_class: Callable[[grpc.Channel], StubT], *, authenticated: bool = True
    ) -> StubT:
        """`stub_class` (a generated *Stub) on `service`'s channel, its calls wrapped as described above.

        Typed as the generated stub, so callers' requests and replies are checked: its methods are called
        the same way, `method(request, timeout=...)`."""
        return cast(StubT, Stub(self, service, stub_class(self.channel(service)), authenticated))

    def invoke(
        self,
        service: str,
        method: Any,
        request: Any,
        *,
        authenticated: bool = True,
        timeout: float | _Default | None = DEFAULT,
    ) -> Any:
        deadline = self.timeout if isinstance(timeout, _Default) else timeout
        if isinstance(method, grpc.UnaryStreamMultiCallable):
            return self._stream(service, method, request, authenticated, deadline)
        while True:
            metadata = self._call_metadata(authenticated)
            retry = self._token_from_cache
            try:
                return method(request, metadata=metadata, timeout=deadline)
            except grpc.RpcError as exc:
                if authenticated and retry and self._refused(exc):
                    self.forget_token()
                    continue
                raise RpcFailure(exc, self.address(service)) from exc

    def _stream(
        self, service: str, method: Any, request: Any, authenticated: bool, deadline: float | None
    ) -> Iterator[Any]:
        while True:
            metadata = self._call_metadata(authenticated)
            retry, received = self._token_from_cache, False
            try:
                for item in method(request, metadata=metadata, timeout=deadline):
                    received = True
                    yield item
                return
            except grpc.RpcError as exc:
                # Retrying after items went out would repeat them.
                if authenticated and retry and not received and self._refused(exc):
                    self.forget_token()
                    continue
                raise RpcFailure(exc, self.address(service)) from exc

    def _call_metadata(self, authenticated: bool) -> tuple[tuple[str, str], ...]:
        return self.metadata() if authenticated else ()

    @staticmethod
    def _refused(exc: grpc.RpcError) -> bool:
        return status_name(exc) == "UNAUTHENTICATED"


class Stub:
    """A generated stub whose methods go through Client.invoke; pass `timeout=` to change the deadline
    (None for none, e.g. for long streams)."""

    def __init__(self, client: Client, service: str, stub: Any, authenticated: bool) -> None:
        self._client = client
        self._service = service
        self._stub = stub
        self._authenticated = authenticated

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._stub, name)

        def call(request: Any, *, timeout: float | _Default | None = DEFAULT) -> Any:
            return self._client.invoke(
                self._service, method, request, authenticated=self._authenticated, timeout=timeout
            )

        call.__name__ = name
        return call


RequestT = TypeVar("RequestT", bound="Message")
ResponseT = TypeVar("ResponseT", bound="Message")
# The largest page the services serve: a listing of a few thousand rows takes a few calls.
PAGE_SIZE = 1000


def all_pages(call: Callable[[RequestT], ResponseT], request: RequestT) -> ResponseT:
    """Every page of a List call as one reply: the repeated fields of the later pages are appended to the
    first's, and next_page_token is cleared. Every `ls`-style command lists through this."""
    first = type(request)()
    first.CopyFrom(request)
    if not getattr(first, "page_size", 0):
        first.page_size = PAGE_SIZE  # type: ignore[attr-defined]
    merged = call(first)
    repeated = [f.name for f in merged.DESCRIPTOR.fields if f.is_repeated]
    seen: set[str] = set()
    token: str = merged.next_page_token  # type: ignore[attr-defined]
    while token:
        if token in seen:  # a server answering the same page again would never end
            raise CliError("the server answered the same page twice; the listing is incomplete")
        seen.add(token)
        first.page_token = token  # type: ignore[attr-defined]
        page = call(first)
        for name in repeated:
            getattr(merged, name).extend(getattr(page, name))
        token = page.next_page_token  # type: ignore[attr-defined]
    merged.next_page_token = ""  # type: ignore[attr-defined]
    return merged


def connect(*, timeout: float = DEFAULT_TIMEOUT, config: Config | None = None) -> Client:
    """A client for the configured server; fails with a clear message when nothing is configured."""
    config = config if config is not None else load_config()
    if not config.address:
        raise NotLoggedInError("not logged in: run `wio login ADDRESS`")
    return Client(config, timeout=timeout)


def with_login(config: Config, address: str, api_key: str) -> Config:
    """`config` pointed at another server and key; its stored directory belongs to the old one."""
    return dataclasses.replace(config, address=address, api_key=api_key, services={})
