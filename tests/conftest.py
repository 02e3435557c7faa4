"""Shared fixtures: every store test runs on a fresh SQLite file and a fresh PostgreSQL schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PG_ADMIN_URL = os.environ.get(
    "SHIPYARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _pg_schema_url(schema: str) -> str:
    return f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a PostgreSQL schema made for this test alone, dropped afterwards."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def workspace(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A workspace folder wired to ``db_url`` through the environment, as a user would."""
    from shipyard.tracking import close_workspaces

    root = tmp_path / "ws"
    root.mkdir()
    monkeypatch.setenv("SHIPYARD_HOME", str(root))
    monkeypatch.setenv("SHIPYARD_DB_URL", db_url)
    monkeypatch.delenv("SHIPYARD_ARTIFACTS", raising=False)
    yield root
    close_workspaces()


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
