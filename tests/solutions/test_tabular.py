"""train_tabular end to end on real data: metrics, the registered model, lineage, splits,
categorical columns, slices and importance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard as sy
from shipyard.solutions import tabular
from tests.solutions.conftest import artifact_json, stored_predictions

# Every split below is seeded; diabetes uses seed=1 because the seed-0 split is unusually hard
# (even a ridge regression scores R^2 0.34 on it, against 0.39-0.43 on other seeds).
CASES = {
    "breast_cancer": ("binary", "roc_auc", 0.97, 0),
    "wine": ("multiclass", "accuracy", 0.9, 0),
    "diabetes": ("regression", "r2", 0.35, 1),
}


def _raw_rows(data: Any, rows: Any) -> pd.DataFrame:
    """The caller's own rows (target included), as a user would send them."""
    frame = pd.read_csv(data) if isinstance(data, Path) else data
    return frame.iloc[np.asarray(rows)]


@pytest.mark.parametrize("source", ["frame", "csv"])
@pytest.mark.parametrize("dataset", list(CASES))
def test_real_datasets_reach_their_scores_and_the_registered_model_predicts_the_same(
    home: Path, tmp_path: Path, request: pytest.FixtureRequest, dataset: str, source: str
) -> None:
    task, headline, floor, seed = CASES[dataset]
    frame: pd.DataFrame = request.getfixturevalue(dataset)
    data: Any = frame
    if source == "csv":
        data = tmp_path / f"{dataset}.csv"
        frame.to_csv(data, index=False)

    result = tabular.train_tabular(data, "target", seed=seed)

    assert tabular.infer_task(frame["target"]) == task
    assert result.task == task
    assert result.metrics[headline] >= floor
    name = f"{dataset}-target" if source == "csv" else "target"
    assert (result.model_uri, result.model_version) == (f"models:/{name}/1", 1)
    assert result.dataset_ref == f"{name}:1"
    predictions = stored_predictions(result.run_id)
    assert len(predictions) == np.ceil(0.2 * len(frame))
    model = sy.load_model(result.model_uri)
    raw = _raw_rows(data, predictions["row"])
    if task == "regression":
        np.testing.assert_allclose(model.predict(raw), predictions["predicted"], rtol=1e-9)
    else:
        np.testing.assert_array_equal(model.predict(raw), predictions["predicted"])
        proba = predictions[[c for c in predictions.columns if c.startswith("proba_")]]
        np.testing.assert_allclose(model.predict_proba(raw), proba.to_numpy(), rtol=1e-9)


def test_one_run_holds_lineage_params_metrics_figures_and_the_registered_version(
    workspace: Path, breast_cancer: pd.DataFrame
) -> None:
    result = tabular.train_tabular(breast_cancer, "target", name="cancer", experiment="onco")

    run = sy.get_run(result.run_id)
    assert (run.experiment, run.status, run.tags["solution"]) == ("onco", "FINISHED", "tabular")
    assert run.params["task"] == "binary" and run.params["model"] == "lightgbm"
    assert run.params["dataset"] == "cancer:1" == result.dataset_ref
    assert (run.params["rows"], run.params["train_rows"], run.params["test_rows"]) == (
        "569",
        "455",
        "114",
    )
    assert run.params["split"] == "stratified" and run.params["features"] == "30"
    assert int(run.params["model.n_estimators"]) < 2000  # early stopping picked the count
    expected = {"roc_auc", "pr_auc", "accuracy", "f1", "log_loss", "brier"}
    assert set(result.metrics) == expected
    assert {f"test.{k}" for k in expected} <= set(run.metrics)
    assert run.metrics["test.roc_auc"] == pytest.approx(result.metrics["roc_auc"])
    assert 0 < result.metrics["brier"] < 0.1 and result.metrics["log_loss"] < 0.3
    names = {a.name for a in sy.tracking.tracking_service().list_artifacts(result.run_id)}
    plots = {"confusion_matrix", "roc", "pr", "calibration", "importance"}
    assert {f"plots/{p}.png" for p in plots} <= names
    assert {"evaluation/importance.json", "evaluation/predictions.parquet"} <= names

    version = sy.get_model_version("cancer", 1)
    assert version.datasets == ("cancer:1",)
    assert version.flavor == "lightgbm"
    assert version.metrics["test.roc_auc"] == pytest.approx(result.metrics["roc_auc"])
    assert version.description is not None and "test roc_auc 0.9" in version.description
    assert version.tags == {"solution": "tabular", "task": "binary"}
    rows = breast_cancer.iloc[stored_predictions(result.run_id)["row"]]
    fast = sy.load_model("models:/cancer/1", backend="onnx")  # converted and verified
    np.testing.assert_allclose(
        fast.predict_proba(rows), sy.load_model("models:/cancer/1").predict_proba(rows), atol=1e-5
    )


