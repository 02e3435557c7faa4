"""``evaluate`` on registered models and real data: by URI, on frames, files and dataset
versions, with slices, latency, size, a tracked run and ``load_evaluation``."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as m
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import shipyard as sy
from shipyard.core.errors import InvalidInput, NotFound
from shipyard.data import dataset_service
from shipyard.evaluation import evaluate, load_evaluation
from shipyard.tracking import tracking_service
from tests.evaluate import register, split, sqlite_workspace


def _classifier() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One SQLite workspace for the module: a binary, a multiclass and a regression model
    registered, and the held-out splits (wine's and diabetes' also logged as datasets)."""
    import lightgbm as lgb

    with sqlite_workspace(tmp_path_factory.mktemp("ws")):
        cancer_train, cancer_test = split("breast_cancer")
        wine_train, wine_test = split("wine")
        diabetes_train, diabetes_test = split("diabetes", stratify=False)
        x = {
            name: f.drop(columns="target")
            for name, f in [("c", cancer_train), ("w", wine_train), ("d", diabetes_train)]
        }
        cancer = _classifier().fit(x["c"], cancer_train.target)
        wine = lgb.LGBMClassifier(n_estimators=20, min_child_samples=5, verbose=-1)
        wine.fit(x["w"], wine_train.target)
        diabetes = Ridge().fit(x["d"], diabetes_train.target)
        yield {
            "cancer": (register(cancer, x["c"], "cancer"), cancer, cancer_test),
            "wine": (register(wine, x["w"], "wine"), wine, wine_test),
            "diabetes": (register(diabetes, x["d"], "diabetes"), diabetes, diabetes_test),
            "wine_test": sy.log_dataset(wine_test, "wine-test"),
        }


def test_binary_model_by_alias_on_a_held_out_frame(workspace: Path) -> None:
    train, test = split("breast_cancer")
    features = train.drop(columns="target")
    model = _classifier().fit(features, train.target)
    version = register(model, features, "cancer")
    sy.set_alias("cancer", "champion", version.version)
    test = test.assign(size=np.where(test["mean area"] > 700, "large", "small"))

    got = evaluate("models:/cancer@champion", test, "target", slices=["mean radius", "size"])

    assert (got.model_uri, got.model_name, got.model_version) == ("models:/cancer/1", "cancer", 1)
    assert (got.task, got.classes, got.n_rows, got.threshold) == ("binary", [0, 1], 228, 0.5)
    score = model.predict_proba(test[features.columns])[:, 1]
    y = test.target.to_numpy()
    predicted = (score >= 0.5).astype(int)
    assert got.metrics == pytest.approx(
        {
            "roc_auc": m.roc_auc_score(y, score),
            "pr_auc": m.average_precision_score(y, score),
            "log_loss": m.log_loss(y, score),
            "brier": m.brier_score_loss(y, score),
            "accuracy": m.accuracy_score(y, predicted),
            "f1": m.f1_score(y, predicted),
            "precision": m.precision_score(y, predicted),
            "recall": m.recall_score(y, predicted),
        },
        abs=1e-12,
    )
    np.testing.assert_allclose(got.y_score, score, atol=1e-12)
    assert np.array_equal(got.y_pred, predicted) and np.array_equal(got.y_true, y)

    radius = got.slices["mean radius"]
    assert list(radius) == ["q1", "q2", "q3", "q4"]
    assert sum(s["n"] for s in radius.values()) == 228
    q1 = got.slice_values["mean radius"] == "q1"
    assert radius["q1"]["roc_auc"] == pytest.approx(m.roc_auc_score(y[q1], score[q1]))
    assert set(got.slices["size"]) == {"large", "small"}
    assert got.slice_values["size"].tolist() == test["size"].tolist()

    assert set(got.latency) == {"latency_p50_ms", "latency_p95_ms", "batch_rows_per_s"}
    assert all(value > 0 for value in got.latency.values())
    files = tracking_service().list_artifacts(version.run_id)
    assert got.size_mb == sum(f.size for f in files if f.name.startswith("model/")) / 1e6 > 0

    run = sy.get_run(got.run_id)
    assert run.experiment == "evaluations" and run.status == "FINISHED"
    assert run.tags["shipyard.kind"] == "evaluation"
    assert run.tags["shipyard.model_uri"] == "models:/cancer/1"
    assert run.tags["shipyard.dataset"] == f"digest:{got.data_digest[:12]}"
    assert run.metrics["eval.roc_auc"] == pytest.approx(got.metrics["roc_auc"])
    assert run.metrics["latency.latency_p95_ms"] == pytest.approx(got.latency["latency_p95_ms"])
    assert run.metrics["size_mb"] == pytest.approx(got.size_mb)
    stored = json.loads(tracking_service().get_artifact(run.id, "evaluation/evaluation.json"))
    assert stored == got.to_dict()

    again = load_evaluation(run.id[:14])
    assert again == got
    for name in ("y_true", "y_pred", "y_score"):
        assert np.array_equal(getattr(again, name), getattr(got, name))
    assert again.slice_values["size"].tolist() == got.slice_values["size"].tolist()


