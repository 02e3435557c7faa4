"""The records the server hands the inference log: predicted batches and their feedback.

Kept apart from the writer so that the conversion to Arrow can use them without importing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Feedback", "LogBatch"]


@dataclass(frozen=True)
class LogBatch:
    """One predicted batch of one deployment: several requests' rows, in request order."""

    deployment: str
    model_name: str
    model_version: int
    variant: str  # the alias or label the traffic went to, e.g. "champion", "challenger"
    role: str  # "primary" or "shadow"
    # Per-request fields take lists or ndarrays.
    request_ids: Sequence[str]  # one per request
    rows_per_request: Sequence[int] | np.ndarray[Any, Any]  # one per request; sum == input rows
    received_ms: Sequence[int] | np.ndarray[Any, Any]  # one per request: epoch ms of arrival
    latency_ms: Sequence[float] | np.ndarray[Any, Any]  # one per request: server-side latency
    inputs: pd.DataFrame | np.ndarray[Any, Any]  # all rows; an ndarray comes with input_names
    input_names: Sequence[str] | None
    predictions: np.ndarray[Any, Any]  # (n_rows,) or (n_rows, k)
    probabilities: np.ndarray[Any, Any] | None = None  # (n_rows, n_classes)
    classes: Sequence[Any] | np.ndarray[Any, Any] | None = None  # labels of the proba columns


@dataclass(frozen=True)
class Feedback:
    """Ground truth for a logged prediction, matched to it by request id (and row)."""

    request_id: str
    label: Any  # JSON scalar: number, string or bool (or a list of them for multi-output)
    row: int | None = None  # row within the request; None = all rows of the request
    received_ms: int | None = None  # epoch milliseconds; default now
