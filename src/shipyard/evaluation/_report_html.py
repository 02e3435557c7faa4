"""The gate report as one self-contained HTML page: the Markdown report's tables plus plots,
champion and challenger overlaid, embedded as PNG data URIs so the file can be mailed, attached
to a CI run or opened from the artifact store without anything else.

Plots are drawn on bare ``matplotlib.figure.Figure`` objects (no pyplot: no global state, no GUI
backend), whatever the caller's matplotlib is set up to do.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shipyard.evaluation._report import (
    METRIC_COLUMNS,
    SLICE_COLUMNS,
    VERDICT_COLUMNS,
    headline,
    metric_rows,
    operational_rows,
    slice_rows,
    slice_values,
    summary_rows,
    verdict_rows,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from shipyard.evaluation._gates import GateResult
    from shipyard.evaluation._records import Evaluation

__all__ = ["html_report", "plots"]

_DPI = 80
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left;font-size:.9rem}
th{background:#f3f3f3}.passed{color:#17723a}.failed{color:#b3261e}
tr.fail td{background:#fdecea}img{max-width:48%;margin:.3rem;border:1px solid #eee}
"""


def html_report(result: GateResult) -> str:
    """The report page; a plot that cannot be drawn is left out, never fails the gate."""
    status = "passed" if result.passed else "failed"
    verdicts = verdict_rows(result)
    failing = [row[-1].startswith("FAIL") for row in verdicts]
    parts = [
        f"<h1 class='{status}'>{html.escape(headline(result))}</h1>",
        _table(("field", "value"), summary_rows(result)),
        "<h2>Verdict</h2>",
        _table(VERDICT_COLUMNS, verdicts, failing),
        "<h2>Metrics</h2>",
        _table(METRIC_COLUMNS, metric_rows(result)),
    ]
    speed = operational_rows(result)
    if speed:
        parts += ["<h2>Speed and size</h2>", _table(("measure", "champion", "challenger"), speed)]
    slices = slice_rows(result)
    if slices:
        parts += ["<h2>Slices</h2>", _table(SLICE_COLUMNS, slices)]
    images = [_img(title, figure) for title, figure in plots(result)]
    if images:
        parts += ["<h2>Plots</h2>", "<div>", *images, "</div>"]
    title = html.escape(headline(result))
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def _table(
    columns: tuple[str, ...], rows: list[tuple[str, ...]], failing: list[bool] | None = None
) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        f"<tr{' class=fail' if failing and failing[i] else ''}>"
        + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row)
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(title: str, figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>"


def plots(result: GateResult) -> list[tuple[str, Figure]]:
    """The figures for this task, champion and challenger on the same axes.

    A figure that cannot be drawn (e.g. a class missing from the rows) is left out: the plots
    illustrate the verdict, they are not part of it.
    """
    models = [("challenger", result.challenger)]
    if result.champion is not None:
        models.insert(0, ("champion", result.champion))
    models = [(label, e) for label, e in models if e.y_true is not None and e.y_score is not None]
    wanted: list[tuple[str, Callable[[], Figure | None]]] = []
    if models and result.task == "binary":
        wanted += [("ROC curve", lambda: _roc(models)), ("Precision-recall", lambda: _pr(models))]
    if models and result.task in ("binary", "multiclass"):
        wanted.append(("Calibration", lambda: _calibration(models)))
    if models and result.task == "regression":
        wanted.append(("Residuals", lambda: _residuals(models)))
    wanted.append(("Slices", lambda: _slice_bars(result)))
    figures = []
    for title, draw in wanted:
        try:
            figure = draw()
        except Exception:
            continue
        if figure is not None:
            figures.append((title, figure))
    return figures


def _axes(title: str, width: float = 5.0, height: float = 4.0) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    ax = figure.add_subplot()
    ax.set_title(title)
    return figure, ax


def _positive(evaluation: Evaluation) -> Any:
    """Whether each row is the positive class: the last of the sorted classes, as scored."""
    import numpy as np

    classes = evaluation.classes or sorted(set(np.asarray(evaluation.y_true).tolist()))
    return np.asarray(evaluation.y_true) == classes[-1]


def _roc(models: list[tuple[str, Evaluation]]) -> Figure:
    from sklearn.metrics import roc_auc_score, roc_curve

    figure, ax = _axes("ROC curve")
    for label, e in models:
        positive = _positive(e)
        fpr, tpr, _ = roc_curve(positive, e.y_score)
        ax.plot(fpr, tpr, label=f"{label} (AUC {roc_auc_score(positive, e.y_score):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right")
    return figure


def _pr(models: list[tuple[str, Evaluation]]) -> Figure:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    figure, ax = _axes("Precision-recall curve")
    for label, e in models:
        positive = _positive(e)
        precision, recall, _ = precision_recall_curve(positive, e.y_score)
        ap = average_precision_score(positive, e.y_score)
        ax.step(recall, precision, where="post", label=f"{label} (AP {ap:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.legend(loc="lower left")
    return figure


def _calibration(models: list[tuple[str, Evaluation]], bins: int = 10) -> Figure:
    """Observed frequency against predicted probability in equal-width bins (multiclass: whether
    the top class was right against its probability)."""
    import numpy as np

    figure, ax = _axes("Calibration")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    edges = np.linspace(0.0, 1.0, bins + 1)
    for label, e in models:
        score = np.asarray(e.y_score, dtype=float)
        if score.ndim == 2:
            outcome = np.asarray(e.y_pred) == np.asarray(e.y_true)
            score = score.max(axis=1)
        else:
            outcome = _positive(e)
        which = np.clip(np.digitize(score, edges[1:-1]), 0, bins - 1)
        filled = [b for b in range(bins) if (which == b).any()]
        predicted = [float(score[which == b].mean()) for b in filled]
        observed = [float(outcome[which == b].mean()) for b in filled]
        ax.plot(predicted, observed, marker="o", label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.legend(loc="upper left")
    return figure


def _residuals(models: list[tuple[str, Evaluation]]) -> Figure:
    import numpy as np

    figure, ax = _axes("Residuals vs predicted")
    for label, e in models:
        predicted = np.asarray(e.y_score, dtype=float)
        ax.scatter(
            predicted, np.asarray(e.y_true, dtype=float) - predicted, s=8, alpha=0.5, label=label
        )
    ax.axhline(0.0, linestyle="--", color="grey")
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual - predicted")
    ax.legend(loc="best")
    return figure


def _slice_bars(result: GateResult) -> Figure | None:
    """The primary metric per slice, champion and challenger side by side."""
    import numpy as np

    rows = slice_values(result)
    if not rows:
        return None
    labels = [row[0] for row in rows]
    metric = rows[0][2]
    positions = np.arange(len(labels))
    figure, ax = _axes(f"{metric} per slice", max(5.0, 0.5 * len(labels) + 2), 4.0)
    width = 0.4
    if result.champion is not None:
        ax.bar(positions - width / 2, [r[3] for r in rows], width, label="champion")
    ax.bar(positions + width / 2, [r[4] for r in rows], width, label="challenger")
    ax.set_xticks(positions, labels, rotation=45, ha="right")
    ax.set_ylabel(metric)
    heights = [v for r in rows for v in r[3:5] if np.isfinite(v)]
    if heights:  # headroom, so that the legend does not hide a bar
        ax.set_ylim(top=max(heights) * 1.25 if max(heights) > 0 else 1.0)
    ax.legend(loc="upper right", ncols=2)
    return figure
