"""Shipyard's drift detection vs Evidently and a numpy/scipy floor, on the same seeded data.

Run ``.venv/bin/python benchmarks/drift.py`` (what ``make bench`` does), or add ``--quick`` for a
smoke run with small sizes that prints the tables but leaves RESULTS.md alone.

Why it is built like this:

* One seeded data set per size (20 numeric + 5 categorical columns, a reference and a current
  side with a planted shift in four columns) is generated once and cached as Parquet under
  ``benchmarks/.work/drift-data``; generation is never timed.
* Every measurement runs in a fresh interpreter (``_drift_workers.py``) that imports its tool,
  loads both frames, releases what loading left free, resets its resident high-water mark and
  only then times one detection: the time and the peak memory are that detection's alone.
* Evidently lives in its own throwaway virtualenv (``benchmarks/.peers/evidently``), so it can
  never change the dependencies Shipyard is tested with. Its ``DataDriftPreset`` runs with its
  defaults, told which columns are categorical, as Shipyard infers them from the dtypes.
* The floor is what anyone could write in a few lines: ``scipy.stats.ks_2samp`` per numeric
  column and ``scipy.stats.chi2_contingency`` per categorical column.
* The tools take turns within each repetition, so a change in the machine's load falls on all
  of them; Evidently is bounded in time, and a bound it hits is reported, not waited for.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _results as shared
from _drift_workers import (
    CATEGORICAL,
    CATEGORY_COUNTS,
    GENERATOR_VERSION,
    MEAN_SHIFTS,
    NUMERIC,
    PLANTED,
    SEED,
    SWAPPED_CATEGORIES,
    Config,
)
from _results import BenchmarkError, Verdicts, console, over, shown

from tracking import fresh_peer_venv, git_revision, json_answer, peer_has_torch, pip_install

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_drift_workers.py"
WORK_DIR = HERE / ".work"
DATA_DIR = WORK_DIR / "drift-data"
PEER_DIR = HERE / ".peers" / "evidently"
STAMP_FILE = PEER_DIR / ".shipyard-bench-installed"

EVIDENTLY_REQUIREMENTS = ("evidently", "pyarrow")  # the latest release; pyarrow reads Parquet
# Only if that evidently does not import with the newest pandas (0.7.x needs pandas < 3).
PANDAS_FALLBACK = "pandas<3"
SHARED_LIBRARIES = ("pandas", "numpy", "scipy", "pyarrow")

TOOLS = ("shipyard", "floor", "evidently")  # the order of turns within a repetition
LEGACY = "evidently_legacy"  # Evidently's older Report API, once per size, for reference
TOOL_NAMES = {
    "shipyard": "Shipyard",
    "floor": "numpy/scipy floor",
    "evidently": "Evidently",
    LEGACY: "Evidently, legacy API",
}
SPEED_TARGET = 10.0  # Evidently's time over Shipyard's, at TARGET_ROWS: at least this
MEMORY_TARGET = 1 / 3  # Shipyard's detection memory over Evidently's: at most this
FLOOR_TARGET = 2.0  # Shipyard's time over the floor's: at most this
TARGET_ROWS = 1_000_000


@dataclass(frozen=True)
class Sizes:
    """Rows per side, processes per tool and size, and how long one process may take."""

    rows: tuple[int, ...]
    reps: int
    worker_timeout_s: float
    evidently_timeout_s: float


FULL = Sizes(rows=(100_000, 1_000_000), reps=3, worker_timeout_s=300, evidently_timeout_s=600)
QUICK = Sizes(rows=(10_000, 50_000), reps=1, worker_timeout_s=120, evidently_timeout_s=300)


# -- the Evidently peer environment ----------------------------------------------------------
def ensure_evidently_peer() -> tuple[Path, dict[str, Any]]:
    """The peer venv's python and what is installed there, installing Evidently on first use."""
    python = PEER_DIR / "bin" / "python"
    if STAMP_FILE.is_file() and python.is_file():
        stamp: dict[str, Any] = json.loads(STAMP_FILE.read_text())
        versions = stamp["versions"]
        print(f"Evidently peer: reusing {shown(PEER_DIR)} (evidently {versions['evidently']})")
        return python, stamp
    started = time.perf_counter()
    python, constraints = fresh_peer_venv(PEER_DIR, "Evidently")
    requirements = list(EVIDENTLY_REQUIREMENTS)
    if not pip_install(python, requirements, constraints):
        raise BenchmarkError("Could not install Evidently into the peer virtualenv.")
    import_error = evidently_import_error(python)
    if import_error:
        print(
            f"Evidently peer: `import evidently` fails ({import_error}); adding {PANDAS_FALLBACK}"
        )
        requirements.append(PANDAS_FALLBACK)
        if not pip_install(python, [PANDAS_FALLBACK], constraints):
            raise BenchmarkError(f"Could not install {PANDAS_FALLBACK} into the Evidently peer.")
        import_error = evidently_import_error(python)
        if import_error:
            raise BenchmarkError(f"Evidently does not import in its peer venv: {import_error}")
    if peer_has_torch(python):
        raise BenchmarkError("torch ended up in the Evidently peer venv; delete it and retry.")
    versions = json_answer(
        [str(python), str(WORKER), "versions"],
        WORK_DIR,
        "evidently",
        60,
        "versions",
        env=tool_env("evidently"),
    )
    seconds = time.perf_counter() - started
    stamp = {"requirements": requirements, "versions": versions, "seconds": seconds}
    STAMP_FILE.write_text(json.dumps(stamp))
    print(f"Evidently peer: evidently {versions['evidently']} installed in {seconds:.0f} s")
    return python, stamp


