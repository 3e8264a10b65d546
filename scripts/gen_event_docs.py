"""Generate docs/events.md and cli/event_types.py from the protos and the publishers.

The protos say which message each subject carries (a `// Subject:` or `// Subjects:` line opening the
message's comment, the rest of the comment saying when it is sent); each service's publisher says what it
really publishes (SUBJECTS in services/<name>/events/publishers.py, which its outbox enforces). The two
must agree: `--check` (and tests/test_event_docs.py) fails when they do not, or when a generated file is
stale.

Run with `.venv/bin/python scripts/gen_event_docs.py`; `--check` only compares.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the project's packages come from the checkout
    sys.path.insert(0, str(ROOT))

from services.common.events import stream_config  # noqa: E402
from services.common.streams import STREAMS  # noqa: E402

PROTO_DIR = ROOT / "protos"
VENDOR_DIR = ROOT / "third_party" / "proto"
DOC = ROOT / "docs" / "events.md"
CLI_TABLE = ROOT / "cli" / "event_types.py"
META = "wio.events.v1.EventMeta"

# Subjects whose messages are in the protos but whose publishers are still being written (none today).
# A subject leaves this set when a publisher's SUBJECTS table names it (the check says so); docs/events.md
# marks these as not published yet.
NOT_YET_PUBLISHED: frozenset[str] = frozenset()

SUBJECT_RE = re.compile(r"^wio\.[a-z]+\.[a-z_]+\.[a-z_]+$")
# What a subject literal looks like in Python source (a subject or a subject template).
SUBJECT_LITERAL_RE = re.compile(r"^wio\.[a-z_{}]+\.[a-z_{}.]+$")
_SCALARS = {
    value: name.removeprefix("TYPE_").lower()
    for name, value in descriptor_pb2.FieldDescriptorProto.Type.items()
    if name not in ("TYPE_MESSAGE", "TYPE_ENUM", "TYPE_GROUP")
}


@dataclass(frozen=True)
class FieldDoc:
    name: str
    json_name: str
    type: str
    comment: str


@dataclass(frozen=True)
class MessageDoc:
    full_name: str
    proto_file: str  # relative to protos/, e.g. wio/auth/v1/events.proto
    comment: str
    fields: tuple[FieldDoc, ...]

    @property
    def name(self) -> str:
        return self.full_name.rsplit(".", 1)[1]

    @property
    def module(self) -> str:
        """The generated Python module that defines it."""
        return self.proto_file.removesuffix(".proto").replace("/", ".") + "_pb2"


@dataclass(frozen=True)
class SubjectDoc:
    subject: str
    message: str  # full name
    when: str


@dataclass(frozen=True)
class Catalog:
    """What the protos say: every message of the event protos (and of what they import), and every subject
    with its message."""

    messages: Mapping[str, MessageDoc]
    subjects: Mapping[str, SubjectDoc]
    problems: tuple[str, ...]


# The protos ----------------------------------------------------------------------------------------------


def event_protos() -> list[str]:
    return sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.glob("wio/*/v1/events.proto"))


def _grpc_tools_include() -> str:
    import grpc_tools

    return str(Path(grpc_tools.__file__).parent / "_proto")


def descriptor_set(protos: Iterable[str]) -> descriptor_pb2.FileDescriptorSet:
    """The protos and their imports, with comments (protoc's source info)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "events.binpb"
        cmd = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"-I{VENDOR_DIR}",
            f"-I{_grpc_tools_include()}",
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *protos,
        ]
        subprocess.run(cmd, check=True, cwd=PROTO_DIR)
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _comment(location: descriptor_pb2.SourceCodeInfo.Location | None) -> str:
    if location is None:
        return ""
    text = "\n".join(part for part in (location.leading_comments, location.trailing_comments) if part)
    return "\n".join(line.strip() for line in text.strip().splitlines())


def _type_name(field: descriptor_pb2.FieldDescriptorProto) -> str:
    name = field.type_name.lstrip(".") if field.type_name else _SCALARS.get(field.type, "?")
    return f"repeated {name}" if field.label == field.LABEL_REPEATED else name


