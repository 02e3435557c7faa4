"""Shipyard's data profiling and model serving, measured against pandas and MLflow.

Run ``.venv/bin/python benchmarks/registry.py``, or add ``--quick`` for a smoke run with small
sizes that prints the tables but leaves RESULTS.md alone.

Why it is built like this:

* Profiling is judged against ``DataFrame.describe(include="all")``: every user already has it,
  so it is the floor a profiler that stores more (quantiles, histograms, top values) must stay
  near. The pandas-to-Arrow conversion Shipyard needs first is timed on its own.
* Serving compares the same scikit-learn pipeline, trained on the same data on both sides,
  registered as ``models:/cancer/1`` and opened in a fresh process, as a serving process would.
  Each side must give the same labels on the whole data set, or the run fails.
* The MLflow side runs in the peer virtualenv that ``tracking.py`` manages, and every
  measurement runs in a fresh interpreter (``_registry_workers.py``) with a fresh workspace.
* Full runs rewrite only the registry section of RESULTS.md (between the markers below), so the
  tracking results next to it survive.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import _results as shared
from _registry_workers import Config
from _results import console, over, shown

from tracking import Results, attempt, ensure_mlflow_peer, git_revision, json_answer, ratio_cell

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_registry_workers.py"
WORK_DIR = HERE / ".work"

PROFILE_TARGET = 3.0  # Shipyard's profile may take at most 3x pandas' describe()
LATENCY_TARGET = 3.0  # MLflow's one-row p50 over Shipyard ONNX's: at least 3x
BACKENDS = ("native", "onnx")
INPUTS = ("dataframe", "dict")
INPUT_NAMES = {"dataframe": "one-row DataFrame", "dict": "one-row dict"}
OUR_LIBRARIES = ("scikit-learn", "skops", "onnxruntime", "skl2onnx", "pandas", "pyarrow", "numpy")
SERVED = (  # backend, tool, name
    ("native", "shipyard", "Shipyard native"),
    ("onnx", "shipyard", "Shipyard ONNX"),
    ("pyfunc", "mlflow", "MLflow pyfunc"),
)


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does, and how long any one worker may take."""

    rows: int
    reps: int
    warmup_calls: int
    latency_calls: int
    latency_seconds: float
    worker_timeout_s: float


FULL = Sizes(
    rows=1_000_000,
    reps=3,
    warmup_calls=20,
    latency_calls=2_000,
    latency_seconds=5.0,
    worker_timeout_s=600,
)
QUICK = Sizes(
    rows=100_000,
    reps=3,
    warmup_calls=20,
    latency_calls=300,
    latency_seconds=1.0,
    worker_timeout_s=300,
)


# -- running workers -------------------------------------------------------------------------
def run_worker(
    python: Path, task: str, config: Config, tool: str, timeout_s: float
) -> dict[str, Any]:
    """Run one task in a fresh interpreter, in its workspace, and return its JSON answer."""
    argv = [str(python), str(WORKER), task, json.dumps(asdict(config))]
    return json_answer(argv, Path(config.workspace), tool, timeout_s, task)


def base_config(sizes: Sizes, workspace: Path) -> Config:
    return Config(
        workspace=str(workspace),
        rows=sizes.rows,
        reps=sizes.reps,
        warmup_calls=sizes.warmup_calls,
        latency_calls=sizes.latency_calls,
        latency_seconds=sizes.latency_seconds,
    )


# -- the measurements ------------------------------------------------------------------------
def measure_profiling(results: Results, sizes: Sizes, python: Path, work_root: Path) -> None:
    """Time and memory of Shipyard's profile and of pandas' describe, each process fresh."""
    console.print(f"[bold]profiling[/bold] ({sizes.rows:,} rows x 25 columns)")
    config = base_config(sizes, work_root / "profiling")
    jobs = [
        ("time", "profile", "profile_time", config),
        ("time", "describe", "describe_time", config),
        ("memory", "profile", "profile_memory", replace(config, memory_op="profile")),
        ("memory", "arrow", "profile_memory", replace(config, memory_op="arrow")),
        ("memory", "describe", "profile_memory", replace(config, memory_op="describe")),
    ]
    for measurement, who, task, job_config in jobs:
        call = functools.partial(
            run_worker, python, task, job_config, "shipyard", sizes.worker_timeout_s
        )
        attempt(results, measurement, who, call)
    timed = results.get("time", "profile")
    if timed is not None and timed["problems"]:
        results.errors.append(f"Shipyard's profile disagrees with pandas: {timed['problems']}")


