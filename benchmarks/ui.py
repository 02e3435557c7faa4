"""The dashboard's runs page and runs API vs MLflow's ``runs/search`` REST call, same runs.

Run ``.venv/bin/python benchmarks/ui.py`` (what ``make bench`` does), or add ``--quick`` for a
smoke run with 2,000 runs that prints the tables but leaves RESULTS.md alone.

Why it is built like this:

* Both stores hold the same seeded runs (5 params, 3 metrics, 1 tag each; ``_ui_workers.py``),
  written in bulk through each tool's own schema, since creating 100,000 runs one call at a
  time is not what is measured. Filled stores are cached under ``benchmarks/.work/ui-*``, so
  reruns skip the fill.
* Each side is its own server process on 127.0.0.1, as users run it: ``shipyard ui`` and
  ``mlflow server`` (SQLite backend, one worker), in turn, never at the same time.
* One keep-alive HTTP connection, a few untimed warm-up requests, then the routes take turns
  within each round, so a change in the machine's load falls on all of them. Every first page
  is checked against the runs the seeded data says it must hold.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import _results as shared
from _results import BenchmarkError, Verdicts, console, over, shown
from _ui_workers import (
    EXPERIMENT,
    FILTER_BELOW,
    GENERATOR_VERSION,
    PAGE_SIZE,
    SEED,
    Config,
    expected_names,
)
from serving import Server, free_port, start, stop, tool_env, tree_cpu_s, wait_ready

from tracking import ensure_mlflow_peer, git_revision, json_answer

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_ui_workers.py"
WORK_DIR = HERE / ".work"
PAGE_TARGET_MS = 300.0  # the runs page's median at TARGET_RUNS: under this
MLFLOW_TARGET = 5.0  # MLflow's search median over the runs page's: at least this
TARGET_RUNS = 100_000
REQUEST_TIMEOUT_S = 120.0  # one request without an answer by then: "time bound hit"
WARMUP_LIMIT_S = 20.0  # no more untimed requests for a route once they took this long
SETTLE_CORES = 0.05  # a server is idle once its processes use less than this for a second
SETTLE_LIMIT_S = 90.0
FILTER = f"metrics.loss < {FILTER_BELOW}"
RUN_NAME = re.compile(r"\brun-\d{6}\b")  # how _ui_workers names its runs
ORDER = "metrics.loss asc"


@dataclass(frozen=True)
class Sizes:
    """Runs per store, and how many requests each route gets."""

    runs: tuple[int, ...]
    warmup: int
    reps: int
    route_limit_s: float  # a route stops after this much timed work, with at least MIN_REPS


FULL = Sizes(runs=(10_000, 100_000), warmup=5, reps=30, route_limit_s=120)
QUICK = Sizes(runs=(2_000,), warmup=3, reps=10, route_limit_s=30)
MIN_REPS = 5


@dataclass(frozen=True)
class Route:
    """One timed request: a key, what it is called, how to send it, which first page it must be."""

    key: str
    tool: str
    label: str
    method: str
    path: str
    body: dict[str, Any] | None
    expect: str  # "latest" or "filtered"
    kind: str  # "html", "shipyard-json" or "mlflow-json"


def shipyard_routes() -> list[Route]:
    latest = {"experiment": EXPERIMENT}
    filtered = {"experiment": EXPERIMENT, "filter": FILTER, "order_by": ORDER}
    return [
        Route("page", "shipyard", "runs page", "GET", f"/runs?{urlencode(latest)}", None,
              "latest", "html"),
        Route("api", "shipyard", "runs API", "GET",
              f"/api/runs?{urlencode({**latest, 'limit': PAGE_SIZE})}", None, "latest",
              "shipyard-json"),
        Route("page_filtered", "shipyard", "runs page, filtered + sorted", "GET",
              f"/runs?{urlencode(filtered)}", None, "filtered", "html"),
        Route("api_filtered", "shipyard", "runs API, filtered + sorted", "GET",
              f"/api/runs?{urlencode({**filtered, 'limit': PAGE_SIZE})}", None, "filtered",
              "shipyard-json"),
    ]  # fmt: skip


def mlflow_routes(experiment_id: str) -> list[Route]:
    path = "/api/2.0/mlflow/runs/search"
    latest = {
        "experiment_ids": [experiment_id],
        "max_results": PAGE_SIZE,
        "order_by": ["attributes.start_time DESC"],
    }
    filtered = {
        "experiment_ids": [experiment_id],
        "max_results": PAGE_SIZE,
        "filter": f"metrics.loss < {FILTER_BELOW}",
        "order_by": ["metrics.loss ASC"],
    }
    return [
        Route("search", "mlflow", "runs/search", "POST", path, latest, "latest", "mlflow-json"),
        Route("search_filtered", "mlflow", "runs/search, filtered + sorted", "POST", path,
              filtered, "filtered", "mlflow-json"),
    ]  # fmt: skip


# -- the stores ------------------------------------------------------------------------------
def store_dir(tool: str, runs: int) -> Path:
    return WORK_DIR / f"ui-{tool}-{runs}"


def ensure_store(tool: str, python: Path, runs: int, tool_version: str) -> dict[str, Any]:
    """The filled store for ``tool`` with ``runs`` runs, filled unless the cached one matches."""
    folder = store_dir(tool, runs)
    spec = {"generator": GENERATOR_VERSION, "seed": SEED, "runs": runs, "tool": tool_version}
    spec_file = folder / "ui-bench-spec.json"
    if spec_file.is_file():
        made: dict[str, Any] = json.loads(spec_file.read_text())
        if made.get("spec") == spec:
            console.print(f"  {tool:<8} reusing {shown(folder)}")
            return {**made, "reused": True}
    if folder.exists():
        shutil.rmtree(folder)
    config = Config(workspace=str(folder), n_runs=runs)
    argv = [str(python), str(WORKER), "fill", tool, json.dumps(asdict(config))]
    started = time.perf_counter()
    answer = json_answer(argv, folder, tool, 1800, f"{tool} fill of {runs:,} runs")
    answer.pop("config", None)
    made = {**answer, "spec": spec, "wall_s": time.perf_counter() - started}
    spec_file.write_text(json.dumps(made))
    console.print(
        f"  {tool:<8} filled {shown(folder)} in {made['wall_s']:.1f} s "
        f"(inserts {made['seconds']:.1f} s)"
    )
    return {**made, "reused": False}


# -- HTTP ------------------------------------------------------------------------------------
class Client:
    """One keep-alive connection; keeps the cookies a browser would send back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        self.cookies: dict[str, str] = {}
        self.reconnects = 0

    def send(self, route: Route) -> tuple[float, int, bytes]:
        """Milliseconds from sending the request to the last byte of the answer."""
        headers = {"Accept": "application/json" if route.kind != "html" else "text/html"}
        body = None
        if route.body is not None:
            body = json.dumps(route.body).encode()
            headers["Content-Type"] = "application/json"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.perf_counter()
        self.connection.request(route.method, route.path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        ms = (time.perf_counter() - started) * 1000
        for value in response.headers.get_all("set-cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        if response.will_close:  # the server closed the connection: open a new one
            self.connection.close()
            self.reconnects += 1
        return ms, response.status, data

    def close(self) -> None:
        self.connection.close()


def names_in(route: Route, data: bytes) -> list[str]:
    """The run names of one answer, in the order the answer lists them."""
    if route.kind == "html":
        text = data.decode("utf-8", errors="replace")
        return [name for _, name in sorted((text.find(n), n) for n in _candidates(text))]
    answer = json.loads(data)
    if route.kind == "mlflow-json":
        return [run["info"]["run_name"] for run in answer.get("runs", [])]
    return [run["name"] for run in answer.get("runs", [])]


def _candidates(text: str) -> set[str]:
    return set(RUN_NAME.findall(text))


def check_answer(route: Route, status: int, data: bytes, expected: list[str]) -> str | None:
    """What is wrong with a first page, or None."""
    if status != 200:
        return f"HTTP {status}: {data[:300].decode('utf-8', errors='replace')}"
    try:
        names = names_in(route, data)
    except (ValueError, KeyError, TypeError) as exc:
        return f"unreadable answer ({exc}): {data[:200].decode('utf-8', errors='replace')}"
    if names != expected:
        return (
            f"expected {len(expected)} runs starting {expected[:3]}, "
            f"got {len(names)} starting {names[:3]}"
        )
    return None


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value at least ``share`` of them are at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# -- one side, one size ----------------------------------------------------------------------
@dataclass
class Timing:
    route: Route
    runs: int
    times_ms: list[float]
    bytes: int

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        return percentile(self.times_ms, 0.95)


@dataclass
class Results:
    timings: dict[tuple[int, str], Timing] = field(default_factory=dict)
    stores: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    bounded: dict[tuple[int, str], float] = field(default_factory=dict)  # the bound it hit
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)  # tool -> query -> plan
    ready_s: dict[tuple[int, str], float] = field(default_factory=dict)
    settle_s: dict[tuple[int, str], float] = field(default_factory=dict)
    loads: dict[tuple[int, str], tuple[float, float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def p50(self, runs: int, key: str) -> float | None:
        found = self.timings.get((runs, key))
        return None if found is None else found.p50


def make_server(tool: str, python: Path, runs: int) -> Server:
    folder = store_dir(tool, runs)
    port = free_port()
    host = ["--host", "127.0.0.1", "--port", str(port)]
    env = tool_env(tool, folder, python)
    if tool == "shipyard":
        argv = [str(python.with_name("shipyard")), "ui", *host]
        return Server(tool, "", argv, env, folder, "/api/openapi.json", "", "", port)
    argv = [str(python.with_name("mlflow")), "server", *host, "--workers", "1"]
    argv += ["--backend-store-uri", f"sqlite:///{folder}/mlflow.db"]
    argv += ["--default-artifact-root", str(folder / "mlruns")]
    return Server(tool, "", argv, env, folder, "/health", "", "", port)


def settle(server: Server) -> float:
    """Seconds until the server's processes go idle after it first answers.

    ``mlflow server`` answers within seconds but keeps starting its job runner for several
    more, which would compete with the first timed requests on a small machine.
    """
    assert server.process is not None
    started = time.perf_counter()
    before = tree_cpu_s(server.process.pid)
    while time.perf_counter() - started < SETTLE_LIMIT_S:
        time.sleep(1.0)
        after = tree_cpu_s(server.process.pid)
        if after - before < SETTLE_CORES:
            break
        before = after
    return time.perf_counter() - started


def launch(results: Results, server: Server, runs: int) -> Client:
    """Start the server, wait until it answers and goes idle; a fresh connection to it."""
    start(server, WORK_DIR / "ui-logs")
    results.ready_s.setdefault((runs, server.tool), wait_ready(server))
    results.settle_s.setdefault((runs, server.tool), settle(server))
    return Client(server.port)


def shut_down(results: Results, server: Server, client: Client | None, runs: int) -> None:
    if client is not None:
        client.close()
    code = stop(server)
    log = server.log.read_text(errors="replace") if server.log and server.log.is_file() else ""
    if "Traceback" in log or "ERROR" in log:
        results.notes.append(
            f"{server.label}'s log at {runs:,} runs holds errors (exit {code}): "
            f"{shown(server.log) if server.log else '?'}"
        )


def warm_up(client: Client, route: Route, sizes: Sizes) -> tuple[int, bytes]:
    """Untimed requests: ``sizes.warmup`` of them, fewer for a slow route (at least one)."""
    started = time.perf_counter()
    status, data = 0, b""
    for _ in range(sizes.warmup):
        _, status, data = client.send(route)
        if time.perf_counter() - started > WARMUP_LIMIT_S:
            break
    return status, data


def measure_side(
    results: Results,
    sizes: Sizes,
    server: Server,
    routes: list[Route],
    expected: dict[str, list[str]],
    runs: int,
) -> None:
    """Check and warm up every route, then time them in turns; one server, restarted only
    after a request ran past REQUEST_TIMEOUT_S (it would still be busy with it)."""
    client: Client | None = None
    try:
        client = launch(results, server, runs)
        load_before = os.getloadavg()[0]
        good: list[tuple[Route, int]] = []
        for route in routes:
            try:
                status, data = warm_up(client, route, sizes)
            except TimeoutError:
                client = bounded(results, server, client, route, runs)
                continue
            problem = check_answer(route, status, data, expected[route.expect])
            if problem is None:
                good.append((route, len(data)))
            else:
                results.errors.append(f"{route.tool} {route.label} at {runs:,} runs: {problem}")
                console.print(f"  {route.label}: [red]wrong answer[/red]: {problem}")
        times: dict[str, list[float]] = {route.key: [] for route, _ in good}
        spent: dict[str, float] = dict.fromkeys(times, 0.0)
        for rep in range(sizes.reps):
            for route, _ in list(good):
                if rep >= MIN_REPS and spent[route.key] > sizes.route_limit_s:
                    continue  # a slow route is measured by fewer requests, not waited for
                try:
                    ms, status, _ = client.send(route)
                except TimeoutError:
                    client = bounded(results, server, client, route, runs)
                    good = [(r, size) for r, size in good if r.key != route.key]
                    continue
                if status != 200:
                    raise BenchmarkError(f"{route.label}: HTTP {status} during the timing")
                times[route.key].append(ms)
                spent[route.key] += ms / 1000
        for route, size in good:
            timing = Timing(route, runs, times[route.key], size)
            results.timings[(runs, route.key)] = timing
            console.print(
                f"  {route.label:<32} p50 {timing.p50:9.1f} ms   p95 {timing.p95:9.1f} ms   "
                f"({len(timing.times_ms)} requests, {size / 1024:,.0f} KiB)"
            )
        results.loads[(runs, server.tool)] = (load_before, os.getloadavg()[0])
        if client.reconnects:
            results.notes.append(
                f"{server.label} closed the keep-alive connection {client.reconnects} times "
                f"at {runs:,} runs (a new one was opened each time, inside the timing)."
            )
    except (BenchmarkError, OSError, ValueError, http.client.HTTPException) as exc:
        results.errors.append(f"{server.label} at {runs:,} runs: {exc!r}")
        console.print(f"  [red]failed[/red]: {exc!r}")
    finally:
        shut_down(results, server, client, runs)


def bounded(results: Results, server: Server, client: Client, route: Route, runs: int) -> Client:
    """Record that ``route`` ran past the time bound; restart the server, which is still busy
    with that request, and answer a fresh connection to it."""
    results.bounded[(runs, route.key)] = REQUEST_TIMEOUT_S
    console.print(
        f"  {route.label:<32} [yellow]time bound hit[/yellow]: no answer in "
        f"{REQUEST_TIMEOUT_S:.0f} s; restarting the server for the other routes"
    )
    shut_down(results, server, client, runs)
    return launch(results, server, runs)


def mlflow_experiment_id(results: Results, runs: int) -> str | None:
    store = results.stores.get((runs, "mlflow"))
    return None if store is None else str(store["experiment_id"])


def measure_all(sizes: Sizes, pythons: dict[str, Path], versions: dict[str, str]) -> Results:
    results = Results()
    for runs in sizes.runs:
        console.print(f"[bold]{runs:,} runs[/bold]")
        for tool in ("shipyard", "mlflow"):
            try:
                results.stores[(runs, tool)] = ensure_store(
                    tool, pythons[tool], runs, versions[tool]
                )
            except (BenchmarkError, OSError, ValueError, subprocess.SubprocessError) as exc:
                results.errors.append(f"{tool} fill of {runs:,} runs: {exc}")
                console.print(f"  {tool:<8} fill [red]crashed[/red]: {exc}")
        expected = expected_names(SEED, runs)
        if (runs, "shipyard") in results.stores:
            console.print(f"  [bold]Shipyard[/bold] (`shipyard ui`), {runs:,} runs")
            server = make_server("shipyard", pythons["shipyard"], runs)
            measure_side(results, sizes, server, shipyard_routes(), expected, runs)
        experiment_id = mlflow_experiment_id(results, runs)
        if experiment_id is not None:
            console.print(f"  [bold]MLflow[/bold] (`mlflow server`), {runs:,} runs")
            server = make_server("mlflow", pythons["mlflow"], runs)
            measure_side(results, sizes, server, mlflow_routes(experiment_id), expected, runs)
    explain_searches(results, max(sizes.runs), pythons)
    return results


def explain_searches(results: Results, runs: int, pythons: dict[str, Path]) -> None:
    """Each side's main SELECT for both searches and SQLite's plan for it (never run)."""
    for tool in ("shipyard", "mlflow"):
        if (runs, tool) not in results.stores:
            continue
        folder = store_dir(tool, runs)
        config = Config(workspace=str(folder), n_runs=runs)
        argv = [str(pythons[tool]), str(WORKER), "plans", tool, json.dumps(asdict(config))]
        try:
            answer = json_answer(argv, folder, tool, 300, f"{tool} query plans")
        except BenchmarkError as exc:
            results.notes.append(f"{tool} query plans could not be read: {exc}")
            continue
        results.plans[tool] = answer["plans"]


# -- the tables ------------------------------------------------------------------------------
Row = tuple[str, ...]
HEADERS = (
    "runs",
    "query",
    "Shipyard runs page",
    "Shipyard runs API",
    "MLflow runs/search",
    "MLflow / page",
    "MLflow / API",
    "targets",
)
TABLE_TITLE = "Runs page / API vs MLflow runs/search: median (p95), ms"
TOOL_LABELS = {"shipyard": "Shipyard", "mlflow": "MLflow"}
QUERY_NAMES = {"latest": "newest first", "filtered": "filtered + sorted"}
QUERIES = {
    "latest": ("newest first, 50 per page", "page", "api", "search"),
    "filtered": (
        f"`{FILTER}`, by `{ORDER}`, 50 per page",
        "page_filtered",
        "api_filtered",
        "search_filtered",
    ),
}


def time_cell(results: Results, runs: int, key: str) -> str:
    found = results.timings.get((runs, key))
    bound = results.bounded.get((runs, key))
    if found is None and bound is not None:
        return f"time bound hit (> {bound:.0f} s)"
    if found is None:
        return "not measured"
    return f"{found.p50:,.1f} ms (p95 {found.p95:,.1f})"


def ratio_text(value: float | None, at_least: bool = False) -> str:
    return "-" if value is None else f"{'> ' if at_least else ''}{value:,.1f}x"


def table_rows(results: Results, sizes: Sizes, verdicts: Verdicts) -> list[Row]:
    rows: list[Row] = []
    for runs in sizes.runs:
        for query, (words, page, api, search) in QUERIES.items():
            theirs = results.p50(runs, search)
            bound = results.bounded.get((runs, search))
            at_least = theirs is None and bound is not None
            if at_least:
                theirs = 1000 * (bound or 0)  # a lower bound: the ratios are too
            page_ratio = over(theirs, results.p50(runs, page))
            api_ratio = over(theirs, results.p50(runs, api))
            targets = "-"
            if runs == TARGET_RUNS and query == "latest":
                page_ms = results.p50(runs, page)
                fast = verdicts.add(
                    "page",
                    f"runs page under {PAGE_TARGET_MS:g} ms at {runs:,} runs",
                    page_ms,
                    page_ms is not None and page_ms < PAGE_TARGET_MS,
                    f"{page_ms or 0:,.1f} ms",
                )
                faster = verdicts.add(
                    "mlflow",
                    f"runs page >= {MLFLOW_TARGET:g}x faster than MLflow's runs/search at "
                    f"{runs:,} runs",
                    page_ratio,
                    page_ratio is not None and page_ratio >= MLFLOW_TARGET,
                    ratio_text(page_ratio, at_least),
                    at_least,
                )
                targets = f"< {PAGE_TARGET_MS:g} ms: {fast}; >= {MLFLOW_TARGET:g}x: {faster}"
            rows.append(
                (
                    f"{runs:,}",
                    words,
                    time_cell(results, runs, page),
                    time_cell(results, runs, api),
                    time_cell(results, runs, search),
                    ratio_text(page_ratio, at_least),
                    ratio_text(api_ratio, at_least),
                    targets,
                )
            )
    return rows


def verdict_lines(verdicts: Verdicts) -> list[str]:
    keys = {
        "page": f"runs page under {PAGE_TARGET_MS:g} ms at {TARGET_RUNS:,} runs",
        "mlflow": f"runs page >= {MLFLOW_TARGET:g}x faster than MLflow's runs/search at "
        f"{TARGET_RUNS:,} runs",
    }
    return [verdicts.lines.get(key, f"{words}: not measured") for key, words in keys.items()]


# -- notes and RESULTS.md --------------------------------------------------------------------
def add_notes(results: Results, sizes: Sizes) -> None:
    cores = len(os.sched_getaffinity(0))
    parts = []
    for runs in sizes.runs:
        for tool in ("shipyard", "mlflow"):
            load = results.loads.get((runs, tool))
            if load is not None:
                parts.append(f"{TOOL_LABELS[tool]} at {runs:,} runs {load[0]:.1f} -> {load[1]:.1f}")
    if parts:
        results.notes.append(
            f"1-minute load average before -> after each side's timing: {'; '.join(parts)}. "
            f"The client and the server keep about one of the {cores} cores busy; a load above "
            "that means other processes competed for the CPU and the times are high."
        )
    sizes_seen = []
    for runs in sizes.runs:
        answers = [
            f"{timing.route.label} {timing.bytes / 1024:,.0f} KiB"
            for (n, _), timing in results.timings.items()
            if n == runs
        ]
        if answers:
            sizes_seen.append(f"{runs:,} runs: " + ", ".join(answers))
    if sizes_seen:
        results.notes.append("Answer sizes: " + "; ".join(sizes_seen) + ".")
    counts = {
        f"{timing.route.label} at {n:,}": len(timing.times_ms)
        for (n, _), timing in results.timings.items()
        if len(timing.times_ms) < sizes.reps
    }
    if counts:
        results.notes.append(
            f"Routes that hit the {sizes.route_limit_s:g} s budget and were timed fewer than "
            f"{sizes.reps} times: " + ", ".join(f"{k} ({v})" for k, v in counts.items()) + "."
        )
    labels = {route.key: route for route in [*shipyard_routes(), *mlflow_routes("")]}
    for (runs, key), bound in results.bounded.items():
        route = labels[key]
        results.notes.append(
            f"{TOOL_LABELS[route.tool]} {route.label} at {runs:,} runs gave no answer within "
            f"{bound:.0f} s (one request; the server was then restarted for the other routes): "
            "its time is at least that, and its ratios are lower bounds."
        )
    fills = []
    for (runs, tool), made in results.stores.items():
        how = "cached" if made["reused"] else "filled now"
        fills.append(f"{TOOL_LABELS[tool]} {runs:,} runs in {made['wall_s']:.0f} s ({how})")
    if fills:
        results.notes.append("Store fills (not timed by the table): " + ", ".join(fills) + ".")
    ready = ", ".join(
        f"{TOOL_LABELS[tool]} {runs:,} runs {seconds:.1f} s + "
        f"{results.settle_s.get((runs, tool), 0):.1f} s"
        for (runs, tool), seconds in results.ready_s.items()
    )
    if ready:
        results.notes.append(
            "Server start until its first answer + until its processes went idle (under "
            f"{SETTLE_CORES:g} of a core for a second; only then the warm-up began): {ready}."
        )


def add_plan_notes(results: Results, sizes: Sizes) -> None:
    if not results.plans:
        return
    runs = max(sizes.runs)
    shown_plans = []
    for tool, plans in results.plans.items():
        for query, found in plans.items():
            steps = "; ".join(f"`{step}`" for step in found.get("plan", [])) or "not captured"
            shown_plans.append(f"{TOOL_LABELS[tool]} {QUERY_NAMES[query]}: {steps}")
    results.notes.append(
        f"SQLite's plan for each side's main SELECT at {runs:,} runs (EXPLAIN QUERY PLAN with "
        "the parameters bound as each tool sends them): " + " | ".join(shown_plans) + "."
    )
    for tool, plans in results.plans.items():
        for query, found in plans.items():
            scanned = [
                match.group(1)
                for step in found.get("plan", [])
                if (match := re.match(r"SCAN (\w+) LEFT-JOIN", step))
            ]
            if scanned:
                results.notes.append(
                    f"{TOOL_LABELS[tool]}'s {QUERY_NAMES[query]} search: `SCAN {scanned[0]} "
                    "LEFT-JOIN` reads "
                    f"the whole materialized subquery `{scanned[0]}` (every run's value of the "
                    "sort key) once per run that passes the filter, so its time grows with the "
                    "square of the runs."
                )
    filtered = results.plans.get("shipyard", {}).get("filtered", {})
    slower = over(results.p50(runs, "api_filtered"), results.p50(runs, "api"))
    if filtered.get("sql") and slower is not None and slower >= 5:
        results.notes.append(
            f"Shipyard's runs API takes {slower:.0f}x longer filtered + sorted than newest "
            f"first at {runs:,} runs. Its SELECT, as `TrackingService.search_runs` sends it "
            f"(parameters {', '.join(filtered.get('parameters', []))}): `{filtered['sql']}`"
        )


def peer_versions(python: Path, names: Sequence[str]) -> dict[str, str]:
    probe = (
        "import json, sys\nfrom importlib import metadata\nfound = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n        found[name] = metadata.version(name)\n"
        "    except metadata.PackageNotFoundError:\n        found[name] = 'not installed'\n"
        "print(json.dumps(found))\n"
    )
    done = subprocess.run(
        [str(python), "-c", probe, *names], capture_output=True, text=True, check=False
    )
    try:
        found: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}
    return found


def peer_sqlite(python: Path) -> str:
    probe = "import sqlite3; print(sqlite3.sqlite_version)"
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


SERVER_LIBRARIES = ("uvicorn", "starlette", "fastapi", "uvloop", "httptools", "sqlalchemy")


def machine_facts(
    mlflow_python: Path, mlflow_version: str, loads: tuple[float, float]
) -> dict[str, str]:
    ours = peer_versions(Path(sys.executable), ("shipyard", *SERVER_LIBRARIES, "jinja2"))
    theirs = peer_versions(mlflow_python, (*SERVER_LIBRARIES, "flask"))
    return {
        **shared.machine_basics(loads),
        "SQLite (Python's sqlite3)": f"Shipyard's venv {sqlite3.sqlite_version}, MLflow's "
        + peer_sqlite(mlflow_python),
        "Shipyard": f"{ours.get('shipyard', '?')} ({git_revision()}), `shipyard ui` with its "
        "defaults (SQLite workspace); "
        + ", ".join(f"{n} {ours.get(n, '?')}" for n in (*SERVER_LIBRARIES, "jinja2")),
        "MLflow": f"{mlflow_version}, `mlflow server --workers 1` (SQLite backend store); "
        + ", ".join(f"{n} {theirs.get(n, '?')}" for n in (*SERVER_LIBRARIES, "flask")),
    }


def section_markdown(
    results: Results, sizes: Sizes, facts: dict[str, str], command: str, seconds: float
) -> str:
    verdicts = Verdicts()
    rows = table_rows(results, sizes, verdicts)
    parts = [
        *shared.heading(
            "# UI benchmark: the runs page and its API vs MLflow's runs/search",
            command,
            seconds,
            verdict_lines(verdicts),
        ),
        "## Response time on 127.0.0.1, median (p95) of each route",
        "",
        *shared.markdown_table(HEADERS, rows),
        "",
        f"Shipyard: `GET /runs?experiment={EXPERIMENT}` (the HTML page) and `GET /api/runs?"
        f"experiment={EXPERIMENT}&limit={PAGE_SIZE}` (JSON), and the same with `filter` and "
        "`order_by`. MLflow: `POST /api/2.0/mlflow/runs/search` with `max_results` "
        f"{PAGE_SIZE} and `order_by` `attributes.start_time DESC` (or `filter` and `metrics."
        "loss ASC`). Each time runs from sending the request to the answer's last byte, over "
        f"one keep-alive connection, after {sizes.warmup} untimed requests per route; the "
        f"routes take turns, {sizes.reps} rounds. x: MLflow's median over Shipyard's. Every "
        "first page holds exactly the runs the seeded data says it must. Each store holds "
        "only the runs counted, in one experiment: 5 params, 3 metrics (one value each) and "
        "1 tag per run (MLflow's also the 4 system tags its client adds). See README.md for "
        "the method.",
    ]
    return shared.with_machine_and_notes(parts, facts, [*results.notes, *results.errors])


# -- main ------------------------------------------------------------------------------------
def main(argv: Sequence[str]) -> int:
    run = shared.begin(__file__, shared.parse_args(argv, __doc__), ensure_mlflow_peer)
    mlflow_python, mlflow_version = run.peer
    sizes = QUICK if run.args.quick else FULL
    pythons = {"shipyard": Path(sys.executable), "mlflow": mlflow_python}
    versions = {"shipyard": metadata.version("shipyard"), "mlflow": mlflow_version}
    results = measure_all(sizes, pythons, versions)
    add_notes(results, sizes)
    add_plan_notes(results, sizes)
    verdicts = Verdicts()
    shared.print_table(TABLE_TITLE, HEADERS, table_rows(results, sizes, verdicts))
    logs_named = any("log at" in note for note in results.notes)
    return run.finish(
        "ui",
        results,
        lambda command, seconds: section_markdown(
            results,
            sizes,
            machine_facts(mlflow_python, mlflow_version, run.loads()),
            command,
            seconds,
        ),
        targets=verdict_lines(verdicts),
        kept=f"Stores and server logs kept under {shown(WORK_DIR)} (ui-*).",
        remove=[] if logs_named else [WORK_DIR / "ui-logs"],  # the filled stores stay
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
