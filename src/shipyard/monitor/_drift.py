"""Per-feature drift between a reference and a current data set, and the dataset verdict.

:func:`detect_drift` picks each column's kind from its dtype (numeric: int/float, not bool;
categorical: category, string/object, bool; ``categorical=[...]`` forces it), computes every
statistic of that kind vectorized over the whole column (see :mod:`shipyard.monitor._numeric` and
:mod:`shipyard.monitor._categorical`) and judges it with one method. The defaults stay meaningful
at large sample sizes, where any p-value test flags differences too small to matter: while both
sides have at most 1,000 non-missing values a column is judged by a p-value (KS for numeric,
chi-square for categorical, drifted when ``p < 0.05``), above that by a distance (Wasserstein in
reference standard deviations for numeric, Jensen-Shannon for categorical, drifted when
``> 0.1``). Both the method and the threshold can be set per column.

Missing values (and, for numeric columns, ±inf) are left out of the distributions; a column with
no values left on one side is reported with a NaN statistic and not drifted.

The reference may also be a dataset version's stored profile (:class:`shipyard.data.DatasetProfile`
or its dict): the statistics are then measured against its quantile sketches and category counts,
without the reference rows — see :mod:`shipyard.monitor._sketch` for how, how closely they agree
with the data-based ones, and what an older profile without sketches does. Each
:class:`FeatureDrift` also carries the two binned distributions for a report to draw
(:mod:`shipyard.monitor._overlay`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from shipyard.core.errors import InvalidInput
from shipyard.monitor._categorical import categorical_statistics, category_counts
from shipyard.monitor._numeric import FloatArray, IntArray, finite_sorted, numeric_statistics
from shipyard.monitor._overlay import (
    categorical_overlay,
    numeric_overlay,
    sample_bounds,
    sample_share_below,
)
from shipyard.monitor._sketch import (
    profile_category_counts,
    profile_kind,
    reference_sketch,
    sketch_statistics,
)

if TYPE_CHECKING:
    from shipyard.data._profile import ColumnProfile, DatasetProfile

__all__ = ["DriftMethod", "DriftReport", "FeatureDrift", "FeatureKind", "detect_drift"]

FeatureKind = Literal["numeric", "categorical"]

SMALL_SAMPLE_MAX_N = 1_000
DEFAULT_DRIFT_SHARE_THRESHOLD = 0.5


class DriftMethod(StrEnum):
    """How one feature is judged; a plain string of the same value is accepted everywhere."""

    KS = "ks"
    PSI = "psi"
    WASSERSTEIN = "wasserstein"
    JENSENSHANNON = "jensenshannon"
    CHISQUARE = "chisquare"

    @property
    def is_pvalue(self) -> bool:
        """True when the statistic is a p-value (drifted below the threshold), else a distance."""
        return self in (DriftMethod.KS, DriftMethod.CHISQUARE)

    @property
    def default_threshold(self) -> float:
        return _DEFAULT_THRESHOLDS[self]

    @property
    def statistic_key(self) -> str:
        """The key of this method's statistic in :attr:`FeatureDrift.statistics`."""
        return _STATISTIC_KEYS[self]


_DEFAULT_THRESHOLDS = {
    DriftMethod.KS: 0.05,
    DriftMethod.CHISQUARE: 0.05,
    DriftMethod.PSI: 0.1,
    DriftMethod.WASSERSTEIN: 0.1,
    DriftMethod.JENSENSHANNON: 0.1,
}
_STATISTIC_KEYS = {
    DriftMethod.KS: "ks_pvalue",
    DriftMethod.CHISQUARE: "chisquare_pvalue",
    DriftMethod.PSI: "psi",
    DriftMethod.WASSERSTEIN: "wasserstein",
    DriftMethod.JENSENSHANNON: "jensenshannon",
}
_METHODS_BY_KIND: dict[FeatureKind, tuple[DriftMethod, ...]] = {
    "numeric": (
        DriftMethod.KS,
        DriftMethod.PSI,
        DriftMethod.WASSERSTEIN,
        DriftMethod.JENSENSHANNON,
    ),
    "categorical": (DriftMethod.CHISQUARE, DriftMethod.PSI, DriftMethod.JENSENSHANNON),
}


