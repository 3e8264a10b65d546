"""Reading a ListObjectsV2 answer (services/indexer/storage/lister.py parse_listing): what S3 and SeaweedFS
send, keys URL-encoded, and answers a node must not get away with."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.errors import DomainError, Reason
from services.indexer.storage.lister import listing_query, parse_listing

pytestmark = pytest.mark.unit

NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def answer(contents: str, truncated: bool = False, token: str = "", xmlns: str = NS) -> bytes:
    head = f'<ListBucketResult xmlns="{xmlns}">' if xmlns else "<ListBucketResult>"
    more = f"<NextContinuationToken>{token}</NextContinuationToken>" if token else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{head}<Name>lab</Name><Prefix>ws/</Prefix>'
        f"<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType>"
        f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>{more}{contents}</ListBucketResult>"
    ).encode()


def item(
    key: str, size: int = 5, etag: str = "&quot;abc&quot;", modified: str = "2026-11-30T18:04:05.123Z"
) -> str:
    return (
        f"<Contents><Key>{key}</Key><LastModified>{modified}</LastModified><ETag>{etag}</ETag>"
        f"<Size>{size}</Size><Owner><ID>x</ID></Owner><StorageClass>STANDARD</StorageClass></Contents>"
    )


def test_objects_keys_decoded_and_the_last_page_has_no_token() -> None:
    body = answer(item("ws/reports/Q1+summary%2Bfinal+%C3%A9.csv", 42) + item("ws/a%2Fb.txt", 0))
    objects, token = parse_listing(body)
    assert token == ""
    assert [(o.key, o.size, o.etag) for o in objects] == [
        ("ws/reports/Q1 summary+final é.csv", 42, "abc"),
        ("ws/a/b.txt", 0, "abc"),
    ]
    assert objects[0].modified_at == datetime(2026, 11, 30, 18, 4, 5, 123000, tzinfo=UTC)


def test_a_truncated_page_gives_its_token_and_one_without_a_token_is_refused() -> None:
    assert parse_listing(answer(item("ws/x"), truncated=True, token="t1"))[1] == "t1"
    with pytest.raises(DomainError) as refused:
        parse_listing(answer(item("ws/x"), truncated=True))
    assert refused.value.reason == Reason.NODE_REFUSED


def test_an_answer_without_the_namespace_reads_the_same() -> None:
    objects, _ = parse_listing(answer(item("ws/x"), xmlns=""))
    assert [o.key for o in objects] == ["ws/x"]


@pytest.mark.parametrize(
    "body",
    [
        b"not xml at all",
        answer(item("ws/x", modified="yesterday")),
        answer(item("ws/x").replace("<Size>5</Size>", "<Size>five</Size>")),
        # Entity amplification ("billion laughs"): expat refuses it.
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&" + bytes([97 + i]) + b";") * 10) for i in range(8)
        )
        + b"]><ListBucketResult><Name>&i;</Name></ListBucketResult>",
    ],
)
def test_an_answer_a_node_must_not_send_is_refused(body: bytes) -> None:
    with pytest.raises(DomainError) as refused:
        parse_listing(body)
    assert refused.value.reason == Reason.NODE_REFUSED


def test_the_query_is_minios_own() -> None:
    assert listing_query("ws/", "ws/k", "", 1000) == {
        "list-type": "2",
        "delimiter": "",
        "encoding-type": "url",
        "max-keys": "1000",
        "prefix": "ws/",
        "start-after": "ws/k",
    }
    assert listing_query("ws/", "ws/k", "tok", 500)["continuation-token"] == "tok"
    assert "start-after" not in listing_query("ws/", "ws/k", "tok", 500)