def evidently_import_error(python: Path) -> str:
    """The last line of the error ``import evidently`` raises in the peer venv, or ''."""
    done = subprocess.run(
        [str(python), "-c", "import evidently.presets"],
        capture_output=True,
        text=True,
        env=tool_env("evidently"),
        check=False,
    )
    lines = done.stderr.strip().splitlines()
    return "" if done.returncode == 0 else (lines[-1] if lines else f"exit {done.returncode}")


# -- data and workers --------------------------------------------------------------------------
def tool_env(tool: str, workspace: Path | None = None) -> dict[str, str]:
    """The caller's environment without anything that could point a tool elsewhere."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SHIPYARD_", "VIRTUAL_ENV"))
    }
    if tool == "shipyard" and workspace is not None:
        env["SHIPYARD_HOME"] = str(workspace)
    if tool.startswith("evidently"):
        env["DO_NOT_TRACK"] = "1"  # Evidently's telemetry switch; there is no network here
    return env


def ensure_data(rows: int, timeout_s: float) -> tuple[Config, dict[str, Any]]:
    """The Parquet files for ``rows`` per side, generated unless the cached ones match."""
    folder = DATA_DIR / f"rows-{rows}"
    config = Config(data_dir=str(folder), rows=rows)
    spec = {"generator": GENERATOR_VERSION, "seed": SEED, "rows": rows}
    spec_file = folder / "spec.json"
    if spec_file.is_file() and json.loads(spec_file.read_text()).get("spec") == spec:
        made: dict[str, Any] = json.loads(spec_file.read_text())
        console.print(f"data: reusing {shown(folder)} ({rows:,} rows per side)")
        return config, {**made, "reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    argv = [sys.executable, str(WORKER), "generate", json.dumps(asdict(config))]
    answer = json_answer(
        argv, DATA_DIR, "shipyard", timeout_s, f"generate {rows:,} rows", env=tool_env("data")
    )
    made = {"spec": spec, "seconds": answer["seconds"], "bytes": answer["bytes"]}
    spec_file.write_text(json.dumps(made))
    console.print(f"data: generated {rows:,} rows per side in {answer['seconds']:.1f} s")
    return config, {**made, "reused": False}


@dataclass
class Results:
    """Every worker answer by size and tool, plus what went wrong."""

    answers: dict[tuple[int, str], list[dict[str, Any]]] = field(
        default_factory=lambda: collections.defaultdict(list)
    )
    bounded: dict[tuple[int, str], float] = field(default_factory=dict)  # the bound it hit
    crashed: set[tuple[int, str]] = field(default_factory=set)
    data: dict[int, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def get(self, rows: int, tool: str) -> list[dict[str, Any]]:
        return self.answers.get((rows, tool), [])


def run_tool(
    results: Results, python: Path, tool: str, config: Config, timeout_s: float, label: str
) -> None:
    """One fresh process: load, detect once; its answer, a hit time bound or a crash recorded."""
    workspace = WORK_DIR / "drift-runs" / tool
    argv = [str(python), str(WORKER), tool, json.dumps(asdict(config))]
    key = (config.rows, tool)
    started = time.perf_counter()
    try:
        answer = json_answer(
            argv,
            workspace,
            tool,
            timeout_s,
            f"{TOOL_NAMES[tool]} at {config.rows:,} rows",
            env=tool_env(tool, workspace),
        )
    except BenchmarkError as exc:
        if isinstance(exc.__cause__, subprocess.TimeoutExpired):
            results.bounded[key] = timeout_s
            console.print(f"  {label}: [yellow]time bound hit[/yellow] ({timeout_s:.0f} s)")
        else:
            results.crashed.add(key)
            results.errors.append(str(exc))
            console.print(f"  {label}: [red]crashed[/red]: {exc}")
        return
    answer["load_1min"] = os.getloadavg()[0]  # other work on the machine skews every figure
    results.answers[key].append(answer)
    console.print(
        f"  {label}: {answer['seconds']:7.2f} s, peak {answer['peak_mb']:6,.0f} MB "
        f"(+{answer['extra_mb']:,.0f} MB over the loaded data), "
        f"flags {', '.join(answer['drifted']) or 'none'}"
        f"  [{time.perf_counter() - started:.0f} s with start-up and loading]"
    )


def measure_all(sizes: Sizes, pythons: dict[str, Path]) -> Results:
    results = Results()
    for rows in sizes.rows:
        try:
            config, results.data[rows] = ensure_data(rows, sizes.worker_timeout_s)
        except (BenchmarkError, OSError, ValueError) as exc:
            results.errors.append(f"generating {rows:,} rows: {exc}")
            continue
        console.print(f"[bold]{rows:,} rows per side[/bold]")
        for rep in range(1, sizes.reps + 1):
            for tool in TOOLS:
                if (rows, tool) in results.bounded or (rows, tool) in results.crashed:
                    continue  # one bound hit (or crash) is the answer; do not wait again
                timeout_s = (
                    sizes.evidently_timeout_s if tool == "evidently" else sizes.worker_timeout_s
                )
                label = f"{TOOL_NAMES[tool]:<21} {rep}/{sizes.reps}"
                run_tool(results, pythons[tool], tool, config, timeout_s, label)
        if (rows, "evidently") not in results.bounded:
            label = f"{TOOL_NAMES[LEGACY]:<21} 1/1"
            run_tool(results, pythons[LEGACY], LEGACY, config, sizes.evidently_timeout_s, label)
    return results


# -- checks -----------------------------------------------------------------------------------
def flagged(results: Results, rows: int, tool: str) -> list[str] | None:
    answers = results.get(rows, tool)
    return answers[0]["drifted"] if answers else None


def check_answers(results: Results, sizes: Sizes) -> None:
    """Shipyard must flag exactly the planted columns; Evidently's own count must match ours."""
    for rows in sizes.rows:
        for tool in (*TOOLS, LEGACY):
            answers = results.get(rows, tool)
            found = {tuple(answer["drifted"]) for answer in answers}
            if len(found) > 1:
                results.errors.append(
                    f"{TOOL_NAMES[tool]} at {rows:,} rows flagged different columns in "
                    f"different processes: {sorted(found)}"
                )
            for answer in answers:
                count = answer.get("count")
                if count is not None and count != len(answer["drifted"]):
                    results.errors.append(
                        f"{TOOL_NAMES[tool]} at {rows:,} rows: its drifted-columns count is "
                        f"{count}, but {len(answer['drifted'])} columns were read as drifted "
                        f"({', '.join(answer['drifted'])}); the benchmark misreads its report."
                    )
        ours = flagged(results, rows, "shipyard")
        if ours is not None and ours != PLANTED:
            results.errors.append(
                f"Shipyard at {rows:,} rows flagged {ours or 'nothing'}, not the planted {PLANTED}."
            )


