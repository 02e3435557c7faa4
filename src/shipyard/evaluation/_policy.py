"""Gate policies: the ``[gates]`` table read into rules, and the rules applied to an evaluation.

A policy is plain data and applying it is a pure function of the challenger's evaluation, the
champion's and their comparison, so a gate's verdict can be recomputed from what it recorded.
Three kinds of rule, told apart by the key::

    roc_auc = "no significant regression"   relative to the champion (also "no regression",
                                            "better"); skipped when there is no champion
    roc_auc_min = 0.8   rmse_max = 30       absolute, on the challenger's metric
    worst_slice_roc_auc_min = 0.7           absolute, on the challenger's worst slice
    custom = ["mypkg.gates:no_nan"]         custom gates, run by shipyard.evaluation._gates
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from shipyard.core.errors import ConfigError

if TYPE_CHECKING:
    from shipyard.evaluation._records import Comparison, Evaluation

__all__ = [
    "OPERATIONAL_METRICS",
    "RELATIVE_RULES",
    "GateCheck",
    "Policy",
    "Rule",
    "check_rules",
    "load_policy",
    "measured_value",
    "parse_policy",
]

NO_SIGNIFICANT_REGRESSION = "no significant regression"
NO_REGRESSION = "no regression"
BETTER = "better"
RELATIVE_RULES = (NO_SIGNIFICANT_REGRESSION, NO_REGRESSION, BETTER)
# Measured on the challenger alone (not resampled), so they take absolute rules only.
OPERATIONAL_METRICS = {
    "latency_p50_ms": False,
    "latency_p95_ms": False,
    "batch_rows_per_s": True,
    "size_mb": False,
}
_WORST = "worst_slice_"
_FORMS = (
    'METRIC = "no significant regression" | "no regression" | "better"; '
    "METRIC_min = NUMBER; METRIC_max = NUMBER; worst_slice_METRIC_min (or _max) = NUMBER; "
    'custom = ["module:function" or an entry-point name in shipyard.gates]'
)

RuleKind = Literal["relative", "min", "max", "worst_slice_min", "worst_slice_max"]


@dataclass(frozen=True)
class Rule:
    """One rule of a policy: ``key`` and ``value`` as written, the rest as understood."""

    key: str
    kind: RuleKind
    metric: str
    value: str | float  # the relative rule's words, or the bound

    @property
    def text(self) -> str:
        """How the rule reads in a verdict table: "better", ">= 0.8", "worst slice >= 0.7"."""
        if self.kind == "relative":
            return str(self.value)
        bound = f"{'>=' if self.kind.endswith('min') else '<='} {self.value:g}"
        return f"worst slice {bound}" if self.kind.startswith(_WORST) else bound


@dataclass(frozen=True)
class GateCheck:
    """The outcome of one rule or custom gate. A skipped check counts as passed."""

    rule: str
    metric: str | None
    expected: str | float | None
    actual: str | float | None
    passed: bool
    detail: str = ""
    skipped: bool = False
    kind: str = "custom"  # a Rule's kind for policy rules

    @property
    def outcome(self) -> str:
        return "skip" if self.skipped else "pass" if self.passed else "fail"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "outcome": self.outcome}


@dataclass(frozen=True)
class Policy:
    """Validated rules, the custom gates to run, and where they came from.

    With no rules configured (``is_default``), every metric of the task must show no
    significant regression against the champion; custom gates add to that, never replace it.
    """

    rules: tuple[Rule, ...] = ()
    custom: tuple[str, ...] = ()
    source: str = "default: no significant regression on every metric"

    @property
    def is_default(self) -> bool:
        return not self.rules

    def rules_for(self, metrics: Collection[str]) -> tuple[Rule, ...]:
        """The rules to apply to a task whose evaluation reports ``metrics``.

        Raises ``ConfigError`` naming every rule about a metric this task does not have.
        """
        if self.is_default:
            return tuple(
                Rule(m, "relative", m, NO_SIGNIFICANT_REGRESSION)
                for m in metrics
                if m not in OPERATIONAL_METRICS
            )
        known = set(metrics) | set(OPERATIONAL_METRICS)
        wrong = [r.key for r in self.rules if r.metric not in known]
        if wrong:
            raise ConfigError(
                f"The gate policy ({self.source}) has rules on metrics this task does not "
                f"report: {', '.join(wrong)}.",
                hint=f"Metrics of this task: {', '.join(sorted(known))}.",
            )
        return self.rules


def load_policy(
    policy: Policy | Mapping[str, Any] | str | Path | None, known: Mapping[str, bool]
) -> Policy:
    """A policy from a ``Policy``, a ``[gates]``-like mapping, a TOML file, or the workspace.

    ``known``: every metric name with whether higher is better. ``None`` reads the ``[gates]``
    table of the workspace's ``shipyard.toml``; an empty table is the default policy.
    """
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, Mapping):
        return parse_policy(policy, known, source="policy argument")
    if policy is not None:
        path = Path(policy)
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                f"Cannot read the gate policy {path}: {exc.strerror}.", hint="Check the path."
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}.", hint="Fix the syntax.") from None
        gates = table.get("gates")
        if not isinstance(gates, dict):
            raise ConfigError(
                f"The gate policy {path} has no [gates] table.",
                hint='Write the rules under [gates], e.g. roc_auc = "no significant regression".',
            )
        return parse_policy(gates, known, source=str(path))
    from shipyard.core.config import CONFIG_FILE, resolve_settings

    gates = resolve_settings().gates
    return parse_policy(gates, known, source=f"[gates] of {CONFIG_FILE}") if gates else Policy()


def parse_policy(table: Mapping[str, Any], known: Mapping[str, bool], *, source: str) -> Policy:
    """Read a ``[gates]`` table; every problem is reported at once in one ``ConfigError``."""
    rules: list[Rule] = []
    custom: tuple[str, ...] = ()
    problems: list[str] = []
    for key, value in table.items():
        try:
            if key == "custom":
                custom = _custom_names(value)
            else:
                rules.append(_rule(str(key), value, known))
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError(
            f"The gate policy ({source}) is invalid: {'; '.join(problems)}.",
            hint=f"Accepted forms: {_FORMS}.",
        )
    return Policy(tuple(rules), custom, source)


def _rule(key: str, value: Any, known: Mapping[str, bool]) -> Rule:
    metrics = {**known, **OPERATIONAL_METRICS}
    for suffix in ("min", "max"):
        stem = key.removesuffix(f"_{suffix}")
        if stem == key:
            continue
        worst = stem.startswith(_WORST)
        metric = stem.removeprefix(_WORST)
        if metric in metrics:
            if worst and metric in OPERATIONAL_METRICS:
                raise ValueError(f"{key}: {metric} is not measured per slice")
            kind: RuleKind = "worst_slice_min" if worst else "min"
            if suffix == "max":
                kind = "worst_slice_max" if worst else "max"
            return Rule(key, kind, metric, _bound(key, value))
    if key in OPERATIONAL_METRICS:
        raise ValueError(
            f"{key} takes only absolute rules ({key}_{'min' if metrics[key] else 'max'} = NUMBER)"
        )
    if key in metrics:
        return Rule(key, "relative", key, _relative(key, value))
    raise ValueError(f"{key!r} names no known metric (known: {', '.join(sorted(metrics))})")


def _bound(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key} must be a number, got {value!r}")
    return float(value)


def _relative(key: str, value: Any) -> str:
    words = " ".join(value.lower().split()) if isinstance(value, str) else None
    if words not in RELATIVE_RULES:
        accepted = ", ".join(f'"{r}"' for r in RELATIVE_RULES)
        raise ValueError(
            f"{key} = {value!r} is not a rule (use {accepted}; for a bound, "
            f"{key}_min or {key}_max = NUMBER)"
        )
    return words


def _custom_names(value: Any) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError(f"custom must be a list of gate names, got {value!r}")
    return tuple(n.strip() for n in names)


# -- applying rules ------------------------------------------------------------------------
def check_rules(
    rules: Collection[Rule],
    higher_is_better: Mapping[str, bool],
    challenger: Evaluation,
    comparison: Comparison | None,
) -> list[GateCheck]:
    """One check per rule; relative rules are skipped without a champion (``comparison``)."""
    better = {**higher_is_better, **OPERATIONAL_METRICS}
    checks = []
    for rule in rules:
        if rule.kind == "relative":
            checks.append(_relative_check(rule, comparison, better.get(rule.metric, True)))
        elif rule.kind.startswith(_WORST):
            checks.append(_slice_check(rule, challenger, better.get(rule.metric, True)))
        else:
            checks.append(_bound_check(rule, measured_value(challenger, rule.metric)))
    return checks


def _relative_check(rule: Rule, comparison: Comparison | None, higher: bool) -> GateCheck:
    if comparison is None:
        return _check(rule, None, True, "no champion", skipped=True)
    delta = comparison.deltas.get(rule.metric)
    if delta is None:
        return _check(rule, None, False, "not compared")
    shown = f"{delta.verdict}: delta {delta.delta:+.4g} [{delta.ci_low:.4g}, {delta.ci_high:.4g}]"
    if rule.value == BETTER:
        passed = delta.verdict == "better"
    elif rule.value == NO_REGRESSION:
        passed = delta.delta >= 0 if higher else delta.delta <= 0  # False for NaN
    else:
        passed = delta.verdict != "worse"
    return _check(rule, str(delta.verdict), passed, shown)


def _check(
    rule: Rule, actual: str | float | None, passed: bool, detail: str, *, skipped: bool = False
) -> GateCheck:
    return GateCheck(rule.text, rule.metric, rule.value, actual, passed, detail, skipped, rule.kind)


def measured_value(evaluation: Evaluation, metric: str) -> float | None:
    """A task metric, a latency measure or the size of the challenger; None if not measured."""
    if metric == "size_mb":
        return evaluation.size_mb
    if metric in OPERATIONAL_METRICS:
        return (evaluation.latency or {}).get(metric)
    return evaluation.metrics.get(metric)


def _bound_check(rule: Rule, value: float | None, where: str = "") -> GateCheck:
    if value is None or not math.isfinite(value):
        return _check(rule, None, False, f"not measured{where}")
    bound = float(rule.value)
    passed = value >= bound if rule.kind.endswith("min") else value <= bound
    return _check(rule, float(value), passed, f"{value:.4g}{where}")


def _slice_check(rule: Rule, challenger: Evaluation, higher: bool) -> GateCheck:
    found = [
        (float(metrics[rule.metric]), f"{column}={value}")
        for column, values in (challenger.slices or {}).items()
        for value, metrics in values.items()
        if isinstance(metrics.get(rule.metric), (int, float))
        and math.isfinite(metrics[rule.metric])
    ]
    if not found:
        detail = "no slice reports it" if challenger.slices else "no slices: pass --slice COLUMN"
        return _check(rule, None, False, detail)
    worst = min(found) if higher else max(found)
    return _bound_check(rule, worst[0], f" at {worst[1]}")