@pytest.mark.parametrize("when", ["datetime", "iso text"])
def test_a_time_column_puts_the_latest_rows_in_the_test_split(home: Path, when: str) -> None:
    rng = np.random.default_rng(3)
    n = 200
    days = pd.date_range("2024-01-01", periods=n, freq="D")[rng.permutation(n)]
    x = rng.normal(size=n)
    frame = pd.DataFrame({"day": days, "x": x, "sales": 3 * x + rng.normal(0.1, size=n)})
    if when == "iso text":
        frame["day"] = frame["day"].dt.strftime("%Y-%m-%d")

    result = tabular.train_tabular(frame, "sales", time_column="day", test_size=0.25, model="ridge")

    rows = stored_predictions(result.run_id)["row"]
    latest = pd.to_datetime(frame["day"]).nlargest(50)
    assert sorted(rows) == sorted(latest.index)
    run = sy.get_run(result.run_id)
    assert (run.params["split"], run.params["time_column"]) == ("time", "day")
    inputs = sy.load_model(result.model_uri).signature.inputs
    assert [column.name for column in inputs] == ["x"]  # the time orders rows; not a feature
    assert result.metrics["r2"] > 0.8


@pytest.mark.parametrize("model", ["lightgbm", "logistic_regression", "hist_gradient_boosting"])
def test_text_columns_work_with_lightgbm_and_scikit_learn_models(
    home: Path, churn: pd.DataFrame, model: str
) -> None:
    result = tabular.train_tabular(churn, "churned", model=model, name="churn")

    assert result.task == "binary" and result.metrics["roc_auc"] > 0.85
    importance = artifact_json(result.run_id, "evaluation/importance.json")
    assert importance["features"][0]["feature"] == "plan"
    loaded = sy.load_model(result.model_uri)
    predictions = stored_predictions(result.run_id)
    raw = churn.iloc[predictions["row"]]
    assert raw["plan"].isna().any()  # missing text values go through the logged model too
    np.testing.assert_array_equal(loaded.predict(raw), predictions["predicted"])
    unseen = raw.head(3).assign(plan="enterprise")
    if model == "lightgbm":  # its categories are fixed by the signature
        with pytest.raises(sy.InvalidInput, match="'plan'"):
            loaded.predict(unseen)
    else:  # the one-hot encoder ignores a category it never saw
        assert set(loaded.predict(unseen)) <= {"yes", "no"}


def test_an_estimator_instance_is_trained_inside_the_preprocessing_pipeline(
    home: Path, churn: pd.DataFrame
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=25, min_samples_leaf=5)
    result = tabular.train_tabular(churn, "churned", model=forest, name="churn")

    assert sy.get_run(result.run_id).params["model"] == "RandomForestClassifier"
    assert sy.get_run(result.run_id).params["model.n_estimators"] == "25"
    assert result.metrics["roc_auc"] > 0.85
    assert not hasattr(forest, "estimators_")  # the caller's instance is cloned, not fitted


def test_slice_metrics_per_value_and_per_quartile(home: Path, churn: pd.DataFrame) -> None:
    result = tabular.train_tabular(churn, "churned", name="churn", slice_columns=["plan", "usage"])

    report = artifact_json(result.run_id, "evaluation/slices.json")
    predictions = stored_predictions(result.run_id)
    test = churn.iloc[predictions["row"]].reset_index(drop=True)
    by_plan = {s["value"]: s for s in report["plan"]}
    assert set(by_plan) == {"basic", "pro", "team", "missing"}
    assert sum(s["rows"] for s in report["plan"]) == len(test)
    team = (test["plan"] == "team").to_numpy()
    accuracy = (predictions["predicted"] == predictions["actual"])[team].mean()
    assert by_plan["team"]["rows"] == team.sum()
    assert by_plan["team"]["metrics"]["accuracy"] == pytest.approx(accuracy)
    assert [s["value"] for s in report["usage"]] == ["q1", "q2", "q3", "q4"]
    assert report["usage"][0]["range"][1] == pytest.approx(report["usage"][1]["range"][0])
    metrics = sy.get_run(result.run_id).metrics
    assert metrics["slice.plan:team.accuracy"] == pytest.approx(accuracy)
    assert "slice.plan:basic.roc_auc" in metrics and "slice.usage:q4.accuracy" in metrics