def difference(ours: list[str] | None, theirs: list[str] | None) -> str:
    """How ``theirs`` differs from ``ours``, in words."""
    if ours is None or theirs is None:
        return "not measured"
    extra = sorted(set(theirs) - set(ours))
    missing = sorted(set(ours) - set(theirs))
    if not extra and not missing:
        return "same columns"
    parts = []
    if extra:
        parts.append(f"also {', '.join(extra)}")
    if missing:
        parts.append(f"not {', '.join(missing)}")
    return "; ".join(parts)


# -- the tables -------------------------------------------------------------------------------
Row = tuple[str, ...]
TIME_HEADERS = (
    "rows per side",
    "Shipyard",
    "Evidently",
    "numpy/scipy floor",
    "Evidently / Shipyard",
    "Shipyard / floor",
    "targets",
)
MEMORY_HEADERS = (
    "rows per side",
    "Shipyard",
    "Evidently",
    "numpy/scipy floor",
    "Shipyard / Evidently",
    "target",
)
FLAG_HEADERS = (
    "rows per side",
    "planted shift",
    "Shipyard",
    "Evidently",
    "numpy/scipy floor",
    "Shipyard vs Evidently",
)


def median_of(results: Results, rows: int, tool: str, key: str) -> float | None:
    answers = results.get(rows, tool)
    return statistics.median(answer[key] for answer in answers) if answers else None


