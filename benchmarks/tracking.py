"""Shipyard vs MLflow experiment tracking, measured the same way on the same machine.

Run ``.venv/bin/python benchmarks/tracking.py`` (what ``make bench`` does), or add ``--quick``
for a smoke run with small sizes that prints the table but leaves RESULTS.md alone.

Why it is built like this:

* MLflow lives in its own throwaway virtualenv (``benchmarks/.peers/mlflow``) so that it can
  never change the dependencies Shipyard is tested with; a stamp file marks a finished install,
  so later runs reuse it.
* Every measurement of every tool runs in a fresh interpreter (``_workers.py``) with a fresh
  workspace under ``benchmarks/.work/``: no warm caches, threads or connections carry over.
* MLflow commits once per logging call, so its loops stop after a time bound; throughputs are
  compared, never totals.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _results as shared
from _results import BenchmarkError, console, shown
from _workers import SEED, Config, expected_search_names, run_specs
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "_workers.py"
PEER_DIR = HERE / ".peers" / "mlflow"
WORK_DIR = HERE / ".work"
STAMP_FILE = PEER_DIR / ".shipyard-bench-installed"

MLFLOW_REQUIREMENTS = ("mlflow>=3,<4",)
# Only if the full package cannot be installed: the tracking client plus its SQL store.
SKINNY_REQUIREMENTS = ("mlflow-skinny>=3,<4", "sqlalchemy", "alembic")
# A constraint no release satisfies: if anything pulls torch in, pip stops instead of
# downloading gigabytes.
NO_TORCH_CONSTRAINT = "torch<0\n"
PIP_PROGRESS = ("Collecting", "Installing collected", "Successfully installed", "ERROR")

TOOLS = ("shipyard", "mlflow")
TOOL_NAMES = {"shipyard": "Shipyard", "mlflow": "MLflow"}


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does, and how long MLflow may take for it."""

    n_values: int
    batch_keys: int
    n_runs: int
    search_limit: int
    search_reps: int
    help_reps: int
    one_at_a_time_limit_s: float
    batches_limit_s: float
    create_runs_limit_s: float


FULL = Sizes(
    n_values=100_000,
    batch_keys=1_000,  # MLflow's limit of metrics per log_batch call
    n_runs=2_000,
    search_limit=100,
    search_reps=20,
    help_reps=7,
    one_at_a_time_limit_s=20,
    batches_limit_s=30,
    create_runs_limit_s=120,
)
QUICK = Sizes(
    n_values=5_000,
    batch_keys=1_000,
    n_runs=200,
    search_limit=10,
    search_reps=5,
    help_reps=3,
    one_at_a_time_limit_s=5,
    batches_limit_s=5,
    create_runs_limit_s=20,
)


# -- the MLflow peer environment -------------------------------------------------------------
def ensure_mlflow_peer() -> tuple[Path, str]:
    """The peer venv's python and MLflow version, installing MLflow on first use."""
    python = PEER_DIR / "bin" / "python"
    if STAMP_FILE.is_file() and python.is_file():
        version = json.loads(STAMP_FILE.read_text())["mlflow_version"]
        print(f"MLflow peer: reusing {shown(PEER_DIR)} (mlflow {version})")
        return python, version
    started = time.perf_counter()
    python, constraints = fresh_peer_venv(PEER_DIR, "MLflow")
    requirements: Sequence[str] = MLFLOW_REQUIREMENTS
    if not pip_install(python, requirements, constraints):
        print("MLflow peer: full mlflow failed to install; trying mlflow-skinny instead")
        requirements = SKINNY_REQUIREMENTS
        if not pip_install(python, requirements, constraints):
            raise BenchmarkError("Could not install MLflow into the peer virtualenv.")
    if peer_has_torch(python):
        raise BenchmarkError("torch ended up in the MLflow peer venv; delete it and retry.")
    version = peer_mlflow_version(python)
    seconds = time.perf_counter() - started
    STAMP_FILE.write_text(
        json.dumps(
            {"requirements": list(requirements), "mlflow_version": version, "seconds": seconds}
        )
    )
    print(f"MLflow peer: mlflow {version} installed in {seconds:.0f} s")
    return python, version


