"""Fill one tool's store with the UI benchmark's runs (or explain its searches), run in that
tool's own interpreter.

``python _ui_workers.py fill|plans shipyard|mlflow CONFIG_JSON`` answers one JSON object on its
last line of stdout. Shipyard's side runs in the project's virtualenv (``SHIPYARD_HOME`` names the
workspace), MLflow's in the peer virtualenv, so this file imports only the standard library at
the top and each tool inside its own function. ``ui.py`` imports the data definitions
(:func:`run_specs`, the expected answers) from here, so both stores and the checks agree.

Both fills write, per run, what that tool's own logging path writes, but many runs per
transaction: creating 100,000 runs one call at a time takes minutes on Shipyard's side and
hours on MLflow's (see the tracking benchmark), and creation is not what is measured here.

* Shipyard: one ``store.db.write`` transaction per batch inserts the ``runs`` rows
  (``TrackingService.create_run``'s columns, the process environment included), ``params`` and
  ``tags``, and the metric values go through the metric writer's own ``write_metric_rows``
  (packed history chunks plus ``latest_metrics``).
* MLflow: the experiment is created by ``SqlAlchemyStore`` (which also creates the schema); the
  rows of ``runs``, ``params``, ``tags`` (the four system tags MLflow's client adds, plus the
  user tag), ``metrics`` and ``latest_metrics`` are inserted through MLflow's own table
  definitions (``mlflow.store.tracking.dbmodels.models``), with the values its client writes
  (checked against a run made by ``mlflow.start_run`` in ``--quick`` development).
"""

from __future__ import annotations

import functools
import json
import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

EXPERIMENT = "ui-bench"
SEED = 20_241_105
GENERATOR_VERSION = 1  # bump when the runs change: cached stores are then rebuilt
BASE_MS = 1_735_689_600_000  # 2025-01-01 00:00 UTC: the first run's start time
START_GAP_MS = 60_000  # one run a minute, so start times never tie
BATCH = 2_000  # runs per transaction
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
STAGES = ("dev", "staging", "prod")
PAGE_SIZE = 50
FILTER_BELOW = 0.5  # the filtered variant: metrics.loss < 0.5, by metrics.loss ascending


@dataclass(frozen=True)
class Config:
    workspace: str
    n_runs: int
    seed: int = SEED


@dataclass(frozen=True)
class RunSpec:
    """One run, the same on both sides: 5 params, 3 metrics (one value each), 1 tag."""

    name: str
    start_ms: int
    end_ms: int
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


def run_specs(seed: int, count: int) -> Iterator[RunSpec]:
    rng = random.Random(seed)
    for index in range(count):
        start_ms = BASE_MS + index * START_GAP_MS
        yield RunSpec(
            name=f"run-{index:06d}",
            start_ms=start_ms,
            end_ms=start_ms + rng.randint(1_000, 50_000),
            params={
                "lr": f"{10 ** rng.uniform(-4, -1):.6f}",
                "depth": str(rng.randint(2, 12)),
                "optimizer": rng.choice(OPTIMIZERS),
                "batch_size": str(rng.choice((32, 64, 128, 256))),
                "seed": str(rng.randint(0, 999_999)),
            },
            metrics={"loss": rng.random(), "accuracy": rng.random(), "f1": rng.random()},
            tags={"stage": rng.choice(STAGES)},
        )


def expected_names(seed: int, count: int) -> dict[str, list[str]]:
    """The first page of each query, computed from the specs without any store.

    ``latest``: newest start time first. ``filtered``: loss < 0.5, lowest loss first.
    """
    specs = list(run_specs(seed, count))
    latest = [spec.name for spec in sorted(specs, key=lambda s: -s.start_ms)[:PAGE_SIZE]]
    matching = [spec for spec in specs if spec.metrics["loss"] < FILTER_BELOW]
    matching.sort(key=lambda spec: spec.metrics["loss"])
    return {"latest": latest, "filtered": [spec.name for spec in matching[:PAGE_SIZE]]}


def batches(config: Config) -> Iterator[list[RunSpec]]:
    batch: list[RunSpec] = []
    for spec in run_specs(config.seed, config.n_runs):
        batch.append(spec)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


