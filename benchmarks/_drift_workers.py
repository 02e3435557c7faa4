"""One drift-benchmark measurement, run in a fresh interpreter, answered as JSON on stdout.

``python _drift_workers.py generate CONFIG_JSON`` writes the seeded reference and current data
sets to Parquet (Shipyard's virtualenv); ``python _drift_workers.py TOOL CONFIG_JSON`` loads them
and times one drift detection by TOOL: ``shipyard`` and ``floor`` (numpy/scipy) in Shipyard's
virtualenv, ``evidently`` in the Evidently peer virtualenv. So this file imports only the
standard library at the top, and each library inside the task that needs it.

Why a fresh interpreter for each measurement: the peak resident memory of a process is then that
of one tool's detection, and no tool finds the allocator pools or caches another one warmed.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import platform
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

SEED = 20_241_204
GENERATOR_VERSION = 1  # bump when the data below changes, so cached Parquet files are rebuilt

# 20 numeric columns: ten normal, four log-normal, three exponential, three integer counts.
NORMAL = [f"n{i:02d}" for i in range(10)]
LOGNORMAL = [f"n{i:02d}" for i in range(10, 14)]
EXPONENTIAL = [f"n{i:02d}" for i in range(14, 17)]
COUNTS = [f"n{i:02d}" for i in range(17, 20)]
NUMERIC = [*NORMAL, *LOGNORMAL, *EXPONENTIAL, *COUNTS]
# 5 categorical (string) columns with 3 to 50 categories, Zipf-like frequencies.
CATEGORY_COUNTS = {"c0": 3, "c1": 8, "c2": 15, "c3": 30, "c4": 50}
CATEGORICAL = list(CATEGORY_COUNTS)
# The planted drift: mean shifts in reference standard deviations, and one categorical column
# whose two most frequent categories trade frequencies. Every other column keeps its
# distribution (the current side is a fresh sample of it).
MEAN_SHIFTS = {"n03": 0.3, "n08": 0.4, "n12": 0.5}
SWAPPED_CATEGORIES = "c2"
PLANTED = sorted([*MEAN_SHIFTS, SWAPPED_CATEGORIES])
P_VALUE = 0.05  # the floor's significance level


@dataclass(frozen=True)
class Config:
    """What the parent asks of a worker."""

    data_dir: str
    rows: int
    seed: int = SEED


# -- the data ----------------------------------------------------------------------------------
def data_paths(config: Config) -> tuple[Path, Path]:
    folder = Path(config.data_dir)
    return folder / "reference.parquet", folder / "current.parquet"


def generate(config: Config) -> dict[str, Any]:
    """Write both sides to Parquet; plain Arrow types, so each pandas reads them its own way."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    started = time.perf_counter()
    folder = Path(config.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for side, path in zip((0, 1), data_paths(config), strict=True):
        table = pa.table(make_columns(config.rows, config.seed, current=side == 1))
        pq.write_table(table, path)
    sizes = {path.name: path.stat().st_size for path in data_paths(config)}
    return {"seconds": time.perf_counter() - started, "bytes": sizes}


def make_columns(rows: int, seed: int, current: bool) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng([seed, int(current)])
    columns: dict[str, Any] = {}
    stds: dict[str, float] = {}
    for i, name in enumerate(NORMAL):
        loc, scale = 2.0 * i, 1.0 + 0.5 * i
        columns[name], stds[name] = rng.normal(loc, scale, rows), scale
    for k, name in enumerate(LOGNORMAL):
        sigma = 0.5 + 0.1 * k
        columns[name] = rng.lognormal(0.0, sigma, rows)
        stds[name] = float(np.sqrt((np.exp(sigma**2) - 1) * np.exp(sigma**2)))
    for k, name in enumerate(EXPONENTIAL):
        scale = 1.0 + k
        columns[name], stds[name] = rng.exponential(scale, rows), scale
    for lam, name in zip((5, 20, 50), COUNTS, strict=True):
        columns[name] = rng.poisson(lam, rows).astype(np.int64)
    if current:
        for name, shift in MEAN_SHIFTS.items():
            columns[name] = columns[name] + shift * stds[name]
    for name, count in CATEGORY_COUNTS.items():
        weights = 1.0 / np.arange(1, count + 1)
        weights /= weights.sum()
        if current and name == SWAPPED_CATEGORIES:
            weights[[0, 1]] = weights[[1, 0]]
        codes = rng.choice(count, size=rows, p=weights).astype(np.int32)
        labels = pa.array([f"{name}_{v:02d}" for v in range(count)], type=pa.string())
        columns[name] = pa.DictionaryArray.from_arrays(codes, labels).cast(pa.string())
    return columns


def load(config: Config) -> tuple[Any, Any]:
    import pandas as pd

    reference, current = (pd.read_parquet(path) for path in data_paths(config))
    return reference, current


# -- memory ------------------------------------------------------------------------------------
def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def max_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def settle_memory() -> None:
    """Hand back what loading left free (Arrow's pool, malloc's arenas) before the baseline."""
    gc.collect()
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # glibc only
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def reset_peak() -> bool:
    """Reset the resident high-water mark (and with it ``ru_maxrss``) to the current level.

    Linux only (``/proc/self/clear_refs``); without it ``ru_maxrss`` stays the lifetime peak,
    which includes loading the data.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measured(
    call: Callable[[Any, Any], dict[str, Any]], config: Config, tool: str
) -> dict[str, Any]:
    """Load both sides, then time ``call(reference, current)`` and its peak memory."""
    import pandas as pd

    started = time.perf_counter()
    reference, current = load(config)
    load_s = time.perf_counter() - started
    settle_memory()
    load_peak_kb = max_rss_kb()
    rss_after_load_kb = status_kb("VmRSS")
    was_reset = reset_peak()
    start = time.perf_counter()
    answer = call(reference, current)
    seconds = time.perf_counter() - start
    peak_kb = max_rss_kb()
    return {
        "tool": tool,
        "rows": config.rows,
        "seconds": seconds,
        "load_s": load_s,
        "rss_after_load_mb": rss_after_load_kb / 1024,
        "peak_mb": peak_kb / 1024,
        "extra_mb": (peak_kb - rss_after_load_kb) / 1024,
        "load_peak_mb": load_peak_kb / 1024,
        "lifetime_peak_mb": max(peak_kb, load_peak_kb) / 1024,
        "peak_reset": was_reset,
        "dtypes": sorted({str(dtype) for dtype in reference.dtypes}),
        "frame_mb": sum(int(frame.memory_usage(deep=True).sum()) for frame in (reference, current))
        / 2**20,
        "pandas": pd.__version__,
        **answer,
    }


# -- the tools ---------------------------------------------------------------------------------
def shipyard(config: Config) -> dict[str, Any]:
    from shipyard.monitor import detect_drift

    def call(reference: Any, current: Any) -> dict[str, Any]:
        report = detect_drift(reference, current)
        return {
            "drifted": sorted(report.drifted_columns),
            "scores": {f.column: f.statistic for f in report.features},
            "methods": {f.column: f"{f.method.value} ({f.kind})" for f in report.features},
        }

    return measured(call, config, "shipyard")


def floor(config: Config) -> dict[str, Any]:
    """numpy/scipy only: ``ks_2samp`` per numeric column, ``chi2_contingency`` per categorical."""
    import numpy as np
    import pandas as pd
    from scipy import stats

    def call(reference: Any, current: Any) -> dict[str, Any]:
        pvalues = {}
        for name in NUMERIC:
            result = stats.ks_2samp(reference[name].to_numpy(), current[name].to_numpy())
            pvalues[name] = float(result.pvalue)
        for name in CATEGORICAL:
            counts = pd.concat(
                [reference[name].value_counts(), current[name].value_counts()], axis=1
            ).fillna(0)
            table = np.ascontiguousarray(counts.to_numpy(dtype=np.float64).T)
            pvalues[name] = float(stats.chi2_contingency(table).pvalue)
        return {
            "drifted": sorted(name for name, p in pvalues.items() if p < P_VALUE),
            "scores": pvalues,
            "methods": {
                **dict.fromkeys(NUMERIC, "ks_2samp p-value"),
                **dict.fromkeys(CATEGORICAL, "chi2_contingency p-value"),
            },
        }

    return measured(call, config, "floor")


def evidently(config: Config) -> dict[str, Any]:
    """Evidently's ``DataDriftPreset`` with its defaults; the column kinds declared up front.

    Evidently is imported before the data is loaded, so only the detection is timed.
    """
    if evidently_is_new():
        return measured(evidently_report(), config, "evidently")
    return measured(evidently_legacy_report("evidently"), config, "evidently")


def evidently_legacy(config: Config) -> dict[str, Any]:
    """The same preset through Evidently's older API, which 0.7 still ships as ``.legacy``."""
    package = "evidently.legacy" if evidently_is_new() else "evidently"
    return measured(evidently_legacy_report(package), config, "evidently_legacy")


def evidently_is_new() -> bool:
    """True from Evidently 0.7, whose ``Report`` lives in ``evidently`` itself."""
    version = metadata.version("evidently")
    return tuple(int(part) for part in version.split(".")[:2]) >= (0, 7)


def evidently_report() -> Callable[[Any, Any], dict[str, Any]]:
    """Evidently >= 0.7: ``Dataset`` + ``DataDefinition``, ``Report([DataDriftPreset()])``."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    def call(reference: Any, current: Any) -> dict[str, Any]:
        start = time.perf_counter()
        definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
        ref = Dataset.from_pandas(reference, data_definition=definition)
        cur = Dataset.from_pandas(current, data_definition=definition)
        datasets_s = time.perf_counter() - start
        snapshot = Report([DataDriftPreset()]).run(cur, ref)
        run_s = time.perf_counter() - start - datasets_s
        metrics = snapshot.dict()["metrics"]
        drifted, scores, methods, count = [], {}, {}, None
        for metric in metrics:
            kind = metric["config"]["type"]
            if kind.endswith(":DriftedColumnsCount"):
                count = int(metric["value"]["count"])
            elif kind.endswith(":ValueDrift"):
                column, method = metric["config"]["column"], metric["config"]["method"]
                score, threshold = float(metric["value"]), float(metric["config"]["threshold"])
                scores[column], methods[column] = score, method
                # Evidently's rule: a p-value drifts below its threshold, a distance at or
                # above it (``stattests/*.py``).
                if (score < threshold) if "p_value" in method else (score >= threshold):
                    drifted.append(column)
        return {
            "drifted": sorted(drifted),
            "scores": scores,
            "methods": methods,
            "count": count,
            "datasets_s": datasets_s,
            "run_s": run_s,
            "extract_s": time.perf_counter() - start - datasets_s - run_s,
            "api": "Report([DataDriftPreset()]) from evidently / evidently.presets (>= 0.7)",
        }

    return call


def evidently_legacy_report(package: str) -> Callable[[Any, Any], dict[str, Any]]:
    """Evidently < 0.7: ``Report(metrics=[DataDriftPreset()])`` with a ``ColumnMapping``.

    0.7 keeps this API as ``evidently.legacy`` (``package``), which is how this path is tested.
    """
    import importlib

    Report = importlib.import_module(f"{package}.report").Report
    DataDriftPreset = importlib.import_module(f"{package}.metric_preset").DataDriftPreset
    ColumnMapping = importlib.import_module(f"{package}.pipeline.column_mapping").ColumnMapping

    def call(reference: Any, current: Any) -> dict[str, Any]:
        start = time.perf_counter()
        mapping = ColumnMapping(numerical_features=NUMERIC, categorical_features=CATEGORICAL)
        report = Report(metrics=[DataDriftPreset()])
        report.run(reference_data=reference, current_data=current, column_mapping=mapping)
        run_s = time.perf_counter() - start
        results = [m["result"] for m in report.as_dict()["metrics"]]
        by_column = next(r["drift_by_columns"] for r in results if "drift_by_columns" in r)
        counts = [
            r["number_of_drifted_columns"] for r in results if "number_of_drifted_columns" in r
        ]
        return {
            "drifted": sorted(c for c, r in by_column.items() if r["drift_detected"]),
            "scores": {c: float(r["drift_score"]) for c, r in by_column.items()},
            "methods": {c: r["stattest_name"] for c, r in by_column.items()},
            "count": counts[0] if counts else None,
            "datasets_s": 0.0,
            "run_s": run_s,
            "extract_s": time.perf_counter() - start - run_s,
            "api": "Report(metrics=[DataDriftPreset()]) from evidently.report (< 0.7)",
        }

    return call


def versions() -> dict[str, Any]:
    found = {"python": platform.python_version()}
    for name in ("shipyard", "evidently", "pandas", "numpy", "scipy", "pyarrow"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


TASKS: dict[str, Callable[[Config], dict[str, Any]]] = {
    "generate": generate,
    "shipyard": shipyard,
    "floor": floor,
    "evidently": evidently,
    "evidently_legacy": evidently_legacy,
}


def main(argv: list[str]) -> int:
    task = argv[0]
    if task == "versions":
        answer = versions()
    else:
        config = Config(**json.loads(argv[1]))
        answer = {**TASKS[task](config), "config": asdict(config)}
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
