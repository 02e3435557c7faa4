"""How well a model version does, in numbers and in plain words: from its held-out
predictions (``evaluation/predictions.parquet``: ``actual``, ``predicted``, ``proba_<class>``) when
the run stored them, else from its ``test.*`` metrics. Pure functions of a frame or a dict."""

from __future__ import annotations

import io
import math
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import NotFound

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.tracking import TrackingService

__all__ = ["date", "number", "pct", "performance", "plain", "read_predictions", "task_of"]

PREDICTIONS = "evaluation/predictions.parquet"
_TRUTHY = frozenset({"1", "true", "yes", "y", "t"})
_ABBREVIATIONS = {"num": "number of", "pct": "percent", "avg": "average", "qty": "quantity"}


# -- words ----------------------------------------------------------------------------------


def plain(name: str) -> str:
    """A column name as words: ``num_products`` → "number of products"."""
    parts = re.split(r"[_\s\-]+|(?<=[a-z0-9])(?=[A-Z])", str(name).strip())
    words = [p if p.isupper() and len(p) > 1 else p.lower() for p in parts if p]
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words) or str(name)


def pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _round(value: float) -> int:
    """Half up, as people round (Python's round() goes to the even neighbour)."""
    return math.floor(value + 0.5)


def date(ms: int, form: str = "%Y-%m-%d") -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime(form)


def number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


# -- how well -------------------------------------------------------------------------------


def read_predictions(tracking: TrackingService, run_id: str) -> pd.DataFrame | None:
    import pandas as pd

    try:
        data = tracking.get_artifact(run_id, PREDICTIONS)
    except NotFound:
        return None
    frame = pd.read_parquet(io.BytesIO(data))
    return frame if {"actual", "predicted"} <= set(frame.columns) and len(frame) else None


def task_of(frame: pd.DataFrame | None) -> str | None:
    if frame is None:
        return None
    classes = [c for c in frame.columns if c.startswith("proba_")]
    return "regression" if not classes else "binary" if len(classes) == 2 else "multiclass"


def _headline(key: str, label: str, value: float | None, better: str, kind: str) -> dict[str, Any]:
    return {"key": key, "label": label, "value": value, "better": better, "format": kind}


def performance(
    frame: pd.DataFrame | None,
    metrics: dict[str, float | None],
    task: str | None,
    target: str | None,
) -> dict[str, Any]:
    """Sentences, headline numbers and what the chart needs, from the held-out predictions
    (or, without them, from the ``test.*`` metrics the run logged)."""
    words = plain(target) if target else "the target"
    if frame is None or task_of(frame) != task:  # none stored, or not of the shape we know
        return _from_metrics(metrics, task, words)
    if task == "binary":
        return _binary(frame, words)
    if task == "multiclass":
        return _multiclass(frame)
    return _regression(frame, words)


def _positive(frame: pd.DataFrame) -> str:
    """The positive class: the second of the two, as the tabular solution orders them."""
    columns = [str(c) for c in frame.columns if str(c).startswith("proba_")]
    return columns[-1][len("proba_") :]


def _positives_words(positive: str, target_words: str) -> str:
    return f"{target_words} cases" if positive.lower() in _TRUTHY else f"“{positive}” cases"


def _binary(frame: pd.DataFrame, target_words: str) -> dict[str, Any]:
    positive = _positive(frame)
    actual = frame["actual"].astype(str).to_numpy() == positive
    flagged = frame["predicted"].astype(str).to_numpy() == positive
    score = frame[f"proba_{positive}"].to_numpy(dtype="float64")
    counts = {
        "caught": int((actual & flagged).sum()),
        "missed": int((actual & ~flagged).sum()),
        "false_alarms": int((~actual & flagged).sum()),
        "left_alone": int((~actual & ~flagged).sum()),
    }
    n, tp, fp = len(frame), counts["caught"], counts["false_alarms"]
    n_pos, n_flag = int(actual.sum()), tp + fp
    recall = tp / n_pos if n_pos else None
    false_alarm = fp / n_flag if n_flag else None
    accuracy = (tp + counts["left_alone"]) / n
    auc = _auc(actual, score)
    who = _positives_words(positive, target_words)
    lines = [f"{pct(n_pos / n)} of the {n:,} test cases were {who}."]
    if recall is not None:
        lines.append(
            f"It catches {_round(10 * recall)} of 10 {who} (recall {pct(recall)}: "
            f"{tp:,} of {n_pos:,})."
        )
    if false_alarm is None:
        lines.append("It flagged no case in the test data.")
    elif fp == 0:
        lines.append(f"None of the {n_flag:,} cases it flagged was a false alarm.")
    else:
        lines.append(
            f"1 in {_round(1 / false_alarm)} cases it flags is a false alarm "
            f"({fp:,} of {n_flag:,} flagged; precision {pct(1 - false_alarm)})."
        )
    lines.append(
        f"It is right about {pct(accuracy)} of all cases ({tp + counts['left_alone']:,} "
        f"of {n:,}; accuracy)."
    )
    if auc is not None:
        lines.append(
            f"Shown one of the {who} and one other case at random, it gives the first the higher "
            f"score {pct(auc)} of the time (ROC AUC {auc:.2f}; a coin toss would be 50%)."
        )
    if bool(((score > 0.5) == flagged).all()):
        lines.append(
            "A case is flagged when the model gives it a probability above 50%, the rule it "
            "uses in production."
        )
    return {
        "source": "predictions",
        "task": "binary",
        "rows": n,
        "positive": positive,
        "positives": who,
        "sentences": lines,
        "counts": counts,
        "headline": [
            _headline("recall", f"{who.capitalize()} caught", recall, "higher", "percent"),
            _headline(
                "false_alarm_rate",
                "Flagged cases that are false alarms",
                false_alarm,
                "lower",
                "percent",
            ),
            _headline("accuracy", "All cases right", accuracy, "higher", "percent"),
            _headline("roc_auc", "Ranking quality (ROC AUC)", auc, "higher", "number"),
        ],
    }


