"""Shipyard pipelines vs Metaflow: per-step overhead and cached re-runs of the same flow.

Run ``.venv/bin/python benchmarks/pipelines.py``, or add ``--quick`` for a smoke run (5 steps,
one repetition) that prints the table but leaves RESULTS.md alone.

Why it is built like this:

* Both tools run one generated flow, a linear chain of trivial ``x + 1`` steps
  (``_pipelines_workers.py`` writes it for each), so what is timed is each tool's own cost of a
  step: tracking, storing the output, scheduling, not the step's work.
* Metaflow runs a flow only as a command, one process per task, with fixed costs (start-up,
  its mandatory ``start`` and ``end`` steps) that a per-step figure must not charge to the
  steps. So the per-step overhead is ``(t_N - t_1) / (N - 1)`` for both tools: the fixed costs
  cancel in the difference.
* Shipyard is timed twice: the ``.run()`` call alone in a fresh interpreter (imports reported
  apart), and as a whole command (``shipyard pipelines run``), the same shape as Metaflow's.
* Every figure is the median of fresh processes, each cold run in a fresh workspace under
  ``benchmarks/.work/``; every process is bounded in time and killed (with its children) past
  the bound, which is then reported rather than waited for.
* Metaflow lives in its own virtualenv (``benchmarks/.peers/metaflow``), like MLflow in
  ``tracking.py``, so that it can never change the dependencies Shipyard is tested with.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _results as shared
from _pipelines_workers import PIPELINE, RESULT_PREFIX, write_flows
from _results import BenchmarkError, console, over, shown

from tracking import NO_TORCH_CONSTRAINT, git_revision, peer_has_torch, pip_install, ratio_cell

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_pipelines_workers.py"
WORK_DIR = HERE / ".work"
PEER_DIR = HERE / ".peers" / "metaflow"
STAMP_FILE = PEER_DIR / ".shipyard-bench-installed"
METAFLOW_REQUIREMENTS = ("metaflow>=2.12,<3",)

PER_STEP_TARGET = 10.0  # Metaflow's per-step overhead over Shipyard's: at least 10x
CACHED_TARGET_S = 1.0  # a fully cached re-run of the N-step pipeline: under 1 s
HEADERS = ("measurement", "Shipyard", "Metaflow", "ratio", "target")
MODES = ("run", "cli", "metaflow")  # Shipyard's .run() alone, its command, Metaflow's command
MODE_NAMES = {
    "run": "Shipyard `.run()`",
    "cli": "`shipyard pipelines run`",
    "metaflow": "Metaflow `python flow.py run`",
}


@dataclass(frozen=True)
class Sizes:
    """How long the chain is, how often each figure is taken, how long one process may take."""

    steps: int
    reps: int
    timeout_s: float


FULL = Sizes(steps=20, reps=3, timeout_s=300)
QUICK = Sizes(steps=5, reps=1, timeout_s=300)


# -- the Metaflow peer environment -----------------------------------------------------------
def ensure_metaflow_peer() -> tuple[Path, str]:
    """The peer venv's python and Metaflow version, installing Metaflow on first use."""
    python = PEER_DIR / "bin" / "python"
    if STAMP_FILE.is_file() and python.is_file():
        version = json.loads(STAMP_FILE.read_text())["metaflow_version"]
        print(f"Metaflow peer: reusing {shown(PEER_DIR)} (metaflow {version})")
        return python, version
    if PEER_DIR.exists():  # left half-made by an interrupted install
        shutil.rmtree(PEER_DIR)
    started = time.perf_counter()
    print(f"Metaflow peer: creating {shown(PEER_DIR)} (first run only)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(PEER_DIR)], check=True)
    constraints = PEER_DIR / "no-torch-constraints.txt"
    constraints.write_text(NO_TORCH_CONSTRAINT)
    if not pip_install(python, METAFLOW_REQUIREMENTS, constraints):
        raise BenchmarkError("Could not install Metaflow into the peer virtualenv.")
    if peer_has_torch(python):
        raise BenchmarkError("torch ended up in the Metaflow peer venv; delete it and retry.")
    probe = "from importlib import metadata; print(metadata.version('metaflow'))"
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True)
    version = done.stdout.strip()
    seconds = time.perf_counter() - started
    STAMP_FILE.write_text(
        json.dumps(
            {
                "requirements": list(METAFLOW_REQUIREMENTS),
                "metaflow_version": version,
                "seconds": seconds,
            }
        )
    )
    print(f"Metaflow peer: metaflow {version} installed in {seconds:.0f} s")
    return python, version


