"""The search text, parsed once for every backend.

Syntax (all terms AND-ed):
- `word`: a whole word of the path or file name. Paths are split into words at '/', '.', '_', '-' and
  spaces, between a lower-case letter and an upper-case one (camelCase) and between letters and digits,
  so `report` finds `q3/myReport_2024.csv`; a term that itself splits (`myReport`) must match those words
  in a row. Case does not matter.
- `word*`: a prefix of a word (`rep*`).
- `"text"`: a substring anywhere in the path, any characters, spaces included (ASCII case ignored).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.common.errors import DomainError, Reason

SEPARATORS = frozenset("/._- \t")
MAX_TERMS = 16
MAX_TEXT = 512


class TermKind(StrEnum):
    WORD = "word"
    PREFIX = "prefix"
    SUBSTRING = "substring"


@dataclass(frozen=True)
class Term:
    kind: TermKind
    # The words of a WORD or PREFIX term (lower case; the last one is the prefix), or the substring.
    words: tuple[str, ...] = ()
    substring: str = ""


def split_words(text: str) -> list[str]:
    """Words of a path as the index splits them (PATH_WORDS_SQL in storage/tables.py does the same)."""
    words: list[str] = []
    current: list[str] = []
    previous = ""
    for char in text:
        if char in SEPARATORS:
            if current:
                words.append("".join(current))
                current = []
            previous = ""
            continue
        boundary = previous and (
            (previous.islower() and char.isupper())
            or (previous.isalpha() and char.isdigit())
            or (previous.isdigit() and char.isalpha())
        )
        if boundary and current:
            words.append("".join(current))
            current = []
        current.append(char)
        previous = char
    if current:
        words.append("".join(current))
    return [word.lower() for word in words]


def _invalid(message: str) -> DomainError:
    return DomainError(Reason.INVALID_ARGUMENT, message, field="query")


def parse(text: str) -> list[Term]:
    """The terms of a search text; a malformed text (an unclosed quote, too long) is INVALID_ARGUMENT."""
    if len(text) > MAX_TEXT:
        raise _invalid(f"query: at most {MAX_TEXT} characters")
    terms: list[Term] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise _invalid('query: a quoted substring needs its closing "')
            substring = text[i + 1 : end]
            if substring:
                terms.append(Term(TermKind.SUBSTRING, substring=substring))
            i = end + 1
            continue
        end = i
        while end < len(text) and not text[end].isspace() and text[end] != '"':
            end += 1
        raw = text[i:end]
        i = end
        prefix = raw.endswith("*")
        words = tuple(split_words(raw.rstrip("*")))
        if not words:
            continue
        terms.append(Term(TermKind.PREFIX if prefix else TermKind.WORD, words=words))
    if len(terms) > MAX_TERMS:
        raise _invalid(f"query: at most {MAX_TERMS} terms")
    return terms
