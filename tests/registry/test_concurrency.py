"""Eight processes registering versions of one model at once get eight distinct, consecutive
numbers, and the same data logged at once by several processes is one dataset version."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

import shipyard as sy
from shipyard.data import dataset_service
from shipyard.tracking import close_workspaces

pytestmark = pytest.mark.slow

REGISTER = textwrap.dedent(
    """
    import sys
    import shipyard as sy

    uri, barrier = sys.argv[1], sys.argv[2]
    import os, time
    while not os.path.exists(barrier):  # start together, so registrations really overlap
        time.sleep(0.005)
    version = sy.register_model(uri, "shared-model", reason=f"pid {os.getpid()}")
    print(version.version)
    """
)

LOG_DATA = textwrap.dedent(
    """
    import os, sys, time
    import pandas as pd
    import shipyard as sy

    barrier, index = sys.argv[1], int(sys.argv[2])
    frame = pd.DataFrame({"x": range(1000), "y": [i * 0.5 for i in range(1000)]})
    while not os.path.exists(barrier):
        time.sleep(0.005)
    version = sy.log_dataset(frame if index % 2 else frame.iloc[::-1], "shared-data")
    print(version.version, version.content_digest)
    """
)


def _run_together(script: str, args: list[list[str]], barrier: Path) -> list[str]:
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, *a],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for a in args
    ]
    barrier.touch()
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
        outputs.append(out.strip())
    return outputs


def test_eight_processes_get_eight_consecutive_versions(workspace: Path, tmp_path: Path) -> None:
    x = np.arange(20.0).reshape(10, 2)
    with sy.start_run() as run:
        ref = run.log_model(LinearRegression().fit(x, x.sum(axis=1)), "m", input_example=x[:2])
    sy.register_model(ref, "shared-model")  # the model exists; the race is on version numbers
    close_workspaces()

    outputs = _run_together(REGISTER, [[ref.uri, str(tmp_path / "go")]] * 8, tmp_path / "go")
    assert sorted(int(o) for o in outputs) == list(range(2, 10))
    versions = sy.list_model_versions("shared-model")
    assert [v.version for v in versions] == list(range(1, 10))
    registered = [e for e in sy.model_history("shared-model") if e.action == "register"]
    assert len(registered) == 9


def test_processes_logging_data_at_once_share_versions_by_content(
    workspace: Path, tmp_path: Path
) -> None:
    outputs = _run_together(
        LOG_DATA, [[str(tmp_path / "go"), str(i)] for i in range(6)], tmp_path / "go"
    )
    by_digest: dict[str, set[str]] = {}
    for line in outputs:
        version, digest = line.split()
        by_digest.setdefault(digest, set()).add(version)
    assert len(by_digest) == 2  # two distinct contents (row order differs)
    assert sorted(v for versions in by_digest.values() for v in versions) == ["1", "2"]
    assert [v.version for v in dataset_service().versions("shared-data")] == [1, 2]
