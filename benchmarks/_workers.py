"""One measurement of one tracking tool, run in a fresh interpreter, answered as JSON on stdout.

``python _workers.py TOOL MEASUREMENT CONFIG_JSON`` where TOOL is ``shipyard`` or ``mlflow``.
Shipyard's worker runs in the project's virtualenv, MLflow's in the peer virtualenv, so this file
imports only the standard library at the top and each tool inside its own functions.

Both tools get the same data (seeded), the same loop shape and the same time bound, so the only
difference between two answers is the tool. Every timing covers durable writes: Shipyard's
includes ``run.flush()``; MLflow's default (synchronous) logging commits on every call.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

EXPERIMENT = "bench"
SEARCH_EXPERIMENT = "search"
SEARCH_FILTER = "metrics.m0 > 0.5"
SEARCH_ORDER_KEY = "metrics.m1"
ONE_AT_A_TIME_CHUNK = 100  # values logged between two looks at the clock
SEED = 20_240_601  # the same metric values and runs on both sides


@dataclass(frozen=True)
class Config:
    """What the parent asks of a worker; the same for both tools."""

    workspace: str
    n_values: int = 100_000
    batch_keys: int = 1_000
    n_runs: int = 2_000
    search_limit: int = 100
    search_reps: int = 20
    time_limit_s: float = 20.0
    seed: int = SEED

    @property
    def batch_steps(self) -> int:
        return self.n_values // self.batch_keys


@dataclass(frozen=True)
class RunSpec:
    """One run of the search data set: identical on both sides, so results can be compared."""

    name: str
    params: dict[str, str]
    metrics: dict[str, float]


def metric_values(seed: int, count: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.random() for _ in range(count)]


def run_specs(seed: int, count: int) -> list[RunSpec]:
    rng = random.Random(seed)
    return [
        RunSpec(
            name=f"run-{index:05d}",
            params={f"p{k}": str(rng.randint(0, 999)) for k in range(5)},
            metrics={f"m{k}": rng.random() for k in range(5)},
        )
        for index in range(count)
    ]


def expected_search_names(specs: list[RunSpec], limit: int) -> list[str]:
    """What ``SEARCH_FILTER`` ordered by m1 descending must return, computed without a store."""
    matching = [spec for spec in specs if spec.metrics["m0"] > 0.5]
    matching.sort(key=lambda spec: spec.metrics["m1"], reverse=True)
    return [spec.name for spec in matching[:limit]]


def bounded_loop(
    total: int,
    chunk: int,
    limit_s: float,
    work: Callable[[int, int], None],
    finish: Callable[[], None],
) -> dict[str, Any]:
    """Run ``work(start, stop)`` over ``range(total)`` in chunks until done or out of time.

    The tool's own tight loop lives in ``work``, so the harness costs one clock read per chunk
    and nothing per value. ``finish`` (e.g. a flush) is inside the timing: only durable counts.
    """
    start = time.perf_counter()
    deadline = start + limit_s
    done = 0
    while done < total and time.perf_counter() < deadline:
        stop = min(done + chunk, total)
        work(done, stop)
        done = stop
    finish()
    seconds = time.perf_counter() - start
    return {
        "count": done,
        "total": total,
        "seconds": seconds,
        "per_s": done / seconds if seconds else 0.0,
        "bounded": done < total,
    }


def fill_for_search(
    result: dict[str, Any], work: Callable[[int, int], None], config: Config
) -> dict[str, Any]:
    """Create the runs a time bound cut off, untimed, so both searches see the same store.

    The fill has its own bound (twice the timed one); ``stored`` says how far it got.
    """
    rest = bounded_loop(
        config.n_runs - result["count"],
        1,
        2 * config.time_limit_s,
        lambda start, stop: work(result["count"] + start, result["count"] + stop),
        _nothing,
    )
    return {**result, "stored": result["count"] + rest["count"]}


def median_ms(call: Callable[[], list[str]], reps: int) -> tuple[float, list[str]]:
    """Median wall time of ``call`` after one untimed warm-up, and what the warm-up returned."""
    names = call()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), names


def _nothing() -> None:
    pass


# -- Shipyard --------------------------------------------------------------------------------
def shipyard_setup() -> None:
    """Open the workspace and create the experiments, so no timing includes the migrations."""
    from shipyard.tracking import tracking_service

    service = tracking_service()
    service.get_or_create_experiment(EXPERIMENT)
    service.get_or_create_experiment(SEARCH_EXPERIMENT)


def shipyard_one_at_a_time(config: Config) -> dict[str, Any]:
    import shipyard as sy

    shipyard_setup()
    values = metric_values(config.seed, config.n_values)
    with sy.start_run(experiment=EXPERIMENT, name="one-at-a-time") as run:

        def work(start: int, stop: int) -> None:
            for step in range(start, stop):
                run.log_metric("loss", values[step], step=step)

        return bounded_loop(
            config.n_values, ONE_AT_A_TIME_CHUNK, config.time_limit_s, work, run.flush
        )


def shipyard_batches(config: Config) -> dict[str, Any]:
    import shipyard as sy

    shipyard_setup()
    values = metric_values(config.seed, config.n_values)
    keys = [f"k{index:04d}" for index in range(config.batch_keys)]
    with sy.start_run(experiment=EXPERIMENT, name="batches") as run:

        def work(start: int, stop: int) -> None:
            for step in range(start, stop):
                offset = step * config.batch_keys
                run.log_metrics(
                    {key: values[offset + index] for index, key in enumerate(keys)}, step=step
                )

        result = bounded_loop(config.batch_steps, 1, config.time_limit_s, work, run.flush)
    return _steps_to_values(result, config.batch_keys)


def shipyard_create_runs(config: Config) -> dict[str, Any]:
    import shipyard as sy

    shipyard_setup()
    specs = run_specs(config.seed, config.n_runs)

    def work(start: int, stop: int) -> None:
        for spec in specs[start:stop]:
            with sy.start_run(experiment=SEARCH_EXPERIMENT, name=spec.name) as run:
                run.log_params(spec.params)
                run.log_metrics(spec.metrics)

    return fill_for_search(
        bounded_loop(config.n_runs, 1, config.time_limit_s, work, _nothing), work, config
    )


def shipyard_search(config: Config) -> dict[str, Any]:
    import shipyard as sy

    def search() -> list[str]:
        page = sy.search_runs(
            SEARCH_EXPERIMENT,
            filter=SEARCH_FILTER,
            order_by=[f"{SEARCH_ORDER_KEY} desc"],
            limit=config.search_limit,
        )
        return [run.name for run in page.runs]

    ms, names = median_ms(search, config.search_reps)
    return {"median_ms": ms, "reps": config.search_reps, "rows": len(names), "names": names}


# -- MLflow ----------------------------------------------------------------------------------
def mlflow_setup(config: Config, experiment: str) -> str:
    """Point MLflow at the workspace's SQLite file and create the experiment (migrations)."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{config.workspace}/mlflow.db")
    return str(mlflow.set_experiment(experiment).experiment_id)


