"""Performance in production: labels joined late, realized metrics, CBPE estimates before labels
arrive, calibration, and drops against a reference. Real scikit-learn models on seeded data,
logged through the server's own Arrow conversion."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn import metrics
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from shipyard.core.errors import InvalidInput
from shipyard.monitor._calibration import (
    Calibration,
    expected_calibration_error,
    fit_calibration,
)
from shipyard.monitor._estimate import (
    estimate_performance,
    expected_binary_metrics,
    expected_roc_auc,
)
from shipyard.monitor._feedback import join_feedback
from shipyard.monitor._performance import (
    PerformanceReport,
    compare_with_reference,
    realized_performance,
)
from shipyard.serve._log_records import Feedback, LogBatch
from shipyard.serve._log_tables import batch_tables, feedback_tables

HOUR_MS = 3_600_000
START_MS = 1_700_000_000_000 // HOUR_MS * HOUR_MS  # on the hour, so "1h" windows are exact
N_ROWS = 10_000  # current rows per scenario: CBPE and realized metrics both within ~0.01
WEIGHTS = np.array([2.5, 1.5, -1.0, 0.0])


# --- logging helpers: the server's own conversion ----------------------------------------------


def _log(
    probabilities: np.ndarray[Any, Any] | None,
    predictions: np.ndarray[Any, Any],
    classes: Sequence[Any] | None,
    *,
    hours: int = 4,
    rows_per_request: int = 4,
    role: str = "primary",
    prefix: str = "r",
) -> pa.Table:
    """Rows logged as requests of ``rows_per_request`` rows, spread evenly over ``hours``."""
    n = len(predictions)
    n_requests = n // rows_per_request
    batch = LogBatch(
        deployment="churn",
        model_name="churn",
        model_version=1,
        variant="champion",
        role=role,
        request_ids=[f"{prefix}{i}" for i in range(n_requests)],
        rows_per_request=np.full(n_requests, rows_per_request),
        received_ms=START_MS + np.arange(n_requests) * (hours * HOUR_MS) // n_requests,
        latency_ms=np.ones(n_requests),
        inputs=np.zeros((n, 1)),
        input_names=["x"],
        predictions=predictions,
        probabilities=probabilities,
        classes=classes,
    )
    return pa.concat_tables([table for _, table in batch_tables(batch)])


def _labels_for(log: pa.Table, labels: Sequence[Any], *, delay_ms: int = HOUR_MS) -> pa.Table:
    """Feedback for every logged row, ``delay_ms`` after its prediction."""
    rows = log.select(["request_id", "row", "ts"]).to_pylist()
    records = [
        Feedback(
            r["request_id"],
            label,
            row=r["row"],
            received_ms=int(r["ts"].timestamp() * 1000) + delay_ms,
        )
        for r, label in zip(rows, labels, strict=True)
    ]
    return pa.concat_tables([table for _, table in feedback_tables(records)])


# --- a logistic world, a covariate shift towards the boundary ----------------------------------


def _draw(rng: np.random.Generator, n: int, scale: float = 1.0) -> tuple[Any, Any]:
    """Rows whose true P(yes | x) is logistic; ``scale`` < 1 pulls them towards the boundary
    without changing P(yes | x): a pure covariate shift."""
    x = rng.normal(size=(n, 4))
    x[:, :3] *= scale
    yes = rng.random(n) < 1 / (1 + np.exp(-(x @ WEIGHTS + 0.5)))
    return x, np.where(yes, "yes", "no")


def _overconfident(model: LogisticRegression, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The model's probabilities with its logits tripled, so calibration has work to do."""
    p = 1 / (1 + np.exp(-3 * model.decision_function(x)))
    return np.column_stack([1 - p, p])