# -- running one process ---------------------------------------------------------------------
class BoundHit(BenchmarkError):
    """A process ran past its time bound and was killed."""


@dataclass(frozen=True)
class Finished:
    seconds: float  # wall time from start to exit, as seen from here
    stdout: str


def tool_env(tool: str, workspace: Path) -> dict[str, str]:
    """The caller's environment, without anything that could point a tool elsewhere."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SHIPYARD_", "METAFLOW_", "MLFLOW_", "VIRTUAL_ENV"))
    }
    if tool == "shipyard":
        env["SHIPYARD_HOME"] = str(workspace)
    else:
        env.update(
            {
                "USERNAME": "shipyard-bench",  # Metaflow refuses to run without a user name
                "METAFLOW_HOME": str(workspace / "home"),  # no user config is read
                "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(workspace),
                "METAFLOW_DEFAULT_DATASTORE": "local",
                "METAFLOW_DEFAULT_METADATA": "local",
            }
        )
    return env


def run_bounded(command: Sequence[str], tool: str, workspace: Path, timeout_s: float) -> Finished:
    """Run ``command`` in ``workspace`` and time it, killing its whole process group past the
    bound: Metaflow runs each task in a child process that would outlive a plain kill."""
    workspace.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with subprocess.Popen(
        list(command),
        cwd=workspace,
        env=tool_env(tool, workspace),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so the bound can end all of it
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise BoundHit(f"time bound hit: no exit in {timeout_s:.0f} s") from None
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        tail = "\n".join((stderr or stdout).strip().splitlines()[-15:])
        raise BenchmarkError(f"exited {process.returncode}:\n{tail}")
    return Finished(seconds, stdout)


# -- the measurements ------------------------------------------------------------------------
@dataclass
class Results:
    """Samples (seconds, one per repetition) by figure name, plus what went wrong."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bounds: set[str] = field(default_factory=set)  # figures a time bound cut short

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)

    def median(self, name: str) -> float | None:
        if name in self.bounds or not self.samples.get(name):
            return None
        return statistics.median(self.samples[name])


@dataclass(frozen=True)
class Commands:
    """How each tool is started, and the flow files for each chain length."""

    shipyard_python: Path
    metaflow_python: Path
    flows: dict[int, dict[str, Path]]
    timeout_s: float

    def of(self, mode: str, steps: int) -> list[str]:
        flow = self.flows[steps]
        if mode == "run":
            return [str(self.shipyard_python), str(WORKER), str(flow["shipyard"]), str(steps)]
        if mode == "cli":
            shipyard = self.shipyard_python.with_name("shipyard")
            return [str(shipyard), "pipelines", "run", f"{flow['shipyard']}:{PIPELINE}"]
        return [str(self.metaflow_python), str(flow["metaflow"]), *metaflow_options(), "run"]


def metaflow_options() -> list[str]:
    """Local metadata and datastore spelled out (the environment says so too), pylint off."""
    return ["--no-pylint", "--metadata", "local", "--datastore", "local"]


def figure(mode: str, phase: str, steps: int) -> str:
    return f"{mode}/{phase}/{steps}"


def measure_pair(
    results: Results, commands: Commands, mode: str, steps: int, workspace: Path
) -> None:
    """A cold run in an empty workspace, then a re-run in a new process on the same one."""
    tool = "metaflow" if mode == "metaflow" else "shipyard"
    for phase in ("cold", "rerun"):
        name = figure(mode, phase, steps)
        try:
            finished = run_bounded(commands.of(mode, steps), tool, workspace, commands.timeout_s)
            seconds = check_answer(results, mode, phase, steps, finished)
        except BoundHit as exc:
            results.bounds.add(name)
            results.errors.append(f"{MODE_NAMES[mode]} {phase}, {steps} steps: {exc}")
            return
        except (BenchmarkError, OSError, ValueError, KeyError) as exc:
            results.errors.append(f"{MODE_NAMES[mode]} {phase}, {steps} steps: {exc}")
            return
        results.add(name, seconds)


