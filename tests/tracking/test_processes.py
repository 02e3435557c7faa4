"""Many processes, and processes that die: the store stays whole and loses nothing acknowledged."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import shipyard as sy
from shipyard.tracking import tracking_service

pytestmark = pytest.mark.slow

WRITER = textwrap.dedent(
    """
    import sys
    import shipyard as sy

    index, count = int(sys.argv[1]), int(sys.argv[2])
    with sy.start_run(experiment="shared", name=f"writer-{index}") as run:
        run.log_params({"index": index})
        for step in range(count):
            run.log_metric("value", index * 1_000_000 + step, step=step)
            if step % 500 == 0:
                run.set_tags({"progress": step})
        run.log_artifact(f"from {index}".encode(), f"out/{index}.txt")
    """
)

CRASHER = textwrap.dedent(
    """
    import os, sys
    import shipyard as sy

    run = sy.start_run(experiment="crash", name="victim")
    print("RUN", run.id, flush=True)
    step = 0
    while True:
        for _ in range(200):
            run.log_metric("loss", float(step), step=step)
            step += 1
        run.flush()
        print("ACK", step, flush=True)
        (record,) = run.log_artifact(os.urandom(512 * 1024), f"chunks/{step}.bin")
        print("ART", record.name, record.digest, flush=True)
    """
)


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def test_eight_processes_log_into_one_sqlite_workspace_without_loss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))
    monkeypatch.delenv("SHIPYARD_DB_URL", raising=False)
    count = 3_000
    children = [_spawn(WRITER, str(i), str(count)) for i in range(8)]
    for child in children:
        _, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
    service = tracking_service()
    try:
        runs = sy.search_runs("shared", limit=100).runs
        assert len(runs) == 8
        assert {r.status for r in runs} == {"FINISHED"}
        for run in runs:
            index = int(run.params["index"])
            values = [p.value for p in service.metric_history(run.id, "value")]
            assert values == [index * 1_000_000 + s for s in range(count)]
            assert run.tags == {"progress": "2500"}
            assert service.get_artifact(run.id, f"out/{index}.txt") == f"from {index}".encode()
    finally:
        sy.tracking.close_workspaces()


def _kill_after_acks(
    child: subprocess.Popen[str], acks_wanted: int
) -> tuple[str, int, dict[str, str]]:
    assert child.stdout is not None
    run_id, acked, artifacts = "", 0, {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        words = child.stdout.readline().split()
        if not words:
            break
        if words[0] == "RUN":
            run_id = words[1]
        elif words[0] == "ACK":
            acked = int(words[1])
        elif words[0] == "ART":
            artifacts[words[1]] = words[2]
            if len(artifacts) >= acks_wanted:
                break
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert run_id and acked and artifacts, "the child never got going"
    return run_id, acked, artifacts


def test_a_killed_process_leaves_a_whole_store_with_everything_acknowledged(
    workspace: Path,
) -> None:
    child = _spawn(CRASHER)
    run_id, acked, artifacts = _kill_after_acks(child, acks_wanted=6)

    service = tracking_service()
    stored = service.get_run(run_id)
    assert stored.status == "RUNNING"  # nobody got to end it; it is not corrupted either
    steps = [p.step for p in service.metric_history(run_id, "loss")]
    assert steps[:acked] == list(range(acked))  # every acknowledged value is there, in order
    logged = {a.name: a.digest for a in service.list_artifacts(run_id)}
    assert artifacts.items() <= logged.items()
    for name in artifacts:
        data = service.get_artifact(run_id, name)  # verified against its digest on read
        assert hashlib.sha256(data).hexdigest() == artifacts[name]

    blobs = Path(service.store.blobs.location) / "blobs"
    for blob in blobs.rglob("*"):
        if blob.is_file():  # no half-written blob is visible under its digest
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name

    if service.store.db.dialect == "sqlite":
        check = service.store.db.read(
            lambda conn: conn.exec_driver_sql("PRAGMA integrity_check").scalar()
        )
        assert check == "ok"
    with sy.start_run(experiment="crash", name="after") as run:  # the store still takes writes
        run.log_metric("loss", 1.0)
    assert sy.get_run(run.id).metrics == {"loss": 1.0}


FORGETFUL = textwrap.dedent(
    """
    import shipyard as sy

    run = sy.start_run(experiment="exit", name="never-ended")
    print(run.id, flush=True)
    for step in range(5_000):
        run.log_metric("loss", float(step), step=step)
    # no flush, no end: the interpreter exits normally right after this line
    """
)


def test_a_normal_exit_flushes_metrics_and_finishes_forgotten_runs(workspace: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORGETFUL], capture_output=True, text=True, timeout=120, check=True
    )
    run_id = done.stdout.strip()
    service = tracking_service()
    assert service.get_run(run_id).status == "FINISHED"
    assert [p.value for p in service.metric_history(run_id, "loss")] == [
        float(s) for s in range(5_000)
    ]


CRASHING = textwrap.dedent(
    """
    import shipyard as sy

    run = sy.start_run(experiment="exit", name="crashes")
    print(run.id, flush=True)
    raise RuntimeError("out of memory, pretend")
    """
)

FORKING = textwrap.dedent(
    """
    import os
    import shipyard as sy

    with sy.start_run(experiment="fork") as run:
        run.log_metric("parent", 1.0)
        run.flush()
        pid = os.fork()
        if pid == 0:
            run.log_metric("child", 2.0)
            run.flush()
            os._exit(0)
        os.waitpid(pid, 0)
    print(run.id, flush=True)
    """
)


def test_an_uncaught_exception_ends_a_forgotten_run_failed(workspace: Path) -> None:
    done = subprocess.run([sys.executable, "-c", CRASHING], capture_output=True, text=True)
    assert done.returncode == 1
    stored = tracking_service().get_run(done.stdout.strip())
    assert (stored.status, stored.error) == ("FAILED", "RuntimeError: out of memory, pretend")


def test_a_forked_child_logs_through_its_own_writer(workspace: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORKING], capture_output=True, text=True, timeout=60, check=True
    )
    assert tracking_service().get_run(done.stdout.strip()).metrics == {"parent": 1.0, "child": 2.0}
