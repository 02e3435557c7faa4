"""Dataset versions in a real workspace (SQLite file and PostgreSQL schema): content-addressed
versions, lineage, loading back, validation against a stored version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.datasets import load_wine

import shipyard as sy
from shipyard.core.errors import InvalidInput, NotFound
from shipyard.data import dataset_service


@pytest.fixture(scope="module")
def wine() -> pd.DataFrame:
    frame = load_wine(as_frame=True).frame
    frame["grade"] = np.where(frame["alcohol"] > 13, "high", "low")
    return frame


def test_the_same_data_is_the_same_version_and_changes_make_new_ones(
    workspace: Path, wine: pd.DataFrame
) -> None:
    first = sy.log_dataset(wine, "wine", description="UCI wine")
    again = sy.log_dataset(pa.Table.from_pandas(wine, preserve_index=False), "wine")
    assert (first.version, again.version) == (1, 1)
    assert again.id == first.id
    changed = wine.copy()
    changed.loc[0, "alcohol"] += 0.01
    second = sy.log_dataset(changed, "wine")
    assert second.version == 2 and second.content_digest != first.content_digest
    assert sy.get_dataset("wine").version == 2
    assert sy.get_dataset("wine", 1).description == "UCI wine"
    assert first.num_rows == len(wine) and first.num_columns == wine.shape[1]
    (summary,) = sy.list_datasets()
    assert (summary.name, summary.latest_version, summary.num_rows) == ("wine", 2, len(wine))


def test_schema_and_profile_are_stored_with_the_version(
    workspace: Path, wine: pd.DataFrame
) -> None:
    stored = sy.get_dataset(sy.log_dataset(wine, "wine").name, 1)
    alcohol = stored.profile.to_dict()["columns"]["alcohol"]
    assert alcohol["mean"] == pytest.approx(wine["alcohol"].mean(), rel=1e-12)
    assert alcohol["min"] == pytest.approx(wine["alcohol"].min())
    assert stored.schema.column("grade").kind == "string"
    assert stored.schema.column("grade").categories == ("high", "low")


def test_load_dataset_round_trips_and_records_lineage(workspace: Path, wine: pd.DataFrame) -> None:
    with sy.start_run() as producer:
        producer.log_dataset(wine, "wine")
    with sy.start_run() as consumer:
        loaded = sy.load_dataset("wine")
    pd.testing.assert_frame_equal(loaded, wine.reset_index(drop=True), check_dtype=False)
    assert isinstance(sy.load_dataset("wine", 1, format="arrow"), pa.Table)
    service = dataset_service()
    assert [(d.ref, c) for d, c in service.run_inputs(producer.id)] == [("wine:1", "training")]
    assert [(d.ref, c) for d, c in service.run_inputs(consumer.id)] == [("wine:1", "input")]
    assert sy.get_dataset("wine").run_id == producer.id


def test_files_are_versioned_by_content_not_by_path(workspace: Path, tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1, 2, 3], "label": ["a", "b", "a"]})
    csv, parquet = tmp_path / "d.csv", tmp_path / "d.parquet"
    frame.to_csv(csv, index=False)
    frame.to_parquet(parquet, index=False)
    from_csv = sy.log_dataset(csv, "small")
    from_parquet = sy.log_dataset(str(parquet), "small")
    assert from_csv.version == from_parquet.version == 1
    assert from_csv.source == str(csv.resolve())


def test_validate_against_a_stored_version(workspace: Path, wine: pd.DataFrame) -> None:
    sy.log_dataset(wine, "wine")
    assert sy.validate(wine, against="wine").ok
    drifted = wine.drop(columns=["hue"]).assign(grade="medium")
    report = sy.validate(drifted, against="wine")
    assert not report.ok
    kinds = {(p.column, p.kind) for p in report.problems}
    assert ("hue", "missing_column") in kinds and ("grade", "unseen_categories") in kinds
    assert "hue" in str(report)


def test_bad_input_is_refused_clearly(workspace: Path, wine: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="Invalid dataset name"):
        sy.log_dataset(wine, "no spaces please")
    with pytest.raises(InvalidInput):
        sy.log_dataset(42, "wine")
    with pytest.raises(NotFound, match="No dataset named 'ghost'"):
        sy.load_dataset("ghost")
    sy.log_dataset(wine, "wine")
    with pytest.raises(NotFound, match="no version 9"):
        sy.get_dataset("wine", 9)
    with pytest.raises(InvalidInput, match="Unknown format"):
        sy.load_dataset("wine", format="excel")
    with pytest.raises(InvalidInput, match="positive integer"):
        sy.get_dataset("wine", 0)


def test_a_parquet_file_on_s3_is_versioned(
    workspace: Path,
    wine: pd.DataFrame,
    s3_location: tuple[str, dict[str, object]],
    s3_client: object,
    tmp_path: Path,
) -> None:
    base, options = s3_location
    local = tmp_path / "wine.parquet"
    wine.to_parquet(local, index=False)
    key = f"{base.split('/', 3)[3]}/datasets/wine.parquet"
    s3_client.upload_file(str(local), "shipyard-tests", key)  # type: ignore[attr-defined]
    url = f"s3://shipyard-tests/{key}"
    version = sy.log_dataset(url, "wine", storage_options=options)
    assert version.source == url and version.num_rows == len(wine)
    assert sy.log_dataset(wine, "wine").version == version.version  # same content
    with pytest.raises(NotFound):
        sy.log_dataset(url.replace("wine.parquet", "gone.parquet"), "wine", storage_options=options)


def test_dataset_references_resolve_to_versions(workspace: Path, wine: pd.DataFrame) -> None:
    from shipyard.data import resolve_dataset

    sy.log_dataset(wine, "wine")
    sy.log_dataset(wine.head(50), "wine")
    assert [resolve_dataset(r).version for r in ("wine", "wine@latest", "wine:1", "wine@1")] == [
        2,
        2,
        1,
        1,
    ]
    with pytest.raises(InvalidInput, match="dataset reference"):
        resolve_dataset("wine@v1")