def check_answer(results: Results, mode: str, phase: str, steps: int, finished: Finished) -> float:
    """The figure this run gives, once its answer shows it did the work it should have."""
    if mode == "metaflow":
        if f"{RESULT_PREFIX}{steps}" not in finished.stdout:
            raise BenchmarkError(f"the flow did not print {RESULT_PREFIX}{steps}")
        return finished.seconds
    expected_cached = steps if phase == "rerun" else 0
    if mode == "cli":
        cached = len(re.findall(r"\bcached\b", finished.stdout))
        if f"Pipeline {PIPELINE} completed" not in finished.stdout or cached != expected_cached:
            raise BenchmarkError(f"expected {expected_cached} cached steps, saw {cached}")
        return finished.seconds
    answer: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    wanted = {"status": "completed", "steps": steps, "cached": expected_cached, "value": steps}
    got = {key: answer[key] for key in wanted}
    if got != wanted:
        raise BenchmarkError(f"expected {wanted}, got {got}")
    if phase == "cold":
        results.add(f"import/{steps}", answer["import_shipyard_s"] + answer["import_flow_s"])
    return float(answer["run_s"])


def warm_up(commands: Commands, work_root: Path) -> None:
    """One untimed run of each command, which writes the ``.pyc`` files a user's second run
    would find; otherwise the first timed repetition alone would pay for compiling them."""
    for mode in MODES:
        for steps in commands.flows:
            tool = "metaflow" if mode == "metaflow" else "shipyard"
            workspace = work_root / "warm-up" / f"{mode}-{steps}"
            run_bounded(commands.of(mode, steps), tool, workspace, commands.timeout_s)


def measure_help(results: Results, commands: Commands, sizes: Sizes, work_root: Path) -> None:
    """``python flow.py --help``: Metaflow's start-up alone (interpreter, imports, flow parse)."""
    command = [str(commands.metaflow_python), str(commands.flows[sizes.steps]["metaflow"])]
    for _ in range(sizes.reps):
        try:
            finished = run_bounded(
                [*command, "--help"], "metaflow", work_root / "help", sizes.timeout_s
            )
        except BenchmarkError as exc:
            results.errors.append(f"Metaflow --help: {exc}")
            return
        results.add("metaflow/help", finished.seconds)


def measure_all(
    sizes: Sizes, pythons: tuple[Path, Path], work_root: Path, step_counts: tuple[int, int]
) -> Results:
    """Every figure, repetition by repetition, the tools taking turns so that a change in the
    machine's load during the run falls on all of them alike."""
    flows = {steps: write_flows(work_root / "flows", steps) for steps in step_counts}
    commands = Commands(pythons[0], pythons[1], flows, sizes.timeout_s)
    results = Results()
    console.print("[bold]warm-up[/bold] (one untimed run of each command)")
    try:
        warm_up(commands, work_root)
    except BenchmarkError as exc:
        results.errors.append(f"warm-up: {exc}")
        return results
    for rep in range(1, sizes.reps + 1):
        started = time.perf_counter()
        for steps in step_counts:
            for mode in MODES:
                workspace = work_root / f"rep{rep}" / f"{mode}-{steps}"
                measure_pair(results, commands, mode, steps, workspace)
        seconds = time.perf_counter() - started
        console.print(f"  repetition {rep} of {sizes.reps} done in {seconds:5.1f} s")
    measure_help(results, commands, sizes, work_root)
    results.notes.append(fsync_note(work_root / "fsync"))
    return results


