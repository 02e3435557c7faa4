"""Drift against a stored dataset profile: the reference is known by its summaries, not its rows.

A dataset version's profile keeps, per numeric column, the 101 quantiles p0…p100 of its finite
values (``quantile_sketch``) and, per categorical column, the count of every category
(``value_counts``, the 1,000 commonest), so a monitor never reloads the training data:

* **The reference distribution** of a numeric column is the piecewise-linear CDF ``F_ref``
  through the points ``(p_k, k/100)`` — a vertical step where points tie, as at a value many rows
  share (widened by half a percentile each way, where that value's share most likely ends) —
  and its quantile function ``Q_ref`` the inverse. Only the outer percentiles, from p0 to
  p1 and from p99 to p100, are drawn otherwise once the reference has over 200 values: a
  straight line from p99 to a far maximum puts the top 1% of the rows halfway out, when in most
  data they crowd near p99 (for an unchanged lognormal feature that alone can add 0.1 to the
  Wasserstein distance). There ``Q_ref`` follows a generalized Pareto tail through p98 and p99,
  its shape estimated from p96, p98 and p99 — exponential, power-law and bounded tails alike —
  capped at the maximum, which holds the last ``1/n`` as in the data (mirrored at the bottom).
* **KS**: ``max |F_ref - F_cur|``, taken on both sides of each step of the current ECDF (only
  there can the gap peak); the p-value is the asymptotic ``kstwo.sf`` with ``n_ref`` the
  profile's count of finite values — the formula :mod:`~shipyard.monitor._numeric` uses above
  10,000 values, never the exact small-sample one.
* **PSI** and **Jensen-Shannon** on the reference decile bins, edges p10…p90 — the very edges the
  data would give; equal ones merge as in ``quantile_bin_counts``. The reference shares are
  ``F_ref`` differences, 10% each when no edges merge.
* **Wasserstein**: ``∫ |Q_ref(u) - Q_cur(u)| du`` by the midpoint rule on 10,000 cells, in
  reference standard deviations (ddof 0): the profile's ``std``, or the sketch's own where the
  profile has none (a reference with infinite values).
* **Categorical** statistics come from the stored counts and equal those from the data. When the
  profile lists only the commonest categories, every other category — on both sides — is pooled
  into one bucket, and ``unseen_share`` then counts only the current values it can tell are new
  (none beyond the listed ones).

Current labels are compared with the profile's as text (the profile stores category values as
strings), booleans as booleans.

Agreement with the data-based statistics (tested, from 20,000 reference values): on smooth data
KS within 0.005, PSI and Jensen-Shannon within 0.002, Wasserstein within 0.01 — heavy tails
included; with few distinct values (counts, ratings), whose shares the percentiles only bracket,
KS within ~0.01, Jensen-Shannon and Wasserstein within ~0.02.

Profiles stored before the sketch existed: a categorical column is still measured when its
``top_values`` list every category; otherwise — and for every numeric column — the call raises
:class:`~shipyard.core.errors.InvalidInput` asking for the reference data: a 20-bin histogram is too
coarse to judge drift on, and logging the same data again returns the stored version unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from shipyard.core.errors import InvalidInput
from shipyard.monitor._categorical import present_counts
from shipyard.monitor._numeric import (
    N_BINS,
    FloatArray,
    IntArray,
    asymptotic_ks_pvalue,
    bin_counts,
    jensenshannon,
    normalized_wasserstein,
    psi,
)

if TYPE_CHECKING:
    from shipyard.data._profile import ColumnProfile

__all__ = [
    "QuantileSketch",
    "profile_category_counts",
    "profile_kind",
    "reference_sketch",
    "sketch_statistics",
]

SKETCH_SIZE = 101
WASSERSTEIN_CELLS = 10_000
TAIL_MODEL_MIN_COUNT = 201  # below, the outer percentiles span two values or fewer
_TAIL_KNOTS = 16
_LEVELS = np.linspace(0.0, 1.0, SKETCH_SIZE)
_NUMERIC_KINDS = ("integer", "float")
_COUNTED_KINDS = ("string", "categorical", "boolean")
_USE_DATA_HINT = (
    "Pass the reference data instead of the profile, e.g. "
    "shipyard.data.load_dataset(name, version); logging the same data again returns the stored "
    "version with its old profile."
)


@dataclass(frozen=True)
class QuantileSketch:
    """A numeric reference known by its quantiles p0…p100 (``points``), over ``count`` values.

    ``F_ref`` and ``Q_ref`` are linear between knots ``(knot_values, knot_levels)``: the points
    themselves, with the outer percentiles subdivided along a fitted tail where one applies.
    """

    points: FloatArray
    count: int
    std: float  # population (ddof 0) standard deviation
    knot_values: FloatArray  # non-decreasing; a repeated value is a step of F_ref
    knot_levels: FloatArray  # non-decreasing from 0 to 1; a repeated level is a gap in the data

    @classmethod
    def build(cls, points: FloatArray, count: int, std: float) -> QuantileSketch:
        base = _tied_levels(points)
        # Each tail as (levels, values) in increasing order; a straight line where none is fitted.
        low_levels, low_values = base[:1], points[:1]
        high_levels, high_values = base[-1:], points[-1:]
        lower = _tail(-points[4], -points[2], -points[1], -points[0], count)
        if lower is not None:
            low_levels, low_values = lower[0][::-1], -lower[1][::-1]
        upper = _tail(points[-5], points[-3], points[-2], points[-1], count)
        if upper is not None:
            high_levels, high_values = 1.0 - upper[0], upper[1]
        return cls(
            points=points,
            count=count,
            std=std,
            knot_values=np.concatenate((low_values, points[1:-1], high_values)),
            knot_levels=np.concatenate((low_levels, base[1:-1], high_levels)),
        )

    def cdf(self, x: FloatArray, *, left: bool = False) -> FloatArray:
        """``F_ref(x)``, or its limit from the left ``F_ref(x-)`` (they differ at steps)."""
        return _through(x, self.knot_values, self.knot_levels, left=left)

    def quantile(self, u: FloatArray) -> FloatArray:
        """``Q_ref(u)``."""
        return _through(u, self.knot_levels, self.knot_values, left=False)

    def bounds(self) -> FloatArray:
        """Minimum, p1, p99 and maximum."""
        return self.points[[0, 1, SKETCH_SIZE - 2, SKETCH_SIZE - 1]]


def _tied_levels(points: FloatArray) -> FloatArray:
    """The points' levels, a run of equal points widened by half a percentile at each end.

    Equal points mark a value many rows share; its true share runs from somewhere in the
    percentile before the run to somewhere in the one after it, and the middle of each halves
    the worst error of a step placed at the run's own ends (integer features, ratings).
    """
    levels = _LEVELS.copy()
    same = points[1:] == points[:-1]
    after, before = np.append(same, False), np.insert(same, 0, False)  # equal to next / previous
    half = 0.5 / (SKETCH_SIZE - 1)
    levels[after & ~before] -= half
    levels[before & ~after] += half
    return np.clip(levels, 0.0, 1.0)


def _tail(
    p96: float, p98: float, p99: float, extreme: float, count: int
) -> tuple[FloatArray, FloatArray] | None:
    """Knots above p99 as ``(tail probabilities, values)``, from under 0.01 down to 0, or ``None``
    where the tail is not fitted (few values, or ties: a discrete tail is drawn straight).

    A generalized Pareto quantile function through p98 and p99, its shape ``xi`` estimated by
    Pickands from p96, p98 and p99 (clipped to [-1, 1]), capped at the maximum; the last ``1/n``
    is the maximum itself.
    """
    if count < TAIL_MODEL_MIN_COUNT or not p96 < p98 < p99 <= extreme:
        return None
    xi = float(np.clip(math.log2((p99 - p98) / (p98 - p96)), -1.0, 1.0))
    tail = 0.01 * (0.01 * count) ** -(np.arange(1, _TAIL_KNOTS + 1) / _TAIL_KNOTS)  # … 1/n
    ratio = 0.01 / tail
    if abs(xi) < 1e-9:
        growth, unit = np.log(ratio), math.log(2.0)
    else:
        growth, unit = (ratio**xi - 1.0) / xi, (1.0 - 2.0**-xi) / xi
    values = np.minimum(p99 + (p99 - p98) / unit * growth, extreme)
    # The maximum holds the last 1/n: a step up to it, then flat.
    return np.append(tail, (tail[-1], 0.0)), np.append(values, (extreme, extreme))


def _through(x: FloatArray, xs: FloatArray, ys: FloatArray, *, left: bool) -> FloatArray:
    """The broken line through ``(xs, ys)`` (both non-decreasing) at ``x``; where ``xs`` repeats
    it steps, and ``left`` takes the value before the step. Flat beyond the ends."""
    found = np.searchsorted(xs, x, side="left" if left else "right")
    below = np.clip(found - 1, 0, xs.size - 1)
    above = np.clip(found, 0, xs.size - 1)
    x0, x1 = xs[below], xs[above]
    # Only between two knots that differ is the fraction used; elsewhere any finite number does.
    fraction = (x - x0) / np.where(x1 > x0, x1 - x0, 1.0)
    inside = ys[below] + fraction * (ys[above] - ys[below])
    return np.where(found == 0, ys[0], np.where(found == xs.size, ys[-1], inside))


def profile_kind(profile: ColumnProfile) -> Literal["numeric", "categorical"] | None:
    """``"numeric"`` or ``"categorical"`` for the profile kinds drift measures, else ``None``."""
    if profile.kind in _NUMERIC_KINDS:
        return "numeric"
    return "categorical" if profile.kind in _COUNTED_KINDS else None


def reference_sketch(profile: ColumnProfile, column: str) -> QuantileSketch | None:
    """The sketch of a numeric column's profile; ``None`` when it has no finite value."""
    # The histogram counts exactly the finite values; count also holds any infinite ones.
    n_finite = int(sum(profile.histogram["counts"])) if profile.histogram else 0
    if n_finite == 0:
        return None
    if profile.quantile_sketch is None:
        raise InvalidInput(
            f"The reference profile of numeric column {column!r} has no quantile sketch: it was "
            "stored before Shipyard kept one, and its histogram is too coarse to judge drift.",
            hint=_USE_DATA_HINT,
        )
    points = np.asarray(profile.quantile_sketch, dtype=np.float64)
    if points.shape != (SKETCH_SIZE,) or not (
        np.isfinite(points).all() and (np.diff(points) >= 0).all()
    ):
        raise InvalidInput(
            f"The quantile sketch of column {column!r} must be {SKETCH_SIZE} finite, "
            f"non-decreasing numbers; got {profile.quantile_sketch!r:.200}.",
            hint="Use a profile produced by shipyard.data (profile_table or a dataset version).",
        )
    std = profile.std
    if std is not None and n_finite == profile.count and n_finite > 1:
        std *= math.sqrt((n_finite - 1) / n_finite)  # the profile's is the sample (ddof 1) one
    else:
        std = _sketch_std(points)
    return QuantileSketch.build(points, n_finite, float(std))


