"""A training pipeline for ``shipyard ci`` tests: it registers a new version of the test model."""

from __future__ import annotations

import shipyard as sy
from tests.evaluate.gating import FEW, MANY, frames, register


@sy.step(cache=False)
def train_and_register(wide: bool, shuffle: bool, fail: bool) -> str:
    if fail:
        raise RuntimeError("the training data is missing")
    train, _ = frames()
    return register(train, MANY if wide else FEW, shuffle=shuffle).uri


@sy.pipeline
def training(wide: bool = False, shuffle: bool = False, fail: bool = False) -> None:
    train_and_register(wide, shuffle, fail)
