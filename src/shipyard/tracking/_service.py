"""Tracking as a service over a workspace's stores: experiments, runs and what they log.

Everything that touches the database or the artifact store for tracking goes through here;
the user-facing :class:`~shipyard.tracking.Run` and the CLI are thin layers on top.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shipyard.core.errors import Conflict, InvalidInput, NotFound
from shipyard.core.ids import new_id
from shipyard.store import Store
from shipyard.store._schema import experiments as experiments_table
from shipyard.store._schema import latest_metrics, metric_chunks, params, runs, tags
from shipyard.tracking import _search
from shipyard.tracking._artifacts import ArtifactsMixin
from shipyard.tracking._chunks import unpack_chunk
from shipyard.tracking._environment import capture_environment
from shipyard.tracking._records import (
    ExperimentRecord,
    MetricPoint,
    RunPage,
    RunRecord,
    RunStatus,
)
from shipyard.tracking._sql import chunked, insert_for, now_ms, require_run
from shipyard.tracking._writer import MetricWriter

_RUN_ID_PREFIX = re.compile(r"[0-9A-HJKMNP-TV-Z]{6,26}")  # Crockford base32, as ids are made

__all__ = ["TrackingService"]


class TrackingService(ArtifactsMixin):
    """Experiments, runs, params, metrics, tags and artifacts of one workspace."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._writer: MetricWriter | None = None
        self._writer_pid = 0
        self._lock = threading.Lock()
        self._experiment_cache: dict[str, int] = {}  # experiments are never renamed or deleted

    # -- metric writer ---------------------------------------------------------------------
    @property
    def writer(self) -> MetricWriter:
        """This process's metric writer (a forked child gets its own)."""
        if self._writer is None or self._writer_pid != os.getpid():
            with self._lock:
                if self._writer is None or self._writer_pid != os.getpid():
                    self._writer = MetricWriter(self.store.db)
                    self._writer_pid = os.getpid()
                    atexit.register(self._writer.close)
        return self._writer

    def flush(self) -> None:
        """Make every metric value logged so far durable."""
        if self._writer is not None and self._writer_pid == os.getpid():
            self._writer.flush()

    def close(self) -> None:
        """Write pending metrics, stop the writer and release database connections."""
        try:
            if self._writer is not None and self._writer_pid == os.getpid():
                self._writer.close()
                atexit.unregister(self._writer.close)
        finally:
            self._writer = None
            self.store.close()

    # -- experiments -----------------------------------------------------------------------
    def get_or_create_experiment(self, name: str) -> int:
        if name in self._experiment_cache:
            return self._experiment_cache[name]
        select = sa.select(experiments_table.c.id).where(experiments_table.c.name == name)

        def create(conn: Connection) -> int:
            stmt = insert_for(conn, experiments_table).values(name=name, created_ms=now_ms())
            conn.execute(stmt.on_conflict_do_nothing(index_elements=[experiments_table.c.name]))
            return int(conn.execute(select).scalar_one())

        found = self.store.db.read(lambda conn: conn.execute(select).scalar_one_or_none())
        self._experiment_cache[name] = (
            int(found) if found is not None else self.store.db.write(create)
        )
        return self._experiment_cache[name]

    def list_experiments(self) -> list[ExperimentRecord]:
        counts = (
            sa.select(runs.c.experiment_id, sa.func.count().label("n"))
            .group_by(runs.c.experiment_id)
            .subquery()
        )
        query = (
            sa.select(experiments_table, sa.func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.experiment_id == experiments_table.c.id)
            .order_by(experiments_table.c.name)
        )
        rows = self.store.db.read(lambda conn: conn.execute(query).all())
        return [ExperimentRecord(r.id, r.name, r.created_ms, int(r[-1])) for r in rows]

    def _experiment_ids(self, conn: Connection, names: Sequence[str]) -> dict[int, str]:
        found = dict(
            conn.execute(
                sa.select(experiments_table.c.id, experiments_table.c.name).where(
                    experiments_table.c.name.in_(names)
                )
            ).all()
        )
        missing = sorted(set(names) - set(found.values()))
        if missing:
            known = conn.execute(sa.select(experiments_table.c.name).limit(20)).scalars().all()
            raise NotFound(
                f"No experiment named {', '.join(map(repr, missing))}.",
                hint=f"Known experiments: {', '.join(known) or 'none yet'}.",
            )
        return found

    # -- runs ------------------------------------------------------------------------------
    def create_run(
        self,
        experiment: str,
        name: str | None = None,
        *,
        parent_id: str | None = None,
        initial_tags: Mapping[str, str] | None = None,
    ) -> RunRecord:
        """Record a new RUNNING run (and its first tags) in one transaction."""
        experiment_id = self.get_or_create_experiment(experiment)
        run_id = new_id()
        env = capture_environment()
        record = RunRecord(
            id=run_id,
            experiment=experiment,
            name=name or f"run-{run_id[-6:].lower()}",
            status=RunStatus.RUNNING,
            start_ms=now_ms(),
            end_ms=None,
            parent_id=parent_id,
            tags=dict(initial_tags or {}),
            environment=env,
        )

        def work(conn: Connection) -> None:
            if parent_id is not None:
                require_run(conn, parent_id)
            conn.execute(
                runs.insert().values(
                    id=run_id,
                    experiment_id=experiment_id,
                    parent_id=parent_id,
                    name=record.name,
                    status=record.status,
                    start_ms=record.start_ms,
                    **env,
                )
            )
            if record.tags:
                conn.execute(
                    tags.insert(),
                    [{"run_id": run_id, "key": k, "value": v} for k, v in record.tags.items()],
                )

        self.store.db.write(work)
        return record

    def end_run(
        self, run_id: str, status: str = RunStatus.FINISHED, error: str | None = None
    ) -> None:
        """Mark a run ended; metrics logged before are flushed first."""
        if status not in RunStatus.ENDED:
            raise InvalidInput(
                f"Invalid end status {status!r}.", hint=f"Use one of {', '.join(RunStatus.ENDED)}."
            )
        self.flush()
        self.store.db.write(
            lambda conn: conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(status=status, end_ms=now_ms(), error=error)
            )
        )

    def log_params(self, run_id: str, values: Mapping[str, str]) -> None:
        """Params are write-once: logging a key again with another value is a conflict."""
        if not values:
            return

        def work(conn: Connection) -> None:
            stmt = insert_for(conn, params).on_conflict_do_nothing(
                index_elements=[params.c.run_id, params.c.key]
            )
            conn.execute(
                stmt, [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()]
            )
            stored = dict(
                conn.execute(
                    sa.select(params.c.key, params.c.value).where(
                        params.c.run_id == run_id, params.c.key.in_(list(values))
                    )
                ).all()
            )
            changed = {k: (stored[k], v) for k, v in values.items() if stored.get(k) != v}
            if changed:
                key, (old, new) = next(iter(changed.items()))
                raise Conflict(
                    f"Param {key!r} of run {run_id} is already {old!r}; "
                    f"cannot change it to {new!r}.",
                    hint="Params are immutable: start a new run, or log it as a tag or metric.",
                )

        self._write_to_run(run_id, work)

    def set_tags(self, run_id: str, values: Mapping[str, str]) -> None:
        if not values:
            return

        def work(conn: Connection) -> None:
            stmt = insert_for(conn, tags)
            stmt = stmt.on_conflict_do_update(
                index_elements=[tags.c.run_id, tags.c.key], set_={"value": stmt.excluded.value}
            )
            conn.execute(
                stmt, [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()]
            )

        self._write_to_run(run_id, work)

    def _write_to_run(self, run_id: str, work: Callable[[Connection], None]) -> None:
        def checked(conn: Connection) -> None:
            require_run(conn, run_id)
            work(conn)

        self.store.db.write(checked)

    def resolve_run_id(self, run_id: str) -> str:
        """Accept a full id or a unique prefix of at least 6 characters."""
        prefix = run_id.strip().upper() if isinstance(run_id, str) else ""
        if not _RUN_ID_PREFIX.fullmatch(prefix):
            raise InvalidInput(
                f"Invalid run id {run_id!r}.",
                hint="Give the full 26-character id or a prefix of at least 6 characters.",
            )
        if len(prefix) == 26:
            return prefix
        matches = self.store.db.read(
            lambda conn: (
                conn.execute(
                    sa.select(runs.c.id)
                    .where(runs.c.id.startswith(prefix, autoescape=True))
                    .limit(2)
                )
                .scalars()
                .all()
            )
        )
        if len(matches) == 1:
            return str(matches[0])
        if not matches:
            raise NotFound(
                f"No run id starts with {prefix!r}.", hint="List runs with: shipyard runs list."
            )
        raise InvalidInput(f"Run id prefix {prefix!r} is ambiguous.", hint="Give more characters.")

    def get_run(self, run_id: str) -> RunRecord:
        run_id = self.resolve_run_id(run_id)

        def work(conn: Connection) -> list[RunRecord]:
            rows = conn.execute(sa.select(runs).where(runs.c.id == run_id)).all()
            return self._hydrate(conn, rows)

        found = self.store.db.read(work)
        if not found:
            raise NotFound(
                f"No run with id {run_id!r}.", hint="List runs with: shipyard runs list."
            )
        return found[0]

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every value logged for ``key``, ordered by step (ties in logging order)."""
        run_id = self.resolve_run_id(run_id)
        query = (
            sa.select(metric_chunks.c.steps, metric_chunks.c.timestamps, metric_chunks.c["values"])
            .where(metric_chunks.c.run_id == run_id, metric_chunks.c.key == key)
            .order_by(metric_chunks.c.id)
        )
        chunks = self.store.db.read(lambda conn: conn.execute(query).all())
        return _history(chunks)

    def metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str] | None = None
    ) -> dict[tuple[str, str], list[MetricPoint]]:
        """The histories of several runs and metrics in one read, as :meth:`metric_history` gives
        each: ``(run_id, key)`` to points ordered by step. Run ids are resolved (prefixes too);
        ``keys`` None is every metric; a pair with no value logged is absent."""
        c = metric_chunks.c
        rows = self._metric_rows(
            run_ids, keys, [c.steps, c.timestamps, c["values"]], lambda q: q.order_by(c.id)
        )
        found: dict[tuple[str, str], list[Sequence[bytes]]] = {}
        for run_id, key, *chunk in rows:
            found.setdefault((run_id, key), []).append(chunk)
        return {pair: _history(chunks) for pair, chunks in found.items()}

    def metric_counts(
        self, run_ids: Sequence[str], keys: Sequence[str] | None = None
    ) -> dict[tuple[str, str], int]:
        """How many values each run logged for each metric, without reading the values: what a
        page needs to pick the metrics worth a chart before it reads their histories."""
        c = metric_chunks.c
        rows = self._metric_rows(
            run_ids, keys, [sa.func.sum(c.count)], lambda q: q.group_by(c.run_id, c.key)
        )
        return {(run_id, key): int(count or 0) for run_id, key, count in rows}

    def _metric_rows(
        self,
        run_ids: Sequence[str],
        keys: Sequence[str] | None,
        columns: Sequence[Any],
        finish: Callable[[sa.Select[Any]], sa.Select[Any]],
    ) -> list[Any]:
        """``(run_id, key, *columns)`` rows of the metric chunks of ``run_ids`` (resolved) and
        ``keys`` (None: all), ``finish`` ordering or grouping each query; one read, in chunks of
        ids and keys that a database's parameter limit allows."""
        ids = list(dict.fromkeys(self.resolve_run_id(i) for i in run_ids))
        wanted = None if keys is None else list(dict.fromkeys(keys))
        if not ids or wanted == []:
            return []
        c = metric_chunks.c

        def work(conn: Connection) -> list[Any]:
            rows: list[Any] = []
            for id_chunk in chunked(ids):
                for key_chunk in [None] if wanted is None else chunked(wanted):
                    query = sa.select(c.run_id, c.key, *columns).where(c.run_id.in_(id_chunk))
                    if key_chunk is not None:
                        query = query.where(c.key.in_(key_chunk))
                    rows.extend(conn.execute(finish(query)))
            return rows

        return list(self.store.db.read(work))

    def latest_runs_by_tag(
        self, experiment: str, tag_key: str, with_tags: Mapping[str, str] | None = None
    ) -> list[RunRecord]:
        """The newest run of ``experiment`` for each value of tag ``tag_key`` (runs without it are
        left out), newest first; only runs whose tags have the values in ``with_tags``. One
        query however many runs there are: e.g. the latest monitor run of every target."""

        def work(conn: Connection) -> list[RunRecord]:
            experiment_id = next(iter(self._experiment_ids(conn, [experiment])))
            grouping = tags.alias("grouping")
            rank = (
                sa.func.row_number()
                .over(
                    partition_by=grouping.c.value,
                    order_by=(runs.c.start_ms.desc(), runs.c.id.desc()),
                )
                .label("rank")
            )
            ranked = (
                sa.select(runs.c.id, rank)
                .join(grouping, sa.and_(grouping.c.run_id == runs.c.id, grouping.c.key == tag_key))
                .where(runs.c.experiment_id == experiment_id)
            )
            for key, value in (with_tags or {}).items():
                matching = sa.select(tags.c.run_id).where(
                    tags.c.run_id == runs.c.id, tags.c.key == key, tags.c.value == value
                )
                ranked = ranked.where(matching.exists())
            newest = ranked.subquery()
            query = (
                sa.select(runs)
                .join(newest, newest.c.id == runs.c.id)
                .where(newest.c.rank == 1)
                .order_by(runs.c.start_ms.desc(), runs.c.id.desc())
            )
            return self._hydrate(conn, conn.execute(query).all())

        return list(self.store.db.read(work))

    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int = 100,
        page_token: str | None = None,
    ) -> RunPage:
        """Runs of the given experiments (all when None) matching ``filter``, one page."""
        limit = _search.validate_limit(limit)
        offset = _search.decode_page_token(page_token)
        names = [experiment] if isinstance(experiment, str) else experiment

        def work(conn: Connection) -> list[RunRecord]:
            if names is None:
                ids = list(conn.execute(sa.select(experiments_table.c.id)).scalars())
            else:
                ids = list(self._experiment_ids(conn, list(names)))
            query = _search.build_search_query(ids, filter, order_by, limit + 1, offset)
            return self._hydrate(conn, conn.execute(query).all())

        found = self.store.db.read(work)
        token = _search.encode_page_token(offset + limit) if len(found) > limit else None
        return RunPage(found[:limit], token)

    def _hydrate(self, conn: Connection, rows: Sequence[Any]) -> list[RunRecord]:
        """Attach params, latest metrics, tags and experiment names to run rows in bulk."""
        ids = [row.id for row in rows]
        by_run: dict[str, dict[str, dict[str, Any]]] = {
            i: {"params": {}, "metrics": {}, "tags": {}} for i in ids
        }
        for chunk in chunked(ids):
            for kind, table, column in (
                ("params", params, params.c.value),
                ("tags", tags, tags.c.value),
                ("metrics", latest_metrics, latest_metrics.c.value),
            ):
                query = sa.select(table.c.run_id, table.c.key, column).where(
                    table.c.run_id.in_(chunk)
                )
                for run_id, key, value in conn.execute(query):
                    by_run[run_id][kind][key] = _float(value) if kind == "metrics" else value
        names = dict(
            conn.execute(
                sa.select(experiments_table.c.id, experiments_table.c.name).where(
                    experiments_table.c.id.in_({row.experiment_id for row in rows})
                )
            ).all()
        )
        return [
            RunRecord(
                id=row.id,
                experiment=names[row.experiment_id],
                name=row.name,
                status=row.status,
                start_ms=row.start_ms,
                end_ms=row.end_ms,
                parent_id=row.parent_id,
                error=row.error,
                params=by_run[row.id]["params"],
                metrics=by_run[row.id]["metrics"],
                tags=by_run[row.id]["tags"],
                environment={
                    "git_commit": row.git_commit,
                    "git_dirty": row.git_dirty,
                    "python_version": row.python_version,
                    "packages": row.packages or {},
                    "host": row.host,
                    "user": row.user,
                },
            )
            for row in rows
        ]


def _history(chunks: Iterable[Sequence[bytes]]) -> list[MetricPoint]:
    """The points of one run's metric from its chunks (steps, timestamps, values) in writing
    order: ordered by step, same-step values in the order they were logged."""
    points = [point for chunk in chunks for point in unpack_chunk(*chunk)]
    points.sort(key=lambda point: point[0])  # stable: same-step values keep their order
    return [MetricPoint(step, value, stamp) for step, value, stamp in points]


def _float(value: float | None) -> float:
    return float("nan") if value is None else float(value)