# -- Shipyard --------------------------------------------------------------------------------
def fill_shipyard(config: Config) -> dict[str, Any]:
    from sqlalchemy.engine import Connection

    from shipyard.core.ids import new_id
    from shipyard.store._schema import params, runs, tags
    from shipyard.tracking import close_workspaces, tracking_service
    from shipyard.tracking._environment import capture_environment
    from shipyard.tracking._records import RunStatus
    from shipyard.tracking._writer import MetricRow, write_metric_rows

    service = tracking_service()
    experiment_id = service.get_or_create_experiment(EXPERIMENT)
    env = capture_environment()
    started = time.perf_counter()
    for batch in batches(config):
        ids = [new_id() for _ in batch]

        def work(conn: Connection, batch: list[RunSpec] = batch, ids: list[str] = ids) -> None:
            conn.execute(
                runs.insert(),
                [
                    {
                        "id": run_id,
                        "experiment_id": experiment_id,
                        "parent_id": None,
                        "name": spec.name,
                        "status": RunStatus.FINISHED,
                        "error": None,
                        "start_ms": spec.start_ms,
                        "end_ms": spec.end_ms,
                        **env,
                    }
                    for run_id, spec in zip(ids, batch, strict=True)
                ],
            )
            conn.execute(
                params.insert(),
                [
                    {"run_id": run_id, "key": key, "value": value}
                    for run_id, spec in zip(ids, batch, strict=True)
                    for key, value in spec.params.items()
                ],
            )
            conn.execute(
                tags.insert(),
                [
                    {"run_id": run_id, "key": key, "value": value}
                    for run_id, spec in zip(ids, batch, strict=True)
                    for key, value in spec.tags.items()
                ],
            )
            rows: list[MetricRow] = [
                (run_id, key, value, 0, spec.end_ms)
                for run_id, spec in zip(ids, batch, strict=True)
                for key, value in spec.metrics.items()
            ]
            write_metric_rows(conn, rows)

        service.store.db.write(work)
    seconds = time.perf_counter() - started
    first = service.search_runs(EXPERIMENT, limit=1).runs
    close_workspaces()  # checkpoints the WAL, so the cached store is one file
    return {"seconds": seconds, "newest": first[0].name if first else None}


# -- MLflow ----------------------------------------------------------------------------------
def fill_mlflow(config: Config) -> dict[str, Any]:
    import uuid

    from mlflow.store.tracking.dbmodels.models import (
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
        SqlTag,
    )
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    workspace = config.workspace
    store = SqlAlchemyStore(f"sqlite:///{workspace}/mlflow.db", f"{workspace}/mlruns")
    experiment_id = store.create_experiment(EXPERIMENT)
    artifact_location = store.get_experiment(experiment_id).artifact_location
    user = "bench"
    started = time.perf_counter()
    for batch in batches(config):
        ids = [uuid.uuid4().hex for _ in batch]
        pairs = list(zip(ids, batch, strict=True))
        system_tags = {
            "mlflow.user": user,
            "mlflow.source.name": "train.py",
            "mlflow.source.type": "LOCAL",
        }
        with store.engine.begin() as conn:
            conn.execute(
                SqlRun.__table__.insert(),
                [
                    {
                        "run_uuid": run_id,
                        "name": spec.name,
                        "source_type": "UNKNOWN",
                        "source_name": "",
                        "entry_point_name": "",
                        "user_id": user,
                        "status": "FINISHED",
                        "start_time": spec.start_ms,
                        "end_time": spec.end_ms,
                        "source_version": "",
                        "lifecycle_stage": "active",
                        "artifact_uri": f"{artifact_location}/{run_id}/artifacts",
                        "experiment_id": int(experiment_id),
                        "deleted_time": None,
                    }
                    for run_id, spec in pairs
                ],
            )
            conn.execute(
                SqlParam.__table__.insert(),
                [
                    {"run_uuid": run_id, "key": key, "value": value}
                    for run_id, spec in pairs
                    for key, value in spec.params.items()
                ],
            )
            conn.execute(
                SqlTag.__table__.insert(),
                [
                    {"run_uuid": run_id, "key": key, "value": value}
                    for run_id, spec in pairs
                    for key, value in {
                        **system_tags,
                        "mlflow.runName": spec.name,
                        **spec.tags,
                    }.items()
                ],
            )
            metric_rows = [
                {
                    "run_uuid": run_id,
                    "key": key,
                    "value": value,
                    "timestamp": spec.end_ms,
                    "step": 0,
                    "is_nan": False,
                }
                for run_id, spec in pairs
                for key, value in spec.metrics.items()
            ]
            conn.execute(SqlMetric.__table__.insert(), metric_rows)
            conn.execute(SqlLatestMetric.__table__.insert(), metric_rows)
    seconds = time.perf_counter() - started
    newest = store.search_runs([experiment_id], "", 1, max_results=1)
    store.engine.dispose()
    return {
        "seconds": seconds,
        "experiment_id": str(experiment_id),
        "newest": newest[0].info.run_name if newest else None,
    }