@dataclass
class World:
    model: LogisticRegression
    calibration: Calibration

    def joined(self, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> pd.DataFrame:
        """The model's logged answers on ``x``, joined to labels ``y`` sent an hour later."""
        proba = _overconfident(self.model, x)
        predictions = self.model.classes_[(proba[:, 1] >= 0.5).astype(int)]
        log = _log(proba, predictions, list(self.model.classes_))
        return join_feedback(log, _labels_for(log, y.tolist()))


@pytest.fixture(scope="module")
def world() -> World:
    rng = np.random.default_rng(42)
    model = LogisticRegression().fit(*_draw(rng, 4_000))
    x_ref, y_ref = _draw(rng, N_ROWS)  # held out from training
    scores = _overconfident(model, x_ref)
    return World(model, fit_calibration(scores, y_ref, classes=list(model.classes_)))


@pytest.fixture(scope="module")
def scenarios(world: World) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    return {
        "unshifted": world.joined(*_draw(rng, N_ROWS)),
        "shifted": world.joined(*_draw(rng, N_ROWS, scale=0.35)),
    }


# --- CBPE tracks what labels later show --------------------------------------------------------


@pytest.mark.parametrize("scenario", ["unshifted", "shifted"])
def test_cbpe_tracks_realized_metrics(
    world: World, scenarios: dict[str, pd.DataFrame], scenario: str
) -> None:
    joined = scenarios[scenario]
    realized = realized_performance(joined, "binary")
    estimated = estimate_performance(joined, "binary", calibration=world.calibration)
    uncalibrated = estimate_performance(joined, "binary")

    assert estimated.kind == "estimated" and estimated.n_rows == N_ROWS
    for name in ("accuracy", "roc_auc", "f1", "precision", "recall"):
        assert estimated.metrics[name] == pytest.approx(realized.metrics[name], abs=0.03), name
    # The overconfident raw probabilities promise far more than the model delivers.
    assert uncalibrated.metrics["accuracy"] - realized.metrics["accuracy"] > 0.08
    assert uncalibrated.metrics["roc_auc"] - realized.metrics["roc_auc"] > 0.05


def test_cbpe_detects_the_drop_under_covariate_shift(
    world: World, scenarios: dict[str, pd.DataFrame]
) -> None:
    reference = estimate_performance(
        scenarios["unshifted"], "binary", calibration=world.calibration
    )
    shifted = estimate_performance(scenarios["shifted"], "binary", calibration=world.calibration)
    realized_ref = realized_performance(scenarios["unshifted"], "binary")
    realized_now = realized_performance(scenarios["shifted"], "binary")

    drops = _numbers(compare_with_reference(shifted, reference))
    realized_drops = _numbers(compare_with_reference(realized_now, realized_ref))

    assert realized_drops["accuracy_drop"] > 0.1
    assert drops["accuracy_drop"] == pytest.approx(realized_drops["accuracy_drop"], abs=0.03)
    assert drops["roc_auc_drop"] == pytest.approx(realized_drops["roc_auc_drop"], abs=0.03)
    assert drops["accuracy_drop"] > 0.1 and drops["roc_auc_drop"] > 0.1  # an alert would fire
    # Two halves of the same unshifted traffic: nothing to alert on.
    first, second = (
        estimate_performance(half, "binary", calibration=world.calibration)
        for half in (scenarios["unshifted"].iloc[:5_000], scenarios["unshifted"].iloc[5_000:])
    )
    steady = _numbers(compare_with_reference(second, first))
    assert abs(steady["accuracy_drop"]) < 0.02 and abs(steady["roc_auc_drop"]) < 0.02


def _numbers(drops: dict[str, float | None]) -> dict[str, float]:
    assert None not in drops.values()
    return {name: float(value) for name, value in drops.items() if value is not None}


def test_per_window_metrics_and_label_coverage_with_delayed_labels(
    world: World, scenarios: dict[str, pd.DataFrame]
) -> None:
    joined = scenarios["shifted"].copy()
    # Labels arrived for the first two hours only.
    late = joined["ts"] >= pd.Timestamp(START_MS + 2 * HOUR_MS, unit="ms", tz="UTC")
    joined.loc[late, ["label", "label_ts"]] = None

    realized = realized_performance(joined, "binary", freq="1h")
    estimated = estimate_performance(joined, "binary", calibration=world.calibration, freq="1h")

    starts = [pd.Timestamp(START_MS + h * HOUR_MS, unit="ms", tz="UTC") for h in range(4)]
    assert [w.start for w in realized.windows] == starts
    assert [w.start for w in estimated.windows] == starts
    assert [w.n_rows for w in realized.windows] == [N_ROWS // 4] * 4
    assert [w.n_labeled for w in realized.windows] == [N_ROWS // 4] * 2 + [0, 0]
    assert [w.label_coverage for w in realized.windows] == [1.0, 1.0, 0.0, 0.0]
    assert realized.n_labeled == N_ROWS // 2 and realized.label_coverage == 0.5
    assert realized.windows[2].metrics == {} and realized.windows[3].metrics == {}
    # Labelled windows: metrics of exactly their rows; the estimate covers every window.
    first = joined.iloc[: N_ROWS // 4]
    assert realized.windows[0].metrics == realized_performance(first, "binary").metrics
    for window, truth in zip(estimated.windows[:2], realized.windows[:2], strict=True):
        assert window.metrics["accuracy"] == pytest.approx(truth.metrics["accuracy"], abs=0.04)
    assert all(0.6 < w.metrics["accuracy"] < 0.8 for w in estimated.windows)
    assert estimated.n_labeled == N_ROWS // 2

    as_json = json.loads(json.dumps(realized.to_dict(), allow_nan=False))
    assert as_json["kind"] == "realized" and as_json["freq"] == "1h"
    assert as_json["windows"][0]["start"] == starts[0].isoformat()
    assert as_json["windows"][3] == {
        "start": starts[3].isoformat(),
        "n_rows": N_ROWS // 4,
        "n_labeled": 0,
        "label_coverage": 0.0,
        "metrics": {},
    }
    assert set(as_json["metrics"]) == {
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "accuracy",
        "f1",
        "precision",
        "recall",
    }


# --- joining late, repeated and missing labels ---------------------------------------------------


def test_join_keeps_every_prediction_and_the_latest_label() -> None:
    predictions = np.array(["a", "b", "a", "b", "a", "b"])
    log = _log(None, predictions, None, rows_per_request=2)  # r0: rows 0-1, r1, r2
    shadow = _log(None, predictions, None, rows_per_request=2, role="shadow")
    both = pa.concat_tables([log, shadow])
    sent = [  # (request, label, row, received at), deliberately out of time order
        ("r0", "b", 0, 300),
        ("r0", "a", 0, 100),  # older: loses to the one above
        ("r0", "x", None, 200),  # whole request, older than row 0's label, newer than nothing
        ("r1", "a", 1, 100),
        ("r1", "b", None, 500),  # whole request, newer: wins over row 1's own label
        ("r9", "a", 0, 100),  # a request not in the log: ignored
    ]
    feedback = pa.concat_tables(
        [
            t
            for _, t in feedback_tables(
                [Feedback(r, lab, row=row, received_ms=ms) for r, lab, row, ms in sent]
            )
        ]
    )

    joined = join_feedback(both, feedback)

    assert len(joined) == 12 and "inputs" not in joined.columns
    assert joined["request_id"].tolist() == ["r0", "r0", "r1", "r1", "r2", "r2"] * 2
    assert joined["row"].tolist() == [0, 1] * 6
    labels = [None if pd.isna(v) else v for v in joined["label"]]
    assert labels == ["b", "x", "b", "b", None, None] * 2  # shadow rows get the same labels
    arrived = joined["label_ts"].dropna().dt.as_unit("ms").astype("int64").tolist()
    assert arrived == [300, 200, 500, 500] * 2
    assert "inputs" in join_feedback(log, feedback, keep_inputs=True).columns


def test_join_without_feedback_and_realized_needs_labels() -> None:
    log = _log(np.array([[0.2, 0.8]] * 4), np.array(["yes"] * 4), ["no", "yes"])
    empty = pa.concat_tables(
        [t for _, t in feedback_tables([Feedback("nope", "no", received_ms=0)])]
    ).slice(0, 0)
    joined = join_feedback(log, empty)
    assert len(joined) == 4 and joined["label"].isna().all()
    with pytest.raises(InvalidInput, match="None of the 4 rows has a label"):
        realized_performance(joined, "binary")
    with pytest.raises(InvalidInput, match="no label column"):
        realized_performance(log, "binary")
    # Estimates need no labels at all, straight from the log.
    estimate = estimate_performance(log, "binary")
    assert estimate.metrics["accuracy"] == pytest.approx(0.8)
    assert estimate.n_labeled == 0 and estimate.metrics["roc_auc"] == 0.5  # all scores tied


# --- labels compared with classes as text ------------------------------------------------------


def test_labels_match_classes_as_text_whatever_their_type() -> None:
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]] * 5)
    predictions = np.array([0, 1, 0, 1] * 5)  # the model's classes are the ints 0 and 1
    log = _log(proba, predictions, [0, 1], rows_per_request=1)
    truth = [0, 1, 1, 0] * 5
    for labels in (truth, [str(v) for v in truth], [float(v) for v in truth]):
        report = realized_performance(join_feedback(log, _labels_for(log, labels)), "binary")
        assert report.metrics["accuracy"] == 0.5
        assert report.metrics["roc_auc"] == pytest.approx(metrics.roc_auc_score(truth, proba[:, 1]))
    with pytest.raises(InvalidInput, match="labels are not among the model's classes"):
        realized_performance(join_feedback(log, _labels_for(log, ["2"] * 20)), "binary")


def test_multiclass_realized_and_estimated_under_covariate_shift() -> None:
    classes = np.array([1, 2, 10])  # as text "10" sorts before "2": probability columns follow
    x, y = make_classification(
        n_samples=20_000, n_features=6, n_informative=4, n_classes=3, random_state=5
    )
    y = classes[y]
    model = LogisticRegression().fit(x[:4_000], y[:4_000])
    reference = model.predict_proba(x[4_000:8_000])
    calibration = fit_calibration(reference, y[4_000:8_000], classes=list(model.classes_))
    assert calibration.kind == "confidence" and calibration.fitted
    # Selecting rows by their inputs alone (here: where the model hesitates) keeps P(y | x).
    hesitant = np.flatnonzero(model.predict_proba(x[8_000:]).max(axis=1) < 0.8) + 8_000
    rows = hesitant[: len(hesitant) // 4 * 4]
    proba = model.predict_proba(x[rows])
    log = _log(proba, model.predict(x[rows]), list(model.classes_))
    joined = join_feedback(log, _labels_for(log, y[rows].tolist()))

    realized = realized_performance(joined, "multiclass")
    estimated = estimate_performance(joined, "multiclass", calibration=calibration)
    uncalibrated = estimate_performance(joined, "multiclass")

    assert realized.metrics["log_loss"] == pytest.approx(
        metrics.log_loss(y[rows], proba, labels=classes)
    )
    assert realized.metrics["accuracy"] == pytest.approx(
        metrics.accuracy_score(y[rows], model.predict(x[rows]))
    )
    assert set(estimated.metrics) == {"accuracy"}
    error = abs(estimated.metrics["accuracy"] - realized.metrics["accuracy"])
    assert error < 0.02 < abs(uncalibrated.metrics["accuracy"] - realized.metrics["accuracy"])
    reference_accuracy = metrics.accuracy_score(y[4_000:8_000], model.predict(x[4_000:8_000]))
    assert reference_accuracy - estimated.metrics["accuracy"] > 0.05  # the drop is seen


def test_regression_realized_matches_sklearn_and_cannot_be_estimated() -> None:
    rng = np.random.default_rng(5)
    truth = rng.normal(size=400)
    predicted = truth + rng.normal(scale=0.5, size=400)
    log = _log(None, predicted, None)
    joined = join_feedback(log, _labels_for(log, truth.tolist()))

    report = realized_performance(joined, "regression", freq="2h")

    assert report.metrics["rmse"] == pytest.approx(
        metrics.root_mean_squared_error(truth, predicted)
    )
    assert report.metrics["r2"] == pytest.approx(metrics.r2_score(truth, predicted))
    assert [w.n_rows for w in report.windows] == [200, 200]
    with pytest.raises(InvalidInput, match="classifiers only"):
        estimate_performance(joined, "regression")
    with pytest.raises(InvalidInput, match="no logged proba"):
        estimate_performance(joined, "binary")


# --- the estimators themselves -----------------------------------------------------------------


def test_expected_roc_auc_is_the_weighted_pairwise_ordering() -> None:
    rng = np.random.default_rng(11)
    scores = np.round(rng.random(80), 1)  # many ties
    p = rng.random(80)
    weight = p[:, None] * (1 - p[None, :])
    np.fill_diagonal(weight, 0.0)
    order = (scores[:, None] > scores[None, :]) + 0.5 * (scores[:, None] == scores[None, :])
    assert expected_roc_auc(scores, p) == pytest.approx((weight * order).sum() / weight.sum())
    # With certain labels (p 0 or 1) it is the ROC AUC of those labels.
    labels = (rng.random(80) < 0.4).astype(float)
    assert expected_roc_auc(scores, labels) == pytest.approx(metrics.roc_auc_score(labels, scores))
    assert math.isnan(expected_roc_auc(scores, np.ones(80)))


def test_expected_binary_metrics_with_certain_labels_are_the_realized_ones() -> None:
    rng = np.random.default_rng(12)
    labels = rng.random(300) < 0.3
    scores = np.clip(labels * 0.3 + rng.random(300) * 0.7, 0, 1)
    predicted = scores >= 0.5
    expected = expected_binary_metrics(labels.astype(float), predicted, scores)
    assert list(expected) == ["roc_auc", "accuracy", "f1", "precision", "recall"]
    assert expected["accuracy"] == pytest.approx(metrics.accuracy_score(labels, predicted))
    assert expected["f1"] == pytest.approx(metrics.f1_score(labels, predicted))
    assert expected["precision"] == pytest.approx(metrics.precision_score(labels, predicted))
    assert expected["recall"] == pytest.approx(metrics.recall_score(labels, predicted))
    assert expected["roc_auc"] == pytest.approx(metrics.roc_auc_score(labels, scores))
    # No predicted positive: precision 0, as zero_division=0 gives, not NaN.
    none = expected_binary_metrics(np.full(20, 0.3), np.zeros(20, bool), np.arange(20.0))
    assert none["precision"] == 0.0 and none["accuracy"] == pytest.approx(0.7)
    assert "roc_auc" not in expected_binary_metrics(
        np.full(5, 0.3), np.zeros(5, bool), np.arange(5.0), min_auc_rows=10
    )


# --- calibration ---------------------------------------------------------------------------------


def test_calibration_fixes_an_overconfident_naive_bayes_and_round_trips() -> None:
    x, y = make_classification(
        n_samples=8_000, n_features=10, n_informative=3, n_redundant=5, random_state=0
    )
    model = GaussianNB().fit(x[:3_000], y[:3_000])  # redundant features: overconfident
    calibration = fit_calibration(model.predict_proba(x[3_000:6_000]), y[3_000:6_000])

    assert calibration.fitted and calibration.kind == "binary" and calibration.n_rows == 3_000
    assert calibration.ece_before > 0.05
    assert calibration.ece_after < calibration.ece_before / 2
    scores = model.predict_proba(x[6_000:])[:, 1]
    before = expected_calibration_error(scores, y[6_000:])
    after = expected_calibration_error(calibration.apply(scores), y[6_000:])
    assert before > 0.05 and after < before / 2  # on rows neither fit saw

    stored = json.loads(json.dumps(calibration.to_dict(), allow_nan=False))
    assert stored["method"] == "isotonic" and len(stored["x"]) == len(stored["y"]) > 2
    restored = Calibration.from_dict(stored)
    assert restored == calibration
    np.testing.assert_array_equal(restored.apply(scores), calibration.apply(scores))


def test_a_calibrated_model_is_left_alone() -> None:
    rng = np.random.default_rng(1)
    p = rng.random(40_000)
    outcome = rng.random(40_000) < p  # calibrated by construction
    calibration = fit_calibration(p, outcome)
    assert not calibration.fitted and calibration.ece_before < 0.02
    assert calibration.ece_after == calibration.ece_before
    assert calibration.to_dict()["method"] == "identity"
    np.testing.assert_array_equal(calibration.apply(p[:10]), p[:10])
    assert Calibration.from_dict(calibration.to_dict()) == calibration


def test_ece_by_hand() -> None:
    # Two bins of 10 (n_bins=2): [0.2, 0.2] with one positive, [0.9, 0.7] with two.
    ece = expected_calibration_error([0.2, 0.2, 0.9, 0.7], [1, 0, 1, 1], n_bins=2)
    assert ece == pytest.approx((abs(1 - 0.4) + abs(2 - 1.6)) / 4)


# --- drops against a reference -----------------------------------------------------------------


def test_drops_are_positive_when_worse_whatever_the_direction() -> None:
    reference = {"roc_auc": 0.90, "accuracy": 0.85, "log_loss": 0.30, "rmse": 1.0, "extra": 1.0}
    current = {"roc_auc": 0.82, "accuracy": 0.88, "log_loss": 0.45, "rmse": 0.8, "r2": 0.5}

    drops = compare_with_reference(current, reference, higher_is_better={"extra": True})

    assert drops == pytest.approx(
        {"roc_auc_drop": 0.08, "accuracy_drop": -0.03, "log_loss_drop": 0.15, "rmse_drop": -0.2}
    )
    assert compare_with_reference({"roc_auc": None}, {"roc_auc": 0.9}) == {"roc_auc_drop": None}
    with pytest.raises(InvalidInput, match="Unknown direction"):
        compare_with_reference({"custom": 1.0}, {"custom": 2.0})
    with pytest.raises(InvalidInput, match="No metric in common"):
        compare_with_reference({"rmse": 1.0}, {"accuracy": 0.5})
    with pytest.raises(InvalidInput, match="mapping or a report"):
        compare_with_reference([0.5], {"accuracy": 0.5})  # type: ignore[arg-type]


def test_report_to_dict_turns_nan_into_none() -> None:
    report = PerformanceReport("estimated", "binary", 0, 0, {"accuracy": math.nan})
    assert json.dumps(report.to_dict(), allow_nan=False)
    assert report.to_dict()["label_coverage"] is None
    assert report.to_dict()["metrics"] == {"accuracy": None}


# --- bad inputs ----------------------------------------------------------------------------------


def test_bad_inputs_are_invalid_input(world: World, scenarios: dict[str, pd.DataFrame]) -> None:
    joined = scenarios["unshifted"].iloc[:200]
    with pytest.raises(InvalidInput, match="Unknown task"):
        realized_performance(joined, "ranking")
    with pytest.raises(InvalidInput, match="not a fixed pandas frequency"):
        realized_performance(joined, "binary", freq="banana")
    with pytest.raises(InvalidInput, match="two classes"):
        realized_performance(joined.assign(classes=[["a", "b", "c"]] * 200), "binary")
    with pytest.raises(InvalidInput, match=r"probabilities must lie in \[0, 1\]"):
        estimate_performance(joined.assign(proba=[[0.5, np.nan]] * 200), "binary")
    with pytest.raises(InvalidInput, match="200 of 200 rows have no logged proba"):
        estimate_performance(joined.assign(proba=None), "binary")
    with pytest.raises(InvalidInput, match="timestamps on every row"):
        estimate_performance(joined.assign(ts=1), "binary")
    with pytest.raises(InvalidInput, match="mix roles"):
        estimate_performance(joined.assign(role=["primary", "shadow"] * 100), "binary")
    confidence = fit_calibration(np.full((200, 3), 1 / 3), np.arange(200) % 3)
    with pytest.raises(InvalidInput, match="confidence calibration cannot"):
        estimate_performance(joined, "binary", calibration=confidence)
    with pytest.raises(InvalidInput, match="no ts, prediction"):
        estimate_performance(pd.DataFrame({"x": [1]}), "binary")
    with pytest.raises(InvalidInput, match="have no label column"):
        keys = pa.table({"request_id": ["a"], "row": [0], "ts": [0]})
        join_feedback(keys, keys)
    with pytest.raises(InvalidInput, match="must be a pyarrow Table"):
        join_feedback(joined, pa.table({"x": [1]}))
    with pytest.raises(InvalidInput, match="shape"):
        fit_calibration(np.full(200, 0.5), np.zeros(199))
    with pytest.raises(InvalidInput, match="at least 100"):
        fit_calibration(np.full(50, 0.5), np.arange(50) % 2)
    with pytest.raises(InvalidInput, match="same outcome"):
        fit_calibration(np.full(200, 0.5), np.zeros(200))
    with pytest.raises(InvalidInput, match=r"\[0, 1\]"):
        fit_calibration(np.full(200, 1.5), np.arange(200) % 2)
    with pytest.raises(InvalidInput, match="not among the classes"):
        fit_calibration(np.full((200, 2), 0.5), ["a"] * 200, classes=["b", "c"])
    with pytest.raises(InvalidInput, match="stored calibration"):
        Calibration.from_dict({"kind": "binary"})
    with pytest.raises(InvalidInput, match="non-decreasing"):
        Calibration.from_dict({**world.calibration.to_dict(), "y": [0.9, 0.1]})
