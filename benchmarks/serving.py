"""Shipyard's model server vs `mlflow models serve`, BentoML and a bare Starlette endpoint.

Run ``.venv/bin/python benchmarks/serving.py`` (what ``make bench`` does), or add ``--quick`` for
a smoke run (3 s per load, 16 connections) that prints the tables but leaves RESULTS.md alone.

Why it is built like this:

* The same two models on every side: a scikit-learn ``GradientBoostingClassifier`` and a
  LightGBM ``LGBMClassifier`` on scikit-learn's breast-cancer data (30 float columns), seeded and
  trained in each tool's own venv by ``_serving_workers.py``; each server's answers on a few rows
  of both classes must equal Shipyard's in-process model before any load is sent.
* MLflow and BentoML live in their own throwaway virtualenvs under ``benchmarks/.peers`` (the
  MLflow one is ``tracking.py``'s), so they never change Shipyard's dependencies. Both peers get
  uvloop and httptools too, so nobody wins by the event loop alone.
* Each server is its tool's own command (``shipyard serve``, ``mlflow models serve``,
  ``bentoml serve``; uvicorn for the bare endpoint) with the same number of worker processes,
  bound to 127.0.0.1 on a free port, and loaded only once it says it is ready.
* Load comes from wrk (a C closed-loop client: N connections, each sending the next request as
  soon as the answer arrives) with single-row JSON POSTs; without wrk, from a bounded asyncio
  client (``_serving_load.py``). Every load run is bounded in time.
* The CPU that the server's processes, the load generator and everything else used during each
  run is measured from /proc, so a run disturbed by other work on the machine says so.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import _results as shared
from _results import BenchmarkError, console, shown

from tracking import (
    NO_TORCH_CONSTRAINT,
    ensure_mlflow_peer,
    fresh_peer_venv,
    git_revision,
    json_answer,
    peer_has_torch,
    pip_install,
)
from tracking import PEER_DIR as MLFLOW_PEER_DIR

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "_serving_workers.py"
LOAD_CLIENT = HERE / "_serving_load.py"
WORK_DIR = HERE / ".work"
BENTOML_PEER_DIR = HERE / ".peers" / "bentoml"
BENTOML_STAMP = BENTOML_PEER_DIR / ".shipyard-bench-installed"
# lightgbm, uvloop and httptools added to tracking.py's MLflow peer (wiped with it).
MLFLOW_EXTRAS_STAMP = MLFLOW_PEER_DIR / ".shipyard-serving-extras"
BENTOML_REQUIREMENT = "bentoml>=1.2,<2"
# Installed into both peers at Shipyard's versions when possible, at any version otherwise.
PEER_LIBRARIES = ("scikit-learn", "lightgbm", "pandas", "numpy", "uvloop", "httptools")

MODELS = ("sklearn", "lightgbm")
MODEL_NAMES = {"sklearn": "scikit-learn GBM", "lightgbm": "LightGBM"}
TOOLS = ("shipyard", "mlflow", "bentoml", "bare")
TOOL_NAMES = {
    "shipyard": "Shipyard",
    "mlflow": "MLflow",
    "bentoml": "BentoML",
    "bare": "bare Starlette",
}
MLFLOW_TARGET = 5.0  # Shipyard's requests/s over MLflow's
BENTOML_TARGET = 1.5  # ... over BentoML's
FLOOR_TARGET = 0.5  # ... over the bare endpoint's
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0
REQUEST_TIMEOUT_S = 10
DISTURBED_CORES = 0.25  # other processes using more than this during a run: say so
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BENIGN_ERRORS = ("ClientDisconnect", "CancelledError")


@dataclass(frozen=True)
class Sizes:
    """How long each load runs, at which concurrencies, and the in-process timing budget."""

    seconds: float
    concurrencies: tuple[int, ...]
    warmup_s: float
    inprocess_calls: int
    inprocess_seconds: float


FULL = Sizes(
    seconds=20, concurrencies=(16, 64), warmup_s=3, inprocess_calls=5_000, inprocess_seconds=3
)
QUICK = Sizes(
    seconds=3, concurrencies=(16,), warmup_s=1, inprocess_calls=500, inprocess_seconds=0.5
)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 s loads at 16 connections, print only"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes per server (default 1)"
    )
    parser.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help=f"comma-separated subset of {','.join(TOOLS)} (a subset leaves RESULTS.md alone)",
    )
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help=f"comma-separated subset of {','.join(MODELS)} (a subset leaves RESULTS.md alone)",
    )
    args = parser.parse_args(argv)
    args.tools = [t for t in TOOLS if t in args.tools.split(",")]
    args.models = [m for m in MODELS if m in args.models.split(",")]
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


# -- peers -------------------------------------------------------------------------------------
def wanted_versions() -> dict[str, str]:
    """Shipyard's versions of the libraries every peer should share with it."""
    found = {}
    for name in PEER_LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = ""
    return found


def pinned(names: Sequence[str], exact: bool) -> list[str]:
    versions = wanted_versions()
    return [f"{n}=={versions[n]}" if exact and versions[n] else n for n in names]