def test_lightgbm_importance_is_exact_tree_shap_ranked_largest_first(
    home: Path, breast_cancer: pd.DataFrame
) -> None:
    rng = np.random.default_rng(0)
    frame = breast_cancer[["worst radius", "mean texture", "target"]].assign(
        noise=rng.normal(size=len(breast_cancer))
    )
    result = tabular.train_tabular(frame, "target", name="cancer")

    report = artifact_json(result.run_id, "evaluation/importance.json")
    assert report["method"] == "lightgbm_tree_shap" and "log-odds" in report["unit"]
    ranked = [(f["feature"], f["importance"]) for f in report["features"]]
    values = [value for _, value in ranked]
    assert values == sorted(values, reverse=True) and min(values) >= 0
    assert ranked[0][0] == "worst radius" and ranked[-1][0] == "noise"
    assert ranked[0][1] > 5 * ranked[-1][1]
    assert report["rows"] == len(stored_predictions(result.run_id))


def test_without_shap_other_models_report_permutation_importance(
    home: Path, churn: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "shap", None)  # as if shap were not installed
    result = tabular.train_tabular(churn, "churned", model="logistic_regression", name="churn")

    report = artifact_json(result.run_id, "evaluation/importance.json")
    assert report["method"] == "permutation"
    assert "not SHAP" in report["note"] and "shap is not installed" in report["note"]
    assert report["features"][0]["feature"] == "plan"
    assert report["features"][-1]["importance"] >= 0


def test_with_shap_installed_scikit_learn_trees_get_shap_values(
    home: Path, churn: pd.DataFrame
) -> None:
    result = tabular.train_tabular(churn, "churned", model="random_forest", name="churn")

    report = artifact_json(result.run_id, "evaluation/importance.json")
    assert report["method"] == "shap" and "TreeExplainer" in report["note"]
    assert report["features"][0]["feature"] == "plan"


def test_register_false_keeps_the_model_in_its_run_only(home: Path, wine: pd.DataFrame) -> None:
    result = tabular.train_tabular(wine, "target", register=False, name="wine")

    assert result.model_version is None
    assert result.model_uri == f"runs:/{result.run_id}/model"
    assert sy.list_models() == []
    assert sy.load_model(result.model_uri).predict(wine.head(2)).shape == (2,)


def test_inside_an_active_run_the_training_run_is_its_child(
    home: Path, diabetes: pd.DataFrame
) -> None:
    with sy.start_run(experiment="pipelines") as parent:
        result = tabular.train_tabular(diabetes, "target", model="ridge", name="diabetes")
    run = sy.get_run(result.run_id)
    assert (run.parent_id, run.experiment) == (parent.id, "pipelines")
    assert result.to_dict()["model_uri"] == "models:/diabetes/1"


def test_tuning_picks_parameters_on_a_validation_split(
    home: Path, breast_cancer: pd.DataFrame
) -> None:
    pytest.importorskip("shipyard.tuning", reason="enabled once shipyard.tuning lands")
    result = tabular.train_tabular(breast_cancer, "target", tune_trials=4, name="cancer")

    run = sy.get_run(result.run_id)
    assert run.params["tune_trials"] == "4"
    assert 0.01 <= float(run.params["model.learning_rate"]) <= 0.3
    assert result.metrics["roc_auc"] >= 0.97
    (study,) = sy.search_runs(run.experiment, filter=f"parent_id = '{run.id}'").runs
    assert study.tags["shipyard.kind"] == "tuning" and study.name == "tune-lightgbm"
    assert study.params["best.learning_rate"] == run.params["model.learning_rate"]
