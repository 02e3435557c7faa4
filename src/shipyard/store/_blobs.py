"""Content-addressed blobs on any fsspec file system: written atomically, verified on read.

A blob lives at ``{location}/blobs/{digest[:2]}/{digest[2:4]}/{digest}``. Nobody ever sees half a
blob: a local folder gets a temp file under ``{location}/tmp`` that is fsynced and renamed into
place; an object store gets one PUT (or a multipart upload, which is invisible until completed).
Every read re-hashes the bytes, so a damaged blob is reported, never returned.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from shipyard.core.errors import (
    ArtifactCorrupted,
    InvalidInput,
    NotFound,
    ShipyardError,
    StoreError,
)
from shipyard.core.hashing import sha256_bytes

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["CHUNK_SIZE", "BlobRef", "BlobStore"]

CHUNK_SIZE = 4 * 1024 * 1024  # big enough to stream fast, small enough to never hold a model

_DIGEST = re.compile(r"[0-9a-f]{64}")
_STORE_HINT = (
    "Check that the artifact location exists and is writable, and for an object store that the "
    "bucket, endpoint and credentials (storage_options or environment) are right."
)


@dataclass(frozen=True)
class BlobRef:
    """A stored blob: the sha256 of its bytes, which is also its address, and its size."""

    digest: str
    size: int


class _DigestMismatch(Exception):
    """Bytes written to a temp file did not hash to what was expected; nothing was published."""

    def __init__(self, actual: str) -> None:
        super().__init__(actual)
        self.actual = actual


class BlobStore:
    """Immutable blobs addressed by sha256 under ``location`` (a folder or an fsspec URL)."""

    def __init__(self, location: str, storage_options: dict[str, Any] | None = None) -> None:
        self.location = location
        self.storage_options = storage_options
        self._fs: AbstractFileSystem | None = None
        self._root = ""
        self._local = False

    def __repr__(self) -> str:
        # storage_options may hold credentials, so they are never shown.
        return f"{type(self).__name__}(location={self.location!r})"

    def put_bytes(self, data: bytes) -> BlobRef:
        """Store ``data`` (once: an existing blob is not written again) and return its ref."""
        ref = BlobRef(sha256_bytes(data), len(data))
        if self._holds(ref):
            return ref
        key = self._key(ref.digest)
        if self._local:
            self._publish_local(ref, [data], what="the bytes")
        else:
            with self._translated(f"write blob {ref.digest}"):
                self._filesystem().pipe_file(key, data)
        return ref

    def put_file(self, path: str | Path) -> BlobRef:
        """Store the regular file at ``path`` in chunks; symbolic links are refused."""
        source = Path(path)
        with _open_regular_file(source) as handle:
            digest, size = _hash_stream(handle)
            ref = BlobRef(digest, size)
            if self._holds(ref):
                return ref
            if self._local:
                handle.seek(0)
                self._publish_local(ref, _chunks(handle), what=str(source))
                return ref
        # fsspec backends upload from a path; a file changed since hashing is caught on read.
        with self._translated(f"upload {source} as blob {ref.digest}"):
            self._filesystem().put_file(str(source), self._key(ref.digest))
        return ref

    def exists(self, digest: str) -> bool:
        """Whether the blob is stored; an unreachable store raises instead of answering False."""
        return self._stored_size(self._key(digest)) is not None

    def get_bytes(self, digest: str) -> bytes:
        """The blob's bytes, after checking they still hash to ``digest``."""
        key = self._key(digest)
        with self._translated(f"read blob {digest}", missing=digest):
            data: bytes = self._filesystem().cat_file(key)
        actual = sha256_bytes(data)
        if actual != digest:
            raise self._corrupted(digest, actual)
        return data

    def copy_to(self, digest: str, dest: Path) -> None:
        """Write the blob to ``dest`` all or nothing: a bad or broken read leaves no file there."""
        key = self._key(digest)
        target = Path(dest)
        with self._translated(f"open blob {digest}", missing=digest):
            source = self._filesystem().open(key, "rb")
        with source, self._translated(f"copy blob {digest} to {target}"):
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                _write_atomically(target, target.parent, _chunks(source), digest)
            except _DigestMismatch as exc:
                raise self._corrupted(digest, exc.actual) from None

    def blob_path(self, digest: str) -> str:
        """Where the blob lives: a local path for a folder, a URL for an object store."""
        key = self._key(digest)
        return key if self._local else str(self._filesystem().unstrip_protocol(key))

    def _filesystem(self) -> AbstractFileSystem:
        """The fsspec file system, made on first use so that constructing a store does no I/O."""
        if self._fs is None:
            from fsspec.core import url_to_fs
            from fsspec.implementations.local import LocalFileSystem

            with self._translated("open the store"):
                fs, root = url_to_fs(self.location, **(self.storage_options or {}))
            self._root = str(root).rstrip("/")
            self._local = isinstance(fs, LocalFileSystem)
            self._fs = fs
        return self._fs

    def _key(self, digest: str) -> str:
        """The blob's path inside the file system, built only from a checked digest."""
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise InvalidInput(
                f"Blob digest {digest!r} is not valid: expected 64 lowercase hex characters "
                "(a sha256).",
                hint="Pass the digest of a BlobRef or of an artifact record, not a name or path.",
            )
        self._filesystem()
        return f"{self._root}/blobs/{digest[:2]}/{digest[2:4]}/{digest}"

    def _holds(self, ref: BlobRef) -> bool:
        """Whether ``ref`` is stored whole; a blob of the wrong size is rewritten, not trusted."""
        return self._stored_size(self._key(ref.digest)) == ref.size

    def _stored_size(self, key: str) -> int | None:
        # Not fs.exists(): fsspec's default answers False on any error, hiding a dead store.
        with self._translated("look up a blob"):
            try:
                info = self._filesystem().info(key)
            except FileNotFoundError:
                return None
        return int(info["size"])

    def _publish_local(self, ref: BlobRef, chunks: Iterable[bytes], *, what: str) -> None:
        final = Path(self._key(ref.digest))
        with self._translated(f"write blob {ref.digest}"):
            tmp_dir = Path(self._root) / "tmp"
            _make_dirs(tmp_dir)
            _make_dirs(final.parent)
            try:
                _write_atomically(final, tmp_dir, chunks, ref.digest)
            except _DigestMismatch:
                raise InvalidInput(
                    f"The content of {what} changed while it was being stored, so nothing was "
                    "stored.",
                    hint="Store it again once nothing is writing to it.",
                ) from None

    def _corrupted(self, digest: str, actual: str) -> ArtifactCorrupted:
        return ArtifactCorrupted(
            f"Blob {digest} in artifact store {self.location!r} is corrupted: its bytes hash to "
            f"{actual}.",
            hint="The stored copy was changed or damaged; restore it from a backup or log the "
            "artifact again. Shipyard never returns corrupted bytes.",
        )

    @contextmanager
    def _translated(self, action: str, *, missing: str | None = None) -> Iterator[None]:
        """Turn whatever the backend raises into our tree.

        fsspec backends (s3fs, gcsfs, adlfs) raise OSError, botocore, aiohttp, azure and even
        TypeError for bad storage_options, so everything that is not already ours is translated.
        """
        try:
            yield
        except ShipyardError:
            raise
        except FileNotFoundError as exc:
            if missing is None:
                raise self._store_error(action, exc) from exc
            raise NotFound(
                f"Blob {missing} is not in artifact store {self.location!r}.",
                hint="Check that the artifact was logged to this store (the artifact location "
                "in shipyard.toml or SHIPYARD_ARTIFACTS).",
            ) from exc
        except Exception as exc:
            raise self._store_error(action, exc) from exc

    def _store_error(self, action: str, exc: Exception) -> StoreError:
        return StoreError(
            f"Artifact store {self.location!r} failed to {action}: {type(exc).__name__}: {exc}",
            hint=_STORE_HINT,
        )