def ratio_text(ratio: float | None, at_least: bool = False) -> str:
    if ratio is None:
        return "-"
    digits = 2 if ratio < 10 else 1
    return f"{'> ' if at_least else ''}{ratio:,.{digits}f}x"


def time_cell(results: Results, rows: int, tool: str) -> str:
    bound = results.bounded.get((rows, tool))
    answers = results.get(rows, tool)
    if not answers:
        if bound is not None:
            return f"time bound hit (> {bound:.0f} s)"
        return "crashed" if (rows, tool) in results.crashed else "not measured"
    seconds = statistics.median(answer["seconds"] for answer in answers)
    spread = f" (median of {len(answers)})" if len(answers) > 1 else ""
    return f"{seconds:,.3f} s{spread}"


def time_rows(results: Results, sizes: Sizes, verdicts: Verdicts) -> list[Row]:
    rows_out: list[Row] = []
    for rows in sizes.rows:
        ours = median_of(results, rows, "shipyard", "seconds")
        floor = median_of(results, rows, "floor", "seconds")
        theirs = median_of(results, rows, "evidently", "seconds")
        bound = results.bounded.get((rows, "evidently"))
        bounded = theirs is None and bound is not None
        speed = over(bound if bounded else theirs, ours)
        to_floor = over(ours, floor)
        speed_text, floor_text = ratio_text(speed, bounded), ratio_text(to_floor)
        targets = "-"
        if rows == TARGET_ROWS:
            speed_state = verdicts.add(
                "speed",
                f"Shipyard >= {SPEED_TARGET:g}x faster than Evidently at {rows:,} rows",
                speed,
                speed is not None and speed >= SPEED_TARGET,
                speed_text,
            )
            floor_state = verdicts.add(
                "floor",
                f"Shipyard within {FLOOR_TARGET:g}x of the numpy/scipy floor at {rows:,} rows",
                to_floor,
                to_floor is not None and to_floor <= FLOOR_TARGET,
                floor_text,
            )
            targets = f">= {SPEED_TARGET:g}x: {speed_state}; <= {FLOOR_TARGET:g}x: {floor_state}"
        rows_out.append(
            (
                f"{rows:,}",
                *(time_cell(results, rows, tool) for tool in ("shipyard", "evidently", "floor")),
                speed_text,
                floor_text,
                targets,
            )
        )
    return rows_out