def test_multiclass_model_on_a_dataset_version(models: dict[str, Any]) -> None:
    version, model, test = models["wine"]
    dataset = models["wine_test"]
    got = evaluate("models:/wine/1", "wine-test@latest", "target", latency=False)
    assert (got.task, got.classes, got.dataset_ref) == ("multiclass", [0, 1, 2], "wine-test:1")
    proba = model.predict_proba(test.drop(columns="target"))
    y = test.target.to_numpy()
    assert got.metrics == pytest.approx(
        {
            "accuracy": m.accuracy_score(y, proba.argmax(axis=1)),
            "macro_f1": m.f1_score(y, proba.argmax(axis=1), average="macro"),
            "log_loss": m.log_loss(y, proba),
        },
        abs=1e-9,
    )
    assert got.y_score.shape == (len(test), 3)
    # The version's digest is the digest of the same rows handed over as a frame.
    assert got.data_digest == dataset.content_digest
    frame = evaluate("models:/wine/1", test, "target", log=False, latency=False)
    assert frame.data_digest == got.data_digest and frame.dataset_ref is None
    for reference in ("wine-test", "wine-test:1", "wine-test@1", dataset):
        same = evaluate(version, reference, "target", log=False, latency=False)
        assert same.metrics == got.metrics and same.dataset_ref == "wine-test:1"
    inputs = dataset_service().run_inputs(got.run_id)
    assert [(d.ref, context) for d, context in inputs] == [("wine-test:1", "evaluation")]
    assert sy.get_run(got.run_id).tags["shipyard.dataset"] == "wine-test:1"

    loaded = load_evaluation(got.run_id)
    assert np.array_equal(loaded.y_score, got.y_score)
    assert loaded.metrics == got.metrics


def test_regression_model_by_run_uri_on_a_csv_file(models: dict[str, Any], tmp_path: Path) -> None:
    version, model, test = models["diabetes"]
    path = tmp_path / "test.csv"
    test.to_csv(path, index=False)
    got = evaluate(f"runs:/{version.run_id[:14]}/model", str(path), "target", latency=False)
    assert got.model_uri == f"runs:/{version.run_id}/model" and got.model_name is None
    assert got.task == "regression" and got.classes is None
    prediction = model.predict(test.drop(columns="target"))
    y = test.target.to_numpy()
    assert got.metrics == pytest.approx(
        {
            "rmse": m.root_mean_squared_error(y, prediction),
            "mae": m.mean_absolute_error(y, prediction),
            "r2": m.r2_score(y, prediction),
        },
        abs=1e-9,
    )
    assert np.array_equal(got.y_score, got.y_pred)


def test_an_evaluation_inside_a_run_is_its_child(models: dict[str, Any]) -> None:
    _, _, test = models["diabetes"]
    with sy.start_run(experiment="release") as parent:
        got = evaluate("models:/diabetes/1", test, "target", slices=["age"], latency=False)
    run = sy.get_run(got.run_id)
    assert (run.parent_id, run.experiment) == (parent.id, "release")
    assert list(got.slices["age"]) == ["q1", "q2", "q3", "q4"]
    assert set(got.slices["age"]["q1"]) == {"rmse", "mae", "r2", "n"}