def install_pinned_or_not(python: Path, extra: Sequence[str], constraints: Path) -> bool:
    """Install with Shipyard's versions of the shared libraries; any version if that fails."""
    if pip_install(python, [*extra, *pinned(PEER_LIBRARIES, True)], constraints):
        return True
    print("  same versions as Shipyard's failed to install; trying any version")
    return pip_install(python, [*extra, *pinned(PEER_LIBRARIES, False)], constraints)


def ensure_mlflow_serving_peer() -> tuple[Path, str]:
    """tracking.py's MLflow peer, plus lightgbm, uvloop and httptools for serving."""
    python, version = ensure_mlflow_peer()
    if not MLFLOW_EXTRAS_STAMP.is_file():
        print("MLflow peer: adding lightgbm, uvloop and httptools (first run only)", flush=True)
        constraints = MLFLOW_PEER_DIR / "no-torch-constraints.txt"
        constraints.write_text(NO_TORCH_CONSTRAINT)
        if not install_pinned_or_not(python, [], constraints):
            raise BenchmarkError("Could not add lightgbm to the MLflow peer virtualenv.")
        MLFLOW_EXTRAS_STAMP.write_text(json.dumps({"requirements": list(PEER_LIBRARIES)}))
    return python, version


def ensure_peers(tools: Sequence[str]) -> dict[str, tuple[Path, str]]:
    """The Python and the version of each peer server among ``tools``, installed where needed."""
    peers: dict[str, tuple[Path, str]] = {}
    if "mlflow" in tools:
        peers["mlflow"] = ensure_mlflow_serving_peer()
    if "bentoml" in tools:
        peers["bentoml"] = ensure_bentoml_peer()
    return peers


def ensure_bentoml_peer() -> tuple[Path, str]:
    """The BentoML peer venv's python and BentoML version, installing it on first use."""
    python = BENTOML_PEER_DIR / "bin" / "python"
    if BENTOML_STAMP.is_file() and python.is_file():
        version = json.loads(BENTOML_STAMP.read_text())["bentoml_version"]
        print(f"BentoML peer: reusing {shown(BENTOML_PEER_DIR)} (bentoml {version})")
        return python, version
    started = time.perf_counter()
    python, constraints = fresh_peer_venv(BENTOML_PEER_DIR, "BentoML")
    if not install_pinned_or_not(python, [BENTOML_REQUIREMENT], constraints):
        raise BenchmarkError("Could not install BentoML into its peer virtualenv.")
    if peer_has_torch(python):
        raise BenchmarkError("torch ended up in the BentoML peer venv; delete it and retry.")
    probe = "from importlib import metadata; print(metadata.version('bentoml'))"
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True)
    version = done.stdout.strip()
    seconds = time.perf_counter() - started
    BENTOML_STAMP.write_text(json.dumps({"bentoml_version": version, "seconds": seconds}))
    print(f"BentoML peer: bentoml {version} installed in {seconds:.0f} s")
    return python, version


# -- environments and workers ------------------------------------------------------------------
def clean_env() -> dict[str, str]:
    """The caller's environment without anything that could point a tool elsewhere."""
    prefixes = ("SHIPYARD_", "MLFLOW_", "BENTOML_", "VIRTUAL_ENV", "SERVING_BENCH_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def tool_env(tool: str, workspace: Path, python: Path) -> dict[str, str]:
    env = clean_env()
    # As an activated venv would: `mlflow models serve` starts `uvicorn` from the PATH.
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    if tool == "shipyard":
        env["SHIPYARD_HOME"] = str(workspace)
    elif tool == "mlflow":
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workspace}/mlflow.db"
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"  # no network here
    elif tool == "bentoml":
        env["BENTOML_HOME"] = str(workspace / "bentoml")
        env["BENTOML_DO_NOT_TRACK"] = "True"
    return env


def run_worker(
    python: Path, task: str, tool: str, workspace: Path, config: dict[str, Any]
) -> dict[str, Any]:
    """Run one task of ``_serving_workers.py`` in a fresh interpreter; its JSON answer."""
    argv = [str(python), str(WORKER), task, json.dumps(config)]
    env = tool_env(tool, workspace, python)
    return json_answer(argv, workspace, tool, 600, f"{tool} {task}", env=env)


# -- servers -----------------------------------------------------------------------------------
@dataclass
class Server:
    """How to start one tool's server for one model, and how to talk to it."""

    tool: str
    model: str  # "" for the bare endpoint
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    ready_path: str
    predict_path: str
    wrap: str  # the JSON key that holds the records: "instances" or "dataframe_records"
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def label(self) -> str:
        return TOOL_NAMES[self.tool] + (f", {MODEL_NAMES[self.model]}" if self.model else "")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def body(self, rows: list[dict[str, float]]) -> bytes:
        return json.dumps({self.wrap: rows}).encode()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start(server: Server, logs: Path) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    server.log = logs / f"{server.tool}-{server.model or 'floor'}-{server.port}.log"
    server.cwd.mkdir(parents=True, exist_ok=True)
    with server.log.open("wb") as log:
        server.process = subprocess.Popen(
            server.argv,
            cwd=server.cwd,
            env=server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, stopped whole
        )