def memory_cell(results: Results, rows: int, tool: str) -> str:
    extra = median_of(results, rows, tool, "extra_mb")
    if extra is None:
        bound = results.bounded.get((rows, tool))
        if bound is not None:
            return f"time bound hit (> {bound:.0f} s)"
        return "crashed" if (rows, tool) in results.crashed else "not measured"
    peak = median_of(results, rows, tool, "peak_mb")
    loaded = median_of(results, rows, tool, "rss_after_load_mb")
    return f"+{extra:,.0f} MB (peak {peak:,.0f} MB, loaded data {loaded:,.0f} MB)"


def memory_rows(results: Results, sizes: Sizes, verdicts: Verdicts) -> list[Row]:
    rows_out: list[Row] = []
    for rows in sizes.rows:
        ours = median_of(results, rows, "shipyard", "extra_mb")
        theirs = median_of(results, rows, "evidently", "extra_mb")
        ratio = over(ours, theirs)
        totals = over(
            median_of(results, rows, "shipyard", "peak_mb"),
            median_of(results, rows, "evidently", "peak_mb"),
        )
        shown_ratio = ratio_text(ratio)
        if totals is not None:
            shown_ratio += f" (whole peak {ratio_text(totals)})"
        target = "-"
        if rows == TARGET_ROWS:
            state = verdicts.add(
                "memory",
                f"Shipyard's detection memory <= 1/3 of Evidently's at {rows:,} rows",
                ratio,
                ratio is not None and ratio <= MEMORY_TARGET,
                ratio_text(ratio),
            )
            target = f"<= 1/3: {state}"
        rows_out.append(
            (
                f"{rows:,}",
                *(memory_cell(results, rows, tool) for tool in ("shipyard", "evidently", "floor")),
                shown_ratio,
                target,
            )
        )
    return rows_out


def flag_rows(results: Results, sizes: Sizes) -> list[Row]:
    rows_out: list[Row] = []
    for rows in sizes.rows:
        ours = flagged(results, rows, "shipyard")
        cells = []
        for tool in ("shipyard", "evidently", "floor"):
            found = flagged(results, rows, tool)
            if found is None:
                cells.append("not measured")
            elif found == PLANTED:
                cells.append("the planted ones")
            else:
                cells.append(", ".join(found) or "none")
        same = difference(ours, flagged(results, rows, "evidently"))
        same = {"same columns": "same", "not measured": "-"}.get(same, f"Evidently: {same}")
        rows_out.append((f"{rows:,}", ", ".join(PLANTED), *cells, same))
    return rows_out


def verdict_lines(verdicts: Verdicts) -> list[str]:
    keys = {
        "speed": f"Shipyard >= {SPEED_TARGET:g}x faster than Evidently at {TARGET_ROWS:,} rows",
        "memory": f"Shipyard's detection memory <= 1/3 of Evidently's at {TARGET_ROWS:,} rows",
        "floor": f"Shipyard within {FLOOR_TARGET:g}x of the numpy/scipy floor at "
        f"{TARGET_ROWS:,} rows",
    }
    return [verdicts.lines.get(key, f"{words}: not measured") for key, words in keys.items()]


# -- notes ------------------------------------------------------------------------------------
def add_notes(results: Results, sizes: Sizes, stamp: dict[str, Any]) -> None:
    """Say in words what the tables compress."""
    notes = results.notes
    for (rows, tool), bound in results.bounded.items():
        notes.append(
            f"{TOOL_NAMES[tool]} at {rows:,} rows was stopped at its time bound ({bound:.0f} s) "
            "and not repeated: its time is at least that, its memory unknown, and the speed "
            "ratio a lower bound."
        )
    for rows in sizes.rows:
        for tool in (*TOOLS, LEGACY):
            answers = results.get(rows, tool)
            if len(answers) > 1:
                times = ", ".join(f"{a['seconds']:.3f}" for a in answers)
                extra = ", ".join(f"{a['extra_mb']:,.0f}" for a in answers)
                notes.append(
                    f"{TOOL_NAMES[tool]}, {rows:,} rows, each process: {times} s; +{extra} MB."
                )
    add_load_note(results, sizes)
    add_legacy_note(results, sizes)
    add_evidently_notes(results, sizes, stamp)
    add_score_notes(results, sizes)
    add_memory_note(results, sizes)
    for rows in sizes.rows:
        floor = flagged(results, rows, "floor")
        if floor is not None and floor != PLANTED:
            notes.append(
                f"The floor at {rows:,} rows judges by p-value (p < 0.05) at every size: "
                f"{difference(PLANTED, floor)} against the planted shift. At these sample sizes "
                "a p-value test also flags differences too small to matter, and about 1 in 20 "
                "unchanged columns by chance; that is why both tools switch to distances above "
                "1,000 values."
            )