@dataclass(frozen=True)
class FeatureDrift:
    """The verdict on one column.

    ``statistic`` is the judged method's value — a p-value for ``ks``/``chisquare`` (drifted when
    below ``threshold``), a distance otherwise (drifted when above). ``statistics`` holds every
    statistic computed for the column's kind, for reports. ``n_reference``/``n_current`` count the
    values that entered the distributions (missing values excluded).

    ``distribution`` holds both sides binned for an overlay chart (empty when a side has no
    values): numeric ``{"edges": [21 floats], "reference": [20 shares], "current": [20 shares]}``
    on equal-width bins whose first and last also hold the values beyond them; categorical
    ``{"categories": [...], "reference": [shares], "current": [shares]}`` with the 20 commonest
    categories of both sides, then ``"(other)"`` for the rest if any. Each side's shares sum
    to 1. See :mod:`shipyard.monitor._overlay`.
    """

    column: str
    kind: FeatureKind
    method: DriftMethod
    statistic: float
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int
    statistics: Mapping[str, float]
    distribution: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "method": self.method.value,
            "statistic": _json_float(self.statistic),
            "threshold": _json_float(self.threshold),
            "drifted": self.drifted,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "statistics": {key: _json_float(value) for key, value in self.statistics.items()},
            "distribution": {key: list(value) for key, value in self.distribution.items()},
        }


