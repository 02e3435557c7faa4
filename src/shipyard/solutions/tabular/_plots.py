"""Evaluation figures, drawn on bare ``matplotlib.figure.Figure`` objects: no pyplot, so no
global figure state and no GUI backend, whatever the caller's matplotlib is set up to use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "calibration_figure",
    "confusion_figure",
    "importance_figure",
    "pr_figure",
    "residuals_figure",
    "roc_figure",
]

_DPI = 80  # artifacts for a dashboard, not print: small files, fast to render
_MAX_ANNOTATED = 12  # classes up to which each confusion cell shows its count


def _axes(width: float = 5.0, height: float = 4.0) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    return figure, figure.add_subplot()


def confusion_figure(
    y_true: npt.NDArray[Any], y_pred: npt.NDArray[Any], classes: npt.NDArray[Any]
) -> Figure:
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(y_true, y_pred, labels=classes)
    size = min(4.0 + 0.3 * len(classes), 12.0)
    figure, ax = _axes(size + 1, size)
    image = ax.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=ax)
    names = [str(c) for c in classes]
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix (test)")
    if len(classes) <= _MAX_ANNOTATED:
        threshold = counts.max() / 2
        for (i, j), count in _cells(counts):
            color = "white" if count > threshold else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=color)
    return figure


def _cells(counts: npt.NDArray[np.int64]) -> list[tuple[tuple[int, int], int]]:
    rows, cols = counts.shape
    return [((i, j), int(counts[i, j])) for i in range(rows) for j in range(cols)]


def roc_figure(
    positive: npt.NDArray[np.bool_], score: npt.NDArray[np.float64], auc: float
) -> Figure:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(positive, score)
    figure, ax = _axes()
    ax.plot(fpr, tpr, label=f"model (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve (test)")
    ax.legend(loc="lower right")
    return figure


def pr_figure(positive: npt.NDArray[np.bool_], score: npt.NDArray[np.float64], ap: float) -> Figure:
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(positive, score)
    figure, ax = _axes()
    ax.step(recall, precision, where="post", label=f"model (AP {ap:.3f})")
    ax.axhline(float(positive.mean()), linestyle="--", color="grey", label="base rate")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall curve (test)")
    ax.legend(loc="lower left")
    return figure


def calibration_figure(
    outcome: npt.NDArray[np.bool_], confidence: npt.NDArray[np.float64], what: str, bins: int = 10
) -> Figure:
    """Observed frequency against predicted probability, in equal-width bins.

    ``outcome``/``confidence``: the positive class and its probability (binary), or whether
    the predicted class was right and its probability (multiclass, "top-label" calibration).
    """
    import numpy as np

    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    filled = [b for b in range(bins) if (which == b).any()]
    predicted = [float(confidence[which == b].mean()) for b in filled]
    observed = [float(outcome[which == b].mean()) for b in filled]
    figure, ax = _axes()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(predicted, observed, marker="o", label="model")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"predicted probability ({what})")
    ax.set_ylabel("observed frequency")
    ax.set_title("Calibration (test)")
    ax.legend(loc="upper left")
    return figure


def residuals_figure(y_true: npt.NDArray[np.float64], y_pred: npt.NDArray[np.float64]) -> Figure:
    figure, ax = _axes()
    ax.scatter(y_pred, y_true - y_pred, s=10, alpha=0.6)
    ax.axhline(0.0, linestyle="--", color="grey")
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual - predicted")
    ax.set_title("Residuals vs predicted (test)")
    return figure


def importance_figure(values: dict[str, float], label: str, top: int = 20) -> Figure:
    """Horizontal bars of the ``top`` features, the most important at the top."""
    shown = list(values.items())[:top][::-1]
    figure, ax = _axes(6.0, max(2.5, 0.3 * len(shown) + 1.0))
    ax.barh([name for name, _ in shown], [value for _, value in shown])
    ax.set_xlabel(label)
    ax.set_title("Feature importance")
    return figure
