"""The blob store on a local folder and on S3: atomic, deduplicated, verified on every read."""

from __future__ import annotations

import hashlib
import os
import random
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from shipyard.core.errors import ArtifactCorrupted, InvalidInput, NotFound, StoreError
from shipyard.store._blobs import CHUNK_SIZE, BlobRef, BlobStore

StoreLocation = tuple[str, dict[str, Any]]

HELLO_DIGEST = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
MISSING_DIGEST = "0" * 64


class RawStore:
    """Reaches behind a BlobStore's back, as a failing disk or a careless admin would."""

    def __init__(self, location: str, s3_client: Any | None) -> None:
        self.location = location
        self.s3_client = s3_client

    def keys(self) -> list[str]:
        """Every object under the location, relative to it, sorted."""
        if self.s3_client is None:
            root = Path(self.location)
            return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        bucket, prefix = self._split(self.location)
        pages = self.s3_client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix + "/"
        )
        found = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
        return sorted(key[len(prefix) + 1 :] for key in found)

    def read(self, blob_path: str) -> bytes:
        if self.s3_client is None:
            return Path(blob_path).read_bytes()
        bucket, key = self._split(blob_path)
        body = self.s3_client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def write(self, blob_path: str, data: bytes) -> None:
        if self.s3_client is None:
            Path(blob_path).write_bytes(data)
        else:
            bucket, key = self._split(blob_path)
            self.s3_client.put_object(Bucket=bucket, Key=key, Body=data)

    def flip_byte(self, blob_path: str, index: int = 0) -> None:
        data = bytearray(self.read(blob_path))
        data[index] ^= 0xFF
        self.write(blob_path, bytes(data))

    @staticmethod
    def _split(url: str) -> tuple[str, str]:
        parts = urlsplit(url)
        return parts.netloc, parts.path.lstrip("/")


@pytest.fixture
def store(blob_location: StoreLocation) -> BlobStore:
    return BlobStore(*blob_location)


@pytest.fixture
def raw(blob_location: StoreLocation, request: pytest.FixtureRequest) -> RawStore:
    location = blob_location[0]
    client = request.getfixturevalue("s3_client") if location.startswith("s3://") else None
    return RawStore(location, client)


def blob_key(digest: str) -> str:
    return f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"


def test_put_and_get_roundtrip(store: BlobStore, raw: RawStore) -> None:
    ref = store.put_bytes(b"hello")
    assert ref == BlobRef(HELLO_DIGEST, 5)
    assert store.exists(HELLO_DIGEST)
    assert store.get_bytes(HELLO_DIGEST) == b"hello"
    assert raw.keys() == [blob_key(HELLO_DIGEST)]
    assert raw.read(store.blob_path(HELLO_DIGEST)) == b"hello"


def test_empty_blob_roundtrips(store: BlobStore) -> None:
    ref = store.put_bytes(b"")
    assert ref == BlobRef(hashlib.sha256(b"").hexdigest(), 0)
    assert store.get_bytes(ref.digest) == b""


def test_blob_path_follows_the_layout(store: BlobStore, blob_location: StoreLocation) -> None:
    path = store.blob_path(HELLO_DIGEST)
    assert path.endswith(f"/{blob_key(HELLO_DIGEST)}")
    assert path.startswith(blob_location[0])


def test_same_bytes_are_stored_once(store: BlobStore, raw: RawStore) -> None:
    first = store.put_bytes(b"hello")
    second = store.put_bytes(b"hello")
    other = store.put_bytes(b"world")
    assert first == second
    assert other.digest != first.digest
    assert raw.keys() == sorted([blob_key(first.digest), blob_key(other.digest)])


def test_dedup_does_not_rewrite_an_existing_blob(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path))  # a folder: object stores keep no precise mtime
    store.put_bytes(b"hello")
    path = Path(store.blob_path(HELLO_DIGEST))
    os.utime(path, (1, 1))
    store.put_bytes(b"hello")
    assert path.stat().st_mtime == 1


def test_a_truncated_blob_is_rewritten_on_put(store: BlobStore, raw: RawStore) -> None:
    store.put_bytes(b"hello")
    raw.write(store.blob_path(HELLO_DIGEST), b"hel")
    store.put_bytes(b"hello")
    assert store.get_bytes(HELLO_DIGEST) == b"hello"


def test_put_file_streams_a_multi_megabyte_file(
    store: BlobStore, raw: RawStore, tmp_path: Path
) -> None:
    data = random.Random(0).randbytes(2 * CHUNK_SIZE + 12345)
    source = tmp_path / "model.bin"
    source.write_bytes(data)
    ref = store.put_file(source)
    assert ref == BlobRef(hashlib.sha256(data).hexdigest(), len(data))
    assert raw.keys() == [blob_key(ref.digest)]
    assert store.get_bytes(ref.digest) == data
    dest = tmp_path / "out" / "model.bin"
    store.copy_to(ref.digest, dest)
    assert dest.read_bytes() == data
    assert store.put_file(str(source)) == ref
    assert store.put_bytes(data) == ref