def fresh_peer_venv(directory: Path, label: str) -> tuple[Path, Path]:
    """A new, empty peer venv (one left half-made by an interrupted install is removed first):
    its python, and a constraints file that keeps torch out of it."""
    if directory.exists():
        shutil.rmtree(directory)
    print(f"{label} peer: creating {shown(directory)} (first run only)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True)
    constraints = directory / "no-torch-constraints.txt"
    constraints.write_text(NO_TORCH_CONSTRAINT)
    return directory / "bin" / "python", constraints


def pip_install(python: Path, requirements: Sequence[str], constraints: Path) -> bool:
    """Install into the peer venv, echoing one line per package; the tail on failure."""
    command = [
        str(python),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "-c",
        str(constraints),
        *requirements,
    ]
    print(f"  $ pip install {' '.join(requirements)}  (torch excluded)", flush=True)
    tail: collections.deque[str] = collections.deque(maxlen=30)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as pip:
        assert pip.stdout is not None
        for line in pip.stdout:
            tail.append(line.rstrip())
            if line.startswith(PIP_PROGRESS):
                print(f"  {shorten(line.rstrip(), 110)}", flush=True)
    if pip.returncode != 0:
        print("\n".join(f"  | {line}" for line in tail))
    return pip.returncode == 0


def peer_has_torch(python: Path) -> bool:
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)"
    return subprocess.run([str(python), "-c", probe], check=False).returncode == 0


def peer_mlflow_version(python: Path) -> str:
    probe = (
        "from importlib import metadata\n"
        "for name in ('mlflow', 'mlflow-skinny'):\n"
        "    try:\n"
        "        print(metadata.version(name)); break\n"
        "    except metadata.PackageNotFoundError:\n"
        "        pass\n"
    )
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.strip() or "unknown"


# -- running workers -------------------------------------------------------------------------
def worker_env(tool: str, workspace: Path) -> dict[str, str]:
    """The caller's environment without anything that could point a tool elsewhere."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SHIPYARD_", "MLFLOW_", "VIRTUAL_ENV"))
    }
    if tool == "shipyard":
        env["SHIPYARD_HOME"] = str(workspace)
    else:
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workspace}/mlflow.db"
        # No network here; a telemetry thread would only add noise to the timings.
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return env


def run_worker(python: Path, tool: str, measurement: str, config: Config) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its JSON answer."""
    # Up to three bounds (timed loop, then the untimed fill of create_runs), plus imports,
    # migrations and the search warm-up.
    timeout_s = 3 * config.time_limit_s + 300
    argv = [str(python), str(WORKER), tool, measurement, json.dumps(asdict(config))]
    return json_answer(argv, Path(config.workspace), tool, timeout_s, f"{tool} {measurement}")


