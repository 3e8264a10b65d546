"""The indexer's search rules that need no server: the query syntax, filters against the readable list,
signed page tokens and field-named errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.errors import DomainError
from services.indexer.domain.models import Location, ObjectRecord, SortField
from services.indexer.domain.querytext import Term, TermKind, parse, split_words
from services.indexer.domain.search import SearchRequest, SearchTokens, narrow, validate

pytestmark = pytest.mark.unit


def test_split_words() -> None:
    assert split_words("q3/myReport_2024.csv") == ["q", "3", "my", "report", "2024", "csv"]
    assert split_words("a--b..c  d") == ["a", "b", "c", "d"]
    assert split_words("HTTPServer") == ["httpserver"]


def test_parse_terms() -> None:
    assert parse('report rep* "a b_c" ') == [
        Term(TermKind.WORD, words=("report",)),
        Term(TermKind.PREFIX, words=("rep",)),
        Term(TermKind.SUBSTRING, substring="a b_c"),
    ]
    assert parse("myReport*") == [Term(TermKind.PREFIX, words=("my", "report"))]
    assert parse(' -- "" * ') == []
    for bad in ('"open', "x" * 600, " ".join(["w"] * 17)):
        with pytest.raises(DomainError) as raised:
            parse(bad)
        assert raised.value.metadata == {"field": "query"}


def _loc(workspace_id: str, owner: str, name: str, node: str) -> Location:
    return Location(workspace_id, "r", f"id-{node}", "b", f"{owner}/{name}/", f"o-{owner}", owner, name, node)


def test_filters_only_narrow_what_is_readable() -> None:
    readable = (
        _loc("w1", "alice", "data", "n1"),
        _loc("w2", "bob", "data", "n2"),
        _loc("w3", "alice", "x", "n2"),
    )
    assert [loc.workspace_id for loc in narrow(readable, ("alice/data",), (), ())] == ["w1"]
    assert [loc.workspace_id for loc in narrow(readable, ("data",), (), ())] == ["w1", "w2"]
    assert [loc.workspace_id for loc in narrow(readable, (), ("alice",), ("n2",))] == ["w3"]
    assert [loc.workspace_id for loc in narrow(readable, (), (), ("id-n1",))] == ["w1"]
    # Names of what the caller cannot read (or what does not exist) match nothing; no error says which.
    assert narrow(readable, ("carol/secret", "w9"), (), ()) == []


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (SearchRequest(min_size=-1), "min_size"),
        (SearchRequest(max_size=-1), "max_size"),
        (SearchRequest(min_size=9, max_size=3), "min_size"),
        (SearchRequest(page_size=1001), "page_size"),
        (SearchRequest(extensions=("c/sv",)), "extensions"),
        (SearchRequest(workspaces=tuple(str(i) for i in range(101))), "workspaces"),
        (SearchRequest(text='"x'), "query"),
        (
            SearchRequest(
                modified_after=datetime(2026, 2, 1, tzinfo=UTC),
                modified_before=datetime(2026, 1, 1, tzinfo=UTC),
            ),
            "modified_after",
        ),
    ],
)
def test_bad_input_names_its_field(request_: SearchRequest, field: str) -> None:
    with pytest.raises(DomainError) as raised:
        validate(request_)
    assert raised.value.metadata == {"field": field}


def test_extensions_accept_a_dot_and_any_case() -> None:
    validate(SearchRequest(extensions=(".CSV", "tar", "h5")))


def test_page_tokens_are_bound_and_signed() -> None:
    tokens = SearchTokens("secret-one")
    record = ObjectRecord(
        "n", "b", "k", "w", "p/a.txt", "a.txt", "txt", 5, "e", datetime(2026, 1, 1, tzinfo=UTC)
    )
    request = SearchRequest(text="a", sort=SortField.MODIFIED)
    token = tokens.make("u1", request, record)
    with_token = SearchRequest(text="a", sort=SortField.MODIFIED, page_token=token)
    assert tokens.read("u1", with_token) == (record.modified_at, "n", "b", "k")
    # Another page size keeps the token valid; another filter, caller or key does not.
    assert tokens.read("u1", SearchRequest(text="a", sort=SortField.MODIFIED, page_size=7, page_token=token))
    for user, other in [
        ("u2", with_token),
        ("u1", SearchRequest(text="b", sort=SortField.MODIFIED, page_token=token)),
        ("u1", SearchRequest(text="a", sort=SortField.SIZE, page_token=token)),
    ]:
        with pytest.raises(DomainError) as raised:
            tokens.read(user, other)
        assert raised.value.metadata == {"field": "page_token"}
    for forged in (token.replace(".", ".A", 1), "x.y", "", "...", token + "x"):
        with pytest.raises(DomainError):
            SearchTokens("secret-one").read(
                "u1", SearchRequest(text="a", sort=SortField.MODIFIED, page_token=forged)
            )
    with pytest.raises(DomainError):
        SearchTokens("secret-two").read("u1", with_token)
