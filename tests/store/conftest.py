"""Artifact-store fixtures: every blob test runs on a local folder and on a real S3 API (moto)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

StoreLocation = tuple[str, dict[str, Any]]

BUCKET = "shipyard-tests"

_FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # Never reach for real credentials or the EC2 metadata service from a test.
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}


@pytest.fixture(scope="session")
def s3_location() -> Iterator[StoreLocation]:
    """``("s3://bucket/prefix", storage_options)`` on a moto S3 server on a free local port."""
    import boto3
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as env:
        for name, value in _FAKE_AWS_ENV.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            client = boto3.client("s3", endpoint_url=endpoint)
            try:
                client.create_bucket(Bucket=BUCKET)
            finally:
                client.close()
            yield f"s3://{BUCKET}/prefix", {"client_kwargs": {"endpoint_url": endpoint}}
        finally:
            server.stop()  # werkzeug closes the listening socket as serve_forever ends


@pytest.fixture
def s3_client(s3_location: StoreLocation) -> Iterator[Any]:
    """A boto3 client on the moto server, to reach behind the store's back."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_location[1]["client_kwargs"]["endpoint_url"])
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(params=["local", "s3"])
def blob_location(request: pytest.FixtureRequest, tmp_path: Path) -> StoreLocation:
    """``(location, storage_options)`` of an empty store: a folder, then a fresh S3 prefix."""
    if request.param == "local":
        return str(tmp_path / "artifacts"), {}
    base, options = request.getfixturevalue("s3_location")
    return f"{base}/{uuid.uuid4().hex}", options