def log_tail(server: Server, lines: int = 12) -> str:
    if server.log is None or not server.log.is_file():
        return ""
    text = server.log.read_text(errors="replace").strip().splitlines()
    return "\n".join(text[-lines:])


def wait_ready(server: Server) -> float:
    """Seconds until the readiness route answers 200; raises if the server dies or stalls."""
    assert server.process is not None
    started = time.perf_counter()
    while time.perf_counter() - started < READY_TIMEOUT_S:
        if server.process.poll() is not None:
            raise BenchmarkError(
                f"{server.label}: the server exited with {server.process.returncode} before it "
                f"was ready:\n{log_tail(server)}"
            )
        try:
            with urllib.request.urlopen(server.url(server.ready_path), timeout=2) as answer:
                if answer.status == 200:
                    return time.perf_counter() - started
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.25)
    raise BenchmarkError(
        f"{server.label}: not ready after {READY_TIMEOUT_S:.0f} s:\n{log_tail(server)}"
    )


def stop(server: Server) -> int | None:
    """SIGTERM to the server's process group, SIGKILL if it outstays STOP_TIMEOUT_S."""
    process = server.process
    if process is None:
        return None
    leftovers = [pid for pid in tree_pids(process.pid) if pid != process.pid]
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    # Whatever it left behind (workers that outlived their parent).
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return process.returncode


