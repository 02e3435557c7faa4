"""Categorical drift statistics over the category frequencies of a whole column.

* **Chi-square** — Pearson's test of homogeneity on the 2 x k table of counts (reference and current
  rows, one column per category of the union), :func:`scipy.stats.chi2_contingency` without Yates'
  correction. Both sides are treated as samples: the reference's own sampling noise is accounted
  for, and a category never seen in the reference needs no invented expectation — a handful of
  new values is not significant, a substantial share is.
* **PSI** and **Jensen-Shannon distance** (base 2) over the shares of the union of categories;
  a category absent on one side counts as a share of ``1e-4`` in PSI.

Missing values are not a category here; the missing rate is a data-quality matter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from shipyard.monitor._numeric import IntArray, jensenshannon, psi


def category_counts(
    reference: pd.Series[Any], current: pd.Series[Any]
) -> tuple[pd.Index[Any], IntArray, IntArray]:
    """The categories of the union (first the reference's) and each side's counts of them."""
    ref = present_counts(reference)
    cur = present_counts(current)
    labels = ref.index.union(cur.index, sort=False)
    return (
        labels,
        ref.reindex(labels, fill_value=0).to_numpy(dtype=np.int64),
        cur.reindex(labels, fill_value=0).to_numpy(dtype=np.int64),
    )


def present_counts(values: pd.Series[Any]) -> pd.Series[Any]:
    """Count of each category present in ``values``, missing values dropped, labels as objects."""
    counts = values.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]  # a categorical dtype lists its unused categories too
    # Plain object labels, so that two categorical dtypes with different categories still align.
    return pd.Series(counts.to_numpy(), index=pd.Index(counts.index.to_list(), dtype=object))


def categorical_statistics(ref_counts: IntArray, cur_counts: IntArray) -> dict[str, float]:
    """All categorical statistics for two count vectors over the same categories (non-empty)."""
    if ref_counts.size > 1:
        table = np.vstack((ref_counts, cur_counts))
        result = stats.chi2_contingency(table, correction=False)
        chi2, pvalue = float(result.statistic), float(result.pvalue)
    else:  # one category on both sides: nothing can differ
        chi2, pvalue = 0.0, 1.0
    return {
        "chisquare_statistic": chi2,
        "chisquare_pvalue": pvalue,
        "psi": psi(ref_counts, cur_counts),
        "jensenshannon": jensenshannon(ref_counts, cur_counts),
        "unseen_share": float(cur_counts[ref_counts == 0].sum() / cur_counts.sum()),
    }
