"""The S3 gateway's client cache: one shared set of service models, and a bounded number of clients."""

from __future__ import annotations

import pytest

from services.common.s3 import S3Endpoint, S3Gateway

pytestmark = pytest.mark.unit


def _endpoint(port: int, key: str = "key") -> S3Endpoint:
    return S3Endpoint(endpoint=f"http://127.0.0.1:{port}", region="us-east-1", access_key=key, secret_key="s")


def test_clients_of_every_endpoint_share_one_model_loader() -> None:
    gateway = S3Gateway()
    try:
        first = gateway.client("s3", _endpoint(9000))
        other_node = gateway.client("s3", _endpoint(9001))
        other_key = gateway.client("sts", _endpoint(9000, key="other"))
        assert first is gateway.client("s3", _endpoint(9000))
        assert other_node is not first
        # One loader means the S3 and STS models are read and kept once, not once per node and key.
        assert first._loader is other_node._loader is other_key._loader
    finally:
        gateway.close()


def test_the_least_recently_used_clients_go_first() -> None:
    gateway = S3Gateway()
    try:
        kept = gateway.client("s3", _endpoint(9000))
        for port in range(9001, 9001 + S3Gateway.MAX_CLIENTS):
            gateway.client("s3", _endpoint(port))
            gateway.client("s3", _endpoint(9000))  # used again each time, so never the oldest
        assert len(gateway._clients) == S3Gateway.MAX_CLIENTS
        assert gateway.client("s3", _endpoint(9000)) is kept
        # The first other endpoint was the least recently used: it was dropped and is made anew.
        assert ("s3", "http://127.0.0.1:9001", "us-east-1", "key", "s") not in gateway._clients
    finally:
        gateway.close()