def mlflow_one_at_a_time(config: Config) -> dict[str, Any]:
    import mlflow

    mlflow_setup(config, EXPERIMENT)
    values = metric_values(config.seed, config.n_values)
    with mlflow.start_run(run_name="one-at-a-time"):

        def work(start: int, stop: int) -> None:
            for step in range(start, stop):
                mlflow.log_metric("loss", values[step], step=step)

        return bounded_loop(
            config.n_values, ONE_AT_A_TIME_CHUNK, config.time_limit_s, work, _nothing
        )


def mlflow_batches(config: Config) -> dict[str, Any]:
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    mlflow_setup(config, EXPERIMENT)
    values = metric_values(config.seed, config.n_values)
    keys = [f"k{index:04d}" for index in range(config.batch_keys)]
    client = MlflowClient()
    with mlflow.start_run(run_name="batches") as active:
        run_id = active.info.run_id

        def work(start: int, stop: int) -> None:
            for step in range(start, stop):
                offset = step * config.batch_keys
                stamp = int(time.time() * 1000)
                metrics = [
                    Metric(key, values[offset + index], stamp, step)
                    for index, key in enumerate(keys)
                ]
                client.log_batch(run_id, metrics=metrics)

        result = bounded_loop(config.batch_steps, 1, config.time_limit_s, work, _nothing)
    return _steps_to_values(result, config.batch_keys)


def mlflow_create_runs(config: Config) -> dict[str, Any]:
    import mlflow

    mlflow_setup(config, SEARCH_EXPERIMENT)
    specs = run_specs(config.seed, config.n_runs)

    def work(start: int, stop: int) -> None:
        for spec in specs[start:stop]:
            with mlflow.start_run(run_name=spec.name):
                mlflow.log_params(spec.params)
                mlflow.log_metrics(spec.metrics)

    return fill_for_search(
        bounded_loop(config.n_runs, 1, config.time_limit_s, work, _nothing), work, config
    )


def mlflow_search(config: Config) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient

    experiment_id = mlflow_setup(config, SEARCH_EXPERIMENT)
    client = MlflowClient()

    def search() -> list[str]:
        found = client.search_runs(
            [experiment_id],
            filter_string=SEARCH_FILTER,
            order_by=[f"{SEARCH_ORDER_KEY} DESC"],
            max_results=config.search_limit,
        )
        return [run.info.run_name for run in found]

    ms, names = median_ms(search, config.search_reps)
    return {"median_ms": ms, "reps": config.search_reps, "rows": len(names), "names": names}


# -- entry point -----------------------------------------------------------------------------
def _steps_to_values(result: dict[str, Any], keys: int) -> dict[str, Any]:
    """Batch loops count steps; report values, like the one-at-a-time measurement."""
    count, total = result["count"] * keys, result["total"] * keys
    return {**result, "count": count, "total": total, "per_s": count / result["seconds"]}


MEASUREMENTS: dict[tuple[str, str], Callable[[Config], dict[str, Any]]] = {
    ("shipyard", "one_at_a_time"): shipyard_one_at_a_time,
    ("shipyard", "batches"): shipyard_batches,
    ("shipyard", "create_runs"): shipyard_create_runs,
    ("shipyard", "search"): shipyard_search,
    ("mlflow", "one_at_a_time"): mlflow_one_at_a_time,
    ("mlflow", "batches"): mlflow_batches,
    ("mlflow", "create_runs"): mlflow_create_runs,
    ("mlflow", "search"): mlflow_search,
}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or (argv[0], argv[1]) not in MEASUREMENTS:
        known = ", ".join(f"{tool} {name}" for tool, name in MEASUREMENTS)
        print(f"usage: _workers.py TOOL MEASUREMENT CONFIG_JSON  ({known})", file=sys.stderr)
        return 2
    config = Config(**json.loads(argv[2]))
    result = MEASUREMENTS[(argv[0], argv[1])](config)
    # The last stdout line is the answer; libraries may print before it.
    print(json.dumps({"config": asdict(config), **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
