"""The serving benchmark's model side: train, log and register, time in-process predicts.

Run by ``serving.py`` as ``PYTHON _serving_workers.py TASK CONFIG_JSON`` with the interpreter of
the tool concerned (Shipyard's venv or a peer's), in a fresh process whose working folder is the
tool's workspace; the JSON answer is the last line of output. Tasks:

* ``shipyard``: train both models, log them with ``run.log_model`` (which stores the ONNX form
  too), register them and point ``champion`` at them.
* ``mlflow``: train the same models in the MLflow peer venv and log them with
  ``mlflow.sklearn`` / ``mlflow.lightgbm`` into a SQLite tracking store.
* ``bentoml``: train the same models in the BentoML peer venv and save them into BentoML's
  model store with ``bentoml.sklearn`` / ``bentoml.lightgbm``.
* ``inprocess``: load the registered models with Shipyard (ONNX and native backends) and time
  one-row predicts, next to the bare library's own ``predict``.

Only numpy, pandas, scikit-learn and lightgbm are imported at the top: they are in every venv.
The models are seeded and single-threaded, so every venv trains the very same trees when its
library versions match ours (the labels are checked against Shipyard's in-process model anyway).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

SEED = 7
MODELS = ("sklearn", "lightgbm")
MODEL_NAMES = {"sklearn": "cancer-sklearn", "lightgbm": "cancer-lightgbm"}
# BentoML model names must be Python identifiers.
BENTO_NAMES = {"sklearn": "cancer_sklearn", "lightgbm": "cancer_lightgbm"}
CHECK_ROWS_PER_CLASS = 3
TREE_TYPES = ["sklearn.tree._tree.Tree"]


def dataset() -> tuple[pd.DataFrame, np.ndarray]:
    """scikit-learn's breast-cancer data: 569 rows x 30 float64 columns, shipped with it."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    return data.data, data.target.to_numpy()


def train(kind: str, X: pd.DataFrame, y: np.ndarray) -> Any:
    if kind == "sklearn":
        from sklearn.ensemble import GradientBoostingClassifier

        model: Any = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=SEED)
    else:
        import lightgbm

        model = lightgbm.LGBMClassifier(
            n_estimators=100,
            num_leaves=15,
            random_state=SEED,
            n_jobs=1,
            deterministic=True,
            verbose=-1,
        )
    return model.fit(X, y)


def check_indices(y: np.ndarray) -> list[int]:
    """A few rows of each class, so a server answering a constant cannot pass the check."""
    picked: list[int] = []
    for label in (0, 1):
        picked += [int(i) for i in np.flatnonzero(y == label)[:CHECK_ROWS_PER_CLASS]]
    return sorted(picked)


def records(X: pd.DataFrame, indices: list[int]) -> list[dict[str, float]]:
    return [{str(k): float(v) for k, v in X.iloc[i].items()} for i in indices]


def labels(model: Any, X: pd.DataFrame, indices: list[int]) -> list[int]:
    return [int(v) for v in model.predict(X.iloc[indices])]


def versions(*names: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


COMMON = ("scikit-learn", "lightgbm", "pandas", "numpy", "uvicorn", "uvloop", "httptools")


def trained_all() -> tuple[pd.DataFrame, dict[str, Any], list[int], dict[str, list[int]]]:
    X, y = dataset()
    models = {kind: train(kind, X, y) for kind in MODELS}
    indices = check_indices(y)
    expected = {kind: labels(model, X, indices) for kind, model in models.items()}
    return X, models, indices, expected


# -- the tasks ---------------------------------------------------------------------------------
def task_shipyard(config: dict[str, Any]) -> dict[str, Any]:
    import shipyard as sy

    X, models, indices, expected = trained_all()
    served: dict[str, Any] = {}
    started = time.perf_counter()
    for kind, model in models.items():
        with sy.start_run(experiment="serving-bench", name=kind) as run:
            ref = run.log_model(model, "model", input_example=X.head(5))
        version = sy.register_model(ref, MODEL_NAMES[kind])
        sy.set_alias(MODEL_NAMES[kind], "champion", version.version)
        served[kind] = {"name": MODEL_NAMES[kind], "uri": f"models:/{MODEL_NAMES[kind]}@champion"}
    return {
        "models": served,
        "log_register_s": time.perf_counter() - started,
        "check_rows": records(X, indices),
        "check_indices": indices,
        "load_row": records(X, [0])[0],
        "expected": expected,
        "versions": versions(
            "shipyard", *COMMON, "starlette", "onnxruntime", "skl2onnx", "onnxmltools", "orjson"
        ),
    }


def task_mlflow(config: dict[str, Any]) -> dict[str, Any]:
    import mlflow

    X, models, _, expected = trained_all()
    served: dict[str, Any] = {}
    mlflow.set_experiment("serving-bench")
    for kind, model in models.items():
        flavor: Any = mlflow.sklearn if kind == "sklearn" else mlflow.lightgbm
        # MLflow 3 saves scikit-learn models with skops and asks which types to trust.
        extra = {"skops_trusted_types": TREE_TYPES} if kind == "sklearn" else {}
        with mlflow.start_run(run_name=kind):
            info = flavor.log_model(model, name="model", input_example=X.head(5), **extra)
        served[kind] = {"uri": info.model_uri}
    return {
        "models": served,
        "expected": expected,
        "versions": versions("mlflow", *COMMON, "fastapi", "starlette"),
    }


def task_bentoml(config: dict[str, Any]) -> dict[str, Any]:
    import bentoml

    _, models, _, expected = trained_all()
    served: dict[str, Any] = {}
    for kind, model in models.items():
        flavor: Any = bentoml.sklearn if kind == "sklearn" else bentoml.lightgbm
        saved = flavor.save_model(BENTO_NAMES[kind], model)
        served[kind] = {"tag": str(saved.tag)}
    return {
        "models": served,
        "expected": expected,
        "versions": versions("bentoml", *COMMON, "starlette", "pydantic"),
    }


def task_inprocess(config: dict[str, Any]) -> dict[str, Any]:
    """One-row predict p50/p99: Shipyard's loaded model (ONNX, native), and the bare library."""
    import shipyard as sy

    X, models, _, _ = trained_all()
    row = records(X, [0])
    frame_row = X.iloc[[0]]
    answer: dict[str, Any] = {}
    for kind, model in models.items():
        uri = f"models:/{MODEL_NAMES[kind]}@champion"
        timings: dict[str, Any] = {}
        for backend in ("onnx", "native"):
            loaded = sy.load_model(uri, backend=backend)
            timings[backend] = timed(lambda loaded=loaded: loaded.predict(row), config)
        # The fitted estimator on a one-row DataFrame: what MLflow's and BentoML's servers call.
        timings["library"] = timed(lambda model=model: model.predict(frame_row), config)
        answer[kind] = timings
    return answer


def timed(call: Callable[[], Any], config: dict[str, Any]) -> dict[str, Any]:
    """p50/p99 of up to ``calls`` calls within ``seconds``, after 50 warm-up calls."""
    for _ in range(50):
        call()
    samples: list[float] = []
    deadline = time.perf_counter() + config["seconds"]
    while len(samples) < config["calls"] and time.perf_counter() < deadline:
        start = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return {
        "p50_us": statistics.median(samples),
        "p99_us": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "calls": len(samples),
    }


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "shipyard": task_shipyard,
    "mlflow": task_mlflow,
    "bentoml": task_bentoml,
    "inprocess": task_inprocess,
}


if __name__ == "__main__":
    task, raw = sys.argv[1], sys.argv[2]
    print(json.dumps(TASKS[task](json.loads(raw))))
