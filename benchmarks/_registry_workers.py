"""One registry-benchmark measurement, run in a fresh interpreter, answered as JSON on stdout.

``python _registry_workers.py TASK CONFIG_JSON``. The profiling and ``shipyard_*`` tasks run in
the project's virtualenv, the ``mlflow_*`` tasks in the MLflow peer virtualenv, so this file
imports only the standard library at the top and each library inside the task that needs it.

Why a fresh interpreter for each task: a profile that follows another one reuses its allocator
pools and warm caches, and a model loaded in a process that has already imported the ML stack
loads faster than it would in a serving process that starts cold.
"""

from __future__ import annotations

import gc
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SEED = 20_240_601
MODEL_NAME = "cancer"
MODEL_URI = f"models:/{MODEL_NAME}/1"
FLOAT_COLUMNS = 12
INT_COLUMNS = 8
STRING_COLUMNS = 5
STRING_DISTINCT = 50
NAN_RATE = 0.02


@dataclass(frozen=True)
class Config:
    """What the parent asks of a worker."""

    workspace: str
    rows: int = 1_000_000
    reps: int = 3
    warmup_calls: int = 20
    latency_calls: int = 2_000
    latency_seconds: float = 5.0
    memory_op: str = "profile"
    backend: str = "native"
    seed: int = SEED


# -- the profiling frame ---------------------------------------------------------------------
def make_frame(rows: int, seed: int) -> Any:
    """A seeded table shaped like a typical training set: floats with gaps, ints, categories.

    String columns are built from object arrays and left to pandas to type, so they get the
    dtype a user's frame would get (pandas 3: the pyarrow-backed ``str``).
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(FLOAT_COLUMNS):
        values = rng.normal(loc=i, scale=1 + i, size=rows)
        values[rng.random(rows) < NAN_RATE] = np.nan
        columns[f"f{i}"] = values
    for i in range(INT_COLUMNS):
        columns[f"i{i}"] = rng.integers(0, 10 ** (1 + i % 6), size=rows, dtype=np.int64)
    for i in range(STRING_COLUMNS):
        labels = np.array([f"s{i}_value_{v:02d}" for v in range(STRING_DISTINCT)], dtype=object)
        columns[f"s{i}"] = labels[rng.integers(0, STRING_DISTINCT, size=rows)]
    return pd.DataFrame(columns)


def median_seconds(call: Callable[[], Any], reps: int) -> tuple[float, list[float], Any]:
    """Median wall time of ``reps`` calls, every time, and the last call's result."""
    times, result = [], None
    for _ in range(reps):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def profile_time(config: Config) -> dict[str, Any]:
    """Shipyard's profile of the frame, and the pandas-to-Arrow conversion it needs first."""
    import pyarrow as pa

    from shipyard.data._profile import profile_table

    frame = make_frame(config.rows, config.seed)

    def convert() -> Any:
        return pa.Table.from_pandas(frame, preserve_index=False)

    convert_s, convert_all, table = median_seconds(convert, config.reps)
    profile_s, profile_all, profile = median_seconds(lambda: profile_table(table), config.reps)
    return {
        "convert_s": convert_s,
        "convert_all_s": convert_all,
        "profile_s": profile_s,
        "profile_all_s": profile_all,
        "problems": profile_problems(frame, profile),
        "dtypes": sorted({str(dtype) for dtype in frame.dtypes}),
    }


def profile_problems(frame: Any, profile: Any) -> list[str]:
    """Where the profile disagrees with pandas: a fast profile of the wrong numbers is no win."""
    import math

    problems = []
    if profile.num_rows != len(frame) or list(profile.columns) != list(frame.columns):
        problems.append(f"profile covers {profile.num_rows} rows, columns {list(profile.columns)}")
    for name, column in profile.columns.items():
        series = frame[name]
        missing = int(series.isna().sum())
        if column.missing != missing:
            problems.append(f"{name}: {column.missing} missing, pandas counts {missing}")
        if name.startswith(("f", "i")):  # make_frame's float and int columns
            expected = float(series.mean())
            if column.mean is None or not math.isclose(column.mean, expected, rel_tol=1e-9):
                problems.append(f"{name}: mean {column.mean}, pandas says {expected}")
        elif column.distinct != series.nunique():
            problems.append(f"{name}: {column.distinct} distinct, pandas counts {series.nunique()}")
    return problems


def describe_time(config: Config) -> dict[str, Any]:
    """pandas' own summary of the same frame: the floor a profiler is judged against."""
    frame = make_frame(config.rows, config.seed)
    seconds, every, summary = median_seconds(lambda: frame.describe(include="all"), config.reps)
    return {"describe_s": seconds, "describe_all_s": every, "summary_shape": list(summary.shape)}


# -- memory ----------------------------------------------------------------------------------
def peak_extra_mb(call: Callable[[], Any]) -> tuple[float, str]:
    """How far resident memory rose above its level before ``call``, in MB, and how measured.

    Linux lets a process reset its own high-water mark (``/proc/self/clear_refs``), which
    measures exactly this call; without that, the lifetime ``ru_maxrss`` is the fallback, and it
    under-reports when building the frame peaked higher than the call does.
    """
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = call()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        del result
        return (after - before) / 1024, "ru_maxrss delta"
    before = status_kb("VmRSS")
    result = call()
    peak = status_kb("VmHWM")
    del result
    return (peak - before) / 1024, "VmHWM after clear_refs"


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def profile_memory(config: Config) -> dict[str, Any]:
    """Extra memory of one operation on a freshly built frame (``config.memory_op``)."""
    import pyarrow as pa

    frame = make_frame(config.rows, config.seed)
    if config.memory_op == "describe":
        extra, method = peak_extra_mb(lambda: frame.describe(include="all"))
    elif config.memory_op == "arrow":
        extra, method = peak_extra_mb(lambda: pa.Table.from_pandas(frame, preserve_index=False))
    elif config.memory_op == "profile":
        from shipyard.data._profile import profile_table

        table = pa.Table.from_pandas(frame, preserve_index=False)
        extra, method = peak_extra_mb(lambda: profile_table(table))
    else:
        raise ValueError(f"unknown memory op {config.memory_op!r}")
    return {"extra_mb": extra, "method": method, "rss_mb": status_kb("VmRSS") / 1024}


