"""`wio events tail`: the events every service announces, as they happen.

Events concern every tenant, so this is for admins: it connects to NATS as the read-only `reader` user,
whose login only an admin's config holds (`[nats]`, written by `wio-dev up`). Each stream gets one
ephemeral ordered consumer (nothing is left behind on the server), and each message is decoded with the
protobuf type its subject carries (cli/event_types.py, generated with docs/events.md).
"""

from typing import Annotated, Any

import typer

from cli.commands import noun_app

app = noun_app("Events: watch what the services announce, as it happens (admins).")

# How long connecting to NATS and creating the consumers may take.
CONNECT_SECONDS = 10.0


@app.command("tail")
def tail(
    subjects: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SUBJECT",
            help="Subjects or NATS patterns, e.g. wio.workspaces.share.granted, wio.auth.>, "
            "wio.*.workspace.created (default: every event).",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str,
        typer.Option(
            "--since",
            metavar="DURATION|TIMESTAMP",
            help="Start with the events since then: a duration back from now (90s, 10m, 1h30m, 2d) or an "
            "ISO 8601 time (UTC unless it says otherwise). Default: only events from now on.",
            show_default=False,
        ),
    ] = "",
    count: Annotated[
        int,
        typer.Option(
            "--count",
            "-n",
            metavar="N",
            help="Stop after N events (default: until Ctrl-C).",
            show_default=False,
        ),
    ] = 0,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="One JSON object per event: subject, stream, sequence, type, event."),
    ] = False,
) -> None:
    """Print events as they happen, one line each, until Ctrl-C (admins: needs the [nats] login)."""
    import asyncio
    import time

    from cli.config import load_config
    from cli.errors import EXIT_INTERRUPTED, EXIT_USAGE, CliError

    if count < 0:
        raise CliError("--count must be 0 (no limit) or more", EXIT_USAGE)
    filters = stream_filters(subjects or [])
    start = parse_since(since, time.time()) if since else None
    config = load_config()
    try:
        asyncio.run(_tail(config, filters, start, count, as_json))
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None


# Subjects --------------------------------------------------------------------------------------------------


def _covers(pattern: list[str], subject: list[str]) -> bool:
    """Whether NATS pattern `pattern` matches every subject `subject` (itself a pattern) matches."""
    for at, token in enumerate(pattern):
        if token == ">":
            return len(subject) > at
        if at >= len(subject) or subject[at] == ">":
            return False
        if token != "*" and token != subject[at]:
            return False
    return len(pattern) == len(subject)


def stream_filters(patterns: list[str]) -> dict[str, list[str]]:
    """stream -> the filter subjects of its consumer, for the patterns asked (all events when none).
    Patterns another one already covers are dropped, since a consumer's filters may not overlap. A
    wildcard domain means the domains of wio's events; a stream of raw storage reports (WIO_INGEST) is
    read only when named."""
    from cli.errors import EXIT_USAGE, CliError
    from cli.event_types import EVENT_TYPES
    from services.common.streams import STREAMS

    event_domains = [d for d in STREAMS if any(s.split(".")[1] == d for s in EVENT_TYPES)]

    wanted: dict[str, list[list[str]]] = {}
    for pattern in patterns or ["wio.>"]:
        tokens = pattern.strip().split(".")
        bad = [t for t in tokens if not t or (t not in (">", "*") and (">" in t or "*" in t))]
        if bad or ">" in tokens[:-1] or any(c.isspace() for c in pattern.strip()):
            raise CliError(f"{pattern!r} is not a subject or NATS pattern", EXIT_USAGE)
        if tokens == [">"]:
            tokens = ["wio", ">"]
        if tokens[0] == "*":
            tokens[0] = "wio"
        if tokens[0] != "wio" or len(tokens) < 2:
            raise CliError(
                f"{pattern!r} matches no wio event: subjects are wio.<domain>.<entity>.<verb>", EXIT_USAGE
            )
        domains = event_domains if tokens[1] in ("*", ">") else [tokens[1]]
        rest = [">"] if tokens[1] == ">" else tokens[2:]
        if not rest:
            raise CliError(f"{pattern!r} matches no event; did you mean {pattern}.>?", EXIT_USAGE)
        for domain in domains:
            if domain not in STREAMS:
                known = ", ".join(STREAMS)
                raise CliError(f"no stream holds {pattern!r}: the domains are {known}", EXIT_USAGE)
            wanted.setdefault(STREAMS[domain], []).append(["wio", domain, *rest])
    filters: dict[str, list[str]] = {}
    for stream, candidates in wanted.items():
        kept: list[list[str]] = []
        for candidate in candidates:
            if any(_covers(other, candidate) for other in kept):
                continue
            kept = [other for other in kept if not _covers(candidate, other)] + [candidate]
        filters[stream] = [".".join(tokens) for tokens in kept]
    return filters


