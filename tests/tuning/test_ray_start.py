"""Without a running Ray, tune starts a local one for the study and shuts it down after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import shipyard as sy
from shipyard.tracking import close_workspaces
from shipyard.tuning import Trial, tune, uniform

pytestmark = pytest.mark.slow


@pytest.fixture
def sqlite_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))
    monkeypatch.delenv("SHIPYARD_DB_URL", raising=False)
    monkeypatch.delenv("SHIPYARD_ARTIFACTS", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield tmp_path
    close_workspaces()


def test_tune_starts_and_stops_its_own_ray(sqlite_workspace: Path) -> None:
    import ray

    assert not ray.is_initialized()

    def objective(params: dict[str, Any], trial: Trial) -> float:
        return float(-((params["x"] - 3) ** 2))

    result = tune(objective, {"x": uniform(0, 5)}, n_trials=4, executor="ray", workers=2, seed=0)

    assert not ray.is_initialized()
    assert [t.state for t in result.trials] == ["complete"] * 4
    assert result.best_value == max(t.value for t in result.trials if t.value is not None)
    assert sy.get_run(result.best_run_id).metrics == {"objective": result.best_value}
