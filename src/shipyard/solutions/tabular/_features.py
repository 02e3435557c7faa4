"""Which columns a model learns from, and the one frame form both training and the logged
model's signature see.

Numbers and booleans become float64, so a caller may later send ints, floats or NaN for them.
Text columns stay text for scikit-learn (its one-hot encoder is inside the logged pipeline) and
become a pandas ``category`` with the categories of the whole dataset for LightGBM, which reads
that dtype natively; the logged signature then turns a caller's strings into those categories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Features", "describe_features", "prepare_features"]

# A text column with this many distinct values, and most rows unique, names rows (an id, an
# e-mail) rather than describing them: it would only let a model memorise the training set.
_ID_MIN_DISTINCT = 50
_ID_UNIQUE_SHARE = 0.5


@dataclass(frozen=True)
class Features:
    """The feature columns by kind, and the columns left out with the reason why."""

    columns: tuple[str, ...]  # every feature, in the order of the caller's data
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: dict[str, list[Any]] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)


def describe_features(frame: pd.DataFrame, exclude: set[str]) -> Features:
    """Sort the columns of ``frame`` (less ``exclude``) into numeric and categorical features.

    Dates, all-null columns and identifier-like text columns are left out, with a reason.
    """
    import pandas as pd

    numeric: list[str] = []
    categorical: list[str] = []
    categories: dict[str, list[Any]] = {}
    dropped: dict[str, str] = {}
    for name in frame.columns:
        if name in exclude:
            continue
        if not isinstance(name, str):
            raise InvalidInput(
                f"Column names must be strings; got {name!r}.",
                hint="Rename the columns, e.g. frame.columns = frame.columns.map(str).",
            )
        column = frame[name]
        dtype = column.dtype
        if column.isna().all():
            dropped[name] = "every value is missing"
        elif pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(
            dtype
        ):
            dropped[name] = "dates are not features; pass it as time_column to split by it"
        elif pd.api.types.is_numeric_dtype(dtype):  # booleans included
            _require_finite(column)
            numeric.append(name)
        else:
            distinct = column.dropna().unique()
            if len(distinct) >= _ID_MIN_DISTINCT and len(distinct) > _ID_UNIQUE_SHARE * len(column):
                dropped[name] = f"looks like an identifier ({len(distinct)} distinct values)"
                continue
            categorical.append(name)
            categories[name] = _sorted_values(name, distinct.tolist())
    if not numeric and not categorical:
        reasons = "; ".join(f"{c!r}: {why}" for c, why in dropped.items())
        raise InvalidInput(
            f"No column is usable as a feature ({reasons or 'there are none'}).",
            hint="Add numeric or categorical columns the model can learn from.",
        )
    kept = set(numeric) | set(categorical)
    columns = tuple(c for c in frame.columns if c in kept)
    return Features(columns, tuple(numeric), tuple(categorical), categories, dropped)


def _require_finite(column: pd.Series) -> None:
    import numpy as np

    infinite = int(np.isinf(column.to_numpy(dtype="float64", na_value=np.nan)).sum())
    if infinite:
        raise InvalidInput(
            f"Column {column.name!r} has {infinite} infinite values; models cannot learn from "
            "them.",
            hint=f"Make them missing (frame[{column.name!r}].replace([np.inf, -np.inf], np.nan)) "
            "or cap them.",
        )


def _sorted_values(name: str, values: list[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in values})
        raise InvalidInput(
            f"Column {name!r} mixes values of types {kinds}.",
            hint="Give every column one type, e.g. frame[col] = frame[col].astype(str).",
        ) from None


def prepare_features(
    frame: pd.DataFrame, features: Features, *, native_categories: bool
) -> pd.DataFrame:
    """The feature columns of ``frame`` in their training form.

    ``native_categories``: text as a pandas ``category`` (LightGBM); else as object values with
    NaN for missing (scikit-learn's one-hot encoder, which treats NaN as a category of its own).
    """
    import numpy as np
    import pandas as pd

    columns: dict[str, Any] = {}
    for name in features.columns:
        column = frame[name]
        if name in features.numeric:
            columns[name] = column.astype("float64")
        elif native_categories:
            columns[name] = pd.Categorical(column, categories=features.categories[name])
        else:
            values = column.astype(object)
            columns[name] = values.where(column.notna(), np.nan)
    return pd.DataFrame(columns, index=frame.index)
