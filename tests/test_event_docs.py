"""docs/events.md and cli/event_types.py are what scripts/gen_event_docs.py makes from the protos and the
publishers, and the two agree: every subject a publisher's SUBJECTS table names has its proto comment with
the same message type, and every subject the protos declare is published (or listed as not yet)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from services.common.subjects import checked
from wio.auth.v1 import events_pb2 as auth_events
from wio.workspaces.v1 import events_pb2 as workspaces_events

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_event_docs", ROOT / "scripts" / "gen_event_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


gen = load_script()


@pytest.fixture(scope="module")
def generated() -> object:
    return gen.generate()


def test_generated_files_are_up_to_date(generated: object) -> None:
    stale = [str(path.relative_to(ROOT)) for path in gen.stale(generated)]
    assert not stale, f"{stale} differ from what the protos and publishers give: run " + (
        "`.venv/bin/python scripts/gen_event_docs.py` and commit the result"
    )


def test_publishers_and_protos_agree(generated: object) -> None:
    problems = list(generated.problems)  # type: ignore[attr-defined]
    assert not problems, "\n".join(problems)


def test_every_published_subject_is_in_the_doc_and_the_cli_table(generated: object) -> None:
    published, _problems = gen.read_publishers(gen.publisher_files())
    doc = generated.files[gen.DOC]  # type: ignore[attr-defined]
    from cli.event_types import EVENT_TYPES

    assert published, "no publisher found"
    for subject, (_service, message) in published.items():
        assert f"| `{subject}` |" in doc
        module, name = EVENT_TYPES[subject]
        assert f"{module.rsplit('.', 1)[0]}.{name}" == message


def test_subject_comments_are_parsed() -> None:
    assert gen.parse_subjects("Subject: wio.a.b.made (it happened)\nSent by Make.") == [
        ("wio.a.b.made", "It happened. Sent by Make.")
    ]
    assert gen.parse_subjects(
        "Subjects: wio.a.share.granted, .revoked\nAbout shares.\n"
        "granted: by Grant.\nrevoked: by Revoke,\nor later."
    ) == [
        ("wio.a.share.granted", "About shares. By Grant."),
        ("wio.a.share.revoked", "About shares. By Revoke, or later."),
    ]
    assert gen.parse_subjects("The normalized form of one object change.") is None


def test_drift_is_reported_both_ways() -> None:
    catalog = gen.read_protos()
    published, _ = gen.read_publishers(gen.publisher_files())
    # A publisher that sends a subject no proto declares, and one that sends a declared one as another type.
    extra = {**published, "wio.auth.user.renamed": ("auth", "wio.auth.v1.UserCreatedEvent")}
    extra["wio.auth.user.disabled"] = ("auth", "wio.auth.v1.UserCreatedEvent")
    problems = "\n".join(gen.drift(catalog, extra))
    assert "publishes wio.auth.user.renamed" in problems and "no events.proto message" in problems
    assert "wio.auth.user.disabled as wio.auth.v1.UserCreatedEvent" in problems
    # A subject the protos declare that nobody publishes.
    missing = {k: v for k, v in published.items() if k != "wio.nodes.root.created"}
    assert any("wio.nodes.root.created" in p and "no publisher" in p for p in gen.drift(catalog, missing))
    # A subject still listed as not yet published once a publisher names it: the merger must regenerate.
    pending = {"wio.workspaces.root.imported"}
    assert any("remove it from NOT_YET_PUBLISHED" in p for p in gen.drift(catalog, published, pending))
    # ...and one listed so that nobody publishes is accepted, marked in the doc.
    unpublished = {k: v for k, v in published.items() if k not in pending}
    assert gen.drift(catalog, unpublished, pending) == []


def test_subject_literals_are_found() -> None:
    source = 'A = "wio.auth.user.created"\nB = "wio.auth.user.{verb}"\nC = "not.a.subject"\n'
    assert gen.subject_literals(source) == {"wio.auth.user.created", "wio.auth.user.{verb}"}


def test_the_table_refuses_what_the_table_does_not_name() -> None:
    table = {"wio.auth.user.created": auth_events.UserCreatedEvent}
    assert checked(table, "wio.auth.user.created", auth_events.UserCreatedEvent()) == "wio.auth.user.created"
    with pytest.raises(ValueError, match="not in the publisher's SUBJECTS table"):
        checked(table, "wio.auth.user.renamed", auth_events.UserCreatedEvent())
    with pytest.raises(TypeError, match=r"carries wio\.auth\.v1\.UserCreatedEvent"):
        checked(table, "wio.auth.user.created", workspaces_events.ShareChangedEvent())