def measure_models(
    results: Results, sizes: Sizes, pythons: dict[str, Path], work_root: Path
) -> None:
    """Log and register the model on each side, then load and serve it in fresh processes."""
    console.print("[bold]models[/bold] (log + register, then load + one-row predict)")
    for tool in ("shipyard", "mlflow"):
        config = base_config(sizes, work_root / f"{tool}-models")
        logged = functools.partial(
            run_worker, pythons[tool], f"{tool}_log", config, tool, sizes.worker_timeout_s
        )
        attempt(results, "log", tool, logged)
        if results.get("log", tool) is None:
            results.errors.append(f"{tool} serve: skipped, logging the model crashed")
            continue
        backends = BACKENDS if tool == "shipyard" else ("pyfunc",)
        for backend in backends:
            served = functools.partial(
                run_worker,
                pythons[tool],
                f"{tool}_serve",
                replace(config, backend=backend),
                tool,
                sizes.worker_timeout_s,
            )
            attempt(results, f"serve-{backend}", tool, served)


def check_labels(results: Results) -> None:
    """Every backend must label the full data set as the freshly trained models did."""
    found: dict[str, list[int]] = {}
    for tool, name in (
        ("shipyard", "Shipyard's trained model"),
        ("mlflow", "MLflow's trained model"),
    ):
        logged = results.get("log", tool)
        if logged is not None:
            found[name] = logged["expected"]
    if not found:
        return
    expected = next(iter(found.values()))
    problems: list[str] = []
    for backend, tool, name in SERVED:
        served = results.get(f"serve-{backend}", tool)
        if served is None:
            continue
        found[name] = served["labels"]
        for kind, labels in served["row_labels"].items():
            if labels != expected[:1]:
                problems.append(f"{name}, {INPUT_NAMES[kind]}: label {labels}, not {expected[:1]}")
    for name, labels in found.items():
        wrong = sum(a != b for a, b in zip(labels, expected, strict=False))
        wrong += abs(len(labels) - len(expected))
        if wrong:
            problems.append(f"{name}: {wrong} of {len(expected)} labels differ")
    results.errors.extend(problems)
    if not problems:
        results.notes.append(
            f"Labels on all {len(expected)} rows agree: {', '.join(found)}; "
            "one-row answers agree too."
        )


# -- the tables ------------------------------------------------------------------------------
Row = tuple[str, ...]  # the measurement first, the target last
PROFILING_HEADERS = ("measurement", "Shipyard", "pandas", "ratio", "target")
SERVING_HEADERS = (
    "measurement",
    "Shipyard native",
    "Shipyard ONNX",
    "MLflow pyfunc",
    "MLflow / native",
    "MLflow / ONNX",
    "target",
)


def verdict(ratio: float | None, met: bool) -> str:
    return "not measured" if ratio is None else ("met" if met else "MISSED")


def profiling_rows(results: Results, sizes: Sizes) -> list[Row]:
    shipyard, pandas = results.get("time", "profile"), results.get("time", "describe")
    profile_s = None if shipyard is None else shipyard["profile_s"]
    convert_s = None if shipyard is None else shipyard["convert_s"]
    both_s = None if shipyard is None else shipyard["profile_s"] + shipyard["convert_s"]
    describe_s = None if pandas is None else pandas["describe_s"]
    ratio = over(profile_s, describe_s)
    met = ratio is not None and ratio <= PROFILE_TARGET
    converted = "crashed" if both_s is None else f"{both_s:.3f} s (conversion {convert_s:.3f} s)"
    return [
        (
            f"a. profile {sizes.rows:,} rows x 25 columns (median of {sizes.reps})",
            seconds_cell(profile_s, "`profile_table`: "),
            seconds_cell(describe_s, '`describe(include="all")`: '),
            ratio_cell(ratio),
            f"<= {PROFILE_TARGET:g}x: {verdict(ratio, met)}",
        ),
        (
            "b. the same, plus the pandas to Arrow conversion",
            converted,
            seconds_cell(describe_s),
            ratio_cell(over(both_s, describe_s)),
            "-",
        ),
        memory_row(results),
    ]


def seconds_cell(seconds: float | None, what: str = "", digits: int = 3) -> str:
    return "crashed" if seconds is None else f"{what}{seconds:.{digits}f} s"


