"""What a report needs to draw the reference and current distributions of a feature over each other.

Numeric: shares of both sides in ``OVERLAY_BINS`` (20) equal-width bins. The bins span the bulk of
both sides — from the lower of the two 1st percentiles to the higher of the two 99th, widened by
5% of that width on each side but never past the data — so that a few outliers do not squash
the picture, while a shifted current side stays in view. The first and last bins also hold the
values below and above the drawn range, so each side's shares sum to 1.

Categorical: shares of the ``OVERLAY_CATEGORIES`` (20) categories commonest over both sides
(by reference share + current share), then ``"(other)"`` for the rest when there is a rest.

Only the sorted values (or the reference's quantile sketch) are read: a few binary searches per
side, nothing per row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from shipyard.monitor._numeric import FloatArray, IntArray

OVERLAY_BINS = 20
OVERLAY_CATEGORIES = 20
OTHER = "(other)"
_PAD = 0.05
_JSON_LABELS = (str, bool, int, float)


def sample_bounds(sorted_values: FloatArray) -> FloatArray:
    """Minimum, 1st percentile, 99th percentile and maximum (nearest rank) of a sorted sample."""
    last = sorted_values.size - 1
    ranks = np.rint(np.array([0.0, 0.01, 0.99, 1.0]) * last).astype(np.int64)
    return np.asarray(sorted_values[ranks], dtype=np.float64)


def sample_share_below(sorted_values: FloatArray, points: FloatArray) -> FloatArray:
    """The share of a sorted sample strictly below each point."""
    below = np.searchsorted(sorted_values, points, side="left")
    return np.asarray(below / sorted_values.size, dtype=np.float64)


def numeric_overlay(
    reference_bounds: FloatArray,
    reference_share_below: Callable[[FloatArray], FloatArray],
    current: FloatArray,
) -> dict[str, list[float]]:
    """``{"edges": [21], "reference": [20 shares], "current": [20 shares]}``.

    ``reference_bounds`` is the reference's minimum, p1, p99 and maximum; ``current`` is sorted.
    """
    ref_min, ref_p1, ref_p99, ref_max = (float(v) for v in reference_bounds)
    cur_min, cur_p1, cur_p99, cur_max = (float(v) for v in sample_bounds(current))
    low, high = min(ref_p1, cur_p1), max(ref_p99, cur_p99)
    pad = _PAD * (high - low)
    low, high = max(low - pad, min(ref_min, cur_min)), min(high + pad, max(ref_max, cur_max))
    if not high > low:  # one value on both sides: a unit-wide range around it, as numpy does
        low, high = low - 0.5, low + 0.5
    edges = np.linspace(low, high, OVERLAY_BINS + 1)
    inner = edges[1:-1]
    return {
        "edges": edges.tolist(),
        "reference": _bin_shares(reference_share_below(inner)),
        "current": _bin_shares(sample_share_below(current, inner)),
    }


def _bin_shares(share_below_inner_edges: FloatArray) -> list[float]:
    shares = np.diff(share_below_inner_edges, prepend=0.0, append=1.0)
    return [float(s) for s in np.clip(shares, 0.0, 1.0)]


def categorical_overlay(
    labels: Any, ref_counts: IntArray, cur_counts: IntArray, *, last_is_rest: bool = False
) -> dict[str, list[Any]]:
    """``{"categories": [...], "reference": [shares], "current": [shares]}``.

    ``labels`` (a sequence or index) names the categories counted; with ``last_is_rest`` the
    last entry stands for the categories a truncated profile leaves unnamed, drawn as
    ``"(other)"`` whatever its size.
    """
    p = ref_counts / ref_counts.sum()
    q = cur_counts / cur_counts.sum()
    named = p.size - 1 if last_is_rest else p.size
    order = np.argsort(-(p[:named] + q[:named]), kind="stable")
    shown = order[:OVERLAY_CATEGORIES]
    hidden = np.ones(p.size, dtype=bool)
    hidden[shown] = False
    categories = [_json_label(labels[int(i)]) for i in shown]
    reference, current = p[shown].tolist(), q[shown].tolist()
    if hidden.any():
        categories.append(OTHER)
        reference.append(float(p[hidden].sum()))
        current.append(float(q[hidden].sum()))
    return {"categories": categories, "reference": reference, "current": current}


def _json_label(label: Any) -> Any:
    """The label itself when JSON can hold it, else its text (timestamps, tuples, …)."""
    if isinstance(label, np.generic):
        label = label.item()
    return label if isinstance(label, _JSON_LABELS) else str(label)