def _auc(actual: Any, score: Any) -> float | None:
    """ROC AUC as the Mann-Whitney statistic: the chance a positive outranks a negative."""
    import pandas as pd

    n_pos = int(actual.sum())
    n_neg = len(actual) - n_pos
    if not n_pos or not n_neg:
        return None
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[actual].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _multiclass(frame: pd.DataFrame) -> dict[str, Any]:
    actual = frame["actual"].astype(str)
    right = actual.to_numpy() == frame["predicted"].astype(str).to_numpy()
    n = len(frame)
    classes: list[dict[str, Any]] = []
    for label in sorted(actual.unique()):
        mask = actual.to_numpy() == label
        classes.append({"label": label, "rows": int(mask.sum()), "right": int(right[mask].sum())})
    accuracy = float(right.mean())
    lines = [
        f"It picks the right class for {pct(accuracy)} of cases ({int(right.sum()):,} of "
        f"{n:,} test cases; accuracy)."
    ]
    worst = min(classes, key=lambda c: c["right"] / c["rows"])
    lines.append(
        f"It is weakest on “{worst['label']}”: right for {pct(worst['right'] / worst['rows'])} "
        f"of them ({worst['right']:,} of {worst['rows']:,})."
    )
    recalls = [c["right"] / c["rows"] for c in classes]
    return {
        "source": "predictions",
        "task": "multiclass",
        "rows": n,
        "sentences": lines,
        "classes": classes,
        "headline": [
            _headline("accuracy", "All cases right", accuracy, "higher", "percent"),
            _headline(
                "balanced_accuracy",
                "Average share right per class",
                sum(recalls) / len(recalls),
                "higher",
                "percent",
            ),
        ],
    }


def _regression(frame: pd.DataFrame, target_words: str) -> dict[str, Any]:
    import numpy as np

    actual = frame["actual"].to_numpy(dtype="float64")
    errors = frame["predicted"].to_numpy(dtype="float64") - actual
    n = len(frame)
    mae = float(np.abs(errors).mean())
    median = float(np.median(np.abs(errors)))
    spread = float(((actual - actual.mean()) ** 2).sum())
    r2 = 1 - float((errors**2).sum()) / spread if spread > 0 else None
    lines = [
        f"Its predictions of {target_words} are typically off by {number(mae)} (mean absolute "
        f"error, in the units of {target_words}; {n:,} test cases).",
        f"Half of its predictions are within {number(median)} of the true value.",
    ]
    if r2 is not None:
        lines.append(
            f"It explains {pct(max(r2, 0.0))} of the variation in {target_words} (R² {r2:.2f})."
        )
    over = float((errors > 0).mean())
    lines.append(f"It predicts too high for {pct(over)} of cases and too low for the rest.")
    counts, edges = np.histogram(errors, bins=20)
    return {
        "source": "predictions",
        "task": "regression",
        "rows": n,
        "sentences": lines,
        "errors": {"counts": counts.tolist(), "edges": [float(e) for e in edges]},
        "headline": [
            _headline("mae", "Typical error (MAE)", mae, "lower", "number"),
            _headline("r2", "Variation explained (R²)", r2, "higher", "number"),
        ],
    }


def _from_metrics(
    metrics: dict[str, float | None], task: str | None, target_words: str
) -> dict[str, Any]:
    def value(key: str) -> float | None:
        found = metrics.get(f"test.{key}")
        return float(found) if found is not None and math.isfinite(found) else None

    accuracy, auc, mae, r2 = value("accuracy"), value("roc_auc"), value("mae"), value("r2")
    lines = []
    if accuracy is not None:
        lines.append(f"It is right about {pct(accuracy)} of the test cases (accuracy).")
    if auc is not None:
        lines.append(
            f"Shown one positive and one other case at random, it gives the positive one the "
            f"higher score {pct(auc)} of the time (ROC AUC {auc:.2f})."
        )
    if mae is not None:
        lines.append(
            f"Its predictions of {target_words} are typically off by {number(mae)} "
            f"(mean absolute error)."
        )
    if r2 is not None:
        lines.append(f"It explains {pct(max(r2, 0.0))} of the variation in {target_words} (R²).")
    headline = [
        _headline("accuracy", "All cases right", accuracy, "higher", "percent"),
        _headline("roc_auc", "Ranking quality (ROC AUC)", auc, "higher", "number"),
        _headline("mae", "Typical error (MAE)", mae, "lower", "number"),
        _headline("r2", "Variation explained (R²)", r2, "higher", "number"),
    ]
    return {
        "source": "metrics" if lines else None,
        "task": task,
        "rows": None,
        "sentences": lines or ["This version has no stored test results to judge it by."],
        "headline": [h for h in headline if h["value"] is not None],
    }