def _sketch_std(points: FloatArray) -> float:
    """The standard deviation of the distribution whose quantile function the sketch draws."""
    centred = points - points[SKETCH_SIZE // 2]  # against cancellation far from zero
    a, b = centred[:-1], centred[1:]
    width = 1.0 / (SKETCH_SIZE - 1)
    mean = float(np.sum(a + b) * width / 2.0)
    second = float(np.sum(a * a + a * b + b * b) * width / 3.0)
    return math.sqrt(max(second - mean * mean, 0.0))


def sketch_statistics(reference: QuantileSketch, current: FloatArray) -> dict[str, float]:
    """The numeric statistics of a sorted, finite, non-empty current sample against a sketch."""
    ks_statistic = _ks_statistic(reference, current)
    edges = np.unique(reference.points[:: (SKETCH_SIZE - 1) // N_BINS][1:-1])
    ref_shares = np.diff(reference.cdf(edges), prepend=0.0, append=1.0)
    cur_counts = bin_counts(current, edges)
    return {
        "ks_statistic": ks_statistic,
        "ks_pvalue": asymptotic_ks_pvalue(ks_statistic, reference.count, current.size),
        "psi": psi(ref_shares, cur_counts),
        "wasserstein": normalized_wasserstein(_wasserstein(reference, current), reference.std),
        "jensenshannon": jensenshannon(ref_shares, cur_counts),
    }


def _ks_statistic(reference: QuantileSketch, current: FloatArray) -> float:
    m = current.size
    # Runs of equal current values: the ECDF steps from start/m just before a run to (end+1)/m.
    run_end = np.empty(m, dtype=bool)
    np.not_equal(current[1:], current[:-1], out=run_end[:-1])
    run_end[-1] = True
    ends = np.flatnonzero(run_end)
    starts = np.concatenate(([0], ends[:-1] + 1))
    after = np.abs(reference.cdf(current[ends]) - (ends + 1) / m)
    before = np.abs(reference.cdf(current[starts], left=True) - starts / m)
    return float(max(after.max(), before.max()))


def _wasserstein(reference: QuantileSketch, current: FloatArray) -> float:
    m = current.size
    u = (np.arange(WASSERSTEIN_CELLS) + 0.5) / WASSERSTEIN_CELLS
    # The current quantile function is the ECDF's inverse: a step at each k/m.
    current_quantiles = current[np.minimum((u * m).astype(np.int64), m - 1)]
    return float(np.mean(np.abs(reference.quantile(u) - current_quantiles)))


def profile_category_counts(
    profile: ColumnProfile, column: str, current: pd.Series[Any]
) -> tuple[pd.Index[Any], IntArray, IntArray, bool]:
    """Categories and both sides' counts of them, from the profile's counts and the current data.

    The last item says whether the last category is the pooled bucket of the categories a
    truncated profile leaves unnamed. With a complete profile, current categories it lacks
    follow the listed ones with a reference count of 0.
    """
    listed = _listed_counts(profile, column)
    as_text = profile.kind != "boolean"
    ref = _summed(
        np.array([count for _, count in listed], dtype=np.int64),
        pd.Index([value for value, _ in listed], dtype=object),
    )
    counted = present_counts(current)
    labels = counted.index.astype(str) if as_text else counted.index
    cur = _summed(counted.to_numpy(dtype=np.int64), pd.Index(labels, dtype=object))
    rest = profile.count - int(ref.sum())
    position = ref.index.get_indexer(cur.index)
    known = position >= 0
    if rest > 0:  # truncated: what it does not name may be anything it does not name
        position = np.where(known, position, len(ref))
        cur_counts = np.bincount(position, weights=cur.to_numpy(), minlength=len(ref) + 1)
        labels_out = ref.index.append(pd.Index([None], dtype=object))
        ref_counts = np.append(ref.to_numpy(), rest)
        return labels_out, ref_counts, cur_counts.astype(np.int64), True
    cur_known = np.bincount(position[known], weights=cur.to_numpy()[known], minlength=len(ref))
    unseen = cur[~known]
    labels_out = ref.index.append(unseen.index)
    ref_counts = np.concatenate((ref.to_numpy(), np.zeros(len(unseen), dtype=np.int64)))
    cur_counts = np.concatenate((cur_known.astype(np.int64), unseen.to_numpy()))
    return labels_out, ref_counts, cur_counts, False


def _listed_counts(profile: ColumnProfile, column: str) -> list[list[Any]]:
    if profile.count == 0:
        return []
    if profile.value_counts is not None:
        return profile.value_counts
    top = profile.top_values
    if top is not None and profile.distinct is not None and len(top) >= profile.distinct:
        return top  # an older profile whose top values are every category
    raise InvalidInput(
        f"The reference profile of categorical column {column!r} has no value counts: it was "
        "stored before Shipyard kept them, and its top values miss some categories.",
        hint=_USE_DATA_HINT,
    )


def _summed(counts: IntArray, labels: pd.Index[Any]) -> pd.Series[Any]:
    """Counts by label, summing labels that compare equal as text (``1`` and ``"1"``)."""
    series = pd.Series(counts, index=labels, dtype=np.int64)
    if labels.is_unique:
        return series
    return series.groupby(level=0, sort=False).sum()