@dataclass(frozen=True)
class DriftReport:
    """Per-feature verdicts; the data set drifted when ``drift_share >= drift_share_threshold``."""

    features: list[FeatureDrift]
    drift_share_threshold: float = DEFAULT_DRIFT_SHARE_THRESHOLD

    @property
    def drifted_columns(self) -> list[str]:
        return [feature.column for feature in self.features if feature.drifted]

    @property
    def drift_share(self) -> float:
        return len(self.drifted_columns) / len(self.features) if self.features else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.features) and self.drift_share >= self.drift_share_threshold

    def __getitem__(self, column: str) -> FeatureDrift:
        for feature in self.features:
            if feature.column == column:
                return feature
        raise KeyError(column)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; NaN and infinite numbers become ``None``."""
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "drift_share_threshold": self.drift_share_threshold,
            "n_features": len(self.features),
            "drifted_columns": self.drifted_columns,
            "features": [feature.to_dict() for feature in self.features],
        }


def detect_drift(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    categorical: Iterable[str] | None = None,
    methods: Mapping[str, str | DriftMethod] | None = None,
    thresholds: Mapping[str, float] | None = None,
    drift_share_threshold: float = DEFAULT_DRIFT_SHARE_THRESHOLD,
) -> DriftReport:
    """Compare ``current`` with ``reference`` column by column.

    ``current`` is a pandas DataFrame or a pyarrow Table; so is ``reference``, or it is a dataset
    version's profile (:class:`shipyard.data.DatasetProfile` or its ``to_dict()`` form), which
    stands in for the reference data (see :mod:`shipyard.monitor._sketch`). ``columns``
    defaults to the columns both share (in the reference's order); named columns must exist on
    both sides. ``methods`` and ``thresholds`` map a column to the method judging it and its
    threshold (see :class:`DriftMethod`); a threshold without a method applies to the default
    method.

    Raises :class:`~shipyard.core.errors.InvalidInput` for an empty side, a missing or unknown
    column, an unknown or inapplicable method, a bad threshold, an unsupported dtype, or a
    profile column stored without the sketch it needs.
    """
    reference_columns, ref_side = _reference_columns(reference)
    cur = _as_frame(current, "current")
    selected = _select_columns(list(reference_columns), cur, columns, ref_side)
    forced = _known_columns(categorical or (), selected, "categorical")
    method_for = {
        column: _parse_method(value)
        for column, value in _known_columns_map(methods or {}, selected, "methods").items()
    }
    threshold_for = _known_columns_map(thresholds or {}, selected, "thresholds")
    if not (isinstance(drift_share_threshold, int | float) and 0 < drift_share_threshold <= 1):
        raise InvalidInput(
            f"drift_share_threshold must be in (0, 1], got {drift_share_threshold!r}."
        )

    features = []
    for column in selected:
        kind: FeatureKind
        ref = reference_columns[column]
        if isinstance(ref, pd.Series):
            kind = "categorical" if column in forced else _column_kind(ref, cur[column], column)
            measured = _measure_data(kind, ref, cur[column])
        else:
            kind = _profile_column_kind(ref, cur[column], column, column in forced)
            measured = _measure_profile(kind, ref, cur[column], column)
        features.append(
            _feature_drift(
                column, kind, measured, method_for.get(column), threshold_for.get(column)
            )
        )
    return DriftReport(features, float(drift_share_threshold))


class _Measured(NamedTuple):
    statistics: dict[str, float]
    n_reference: int
    n_current: int
    distribution: dict[str, Any]


def _measure_data(
    kind: FeatureKind, reference: pd.Series[Any], current: pd.Series[Any]
) -> _Measured:
    if kind == "numeric":
        ref_values = _finite_sorted(reference)
        cur_values = _finite_sorted(current)
        n_ref, n_cur = ref_values.size, cur_values.size
        if not (n_ref and n_cur):
            return _Measured({}, n_ref, n_cur, {})
        return _Measured(
            numeric_statistics(ref_values, cur_values),
            n_ref,
            n_cur,
            numeric_overlay(
                sample_bounds(ref_values), partial(sample_share_below, ref_values), cur_values
            ),
        )
    labels, ref_counts, cur_counts = category_counts(reference, current)
    return _categorical_measured(labels, ref_counts, cur_counts, pooled=False)


def _measure_profile(
    kind: FeatureKind, reference: ColumnProfile, current: pd.Series[Any], column: str
) -> _Measured:
    if kind == "numeric":
        sketch = reference_sketch(reference, column)
        cur_values = _finite_sorted(current)
        n_ref, n_cur = (0 if sketch is None else sketch.count), cur_values.size
        if sketch is None or not n_cur:
            return _Measured({}, n_ref, n_cur, {})
        return _Measured(
            sketch_statistics(sketch, cur_values),
            n_ref,
            n_cur,
            numeric_overlay(sketch.bounds(), partial(sketch.cdf, left=True), cur_values),
        )
    labels, ref_counts, cur_counts, pooled = profile_category_counts(reference, column, current)
    return _categorical_measured(labels, ref_counts, cur_counts, pooled=pooled)


def _finite_sorted(values: pd.Series[Any]) -> FloatArray:
    return finite_sorted(values.to_numpy(dtype=np.float64, na_value=np.nan))


def _categorical_measured(
    labels: pd.Index[Any], ref_counts: IntArray, cur_counts: IntArray, *, pooled: bool
) -> _Measured:
    n_ref, n_cur = int(ref_counts.sum()), int(cur_counts.sum())
    if not (n_ref and n_cur):
        return _Measured({}, n_ref, n_cur, {})
    return _Measured(
        categorical_statistics(ref_counts, cur_counts),
        n_ref,
        n_cur,
        categorical_overlay(labels, ref_counts, cur_counts, last_is_rest=pooled),
    )


def _feature_drift(
    column: str,
    kind: FeatureKind,
    measured: _Measured,
    method: DriftMethod | None,
    threshold: float | None,
) -> FeatureDrift:
    statistics, n_ref, n_cur = measured.statistics, measured.n_reference, measured.n_current
    allowed = _METHODS_BY_KIND[kind]
    if method is None:
        method = allowed[0] if max(n_ref, n_cur) <= SMALL_SAMPLE_MAX_N else allowed[-1]
        if kind == "numeric" and method is DriftMethod.JENSENSHANNON:
            method = DriftMethod.WASSERSTEIN
    elif method not in allowed:
        raise InvalidInput(
            f"Drift method {method.value!r} does not apply to {kind} column {column!r}; "
            f"allowed: {', '.join(sorted(m.value for m in allowed))}."
        )
    threshold = _check_threshold(column, method, threshold)
    statistic = statistics.get(method.statistic_key, math.nan)
    if math.isnan(statistic):
        drifted = False
    elif method.is_pvalue:
        drifted = statistic < threshold
    else:
        drifted = statistic > threshold
    return FeatureDrift(
        column=column,
        kind=kind,
        method=method,
        statistic=statistic,
        threshold=threshold,
        drifted=drifted,
        n_reference=n_ref,
        n_current=n_cur,
        statistics=statistics,
        distribution=measured.distribution,
    )


def _reference_columns(
    reference: Any,
) -> tuple[dict[Any, pd.Series[Any] | ColumnProfile], str]:
    """Each reference column (its data, or its profile) by name, and how messages name the side."""
    profile = _as_profile(reference)
    if profile is not None:
        return dict(profile.columns), "reference profile"
    frame = _as_frame(reference, "reference")
    return {column: frame[column] for column in frame.columns}, "reference data"


def _as_profile(reference: Any) -> DatasetProfile | None:
    """The reference as a profile, or ``None`` when it is (or claims to be) data."""
    if isinstance(reference, pd.DataFrame) or type(reference).__module__.startswith("pyarrow"):
        return None
    # Imported here: loading shipyard.data is only worth it when a profile is given.
    from shipyard.data._profile import DatasetProfile

    if isinstance(reference, dict) and {"num_rows", "columns"} <= reference.keys():
        reference = DatasetProfile.from_dict(reference)
    if not isinstance(reference, DatasetProfile):
        return None
    if reference.num_rows == 0:
        raise InvalidInput("The reference profile has no rows; drift needs data on both sides.")
    return reference


def _as_frame(data: Any, side: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        frame = data
    elif type(data).__module__.startswith("pyarrow") and hasattr(data, "to_pandas"):
        frame = data.to_pandas()
    else:
        profile = ", or a dataset profile" if side == "reference" else ""
        raise InvalidInput(
            f"The {side} data must be a pandas DataFrame or a pyarrow Table{profile}, "
            f"got {type(data).__name__}."
        )
    if len(frame) == 0:
        raise InvalidInput(f"The {side} data has no rows; drift needs data on both sides.")
    if not frame.columns.is_unique:
        duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise InvalidInput(f"The {side} data has duplicated columns: {', '.join(duplicated)}.")
    return frame


def _select_columns(
    reference: list[Any], cur: pd.DataFrame, columns: Sequence[str] | None, ref_side: str
) -> list[str]:
    """The compared columns; ``ref_side`` names the reference in messages ("reference data")."""
    if columns is None:
        in_current = set(cur.columns)
        selected = [c for c in reference if c in in_current]
        if not selected:
            raise InvalidInput(
                f"The {ref_side} and current data have no columns in common; "
                f"reference: {_names(reference)}; current: {_names(cur.columns)}."
            )
        return selected
    if isinstance(columns, str):
        columns = [columns]
    if not columns:
        raise InvalidInput("columns is empty; name at least one column or pass None for all.")
    for side, names in ((ref_side, reference), ("current data", list(cur.columns))):
        known = set(names)
        missing = [c for c in columns if c not in known]
        if missing:
            raise InvalidInput(
                f"Column(s) {_names(missing)} missing from the {side}; it has: {_names(names)}."
            )
    return list(dict.fromkeys(columns))


def _profile_column_kind(
    reference: ColumnProfile, current: pd.Series[Any], column: str, forced: bool
) -> FeatureKind:
    kind = profile_kind(reference)
    if kind is None:
        raise InvalidInput(
            f"Column {column!r} is {reference.kind} in the reference profile, which drift does "
            "not support; leave it out with columns=[...]."
        )
    if forced and kind == "numeric":
        raise InvalidInput(
            f"Column {column!r} is named in categorical=[...], but the reference profile "
            f"summarises it as numbers ({reference.kind}) and holds no category counts; "
            "compare it as numeric, or pass the reference data."
        )
    current_kind = "categorical" if forced else _dtype_kind(current.dtype)
    if current_kind is None:
        raise InvalidInput(
            f"Column {column!r} has dtype {current.dtype} in the current data, which drift does "
            "not support; leave it out with columns=[...]."
        )
    if current_kind != kind:
        raise InvalidInput(
            f"Column {column!r} is {kind} in the reference profile ({reference.kind}) but "
            f"{current_kind} in the current data ({current.dtype}); convert the current column"
            + (", or name it in categorical=[...]." if kind == "categorical" else ".")
        )
    return kind


def _known_columns(names: Iterable[str], selected: list[str], argument: str) -> set[str]:
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in selected]
    if unknown:
        raise InvalidInput(
            f"{argument} names unknown column(s) {_names(unknown)}; "
            f"allowed (the compared columns): {_names(selected)}."
        )
    return set(names)


def _known_columns_map(
    values: Mapping[str, Any], selected: list[str], argument: str
) -> dict[str, Any]:
    _known_columns(values.keys(), selected, argument)
    return dict(values)


def _parse_method(value: str | DriftMethod) -> DriftMethod:
    try:
        return DriftMethod(value)
    except ValueError:
        raise InvalidInput(
            f"Unknown drift method {value!r}; allowed: {', '.join(m.value for m in DriftMethod)}."
        ) from None


def _check_threshold(column: str, method: DriftMethod, threshold: Any) -> float:
    if threshold is None:
        return method.default_threshold
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidInput(f"The threshold for {column!r} must be a number, got {threshold!r}.")
    value = float(threshold)
    if method.is_pvalue and not 0 < value <= 1:
        raise InvalidInput(
            f"The threshold for {column!r} is a p-value for {method.value!r}; "
            f"it must be in (0, 1], got {value!r}."
        )
    if not (math.isfinite(value) and value >= 0):
        raise InvalidInput(
            f"The threshold for {column!r} must be a finite number >= 0, got {value!r}."
        )
    return value


def _column_kind(reference: pd.Series[Any], current: pd.Series[Any], column: str) -> FeatureKind:
    kinds = (_dtype_kind(reference.dtype), _dtype_kind(current.dtype))
    if kinds[0] is None or kinds[1] is None:
        raise InvalidInput(
            f"Column {column!r} has dtype {reference.dtype} / {current.dtype}, which drift does "
            "not support; leave it out with columns=[...], or name it in categorical=[...]."
        )
    if kinds[0] != kinds[1]:
        raise InvalidInput(
            f"Column {column!r} is {kinds[0]} in the reference ({reference.dtype}) but "
            f"{kinds[1]} in the current data ({current.dtype}); convert one side, or name it "
            "in categorical=[...] to compare both as categories."
        )
    return kinds[0]


def _dtype_kind(dtype: Any) -> FeatureKind | None:
    api = pd.api.types
    if api.is_bool_dtype(dtype):
        return "categorical"
    if api.is_numeric_dtype(dtype) and not api.is_complex_dtype(dtype):
        return "numeric"
    if (
        isinstance(dtype, pd.CategoricalDtype)
        or api.is_string_dtype(dtype)
        or api.is_object_dtype(dtype)
    ):
        return "categorical"
    return None


def _names(columns: Iterable[Any], limit: int = 20) -> str:
    names = [repr(str(c)) for c in columns]
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None
