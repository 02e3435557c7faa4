"""The inference log's part files: where they go, how they are published and found again.

One place knows the layout ``{root}/{kind}/{deployment}/date=YYYY-MM-DD/part-*.parquet`` and
how a part becomes visible all at once, on a local folder or any fsspec object store.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from shipyard.core.errors import InvalidInput, StoreError
from shipyard.core.hashing import sha256_bytes
from shipyard.serve._log_tables import DAY_MS, TS, utc_date
from shipyard.store._blobs import _make_dirs, _write_atomically

__all__ = ["DEPLOYMENT_NAME", "PartStore", "check_deployment"]

#: The deployment names serving accepts; they become folder names, so nothing else may pass.
DEPLOYMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_READ_CHUNK = 64  # parts fetched at once: concurrent on object stores, bounded in memory


class PartStore:
    """Parts of one artifact root on any fsspec file system."""

    def __init__(self, location: str, storage_options: dict[str, Any] | None) -> None:
        self.location = location
        try:
            fs, root = url_to_fs(location, **(storage_options or {}))
        except Exception as exc:
            raise StoreError(
                f"Cannot open artifact store {location!r} for the inference log: "
                f"{type(exc).__name__}: {exc}",
                hint="Check the artifact location and its storage_options.",
            ) from exc
        self.fs = fs
        self.root = str(root).rstrip("/")
        self.local = isinstance(fs, LocalFileSystem)

    def write_part(self, kind: str, deployment: str, day: date, table: pa.Table) -> None:
        """Publish ``table`` as a new part, all or nothing."""
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        data = sink.getvalue().to_pybytes()
        folder = f"{self._folder(kind, deployment)}/date={day.isoformat()}"
        name = f"part-{time.time_ns() // 1_000_000:013d}-{secrets.token_hex(4)}.parquet"
        if self.local:
            tmp = Path(self.root) / "tmp"
            _make_dirs(tmp)
            _make_dirs(Path(folder))
            _write_atomically(Path(folder) / name, tmp, [data], sha256_bytes(data))
        else:
            self.fs.pipe_file(f"{folder}/{name}", data)  # one PUT: visible whole or not at all

    def read_parts(
        self,
        kind: str,
        deployment: str,
        since_ms: int | None,
        until_ms: int | None,
        columns: list[str] | None = None,
    ) -> list[pa.Table]:
        """The non-empty parts' rows with ``since <= ts < until``, oldest part first; only
        ``columns`` (with ``ts``) when given, so a summary never decodes the inputs."""
        try:
            paths = self._parts(kind, deployment, since_ms, until_ms)
            return [t for t in self._load(paths, since_ms, until_ms, columns) if t.num_rows]
        except Exception as exc:
            raise self.failure(f"read the {kind} log of deployment {deployment!r}", exc) from exc

    def deployments(self, kind: str) -> list[tuple[str, date]]:
        """Each deployment with a ``kind`` log, and the newest day it logged; folders the log
        did not write are left out."""
        try:
            found = []
            for folder in sorted(self._ls(f"{self.root}/{kind}", folders_only=True)):
                name = _name(folder)
                days = self._days(folder) if DEPLOYMENT_NAME.fullmatch(name) else []
                if days:
                    found.append((name, days[-1][0]))
            return found
        except Exception as exc:
            raise self.failure(f"list the deployments of the {kind} log", exc) from exc

    def failure(self, action: str, exc: Exception) -> Exception:
        """``exc`` as the error to raise when ``action`` failed on this store."""
        if isinstance(exc, InvalidInput | StoreError):
            return exc
        return StoreError(
            f"Artifact store {self.location!r} failed to {action}: {type(exc).__name__}: {exc}",
            hint="Check that the artifact location is reachable and writable, and for an object "
            "store that the bucket, endpoint and credentials are right.",
        )

    def _folder(self, kind: str, deployment: str) -> str:
        return f"{self.root}/{kind}/{deployment}"

    def _parts(
        self, kind: str, deployment: str, since_ms: int | None, until_ms: int | None
    ) -> list[str]:
        """The parts whose date folder can hold rows in [since, until), oldest first."""
        first = None if since_ms is None else utc_date(since_ms // DAY_MS)
        last = None if until_ms is None else utc_date((until_ms - 1) // DAY_MS)
        paths: list[str] = []
        for day, sub in self._days(self._folder(kind, deployment)):
            if (first and day < first) or (last and day > last):
                continue
            paths.extend(
                path
                for path in sorted(self._ls(sub))
                if _name(path).startswith("part-") and path.endswith(".parquet")
            )
        return paths

    def _days(self, folder: str) -> list[tuple[date, str]]:
        """The ``date=YYYY-MM-DD`` folders under ``folder``, oldest first."""
        days = []
        for sub in self._ls(folder, folders_only=True):
            name = _name(sub)
            if name.startswith("date="):
                try:
                    days.append((date.fromisoformat(name.removeprefix("date=")), sub))
                except ValueError:
                    continue  # not a folder this module wrote
        return sorted(days)

    def _ls(self, folder: str, *, folders_only: bool = False) -> list[str]:
        """The entries of ``folder`` (only its sub-folders with ``folders_only``: a stray file
        named like a day or a deployment is not one)."""
        # Other replicas write too, so a listing cached by fsspec (s3fs, gcsfs) is never trusted.
        self.fs.invalidate_cache(folder)
        try:
            entries = self.fs.ls(folder, detail=True)
        except FileNotFoundError:
            return []
        return [
            str(entry["name"])
            for entry in entries
            if not folders_only or entry.get("type") == "directory"
        ]

    def _load(
        self,
        paths: list[str],
        since_ms: int | None,
        until_ms: int | None,
        columns: list[str] | None = None,
    ) -> Iterable[pa.Table]:
        condition = None
        if since_ms is not None:
            condition = pc.field("ts") >= pa.scalar(since_ms, TS)
        if until_ms is not None:
            before = pc.field("ts") < pa.scalar(until_ms, TS)
            condition = before if condition is None else condition & before
        for start in range(0, len(paths), _READ_CHUNK):
            chunk = paths[start : start + _READ_CHUNK]
            contents = self.fs.cat(chunk)  # concurrent requests on object stores
            if not isinstance(contents, dict):
                contents = {chunk[0]: contents}
            for path in chunk:
                part = pq.ParquetFile(pa.BufferReader(_path_value(contents, path)))
                # Parts written by older versions may lack a column: read the ones there are.
                present = part.schema_arrow.names
                wanted = None if columns is None else [c for c in columns if c in present]
                table = part.read(columns=wanted)
                yield table if condition is None else table.filter(condition)


def _name(path: str) -> str:
    """The last part of a listed path (folders may end in ``/`` on object stores)."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def _path_value(contents: dict[str, bytes], path: str) -> bytes:
    # fsspec keys cat() results by the paths it was given, sometimes with the protocol added.
    if path in contents:
        return contents[path]
    return next(v for k, v in contents.items() if k.endswith(path))


def check_deployment(deployment: str) -> None:
    """Refuse a deployment name that is not one, before it becomes part of a path."""
    if not isinstance(deployment, str) or not DEPLOYMENT_NAME.fullmatch(deployment):
        raise InvalidInput(
            f"{deployment!r} is not a deployment name.",
            hint="Use letters, digits, '.', '_' and '-', starting with a letter or digit.",
        )