def json_answer(
    argv: list[str],
    workspace: Path,
    tool: str,
    timeout_s: float,
    label: str,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run a worker in ``workspace`` and return the JSON object on its last line of output.

    ``env`` defaults to :func:`worker_env` for ``tool``.
    """
    workspace.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            argv,
            cwd=workspace,  # MLflow puts ./mlruns (artifacts) in the working folder
            env=env if env is not None else worker_env(tool, workspace),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchmarkError(f"{label}: no answer in {timeout_s:.0f} s") from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise BenchmarkError(f"{label} exited {done.returncode}:\n{tail}")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise BenchmarkError(f"{label} printed no answer")
    answer: dict[str, Any] = json.loads(lines[-1])
    return answer


def median_help_s(tool: str, executable: Path, reps: int, workspace: Path) -> float:
    """Median wall time of ``EXE --help`` over fresh processes, after one untimed warm-up."""
    workspace.mkdir(parents=True, exist_ok=True)
    env = worker_env(tool, workspace)
    command = [str(executable), "--help"]

    def once() -> float:
        start = time.perf_counter()
        subprocess.run(command, cwd=workspace, env=env, capture_output=True, check=True)
        return time.perf_counter() - start

    once()  # writes any missing .pyc files, which a user's second call would not pay for
    return statistics.median(once() for _ in range(reps))


def help_answer(tool: str, executable: Path, reps: int, workspace: Path) -> dict[str, Any]:
    return {"s": median_help_s(tool, executable, reps, workspace), "reps": reps}


# -- the measurements ------------------------------------------------------------------------
@dataclass
class Results:
    """Every worker answer by measurement and tool, plus what went wrong."""

    answers: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: collections.defaultdict(dict)
    )
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def get(self, measurement: str, tool: str) -> dict[str, Any] | None:
        return self.answers[measurement].get(tool)


def attempt(
    results: Results, measurement: str, tool: str, call: Callable[[], dict[str, Any]]
) -> None:
    """Record ``call()``'s answer, or its failure, without stopping the other measurements."""
    started = time.perf_counter()
    try:
        answer = call()
    except (BenchmarkError, OSError, subprocess.SubprocessError, ValueError) as exc:
        results.errors.append(f"{tool} {measurement}: {exc}")
        console.print(f"  {tool:<8} {measurement:<14} [red]crashed[/red]: {exc}")
        return
    results.answers[measurement][tool] = answer
    seconds = time.perf_counter() - started
    console.print(f"  {tool:<8} {measurement:<14} done in {seconds:5.1f} s")


def measure_all(sizes: Sizes, pythons: dict[str, Path], work_root: Path) -> Results:
    results = Results()
    limits = {
        "one_at_a_time": sizes.one_at_a_time_limit_s,
        "batches": sizes.batches_limit_s,
        "create_runs": sizes.create_runs_limit_s,
    }
    for measurement, limit_s in limits.items():
        console.print(f"[bold]{measurement.replace('_', ' ')}[/bold]")
        for tool in TOOLS:
            config = make_config(sizes, work_root / f"{tool}-{measurement}", limit_s)
            call = functools.partial(run_worker, pythons[tool], tool, measurement, config)
            attempt(results, measurement, tool, call)
    console.print("[bold]search[/bold] (in the workspaces that create runs filled)")
    for tool in TOOLS:
        search_runs_of(results, sizes, pythons[tool], tool, work_root)
    check_search_rows(results, sizes)
    console.print("[bold]--help[/bold]")
    executables = {
        "shipyard": Path(sys.executable).with_name("shipyard"),
        "mlflow": pythons["mlflow"].with_name("mlflow"),
    }
    for tool in TOOLS:
        call = functools.partial(
            help_answer, tool, executables[tool], sizes.help_reps, work_root / f"{tool}-help"
        )
        attempt(results, "help", tool, call)
    return results


def make_config(sizes: Sizes, workspace: Path, limit_s: float) -> Config:
    return Config(
        workspace=str(workspace),
        n_values=sizes.n_values,
        batch_keys=sizes.batch_keys,
        n_runs=sizes.n_runs,
        search_limit=sizes.search_limit,
        search_reps=sizes.search_reps,
        time_limit_s=limit_s,
    )


def search_runs_of(
    results: Results, sizes: Sizes, python: Path, tool: str, work_root: Path
) -> None:
    created = results.get("create_runs", tool)
    if created is None:
        results.errors.append(f"{tool} search: skipped, create runs crashed")
        return
    config = make_config(sizes, work_root / f"{tool}-create_runs", 0)
    attempt(results, "search", tool, functools.partial(run_worker, python, tool, "search", config))


def check_search_rows(results: Results, sizes: Sizes) -> None:
    """Both tools must return the same number of rows, and exactly the runs they should."""
    found = {tool: results.get("search", tool) for tool in TOOLS}
    for tool, answer in found.items():
        if answer is None:
            continue
        stored = results.answers["create_runs"][tool]["stored"]
        specs = run_specs(SEED, stored)
        expected = expected_search_names(specs, sizes.search_limit)
        if answer["names"] != expected:
            results.errors.append(
                f"{tool} search: expected {len(expected)} runs starting {expected[:3]}, "
                f"got {answer['rows']} starting {answer['names'][:3]}"
            )
    shipyard, mlflow = found["shipyard"], found["mlflow"]
    if shipyard is not None and mlflow is not None and shipyard["rows"] != mlflow["rows"]:
        results.errors.append(
            f"search: Shipyard returned {shipyard['rows']} rows, MLflow {mlflow['rows']}"
        )


# -- the table -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    measurement: str
    shipyard: str
    mlflow: str
    ratio: str
    target: str


def build_rows(results: Results, sizes: Sizes) -> list[Row]:
    keys = f"{sizes.batch_keys:,} keys x {sizes.n_values // sizes.batch_keys} steps"
    return [
        throughput_row(
            results,
            "one_at_a_time",
            f"a. log {sizes.n_values:,} metric values one at a time",
            "values/s",
            50,
        ),
        throughput_row(
            results, "batches", f"b. log {sizes.n_values:,} values in batches ({keys})", "values/s"
        ),
        throughput_row(
            results,
            "create_runs",
            f"c. create {sizes.n_runs:,} runs (5 params + 5 metrics each)",
            "runs/s",
        ),
        search_row(results, sizes),
        help_row(results, sizes),
    ]


def throughput_row(
    results: Results, measurement: str, label: str, unit: str, target: float | None = None
) -> Row:
    answers = [results.get(measurement, tool) for tool in TOOLS]
    cells = [throughput_cell(answer, unit) for answer in answers]
    ratio = None
    if answers[0] is not None and answers[1] is not None:
        ratio = answers[0]["per_s"] / answers[1]["per_s"]
    return Row(label, cells[0], cells[1], ratio_cell(ratio), target_cell(ratio, target))


def throughput_cell(answer: dict[str, Any] | None, unit: str) -> str:
    if answer is None:
        return "crashed"
    cut = ", time bound" if answer["bounded"] else ""
    return f"{answer['per_s']:,.0f} {unit} ({answer['count']:,} in {answer['seconds']:.2f} s{cut})"


def search_row(results: Results, sizes: Sizes) -> Row:
    label = (
        f"d. search {sizes.n_runs:,} runs: `metrics.m0 > 0.5`, by `metrics.m1` desc, "
        f"limit {sizes.search_limit} (median of {sizes.search_reps})"
    )
    shipyard, mlflow = (results.get("search", tool) for tool in TOOLS)
    cells = [
        "crashed" if answer is None else f"{answer['median_ms']:.1f} ms ({answer['rows']} rows)"
        for answer in (shipyard, mlflow)
    ]
    ratio = None
    if shipyard is not None and mlflow is not None:
        ratio = mlflow["median_ms"] / shipyard["median_ms"]
    return Row(label, cells[0], cells[1], ratio_cell(ratio), target_cell(ratio, 5))


def help_row(results: Results, sizes: Sizes) -> Row:
    shipyard, mlflow = (results.get("help", tool) for tool in TOOLS)
    cells = [
        "crashed" if answer is None else f"{answer['s']:.3f} s" for answer in (shipyard, mlflow)
    ]
    ratio = None if shipyard is None or mlflow is None else mlflow["s"] / shipyard["s"]
    if shipyard is None:
        target = "< 0.3 s: not measured"
    else:
        target = f"< 0.3 s: {'met' if shipyard['s'] < 0.3 else 'MISSED'}"
    label = f"e. `shipyard --help` / `mlflow --help` (median of {sizes.help_reps} processes)"
    return Row(label, cells[0], cells[1], ratio_cell(ratio), target)


def ratio_cell(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:,.1f}x"


def target_cell(ratio: float | None, target: float | None) -> str:
    if target is None:
        return "-"
    if ratio is None:
        return f">= {target:g}x: not measured"
    return f">= {target:g}x: {'met' if ratio >= target else 'MISSED'}"


def print_table(rows: Sequence[Row]) -> None:
    table = Table(title="Tracking: Shipyard vs MLflow (ratio > 1: Shipyard is better)")
    for column in ("measurement", "Shipyard", "MLflow", "ratio", "target"):
        table.add_column(column, overflow="fold")
    for row in rows:
        style = "red" if "MISSED" in row.target else ("green" if "met" in row.target else None)
        table.add_row(
            row.measurement.replace("`", ""),
            row.shipyard,
            row.mlflow,
            row.ratio,
            row.target,
            style=style,
        )
    console.print(table)


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| measurement | Shipyard | MLflow | ratio | target |", "|---|---|---|---|---|"]
    lines += [
        f"| {r.measurement} | {r.shipyard} | {r.mlflow} | {r.ratio} | {r.target} |" for r in rows
    ]
    return "\n".join(lines)


# -- RESULTS.md ------------------------------------------------------------------------------
def machine_facts(mlflow_version: str) -> dict[str, str]:
    """What a reader needs to judge whether these numbers apply to their machine."""
    from shipyard import __version__ as shipyard_version

    return {
        **shared.machine_basics(),
        "Shipyard": f"{shipyard_version} ({git_revision()})",
        "MLflow": f"{mlflow_version} (SQLite tracking backend, synchronous logging)",
    }


def git_revision() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "no git commit"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"git {commit}{' + uncommitted changes' if dirty else ''}"


def results_markdown(
    rows: Sequence[Row],
    results: Results,
    sizes: Sizes,
    facts: dict[str, str],
    command: str,
    seconds: float,
) -> str:
    notes = [*results.notes, *results.errors]
    parts = [
        "# Tracking benchmark: Shipyard vs MLflow",
        "",
        f"Generated {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} by `{command}` "
        f"(`make bench` runs the same); total runtime {seconds:.0f} s.",
        "",
        markdown_table(rows),
        "",
        "ratio: how many times better Shipyard is (Shipyard throughput / MLflow throughput, or "
        "MLflow time / Shipyard time). Loops a, b and c stop at a time bound "
        f"({sizes.one_at_a_time_limit_s:g} s, {sizes.batches_limit_s:g} s, "
        f"{sizes.create_runs_limit_s:g} s), so throughputs are compared, never totals. "
        "See README.md for the method.",
        "",
        "## Machine",
        "",
        *(f"- {key}: {value}" for key, value in facts.items()),
    ]
    if notes:
        parts += ["", "## Notes", "", *(f"- {note}" for note in notes)]
    return "\n".join(parts) + "\n"


def add_notes(results: Results) -> None:
    """Say in words what the table compresses: time bounds, unequal search stores."""
    for measurement in ("one_at_a_time", "batches", "create_runs"):
        for tool in TOOLS:
            answer = results.get(measurement, tool)
            if answer is not None and answer["bounded"]:
                filled = (
                    f" The rest were created untimed, so the search saw {answer['stored']:,}."
                    if "stored" in answer
                    else ""
                )
                what = f"{TOOL_NAMES[tool]} {measurement.replace('_', ' ')}"
                results.notes.append(
                    f"{what} stopped at its time bound: {answer['count']:,} of "
                    f"{answer['total']:,} in {answer['seconds']:.1f} s.{filled}"
                )
    counts = {
        tool: answer["stored"]
        for tool in TOOLS
        if (answer := results.get("create_runs", tool)) is not None
    }
    if len(set(counts.values())) > 1:
        results.notes.append(
            f"The search ran over unequal stores ({counts}); the smaller one favours its tool."
        )


# -- main ------------------------------------------------------------------------------------
def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def main(argv: Sequence[str]) -> int:
    run = shared.begin(__file__, shared.parse_args(argv, __doc__), ensure_mlflow_peer)
    mlflow_python, mlflow_version = run.peer
    sizes = QUICK if run.args.quick else FULL
    work_root = WORK_DIR / f"{dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
    pythons = {"shipyard": Path(sys.executable), "mlflow": mlflow_python}
    results = measure_all(sizes, pythons, work_root)
    add_notes(results)
    rows = build_rows(results, sizes)
    print_table(rows)
    return run.finish(
        "tracking",
        results,
        lambda command, seconds: results_markdown(
            rows, results, sizes, machine_facts(mlflow_version), command, seconds
        ),
        kept=f"Workspaces kept for inspection: {shown(work_root)}",
        remove=[work_root],
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