def parse_since(text: str, now: float) -> float:
    """--since as a Unix time: a duration back from `now` (90s, 10m, 1h30m, 2d), or an ISO 8601 time."""
    import re
    from datetime import UTC, datetime

    from cli.errors import EXIT_USAGE, CliError

    value = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if re.fullmatch(r"(\d+(\.\d+)?[smhd])+", value):
        seconds = sum(float(n) * units[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)([smhd])", value))
        return now - seconds
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(
            f"--since {text!r} is neither a duration (90s, 10m, 1h30m, 2d) nor an ISO 8601 time"
            " (2026-11-30T18:00:00Z)",
            EXIT_USAGE,
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # the CLI prints UTC times without a suffix
    return when.timestamp()


# Connecting ------------------------------------------------------------------------------------------------


def _nats_options(config: Any) -> dict[str, Any]:
    """How to reach NATS as the read-only user, from the admin's [nats] login; TLS for tls:// URLs
    (with the config's [tls] files), plaintext only to this machine unless [tls] insecure allows it."""
    from urllib.parse import urlsplit

    from cli.config import is_loopback
    from cli.errors import ConfigError

    login = config.nats
    if not login.complete:
        raise ConfigError(
            "`wio events tail` reads every tenant's events, so it is for admins: "
            f"{config.path} has no [nats] login (url, user and password of the read-only NATS user). "
            "The admin's config that `wio-dev up` writes has one."
        )
    url = urlsplit(login.url)
    if url.scheme not in ("nats", "tls") or not url.hostname:
        raise ConfigError(f"config {config.path}: nats.url must be nats://HOST:PORT or tls://HOST:PORT")
    options: dict[str, Any] = {"servers": [login.url], "user": login.user, "password": login.password}
    if url.scheme == "tls":
        import ssl

        context = ssl.create_default_context(cafile=config.tls.ca or None)
        if config.tls.cert:
            context.load_cert_chain(config.tls.cert, config.tls.key or None)
        options["tls"] = context
    elif not is_loopback(f"{url.hostname}:{url.port or 4222}") and not config.tls.insecure:
        raise ConfigError(
            f"refusing to send the NATS password in plaintext to {url.hostname}: use a tls:// URL,"
            " or [tls] insecure = true to allow it"
        )
    return options


def _shown(url: str) -> str:
    """The URL without any user or password written into it."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 4222}"


async def _connect(config: Any) -> Any:
    """The connection, or a clear error: a refused login, or a NATS that does not answer (nats-py would
    retry either forever). Once connected, it reconnects without end."""
    import asyncio
    import contextlib

    import nats

    from cli.errors import EXIT_AUTH, EXIT_UNAVAILABLE, CliError

    options = _nats_options(config)
    where = _shown(options["servers"][0])
    loop = asyncio.get_running_loop()
    first_error: asyncio.Future[Exception] = loop.create_future()
    connected = False

    async def on_error(exc: Exception) -> None:
        if not connected and not first_error.done():
            first_error.set_result(exc)

    attempt = asyncio.ensure_future(
        nats.connect(
            **options,
            name="wio-events-tail",
            connect_timeout=5,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            error_cb=on_error,
        )
    )
    waiting: set[asyncio.Future[Any]] = {attempt, first_error}
    done, _ = await asyncio.wait(waiting, timeout=CONNECT_SECONDS, return_when=asyncio.FIRST_COMPLETED)
    if attempt in done and attempt.exception() is None:
        connected = True
        return attempt.result()
    attempt.cancel()
    with contextlib.suppress(Exception, asyncio.CancelledError):
        # It was given up: only a connection made just then needs closing.
        await (await attempt).close()
    error: BaseException | None = first_error.result() if first_error.done() else None
    if error is None and attempt.done() and not attempt.cancelled():
        error = attempt.exception()
    if error is not None and "authorization" in str(error).lower():
        raise CliError(
            f"NATS at {where} refused user {config.nats.user!r}: check [nats] in {config.path}", EXIT_AUTH
        )
    reason = f": {error}" if error is not None else f" within {CONNECT_SECONDS:.0f} s"
    raise CliError(f"cannot reach NATS at {where}{reason}", EXIT_UNAVAILABLE)


# Printing --------------------------------------------------------------------------------------------------


def decode(subject: str, payload: bytes) -> tuple[str | None, dict[str, Any] | None]:
    """(the message's full name, its JSON form), or (None, None) for a subject this CLI does not know or a
    payload that does not parse."""
    import importlib

    from google.protobuf.message import DecodeError

    from cli.event_types import EVENT_TYPES
    from cli.output import to_dict

    known = EVENT_TYPES.get(subject)
    if known is None:
        return None, None
    module, name = known
    message_type = getattr(importlib.import_module(module), name)
    try:
        message = message_type.FromString(payload)
    except DecodeError:
        return message_type.DESCRIPTOR.full_name, None
    return message_type.DESCRIPTOR.full_name, to_dict(message)


def raw_report(payload: bytes) -> dict[str, Any] | None:
    """A storage node's report as it sent it (JSON, the WIO_INGEST stream), or None."""
    import json

    try:
        body = json.loads(payload)
    except ValueError:
        return None
    return {"body": body}


def render(subject: str, stream: str, sequence: int, payload: bytes, as_json: bool) -> str:
    import base64
    import json

    type_name, event = decode(subject, payload)
    if event is None and type_name is None:
        event = raw_report(payload)
        type_name = "raw" if event is not None else None
    if as_json:
        record: dict[str, Any] = {
            "subject": subject,
            "stream": stream,
            "sequence": sequence,
            "type": type_name,
        }
        if event is None:
            record["payload_base64"] = base64.b64encode(payload).decode()
        else:
            record["event"] = event
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    if event is None:
        what = "unknown subject" if type_name is None else f"not a valid {type_name}"
        return f"[-] {subject} {stream}#{sequence} ({what}, {len(payload)} bytes)"
    if type_name == "raw":
        return f"[-] {subject} {stream}#{sequence} {json.dumps(event, ensure_ascii=False)}"
    meta = event.pop("meta", {}) or {}
    when = str(meta.get("occurred_at") or "-").removesuffix("Z")
    actor = (meta.get("actor") or {}).get("username") or "system"
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"[{when}] {subject} {stream}#{sequence} by {actor} {body}"


# Tailing ---------------------------------------------------------------------------------------------------


async def _tail(
    config: Any, filters: dict[str, list[str]], start: float | None, count: int, as_json: bool
) -> None:
    import asyncio
    import contextlib
    from datetime import UTC, datetime

    from nats.js.api import ConsumerConfig, DeliverPolicy
    from nats.js.errors import BadRequestError, NotFoundError

    from cli.errors import EXIT_USAGE, CliError
    from cli.output import note

    nc = await _connect(config)
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def collect(msg: Any) -> None:
        await queue.put(msg)

    try:
        js = nc.jetstream()
        for stream, subjects in filters.items():
            consumer = ConsumerConfig(
                deliver_policy=DeliverPolicy.NEW if start is None else DeliverPolicy.BY_START_TIME,
                opt_start_time=None if start is None else datetime.fromtimestamp(start, UTC),
                filter_subjects=subjects if len(subjects) > 1 else None,
            )
            try:
                await asyncio.wait_for(
                    js.subscribe(
                        subjects[0], stream=stream, cb=collect, ordered_consumer=True, config=consumer
                    ),
                    CONNECT_SECONDS,
                )
                # nats-py re-creates an ordered consumer from this config after a gap, by start sequence;
                # a start time left in it would make the server refuse that.
                consumer.opt_start_time = None
            except NotFoundError:
                note(f"stream {stream} does not exist yet (its service has not started): skipped")
            except BadRequestError as exc:
                raise CliError(
                    f"NATS refused the consumer on {stream}: {exc.description}", EXIT_USAGE
                ) from None
        note(f"watching {', '.join(s for subjects in filters.values() for s in subjects)} (Ctrl-C stops)")
        printed = 0
        while not count or printed < count:
            msg = await queue.get()
            sequence = int(msg.metadata.sequence.stream)
            try:
                typer.echo(render(msg.subject, msg.metadata.stream, sequence, msg.data, as_json))
            except BrokenPipeError:
                return  # `wio events tail | head`: the reader has had enough
            printed += 1
    finally:
        with contextlib.suppress(Exception, asyncio.CancelledError):  # leaving anyway
            await asyncio.wait_for(nc.close(), 5)
