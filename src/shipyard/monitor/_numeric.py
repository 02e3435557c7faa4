"""Numeric drift statistics, each computed over a whole column at once.

Every function here takes the finite values of a column, already sorted (``np.sort`` once per
side), so that one sort serves all four statistics:

* **Kolmogorov-Smirnov** — the largest gap between the two empirical CDFs. Up to 10,000 values a
  side the p-value is :func:`scipy.stats.ks_2samp`'s exact one; above that the statistic comes
  from one linear merge of the two sorted arrays and the p-value from ``kstwo.sf`` — the very
  asymptotic formula ``ks_2samp`` uses at that size, without its two binary searches per value.
* **PSI** on ten reference-quantile bins; an empty bin counts as a share of ``1e-4``.
* **Wasserstein** (earth mover's) distance divided by the reference standard deviation; the same
  integral of ``|F_ref - F_cur|`` that :func:`scipy.stats.wasserstein_distance` computes.
* **Jensen-Shannon distance** (base 2, so in ``[0, 1]``) on the same bins; the formula of
  :func:`scipy.spatial.distance.jensenshannon`, with round-off below zero clamped.

The tests check each against the scipy function it replaces.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from numpy.typing import NDArray
from scipy import special, stats

N_BINS = 10
EMPTY_BIN_SHARE = 1e-4
EXACT_KS_MAX_N = 10_000

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
CountArray = NDArray[np.int64] | NDArray[np.float64]  # counts, or shares when only those are known


def finite_sorted(values: FloatArray) -> FloatArray:
    """The finite values of ``values``, sorted; NaN and ±inf are left to the data-quality checks."""
    return np.sort(values[np.isfinite(values)])


def numeric_statistics(reference: FloatArray, current: FloatArray) -> dict[str, float]:
    """All numeric statistics for two sorted, finite, non-empty samples."""
    ks_statistic, wasserstein = ecdf_distances(reference, current)
    if max(reference.size, current.size) <= EXACT_KS_MAX_N:
        ks_statistic, ks_pvalue = ks_exact(reference, current)
    else:
        ks_pvalue = ks_pvalue_for(reference, current, ks_statistic)
    ref_counts, cur_counts = quantile_bin_counts(reference, current)
    return {
        "ks_statistic": ks_statistic,
        "ks_pvalue": ks_pvalue,
        "psi": psi(ref_counts, cur_counts),
        "wasserstein": normalized_wasserstein(wasserstein, float(np.std(reference))),
        "jensenshannon": jensenshannon(ref_counts, cur_counts),
    }


def ecdf_distances(reference: FloatArray, current: FloatArray) -> tuple[float, float]:
    """KS statistic and (raw) Wasserstein distance from one merge of two sorted samples."""
    n_ref, n_cur = reference.size, current.size
    both = np.concatenate((reference, current))
    # A stable sort of two sorted runs is a linear merge (timsort); ties keep reference first.
    order = np.argsort(both, kind="stable")
    merged = both[order]
    ref_seen = np.cumsum(order < n_ref)
    cur_seen = np.arange(1, n_ref + n_cur + 1) - ref_seen
    gap = np.abs(ref_seen / n_ref - cur_seen / n_cur)
    # The CDFs are only defined after the last of a run of equal values.
    run_end = np.empty(merged.size, dtype=bool)
    np.not_equal(merged[1:], merged[:-1], out=run_end[:-1])
    run_end[-1] = True
    ks_statistic = float(gap[run_end].max())
    # Inside a run of equal values the step width is zero, so every point may be summed.
    wasserstein = float(np.dot(gap[:-1], np.diff(merged)))
    return ks_statistic, wasserstein


def ks_pvalue_for(reference: FloatArray, current: FloatArray, statistic: float) -> float:
    """Smirnov's asymptotic two-sided p-value, exactly as ``ks_2samp(method="asymp")``."""
    return asymptotic_ks_pvalue(statistic, reference.size, current.size)


def asymptotic_ks_pvalue(statistic: float, n_reference: int, n_current: int) -> float:
    """``kstwo.sf`` at the effective sample size ``round(m n / (m + n))`` (at least 1)."""
    m, n = float(n_reference), float(n_current)
    return float(stats.kstwo.sf(statistic, max(np.round(m * n / (m + n)), 1.0)))


def ks_exact(reference: FloatArray, current: FloatArray) -> tuple[float, float]:
    """:func:`scipy.stats.ks_2samp` with its exact p-value (small samples only)."""
    with warnings.catch_warnings():
        # For a few size pairs the exact recursion overflows; scipy then warns and returns the
        # asymptotic p-value, which is the right answer for us too.
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ks_2samp(reference, current, method="auto")
    return float(result.statistic), float(result.pvalue)


def normalized_wasserstein(distance: float, reference_std: float) -> float:
    """Wasserstein distance in reference standard deviations; 0 or inf for a constant reference."""
    if reference_std > 0:
        return distance / reference_std
    return 0.0 if distance == 0 else math.inf


def quantile_bin_counts(reference: FloatArray, current: FloatArray) -> tuple[IntArray, IntArray]:
    """Counts of both samples in the reference's decile bins ``(-inf, q1], (q1, q2], …, (q9, inf)``.

    Equal quantiles (a feature with few distinct values) merge into one edge, so fewer bins.
    """
    edges = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, N_BINS + 1)[1:-1]))
    return bin_counts(reference, edges), bin_counts(current, edges)


def bin_counts(sorted_values: FloatArray, edges: FloatArray) -> IntArray:
    """Counts of sorted values in ``(-inf, e1], (e1, e2], …, (e_last, inf)``."""
    cumulative = np.searchsorted(sorted_values, edges, side="right")
    return np.diff(cumulative, prepend=0, append=sorted_values.size).astype(np.int64)


def psi(ref_counts: CountArray, cur_counts: CountArray) -> float:
    """Population stability index ``Σ (q - p) ln(q / p)`` over shares; empty bins count ``1e-4``."""
    p = _shares(ref_counts)
    q = _shares(cur_counts)
    return float(np.sum((q - p) * np.log(q / p)))


def _shares(counts: CountArray) -> FloatArray:
    shares = counts / counts.sum()
    return np.where(shares == 0, EMPTY_BIN_SHARE, shares)


def jensenshannon(ref_counts: CountArray, cur_counts: CountArray) -> float:
    """Jensen-Shannon distance (base 2) between two count vectors over the same bins."""
    p = ref_counts / ref_counts.sum()
    q = cur_counts / cur_counts.sum()
    m = (p + q) / 2.0
    divergence = (special.rel_entr(p, m).sum() + special.rel_entr(q, m).sum()) / (2.0 * math.log(2))
    return math.sqrt(max(float(divergence), 0.0))
