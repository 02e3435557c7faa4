"""Run artifacts: logging files, folders and bytes as verified blobs, and getting them back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shipyard.core.errors import Conflict, InvalidInput, NotFound
from shipyard.store import BlobRef, Store, safe_destination, validate_artifact_name
from shipyard.store._schema import artifacts
from shipyard.tracking._records import ArtifactRecord
from shipyard.tracking._sql import insert_for, now_ms, require_run

__all__ = ["ArtifactsMixin"]


class ArtifactsMixin:
    """The artifact half of :class:`~shipyard.tracking.TrackingService`."""

    store: Store

    def resolve_run_id(self, run_id: str) -> str:
        raise NotImplementedError

    def _write_to_run(self, run_id: str, work: Callable[[Connection], None]) -> None:
        raise NotImplementedError

    def log_artifact_bytes(self, run_id: str, name: str, data: bytes) -> ArtifactRecord:
        name = validate_artifact_name(name)
        return self._record_artifact(run_id, name, self.store.blobs.put_bytes(data))

    def log_artifact_path(
        self, run_id: str, path: Path, name: str | None = None
    ) -> list[ArtifactRecord]:
        """Log a file, or every file under a folder, refusing symlinks anywhere."""
        if path.is_symlink():
            raise InvalidInput(f"{path} is a symlink.", hint="Log the file it points to instead.")
        if path.is_file():
            target = validate_artifact_name(name or path.name)
            return [self._record_artifact(run_id, target, self.store.blobs.put_file(path))]
        if not path.is_dir():
            raise NotFound(f"No file or folder at {path}.", hint="Check the path.")
        prefix = validate_artifact_name(name or path.name)
        files = sorted(p for p in path.rglob("*") if p.is_symlink() or p.is_file())
        for file in files:
            if file.is_symlink():
                raise InvalidInput(
                    f"{file} is a symlink; folders with symlinks are not logged.",
                    hint="Replace the link with the file itself.",
                )
        return [
            self._record_artifact(
                run_id,
                validate_artifact_name(f"{prefix}/{file.relative_to(path).as_posix()}"),
                self.store.blobs.put_file(file),
            )
            for file in files
        ]

    def _record_artifact(self, run_id: str, name: str, blob: BlobRef) -> ArtifactRecord:
        record = ArtifactRecord(name, blob.digest, blob.size, now_ms())

        def work(conn: Connection) -> None:
            stmt = insert_for(conn, artifacts).on_conflict_do_nothing(
                index_elements=[artifacts.c.run_id, artifacts.c.name]
            )
            conn.execute(stmt.values(run_id=run_id, **record.__dict__))
            stored = conn.execute(
                sa.select(artifacts.c.digest).where(
                    artifacts.c.run_id == run_id, artifacts.c.name == name
                )
            ).scalar_one()
            if stored != blob.digest:
                raise Conflict(
                    f"Run {run_id} already has a different artifact named {name!r}.",
                    hint="Artifacts are immutable: log the new content under another name.",
                )

        self._write_to_run(run_id, work)
        return record

    def list_artifacts(self, run_id: str) -> list[ArtifactRecord]:
        run_id = self.resolve_run_id(run_id)

        def work(conn: Connection) -> list[ArtifactRecord]:
            require_run(conn, run_id)
            query = (
                sa.select(
                    artifacts.c.name, artifacts.c.digest, artifacts.c.size, artifacts.c.created_ms
                )
                .where(artifacts.c.run_id == run_id)
                .order_by(artifacts.c.name)
            )
            return [ArtifactRecord(*row) for row in conn.execute(query)]

        return self.store.db.read(work)

    def _artifact(self, run_id: str, name: str) -> ArtifactRecord:
        name = validate_artifact_name(name)
        run_id = self.resolve_run_id(run_id)

        def work(conn: Connection) -> ArtifactRecord | None:
            require_run(conn, run_id)
            row = conn.execute(
                sa.select(
                    artifacts.c.name, artifacts.c.digest, artifacts.c.size, artifacts.c.created_ms
                ).where(artifacts.c.run_id == run_id, artifacts.c.name == name)
            ).first()
            return None if row is None else ArtifactRecord(*row)

        record = self.store.db.read(work)
        if record is None:
            raise NotFound(
                f"Run {run_id} has no artifact named {name!r}.",
                hint=f"List them with: shipyard artifacts list {run_id}.",
            )
        return record

    def get_artifact(self, run_id: str, name: str) -> bytes:
        """The verified bytes of one artifact."""
        return self.store.blobs.get_bytes(self._artifact(run_id, name).digest)

    def download_artifacts(self, run_id: str, dest: Path, name: str | None = None) -> list[Path]:
        """Copy one artifact, a folder of them (``name`` as prefix) or all into ``dest``."""
        name = None if name is None else validate_artifact_name(name)
        records = self.list_artifacts(run_id)
        if name is not None:
            records = [r for r in records if r.name == name or r.name.startswith(name + "/")]
            if not records:
                raise NotFound(
                    f"Run {run_id} has no artifact named {name!r}.",
                    hint=f"List them with: shipyard artifacts list {run_id}.",
                )
        dest.mkdir(parents=True, exist_ok=True)
        written = []
        for record in records:
            target = safe_destination(dest, record.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            safe_destination(dest, record.name)  # re-check: mkdir must not have met a new link
            self.store.blobs.copy_to(record.digest, target)
            written.append(target)
        return written
