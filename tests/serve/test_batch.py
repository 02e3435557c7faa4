"""Batch inference (``predict_file`` and ``shipyard predict``) on a real SQLite workspace with
real scikit-learn models: files in, files out, compared with ``load_model(...).predict``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pds
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import shipyard as sy
from shipyard.core.errors import InvalidInput, NotFound
from shipyard.serve import _batch_io
from shipyard.serve._batch import predict_file
from shipyard.tracking import close_workspaces

CLASSIFIER = "models:/cancer@champion"
REGRESSOR = "models:/cancer-size@champion"


@dataclass(frozen=True)
class Scoring:
    root: Path
    frame: pd.DataFrame  # patient_id, six features, a note the model does not take
    features: list[str]


def _register(model: Any, example: pd.DataFrame, name: str) -> None:
    with sy.start_run(experiment="batch") as run:
        ref = run.log_model(model, "model", input_example=example)
    version = sy.register_model(ref, name).version
    sy.set_alias(name, "champion", version)


@pytest.fixture(scope="module")
def scoring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scoring]:
    """A SQLite workspace holding ``cancer`` (a classifier with string labels, which refuses
    missing values) and ``cancer-size`` (a regressor), both at alias champion."""
    root = tmp_path_factory.mktemp("batch-ws")
    data = load_breast_cancer(as_frame=True)
    features = data.data.iloc[:, :6]
    labels = np.where(data.target.to_numpy() == 1, "benign", "malignant")
    frame = features.copy()
    frame.insert(0, "patient_id", np.arange(len(frame), dtype=np.int64) + 10_000)
    frame["note"] = [f"n{i}" for i in range(len(frame))]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SHIPYARD_HOME", str(root))
        env.delenv("SHIPYARD_DB_URL", raising=False)
        env.delenv("SHIPYARD_ARTIFACTS", raising=False)
        classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        _register(classifier.fit(features, labels), features.head(5), "cancer")
        regressor = Ridge().fit(features.drop(columns=["mean area"]), features["mean area"])
        _register(regressor, features.drop(columns=["mean area"]).head(5), "cancer-size")
        close_workspaces()
        yield Scoring(root, frame, list(features.columns))
        close_workspaces()


@pytest.fixture
def ws(scoring: Scoring, monkeypatch: pytest.MonkeyPatch) -> Scoring:
    monkeypatch.setenv("SHIPYARD_HOME", str(scoring.root))
    monkeypatch.delenv("SHIPYARD_DB_URL", raising=False)
    monkeypatch.delenv("SHIPYARD_ARTIFACTS", raising=False)
    return scoring


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


@pytest.mark.parametrize("backend", ["auto", "native"])
def test_parquet_is_scored_as_load_model_predicts(
    ws: Scoring, tmp_path: Path, backend: str
) -> None:
    source = tmp_path / "patients.parquet"
    ws.frame.to_parquet(source)
    out = tmp_path / "scored" / "predictions.parquet"  # the folder is created

    summary = predict_file(CLASSIFIER, source, out, columns=["patient_id"], backend=backend)

    verified = sy.load_model("models:/cancer/1").metadata["onnx"]["status"] == "verified"
    assert verified  # a scaler and a logistic regression convert to ONNX
    assert summary.backend == ("onnx" if backend == "auto" else "native")
    assert (summary.rows, summary.model_name, summary.model_version) == (569, "cancer", 1)
    assert summary.model == "models:/cancer/1" and summary.output == str(out)
    assert summary.model_source.startswith("runs:/") and summary.executor == "local"
    result = pd.read_parquet(out)
    assert list(result.columns) == ["patient_id", "prediction"]
    assert result["patient_id"].tolist() == ws.frame["patient_id"].tolist()
    expected = sy.load_model(CLASSIFIER, backend=summary.backend).predict(ws.frame)
    assert result["prediction"].tolist() == expected.tolist()
    assert set(expected) == {"benign", "malignant"}
    assert _leftovers(out.parent) == []


def test_csv_in_small_chunks_equals_one_chunk_and_keeps_probabilities(
    ws: Scoring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = ws.frame.copy()
    frame.loc[:299, "mean radius"] = frame.loc[:299, "mean radius"].round()  # looks like ints
    source = tmp_path / "patients.csv"
    frame.to_csv(source, index=False)
    # Blocks of 4 KiB: the reader's type inference sees only whole numbers in "mean radius"
    # at first, and each chunk spans several blocks.
    monkeypatch.setattr(_batch_io, "_CSV_BLOCK_BYTES", 4096)

    small = predict_file(
        CLASSIFIER,
        source,
        tmp_path / "small.csv",
        batch_size=100,
        columns=["patient_id"],
        proba=True,
    )
    whole = predict_file(
        CLASSIFIER,
        source,
        tmp_path / "whole.parquet",
        batch_size=10_000,
        columns=["patient_id"],
        proba=True,
    )

    assert small.rows == whole.rows == 569
    chunked = pd.read_csv(tmp_path / "small.csv")
    single = pd.read_parquet(tmp_path / "whole.parquet")
    columns = ["patient_id", "prediction", "proba_benign", "proba_malignant"]
    assert list(chunked.columns) == list(single.columns) == columns
    pd.testing.assert_frame_equal(chunked, single, check_exact=False, rtol=1e-12)
    model = sy.load_model(CLASSIFIER, backend=whole.backend)
    assert single["prediction"].tolist() == model.predict(frame).tolist()
    proba = single[["proba_benign", "proba_malignant"]].to_numpy()
    np.testing.assert_allclose(proba, model.predict_proba(frame))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_a_failing_chunk_names_its_rows_and_leaves_no_output(ws: Scoring, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.parquet", tmp_path / "bad.parquet"
    ws.frame.to_parquet(good)
    broken = ws.frame.copy()
    broken.loc[457, "mean texture"] = np.nan  # the model refuses missing values
    broken.to_parquet(bad)
    out = tmp_path / "out.parquet"
    predict_file(CLASSIFIER, good, out, columns=["patient_id"])
    before = out.read_bytes()

    with pytest.raises(InvalidInput, match=r"Rows 400-499 of .*bad\.parquet") as caught:
        predict_file(CLASSIFIER, bad, out, batch_size=100, columns=["patient_id"])
    assert "Row 57 has a missing or infinite value" in caught.value.message
    assert "'mean texture'" in caught.value.message
    assert out.read_bytes() == before  # the earlier output is untouched
    with pytest.raises(InvalidInput, match="Rows 400-499"):
        predict_file(CLASSIFIER, bad, tmp_path / "fresh.csv", batch_size=100)
    assert not (tmp_path / "fresh.csv").exists()
    assert _leftovers(tmp_path) == []


def test_mistakes_are_named_before_anything_is_written(ws: Scoring, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    ws.frame.to_parquet(source)
    short = tmp_path / "short.parquet"
    ws.frame.drop(columns=["mean area"]).to_parquet(short)
    clashing = tmp_path / "clash.parquet"
    ws.frame.assign(prediction=1).to_parquet(clashing)
    (tmp_path / "data.txt").write_text("a,b\n1,2\n")
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1 not really parquet")
    out = tmp_path / "out.parquet"
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"input": tmp_path / "nope.csv"}, InvalidInput, r"'.*nope\.csv' does not exist"),
        ({"input": tmp_path / "data.txt"}, InvalidInput, r"format of the input .*data\.txt"),
        ({"output": tmp_path / "out.json"}, InvalidInput, r"format of the output .*out\.json"),
        ({"input": short}, InvalidInput, r"missing column\(s\) \['mean area'\]"),
        ({"columns": ["patient"]}, InvalidInput, r"copy \['patient'\] are not in"),
        ({"input": clashing, "columns": ["prediction"]}, InvalidInput, "would clash"),
        ({"uri": "models:/nobody@champion"}, NotFound, "nobody"),
        ({"uri": "cancer"}, InvalidInput, "cancer"),
        ({"backend": "tensorrt"}, InvalidInput, "Unknown backend 'tensorrt'"),
        ({"executor": "spark"}, InvalidInput, "Unknown executor 'spark'"),
        ({"batch_size": 0}, InvalidInput, "batch_size must be a positive"),
        ({"uri": REGRESSOR, "proba": True}, InvalidInput, "not a classifier"),
        ({"input": tmp_path / "corrupt.parquet"}, InvalidInput, "Could not read"),
    ]
    for change, error, message in cases:
        arguments: dict[str, Any] = {"uri": CLASSIFIER, "input": source, "output": out, **change}
        with pytest.raises(error, match=message) as caught:
            predict_file(
                arguments.pop("uri"), arguments.pop("input"), arguments.pop("output"), **arguments
            )
        assert isinstance(caught.value, InvalidInput | NotFound) and caught.value.hint, change
        assert not out.exists(), change
    assert _leftovers(tmp_path) == []


def test_an_empty_input_gives_an_empty_output_with_the_columns(ws: Scoring, tmp_path: Path) -> None:
    source = tmp_path / "none.parquet"
    ws.frame.head(0).to_parquet(source)
    summary = predict_file(REGRESSOR, source, tmp_path / "none.csv", columns=["patient_id"])
    assert summary.rows == 0
    assert (tmp_path / "none.csv").read_text().strip() == '"patient_id","prediction"'


def test_object_store_input_and_output(
    ws: Scoring, tmp_path: Path, s3_location: tuple[str, dict[str, Any]]
) -> None:
    import fsspec

    base, options = s3_location
    fs, _ = fsspec.core.url_to_fs(base, **options)
    local = tmp_path / "in.csv.gz"
    ws.frame.to_csv(local, index=False)
    fs.put_file(str(local), f"{base}/batch/in.csv.gz")

    summary = predict_file(
        REGRESSOR,
        f"{base}/batch/in.csv.gz",
        f"{base}/batch/out.parquet",
        columns=["patient_id"],
        storage_options=options,
    )

    assert summary.rows == 569
    with fs.open(f"{base}/batch/out.parquet", "rb") as f:
        result = pd.read_parquet(f)
    expected = sy.load_model(REGRESSOR, backend=summary.backend).predict(ws.frame)
    np.testing.assert_array_equal(result["prediction"].to_numpy(), expected)
    assert sorted(p.rsplit("/", 1)[1] for p in fs.ls(f"{base}/batch")) == [
        "in.csv.gz",
        "out.parquet",
    ]


def _shipyard(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **env},
        timeout=120,
    )


def test_cli_scores_a_file_and_exits_2_on_mistakes(ws: Scoring, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    ws.frame.to_parquet(source)
    out = tmp_path / "out.csv"

    done = _shipyard(
        "predict",
        "cancer@champion",
        "-i",
        str(source),
        "-o",
        str(out),
        "--columns",
        "patient_id,note",
        "--proba",
        "--batch-size",
        "200",
    )

    assert done.returncode == 0, done.stderr
    assert "Wrote 569 predictions" in done.stdout and "models:/cancer/1" in done.stdout
    result = pd.read_csv(out)
    assert list(result.columns) == [
        "patient_id",
        "note",
        "prediction",
        "proba_benign",
        "proba_malignant",
    ]
    assert result["note"].tolist() == ws.frame["note"].tolist()
    expected = sy.load_model(CLASSIFIER).predict(ws.frame)
    assert result["prediction"].tolist() == expected.tolist()

    run_model = sy.get_model_version("cancer-size", 1).source  # runs:/RUN/model
    out = tmp_path / "j.parquet"
    as_json = _shipyard(
        "predict", run_model, "-i", str(source), "-o", str(out), "--backend", "onnx", "--json"
    )
    assert as_json.returncode == 0, as_json.stderr
    summary = json.loads(as_json.stdout)
    assert (summary["rows"], summary["backend"], summary["model"]) == (569, "onnx", run_model)
    assert summary["model_name"] is None and summary["output"] == str(out)

    missing = tmp_path / "short.csv"
    ws.frame.drop(columns=["mean radius"]).to_csv(missing, index=False)
    refused = _shipyard("predict", "cancer", "-i", str(missing), "-o", str(tmp_path / "x.csv"))
    assert refused.returncode == 2
    assert "missing column(s) ['mean radius']" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "x.csv").exists()
    unknown = _shipyard("predict", "nobody/1", "-i", str(source), "-o", str(tmp_path / "y.csv"))
    assert unknown.returncode == 1 and "nobody" in unknown.stderr
    usage = _shipyard("predict", "cancer", "-i", str(source), "-o", "z.csv", "--batch-size", "0")
    assert usage.returncode == 2


def test_cli_draws_a_progress_bar_only_on_a_terminal(ws: Scoring, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    ws.frame.to_parquet(source)
    args = ("predict", "cancer", "-i", str(source), "-o", str(tmp_path / "o.parquet"))
    plain = _shipyard(*args)
    assert plain.returncode == 0 and plain.stderr == ""
    drawn = _shipyard(*args, TTY_COMPATIBLE="1")
    assert drawn.returncode == 0 and "569/569" in drawn.stderr


def test_predict_help_imports_nothing_heavy() -> None:
    code = textwrap.dedent(
        """
        import sys
        from shipyard.cli._app import app
        try:
            app(["predict", "--help"])
        except SystemExit:
            pass
        heavy = ("pandas", "pyarrow", "numpy", "ray", "pyspark", "sklearn", "fsspec")
        print(sorted(name for name in heavy if name in sys.modules))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "--executor" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.slow