def add_load_note(results: Results, sizes: Sizes) -> None:
    """How busy the machine was: each measurement keeps about one core busy itself."""
    cores = len(os.sched_getaffinity(0))
    parts = []
    for rows in sizes.rows:
        loads = [a["load_1min"] for tool in (*TOOLS, LEGACY) for a in results.get(rows, tool)]
        if loads:
            parts.append(f"{rows:,} rows {min(loads):.1f} to {max(loads):.1f}")
    if parts:
        results.notes.append(
            f"1-minute load average after each measurement: {'; '.join(parts)}. Each "
            f"measurement keeps about one of the {cores} cores busy itself; a load above "
            f"{cores} means other processes competed for the CPU and the times are high."
        )


def add_legacy_note(results: Results, sizes: Sizes) -> None:
    parts = []
    for rows in sizes.rows:
        legacy = median_of(results, rows, LEGACY, "seconds")
        ours = median_of(results, rows, "shipyard", "seconds")
        current = median_of(results, rows, "evidently", "seconds")
        if legacy is None:
            continue
        extra = median_of(results, rows, LEGACY, "extra_mb") or 0.0
        flags = difference(flagged(results, rows, "shipyard"), flagged(results, rows, LEGACY))
        parts.append(
            f"{rows:,} rows: {legacy:.2f} s (+{extra:,.0f} MB; {ratio_text(over(legacy, ours))} "
            f"Shipyard's time, {ratio_text(over(current, legacy))} faster than the current API; "
            f"flags vs Shipyard: {flags})"
        )
    if parts:
        results.notes.append(
            "For reference, Evidently's legacy API (`evidently.legacy.report.Report` with "
            "`evidently.legacy.metric_preset.DataDriftPreset` and a `ColumnMapping`, still "
            "shipped; one process per size, not judged by the targets): " + "; ".join(parts) + "."
        )


def add_evidently_notes(results: Results, sizes: Sizes, stamp: dict[str, Any]) -> None:
    versions = stamp["versions"]
    for rows in sizes.rows:
        answers = results.get(rows, "evidently")
        if not answers:
            continue
        parts = {
            "`Dataset.from_pandas` (both sides)": "datasets_s",
            "`Report.run`": "run_s",
            "reading the results from `snapshot.dict()`": "extract_s",
        }
        shown_parts = ", ".join(
            f"{label} {statistics.median(a[key] for a in answers):.2f} s"
            for label, key in parts.items()
        )
        methods = sorted(set(answers[0]["methods"].values()))
        results.notes.append(
            f"Evidently at {rows:,} rows: {shown_parts}; methods chosen: {', '.join(methods)}."
        )
    if PANDAS_FALLBACK in stamp.get("requirements", []):
        results.notes.append(
            f"evidently {versions.get('evidently')} fails to import under pandas 3 (it imports "
            f"a pandas internal that pandas 3 removed), so its venv has {PANDAS_FALLBACK} "
            f"(pandas {versions.get('pandas')}): there the string columns load as `object`, "
            "in Shipyard's venv as pandas 3's `str`. Each tool gets the frames its pandas reads."
        )
    ours = {name: shared.installed(name) for name in SHARED_LIBRARIES}
    said = ("pandas",) if PANDAS_FALLBACK in stamp.get("requirements", []) else ()
    different = [
        f"{name} {versions.get(name, '?')} (Shipyard's {ours[name]})"
        for name in SHARED_LIBRARIES
        if versions.get(name) != ours[name] and name not in said
    ]
    if different:
        results.notes.append("Evidently's venv differs in: " + ", ".join(different) + ".")


