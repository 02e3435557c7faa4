"""Pipelines used by the tests; a module of its own so that Ray workers can import it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import shipyard as sy


@sy.step(cache=False)
def load(path: str) -> pd.DataFrame:
    """Reads outside data, so it always runs; downstream steps are cached by its content."""
    return pd.read_csv(path)


@sy.step
def clean(frame: pd.DataFrame, min_x: float = 0.0) -> pd.DataFrame:
    return frame[frame["x"] >= min_x].reset_index(drop=True)


@sy.step
def features(frame: pd.DataFrame) -> np.ndarray:
    return frame[["x"]].to_numpy(dtype="float64")


@sy.step
def train(frame: pd.DataFrame, matrix: np.ndarray, c: float = 1.0) -> LogisticRegression:
    sy.log_metric("rows", len(frame))
    return LogisticRegression(C=c).fit(matrix, frame["y"])


@sy.step
def evaluate(model: LogisticRegression, matrix: np.ndarray, frame: pd.DataFrame) -> dict[str, Any]:
    accuracy = float((model.predict(matrix) == frame["y"]).mean())
    sy.log_metric("accuracy", accuracy)
    return {"accuracy": accuracy, "rows": len(frame)}


@sy.pipeline
def training(path: str, min_x: float = 0.0, c: float = 1.0) -> None:
    frame = clean(load(path), min_x=min_x)
    matrix = features(frame)
    model = train(frame, matrix, c=c)
    evaluate(model, matrix, frame)


@sy.step
def stamp(label: str, pause_s: float) -> dict[str, Any]:
    start = time.time()
    time.sleep(pause_s)
    return {"label": label, "start": start, "end": time.time(), "pid": os.getpid()}


@sy.step
def boom(value: dict[str, Any]) -> int:
    raise ValueError(f"bad value {value['label']}")


@sy.step
def after(value: int) -> int:
    return value + 1


@sy.pipeline
def branching(fail: bool = False, pause_s: float = 0.3) -> None:
    left = stamp("left", pause_s)
    right = stamp("right", pause_s)
    if fail:
        after(boom(left))
    else:
        after(1)
    stamp("tail", 0.0)
    _ = right


@sy.step(outputs=("train", "test"))
def split(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.DataFrame({"i": range(n)}, index=[f"r{i}" for i in range(n)])
    return frame.iloc[: n // 2], frame.iloc[n // 2 :]


@sy.step
def count(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    return {"train": len(train), "test": len(test), "first_test": test.index[0]}


@sy.pipeline
def splitting(n: int = 10) -> None:
    train, test = split(n)
    count(train, test)


@sy.step(retries=2, cache=False)
def flaky(counter: str) -> int:
    path = Path(counter)
    attempts = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempts))
    if attempts < 3:
        raise RuntimeError(f"attempt {attempts} failed")
    return attempts


@sy.pipeline
def retrying(counter: str) -> None:
    flaky(counter)


@sy.step(timeout_s=0.5, cache=False)
def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@sy.pipeline
def timing_out(seconds: float = 3.0) -> None:
    slow(seconds)


@sy.step(resources={"cpu": 1})
def square(x: int) -> int:
    return x * x


@sy.step
def total(a: int, b: int) -> int:
    return a + b


@sy.pipeline
def on_ray(x: int = 3) -> None:
    total(square(x), square(x + 1))


@sy.step(cache=False)
def die(value: dict[str, Any]) -> int:
    os._exit(3)  # the driver dies mid-run, as on a lost machine: no pipeline/steps.json


@sy.pipeline
def crashing() -> None:
    die(stamp("first", 0.0))