# Ray Data's own DataContext sets its deprecated fields when it is created.
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
def test_ray_executor_writes_the_same_rows_as_local(
    ray_cluster: None, ws: Scoring, tmp_path: Path
) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pandas(ws.frame), source, row_group_size=150)
    local = predict_file(
        CLASSIFIER, source, tmp_path / "local.parquet", columns=["patient_id"], proba=True
    )
    on_ray = predict_file(
        CLASSIFIER,
        source,
        tmp_path / "ray.parquet",
        executor="ray",
        batch_size=100,
        columns=["patient_id"],
        proba=True,
    )
    assert (on_ray.rows, on_ray.executor, on_ray.backend) == (569, "ray", local.backend)
    assert (tmp_path / "ray.parquet").is_dir()  # Ray writes a folder of parts
    # Parts are written concurrently; the carried id column puts rows back in order.
    parts = pds.dataset(tmp_path / "ray.parquet").to_table().to_pandas()
    parts = parts.sort_values("patient_id", ignore_index=True)
    pd.testing.assert_frame_equal(parts, pd.read_parquet(tmp_path / "local.parquet"))

    broken = ws.frame.copy()
    broken.loc[457, "mean texture"] = np.nan  # the model refuses missing values
    broken.to_csv(tmp_path / "bad.csv", index=False)
    # Ray's batches carry no offset in the file: the error names the batch and the column.
    with pytest.raises(InvalidInput, match=r"rows of .*bad\.csv: Row \d+ .*'mean texture'"):
        predict_file(
            CLASSIFIER,
            tmp_path / "bad.csv",
            tmp_path / "bad.parquet",
            executor="ray",
            batch_size=100,
        )
    assert not (tmp_path / "bad.parquet").exists() and _leftovers(tmp_path) == []


