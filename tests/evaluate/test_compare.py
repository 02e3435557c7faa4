"""``compare``: paired bootstrap verdicts on real models, per-slice deltas, the worst slice,
interval coverage on a known population, and refusals of unpaired comparisons."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as m
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shipyard.core.errors import InvalidInput
from shipyard.evaluation import Evaluation, Verdict, compare, evaluate, load_evaluation
from shipyard.evaluation._records import TASK_METRICS
from tests.evaluate import evaluation_of, register, split, sqlite_workspace

WEAK = ["mean texture", "mean smoothness"]  # two features that say little about the tumour


@pytest.fixture(scope="module")
def cancer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Evaluation]]:
    """Evaluations on the same held-out rows of: a model on all features, the same model
    registered again, one on two weak features and one trained on shuffled labels."""
    with sqlite_workspace(tmp_path_factory.mktemp("ws")):
        train, test = split("breast_cancer")
        features = train.drop(columns="target")
        shuffled = np.random.default_rng(0).permutation(train.target.to_numpy())
        fits = {
            "full": (features, train.target),
            "twin": (features, train.target),
            "weak": (features[WEAK], train.target),
            "shuffled": (features, shuffled),
        }
        evaluations = {}
        for name, (x, y) in fits.items():
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
            version = register(model, x, "cancer")
            evaluations[name] = evaluate(
                version.uri, test, "target", slices=["mean radius"], latency=False
            )
        yield evaluations


def test_an_identical_model_makes_no_significant_difference(cancer: dict[str, Any]) -> None:
    got = compare(cancer["full"], cancer["twin"])
    assert (got.champion_uri, got.challenger_uri) == ("models:/cancer/1", "models:/cancer/2")
    assert (got.task, got.primary_metric) == ("binary", "roc_auc")
    assert list(got.deltas) == list(TASK_METRICS["binary"])
    for delta in got.deltas.values():
        assert (delta.delta, delta.ci_low, delta.ci_high) == (0.0, 0.0, 0.0)
        assert delta.verdict is Verdict.NO_DIFFERENCE
    assert all(s.delta == 0 for s in got.slice_deltas)


def test_a_model_of_shuffled_labels_is_worse(cancer: dict[str, Any]) -> None:
    got = compare(cancer["full"], cancer["shuffled"])
    auc = got.deltas["roc_auc"]
    assert auc.verdict is Verdict.WORSE and auc.ci_high < 0
    assert auc.delta == pytest.approx(
        cancer["shuffled"].metrics["roc_auc"] - cancer["full"].metrics["roc_auc"]
    )
    assert got.deltas["log_loss"].verdict is Verdict.WORSE  # lower is better: it went up
    assert compare(cancer["shuffled"], cancer["full"]).deltas["roc_auc"].verdict is Verdict.BETTER


def test_a_model_with_more_features_is_better(cancer: dict[str, Any]) -> None:
    got = compare(cancer["weak"], cancer["full"], n_resamples=500, seed=3, confidence=0.9)
    assert (got.n_resamples, got.seed, got.confidence) == (500, 3, 0.9)
    for name in ("roc_auc", "pr_auc", "accuracy"):
        assert got.deltas[name].verdict is Verdict.BETTER, name
        assert got.deltas[name].delta > 0 and got.deltas[name].higher_is_better
    for name in ("log_loss", "brier"):
        assert got.deltas[name].verdict is Verdict.BETTER, name
        assert got.deltas[name].ci_high < 0 and not got.deltas[name].higher_is_better
    delta = got.deltas["roc_auc"]
    assert delta.ci_low < delta.delta < delta.ci_high


def test_slice_deltas_and_the_worst_slice(cancer: dict[str, Any]) -> None:
    champion, challenger = cancer["full"], cancer["weak"]
    got = compare(champion, challenger, metrics=["roc_auc", "accuracy"])
    assert list(got.deltas) == ["roc_auc", "accuracy"]
    assert [(s.column, s.value) for s in got.slice_deltas] == [
        ("mean radius", q) for q in ("q1", "q2", "q3", "q4")
    ]
    for s in got.slice_deltas:
        theirs = challenger.slices["mean radius"][s.value]
        assert s.metric == "roc_auc" and s.challenger == theirs["roc_auc"]
        assert s.delta == pytest.approx(s.challenger - s.champion)
        assert s.n == theirs["n"] == np.sum(challenger.slice_values["mean radius"] == s.value)
    worst = min(got.slice_deltas, key=lambda s: s.challenger)
    assert got.worst_slice == worst
    data = json.loads(json.dumps(got.to_dict(), allow_nan=False))
    assert data["worst_slice"]["value"] == worst.value
    assert data["deltas"]["roc_auc"]["verdict"] == got.deltas["roc_auc"].verdict.value


def test_evaluations_loaded_from_their_runs_compare_the_same(cancer: dict[str, Any]) -> None:
    fresh = compare(cancer["weak"], cancer["full"], n_resamples=200)
    champion = load_evaluation(cancer["weak"].run_id)
    challenger = load_evaluation(cancer["full"].run_id)
    assert compare(champion, challenger, n_resamples=200).to_dict() == fresh.to_dict()


def test_unpaired_comparisons_are_refused(cancer: dict[str, Any]) -> None:
    full = cancer["full"]
    rows = split("breast_cancer")[1].iloc[:-1]
    fewer = evaluate(full.model_uri, rows, "target", log=False, latency=False)
    with pytest.raises(InvalidInput, match=r"different rows.*227 rows"):
        compare(full, fewer)
    with pytest.raises(InvalidInput, match="binary task and the challenger as regression"):
        compare(full, dataclasses.replace(full, task="regression"))
    bare = Evaluation.from_dict(full.to_dict())
    with pytest.raises(InvalidInput, match=r"carries no predictions.*load_evaluation"):
        compare(full, bare)
    with pytest.raises(InvalidInput, match="Unknown binary metric"):
        compare(full, cancer["twin"], metrics=["rmse"])
    with pytest.raises(InvalidInput, match="n_resamples must be at least 1"):
        compare(full, cancer["twin"], n_resamples=0)
    with pytest.raises(InvalidInput, match="confidence"):
        compare(full, cancer["twin"], confidence=95)
    y = np.array([0, 1] * 10)
    one = evaluation_of("binary", y, y, y * 0.8 + 0.1, [0, 1])
    other = evaluation_of("binary", 1 - y, y, y * 0.8 + 0.1, [0, 1])
    with pytest.raises(InvalidInput, match="different targets"):
        compare(one, other)


def _population(n: int, rng: np.random.Generator) -> tuple[np.ndarray[Any, Any], ...]:
    """Labels and two models' scores: the challenger's signal is a little stronger."""
    y = rng.integers(0, 2, n)
    champion = 1 / (1 + np.exp(-(1.0 * (2 * y - 1) + rng.normal(size=n))))
    challenger = 1 / (1 + np.exp(-(1.3 * (2 * y - 1) + rng.normal(size=n))))
    return y, champion, challenger


def test_the_interval_covers_the_true_delta() -> None:
    rng = np.random.default_rng(0)
    y, a, b = _population(400_000, rng)
    true_auc = m.roc_auc_score(y, b) - m.roc_auc_score(y, a)
    true_loss = m.log_loss(y, b) - m.log_loss(y, a)
    covered = {"roc_auc": 0, "log_loss": 0}
    trials = 40
    for trial in range(trials):
        rows = rng.choice(len(y), 1500, replace=False)
        pair = [
            evaluation_of("binary", y[rows], (s[rows] >= 0.5).astype(int), s[rows], [0, 1])
            for s in (a, b)
        ]
        got = compare(*pair, n_resamples=300, seed=trial, metrics=["roc_auc", "log_loss"])
        for name, truth in (("roc_auc", true_auc), ("log_loss", true_loss)):
            covered[name] += got.deltas[name].ci_low <= truth <= got.deltas[name].ci_high
    # A 95% interval misses now and then; with 40 trials, fewer than 34 hits is very unlikely.
    assert covered["roc_auc"] >= 34 and covered["log_loss"] >= 34, covered


def test_regression_and_multiclass_verdicts() -> None:
    rng = np.random.default_rng(4)
    truth = rng.normal(size=800) * 10
    close, far = truth + rng.normal(size=800), truth + rng.normal(size=800) * 3
    champion = evaluation_of("regression", truth, far, far)
    challenger = evaluation_of("regression", truth, close, close)
    got = compare(champion, challenger, n_resamples=300)
    assert got.primary_metric == "rmse"
    assert {d.metric: d.verdict for d in got.deltas.values()} == {
        "rmse": Verdict.BETTER,
        "mae": Verdict.BETTER,
        "r2": Verdict.BETTER,
    }
    y = rng.integers(0, 3, 600)
    sharp = np.full((600, 3), 0.1)
    sharp[np.arange(600), y] = 0.8
    blur = np.full((600, 3), 1 / 3)
    blur[np.arange(600), y] += 0.01
    blur /= blur.sum(axis=1, keepdims=True)
    pair = [evaluation_of("multiclass", y, p.argmax(axis=1), p, [0, 1, 2]) for p in (sharp, blur)]
    got = compare(*pair, n_resamples=300)
    assert got.deltas["log_loss"].verdict is Verdict.WORSE
    assert got.deltas["accuracy"].verdict is Verdict.NO_DIFFERENCE  # both always right
