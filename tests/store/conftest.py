"""Artifact-store fixtures: every blob test runs on a local folder and on a real S3 API (moto).

The moto server itself (``s3_location``, ``s3_client``) lives in the top-level conftest."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest


@pytest.fixture(params=["local", "s3"])
def blob_location(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, object]]:
    """``(location, storage_options)`` of an empty store: a folder, then a fresh S3 prefix."""
    if request.param == "local":
        return str(tmp_path / "artifacts"), {}
    base, options = request.getfixturevalue("s3_location")
    return f"{base}/{uuid.uuid4().hex}", options