def messages_of(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> dict[str, MessageDoc]:
    """Every top-level message with its comment and its fields' comments."""
    found: dict[str, MessageDoc] = {}
    for file in files:
        locations = {tuple(loc.path): loc for loc in file.source_code_info.location}
        for index, message in enumerate(file.message_type):
            path = (4, index)  # FileDescriptorProto.message_type
            fields = tuple(
                FieldDoc(
                    field.name,
                    field.json_name or field.name,
                    _type_name(field),
                    _comment(locations.get((*path, 2, number))),  # DescriptorProto.field
                )
                for number, field in enumerate(message.field)
            )
            full_name = f"{file.package}.{message.name}"
            found[full_name] = MessageDoc(full_name, file.name, _comment(locations.get(path)), fields)
    return found


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def parse_subjects(comment: str) -> list[tuple[str, str]] | None:
    """A message comment opening with `Subject: S (note)` or `Subjects: S, .verb, .verb`: each subject (a
    `.verb` replaces the first subject's last part) with when it is sent: the note, then the rest of the
    comment, where a line `verb: text` is about that verb's subject alone. None when the comment names
    no subject."""
    first, _, rest = comment.partition("\n")
    match = re.match(r"^Subjects?:\s*(.*)$", first)
    if match is None:
        return None
    listed, paren, after = match.group(1).partition("(")
    text = (paren + after + "\n" + rest).strip()
    note = ""
    if text.startswith("("):
        depth = 0
        for at, char in enumerate(text):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0:
                note, text = text[1:at], text[at + 1 :]
                break
    subjects: list[str] = []
    for name in (part.strip() for part in listed.split(",")):
        if name.startswith(".") and subjects:
            name = subjects[0].rsplit(".", 1)[0] + name
        if name:
            subjects.append(name)
    verbs = {subject.rsplit(".", 1)[-1] for subject in subjects}
    common: list[str] = [note]
    own: dict[str, list[str]] = {}
    current = common
    for line in text.splitlines():
        verb = re.match(r"^([a-z_]+):\s*(.*)$", line.strip())
        if verb is not None and verb.group(1) in verbs and len(subjects) > 1:
            current = own.setdefault(verb.group(1), [])
            line = verb.group(2)
        current.append(line)
    shared = " ".join(part for part in (_sentence(note), _sentence(" ".join(common[1:]))) if part)
    found = []
    for subject in subjects:
        alone = _sentence(" ".join(own.get(subject.rsplit(".", 1)[-1], [])))
        found.append((subject, " ".join(part for part in (shared, alone) if part)))
    return found


def read_protos() -> Catalog:
    fds = descriptor_set(event_protos())
    wanted = set(event_protos())
    messages = messages_of(fds.file)
    subjects: dict[str, SubjectDoc] = {}
    problems: list[str] = []
    for message in messages.values():
        if message.proto_file not in wanted:
            continue
        parsed = parse_subjects(message.comment)
        if parsed is None:
            if message.name.endswith("Event"):
                problems.append(
                    f"protos/{message.proto_file}: {message.name} has no `// Subject:` line in its comment"
                )
            continue
        for name, when in parsed:
            if not SUBJECT_RE.match(name):
                problems.append(f"protos/{message.proto_file}: {message.name} names a bad subject {name!r}")
            elif name in subjects:
                problems.append(
                    f"protos/{message.proto_file}: {name} is named by {message.name} and "
                    f"{subjects[name].message}"
                )
            else:
                subjects[name] = SubjectDoc(name, message.full_name, when)
    return Catalog(messages, subjects, tuple(problems))


# The publishers ------------------------------------------------------------------------------------------


def publisher_files() -> list[Path]:
    return sorted(ROOT.glob("services/*/events/publishers.py"))


def read_publishers(files: Iterable[Path]) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """subject -> (service, message full name) from each publisher's SUBJECTS table, and what is wrong
    with the publishers themselves: no table, a subject literal the table leaves out, another domain's
    subject."""
    published: dict[str, tuple[str, str]] = {}
    problems: list[str] = []
    for path in files:
        service = path.parent.parent.name
        where = path.relative_to(ROOT)
        module = importlib.import_module(f"services.{service}.events.publishers")
        table = getattr(module, "SUBJECTS", None)
        if not isinstance(table, Mapping):
            problems.append(f"{where} has no SUBJECTS table (subject -> message type) for its outbox to use")
            continue
        for subject, message_type in table.items():
            published[subject] = (service, message_type.DESCRIPTOR.full_name)
            if not subject.startswith(f"wio.{service}."):
                problems.append(f"{where} publishes {subject}, outside its own wio.{service}.> subjects")
        for literal in subject_literals(path.read_text(encoding="utf-8")):
            if literal not in table:
                problems.append(f"{where} names {literal!r} outside its SUBJECTS table")
    return published, problems


def subject_literals(source: str) -> set[str]:
    """The strings in Python source that look like subjects (or subject templates)."""
    return {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and SUBJECT_LITERAL_RE.match(node.value)
    }


def drift(
    catalog: Catalog, published: Mapping[str, tuple[str, str]], not_yet: Iterable[str] = NOT_YET_PUBLISHED
) -> list[str]:
    """How the protos and the publishers disagree."""
    pending = set(not_yet)
    problems: list[str] = []
    for subject, (service, message) in sorted(published.items()):
        declared = catalog.subjects.get(subject)
        if declared is None:
            problems.append(
                f"services/{service} publishes {subject} ({message}) but no events.proto message has"
                f" `// Subject: {subject}`"
            )
        elif declared.message != message:
            problems.append(
                f"services/{service} publishes {subject} as {message}; the protos say {declared.message}"
            )
        if subject in pending:
            problems.append(
                f"{subject} is published now: remove it from NOT_YET_PUBLISHED in scripts/gen_event_docs.py"
                " and regenerate (.venv/bin/python scripts/gen_event_docs.py)"
            )
    for subject, declared in sorted(catalog.subjects.items()):
        if subject not in published and subject not in pending:
            problems.append(
                f"{subject} ({declared.message}) is in the protos but no publisher's SUBJECTS table names it"
            )
    for subject in sorted(pending - set(catalog.subjects)):
        problems.append(f"NOT_YET_PUBLISHED names {subject}, which no events.proto message declares")
    return problems


# The outputs ---------------------------------------------------------------------------------------------


def _domain(subject: str) -> str:
    return subject.split(".")[1]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|") or "—"


def _ordered(catalog: Catalog) -> list[SubjectDoc]:
    """By domain as STREAMS lists them, then in the protos' order."""
    order = {name: at for at, name in enumerate(catalog.messages)}
    domains = list(STREAMS)
    return sorted(
        catalog.subjects.values(),
        key=lambda s: (
            domains.index(_domain(s.subject)) if _domain(s.subject) in domains else len(domains),
            order[s.message],
        ),
    )


def _field_table(message: MessageDoc) -> list[str]:
    lines = ["| Field | JSON | Type | Description |", "|---|---|---|---|"]
    for field in message.fields:
        lines.append(f"| `{field.name}` | `{field.json_name}` | `{field.type}` | {_cell(field.comment)} |")
    return lines


def _streams_table() -> list[str]:
    lines = [
        "| Stream | Subjects | Retention | Storage | Limits | Duplicate window |",
        "|---|---|---|---|---|---|",
    ]
    for domain in STREAMS:
        config = stream_config(domain)
        retention = config.retention.value if config.retention else "limits"
        storage = config.storage.value if config.storage else "file"
        limits = []
        if config.max_age:
            limits.append(f"max age {config.max_age:.0f} s")
        if config.max_msgs and config.max_msgs > 0:
            limits.append(f"max {config.max_msgs} messages")
        if config.max_bytes and config.max_bytes > 0:
            limits.append(f"max {config.max_bytes} bytes")
        window = f"{config.duplicate_window:.0f} s" if config.duplicate_window else "NATS default"
        subjects = ", ".join(f"`{s}`" for s in config.subjects or [])
        lines.append(
            f"| `{config.name}` | {subjects} | {retention} | {storage} | "
            f"{', '.join(limits) or 'none: events stay until an operator removes them'} | {window} |"
        )
    return lines


def _raw_streams(catalog: Catalog) -> list[str]:
    """A note on the streams that hold no wio events (WIO_INGEST: what storage nodes report)."""
    from services.common import streams

    with_events = {_domain(s) for s in catalog.subjects}
    lines = []
    for domain, stream in STREAMS.items():
        if domain in with_events:
            continue
        raw = [
            getattr(streams, name)
            for name in ("INGEST_SUBJECTS", "DEADLETTER_SUBJECTS")
            if hasattr(streams, name)
        ]
        held = f" ({', '.join(f'`{s}`' for s in raw)})" if raw else ""
        lines += [
            f"`{stream}`{held} holds no protobuf events: what storage nodes report, as they sent",
            "it, and what the indexer gave up on (services/common/streams.py).",
            f"`wio events tail wio.{domain}.>` shows them.",
            "",
        ]
    return lines


def render_doc(catalog: Catalog, published: Mapping[str, tuple[str, str]]) -> str:
    ordered = _ordered(catalog)
    meta = catalog.messages[META]
    lines = [
        "# Events",
        "",
        "<!-- Generated by scripts/gen_event_docs.py from protos/wio/*/v1/events.proto and the SUBJECTS",
        "     tables of services/*/events/publishers.py. Do not edit: run",
        "     `.venv/bin/python scripts/gen_event_docs.py`; tests/test_event_docs.py fails when stale. -->",
        "",
        "Every change a wio service makes is announced as an event on NATS JetStream, for the other services",
        "and for automation of your own. Events concern every tenant, so reading them is for admins: connect",
        "as the read-only NATS user `reader` (its password is in the admin's CLI config that `wio-dev up`",
        "writes, `[nats]`), watch them with `wio events tail`, or write a consumer like",
        "[examples/notify_on_share.py](examples/notify_on_share.py).",
        "",
        "## Delivery",
        "",
        "- **Subjects** are `wio.<domain>.<entity>.<past-tense verb>`; each domain's service alone may",
        "  publish its `wio.<domain>.>` subjects (NATS enforces it per service user).",
        "- **Payloads** are protobuf messages (binary wire format), one type per subject (below). Field 1,",
        f"  `meta` (`{META}`), carries the event's id, time and actor.",
        "- **Transactional outbox**: an event is written in the same database transaction as the change",
        "  it reports and published only after that transaction commits, so an event never announces a",
        "  change that was rolled back, and a committed change always gets its event, even across a crash.",
        "  One relay per service publishes the outbox in the order it was written. Events marked *published",
        "  before the call answers* are also sent right after the commit, before the RPC replies.",
        "- **At least once**: a relay that crashes after publishing may publish again. Each message has the",
        "  header `Nats-Msg-Id` = `meta.event_id`, and JetStream drops a repeated id within the stream's",
        "  duplicate window; a consumer can still see an event twice (redelivery after a missing ack), so",
        "  handle events idempotently, keyed by `meta.event_id`.",
        "- **Order**: within one stream, the stream sequence is the order of publishing; there is no order",
        "  across streams.",
        "- **Consumers**: use a durable consumer with explicit ack to resume where you left off, or an",
        "  ephemeral ordered consumer to watch (as `wio events tail` does).",
        "- **JSON**: `wio events tail --json` prints each event in protobuf's JSON mapping with the proto",
        "  field names, as every `wio ... --json` does (the *Field* column), every field present; the",
        "  standard mapping's lowerCamelCase names are the *JSON* column. 64-bit integers are strings, enums",
        "  their names, timestamps RFC 3339.",
        "",
        "### Streams",
        "",
        *_streams_table(),
        "",
        *_raw_streams(catalog),
        f"### `{META}`",
        "",
        _sentence(meta.comment),
        "",
        *_field_table(meta),
        "",
    ]
    actor = catalog.messages.get("wio.events.v1.Actor")
    if actor is not None:
        lines += [f"`wio.events.v1.Actor`: {_sentence(actor.comment)}", "", *_field_table(actor), ""]
    lines += ["## Subjects", ""]
    for domain in [*STREAMS, *sorted({_domain(s.subject) for s in ordered} - set(STREAMS))]:
        rows = [s for s in ordered if _domain(s.subject) == domain]
        if not rows:
            continue
        stream = STREAMS.get(domain, "no stream")
        lines += [
            f"### {domain} (stream `{stream}`)",
            "",
            "| Subject | Message | When it is sent | Published |",
            "|---|---|---|---|",
        ]
        for s in rows:
            message = catalog.messages[s.message]
            state = f"by services/{published[s.subject][0]}" if s.subject in published else "not yet"
            lines.append(
                f"| `{s.subject}` | [`{message.name}`](#{message.full_name.replace('.', '').lower()}) | "
                f"{_cell(s.when)} | {state} |"
            )
        lines.append("")
    lines += ["## Messages", ""]
    seen: list[str] = []
    for s in ordered:
        if s.message not in seen:
            seen.append(s.message)
    for full_name in seen:
        message = catalog.messages[full_name]
        subjects = ", ".join(f"`{s.subject}`" for s in ordered if s.message == full_name)
        lines += [
            f"### {full_name}",
            "",
            f"In `protos/{message.proto_file}`; on {subjects}.",
            "",
            *_field_table(message),
            "",
        ]
    nested = sorted(
        {
            field.type.removeprefix("repeated ")
            for name in seen
            for field in catalog.messages[name].fields
            if field.type.removeprefix("repeated ") in catalog.messages
            and field.type.removeprefix("repeated ") != META
            and catalog.messages[field.type.removeprefix("repeated ")].proto_file.endswith("events.proto")
        }
    )
    for full_name in nested:
        message = catalog.messages[full_name]
        lines += [f"### {full_name}", "", _sentence(message.comment) or "—", "", *_field_table(message), ""]
    return "\n".join(lines).rstrip() + "\n"


def render_cli_table(catalog: Catalog) -> str:
    lines = [
        '"""Each event subject and the protobuf message it carries, for `wio events tail`.',
        "",
        "Generated by scripts/gen_event_docs.py from the protos' `// Subject:` comments: do not edit.",
        '"""',
        "",
        "# subject -> (the generated module, the message's name in it)",
        "EVENT_TYPES: dict[str, tuple[str, str]] = {",
    ]
    for s in sorted(catalog.subjects.values(), key=lambda s: s.subject):
        message = catalog.messages[s.message]
        lines.append(f'    "{s.subject}": ("{message.module}", "{message.name}"),')
    lines.append("}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Generated:
    files: Mapping[Path, str]
    problems: tuple[str, ...]


def generate() -> Generated:
    catalog = read_protos()
    published, publisher_problems = read_publishers(publisher_files())
    problems = (*catalog.problems, *publisher_problems, *drift(catalog, published))
    files = {DOC: render_doc(catalog, published), CLI_TABLE: render_cli_table(catalog)}
    return Generated(files, problems)


def stale(generated: Generated) -> list[Path]:
    return [
        path
        for path, text in generated.files.items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if a generated file is stale")
    args = parser.parse_args()
    generated = generate()
    for problem in generated.problems:
        print(f"problem: {problem}", file=sys.stderr)
    if args.check:
        outdated = stale(generated)
        for path in outdated:
            print(f"stale: {path.relative_to(ROOT)}", file=sys.stderr)
        if outdated:
            print("run `.venv/bin/python scripts/gen_event_docs.py`", file=sys.stderr)
        elif not generated.problems:
            print("docs/events.md and cli/event_types.py are up to date")
        return 1 if outdated or generated.problems else 0
    for path, text in generated.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 1 if generated.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
