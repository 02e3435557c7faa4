"""Probability calibration, fitted once on labelled reference rows and stored as plain numbers.

Estimating performance from probabilities (CBPE) is only as good as the probabilities: a model
that says 0.9 must be right nine times in ten. :func:`fit_calibration` measures the expected
calibration error (ECE: equal-width bins, the row-weighted mean of ``|observed rate - mean
probability|``) on the reference and, when it is above ``max_ece`` (default 0.02: two points of
accuracy, about the smallest drop worth an alert), fits an isotonic regression. Below it the
model is left as it is, since refitting adds noise without removing bias.

* binary: the probability of the positive class (``classes[1]``) against being positive;
* multiclass: the probability of the predicted class against the prediction being right
  (confidence calibration): enough for expected accuracy, the one metric estimated there.

The ECE has a noise floor of roughly ``sqrt(n_bins / n) / 2`` (about 0.03 at 4,000 rows and 15
bins), so a small reference gets an isotonic map even for a calibrated model; that is harmless,
as isotonic regression of calibrated scores stays close to the identity. ``ece_after`` is
measured out of fold (two halves, each calibrated by a fit on the other), not on the rows the
map was fitted to, where it would read zero.

A :class:`Calibration` is its isotonic thresholds (``x`` → ``y``, linear in between, clipped at
the ends: exactly what scikit-learn's ``IsotonicRegression.predict`` computes), so it is stored
as JSON and applied without scikit-learn or refitting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from shipyard.core.errors import InvalidInput
from shipyard.evaluation._records import json_number
from shipyard.monitor._logged import as_text

__all__ = [
    "DEFAULT_BINS",
    "MAX_ECE",
    "MIN_CALIBRATION_ROWS",
    "Calibration",
    "CalibrationKind",
    "expected_calibration_error",
    "fit_calibration",
]

CalibrationKind = Literal["binary", "confidence"]
DEFAULT_BINS = 15
MAX_ECE = 0.02
MIN_CALIBRATION_ROWS = 100  # fewer labelled rows cannot tell miscalibration from noise

FloatArray = npt.NDArray[np.float64]


def expected_calibration_error(
    scores: npt.ArrayLike, outcomes: npt.ArrayLike, *, n_bins: int = DEFAULT_BINS
) -> float:
    """ECE of probabilities ``scores`` for 0/1 ``outcomes``, over ``n_bins`` equal-width bins."""
    p, y = _probabilities(scores), np.asarray(outcomes, dtype=np.float64)
    if len(p) != len(y) or len(p) == 0:
        raise InvalidInput(f"ECE needs as many outcomes as scores, got {len(y)} and {len(p)}.")
    if n_bins < 1:
        raise InvalidInput(f"n_bins must be at least 1, got {n_bins}.")
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    gap = np.bincount(bins, weights=y, minlength=n_bins) - np.bincount(
        bins, weights=p, minlength=n_bins
    )
    return float(np.abs(gap).sum() / len(p))  # n_b/n * |mean_y - mean_p| == |sum_y - sum_p| / n


@dataclass(frozen=True)
class Calibration:
    """A monotone map of a model's scores to calibrated probabilities (identity when ``x`` is
    empty), with the reference ECE before and after."""

    kind: CalibrationKind
    x: tuple[float, ...]
    y: tuple[float, ...]
    ece_before: float
    ece_after: float
    n_rows: int
    n_bins: int = DEFAULT_BINS
    max_ece: float = MAX_ECE

    @property
    def fitted(self) -> bool:
        """True when the scores are remapped, False when they were calibrated enough."""
        return bool(self.x)

    def apply(self, scores: npt.ArrayLike) -> FloatArray:
        """Calibrated probabilities of ``scores`` (the positive class's probability for
        ``binary``, the predicted class's for ``confidence``)."""
        p = _probabilities(scores)
        return np.interp(p, self.x, self.y) if self.fitted else p

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict that :meth:`from_dict` reads back."""
        return {
            "kind": self.kind,
            "method": "isotonic" if self.fitted else "identity",
            "x": list(self.x),
            "y": list(self.y),
            "ece_before": json_number(self.ece_before),
            "ece_after": json_number(self.ece_after),
            "n_rows": self.n_rows,
            "n_bins": self.n_bins,
            "max_ece": self.max_ece,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """The calibration :meth:`to_dict` wrote, checked."""
        try:
            kind = data["kind"]
            x = tuple(float(v) for v in data["x"])
            y = tuple(float(v) for v in data["y"])
            out = cls(
                kind=kind,
                x=x,
                y=y,
                ece_before=_float(data["ece_before"]),
                ece_after=_float(data["ece_after"]),
                n_rows=int(data["n_rows"]),
                n_bins=int(data.get("n_bins", DEFAULT_BINS)),
                max_ece=float(data.get("max_ece", MAX_ECE)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(
                f"Not a stored calibration: {exc!r}.", hint="Pass what Calibration.to_dict gave."
            ) from exc
        xs, ys = np.asarray(x), np.asarray(y)
        if (
            kind not in ("binary", "confidence")
            or len(x) != len(y)
            or len(x) == 1
            or not (np.isfinite(xs).all() and np.isfinite(ys).all())
            or (np.diff(xs) < 0).any()
            or (np.diff(ys) < 0).any()
            or ((ys < 0) | (ys > 1)).any()
        ):
            raise InvalidInput(
                "Not a stored calibration: it needs kind 'binary' or 'confidence' and equally "
                "long, non-decreasing x and y with y in [0, 1].",
                hint="Pass what Calibration.to_dict gave.",
            )
        return out


def fit_calibration(
    reference_scores: npt.ArrayLike,
    reference_labels: npt.ArrayLike,
    *,
    classes: Sequence[Any] | None = None,
    n_bins: int = DEFAULT_BINS,
    max_ece: float = MAX_ECE,
) -> Calibration:
    """The calibration of a model's probabilities on labelled reference rows it was not
    trained on.

    ``reference_scores``: the positive class's probabilities (1-D, binary) or ``predict_proba``
    output (n, k) whose columns are ``classes`` (k = 2: binary on column 1; k > 2: confidence).
    ``reference_labels``: the true labels, compared with ``classes`` as text; without
    ``classes``, 0/1 (or booleans) for 1-D scores and column indices for 2-D ones.
    """
    from sklearn.isotonic import IsotonicRegression

    kind, scores, outcomes = _outcomes(reference_scores, reference_labels, classes)
    if len(scores) < MIN_CALIBRATION_ROWS:
        raise InvalidInput(
            f"Calibration needs at least {MIN_CALIBRATION_ROWS} labelled rows, got {len(scores)}."
        )
    if outcomes.min() == outcomes.max():
        raise InvalidInput(
            "Every reference row has the same outcome, so calibration cannot be measured.",
            hint="Use a reference with both classes (binary) or both right and wrong answers.",
        )
    before = expected_calibration_error(scores, outcomes, n_bins=n_bins)
    if before <= max_ece:
        return Calibration(kind, (), (), before, before, len(scores), n_bins, max_ece)

    def fit(rows: npt.NDArray[np.intp]) -> IsotonicRegression:
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        return model.fit(scores[rows], outcomes[rows])

    halves = np.array_split(np.random.default_rng(0).permutation(len(scores)), 2)
    out_of_fold = np.empty_like(scores)
    for fitted_on, applied_to in (halves, halves[::-1]):
        out_of_fold[applied_to] = fit(fitted_on).predict(scores[applied_to])
    after = expected_calibration_error(out_of_fold, outcomes, n_bins=n_bins)
    model = fit(np.arange(len(scores)))
    x = tuple(np.asarray(model.X_thresholds_, dtype=np.float64).tolist())
    y = tuple(np.asarray(model.y_thresholds_, dtype=np.float64).tolist())
    return Calibration(kind, x, y, before, after, len(scores), n_bins, max_ece)


def _outcomes(
    scores: npt.ArrayLike, labels: npt.ArrayLike, classes: Sequence[Any] | None
) -> tuple[CalibrationKind, FloatArray, FloatArray]:
    """(kind, the scores calibrated, 1.0 where the event they predict happened)."""
    proba = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(labels)
    if proba.ndim not in (1, 2) or truth.ndim != 1 or len(proba) != len(truth):
        raise InvalidInput(
            f"Calibration needs scores of shape (n,) or (n, k) and n labels; got scores of "
            f"shape {proba.shape} and labels of shape {truth.shape}.",
        )
    width = 2 if proba.ndim == 1 else proba.shape[1]
    if classes is not None and len(classes) != width:
        raise InvalidInput(f"{len(classes)} classes for {width} probability columns.")
    if proba.ndim == 2 and width < 2:
        raise InvalidInput("Calibration needs at least two probability columns.")
    if classes is None:
        names = ["0", "1"] if proba.ndim == 1 else [str(i) for i in range(width)]
        if truth.dtype == np.bool_:
            truth = truth.astype(np.int64)
        if not np.issubdtype(truth.dtype, np.number) or not np.isin(truth, np.arange(width)).all():
            raise InvalidInput(
                "Without classes, labels must be 0/1 (or booleans) for binary scores and column "
                "indices for (n, k) scores.",
                hint="Pass classes=model.classes_.",
            )
        text = truth.astype(np.int64).astype(str).astype(object)
    else:
        names = as_text(np.asarray(classes), "classes").tolist()
        text = as_text(truth, "labels")
        unknown = ~np.isin(text, names)
        if unknown.any():
            raise InvalidInput(
                f"{int(unknown.sum())} labels are not among the classes {names}, "
                f"e.g. {text[unknown][0]!r}.",
            )
    if proba.ndim == 1 or width == 2:
        positive = proba if proba.ndim == 1 else proba[:, 1]
        return "binary", _probabilities(positive), (text == names[1]).astype(np.float64)
    predicted = np.argmax(proba, axis=1)
    right = text == np.asarray(names, dtype=object)[predicted]
    return "confidence", _probabilities(proba.max(axis=1)), right.astype(np.float64)


def _probabilities(scores: npt.ArrayLike) -> FloatArray:
    p = np.asarray(scores, dtype=np.float64)
    if p.ndim != 1:
        raise InvalidInput(f"Expected one probability per row, got shape {p.shape}.")
    if not ((p >= 0) & (p <= 1)).all():  # NaN fails too
        raise InvalidInput("Probabilities must lie in [0, 1], without NaN.")
    return p


def _float(value: Any) -> float:
    """A stored number; ``None`` (how JSON keeps NaN) as NaN."""
    return math.nan if value is None else float(value)