def memory_row(results: Results) -> Row:
    profile, arrow, pandas = (
        results.get("memory", who) for who in ("profile", "arrow", "describe")
    )
    ours = None
    ours_cell = "crashed"
    if profile is not None and arrow is not None:
        ours = profile["extra_mb"] + arrow["extra_mb"]
        ours_cell = f"{profile['extra_mb']:.1f} MB (+ {arrow['extra_mb']:.1f} MB Arrow table)"
    theirs = None if pandas is None else pandas["extra_mb"]
    theirs_cell = "crashed" if theirs is None else f"{theirs:.1f} MB"
    label = "c. extra peak memory of one call"
    return (label, ours_cell, theirs_cell, ratio_cell(over(ours, theirs)), "-")


def serving_rows(results: Results) -> list[Row]:
    served = {backend: results.get(f"serve-{backend}", "shipyard") for backend in BACKENDS}
    mlflow = results.get("serve-pyfunc", "mlflow")
    return [
        log_row(results),
        load_row('e. `load_model("models:/cancer/1")`', served, mlflow, False),
        load_row("f. fresh process: import + load", served, mlflow, True),
        latency_row("g", "dataframe", served, mlflow),
        latency_row("h", "dict", served, mlflow),
    ]


def log_row(results: Results) -> Row:
    shipyard, mlflow = results.get("log", "shipyard"), results.get("log", "mlflow")
    ours = None if shipyard is None else shipyard["log_register_s"]
    theirs = None if mlflow is None else mlflow["log_register_s"]
    onnx = "crashed"
    if shipyard is not None:
        onnx = "same call (ONNX verified)" if shipyard["onnx"] else "no ONNX form stored"
    return (
        "d. log + register",
        seconds_cell(ours, digits=2),
        onnx,
        seconds_cell(theirs, digits=2),
        ratio_cell(over(theirs, ours)),
        "same",
        "-",
    )


def load_row(
    label: str,
    served: dict[str, dict[str, Any] | None],
    mlflow: dict[str, Any] | None,
    with_import: bool,
) -> Row:
    def seconds(answer: dict[str, Any] | None) -> float | None:
        if answer is None:
            return None
        return answer["load_s"] + (answer["import_s"] if with_import else 0.0)

    ours = [seconds(served[backend]) for backend in BACKENDS]
    theirs = seconds(mlflow)
    cells = ["crashed" if s is None else f"{s * 1000:,.0f} ms" for s in (*ours, theirs)]
    return (label, *cells, *(ratio_cell(over(theirs, s)) for s in ours), "-")


def latency_row(
    letter: str,
    kind: str,
    served: dict[str, dict[str, Any] | None],
    mlflow: dict[str, Any] | None,
) -> Row:
    """Shipyard's p50/p99 on ``kind``; MLflow's pyfunc takes only DataFrames, so that's its."""
    ours = [None if served[b] is None else served[b]["latency"][kind] for b in BACKENDS]
    theirs = None if mlflow is None else mlflow["latency"]["dataframe"]
    ratios = [over(p50(theirs), p50(answer)) for answer in ours]
    onnx = ratios[BACKENDS.index("onnx")]
    met = onnx is not None and onnx >= LATENCY_TARGET
    mlflow_cell = latency_cell(theirs) if kind == "dataframe" else "DataFrame only: row g"
    return (
        f"{letter}. predict, {INPUT_NAMES[kind]}: p50 / p99",
        *(latency_cell(answer) for answer in ours),
        mlflow_cell,
        *(ratio_cell(ratio) for ratio in ratios),
        f">= {LATENCY_TARGET:g}x vs ONNX: {verdict(onnx, met)}",
    )


def p50(answer: dict[str, Any] | None) -> float | None:
    return None if answer is None else float(answer["p50_us"])


def latency_cell(answer: dict[str, Any] | None) -> str:
    if answer is None:
        return "crashed"
    cut = f" (time bound: {answer['calls']:,} calls)" if answer["bounded"] else ""
    return f"{answer['p50_us']:,.0f} / {answer['p99_us']:,.0f} µs{cut}"


# -- RESULTS.md ------------------------------------------------------------------------------
def machine_facts(
    results: Results, mlflow_version: str, loads: tuple[float, float]
) -> dict[str, str]:
    """What a reader needs to judge whether these numbers apply to their machine."""
    from shipyard import __version__ as shipyard_version

    peer = (results.get("log", "mlflow") or {}).get("versions", {})
    ours = {name: shared.installed(name) for name in OUR_LIBRARIES}
    return {
        **shared.machine_basics(loads),
        "Shipyard": f"{shipyard_version} ({git_revision()})",
        "Shipyard's environment": ", ".join(f"{name} {version}" for name, version in ours.items()),
        "MLflow": f"{mlflow_version} (SQLite tracking backend), with scikit-learn "
        f"{peer.get('scikit-learn', '?')}, pandas {peer.get('pandas', '?')}",
    }


