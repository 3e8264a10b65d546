"""The indexer's revision strings and list-only policies without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.common.errors import DomainError
from services.workspaces.domain import revisions
from services.workspaces.domain.policy import listing_policy

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def read_of(user: str, groups: frozenset[str], value: int = 3) -> revisions.RightsRead:
    scopes = revisions.read_by_principal(user, groups)
    return revisions.RightsRead(tuple(sorted((s, value) for s in scopes)), NOW, None, groups)


def test_a_revision_stands_for_what_the_listing_read_and_for_its_user_only() -> None:
    read = read_of("u1", frozenset({"g1", "g2"}))
    token = revisions.principal_revision("u1", read)
    assert revisions.principal_read("u1", token) == read
    # Another user, even in the same groups with the same counters, never reads it as theirs.
    assert revisions.principal_read("u2", token) is None
    for garbage in ("", "r1.", "r1.!!!", "r1.e30", "r0." + token[3:], token[:-5], "x" * 100):
        assert revisions.principal_read("u1", garbage) is None
    # Only the read of a whole listing has a revision string.
    with pytest.raises(ValueError, match="not what a listing"):
        revisions.principal_revision("u2", read)


def test_a_listing_policy_allows_listing_under_the_prefix_and_nothing_else() -> None:
    (statement,) = json.loads(listing_policy("lab-data", "raw/alice/").text)["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": ["arn:aws:s3:::lab-data"],
        "Condition": {"StringLike": {"s3:prefix": ["raw/alice/*"]}},
    }
    (whole,) = json.loads(listing_policy("lab-data", "").text)["Statement"]
    assert whole["Action"] == ["s3:ListBucket"] and "Condition" not in whole
    for bucket, prefix in (("lab-data", "a*/"), ("lab-data", "no-slash"), ("Bad_Bucket", "a/")):
        with pytest.raises(DomainError):
            listing_policy(bucket, prefix)