def fsync_note(folder: Path, count: int = 200) -> str:
    """This disk's fsync latency, p50 and p99: Shipyard fsyncs every output it stores (and the
    folders it makes) so that a crash cannot lose it, while Metaflow's local datastore never
    fsyncs; a slow tail here shows up as spread in Shipyard's figures only."""
    folder.mkdir(parents=True, exist_ok=True)
    path, times = folder / "fsync-probe", []
    with path.open("ab") as probe:
        for _ in range(count):
            probe.write(b"x" * 100)
            probe.flush()
            started = time.perf_counter()
            os.fsync(probe.fileno())
            times.append((time.perf_counter() - started) * 1000)
    path.unlink()
    times.sort()
    p50, p99 = times[len(times) // 2], times[min(len(times) - 1, len(times) * 99 // 100)]
    return (
        f"fsync on this disk, after the runs ({count} appends of 100 bytes): "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms. "
        "Shipyard fsyncs each stored step output and the folders it creates; Metaflow's local "
        "datastore does not fsync, so this tail shows as spread in Shipyard's figures only."
    )


# -- the figures -----------------------------------------------------------------------------
Row = tuple[str, str, str, str, str]


def per_step(results: Results, mode: str, sizes: Sizes) -> float | None:
    """``(t_N - t_1) / (N - 1)`` from the cold-run medians: the cost one more step adds."""
    long, short = (results.median(figure(mode, "cold", n)) for n in (sizes.steps, 1))
    if long is None or short is None:
        return None
    return (long - short) / (sizes.steps - 1)


def seconds_cell(seconds: float | None, bounded: bool = False) -> str:
    if bounded:
        return "time bound hit"
    if seconds is None:
        return "crashed"
    return f"{seconds * 1000:,.1f} ms" if seconds < 1 else f"{seconds:,.2f} s"


def target_cell(ok: bool | None, wanted: str) -> str:
    if ok is None:
        return f"{wanted}: not measured"
    return f"{wanted}: {'met' if ok else 'MISSED'}"


def build_rows(results: Results, sizes: Sizes) -> list[Row]:
    n = sizes.steps
    med = results.median
    run_cold, run_rerun = med(figure("run", "cold", n)), med(figure("run", "rerun", n))
    cli_cold, cli_rerun = med(figure("cli", "cold", n)), med(figure("cli", "rerun", n))
    mf_cold, mf_rerun = med(figure("metaflow", "cold", n)), med(figure("metaflow", "rerun", n))
    run_step, mf_step = per_step(results, "run", sizes), per_step(results, "metaflow", sizes)
    step_ratio = over(mf_step, run_step) if run_step is not None and run_step > 0 else None

    def cell(seconds: float | None, mode: str, phase: str) -> str:
        return seconds_cell(seconds, figure(mode, phase, n) in results.bounds)

    reps = f"median of {sizes.reps}"
    return [
        (
            f"a. cold run, {n} steps, empty workspace: the `.run()` call alone ({reps})",
            cell(run_cold, "run", "cold"),
            "runs only as a command: row d",
            "-",
            "-",
        ),
        (
            f"b. per-step overhead: cold run / {n}",
            seconds_cell(over(run_cold, n), figure("run", "cold", n) in results.bounds),
            "-",
            "-",
            "-",
        ),
        (
            f"c. per-step overhead: (t_{n} - t_1) / {n - 1} of cold runs "
            "(`.run()` / Metaflow command)",
            per_step_cell(run_step),
            per_step_cell(mf_step),
            ratio_cell(step_ratio),
            target_cell(
                None if step_ratio is None else step_ratio >= PER_STEP_TARGET,
                f">= {PER_STEP_TARGET:g}x",
            ),
        ),
        (
            f"d. whole command, cold, {n} steps: `shipyard pipelines run` / `python flow.py run`",
            cell(cli_cold, "cli", "cold"),
            cell(mf_cold, "metaflow", "cold"),
            ratio_cell(over(mf_cold, cli_cold)),
            "-",
        ),
        (
            f"e. re-run in a new process, same workspace: `.run()` alone, all {n} steps cached",
            cell(run_rerun, "run", "rerun"),
            "no step cache: row f",
            "-",
            target_cell(
                None if run_rerun is None else run_rerun < CACHED_TARGET_S,
                f"< {CACHED_TARGET_S:g} s",
            ),
        ),
        (
            "f. re-run as a whole command (Metaflow: runs every step again)",
            cell(cli_rerun, "cli", "rerun"),
            cell(mf_rerun, "metaflow", "rerun"),
            ratio_cell(over(mf_rerun, cli_rerun)),
            "-",
        ),
        (
            "g. start-up: `import shipyard` + the flow module / `python flow.py --help`",
            seconds_cell(med(f"import/{n}")),
            seconds_cell(med("metaflow/help")),
            "-",
            "-",
        ),
    ]


def per_step_cell(seconds: float | None) -> str:
    """A difference of two medians can come out at or below zero when the machine's noise
    exceeds the cost of the added steps; say so rather than print a negative overhead."""
    if seconds is not None and seconds <= 0:
        return "below the noise (difference <= 0)"
    return seconds_cell(seconds)


def add_notes(results: Results, sizes: Sizes) -> None:
    """Every sample behind the medians, so a reader can see the spread, and the per-step
    comparison at its least favourable to Shipyard: the difference of two medians is noisy."""
    run_cold = results.median(figure("run", "cold", sizes.steps))
    conservative = over(per_step(results, "metaflow", sizes), over(run_cold, sizes.steps))
    if conservative is not None:
        results.notes.append(
            f"Charging the whole cold `.run()` to its steps (row b) instead, Metaflow's "
            f"per-step overhead is still {conservative:,.1f}x Shipyard's."
        )
    for mode in MODES:
        parts = []
        for steps in (1, sizes.steps):
            for phase in ("cold", "rerun"):
                samples = results.samples.get(figure(mode, phase, steps))
                if samples:
                    parts.append(f"{phase} {steps} step{'s' * (steps > 1)} {fmt_list(samples)}")
        if parts:
            results.notes.append(f"{MODE_NAMES[mode]}, each repetition (s): {'; '.join(parts)}.")


def fmt_list(values: Sequence[float]) -> str:
    return ", ".join(f"{value:.3f}" for value in values)


def print_rows(rows: Sequence[Row], sizes: Sizes) -> None:
    title = (
        f"Pipelines: {sizes.steps}-step chain, Shipyard vs Metaflow "
        "(ratio = Metaflow / Shipyard, higher is better)"
    )
    shared.print_table(title, HEADERS, rows, shared.judged_by_target)


# -- RESULTS.md ------------------------------------------------------------------------------
def machine_facts(metaflow_version: str, loads: tuple[float, float]) -> dict[str, str]:
    """What a reader needs to judge whether these numbers apply to their machine."""
    from shipyard import __version__ as shipyard_version

    return {
        **shared.machine_basics(loads),
        "Shipyard": f"{shipyard_version} ({git_revision()}), local executor, default workers "
        f"({min(8, os.cpu_count() or 1)}), SQLite workspace with local artifacts",
        "Metaflow": f"{metaflow_version}, local metadata and datastore, pylint off",
    }


def section_markdown(
    rows: Sequence[Row],
    results: Results,
    sizes: Sizes,
    facts: dict[str, str],
    command: str,
    seconds: float,
) -> str:
    n = sizes.steps
    notes = [*results.notes, *results.errors]
    parts = [
        *shared.heading("# Pipelines benchmark: Shipyard vs Metaflow", command, seconds),
        *shared.markdown_table(HEADERS, rows),
        "",
        f"The flow: a linear chain of {n} steps, each `x + 1` on an int, generated for both "
        "tools from one definition; Metaflow's flow also has the `start` and `end` steps it "
        "requires (set `x = 0`, print the answer). ratio: Metaflow / Shipyard time (how many "
        f"times faster Shipyard is). Every figure is the median of {sizes.reps} fresh "
        "processes, each cold run in an empty workspace; re-runs reuse it in a new process. "
        f"Per-step overhead `(t_{n} - t_1) / {n - 1}` takes the cold {n}-step and 1-step "
        "medians, so fixed costs (start-up, imports, Metaflow's `start`/`end`) cancel; "
        "Shipyard's `.run()` figure excludes interpreter start and imports, Metaflow's and the "
        "whole-command figures include them. Each answer is checked (the chain's result, and "
        "how many steps came from the cache). See README.md for the method.",
    ]
    return shared.with_machine_and_notes(parts, facts, notes)


# -- main ------------------------------------------------------------------------------------
def main(argv: Sequence[str]) -> int:
    run = shared.begin(__file__, shared.parse_args(argv, __doc__), ensure_metaflow_peer)
    metaflow_python, metaflow_version = run.peer
    sizes = QUICK if run.args.quick else FULL
    work_root = WORK_DIR / f"pipelines-{dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
    console.print(
        f"[bold]pipelines[/bold]: {sizes.steps}-step and 1-step chains, "
        f"{sizes.reps} repetition(s), each process bounded to {sizes.timeout_s:.0f} s"
    )
    results = measure_all(
        sizes, (Path(sys.executable), metaflow_python), work_root, (1, sizes.steps)
    )
    add_notes(results, sizes)
    rows = build_rows(results, sizes)
    print_rows(rows, sizes)
    return run.finish(
        "pipelines",
        results,
        lambda command, seconds: section_markdown(
            rows, results, sizes, machine_facts(metaflow_version, run.loads()), command, seconds
        ),
        kept=f"Workspaces kept for inspection: {shown(work_root)}",
        remove=[work_root],
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