def test_a_loaded_model_and_a_stricter_threshold(models: dict[str, Any]) -> None:
    test = models["cancer"][2]
    loaded = sy.load_model("models:/cancer/1")
    strict = evaluate(loaded, test, "target", threshold=0.9, log=False, latency=False)
    usual = evaluate(loaded, test, "target", log=False, latency=False)
    assert strict.model_uri == "memory:sklearn" and math.isnan(strict.size_mb)
    assert strict.run_id is None and strict.latency == {} and strict.threshold == 0.9
    assert np.array_equal(strict.y_pred, (strict.y_score >= 0.9).astype(int))
    assert strict.metrics["recall"] < usual.metrics["recall"]
    assert strict.metrics["precision"] >= usual.metrics["precision"]
    assert strict.metrics["roc_auc"] == usual.metrics["roc_auc"]  # thresholds do not rank


def test_string_labels_follow_the_models_classes(models: dict[str, Any]) -> None:
    train, test = split("breast_cancer")
    labels = np.array(["benign", "malignant"], dtype=object)
    train = train.assign(target=labels[1 - train.target])  # sklearn's 0 is malignant
    test = test.assign(target=labels[1 - test.target])
    features = train.drop(columns="target").iloc[:, :5]
    register(_classifier().fit(features, train.target), features, "cancer-text")
    got = evaluate("models:/cancer-text/1", test, "target", log=False, latency=False)
    assert got.classes == ["benign", "malignant"]
    positive = (test.target == "malignant").to_numpy()
    assert got.metrics["recall"] == pytest.approx(np.mean(got.y_pred[positive] == "malignant"))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"target": "label"}, InvalidInput, "no target column 'label'"),
        ({"slices": ["plan"]}, InvalidInput, "Cannot slice by ['plan']"),
        ({"slices": "mean radius"}, InvalidInput, "list of column names"),
        ({"threshold": 1.5}, InvalidInput, "strictly between 0 and 1"),
        ({"task": "ranking"}, InvalidInput, "Unknown task 'ranking'"),
        ({"task": "binary", "model": "models:/wine/1"}, InvalidInput, "two classes"),
        ({"data": "no-such-data@latest"}, NotFound, "no-such-data"),
        ({"data": "missing.parquet"}, NotFound, "does not exist"),
        ({"model": "models:/nope/1"}, NotFound, "nope"),
        ({"model": 42}, InvalidInput, "Cannot evaluate a int"),
    ],
)
def test_mistakes_are_named(
    models: dict[str, Any], kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    _, _, test = models["cancer"]
    args = {"model": "models:/cancer/1", "data": test, "target": "target", **kwargs}
    if args["model"] == "models:/wine/1":
        args["data"] = models["wine"][2]
    with pytest.raises(error) as caught:
        evaluate(args.pop("model"), args.pop("data"), args.pop("target"), log=False, **args)
    assert message in str(caught.value)


def test_targets_the_model_cannot_score_are_refused(models: dict[str, Any]) -> None:
    _, _, test = models["cancer"]
    unlabelled = test.assign(target=test.target.astype(float))
    unlabelled.loc[unlabelled.index[:3], "target"] = np.nan
    with pytest.raises(InvalidInput, match="3 missing value"):
        evaluate("models:/cancer/1", unlabelled, "target", log=False)
    with pytest.raises(InvalidInput, match="does not predict"):
        evaluate("models:/cancer/1", test.assign(target=test.target + 1), "target", log=False)
    with pytest.raises(InvalidInput, match="no rows"):
        evaluate("models:/cancer/1", test.iloc[:0], "target", log=False)
    with pytest.raises(NotFound, match="holds no evaluation"):
        load_evaluation(models["cancer"][0].run_id)


def test_polars_frames_are_accepted(models: dict[str, Any]) -> None:
    import polars as pl

    _, _, test = models["diabetes"]
    got = evaluate("models:/diabetes/1", pl.from_pandas(test), "target", log=False, latency=False)
    same = evaluate("models:/diabetes/1", test, "target", log=False, latency=False)
    assert got.metrics == same.metrics and got.data_digest == same.data_digest
    assert isinstance(test, pd.DataFrame)
