"""``shipyard quickstart``: the whole closed loop in one command, in a fresh workspace.

Generate churn data → train and register v1 with the workspace's pipeline → gate it → make it
champion → serve it (a real server process) → send traffic and labels → shift the world →
monitor finds the drifted features → the retrain policy runs the pipeline on the labeled
production data → v2 passes the gate against v1 → v2 is promoted → the server swaps to it →
accuracy on the shifted traffic recovers. Every step is a record in the workspace.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import Conflict, ShipyardError
from shipyard.solutions.quickstart._churn import SHIFTED_FEATURES, TARGET, churn_table
from shipyard.solutions.quickstart._workspace import (
    DEPLOYMENT,
    MODEL,
    PIPELINE_SPEC,
    write_workspace,
)

if TYPE_CHECKING:
    import httpx
    import pandas as pd
    from rich.console import Console

__all__ = ["QuickstartSummary", "Sizes", "run_quickstart", "workspace_environment"]

_MARKER = ".shipyard-quickstart"
_BATCH = 50  # rows per request
_WORKSPACE_ENV = ("SHIPYARD_HOME", "SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS")


@dataclass(frozen=True)
class Sizes:
    """How many rows each phase uses; the test suite runs a smaller loop."""

    train: int = 8000
    holdout: int = 2000
    before_shift: int = 1500
    after_shift: int = 4000
    after_swap: int = 1500


@dataclass
class QuickstartSummary:
    """What the loop did, for the closing table and for tests."""

    workspace: Path
    v1_metrics: dict[str, float] = field(default_factory=dict)
    v2_metrics: dict[str, float] = field(default_factory=dict)
    drifted_columns: list[str] = field(default_factory=list)
    expected_drift: tuple[str, ...] = SHIFTED_FEATURES
    monitor_before: str | None = None  # run ids
    monitor_after: str | None = None
    retrain: dict[str, Any] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)  # phase -> live accuracy
    served_versions: dict[str, list[int]] = field(default_factory=dict)
    seconds: float = 0.0


def run_quickstart(
    directory: str | os.PathLike[str],
    *,
    sizes: Sizes = Sizes(),
    seed: int = 42,
    console: Console | None = None,
) -> QuickstartSummary:
    """Run the loop in ``directory`` (created; a previous quickstart there is replaced)."""
    from rich.console import Console

    console = console or Console()
    root = _fresh_directory(Path(directory))
    started = time.perf_counter()
    summary = QuickstartSummary(root)
    port = _free_port()
    with workspace_environment(root):
        cwd = Path.cwd()
        os.chdir(root)  # the pipeline module and its relative data paths live here
        try:
            _loop(root, port, sizes, seed, summary, _Steps(console))
        finally:
            os.chdir(cwd)
    summary.seconds = time.perf_counter() - started
    return summary


@contextmanager
def workspace_environment(root: Path) -> Iterator[None]:
    """Point Shipyard at the workspace ``root`` (its own database and artifacts) inside the
    block; after it, close the workspaces opened meanwhile and restore the environment."""
    from shipyard.tracking import close_workspaces

    previous = {key: os.environ.pop(key, None) for key in _WORKSPACE_ENV}
    os.environ["SHIPYARD_HOME"] = str(root)
    try:
        yield
    finally:
        close_workspaces()
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _loop(
    root: Path, port: int, sizes: Sizes, seed: int, summary: QuickstartSummary, steps: _Steps
) -> None:
    import httpx

    from shipyard.evaluation import gate, promote
    from shipyard.monitor import monitor
    from shipyard.pipelines._loader import load_pipeline
    from shipyard.registry import registry_service

    with steps.step("Generate a churn data set (seeded) and a workspace"):
        write_workspace(root, port)
        churn_table(sizes.train, seed=seed).to_parquet(root / "data" / "train.parquet")
        holdout = churn_table(sizes.holdout, seed=seed + 1, shifted=True)
        holdout.to_parquet(root / "data" / "holdout.parquet")
        churn_table(sizes.holdout, seed=seed + 5).to_parquet(root / "data" / "validation.parquet")
    with steps.step("Train and register v1 with the workspace's pipeline"):
        load_pipeline(PIPELINE_SPEC).run(progress=False, data="data/train.parquet")
        v1 = registry_service().resolve(f"models:/{MODEL}@latest")
        summary.v1_metrics = _test_metrics(v1.metrics)
    with steps.step("Gate v1 (no champion yet: absolute rules) and make it champion"):
        gate(v1.uri, "data/validation.parquet", against="champion", n_resamples=200)
        promote(MODEL, v1.version, "champion", reason="quickstart: first model")
    with ExitStack() as running:
        with steps.step("Start the model server"):
            client = running.enter_context(_server(root, port))
        phase_start = _now()
        with steps.step(f"Send {sizes.before_shift} customers and their labels"):
            traffic = churn_table(sizes.before_shift, seed=seed + 2)
            summary.accuracy["before shift (v1)"], versions = _send(client, traffic, "a")
            summary.served_versions["before shift"] = versions
            _wait_for_log(phase_start, len(traffic))
        with steps.step("Monitor: drift, quality and performance before the shift"):
            before = monitor(DEPLOYMENT, since=phase_start, retrain=False, notify=False)
            summary.monitor_before = before.id
        shift_start = _now()
        with steps.step(f"Shift the world: send {sizes.after_shift} changed customers"):
            traffic = churn_table(sizes.after_shift, seed=seed + 3, shifted=True)
            summary.accuracy["after shift (v1)"], versions = _send(client, traffic, "b")
            summary.served_versions["after shift"] = versions
            _wait_for_log(shift_start, len(traffic))
        with steps.step("Monitor: drift found, retrain, gate, promote, swap"):
            after = monitor(DEPLOYMENT, since=shift_start)
            summary.monitor_after = after.id
            summary.drifted_columns = after.drifted_columns
            summary.retrain = after.retrain or {}
        if summary.retrain.get("status") != "promoted":
            raise ShipyardError(
                f"The retrain chain ended {summary.retrain.get('status', 'without running')}: "
                f"{summary.retrain.get('reason', 'no alert fired')}.",
                hint=f"Look at it with: shipyard monitor show {summary.monitor_after}",
            )
        v2 = registry_service().get_version(MODEL, summary.retrain["new_version"])
        summary.v2_metrics = _test_metrics(v2.metrics)
        with steps.step(f"Send {sizes.after_swap} more changed customers to the new champion"):
            traffic = churn_table(sizes.after_swap, seed=seed + 4, shifted=True)
            summary.accuracy["after swap (v2)"], versions = _send(client, traffic, "c")
            summary.served_versions["after swap"] = versions
    _ = httpx  # imported above so that a missing extra fails before the server starts


class _Steps:
    """One line per step, a spinner while it works."""

    def __init__(self, console: Console) -> None:
        self.console = console

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        started = time.perf_counter()
        with self.console.status(f"{title} …"):
            try:
                yield
            except BaseException:
                self.console.print(f"[red]✗[/red] {title}")
                raise
        self.console.print(
            f"[green]✓[/green] {title} [dim]({time.perf_counter() - started:.1f}s)[/dim]"
        )


@contextmanager
def _server(root: Path, port: int) -> Iterator[httpx.Client]:
    """The server as a user runs it, ``shipyard serve -f deployment.toml``, in its own process."""
    import httpx

    command = [sys.executable, "-m", "shipyard", "serve", "-f", str(root / "deployment.toml")]
    log = (root / ".shipyard" / "server.log").open("wb")
    process = subprocess.Popen(command, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0)
    try:
        _wait_ready(client, process, root)
        yield client
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_ready(client: httpx.Client, process: subprocess.Popen[bytes], root: Path) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ShipyardError(
                f"The model server exited with code {process.returncode}.",
                hint=f"Its output is in {root / '.shipyard' / 'server.log'}.",
            )
        try:
            if client.get("/v2/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise ShipyardError("The model server did not become ready within 60 s.")


def _send(client: httpx.Client, frame: pd.DataFrame, phase: str) -> tuple[float, list[int]]:
    """Predict every row (in requests of ``_BATCH`` rows), post the true labels as feedback,
    and return the live accuracy and the model versions that answered."""
    import numpy as np

    features = frame.drop(columns=[TARGET])
    labels = frame[TARGET].to_numpy()
    correct, versions = 0, set()
    for start in range(0, len(frame), _BATCH):
        rows = features.iloc[start : start + _BATCH]
        request_id = f"{phase}-{start // _BATCH:05d}"
        answer = client.post(
            f"/v1/models/{DEPLOYMENT}:predict",
            json={"instances": rows.to_dict(orient="records")},
            headers={"x-request-id": request_id},
        )
        if answer.status_code != 200:
            raise ShipyardError(f"The server answered {answer.status_code}: {answer.text[:300]}")
        body = answer.json()
        versions.add(int(body["model_version"]))
        truth = labels[start : start + _BATCH]
        correct += int(np.sum(np.asarray(body["predictions"]).astype(np.int64) == truth))
        feedback = [
            {"request_id": request_id, "row": i, "label": int(label)}
            for i, label in enumerate(truth)
        ]
        client.post(f"/v1/models/{DEPLOYMENT}/feedback", json={"feedback": feedback})
    return correct / len(frame), sorted(versions)


def _wait_for_log(since: Any, rows: int) -> None:
    """The server writes its inference log in the background (within seconds); a monitor run
    must not start before the rows it is meant to judge have landed."""
    from shipyard.core.config import resolve_settings
    from shipyard.serve import read_inference_log

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        logged = read_inference_log(resolve_settings().artifacts, DEPLOYMENT, since=since)
        if logged.num_rows >= rows:
            return
        time.sleep(0.5)
    raise ShipyardError(f"The server's inference log did not reach {rows} rows within 60 s.")


def _test_metrics(metrics: dict[str, float | None]) -> dict[str, float]:
    return {
        key[len("test.") :]: value
        for key, value in metrics.items()
        if key.startswith("test.") and value is not None
    }


def _fresh_directory(root: Path) -> Path:
    root = root.expanduser().resolve()
    if root.exists() and any(root.iterdir()):
        if not (root / _MARKER).exists():
            raise Conflict(
                f"{root} exists and is not a quickstart workspace.",
                hint="Pass an empty or new folder with --dir.",
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / _MARKER).write_text("made by shipyard quickstart; replaced by the next one\n")
    return root


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
