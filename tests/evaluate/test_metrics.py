"""Point metrics, slices, latency and the evaluation records, on plain arrays (no store)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as m

from shipyard.evaluation import HIGHER_IS_BETTER, Evaluation, Verdict
from shipyard.evaluation._metrics import (
    measure_latency,
    point_metrics,
    slice_labels,
    slice_metrics,
)
from shipyard.evaluation._records import PRIMARY_METRIC, TASK_METRICS
from tests.evaluate import evaluation_of


def test_binary_metrics_are_sklearns_with_the_second_class_positive() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.choice(np.array(["no", "yes"], dtype=object), 300)
    score = np.clip((y_true == "yes") * 0.3 + rng.random(300) * 0.7, 0, 1)
    y_pred = np.where(score >= 0.4, "yes", "no")
    got = point_metrics("binary", y_true, y_pred, score, ["no", "yes"])
    positive = (y_true == "yes").astype(int)
    predicted = (y_pred == "yes").astype(int)
    assert list(got) == list(TASK_METRICS["binary"])
    assert got == {
        "roc_auc": pytest.approx(m.roc_auc_score(positive, score), abs=1e-12),
        "pr_auc": pytest.approx(m.average_precision_score(positive, score), abs=1e-12),
        "log_loss": pytest.approx(m.log_loss(y_true, np.c_[1 - score, score]), abs=1e-12),
        "brier": pytest.approx(np.mean((score - positive) ** 2), abs=1e-12),
        "accuracy": pytest.approx(np.mean(positive == predicted), abs=1e-12),
        "f1": pytest.approx(m.f1_score(y_true, y_pred, pos_label="yes"), abs=1e-12),
        "precision": pytest.approx(m.precision_score(y_true, y_pred, pos_label="yes")),
        "recall": pytest.approx(m.recall_score(y_true, y_pred, pos_label="yes"), abs=1e-12),
    }


def test_multiclass_and_regression_metrics() -> None:
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 3, 200)
    proba = rng.dirichlet([1, 1, 1], 200)
    proba[np.arange(200), y_true] += 1
    proba /= proba.sum(axis=1, keepdims=True)
    y_pred = proba.argmax(axis=1)
    got = point_metrics("multiclass", y_true, y_pred, proba, [0, 1, 2])
    assert got == {
        "accuracy": pytest.approx(m.accuracy_score(y_true, y_pred)),
        "macro_f1": pytest.approx(m.f1_score(y_true, y_pred, average="macro")),
        "log_loss": pytest.approx(m.log_loss(y_true, proba)),
    }
    truth = rng.normal(size=50)
    guess = truth + rng.normal(scale=0.5, size=50)
    assert point_metrics("regression", truth, guess, guess, None) == {
        "rmse": pytest.approx(math.sqrt(m.mean_squared_error(truth, guess))),
        "mae": pytest.approx(m.mean_absolute_error(truth, guess)),
        "r2": pytest.approx(m.r2_score(truth, guess)),
    }


def test_numeric_columns_slice_into_quartiles_and_others_by_value() -> None:
    ages = pd.Series(np.r_[np.arange(100, dtype=float), [np.nan, np.nan]])
    labels, order = slice_labels(ages)
    assert order == ["q1", "q2", "q3", "q4", "missing"]
    assert labels[:3].tolist() == ["q1"] * 3 and labels[99] == "q4"
    assert [int((labels == q).sum()) for q in order] == [25, 25, 25, 25, 2]

    plans = pd.Series(["pro"] * 5 + ["basic"] * 3 + [None] + [f"rare{i}" for i in range(30)])
    labels, order = slice_labels(plans)
    assert order[:2] == ["pro", "basic"] and order[-2:] == ["other", "missing"]
    assert labels[8] == "missing" and labels[-1] == "other"
    assert len(order) == 20 + 2  # the 20 most frequent values, the rest, the missing

    few = pd.Series([1, 2, 2, 3, 3, 3])  # few distinct numbers: one slice per value
    assert slice_labels(few)[1] == ["3", "2", "1"]


def test_small_or_single_class_slices_have_no_auc_but_keep_their_size() -> None:
    y_true = np.array([0, 1] * 20 + [1] * 12)
    score = np.linspace(0, 1, len(y_true))
    y_pred = (score >= 0.5).astype(int)
    labels = np.array(["big"] * 40 + ["pure"] * 6 + ["tiny"] * 6, dtype=object)
    labels[40:46] = "pure"
    y_true[46:] = [0, 1, 0, 1, 0, 1]
    got = slice_metrics("binary", y_true, y_pred, score, [0, 1], labels, ["big", "pure", "tiny"])
    assert got["big"]["n"] == 40 and "roc_auc" in got["big"] and "pr_auc" in got["big"]
    assert got["pure"]["n"] == 6 and "roc_auc" not in got["pure"]  # one class
    assert got["tiny"]["n"] == 6 and "roc_auc" not in got["tiny"]  # under 10 rows
    assert got["tiny"]["accuracy"] == pytest.approx(np.mean(y_true[46:] == y_pred[46:]))


def test_latency_is_measured_on_rows_of_the_data_and_bounded() -> None:
    frame = pd.DataFrame({"a": np.arange(2000.0), "b": np.ones(2000)})
    calls: list[int] = []

    def predict(rows: pd.DataFrame) -> np.ndarray[Any, Any]:
        calls.append(len(rows))
        return rows["a"].to_numpy()

    got = measure_latency(predict, frame)
    assert set(got) == {"latency_p50_ms", "latency_p95_ms", "batch_rows_per_s"}
    assert 0 < got["latency_p50_ms"] <= got["latency_p95_ms"]
    assert got["batch_rows_per_s"] > 0
    assert set(calls) == {1, 1024} and len(calls) <= 1 + 500 + 20


def test_records_round_trip_through_strict_json() -> None:
    y = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0])
    score = np.linspace(0.05, 0.95, 12)
    evaluation = evaluation_of(
        "binary", y, (score >= 0.5).astype(int), score, [0, 1], slices={"g": np.array(["a"] * 12)}
    )
    data = json.loads(json.dumps(evaluation.to_dict(), allow_nan=False))
    assert data["size_mb"] is None  # NaN: not measured
    assert data["slices"]["g"]["a"]["n"] == 12
    again = Evaluation.from_dict(data)
    assert again == evaluation and again.y_true is None
    assert math.isnan(again.size_mb)


def test_metric_directions_cover_every_task_metric() -> None:
    for task, names in TASK_METRICS.items():
        assert PRIMARY_METRIC[task] in names
        assert set(names) <= set(HIGHER_IS_BETTER)
    assert not HIGHER_IS_BETTER["log_loss"] and HIGHER_IS_BETTER["roc_auc"]
    assert Verdict.NO_DIFFERENCE == "no significant difference"


def test_importing_evaluate_stays_light() -> None:
    code = (
        "import sys, shipyard.evaluation; "
        "print(sorted(m for m in ('numpy', 'pandas', 'sklearn', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