# Peak resident memory of the big run alone. A first run on a file of a few chunks pays what
# any run pays once (imports, the model, thread pools and their malloc arenas); then "5" to
# clear_refs resets the kernel's high-water mark (VmHWM): ru_maxrss cannot be reset, and a
# child process starts with its parent's.
_MEMORY_PROBE = """
import json, sys
import pyarrow as pa
from shipyard.serve._batch import predict_file

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

first, big, out = sys.argv[1:4]
uri = "models:/cancer-size@champion"
predict_file(uri, first, out, batch_size=100_000, progress=False)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS")
summary = predict_file(uri, big, out, batch_size=100_000, progress=False)
print(json.dumps({"rows": summary.rows, "growth": status("VmHWM") - before,
                  "arrow_peak": pa.default_memory_pool().max_memory()}))
"""


def _random_parquet(path: Path, names: list[str], rows: int, group: int = 100_000) -> None:
    schema = pa.schema([(name, pa.float64()) for name in names])
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(path, schema) as writer:
        for _ in range(rows // group):
            writer.write_table(pa.table([rng.random(group) * 100 for _ in names], schema=schema))


@pytest.mark.slow
def test_memory_stays_flat_on_a_file_many_times_the_chunk(ws: Scoring, tmp_path: Path) -> None:
    rows = 8_000_000
    names = [c for c in ws.features if c != "mean area"]
    _random_parquet(tmp_path / "first.parquet", names, 500_000)
    _random_parquet(tmp_path / "big.parquet", names, rows)
    in_memory = rows * len(names) * 8  # 320 MB of float64; a chunk is 4 MB

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEMORY_PROBE,
            *(str(tmp_path / name) for name in ("first.parquet", "big.parquet", "o.parquet")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout)
    assert probe["rows"] == rows
    assert probe["arrow_peak"] < in_memory / 6, probe
    assert probe["growth"] < in_memory / 8, probe
    assert pq.ParquetFile(tmp_path / "o.parquet").metadata.num_rows == rows