def add_score_notes(results: Results, sizes: Sizes) -> None:
    """Both tools judge the same columns by the same kind of distance: compare the numbers."""
    rows = max((r for r in sizes.rows if results.get(r, "evidently")), default=None)
    if rows is None or not results.get(rows, "shipyard"):
        return
    ours = results.get(rows, "shipyard")[0]
    theirs = results.get(rows, "evidently")[0]
    numeric_gap = max(abs(ours["scores"][c] - theirs["scores"][c]) for c in NUMERIC)
    ratios = [
        ours["scores"][c] / theirs["scores"][c] for c in CATEGORICAL if theirs["scores"][c] > 0
    ]
    our_methods = sorted(set(ours["methods"].values()))
    swapped = SWAPPED_CATEGORIES
    results.notes.append(
        f"Scores at {rows:,} rows: Shipyard judged by {', '.join(our_methods)}. Normalized "
        f"Wasserstein distances agree with Evidently's within {numeric_gap:.1e}. "
        "Jensen-Shannon distances differ by a constant factor "
        f"({min(ratios):.3f} to {max(ratios):.3f}): Shipyard's are base 2, Evidently's natural "
        "log (1/sqrt(ln 2) = 1.201), so at the same threshold 0.1 Shipyard also flags a "
        "categorical change Evidently scores 0.083 to 0.1. The planted change is far from that "
        f"edge ({swapped}: Shipyard {ours['scores'][swapped]:.3f}, Evidently "
        f"{theirs['scores'][swapped]:.3f})."
    )


def add_memory_note(results: Results, sizes: Sizes) -> None:
    answers = [a for rows in sizes.rows for tool in TOOLS for a in results.get(rows, tool)]
    if not answers:
        return
    if all(answer["peak_reset"] for answer in answers):
        how = (
            "each worker's `ru_maxrss` after its high-water mark was reset "
            "(`/proc/self/clear_refs`) once both frames were loaded and what loading left free "
            "was released (Arrow's pool, `malloc_trim`)"
        )
    else:
        how = "each worker's lifetime `ru_maxrss` (no `/proc/self/clear_refs` here)"
    lifetime = []
    for rows in sizes.rows:
        figures = ", ".join(
            f"{TOOL_NAMES[tool]} {value:,.0f}"
            for tool in TOOLS
            if (value := median_of(results, rows, tool, "lifetime_peak_mb")) is not None
        )
        frames = ", ".join(
            f"{TOOL_NAMES[tool]} {value:,.0f}"
            for tool in ("shipyard", "evidently")
            if (value := median_of(results, rows, tool, "frame_mb")) is not None
        )
        lifetime.append(f"{rows:,} rows: {figures} MB (both frames, deep: {frames} MB)")
    results.notes.append(
        f"Memory: peak = {how}; + = that peak minus the resident size right after loading "
        "(the detection's own memory, which the target compares). Lifetime peaks, loading "
        f"included: {'; '.join(lifetime)}."
    )


# -- RESULTS.md -------------------------------------------------------------------------------
def machine_facts(
    results: Results, stamp: dict[str, Any], loads: tuple[float, float]
) -> dict[str, str]:
    """What a reader needs to judge whether these numbers apply to their machine."""
    versions = stamp["versions"]
    data = ", ".join(
        f"{rows:,} rows: {sum(made['bytes'].values()) / 2**20:,.0f} MB of Parquet"
        + (" (cached)" if made["reused"] else f" (generated in {made['seconds']:.1f} s)")
        for rows, made in results.data.items()
    )
    return {
        **shared.machine_basics(loads),
        "Shipyard": f"{shared.installed('shipyard')} ({git_revision()}), `detect_drift` defaults; "
        + ", ".join(f"{name} {shared.installed(name)}" for name in SHARED_LIBRARIES)
        + " (the floor runs here too)",
        "Evidently": f"{versions.get('evidently', '?')}, `Report([DataDriftPreset()])` "
        "defaults, columns declared in a `DataDefinition`; "
        + ", ".join(f"{name} {versions.get(name, '?')}" for name in SHARED_LIBRARIES),
        "Data": f"seed {SEED}, generator v{GENERATOR_VERSION}; {data}",
    }