# -- the model -------------------------------------------------------------------------------
def training_data() -> tuple[Any, Any]:
    from sklearn.datasets import load_breast_cancer

    features, labels = load_breast_cancer(return_X_y=True, as_frame=True)
    return features, labels


def train_model(features: Any, labels: Any) -> Any:
    """The same pipeline on both sides; lbfgs on scaled data is deterministic."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    model = Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression(max_iter=1000))])
    return model.fit(features, labels)


def library_versions(*names: str) -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def shipyard_log(config: Config) -> dict[str, Any]:
    """Log and register the model in a fresh workspace (``SHIPYARD_HOME``, set by the parent)."""
    import shipyard as sy

    features, labels = training_data()
    model = train_model(features, labels)
    start = time.perf_counter()
    with sy.start_run() as run:
        ref = run.log_model(model, "model", input_example=features.head(5))
    logged_s = time.perf_counter() - start
    version = sy.register_model(ref, MODEL_NAME)
    return {
        "log_s": logged_s,
        "log_register_s": time.perf_counter() - start,
        "version": int(version.version),
        "onnx": bool(ref.has_onnx),
        "expected": [int(label) for label in model.predict(features)],
        "versions": library_versions("scikit-learn", "skops", "onnxruntime", "skl2onnx"),
    }


def mlflow_log(config: Config) -> dict[str, Any]:
    """The same model through MLflow (tracking URI and telemetry set by the parent's env)."""
    import mlflow
    import mlflow.sklearn

    features, labels = training_data()
    model = train_model(features, labels)
    start = time.perf_counter()
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", input_example=features.head(5))
    logged_s = time.perf_counter() - start
    version = mlflow.register_model(info.model_uri, MODEL_NAME)
    return {
        "log_s": logged_s,
        "log_register_s": time.perf_counter() - start,
        "version": int(version.version),
        "expected": [int(label) for label in model.predict(features)],
        "versions": library_versions("mlflow", "scikit-learn", "pandas"),
    }


# -- loading and serving ---------------------------------------------------------------------
def latency_us(call: Callable[[], Any], config: Config) -> dict[str, Any]:
    """p50/p99 of one call in microseconds, after a warm-up; bounded by count and by time."""
    for _ in range(config.warmup_calls):
        call()
    times: list[float] = []
    deadline = time.perf_counter() + config.latency_seconds
    while len(times) < config.latency_calls and time.perf_counter() < deadline:
        start = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - start) / 1000)
    cuts = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else times * 99
    return {
        "p50_us": statistics.median(times),
        "p99_us": cuts[98],
        "calls": len(times),
        "bounded": len(times) < config.latency_calls,
    }


def one_row_inputs(features: Any) -> dict[str, Any]:
    """The first row as a DataFrame and as the plain dict a JSON request body decodes to."""
    return {
        "dataframe": features.iloc[[0]],
        "dict": {name: float(value) for name, value in features.iloc[0].items()},
    }


def serve(
    load: Callable[[], Any], predict: Callable[[Any, Any], Any], inputs: list[str], config: Config
) -> dict[str, Any]:
    """Load once (timed), check the labels on the full data set, then time one-row calls."""
    start = time.perf_counter()
    model = load()
    load_s = time.perf_counter() - start
    features, _ = training_data()
    labels = [int(label) for label in predict(model, features)]
    rows = one_row_inputs(features)
    answer: dict[str, Any] = {"load_s": load_s, "labels": labels, "latency": {}, "row_labels": {}}
    for kind in inputs:
        row = rows[kind]
        answer["latency"][kind] = latency_us(lambda row=row: predict(model, row), config)
        answer["row_labels"][kind] = [int(label) for label in predict(model, row)]
    return answer


def shipyard_serve(config: Config) -> dict[str, Any]:
    start = time.perf_counter()
    import shipyard as sy

    import_s = time.perf_counter() - start
    answer = serve(
        lambda: sy.load_model(MODEL_URI, backend=config.backend),
        lambda model, data: model.predict(data),
        ["dataframe", "dict"],
        config,
    )
    return {"import_s": import_s, **answer}


def mlflow_serve(config: Config) -> dict[str, Any]:
    start = time.perf_counter()
    import mlflow
    import mlflow.pyfunc

    import_s = time.perf_counter() - start
    answer = serve(
        lambda: mlflow.pyfunc.load_model(MODEL_URI),
        lambda model, data: model.predict(data),
        ["dataframe"],  # pyfunc takes a DataFrame; a dict of scalars is not a documented input
        config,
    )
    return {"import_s": import_s, **answer}


TASKS: dict[str, Callable[[Config], dict[str, Any]]] = {
    "profile_time": profile_time,
    "describe_time": describe_time,
    "profile_memory": profile_memory,
    "shipyard_log": shipyard_log,
    "mlflow_log": mlflow_log,
    "shipyard_serve": shipyard_serve,
    "mlflow_serve": mlflow_serve,
}


def main(argv: list[str]) -> int:
    task, raw = argv
    config = Config(**json.loads(raw))
    answer = TASKS[task](config)
    print(json.dumps({"task": task, "config": asdict(config), **answer}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
