"""Gates, promotion and rollback through the Python API, on real models in a real workspace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import shipyard as sy
from shipyard.core.errors import ConfigError, Conflict, InvalidInput, NotFound
from shipyard.evaluation._gates import GateResult, gate
from shipyard.evaluation._promote import promote, rollback
from shipyard.registry import registry_service
from shipyard.tracking import tracking_service
from tests.evaluate.gating import (
    FEW,
    MANY,
    NAME,
    TARGET,
    TESTS_RESAMPLES,
    frames,
    register,
    sqlite_workspace,
)

CUSTOM = "tests.evaluate.custom_gates"


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[pd.DataFrame, ...]]:
    """(train, holdout) in a workspace whose ``cancer@champion`` is a weak model (version 1)."""
    with sqlite_workspace(tmp_path / "ws", monkeypatch):
        train, holdout = frames()
        register(train, FEW, alias="champion")
        yield train, holdout


def run_gate(model_uri: str, holdout: pd.DataFrame, **options: Any) -> GateResult:
    options.setdefault("slices", ["size"])
    return gate(model_uri, holdout, TARGET, n_resamples=TESTS_RESAMPLES, latency=False, **options)  # type: ignore[arg-type]


def test_an_identical_model_passes_and_the_verdict_is_kept_everywhere(
    data: tuple[pd.DataFrame, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, holdout = data
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    same = register(train, FEW)
    result = run_gate(same.uri, holdout, report_dir=tmp_path / "reports")

    assert result.passed and result.against_uri == "models:/cancer/1"
    verdicts = {c.metric: c.actual for c in result.checks}
    assert verdicts["roc_auc"] == verdicts["log_loss"] == "no significant difference"
    assert result.comparison is not None and result.comparison.deltas["roc_auc"].delta == 0

    markdown = (tmp_path / "reports" / "gate-report.md").read_text()
    assert "| rule | metric | champion | challenger | delta [CI] | verdict | result |" in markdown
    assert "| no significant regression | roc_auc |" in markdown
    assert "size=large" in markdown and "Gate PASSED: models:/cancer/2" in markdown
    page = (tmp_path / "reports" / "gate-report.html").read_text()
    assert page.count("src='data:image/png;base64,") == 4  # ROC, PR, calibration, slices
    assert summary.read_text() == "# earlier step\n" + markdown + "\n"

    service = tracking_service()
    run = service.get_run(str(result.run_id))
    assert run.tags["shipyard.kind"] == "gate" and run.tags["shipyard.gate.status"] == "passed"
    assert service.get_artifact(run.id, "gate/gate-report.md").decode() == markdown
    stored = json.loads(service.get_artifact(run.id, "gate/result.json"))
    assert stored["status"] == "passed" and stored["checks"][0]["outcome"] == "pass"
    children = sy.search_runs(None, f"parent_id = '{run.id}'").runs
    assert sorted(r.tags["shipyard.model_uri"] for r in children) == [
        "models:/cancer/1",
        "models:/cancer/2",
    ]
    tags = registry_service().get_version(NAME, 2).tags
    assert tags["shipyard.gate.status"] == "passed"
    assert tags["shipyard.gate.run_id"] == run.id
    assert tags["shipyard.gate.against"] == "models:/cancer/1"
    event = sy.model_history(NAME)[-1]
    assert (event.action, event.version) == ("set_tags", 2)
    assert event.reason == "gate passed against models:/cancer/1 on given data"


def test_a_better_model_is_promoted_with_its_evidence_and_rolled_back(
    data: tuple[pd.DataFrame, ...],
) -> None:
    train, holdout = data
    better = register(train, MANY)
    result = run_gate(better.uri, holdout)
    assert result.passed
    assert {c.actual for c in result.checks} == {"better"}

    moved = promote(NAME, better.version)
    assert moved.aliases == ("champion",)
    event = sy.model_history(NAME)[-1]
    assert (event.action, event.version, event.reason) == (
        "set_alias",
        2,
        f"gate passed (run {result.run_id})",
    )
    assert event.detail == {
        "alias": "champion",
        "previous_version": 1,
        "gate_status": "passed",
        "gate_run_id": result.run_id,
        "gate_against": "models:/cancer/1",
        "gate_report": f"runs:/{result.run_id}/gate/gate-report.md",
        "forced": False,
    }
    tracking_service().get_artifact(str(result.run_id), "gate/gate-report.md")  # it is there

    stale = register(train, MANY[:-1])  # gated against version 1, which is no longer champion
    assert run_gate(stale.uri, holdout, against=1).passed
    with pytest.raises(
        Conflict,
        match=r"compared it with models:/cancer/1, but champion is now "
        "models:/cancer/2",
    ):
        promote(NAME, stale.version)

    back = rollback(NAME, reason="pager went off")
    assert back.version == 1 and back.aliases == ("champion",)
    undo = sy.model_history(NAME)[-1]
    assert undo.reason == "pager went off"
    assert undo.detail["rollback"] is True and undo.detail["rolled_back_from"] == 2
    with pytest.raises(Conflict, match="nothing to roll back to"):
        rollback(NAME)
    promote(NAME, stale.version, force=True, reason="try it")
    assert rollback(NAME).version == 1
    with pytest.raises(NotFound, match="no alias 'staging'"):
        rollback(NAME, "staging")


def test_promotion_needs_a_passed_gate_or_a_forced_reason(
    data: tuple[pd.DataFrame, ...],
) -> None:
    train, holdout = data
    worse = register(train, FEW, shuffle=True)
    with pytest.raises(Conflict, match=r"Refusing to promote models:/cancer/2 .* never been gated"):
        promote(NAME, 2)
    result = run_gate(worse.uri, holdout)
    assert not result.passed
    roc = next(c for c in result.checks if c.metric == "roc_auc")
    assert (roc.actual, roc.outcome) == ("worse", "fail")
    with pytest.raises(Conflict, match=r"failed its latest gate \(see runs:/.*/gate/gate-report"):
        promote(NAME, 2)
    with pytest.raises(InvalidInput, match="Forcing a promotion needs a reason"):
        promote(NAME, 2, force=True, reason="  ")
    promote(NAME, 2, force=True, reason="hotfix: the old model is broken")
    event = sy.model_history(NAME)[-1]
    assert event.reason == "hotfix: the old model is broken"
    assert event.detail["forced"] is True and event.detail["gate_status"] == "failed"
    assert sy.get_model_version(NAME, 2).aliases == ("champion",)


def test_without_a_champion_only_absolute_rules_and_custom_gates_apply(
    data: tuple[pd.DataFrame, ...], tmp_path: Path
) -> None:
    train, holdout = data
    policy = tmp_path / "policy.toml"
    policy.write_text(
        "[gates]\n"
        'roc_auc = "no significant regression"\n'
        "roc_auc_min = 0.95\n"
        "worst_slice_roc_auc_min = 0.9\n"
        "size_mb_max = 50\n"
        f'custom = ["{CUSTOM}:no_nan_predictions", "{CUSTOM}:broken"]\n'
    )
    better = register(train, MANY)
    result = run_gate(better.uri, holdout, against="staging", policy=policy)
    assert result.against_uri is None and result.comparison is None
    assert result.notes == (
        "models:/cancer@staging does not exist yet: only absolute rules apply.",
    )
    outcomes = [(c.rule, c.outcome, c.detail) for c in result.checks]
    assert outcomes[0] == ("no significant regression", "skip", "no champion")
    assert [o[1] for o in outcomes[1:]] == ["pass", "pass", "pass", "pass", "fail"]
    assert outcomes[2][2].endswith("at size=large")
    assert outcomes[5] == (
        f"custom {CUSTOM}:broken",
        "fail",
        "RuntimeError: the feature store is down",
    )
    assert not result.passed and result.policy_source == str(policy)
    assert sy.get_model_version(NAME, 2).tags["shipyard.gate.against"] == "none"

    by_number = run_gate(better.uri, holdout, against=1, policy={"roc_auc": "better"})
    assert by_number.passed and by_number.against_uri == "models:/cancer/1"
    with pytest.raises(NotFound, match="has no version 7"):
        run_gate(better.uri, holdout, against=7)


def test_a_bad_policy_fails_before_anything_runs(data: tuple[pd.DataFrame, ...]) -> None:
    _, holdout = data
    runs_before = len(sy.search_runs(None).runs)
    with pytest.raises(ConfigError, match=r"roc_auc_min must be a number, got 'high'"):
        run_gate("models:/cancer/1", holdout, policy={"roc_auc_min": "high"})
    with pytest.raises(ConfigError, match="rules on metrics this task does not report: rmse_max"):
        run_gate("models:/cancer/1", holdout, policy={"rmse_max": 3})
    assert "shipyard.gate.status" not in sy.get_model_version(NAME, 1).tags
    assert len(sy.search_runs(None).runs) == runs_before  # refused before evaluating anything


def test_the_target_is_the_one_column_the_model_does_not_take(
    data: tuple[pd.DataFrame, ...],
) -> None:
    _, holdout = data
    plain = holdout[[*FEW, TARGET]]
    result = gate("models:/cancer/1", plain, n_resamples=TESTS_RESAMPLES, latency=False)
    assert result.target == TARGET and result.passed
    assert result.notes == (
        "models:/cancer/1 is models:/cancer@champion itself: every difference is zero.",
    )
    with pytest.raises(InvalidInput, match=r"2 columns the model does not take \(benign, size\)"):
        gate("models:/cancer/1", holdout[[*FEW, TARGET, "size"]])
    with pytest.raises(InvalidInput, match=r"29 columns .*\(mean radius, .* … 21 more\)"):
        gate("models:/cancer/1", holdout.drop(columns=["size"]))
    sy.log_dataset(plain, "cancer-holdout")
    from_store = gate("models:/cancer/1", "cancer-holdout@latest", against=None, latency=False)
    assert from_store.dataset_ref == "cancer-holdout:1" and from_store.target == TARGET
    assert from_store.notes == ("No champion asked for: only absolute rules apply.",)


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_regression_and_multiclass_gates_draw_their_own_plots(
    task: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.datasets import load_diabetes, load_iris
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    loader, estimator, rule = (
        (load_diabetes, Ridge, {"rmse": "no significant regression", "rmse_max": 80})
        if task == "regression"
        else (load_iris, LogisticRegression, {"accuracy_min": 0.8})
    )
    frame = loader(as_frame=True).frame
    frame["part"] = (frame.index % 2).map({0: "even", 1: "odd"})
    features = [c for c in frame.columns if c not in ("target", "part")]
    with sqlite_workspace(tmp_path / "ws", monkeypatch):
        for columns in (features[:2], features):
            model = make_pipeline(StandardScaler(), estimator()).fit(
                frame[columns], frame["target"]
            )
            with sy.start_run() as run:
                ref = run.log_model(model, "model", input_example=frame[columns].head(3))
            sy.set_alias("m", "champion", sy.register_model(ref, "m").version)
        sy.set_alias("m", "champion", 1)
        result = gate(
            "models:/m/2", frame, "target", slices=["part"], policy=rule,
            n_resamples=TESTS_RESAMPLES, latency=False, report_dir=tmp_path,
        )  # fmt: skip
    assert result.task == task and result.passed, [c.to_dict() for c in result.checks]
    page = (tmp_path / "gate-report.html").read_text()
    drawn = "Residuals" if task == "regression" else "Calibration"
    assert f"<img alt='{drawn}'" in page and "<img alt='Slices'" in page
    assert "ROC" not in page