def section_markdown(
    results: Results, sizes: Sizes, facts: dict[str, str], command: str, seconds: float
) -> str:
    notes = [*results.notes, *results.errors]
    parts = [
        *shared.heading("# Registry benchmark: profiling and model serving", command, seconds),
        "## Profiling: Shipyard vs pandas `describe()`",
        "",
        *shared.markdown_table(PROFILING_HEADERS, profiling_rows(results, sizes)),
        "",
        "ratio: Shipyard / pandas (time or memory; lower is better). The frame is seeded: 12 "
        "float64 columns with 2% NaN, 8 int64, 5 strings with 50 distinct values each.",
        "",
        "## Model load and one-row predict: Shipyard vs MLflow",
        "",
        *shared.markdown_table(SERVING_HEADERS, serving_rows(results)),
        "",
        "ratio: MLflow / Shipyard (how many times faster Shipyard is; predict rows compare "
        f"p50). Predict: p50 / p99 of up to {sizes.latency_calls:,} calls (at most "
        f"{sizes.latency_seconds:g} s) after {sizes.warmup_calls} warm-up calls. The model: "
        "`Pipeline(StandardScaler, LogisticRegression(max_iter=1000))` on scikit-learn's "
        "breast-cancer data (569 rows x 30 float columns), registered as `models:/cancer/1` "
        "and opened in a fresh process. MLflow's pyfunc takes a DataFrame, so its one-row "
        "DataFrame figure is compared with both Shipyard inputs. "
        "See README.md for the method.",
    ]
    return shared.with_machine_and_notes(parts, facts, notes)


def add_notes(results: Results) -> None:
    """Say in words what the tables compress: memory method, dtypes, bounds, peer versions."""
    timed = results.get("time", "profile")
    if timed is not None:
        results.notes.append(
            f"Profile times per call: {fmt_list(timed['profile_all_s'])} s; conversion "
            f"{fmt_list(timed['convert_all_s'])} s; pandas dtypes {', '.join(timed['dtypes'])}."
        )
    pandas = results.get("time", "describe")
    if pandas is not None:
        results.notes.append(f"describe() times per call: {fmt_list(pandas['describe_all_s'])} s.")
    memory = results.get("memory", "profile")
    if memory is not None:
        results.notes.append(
            f"Memory: resident high-water mark above the level just before the call "
            f"({memory['method']}), each operation in its own fresh process."
        )
    for backend, tool, name in SERVED:
        served = results.get(f"serve-{backend}", tool)
        if served is None:
            continue
        for kind, answer in served["latency"].items():
            if answer["bounded"]:
                results.notes.append(
                    f"{name}, {INPUT_NAMES[kind]}: stopped at the time bound after "
                    f"{answer['calls']:,} calls."
                )


def fmt_list(values: Sequence[float]) -> str:
    return ", ".join(f"{value:.3f}" for value in values)


# -- main ------------------------------------------------------------------------------------
def main(argv: Sequence[str]) -> int:
    run = shared.begin(__file__, shared.parse_args(argv, __doc__), ensure_mlflow_peer)
    mlflow_python, mlflow_version = run.peer
    sizes = QUICK if run.args.quick else FULL
    work_root = WORK_DIR / f"registry-{dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
    pythons = {"shipyard": Path(sys.executable), "mlflow": mlflow_python}
    results = Results()
    measure_profiling(results, sizes, pythons["shipyard"], work_root)
    measure_models(results, sizes, pythons, work_root)
    check_labels(results)
    add_notes(results)
    shared.print_table(
        "Profiling (ratio = Shipyard / pandas, lower is better)",
        PROFILING_HEADERS,
        profiling_rows(results, sizes),
        shared.judged_by_target,
    )
    shared.print_table(
        "Serving (ratio = MLflow / Shipyard, higher is better)",
        SERVING_HEADERS,
        serving_rows(results),
        shared.judged_by_target,
    )
    return run.finish(
        "registry",
        results,
        lambda command, seconds: section_markdown(
            results, sizes, machine_facts(results, mlflow_version, run.loads()), command, seconds
        ),
        kept=f"Workspaces kept for inspection: {shown(work_root)}",
        remove=[work_root],
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