def test_copy_to_replaces_an_existing_file(store: BlobStore, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "hello.txt"
    dest.parent.mkdir()
    dest.write_bytes(b"old")
    store.put_bytes(b"hello")
    store.copy_to(HELLO_DIGEST, dest)
    assert dest.read_bytes() == b"hello"
    assert os.listdir(dest.parent) == ["hello.txt"]


def test_no_temp_files_are_left(store: BlobStore, raw: RawStore, tmp_path: Path) -> None:
    source = tmp_path / "file.bin"
    source.write_bytes(b"from a file")
    store.put_bytes(b"hello")
    store.put_bytes(b"hello")
    store.put_file(source)
    keys = raw.keys()
    assert len(keys) == 2
    assert all(key.startswith("blobs/") for key in keys)
    if raw.s3_client is None:
        assert os.listdir(Path(raw.location) / "tmp") == []


def test_a_corrupted_blob_is_never_returned(store: BlobStore, raw: RawStore) -> None:
    store.put_bytes(b"hello")
    raw.flip_byte(store.blob_path(HELLO_DIGEST))
    with pytest.raises(ArtifactCorrupted, match=HELLO_DIGEST) as info:
        store.get_bytes(HELLO_DIGEST)
    assert info.value.code == "artifact_corrupted"


def test_a_corrupted_blob_is_never_copied(store: BlobStore, raw: RawStore, tmp_path: Path) -> None:
    data = random.Random(1).randbytes(CHUNK_SIZE + 7)
    ref = store.put_bytes(data)
    raw.flip_byte(store.blob_path(ref.digest), index=CHUNK_SIZE + 3)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ArtifactCorrupted, match=ref.digest):
        store.copy_to(ref.digest, out / "model.bin")
    assert os.listdir(out) == []


def test_a_failed_copy_keeps_the_previous_file(
    store: BlobStore, raw: RawStore, tmp_path: Path
) -> None:
    store.put_bytes(b"hello")
    raw.flip_byte(store.blob_path(HELLO_DIGEST))
    dest = tmp_path / "out" / "hello.txt"
    dest.parent.mkdir()
    dest.write_bytes(b"previous")
    with pytest.raises(ArtifactCorrupted):
        store.copy_to(HELLO_DIGEST, dest)
    assert dest.read_bytes() == b"previous"
    assert os.listdir(dest.parent) == ["hello.txt"]


def test_a_missing_blob_is_not_found(store: BlobStore, tmp_path: Path) -> None:
    store.put_bytes(b"hello")
    assert not store.exists(MISSING_DIGEST)
    with pytest.raises(NotFound, match=MISSING_DIGEST):
        store.get_bytes(MISSING_DIGEST)
    with pytest.raises(NotFound, match=MISSING_DIGEST):
        store.copy_to(MISSING_DIGEST, tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "digest",
    ["../../etc/passwd", HELLO_DIGEST.upper(), HELLO_DIGEST[:-1], HELLO_DIGEST + "\n", "", None],
)
@pytest.mark.parametrize("method", ["exists", "get_bytes", "copy_to", "blob_path"])
def test_an_invalid_digest_is_refused(
    store: BlobStore, tmp_path: Path, digest: Any, method: str
) -> None:
    args = (digest, tmp_path / "x") if method == "copy_to" else (digest,)
    with pytest.raises(InvalidInput, match="64 lowercase hex"):
        getattr(store, method)(*args)
    assert os.listdir(tmp_path) == []


def test_put_file_refuses_a_symlink(store: BlobStore, raw: RawStore, tmp_path: Path) -> None:
    target = tmp_path / "secret.txt"
    target.write_bytes(b"secret")
    link = tmp_path / "model.bin"
    link.symlink_to(target)
    with pytest.raises(InvalidInput, match="symbolic link"):
        store.put_file(link)
    assert raw.keys() == []


@pytest.mark.parametrize(
    ("kind", "why"), [("missing", "no such file"), ("folder", "not a regular")]
)
def test_put_file_refuses_what_is_not_a_file(
    store: BlobStore, tmp_path: Path, kind: str, why: str
) -> None:
    path = tmp_path / "thing"
    if kind == "folder":
        path.mkdir()
    with pytest.raises(InvalidInput, match=why):
        store.put_file(path)


def test_construction_does_no_io(tmp_path: Path) -> None:
    BlobStore(str(tmp_path / "new"))
    BlobStore("nosuchprotocol://x")
    assert os.listdir(tmp_path) == []


def test_repr_hides_storage_options() -> None:
    store = BlobStore("s3://b/p", {"key": "AKIA", "secret": "hunter2"})
    assert repr(store) == "BlobStore(location='s3://b/p')"


def test_file_urls_work_like_plain_paths(tmp_path: Path) -> None:
    BlobStore((tmp_path / "a").as_uri()).put_bytes(b"hello")
    assert BlobStore(str(tmp_path / "a")).get_bytes(HELLO_DIGEST) == b"hello"


def test_a_location_that_is_a_file_gives_store_error(tmp_path: Path) -> None:
    location = tmp_path / "not-a-folder"
    location.write_bytes(b"")
    store = BlobStore(str(location))
    for call in (
        lambda: store.put_bytes(b"hello"),
        lambda: store.exists(HELLO_DIGEST),
        lambda: store.get_bytes(HELLO_DIGEST),
    ):
        with pytest.raises(StoreError, match="not-a-folder") as info:
            call()
        assert not isinstance(info.value, NotFound)
        assert "Check that the artifact location" in str(info.value)


def test_an_unknown_protocol_gives_store_error() -> None:
    with pytest.raises(StoreError, match="nosuchprotocol"):
        BlobStore("nosuchprotocol://x").exists(HELLO_DIGEST)


def test_an_unreachable_s3_endpoint_gives_store_error(s3_location: StoreLocation) -> None:
    # s3_location is asked for its fake credentials in the environment, not for its server.
    options = {
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9"},  # discard port: nobody listens
        "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}},
    }
    store = BlobStore("s3://nowhere/prefix", options)
    started = time.monotonic()
    for call in (lambda: store.put_bytes(b"hello"), lambda: store.get_bytes(HELLO_DIGEST)):
        with pytest.raises(StoreError, match="s3://nowhere/prefix") as info:
            call()
        assert "failed to" in str(info.value)
        assert info.value.__cause__ is not None
    assert time.monotonic() - started < 60