def post(server: Server, rows: list[dict[str, float]]) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(
        server.url(server.predict_path),
        data=server.body(rows),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        return error.code, dict(error.headers), text


def label_of(value: Any) -> Any:
    """A prediction as a plain label: ``[1]`` -> 1, ``1.0`` -> 1, ``"1"`` -> 1."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value) if float(value).is_integer() else value
    if isinstance(value, str):
        try:
            return label_of(float(value))
        except ValueError:
            return value
    return value


def check_answers(server: Server, rows: list[dict[str, float]], expected: list[int]) -> list[str]:
    """Each row sent alone must get the in-process model's label. Problems, in words."""
    problems = []
    for index, (row, label) in enumerate(zip(rows, expected, strict=True)):
        status, _, answer = post(server, [row])
        if status != 200:
            problems.append(f"row {index}: HTTP {status}: {str(answer)[:300]}")
            continue
        predictions = answer.get("predictions") if isinstance(answer, dict) else None
        if not isinstance(predictions, list) or len(predictions) != 1:
            problems.append(f"row {index}: unexpected answer {str(answer)[:300]}")
        elif label_of(predictions[0]) != label:
            problems.append(f"row {index}: predicted {predictions[0]!r}, expected {label}")
    return problems


# -- CPU accounting ----------------------------------------------------------------------------
def process_table() -> dict[int, tuple[int, int]]:
    """Every live process: pid -> (parent pid, CPU ticks of it and its reaped children)."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the name: state, ppid, ..., utime, stime, cutime, cstime (fields 14 to 17).
        table[int(stat.parent.name)] = (int(fields[1]), sum(int(v) for v in fields[11:15]))
    return table


def tree_pids(root: int, table: dict[int, tuple[int, int]] | None = None) -> list[int]:
    """``root`` and all its live descendants (BentoML's workers start sessions of their own)."""
    table = process_table() if table is None else table
    children: dict[int, list[int]] = collections.defaultdict(list)
    for pid, (ppid, _) in table.items():
        children[ppid].append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            found.append(pid)
        todo += children.get(pid, [])
    return found


def tree_cpu_s(root: int) -> float:
    """User + system CPU seconds of the server's process tree."""
    table = process_table()
    return sum(table[pid][1] for pid in tree_pids(root, table)) / CLOCK_TICKS


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- load --------------------------------------------------------------------------------------
WRK_SCRIPT = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {{\\"requests\\": %d, \\"duration_us\\": %d, \\"connect\\": %d, \\"read\\": %d, "
    .. "\\"write\\": %d, \\"status\\": %d, \\"timeout\\": %d, \\"p50_us\\": %.1f, "
    .. "\\"p99_us\\": %.1f, \\"mean_us\\": %.1f, \\"max_us\\": %.1f}}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
"""


@dataclass
class LoadTool:
    """wrk when installed, else the asyncio client; either prints the same JSON fields."""

    wrk: str | None
    scratch: Path
    version: str = ""

    @classmethod
    def find(cls, scratch: Path) -> LoadTool:
        wrk = shutil.which("wrk")
        tool = cls(wrk, scratch)
        if wrk is None:
            print(
                "wrk not found: using the asyncio client in _serving_load.py, which is slower "
                "and lowers the figures of the fastest servers. Install wrk with "
                "`apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)."
            )
            tool.version = "asyncio client (_serving_load.py), wrk not installed"
        else:
            done = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
            first = (done.stdout + done.stderr).strip().splitlines()
            tool.version = first[0].split("[")[0].strip() if first else "wrk"
        return tool

    def run(self, url: str, body: bytes, connections: int, seconds: float) -> dict[str, Any]:
        self.scratch.mkdir(parents=True, exist_ok=True)
        if self.wrk is not None:
            script = self.scratch / "post.lua"
            script.write_text(WRK_SCRIPT.format(body=body.decode()))
            argv = [
                self.wrk,
                "-t1",  # one thread: the other core is the server's
                f"-c{connections}",
                f"-d{seconds:g}s",
                f"--timeout={REQUEST_TIMEOUT_S}s",
                "-s",
                str(script),
                url,
            ]
        else:
            body_file = self.scratch / "body.json"
            body_file.write_bytes(body)
            argv = [
                sys.executable,
                str(LOAD_CLIENT),
                url,
                str(body_file),
                str(connections),
                str(seconds),
            ]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=seconds + REQUEST_TIMEOUT_S + 30,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchmarkError(f"the load generator did not stop: {shlex_join(argv)}") from exc
        for line in reversed(done.stdout.strip().splitlines()):
            line = line.removeprefix("WRK_JSON ").strip()
            if line.startswith("{"):
                raw: dict[str, Any] = json.loads(line)
                return raw
        raise BenchmarkError(
            f"the load generator printed no result (exit {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-500:]}"
        )


def shlex_join(argv: Sequence[str]) -> str:
    import shlex

    return shlex.join(argv)


@dataclass
class Measurement:
    """One load run: a tool, a model, a concurrency."""

    tool: str
    model: str
    connections: int
    seconds: float
    ok: int
    non2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    server_cpu_s: float
    load_cpu_s: float
    other_cores: float

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors

    @property
    def cpu_us_per_request(self) -> float | None:
        return self.server_cpu_s / self.ok * 1e6 if self.ok else None


def measure(
    server: Server, load: LoadTool, body: bytes, connections: int, seconds: float
) -> Measurement:
    assert server.process is not None
    root = server.process.pid
    server_before, busy_before, load_before = (
        tree_cpu_s(root),
        machine_busy_s(),
        children_cpu_s(),
    )
    raw = load.run(server.url(server.predict_path), body, connections, seconds)
    server_cpu = tree_cpu_s(root) - server_before
    load_cpu = children_cpu_s() - load_before
    busy = machine_busy_s() - busy_before
    duration = raw["duration_us"] / 1e6
    non2xx = int(raw.get("non2xx", raw["status"]))
    return Measurement(
        tool=server.tool,
        model=server.model,
        connections=connections,
        seconds=duration,
        ok=int(raw["requests"]) - non2xx,
        non2xx=non2xx,
        socket_errors=sum(int(raw[k]) for k in ("connect", "read", "write", "timeout")),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        server_cpu_s=server_cpu,
        load_cpu_s=load_cpu,
        other_cores=max(0.0, busy - server_cpu - load_cpu) / duration if duration else 0.0,
    )


# -- the run -----------------------------------------------------------------------------------
@dataclass
class Results:
    measurements: list[Measurement] = field(default_factory=list)
    inprocess: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, dict[str, str]] = field(default_factory=dict)
    ready_s: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def get(self, tool: str, model: str, connections: int) -> Measurement | None:
        for found in self.measurements:
            if (found.tool, found.model, found.connections) == (tool, model, connections):
                return found
        return None


def serve_and_load(
    server: Server,
    results: Results,
    sizes: Sizes,
    load: LoadTool,
    logs: Path,
    check: tuple[list[dict[str, float]], list[int]] | None,
    load_row: dict[str, float],
) -> None:
    """Start, check, warm up, measure at each concurrency, stop; failures become errors."""
    console.print(f"[bold]{server.label}[/bold] on port {server.port}")
    try:
        start(server, logs)
        ready = wait_ready(server)
        results.ready_s[server.label] = ready
        console.print(f"  ready in {ready:.1f} s")
        if check is not None:
            problems = check_answers(server, *check)
            if problems:
                results.errors.append(f"{server.label}: wrong answers: {'; '.join(problems)}")
                console.print(f"  [red]wrong answers[/red]: {problems[0]}")
                return
            console.print(f"  answers on {len(check[0])} rows match the in-process model")
        if server.tool == "shipyard":
            _, headers, _ = post(server, [load_row])
            timing = [v for k, v in headers.items() if k.lower() == "server-timing"]
            if timing:
                results.notes.append(
                    f"{server.label}, one idle request: `Server-Timing: {timing[0]}`"
                )
        body = server.body([load_row])
        load.run(server.url(server.predict_path), body, max(sizes.concurrencies), sizes.warmup_s)
        for connections in sizes.concurrencies:
            found = measure(server, load, body, connections, sizes.seconds)
            results.measurements.append(found)
            console.print(
                f"  {connections:>3} connections: {found.rps:8,.0f} req/s, p50 "
                f"{found.p50_ms:7.2f} ms, p99 {found.p99_ms:7.2f} ms, errors {found.errors}"
            )
            if server.process is not None and server.process.poll() is not None:
                raise BenchmarkError(f"{server.label}: the server died under load")
    except (BenchmarkError, OSError, ValueError, subprocess.SubprocessError) as exc:
        results.errors.append(
            f"{server.label}: {exc}" if server.label not in str(exc) else str(exc)
        )
        console.print(f"  [red]failed[/red]: {shared.one_line(str(exc))}")
    finally:
        code = stop(server)
        scan_log(server, results, code)


def scan_log(server: Server, results: Results, code: int | None) -> None:
    """Tracebacks or error lines in a server's own log are worth a note."""
    if server.log is None or not server.log.is_file():
        return
    lines = server.log.read_text(errors="replace").splitlines()
    starts = [
        i
        for i, line in enumerate(lines)
        if line.startswith(("Traceback", "ERROR")) or " ERROR " in line
    ]
    # An "ERROR" line and the "Traceback" right under it are one report.
    heads = [i for n, i in enumerate(starts) if not n or starts[n - 1] != i - 1]
    bad, benign = [], 0
    for n, i in enumerate(heads):
        end = heads[n + 1] if n + 1 < len(heads) else len(lines)
        block = "\n".join(lines[i : min(end, i + 200)])
        # wrk closes its connections with requests in flight when its time is up.
        if any(word in block for word in BENIGN_ERRORS):
            benign += 1
        else:
            bad.append(lines[i].strip())
    if bad:
        results.notes.append(
            f"{server.label}: {len(bad)} error(s) in its log ({shown(server.log)}), "
            f"first: {bad[0][:200]}"
        )
    if benign:
        results.notes.append(
            f"{server.label}: {benign} client-disconnect error(s) in its log, from the load "
            "generator closing connections at the end of a run (not counted)."
        )
    if code not in (0, None, -signal.SIGTERM):
        results.notes.append(f"{server.label}: exited with {code} after SIGTERM")


def shipyard_serve_available(shipyard: Path) -> bool:
    done = subprocess.run(
        [str(shipyard), "serve", "--help"], capture_output=True, text=True, check=False
    )
    return done.returncode == 0


def make_server(
    tool: str,
    model: str,
    workers: int,
    work_root: Path,
    pythons: dict[str, Path],
    prepared: dict[str, dict[str, Any]],
) -> Server:
    port = free_port()
    host = ["--host", "127.0.0.1", "--port", str(port)]
    python = pythons[tool]
    workspace = work_root / tool
    env = tool_env(tool, workspace, python)
    if tool == "shipyard":
        name = prepared["shipyard"]["models"][model]["name"]
        argv = [str(python.with_name("shipyard")), "serve", f"models:/{name}@champion", *host]
        argv += ["--workers", str(workers), "--backend", "auto"]
        return Server(
            tool, model, argv, env, workspace, "/v2/health/ready",
            f"/v1/models/{name}:predict", "instances", port,
        )  # fmt: skip
    if tool == "mlflow":
        uri = prepared["mlflow"]["models"][model]["uri"]
        argv = [str(python.with_name("mlflow")), "models", "serve", "-m", uri]
        argv += ["--env-manager", "local", *host, "--workers", str(workers)]
        return Server(
            tool, model, argv, env, workspace, "/ping", "/invocations", "dataframe_records", port
        )
    if tool == "bentoml":
        env["SERVING_BENCH_MODEL"] = prepared["bentoml"]["models"][model]["tag"]
        env["SERVING_BENCH_WORKERS"] = str(workers)
        argv = [str(python.with_name("bentoml")), "serve", "_serving_bento:Classifier"]
        argv += ["--working-dir", str(HERE), *host]
        return Server(tool, model, argv, env, workspace, "/readyz", "/predict", "instances", port)
    argv = [str(python), "-m", "uvicorn", "_serving_bare:app", "--app-dir", str(HERE), *host]
    argv += ["--workers", str(workers), "--loop", "uvloop", "--http", "httptools"]
    argv += ["--no-access-log", "--log-level", "warning"]
    return Server(tool, "", argv, env, workspace, "/ready", "/predict", "instances", port)


def prepare_models(
    results: Results, tools: Sequence[str], pythons: dict[str, Path], work_root: Path
) -> dict[str, dict[str, Any]]:
    """Train, log and register (or save) the models on every side that needs them."""
    prepared: dict[str, dict[str, Any]] = {}
    console.print("[bold]models[/bold] (train with fixed seeds, log / register / save)")
    # Shipyard's side is always prepared: its in-process model is the reference for the checks.
    for tool in ["shipyard", *(t for t in ("mlflow", "bentoml") if t in tools)]:
        started = time.perf_counter()
        try:
            prepared[tool] = run_worker(pythons[tool], tool, tool, work_root / tool, {})
        except BenchmarkError as exc:
            results.errors.append(str(exc))
            console.print(f"  {tool:<8} [red]crashed[/red]: {shared.one_line(str(exc))}")
            continue
        results.versions[tool] = prepared[tool]["versions"]
        console.print(f"  {tool:<8} done in {time.perf_counter() - started:5.1f} s")
        reference = prepared.get("shipyard")
        if tool != "shipyard" and reference and prepared[tool]["expected"] != reference["expected"]:
            results.notes.append(
                f"{TOOL_NAMES[tool]}'s freshly trained models label the check rows "
                f"{prepared[tool]['expected']}, Shipyard's {reference['expected']}"
            )
    return prepared


def measure_inprocess(results: Results, sizes: Sizes, python: Path, work_root: Path) -> None:
    config = {"calls": sizes.inprocess_calls, "seconds": sizes.inprocess_seconds}
    try:
        results.inprocess = run_worker(
            python, "inprocess", "shipyard", work_root / "shipyard", config
        )
    except BenchmarkError as exc:
        results.errors.append(str(exc))
        console.print(f"  in-process predict [red]crashed[/red]: {shared.one_line(str(exc))}")
        return
    console.print("  in-process one-row predict timed")


def run_all(
    args: argparse.Namespace, sizes: Sizes, pythons: dict[str, Path], work_root: Path
) -> Results:
    results = Results()
    tools = list(args.tools)
    if "shipyard" in tools and not shipyard_serve_available(
        pythons["shipyard"].with_name("shipyard")
    ):
        results.errors.append(
            "`shipyard serve` is not available in this checkout (`shipyard serve --help` fails); "
            "Shipyard was not measured."
        )
        console.print("[red]shipyard serve is not available: Shipyard is skipped[/red]")
        tools.remove("shipyard")
    prepared = prepare_models(results, tools, pythons, work_root)
    if "shipyard" not in prepared:
        return results
    measure_inprocess(results, sizes, pythons["shipyard"], work_root)
    reference = prepared["shipyard"]
    load = LoadTool.find(work_root / "load")
    results.notes.append(f"Load generator: {load.version}.")
    logs = work_root / "logs"
    row = reference["load_row"]
    if "bare" in tools:
        server = make_server("bare", "", args.workers, work_root, pythons, prepared)
        serve_and_load(server, results, sizes, load, logs, None, row)
    for model in args.models:
        check = (reference["check_rows"], reference["expected"][model])
        for tool in ("shipyard", "mlflow", "bentoml"):
            if tool not in tools or tool not in prepared:
                continue
            server = make_server(tool, model, args.workers, work_root, pythons, prepared)
            serve_and_load(server, results, sizes, load, logs, check, row)
    return results


# -- the tables --------------------------------------------------------------------------------
Row = tuple[str, ...]
LOAD_HEADERS = (
    "model",
    "connections",
    "server",
    "requests/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "server CPU per request",
    "other load (cores)",
)
TARGET_HEADERS = (
    "model",
    "connections",
    "Shipyard req/s",
    f"x MLflow (>= {MLFLOW_TARGET:g}x)",
    f"x BentoML (>= {BENTOML_TARGET:g}x)",
    f"x bare floor (>= {FLOOR_TARGET:g}x)",
    "p99 ms: Shipyard / MLflow / BentoML (no worse)",
)
INPROCESS_HEADERS = (
    "model",
    "Shipyard ONNX backend",
    "Shipyard native backend",
    "the estimator's own predict (one-row DataFrame)",
)
FLOOR_MODEL = "(constant answer)"


def load_rows(results: Results, sizes: Sizes, models: Sequence[str]) -> list[Row]:
    rows: list[Row] = []
    groups = [("", FLOOR_MODEL, ("bare",))]
    groups += [(m, MODEL_NAMES[m], ("shipyard", "mlflow", "bentoml")) for m in models]
    for model, model_name, tools in groups:
        for connections in sizes.concurrencies:
            for tool in tools:
                found = results.get(tool, model, connections)
                if found is None:
                    continue
                cpu = found.cpu_us_per_request
                rows.append(
                    (
                        model_name,
                        str(connections),
                        TOOL_NAMES[tool],
                        f"{found.rps:,.0f}",
                        f"{found.p50_ms:.2f}",
                        f"{found.p99_ms:.2f}",
                        f"{found.errors:,}" if found.errors else "0",
                        "-" if cpu is None else f"{cpu:,.0f} µs",
                        f"{found.other_cores:.2f}",
                    )
                )
    return rows


@dataclass
class Verdicts:
    """How many (model, concurrency) cases met each target, out of how many measured."""

    counts: dict[str, list[int]] = field(
        default_factory=lambda: collections.defaultdict(lambda: [0, 0])
    )

    def add(self, target: str, met: bool) -> str:
        self.counts[target][0] += met
        self.counts[target][1] += 1
        return "met" if met else "MISSED"


def ratio_cell(ratio: float | None, verdict: str) -> str:
    return "not measured" if ratio is None else f"{ratio:.2f}x {verdict}"


def target_rows(
    results: Results, sizes: Sizes, models: Sequence[str], verdicts: Verdicts
) -> list[Row]:
    rows: list[Row] = []
    for model in models:
        for connections in sizes.concurrencies:
            ours = results.get("shipyard", model, connections)
            if ours is None:
                continue
            clean = ours.errors == 0  # a case with failed requests meets no target
            cells = []
            for tool, model_key, target in (
                ("mlflow", model, MLFLOW_TARGET),
                ("bentoml", model, BENTOML_TARGET),
                ("bare", "", FLOOR_TARGET),
            ):
                theirs = results.get(tool, model_key, connections)
                ratio = ours.rps / theirs.rps if theirs is not None and theirs.rps else None
                verdict = "" if ratio is None else verdicts.add(tool, clean and ratio >= target)
                cells.append(ratio_cell(ratio, verdict))
            peers = [results.get(t, model, connections) for t in ("mlflow", "bentoml")]
            measured = [p for p in peers if p is not None]
            p99s = " / ".join("-" if p is None else f"{p.p99_ms:.1f}" for p in (ours, *peers))
            if measured:
                no_worse = clean and all(ours.p99_ms <= p.p99_ms for p in measured)
                p99s += f" {verdicts.add('p99', no_worse)}"
            rows.append((MODEL_NAMES[model], str(connections), f"{ours.rps:,.0f}", *cells, p99s))
    return rows


TARGET_WORDS = {
    "mlflow": f"Shipyard >= {MLFLOW_TARGET:g}x MLflow's requests/s",
    "bentoml": f"Shipyard >= {BENTOML_TARGET:g}x BentoML's requests/s",
    "p99": "Shipyard's p99 no worse than MLflow's and BentoML's",
    "bare": f"Shipyard >= {FLOOR_TARGET:g}x the bare endpoint's requests/s",
}


def verdict_lines(verdicts: Verdicts) -> list[str]:
    lines = []
    for key, words in TARGET_WORDS.items():
        met, total = verdicts.counts.get(key, [0, 0])
        state = "not measured" if not total else ("met" if met == total else "MISSED")
        lines.append(f"{words}: {state} ({met} of {total} cases)")
    return lines


def inprocess_rows(results: Results, models: Sequence[str]) -> list[Row]:
    def cell(answer: dict[str, Any] | None) -> str:
        if answer is None:
            return "crashed"
        return f"{answer['p50_us']:,.0f} / {answer['p99_us']:,.0f} µs"

    rows: list[Row] = []
    for model in models:
        timings = results.inprocess.get(model)
        if timings is None:
            continue
        rows.append(
            (MODEL_NAMES[model], *(cell(timings.get(k)) for k in ("onnx", "native", "library")))
        )
    return rows


def judged_word(row: Sequence[str]) -> str | None:
    """:func:`_results.judged`, with "met" a word of its own."""
    return shared.judged(row, " met")


# -- notes and RESULTS.md ----------------------------------------------------------------------
def add_notes(results: Results) -> None:
    disturbed = [m for m in results.measurements if m.other_cores > DISTURBED_CORES]
    if disturbed:
        worst = max(disturbed, key=lambda m: m.other_cores)
        results.notes.append(
            f"Other processes on the machine used more than {DISTURBED_CORES:g} core during "
            f"{len(disturbed)} of {len(results.measurements)} load runs (up to "
            f"{worst.other_cores:.2f} cores, {TOOL_NAMES[worst.tool]} at {worst.connections} "
            "connections): those figures are low; rerun on an idle machine."
        )
    elif results.measurements:
        results.notes.append(
            f"No other process used more than {DISTURBED_CORES:g} core during any load run."
        )
    add_cpu_note(results)
    load_cores = [m.load_cpu_s / m.seconds for m in results.measurements if m.seconds]
    if load_cores:
        results.notes.append(
            f"The load generator used {min(load_cores):.2f} to {max(load_cores):.2f} cores."
        )
    if results.ready_s:
        shown_ready = ", ".join(f"{k} {v:.1f} s" for k, v in results.ready_s.items())
        results.notes.append(f"Start-up until ready (not part of the figures): {shown_ready}.")


def add_cpu_note(results: Results) -> None:
    """Per-request CPU does not depend on how busy the machine was: say what it implies."""

    def median_cpu(tool: str, model: str) -> float | None:
        found = sorted(
            cpu
            for m in results.measurements
            if (m.tool, m.model) == (tool, model) and (cpu := m.cpu_us_per_request) is not None
        )
        return found[len(found) // 2] if found else None

    floor = median_cpu("bare", "")
    for model in MODELS:
        ours = median_cpu("shipyard", model)
        if ours is None or floor is None:
            continue
        results.notes.append(
            f"Server CPU per request, Shipyard ({MODEL_NAMES[model]}) vs the bare endpoint: "
            f"{ours:,.0f} vs {floor:,.0f} µs ({ours / floor:.1f}x). On one fully used core per "
            f"worker that caps them roughly at {1e6 / ours:,.0f} and {1e6 / floor:,.0f} req/s, "
            f"whatever else runs on the machine; {FLOOR_TARGET:g}x the floor's throughput needs "
            f"at most {floor / FLOOR_TARGET:,.0f} µs per request."
        )


def machine_facts(
    results: Results, args: argparse.Namespace, peers: dict[str, str], loads: tuple[float, float]
) -> dict[str, str]:
    def libraries(tool: str, names: Sequence[str]) -> str:
        found = results.versions.get(tool, {})
        return ", ".join(f"{n} {found.get(n, '?')}" for n in names)

    ours = results.versions.get("shipyard", {})
    return {
        **shared.machine_basics(loads),
        "Worker processes per server": f"{args.workers} (`--workers`)",
        "Shipyard": f"{ours.get('shipyard', '?')} ({git_revision()}), `shipyard serve "
        "--backend auto` with its other defaults (JSON access log and Parquet inference log "
        "on); "
        + libraries(
            "shipyard",
            ("onnxruntime", "scikit-learn", "lightgbm", "uvicorn", "starlette", "uvloop"),
        )
        + ", "
        + libraries("shipyard", ("httptools", "orjson", "skl2onnx", "onnxmltools")),
        "MLflow": f"{peers.get('mlflow', '?')}, `mlflow models serve --env-manager local`; "
        + libraries(
            "mlflow", ("scikit-learn", "lightgbm", "pandas", "uvicorn", "fastapi", "uvloop")
        ),
        "BentoML": f"{peers.get('bentoml', '?')}, `bentoml serve` of `_serving_bento.py`; "
        + libraries(
            "bentoml", ("scikit-learn", "lightgbm", "pandas", "uvicorn", "starlette", "uvloop")
        ),
        "Bare floor": "uvicorn --loop uvloop --http httptools --no-access-log, "
        "Starlette `_serving_bare.py` in Shipyard's venv",
    }


def section_markdown(
    results: Results,
    sizes: Sizes,
    args: argparse.Namespace,
    facts: dict[str, str],
    command: str,
    seconds: float,
) -> str:
    verdicts = Verdicts()
    targets = target_rows(results, sizes, args.models, verdicts)
    notes = [*results.notes, *results.errors]
    parts = [
        *shared.heading(
            "# Serving benchmark: Shipyard vs MLflow, BentoML and a bare endpoint",
            command,
            seconds,
            verdict_lines(verdicts),
        ),
        *shared.markdown_table(TARGET_HEADERS, targets),
        "",
        "x: Shipyard's requests/s over the other server's, same model and connections; a case "
        "where Shipyard had any failed request meets no target.",
        "",
        "## Load",
        "",
        *shared.markdown_table(LOAD_HEADERS, load_rows(results, sizes, args.models)),
        "",
        f"Each row: {sizes.seconds:g} s of single-row JSON POSTs over N keep-alive "
        f"connections (closed loop), after a {sizes.warmup_s:g} s warm-up. requests/s counts "
        "2xx answers; errors are non-2xx answers plus socket errors and timeouts; server CPU "
        "per request is the CPU time of all the server's processes over the 2xx answers; "
        "other load is the CPU that processes other than the server and wrk used meanwhile "
        "(above about 0.25 the figures of that row are low).",
        "",
        "## In-process one-row predict (reference)",
        "",
        *shared.markdown_table(INPROCESS_HEADERS, inprocess_rows(results, args.models)),
        "",
        "p50 / p99 over up to "
        f"{sizes.inprocess_calls:,} calls: Shipyard's loaded model on one record (what a JSON "
        "request decodes to), and the fitted estimator's `predict` on a one-row DataFrame (what "
        "the MLflow and BentoML servers call).",
    ]
    return shared.with_machine_and_notes(parts, facts, notes)


# -- main --------------------------------------------------------------------------------------
def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    run = shared.begin(__file__, args, lambda: ensure_peers(args.tools))
    sizes = QUICK if args.quick else FULL
    pythons = {"shipyard": Path(sys.executable), "bare": Path(sys.executable)}
    pythons.update({tool: python for tool, (python, _) in run.peer.items()})
    peers = {tool: version for tool, (_, version) in run.peer.items()}
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    work_root = Path(
        tempfile.mkdtemp(prefix=f"serving-{dt.datetime.now():%Y%m%d-%H%M%S}-", dir=WORK_DIR)
    )
    results = run_all(args, sizes, pythons, work_root)
    add_notes(results)
    verdicts = Verdicts()
    shared.print_table(
        "Targets (x = Shipyard requests/s over the other's)",
        TARGET_HEADERS,
        target_rows(results, sizes, args.models, verdicts),
        judged_word,
    )
    shared.print_table("Load", LOAD_HEADERS, load_rows(results, sizes, args.models), judged_word)
    shared.print_table(
        "In-process one-row predict, p50 / p99",
        INPROCESS_HEADERS,
        inprocess_rows(results, args.models),
        judged_word,
    )
    return run.finish(
        "serving",
        results,
        lambda command, seconds: section_markdown(
            results, sizes, args, machine_facts(results, args, peers, run.loads()), command, seconds
        ),
        targets=verdict_lines(verdicts),
        kept=f"Workspaces and server logs kept for inspection: {shown(work_root)}",
        remove=[work_root],
        write=list(args.tools) == list(TOOLS) and list(args.models) == list(MODELS),
        unchanged="RESULTS.md left unchanged (--quick, or a subset of tools or models).",
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
