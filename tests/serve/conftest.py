"""A workspace with registered models, and real uvicorn servers on 127.0.0.1 for the tests.

``serve_app`` runs the server in a thread of the test process (a real socket, a real HTTP
stack, quick to start); tests that signal the process start ``shipyard serve`` instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.models.flavors.pyfunc import PythonModel
from shipyard.serve._config import ServeConfig
from tests._servers import InThreadServer

MODEL = "bc"


@dataclass(frozen=True)
class Models:
    """What the workspace holds: the breast-cancer features and the registered versions."""

    root: Path
    features: pd.DataFrame
    labels: np.ndarray
    expected: dict[int, np.ndarray]  # version -> predictions on ``features``


def _register(model: Any, example: Any, name: str, alias: str | None = None) -> int:
    import shipyard as sy

    with sy.start_run(experiment="serve-tests") as run:
        ref = run.log_model(model, "model", input_example=example)
    version = sy.register_model(ref, name).version
    if alias is not None:
        sy.set_alias(name, alias, version)
    return version


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Models]:
    """``bc`` v1 (champion, logistic regression: refuses NaN) and v2 (challenger, a shallow
    tree); ``slow`` (a 30 ms Python model); ``matrix`` (fed a float array, not columns);
    ``plans`` (a string and a category column)."""
    import cloudpickle
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from shipyard.tracking import close_workspaces

    # The Python models below must load in `shipyard serve` processes too, where this test
    # module cannot be imported: store them by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    root = tmp_path_factory.mktemp("serve-ws")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SHIPYARD_HOME", str(root))
        env.delenv("SHIPYARD_DB_URL", raising=False)
        env.delenv("SHIPYARD_ARTIFACTS", raising=False)
        features, labels = load_breast_cancer(return_X_y=True, as_frame=True)
        labels = labels.to_numpy()
        first = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
        second = DecisionTreeClassifier(max_depth=2, random_state=0)
        expected = {}
        for model, alias in ((first, "champion"), (second, "challenger")):
            model.fit(features, labels)
            version = _register(model, features[:5], MODEL, alias)
            expected[version] = model.predict(features)
        _register(_SlowModel(), features[:5], "slow", "champion")
        matrix = LogisticRegression(max_iter=5000).fit(features.to_numpy(), labels)
        _register(matrix, features.to_numpy()[:5], "matrix", "champion")
        plans = pd.DataFrame(
            {
                "plan": pd.Categorical(["basic", "pro", "basic", "team"]),
                "country": ["fr", "de", "us", "fr"],
                "seats": [1, 5, 2, 20],
            }
        )
        _register(_PlanModel(), plans, "plans", "champion")
        close_workspaces()
        yield Models(root, features, labels, expected)
        close_workspaces()


class _SlowModel(PythonModel):
    """Takes 30 ms per batch whatever its size: shows batching and overload."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        time.sleep(0.03)
        return np.zeros(len(frame), dtype=np.int64)


class _PlanModel(PythonModel):
    """Seats times a price per plan: a model on string and category columns. Like many real
    models, it raises ValueError on inputs its checks refuse (here: no seats)."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if (frame["seats"] <= 0).any():
            raise ValueError("seats must be at least 1")
        price = frame["plan"].map({"basic": 10.0, "pro": 20.0, "team": 30.0}).astype(float)
        return (price * frame["seats"]).to_numpy()


@pytest.fixture
def workspace_env(models: Models, monkeypatch: pytest.MonkeyPatch) -> Models:
    monkeypatch.setenv("SHIPYARD_HOME", str(models.root))
    monkeypatch.delenv("SHIPYARD_DB_URL", raising=False)
    monkeypatch.delenv("SHIPYARD_ARTIFACTS", raising=False)
    monkeypatch.delenv("SHIPYARD_API_TOKEN", raising=False)
    return models


class RunningServer(InThreadServer):
    """A uvicorn server on a free port of 127.0.0.1, in a background thread; started once its
    deployments are ready."""

    def __init__(self, app: Any) -> None:
        self.state = app.app.state.shipyard
        super().__init__(
            app,
            lifespan="on",
            ready=lambda: bool(self.state.ready),
            failure="the test server did not become ready",
        )


ServeApp = Callable[..., RunningServer]


@pytest.fixture
def serve_app(workspace_env: Models) -> Iterator[ServeApp]:
    """Start servers for a config dict (or ServeConfig); all are stopped after the test."""
    from shipyard.serve._app import build_app

    started: list[RunningServer] = []

    def start(config: dict[str, Any] | ServeConfig, *, token: str | None = None) -> RunningServer:
        if isinstance(config, dict):
            config = ServeConfig.parse(config, source="test")
        server = RunningServer(build_app(config, token=token)).start(timeout=60.0)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def deployment(name: str = MODEL, model: str = f"models:/{MODEL}@champion", **options: Any) -> Any:
    return {"name": name, "model": model, **options}
