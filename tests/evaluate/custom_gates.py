"""Custom gates for the tests, referenced by the policy as ``tests.evaluate.custom_gates:NAME``."""

from __future__ import annotations

import numpy as np

from shipyard.evaluation._policy import GateCheck
from shipyard.evaluation._records import Comparison, Evaluation


def no_nan_predictions(
    challenger: Evaluation, champion: Evaluation | None, comparison: Comparison | None
) -> GateCheck:
    bad = int(np.isnan(np.asarray(challenger.y_score, dtype=float)).sum())
    return GateCheck("no NaN predictions", None, 0, bad, bad == 0, f"{bad} NaN scores")


def at_least_100_rows(
    challenger: Evaluation, champion: Evaluation | None, comparison: Comparison | None
) -> bool:
    return challenger.n_rows >= 100


def explain(
    challenger: Evaluation, champion: Evaluation | None, comparison: Comparison | None
) -> str:
    return "" if champion is None else f"champion {champion.model_uri} is still around"


def broken(
    challenger: Evaluation, champion: Evaluation | None, comparison: Comparison | None
) -> GateCheck:
    raise RuntimeError("the feature store is down")


def forgetful(
    challenger: Evaluation, champion: Evaluation | None, comparison: Comparison | None
) -> None:
    """Returns nothing: a mistake that must fail the gate, not pass it."""


NOT_A_FUNCTION = 42