def _open_regular_file(path: Path) -> IO[bytes]:
    """Open ``path`` for reading if it is a regular file and not a symbolic link."""
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            raise _symlink_refused(path)
        if not stat.S_ISREG(mode):
            raise InvalidInput(
                f"Cannot store {path}: it is not a regular file.",
                hint="Pass the path of a file, not a folder or a device.",
            )
        # O_NOFOLLOW closes the gap between the check above and the open.
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        return os.fdopen(os.open(path, flags), "rb")
    except FileNotFoundError:
        raise InvalidInput(
            f"Cannot store {path}: there is no such file.", hint="Check the path."
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _symlink_refused(path) from None
        raise InvalidInput(
            f"Cannot read {path}: {exc.strerror}.", hint="Check that the file is readable."
        ) from exc


def _symlink_refused(path: Path) -> InvalidInput:
    return InvalidInput(
        f"Cannot store {path}: it is a symbolic link.",
        hint="Shipyard stores regular files only, so that a link cannot smuggle in another "
        "file; pass the path of the file it points to.",
    )


def _write_atomically(final: Path, tmp_dir: Path, chunks: Iterable[bytes], digest: str) -> None:
    """Write ``chunks`` to a temp file, fsync it and rename it to ``final`` if they hash to
    ``digest``; otherwise remove it and raise :class:`_DigestMismatch`."""
    tmp = tmp_dir / f".{final.name[:64]}.{secrets.token_hex(8)}.part"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    # os.open honours the umask (mkstemp would force 0600 on a team's shared folder).
    with os.fdopen(os.open(tmp, flags, 0o666), "wb") as out:
        try:
            hasher = hashlib.sha256()
            for chunk in chunks:
                hasher.update(chunk)
                out.write(chunk)
            if hasher.hexdigest() != digest:
                raise _DigestMismatch(hasher.hexdigest())
            out.flush()
            os.fsync(out.fileno())
        except BaseException:
            out.close()
            with suppress(FileNotFoundError):
                tmp.unlink()
            raise
    try:
        os.replace(tmp, final)
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(final.parent)


def _make_dirs(path: Path) -> None:
    """``mkdir -p`` that also fsyncs the parent of each folder it makes, so a crash keeps them."""
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with suppress(FileExistsError):
            folder.mkdir()
        _fsync_dir(folder.parent)


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable."""
    if os.name != "posix":
        return  # Windows cannot open a folder; NTFS journals its metadata itself.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK_SIZE):
        yield chunk


def _hash_stream(handle: IO[bytes]) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    for chunk in _chunks(handle):
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size
