"""The paired bootstrap, fast: a thousand resamples of 100,000 rows in a couple of seconds.

A resample is a vector of weights (how often each row was drawn), so every metric is a
weighted formula: sums are one matrix-vector product over per-row terms prepared once, and
ROC/PR AUC come from weighted counts per distinct score, in an order sorted once before the
first resample (equal scores grouped the way scikit-learn treats ties). No resample is ever
materialized as rows, and champion and challenger see the same weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["WeightedScorer", "interval", "paired_deltas", "resample_weights"]

Floats = npt.NDArray[np.float64]
_RANKED = frozenset({"roc_auc", "pr_auc"})


def resample_weights(n_rows: int, n_resamples: int, seed: int) -> Iterator[Floats]:
    """Multinomial bootstrap weights, one vector of ``n_rows`` per resample.

    Drawn as row indices and counted: exact, and faster than numpy's multinomial.
    """
    rng = np.random.default_rng(seed)
    dtype = np.int32 if n_rows < 2**31 else np.int64
    for _ in range(n_resamples):
        drawn = rng.integers(0, n_rows, size=n_rows, dtype=dtype)
        yield np.bincount(drawn, minlength=n_rows).astype(np.float64)


class WeightedScorer:
    """One model's predictions, prepared so that scoring a weighting costs a few passes.

    ``scorer(weights)`` returns each metric under those row weights; it equals scikit-learn's
    metric with ``sample_weight=weights`` (tests pin this to 1e-9).
    """

    def __init__(
        self,
        task: str,
        metrics: Sequence[str],
        y_true: npt.NDArray[Any],
        y_pred: npt.NDArray[Any],
        y_score: npt.NDArray[Any],
        classes: Sequence[Any] | None,
    ) -> None:
        self.task = task
        self.metrics = tuple(metrics)
        needed = {term for name in self.metrics for term in _NEEDS.get(name, ())}
        terms = _row_terms(task, y_true, y_pred, y_score, classes)
        # Multiclass terms are numbered per class (tp#0, tp#1 ...): they count as "tp" here.
        kept = {k: v for k, v in terms.items() if k.partition("#")[0] in needed}
        self._names = list(kept)
        # One row per term: terms @ weights is the fastest matrix-vector product here.
        self._terms = np.vstack(list(kept.values())) if kept else None
        self._ranking: _Ranking | None = None
        if _RANKED & set(self.metrics):
            assert classes is not None
            positive = y_true == np.asarray(classes, dtype=object)[1]
            self._ranking = _Ranking(y_score, positive)

    def __call__(self, weights: Floats) -> dict[str, float]:
        sums = {"total": float(weights.sum())}
        if self._terms is not None:
            sums.update(zip(self._names, (self._terms @ weights).tolist(), strict=True))
        out = {name: _FORMULAS[name](sums) for name in self.metrics if name in _FORMULAS}
        if self._ranking is not None:
            out.update(self._ranking(weights, _RANKED & set(self.metrics)))
        return out


def _row_terms(
    task: str,
    y_true: npt.NDArray[Any],
    y_pred: npt.NDArray[Any],
    y_score: npt.NDArray[Any],
    classes: Sequence[Any] | None,
) -> dict[str, Floats]:
    """Per-row quantities whose weighted sums make up the non-ranking metrics."""
    if task == "regression":
        truth = np.asarray(y_true, dtype=np.float64)
        error = np.asarray(y_score, dtype=np.float64) - truth
        centered = truth - truth.mean()  # R²'s total sum of squares, without cancellation
        return {"sq_err": error**2, "abs_err": np.abs(error), "y": centered, "y_sq": centered**2}
    assert classes is not None
    labels = np.asarray(classes, dtype=object)
    eps = np.finfo(np.float64).eps  # scikit-learn clips probabilities the same way
    if task == "binary":
        positive = y_true == labels[1]
        predicted = y_pred == labels[1]
        score = np.asarray(y_score, dtype=np.float64)
        p_true = np.clip(np.where(positive, score, 1 - score), eps, 1 - eps)
        return {
            "correct": (positive == predicted).astype(np.float64),
            "loss": -np.log(p_true),
            "sq": (score - positive) ** 2,
            "tp": (predicted & positive).astype(np.float64),
            "fp": (predicted & ~positive).astype(np.float64),
            "fn": (~predicted & positive).astype(np.float64),
        }
    index = _class_index(y_true, labels)
    proba = np.asarray(y_score, dtype=np.float64)
    p_true = np.clip(proba[np.arange(len(index)), index], eps, 1 - eps)
    terms = {"correct": (y_true == y_pred).astype(np.float64), "loss": -np.log(p_true)}
    for k, label in enumerate(labels):
        true_k, pred_k = y_true == label, y_pred == label
        terms[f"tp#{k}"] = (true_k & pred_k).astype(np.float64)
        terms[f"fp#{k}"] = (~true_k & pred_k).astype(np.float64)
        terms[f"fn#{k}"] = (true_k & ~pred_k).astype(np.float64)
    return terms


def _class_index(y_true: npt.NDArray[Any], labels: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
    lookup = {label: k for k, label in enumerate(labels.tolist())}
    return np.fromiter((lookup[v] for v in y_true.tolist()), dtype=np.intp, count=len(y_true))


def _ratio(num: float, den: float, empty: float = 0.0) -> float:
    """``num / den``, and ``empty`` where nothing was counted (scikit-learn's zero_division)."""
    return num / den if den > 0 else empty


def _r2(s: dict[str, float]) -> float:
    total_ss = s["y_sq"] - _ratio(s["y"] ** 2, s["total"])
    if total_ss > 0:
        return 1 - s["sq_err"] / total_ss
    # scikit-learn's force_finite: a constant target scores 1 when predicted exactly, else 0.
    return 0.0 if s["sq_err"] > 0 else 1.0


def _macro_f1(s: dict[str, float]) -> float:
    """The mean F1 over the classes a weighting holds or predicts (zero_division=nan)."""
    scores = []
    k = 0
    while f"tp#{k}" in s:
        tp, fp, fn = s[f"tp#{k}"], s[f"fp#{k}"], s[f"fn#{k}"]
        if 2 * tp + fp + fn > 0:
            scores.append(2 * tp / (2 * tp + fp + fn))
        k += 1
    return sum(scores) / len(scores) if scores else float("nan")


_NAN = float("nan")
_TINY = float(np.finfo(np.float64).tiny)
# The per-row terms whose weighted sums each formula reads.
_NEEDS: dict[str, tuple[str, ...]] = {
    "accuracy": ("correct",),
    "log_loss": ("loss",),
    "brier": ("sq",),
    "precision": ("tp", "fp"),
    "recall": ("tp", "fn"),
    "f1": ("tp", "fp", "fn"),
    "macro_f1": ("tp", "fp", "fn"),
    "rmse": ("sq_err",),
    "mae": ("abs_err",),
    "r2": ("sq_err", "y", "y_sq"),
}
_FORMULAS: dict[str, Callable[[dict[str, float]], float]] = {
    "accuracy": lambda s: _ratio(s["correct"], s["total"], _NAN),
    "log_loss": lambda s: _ratio(s["loss"], s["total"], _NAN),
    "brier": lambda s: _ratio(s["sq"], s["total"], _NAN),
    "precision": lambda s: _ratio(s["tp"], s["tp"] + s["fp"]),
    "recall": lambda s: _ratio(s["tp"], s["tp"] + s["fn"]),
    "f1": lambda s: _ratio(2 * s["tp"], 2 * s["tp"] + s["fp"] + s["fn"]),
    "macro_f1": _macro_f1,
    "rmse": lambda s: math.sqrt(_ratio(s["sq_err"], s["total"], _NAN)),
    "mae": lambda s: _ratio(s["abs_err"], s["total"], _NAN),
    "r2": _r2,
}


class _Ranking:
    """ROC AUC and average precision under weights, from one sort of the scores.

    Each row maps to a bin (its distinct score, highest first, and whether it is positive), so
    a weighting's counts per score are one weighted ``bincount``; both metrics then need only
    running totals from the top score down. Rows with equal scores share a bin: a positive and
    a negative of equal score count as half a correct pair (ROC) and are crossed in one step
    (PR), as in scikit-learn.
    """

    def __init__(self, score: npt.NDArray[Any], positive: npt.NDArray[np.bool_]) -> None:
        distinct, group = np.unique(np.asarray(score, dtype=np.float64), return_inverse=True)
        self._n = len(distinct)
        descending = self._n - 1 - group.ravel()
        # Negatives in bins [0, n), positives in [n, 2n): both halves stay contiguous.
        self._bins = descending + self._n * positive.astype(np.intp)

    def __call__(self, weights: Floats, wanted: frozenset[str]) -> dict[str, float]:
        counts = np.bincount(self._bins, weights=weights, minlength=2 * self._n)
        neg, pos = counts[: self._n], counts[self._n :]  # per distinct score, highest first
        total_pos, total_neg = float(pos.sum()), float(neg.sum())
        neg_above = np.cumsum(neg)  # negatives scored at or above each score
        out: dict[str, float] = {}
        if "roc_auc" in wanted:
            # A positive beats every negative scored lower and half of those scored equal.
            pairs = total_pos * total_neg - float(pos @ neg_above) + 0.5 * float(pos @ neg)
            out["roc_auc"] = _ratio(pairs, total_pos * total_neg, _NAN)
        if "pr_auc" in wanted:
            # Thresholds from the highest score down: precision at each, times recall gained.
            pos_above = np.cumsum(pos)
            predicted = pos_above + neg_above
            # Where nothing is predicted yet, no recall is gained either: 0 / tiny is 0.
            precision = pos_above / np.maximum(predicted, _TINY)
            out["pr_auc"] = _ratio(float(pos @ precision), total_pos, _NAN)
        return out


def paired_deltas(
    champion: WeightedScorer,
    challenger: WeightedScorer,
    *,
    n_rows: int,
    n_resamples: int,
    seed: int,
) -> dict[str, Floats]:
    """Per metric, challenger minus champion on each of ``n_resamples`` shared resamples."""
    deltas = {name: np.empty(n_resamples) for name in champion.metrics}
    for r, weights in enumerate(resample_weights(n_rows, n_resamples, seed)):
        before, after = champion(weights), challenger(weights)
        for name, values in deltas.items():
            values[r] = after[name] - before[name]
    return deltas


def interval(deltas: Floats, confidence: float) -> tuple[float, float]:
    """The percentile interval of the deltas; resamples where a metric is undefined are skipped.

    (Such resamples are rare: a resample of one class has no AUC.)
    """
    finite = deltas[np.isfinite(deltas)]
    if not len(finite):
        return _NAN, _NAN
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)
