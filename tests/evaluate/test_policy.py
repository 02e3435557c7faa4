"""Gate policies as plain data: parsing, validation messages, and rules applied to hand-built
evaluations and comparisons (no models, no store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shipyard.core.errors import ConfigError
from shipyard.evaluation._custom import run_custom_gates
from shipyard.evaluation._policy import Policy, Rule, check_rules, load_policy, parse_policy
from shipyard.evaluation._promote import rollback_target
from shipyard.evaluation._records import (
    HIGHER_IS_BETTER,
    TASK_METRICS,
    Comparison,
    Evaluation,
    MetricDelta,
    Verdict,
)
from shipyard.registry import AuditEvent

BINARY = TASK_METRICS["binary"]


def evaluation(**changes: Any) -> Evaluation:
    values: dict[str, Any] = {
        "model_uri": "models:/churn/2",
        "model_name": "churn",
        "model_version": 2,
        "dataset_ref": "churn:1",
        "data_digest": "abc123",
        "task": "binary",
        "n_rows": 200,
        "metrics": {"roc_auc": 0.91, "log_loss": 0.3, "accuracy": 0.88},
        "slices": {
            "plan": {
                "basic": {"roc_auc": 0.93, "n": 120.0},
                "pro": {"roc_auc": 0.72, "n": 70.0},
                "team": {"n": 10.0},  # too small for an AUC: left out, not NaN
            }
        },
        "latency": {"latency_p50_ms": 0.4, "latency_p95_ms": 1.5, "batch_rows_per_s": 9e5},
        "size_mb": 0.02,
        "y_score": np.array([0.1, 0.9]),
    }
    return Evaluation(**{**values, **changes})


def delta(metric: str, change: float, verdict: Verdict) -> MetricDelta:
    higher = HIGHER_IS_BETTER[metric]
    return MetricDelta(
        metric, 0.9, 0.9 + change, change, change - 0.01, change + 0.01, higher, verdict
    )


def comparison(*deltas: MetricDelta) -> Comparison:
    return Comparison(
        "models:/churn/1",
        "models:/churn/2",
        "binary",
        "roc_auc",
        {d.metric: d for d in deltas},
        [],
        None,
        200,
        0,
        0.95,
    )


def test_a_gates_table_becomes_rules_of_three_kinds() -> None:
    policy = parse_policy(
        {
            "roc_auc": "No  Significant regression",
            "log_loss": "no regression",
            "accuracy": "better",
            "roc_auc_min": 0.8,
            "latency_p95_ms_max": 20,
            "worst_slice_roc_auc_min": 0.7,
            "custom": "tests.evaluate.custom_gates:no_nan_predictions",
        },
        HIGHER_IS_BETTER,
        source="test",
    )
    assert [(r.kind, r.metric, r.value) for r in policy.rules] == [
        ("relative", "roc_auc", "no significant regression"),
        ("relative", "log_loss", "no regression"),
        ("relative", "accuracy", "better"),
        ("min", "roc_auc", 0.8),
        ("max", "latency_p95_ms", 20.0),
        ("worst_slice_min", "roc_auc", 0.7),
    ]
    assert [r.text for r in policy.rules[3:]] == [">= 0.8", "<= 20", "worst slice >= 0.7"]
    assert policy.custom == ("tests.evaluate.custom_gates:no_nan_predictions",)
    assert not policy.is_default


def test_every_problem_is_reported_at_once_with_the_accepted_forms() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_policy(
            {
                "roc_auc": "not worse please",
                "roc_auc_min": "0.8",
                "rmse_max": True,
                "accuracy_min": float("nan"),
                "auc": "better",
                "latency_p95_ms": "no regression",
                "worst_slice_size_mb_max": 3,
                "custom": [1],
            },
            HIGHER_IS_BETTER,
            source="ci.toml",
        )
    message = str(caught.value)
    assert "The gate policy (ci.toml) is invalid" in message
    for expected in (
        "roc_auc = 'not worse please' is not a rule",
        '"no significant regression", "no regression", "better"',
        "roc_auc_min must be a number, got '0.8'",
        "rmse_max must be a number, got True",
        "accuracy_min must be a number, got nan",
        "'auc' names no known metric (known: accuracy, batch_rows_per_s",
        "latency_p95_ms takes only absolute rules (latency_p95_ms_max = NUMBER)",
        "worst_slice_size_mb_max: size_mb is not measured per slice",
        "custom must be a list of gate names, got [1]",
        "Accepted forms: METRIC =",
    ):
        assert expected in message, expected


def test_a_rule_on_a_metric_of_another_task_is_refused_once_the_task_is_known() -> None:
    policy = parse_policy({"rmse_max": 30, "roc_auc_min": 0.8}, HIGHER_IS_BETTER, source="x")
    with pytest.raises(ConfigError, match=r"rules on metrics this task does not report: rmse_max"):
        policy.rules_for(BINARY)
    assert len(policy.rules_for(TASK_METRICS["regression"] + ("roc_auc",))) == 2


def test_the_default_policy_asks_every_task_metric_for_no_significant_regression() -> None:
    rules = Policy().rules_for(BINARY)
    assert [r.metric for r in rules] == list(BINARY)
    assert {r.value for r in rules} == {"no significant regression"}
    only_custom = parse_policy({"custom": ["m:f"]}, HIGHER_IS_BETTER, source="x")
    assert only_custom.is_default and only_custom.rules_for(BINARY) == rules


def test_policies_load_from_a_file_a_mapping_or_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))
    assert load_policy(None, HIGHER_IS_BETTER).is_default  # no shipyard.toml
    (tmp_path / "shipyard.toml").write_text('[gates]\nroc_auc = "better"\n')
    found = load_policy(None, HIGHER_IS_BETTER)
    assert found.source == "[gates] of shipyard.toml" and found.rules[0].value == "better"
    policy_file = tmp_path / "strict.toml"
    policy_file.write_text("[gates]\nroc_auc_min = 0.95\n")
    assert load_policy(policy_file, HIGHER_IS_BETTER).rules[0].kind == "min"
    assert load_policy({"rmse_max": 1}, HIGHER_IS_BETTER).rules[0].metric == "rmse"
    (tmp_path / "bare.toml").write_text("roc_auc_min = 0.95\n")
    with pytest.raises(ConfigError, match=r"has no \[gates\] table"):
        load_policy(tmp_path / "bare.toml", HIGHER_IS_BETTER)
    with pytest.raises(ConfigError, match="Cannot read the gate policy"):
        load_policy(tmp_path / "missing.toml", HIGHER_IS_BETTER)
    (tmp_path / "broken.toml").write_text("[gates\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_policy(tmp_path / "broken.toml", HIGHER_IS_BETTER)


def test_relative_rules_follow_the_verdict_and_are_skipped_without_a_champion() -> None:
    rules = [
        Rule("roc_auc", "relative", "roc_auc", "no significant regression"),
        Rule("log_loss", "relative", "log_loss", "no regression"),
        Rule("accuracy", "relative", "accuracy", "better"),
    ]
    compared = comparison(
        delta("roc_auc", -0.004, Verdict.NO_DIFFERENCE),
        delta("log_loss", 0.002, Verdict.NO_DIFFERENCE),  # a lower-is-better metric went up
        delta("accuracy", 0.03, Verdict.BETTER),
    )
    checks = check_rules(rules, HIGHER_IS_BETTER, evaluation(), compared)
    assert [(c.passed, c.actual) for c in checks] == [
        (True, "no significant difference"),
        (False, "no significant difference"),
        (True, "better"),
    ]
    assert checks[0].detail == "no significant difference: delta -0.004 [-0.014, 0.006]"
    worse = check_rules(
        rules[:1], HIGHER_IS_BETTER, evaluation(), comparison(delta("roc_auc", -0.1, Verdict.WORSE))
    )
    assert not worse[0].passed and worse[0].outcome == "fail"
    alone = check_rules(rules, HIGHER_IS_BETTER, evaluation(), None)
    assert {(c.outcome, c.passed, c.detail) for c in alone} == {("skip", True, "no champion")}
    missing = check_rules(rules[:1], HIGHER_IS_BETTER, evaluation(), comparison())
    assert (missing[0].passed, missing[0].detail) == (False, "not compared")


def test_absolute_and_worst_slice_rules_read_the_challenger() -> None:
    policy = parse_policy(
        {
            "roc_auc_min": 0.9,
            "log_loss_max": 0.2,
            "latency_p95_ms_max": 20,
            "size_mb_max": 50,
            "batch_rows_per_s_min": 1e6,
            "worst_slice_roc_auc_min": 0.7,
            "worst_slice_log_loss_max": 0.5,
        },
        HIGHER_IS_BETTER,
        source="test",
    )
    checks = check_rules(policy.rules, HIGHER_IS_BETTER, evaluation(), None)
    assert [(c.metric, c.actual, c.passed) for c in checks] == [
        ("roc_auc", 0.91, True),
        ("log_loss", 0.3, False),
        ("latency_p95_ms", 1.5, True),
        ("size_mb", 0.02, True),
        ("batch_rows_per_s", 9e5, False),
        ("roc_auc", 0.72, True),
        ("log_loss", None, False),
    ]
    assert checks[5].detail == "0.72 at plan=pro"
    assert checks[6].detail == "no slice reports it"
    unsliced = check_rules(policy.rules[5:6], HIGHER_IS_BETTER, evaluation(slices={}), None)
    assert unsliced[0].detail == "no slices: pass --slice COLUMN" and not unsliced[0].passed
    unmeasured = check_rules(
        policy.rules[2:4], HIGHER_IS_BETTER, evaluation(latency={}, size_mb=float("nan")), None
    )
    assert [(c.passed, c.detail) for c in unmeasured] == [(False, "not measured")] * 2


def test_custom_gates_pass_fail_and_never_crash() -> None:
    module = "tests.evaluate.custom_gates"
    names = [
        f"{module}:no_nan_predictions",
        f"{module}:at_least_100_rows",
        f"{module}:explain",
        f"{module}:broken",
        f"{module}:forgetful",
        f"{module}:NOT_A_FUNCTION",
        f"{module}:missing",
        "no.such.module:gate",
        "not_an_entry_point",
    ]
    champion = evaluation(model_uri="models:/churn/1")
    checks = run_custom_gates(names, evaluation(), champion, None)
    assert [c.passed for c in checks] == [
        True,
        True,
        False,
        False,
        False,
        False,
        False,
        False,
        False,
    ]
    assert checks[0].rule == "no NaN predictions"
    assert checks[2].detail == "champion models:/churn/1 is still around"
    assert checks[3].detail == "RuntimeError: the feature store is down"
    assert "returned NoneType; a custom gate returns a GateCheck" in checks[4].detail
    assert (
        checks[5].detail == "TypeError: tests.evaluate.custom_gates:NOT_A_FUNCTION is a int, "
        "not a function"
    )
    assert checks[6].detail.startswith("AttributeError")
    assert checks[7].detail.startswith("ModuleNotFoundError")
    assert "no entry point 'not_an_entry_point' in the shipyard.gates group" in checks[8].detail
    assert run_custom_gates([f"{module}:explain"], evaluation(), None, None)[0].passed


def test_a_custom_gate_from_an_installed_package_entry_point() -> None:
    # tests/plugins/shipyard-flavor-echo registers it in the shipyard.gates group.
    (check,) = run_custom_gates(["at_least_ten_rows"], evaluation(), None, None)
    assert check.passed, check.detail
    (few,) = run_custom_gates(["at_least_ten_rows"], evaluation(n_rows=5), None, None)
    assert not few.passed and "only 5 rows" in few.detail


def _moved(
    version: int, previous: int | None, alias: str = "champion", **detail: Any
) -> AuditEvent:
    return AuditEvent(
        "churn",
        version,
        "set_alias",
        {"alias": alias, "previous_version": previous, **detail},
        None,
        None,
        0,
    )


def test_rollback_walks_back_through_moves_and_earlier_rollbacks() -> None:
    events = [_moved(1, None), _moved(2, 1), _moved(9, None, alias="staging"), _moved(3, 2)]
    assert rollback_target(events, "champion") == (3, 2)
    events.append(_moved(2, 3, rollback=True))
    assert rollback_target(events, "champion") == (2, 1)
    events.append(_moved(1, 2, rollback=True))
    assert rollback_target(events, "champion") == (1, None)
    assert rollback_target(events, "staging") == (9, None)
    deleted = AuditEvent("churn", 1, "delete_alias", {"alias": "champion"}, None, None, 0)
    assert rollback_target([*events, deleted], "champion") == (None, None)