def data_description() -> str:
    shifts = ", ".join(f"{name} +{shift:g} sd" for name, shift in MEAN_SHIFTS.items())
    categories = ", ".join(str(count) for count in CATEGORY_COUNTS.values())
    return (
        f"The data: {len(NUMERIC)} numeric columns (10 normal, 4 log-normal, 3 exponential "
        f"float64, 3 Poisson int64) and {len(CATEGORICAL)} string columns ({categories} "
        "categories, Zipf-like frequencies), seeded, no missing values; the current side is a "
        f"fresh sample with a planted shift: mean shifts {shifts}, and in "
        f"{SWAPPED_CATEGORIES} the two most frequent categories trade frequencies. Every "
        "figure is a median over fresh processes that each load the Parquet files, then time "
        "one detection on the loaded frames (generation, imports and loading excluded)."
    )


def section_markdown(
    results: Results, sizes: Sizes, facts: dict[str, str], command: str, seconds: float
) -> str:
    verdicts = Verdicts()
    times = time_rows(results, sizes, verdicts)
    memory = memory_rows(results, sizes, verdicts)
    parts = [
        *shared.heading(
            "# Drift benchmark: Shipyard vs Evidently and a numpy/scipy floor",
            command,
            seconds,
            verdict_lines(verdicts),
        ),
        "## Wall time of one detection",
        "",
        *shared.markdown_table(TIME_HEADERS, times),
        "",
        "Shipyard: `detect_drift(reference, current)`. Evidently: `Dataset.from_pandas` for "
        "both sides, `Report([DataDriftPreset()]).run(current, reference)` and reading which "
        "columns drifted. Floor: `ks_2samp` per numeric column, `chi2_contingency` on the "
        "`value_counts` of each categorical column. x: how many times longer the first one "
        "takes.",
        "",
        "## Peak memory of one detection",
        "",
        *shared.markdown_table(MEMORY_HEADERS, memory),
        "",
        "+: the resident high-water mark during the detection above the resident size right "
        "after loading both frames, which is the figure compared; peak: that high-water mark; "
        "loaded data: the resident size after loading (imports included).",
        "",
        "## Drifted columns",
        "",
        *shared.markdown_table(FLAG_HEADERS, flag_rows(results, sizes)),
        "",
        data_description() + " See README.md for the method.",
    ]
    return shared.with_machine_and_notes(parts, facts, [*results.notes, *results.errors])


# -- main ------------------------------------------------------------------------------------
def main(argv: Sequence[str]) -> int:
    run = shared.begin(__file__, shared.parse_args(argv, __doc__), ensure_evidently_peer)
    evidently_python, stamp = run.peer
    sizes = QUICK if run.args.quick else FULL
    pythons = {
        "shipyard": Path(sys.executable),
        "floor": Path(sys.executable),
        "evidently": evidently_python,
        LEGACY: evidently_python,
    }
    results = measure_all(sizes, pythons)
    check_answers(results, sizes)
    add_notes(results, sizes, stamp)
    verdicts = Verdicts()
    shared.print_table(
        "Wall time of one detection (x = how many times longer)",
        TIME_HEADERS,
        time_rows(results, sizes, verdicts),
    )
    shared.print_table(
        "Peak memory of one detection (+ = above the loaded data)",
        MEMORY_HEADERS,
        memory_rows(results, sizes, verdicts),
    )
    shared.print_table("Drifted columns", FLAG_HEADERS, flag_rows(results, sizes))
    runs = WORK_DIR / "drift-runs"
    return run.finish(
        "drift",
        results,
        lambda command, seconds: section_markdown(
            results, sizes, machine_facts(results, stamp, run.loads()), command, seconds
        ),
        targets=verdict_lines(verdicts),
        kept=f"Data and worker folders kept for inspection: {shown(DATA_DIR)}, {shown(runs)}",
        remove=[runs],  # the Parquet data stays: generated once per size
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
