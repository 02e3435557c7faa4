"""The caller's table, read and checked before any run starts, so bad input fails fast and
leaves no failed run behind."""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput, NotFound
from shipyard.solutions.tabular._task import Task, resolve_task

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MIN_CLASS_ROWS", "MIN_ROWS", "TrainingData", "load_training_data", "read_table"]

MIN_ROWS = 20  # enough to hold out a test split that says something
MIN_CLASS_ROWS = 5  # a stratified split needs each class on both sides
_READERS = {".csv": "csv", ".gz": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class TrainingData:
    """The rows that have a target value; ``frame.index`` holds their position in ``table``."""

    frame: pd.DataFrame
    table: pd.DataFrame  # the caller's whole table, as read: what gets versioned
    target: str
    task: Task
    source: str | None  # the file's stem, when the data came from a file

    @property
    def y(self) -> pd.Series:
        return self.frame[self.target]


def read_table(data: Any) -> tuple[pd.DataFrame, str | None]:
    """``data`` as a pandas DataFrame with a fresh 0..n-1 index, and the file's stem if any.

    Accepts a CSV or Parquet path (local or an fsspec URL such as ``s3://``), a pandas
    DataFrame, or any frame with ``to_pandas()`` (polars, Arrow).
    """
    import pandas as pd

    if isinstance(data, str | os.PathLike):
        return _read_file(os.fspath(data)), _stem(os.fspath(data))
    if not isinstance(data, pd.DataFrame) and hasattr(data, "to_pandas"):
        data = data.to_pandas()
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(
            f"train_tabular needs a table, got a {type(data).__name__}.",
            hint="Pass a pandas DataFrame or the path of a CSV or Parquet file.",
        )
    return data.reset_index(drop=True), None


def _read_file(path: str) -> pd.DataFrame:
    import pandas as pd

    suffix = Path(path).suffix.lower()
    kind = _READERS.get(suffix)
    if kind is None or (suffix == ".gz" and not path.lower().endswith(".csv.gz")):
        raise InvalidInput(
            f"Cannot read {path!r}: the file name must end in .csv, .csv.gz, .parquet or .pq.",
            hint="Convert the file to CSV or Parquet, or pass a DataFrame.",
        )
    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except FileNotFoundError:
        raise NotFound(f"No file at {path!r}.", hint="Check the path.") from None
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"Could not read {path!r} as {kind.upper()}: {exc}") from exc
    return frame.reset_index(drop=True)


def _stem(path: str) -> str:
    name = Path(path).name
    for suffix in (".csv.gz", ".csv", ".parquet", ".pq"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def load_training_data(
    data: Any,
    target: str,
    *,
    task: str | None,
    time_column: str | None,
    slice_columns: tuple[str, ...],
) -> TrainingData:
    """Read ``data`` and check it can train a model for ``target``; the task is resolved here.

    Rows without a target value are left out: they cannot be learned from or scored.
    """
    frame, source = read_table(data)
    _require_columns(frame, target, time_column, slice_columns)
    labelled = frame[frame[target].notna()]
    if labelled.empty:
        raise InvalidInput(
            f"The target column {target!r} is empty: all {len(frame)} rows are null.",
            hint="Pick a column with values, or fill the target in.",
        )
    if len(labelled) < MIN_ROWS:
        raise InvalidInput(
            f"The data has {len(labelled)} rows with a value for {target!r}; training needs at "
            f"least {MIN_ROWS} to hold some out for testing.",
            hint="Add rows, or use a larger dataset.",
        )
    if labelled[target].dtype == object:
        _require_one_type(labelled[target])
    resolved = resolve_task(labelled[target], task)
    if resolved != "regression":
        _require_class_rows(labelled[target])
    return TrainingData(labelled, frame, target, resolved, source)


def _require_columns(
    frame: pd.DataFrame, target: str, time_column: str | None, slice_columns: tuple[str, ...]
) -> None:
    def available() -> str:
        names = [str(c) for c in frame.columns]
        shown = ", ".join(repr(n) for n in names[:25])
        return shown + (f", … ({len(names) - 25} more)" if len(names) > 25 else "")

    twice = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if twice:
        raise InvalidInput(
            f"The data has more than one column named {', '.join(map(repr, twice))}.",
            hint="Give every column its own name.",
        )

    for role, column in [("target", target), ("time_column", time_column)] + [
        ("slice_columns", c) for c in slice_columns
    ]:
        if column is not None and column not in frame.columns:
            raise InvalidInput(
                f"The data has no column {column!r} (given as {role}); its columns are "
                f"{available()}.",
                hint=f"Pass {role} as one of those names.",
            )
    if time_column == target:
        raise InvalidInput(
            f"The target {target!r} cannot also be the time column.",
            hint="Pass the column that orders the rows in time as time_column.",
        )


def _require_one_type(y: pd.Series) -> None:
    """Class labels of one kind: ``1`` and ``"1"`` cannot be sorted into classes."""
    kinds = sorted({_kind(v) for v in y.tolist()})
    if len(kinds) > 1:
        raise InvalidInput(
            f"The target column {y.name!r} mixes values of types {kinds}.",
            hint=f"Give it one type, e.g. frame[{y.name!r}] = frame[{y.name!r}].astype(str).",
        )


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "str"
    return "number" if isinstance(value, numbers.Number) else type(value).__name__


def _require_class_rows(y: pd.Series) -> None:
    counts = y.value_counts()
    rare = counts[counts < MIN_CLASS_ROWS]
    if len(rare):
        shown = ", ".join(f"{label!r}: {n}" for label, n in rare.items())
        raise InvalidInput(
            f"Some classes of {y.name!r} have fewer than {MIN_CLASS_ROWS} rows ({shown}); "
            "each class needs that many to appear in both the training and the test split.",
            hint="Add rows for those classes, merge them into others, or drop their rows.",
        )
