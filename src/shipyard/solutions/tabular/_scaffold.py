"""``scaffold``: a ready-to-run project folder for a tabular model: workspace config, a copy
of the data and a pipeline that trains, evaluates and registers the model."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from shipyard.core.errors import Conflict, InvalidInput, NotFound

__all__ = ["PIPELINE_FILE", "scaffold"]

PIPELINE_FILE = "pipeline.py"

_TEMPLATE = '''\
"""Train a model that predicts {target!r} from {data}: made by `shipyard new tabular`.

Run it from this folder (each run is tracked; the model is registered as {name!r}):

    shipyard pipelines run pipeline:tabular_pipeline
    shipyard pipelines run pipeline:tabular_pipeline --param model=random_forest
"""

from typing import Any

import pandas as pd

import shipyard as sy
from shipyard.solutions import tabular

MODEL_NAME = {name!r}


@sy.step(cache=False)  # reads a file: always runs, so an edited file retrains the model
def load(path: str) -> pd.DataFrame:
    """Read the training table (CSV or Parquet)."""
    if path.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    return pd.read_csv(path)


@sy.step
def train(frame: pd.DataFrame, target: str, model: str) -> dict[str, Any]:
    """Train, evaluate and register a model; returns its run, model URI and test metrics."""
    result = tabular.train_tabular(frame, target, model=model, name=MODEL_NAME)
    return result.to_dict()


@sy.pipeline
def tabular_pipeline(
    data: str = {data!r}, target: str = {target!r}, model: str = "lightgbm"
) -> None:
    frame = load(data)
    train(frame, target, model)
'''


def scaffold(directory: str | os.PathLike[str], data: Any, target: str) -> Path:
    """Write a project into ``directory`` (created if needed) and return its path.

    It holds ``shipyard.toml`` (a local workspace), ``data/`` with a copy of ``data`` (a CSV
    or Parquet file; a DataFrame is written as ``data/train.parquet``) and ``pipeline.py``, a
    pipeline of two steps, load and train, run with ``shipyard pipelines run
    pipeline:tabular_pipeline``. ``target`` must be one of the data's columns.
    """
    from shipyard.core.config import write_default_config
    from shipyard.solutions.tabular._solution import default_name

    root = Path(directory)
    if (root / PIPELINE_FILE).exists():
        raise Conflict(
            f"{root / PIPELINE_FILE} already exists.",
            hint="Choose a new folder, or move the existing pipeline out of the way.",
        )
    columns, stem = _columns_and_stem(data)
    if target not in columns:
        shown = ", ".join(repr(c) for c in columns[:25])
        raise InvalidInput(
            f"The data has no column {target!r}; its columns are {shown}.",
            hint="Pass the column to predict as the target.",
        )
    write_default_config(root)
    copied = _copy_data(data, root / "data")
    ignore = root / ".gitignore"
    if not ignore.exists():
        ignore.write_text(".shipyard/\n", encoding="utf-8")
    text = _TEMPLATE.format(
        target=target,
        data=copied.relative_to(root).as_posix(),
        name=default_name(stem, target),
    )
    (root / PIPELINE_FILE).write_text(text, encoding="utf-8")
    return root


def _columns_and_stem(data: Any) -> tuple[list[str], str]:
    if not isinstance(data, str | os.PathLike):
        import pandas as pd

        if not isinstance(data, pd.DataFrame):
            raise InvalidInput(
                f"scaffold needs a CSV or Parquet file or a DataFrame, got {type(data).__name__}."
            )
        return [str(c) for c in data.columns], "train"
    path = Path(data)
    if not path.is_file():
        raise NotFound(f"No data file at {str(path)!r}.", hint="Check the path.")
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names), path.name.rsplit(".", 1)[0]
    if name.endswith((".csv", ".csv.gz")):
        import pandas as pd

        stem = path.name[: -len(".csv.gz")] if name.endswith(".gz") else path.stem
        return [str(c) for c in pd.read_csv(path, nrows=0).columns], stem
    raise InvalidInput(
        f"Cannot use {str(path)!r}: the data must be a .csv, .csv.gz, .parquet or .pq file.",
        hint="Convert it to CSV or Parquet first.",
    )


def _copy_data(data: Any, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not isinstance(data, str | os.PathLike):
        target = folder / "train.parquet"
        data.to_parquet(target, index=False)
        return target
    source = Path(data)
    target = folder / source.name
    if not (target.exists() and target.samefile(source)):
        shutil.copyfile(source, target)
    return target