# -- query plans ---------------------------------------------------------------------------
# The two searches the benchmark times, as each tool's Python API takes them.
SEARCHES = {"latest": (None, None), "filtered": (f"metrics.loss < {FILTER_BELOW}", "loss")}


class _Captured(Exception):
    """Stops a search once its main SELECT is captured: only the plan is wanted."""


def main_select_plan(engine: Any, search: Callable[[], object]) -> dict[str, Any]:
    """The first ``SELECT ... FROM runs`` that ``search()`` sends, and SQLite's plan for it.

    The statement is explained with the parameters it is sent with (bound, as the tools send
    them: SQLite plans some joins differently for literals), and never run.
    """
    from sqlalchemy import event

    found: dict[str, Any] = {}

    def hook(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if found or not re.match(r"\s*SELECT\b", statement, re.IGNORECASE):
            return
        if not re.search(r"\bFROM runs\b", statement):
            return
        found["sql"] = " ".join(statement.split())
        found["parameters"] = [repr(p) for p in (parameters or ())]
        plan = cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
        found["plan"] = [str(row[-1]) for row in plan]
        raise _Captured

    event.listen(engine, "before_cursor_execute", hook)
    try:
        search()
    except Exception:
        if not found:
            raise
    finally:
        event.remove(engine, "before_cursor_execute", hook)
    return found


def plans_shipyard(config: Config) -> dict[str, Any]:
    from shipyard.tracking import tracking_service

    service = tracking_service()
    plans = {}
    for name, (filter_text, key) in SEARCHES.items():
        order = [f"metrics.{key} asc"] if key else None
        plans[name] = main_select_plan(
            service.store.db.engine,
            functools.partial(service.search_runs, EXPERIMENT, filter_text, order, PAGE_SIZE),
        )
    return {"plans": plans}


def plans_mlflow(config: Config) -> dict[str, Any]:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    workspace = config.workspace
    store = SqlAlchemyStore(f"sqlite:///{workspace}/mlflow.db", f"{workspace}/mlruns")
    experiment_id = store.get_experiment_by_name(EXPERIMENT).experiment_id
    plans = {}
    for name, (filter_text, key) in SEARCHES.items():
        order = [f"metrics.{key} ASC"] if key else ["attributes.start_time DESC"]
        plans[name] = main_select_plan(
            store.engine,
            functools.partial(
                store.search_runs,
                [experiment_id],
                filter_text or "",
                1,  # ViewType.ACTIVE_ONLY, as the REST call's default
                max_results=PAGE_SIZE,
                order_by=order,
            ),
        )
    return {"plans": plans}


TASKS = {
    ("fill", "shipyard"): fill_shipyard,
    ("fill", "mlflow"): fill_mlflow,
    ("plans", "shipyard"): plans_shipyard,
    ("plans", "mlflow"): plans_mlflow,
}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or (argv[0], argv[1]) not in TASKS:
        print("usage: _ui_workers.py fill|plans shipyard|mlflow CONFIG_JSON", file=sys.stderr)
        return 2
    config = Config(**json.loads(argv[2]))
    answer = TASKS[(argv[0], argv[1])](config)
    # The last stdout line is the answer; libraries may print before it.
    print(json.dumps({"config": asdict(config), **answer}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
