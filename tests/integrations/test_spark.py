"""``predict_udf`` on a real local Spark (one executor thread, Python workers in their own
processes): predictions equal ``load_model(...).predict`` on the same rows."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression, Ridge

import shipyard as sy
from shipyard.integrations.spark import predict_udf
from shipyard.tracking import close_workspaces

pytestmark = [
    pytest.mark.slow,
    # PySpark warns about pandas 3 each time it converts; the conversions used here work.
    # (Results come back with collect(): toPandas() still passes pandas 3 a removed keyword.)
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]


def _collect(frame: Any) -> pd.DataFrame:
    """A small Spark DataFrame's rows as pandas, ordered by its ``row`` column."""
    rows = [row.asDict() for row in frame.collect()]
    return pd.DataFrame(rows, columns=frame.columns).sort_values("row", ignore_index=True)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """A local session made before any workspace is set: its Python workers start without
    SHIPYARD_HOME, so they find the model only through what the UDF carries."""
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYSPARK_PYTHON", sys.executable)  # workers with this venv's packages
        env.delenv("SHIPYARD_HOME", raising=False)
        session = (
            SparkSession.builder.master("local[1]")
            .appName("shipyard-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        try:
            yield session
        finally:
            session.stop()


@pytest.fixture(scope="module")
def cancer(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[pd.DataFrame]:
    """A SQLite workspace (outside the working folder) with ``cancer`` (string labels) at
    champion and ``size`` v1 (champion) and v2, which predict very differently."""
    root = tmp_path_factory.mktemp("spark-ws")
    data = load_breast_cancer(as_frame=True)
    features = data.data.iloc[:, :4]
    labels = np.where(data.target.to_numpy() == 1, "benign", "malignant")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SHIPYARD_HOME", str(root))
        env.delenv("SHIPYARD_DB_URL", raising=False)
        env.delenv("SHIPYARD_ARTIFACTS", raising=False)
        for name, model in (
            ("cancer", LogisticRegression(max_iter=2000).fit(features, labels)),
            ("size", Ridge().fit(features, data.data["mean area"])),
            ("size", Ridge().fit(features, -data.data["worst area"])),
        ):
            with sy.start_run(experiment="spark") as run:
                ref = run.log_model(model, "model", input_example=features.head(5))
            sy.register_model(ref, name)
        sy.set_alias("cancer", "champion", 1)
        sy.set_alias("size", "champion", 1)
        frame = features.copy()
        frame.insert(0, "row", np.arange(len(frame), dtype=np.int64))
        yield frame
        close_workspaces()


def test_udf_predicts_what_load_model_predicts(
    spark: Any, cancer: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyspark.sql import functions as F

    features = [c for c in cancer.columns if c != "row"]
    frame = spark.createDataFrame(cancer)
    labels = predict_udf(spark, "models:/cancer@champion")
    sizes = predict_udf(spark, "models:/size@champion", backend="native")
    monkeypatch.chdir(tmp_path)  # nothing may depend on the working folder

    result = frame.select(
        "row",
        labels(*features).alias("label"),
        labels(F.struct(*reversed(frame.columns))).alias("by_name"),  # fields by name
        sizes(*features).alias("size"),
    )

    assert [f.dataType.simpleString() for f in result.schema.fields] == [
        "bigint",
        "string",
        "string",
        "double",
    ]
    scored = _collect(result)
    expected = sy.load_model("models:/cancer@champion", backend="onnx").predict(cancer)
    assert scored["label"].tolist() == expected.tolist()
    assert scored["by_name"].tolist() == expected.tolist()
    assert set(expected) == {"benign", "malignant"}
    native = sy.load_model("models:/size/1").predict(cancer)
    # Equal up to the last bit or so: BLAS sums in an order that depends on memory layout.
    np.testing.assert_allclose(scored["size"].to_numpy(), native, rtol=1e-12)


def test_the_version_is_fixed_when_the_udf_is_made(spark: Any, cancer: pd.DataFrame) -> None:
    features = [c for c in cancer.columns if c != "row"]
    frame = spark.createDataFrame(cancer)
    pinned = predict_udf(spark, "models:/size@champion")  # champion is version 1 now
    sy.set_alias("size", "champion", 2, reason="the alias moves mid-job")
    try:
        first = _collect(frame.select("row", pinned(*features).alias("size")))["size"]
        moved = predict_udf(spark, "models:/size@champion")
        second = _collect(frame.select("row", moved(*features).alias("size")))["size"]
    finally:
        sy.set_alias("size", "champion", 1)
    v1, v2 = (sy.load_model(f"models:/size/{v}", backend="onnx").predict(cancer) for v in (1, 2))
    np.testing.assert_allclose(first.to_numpy(), v1, rtol=1e-6)
    np.testing.assert_allclose(second.to_numpy(), v2, rtol=1e-6)
    assert (first > 0).all() and (second < 0).all()


def test_a_wrong_number_of_columns_is_named(spark: Any, cancer: pd.DataFrame) -> None:
    frame = spark.createDataFrame(cancer)
    udf = predict_udf(spark, "models:/cancer@champion")
    from pyspark.errors import PythonException

    with pytest.raises(PythonException, match=r"got 2 column\(s\); the model takes 4"):
        frame.select(udf("row", "mean radius")).collect()
