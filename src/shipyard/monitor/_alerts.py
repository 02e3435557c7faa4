"""Alert rules: ``drift_share > 0.3`` read into a rule, and rules checked against measurements.

A rule is ``NAME`` or ``NAME{LABEL}``, a comparison (``> >= < <= == !=``) and a number::

    drift_share > 0.3            missing_rate{age} > 0.1
    roc_auc_drop > 0.05          drift{income} < 0.05      (a KS p-value: compared as written)

Checking is a pure function of a flat mapping of measurements keyed the same way
(``"drift_share"``, ``"missing_rate{age}"``), so a monitor run's alerts can be recomputed from
what it recorded. A rule whose value was not measured (no labels yet, no such column, a NaN
statistic) does not fire; it is reported as not measured instead of silently passing.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NamedTuple, NoReturn, cast

from shipyard.core.errors import InvalidInput

__all__ = [
    "METRICS",
    "OPERATORS",
    "Alert",
    "AlertResults",
    "AlertRule",
    "evaluate_rules",
    "parse_rule",
]

Operator = Literal[">", ">=", "<", "<=", "==", "!="]

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_WORDS = {
    ">": "above",
    ">=": "at or above",
    "<": "below",
    "<=": "at or below",
    "==": "equal to",
    "!=": "not equal to",
}

_PERFORMANCE = ("roc_auc", "accuracy", "f1", "precision", "recall", "log_loss", "rmse", "mae", "r2")


def _metrics() -> dict[str, tuple[bool, str]]:
    """Every metric a rule may name: whether it takes a ``{column}`` label, and what it is."""
    known: dict[str, tuple[bool, str]] = {
        "drift_share": (False, "share of features judged drifted, 0 to 1"),
        "drifted_features": (False, "number of features judged drifted"),
        "dataset_drift": (False, "1 when the share of drifted features passes its threshold"),
        "drift": (True, "the column's drift statistic (a p-value for KS/chi-square)"),
        "drifted": (True, "1 when the column is judged drifted, else 0"),
        "prediction_drift": (False, "drift statistic of the model's predictions"),
        "missing_rate": (True, "share of missing values in the current window"),
        "missing_rate_jump": (True, "current missing rate minus the reference one"),
        "unseen_share": (True, "share of categories never seen in the reference"),
        "out_of_range_share": (True, "share of numbers outside the reference min..max"),
        "quality_errors": (False, "number of data-quality checks failed as errors"),
        "quality_warnings": (False, "number of data-quality checks failed as warnings"),
    }
    for metric in _PERFORMANCE:
        # A drop is how much worse than the reference: positive is worse, for every metric
        # (reference - current when higher is better, current - reference for losses/errors).
        known[metric] = (False, f"{metric} on labelled production data")
        known[f"{metric}_drop"] = (False, f"how much worse {metric} is than on the reference")
        known[f"estimated_{metric}"] = (False, f"{metric} estimated without labels")
        known[f"estimated_{metric}_drop"] = (False, f"estimated drop of {metric}, without labels")
    return known


METRICS: Mapping[str, tuple[bool, str]] = _metrics()
_KNOWN = (
    "drift_share, drifted_features, dataset_drift, prediction_drift, quality_errors, "
    "quality_warnings; per column: "
    + ", ".join(f"{name}{{column}}" for name, (labelled, _) in METRICS.items() if labelled)
    + f"; performance: {', '.join(_PERFORMANCE)}, each also as METRIC_drop, estimated_METRIC "
    "and estimated_METRIC_drop"
)
_FORM = "NAME or NAME{column}, then one of > >= < <= == !=, then a number (e.g. drift_share > 0.3)"

_SUBJECT = re.compile(r"\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\{(?P<label>[^{}]*)\}\s*)?")
_OPERATOR = re.compile(r"(>=|<=|==|!=|>|<)\s*")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class AlertRule:
    """One parsed rule; two rules are equal when they test the same thing the same way."""

    metric: str
    label: str | None
    op: Operator
    threshold: float
    text: str = field(default="", compare=False)  # as written, stripped

    @property
    def key(self) -> str:
        """The measurement this rule reads: ``drift_share`` or ``missing_rate{age}``."""
        return self.metric if self.label is None else f"{self.metric}{{{self.label}}}"

    def fires(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return self.text or f"{self.key} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Alert:
    """A rule that fired: what was measured, against what, and a sentence saying so."""

    rule: str
    metric: str  # the measurement's key, label included: "missing_rate{age}"
    value: float
    threshold: float
    op: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AlertResults(NamedTuple):
    """What :func:`evaluate_rules` found: the alerts, and the rules nothing was measured for."""

    alerts: list[Alert]
    not_measured: list[str]  # the rules' texts


def parse_rule(text: str) -> AlertRule:
    """Read one rule; ``InvalidInput`` names the rule, what is wrong, and the known metrics."""
    if not isinstance(text, str):
        raise InvalidInput(f"An alert rule must be a string, got {text!r}.", hint=f"Write {_FORM}.")
    subject = _SUBJECT.match(text)
    if subject is None or not subject.group("name"):
        _refuse(text, "it does not start with a metric name")
    name, label = subject.group("name"), subject.group("label")
    rest = text[subject.end() :]
    op = _OPERATOR.match(rest)
    if op is None and rest.startswith("{"):
        _refuse(text, f"the column label after {name!r} is not closed with '}}'")
    if op is None and rest.startswith("="):
        _refuse(text, f"{rest.split()[0]!r} is not a comparison: write ==, >= or <=")
    if op is None:
        _refuse(text, f"expected one of > >= < <= == != after {text[: subject.end()].strip()!r}")
    number = rest[op.end() :].strip()
    if not _NUMBER.fullmatch(number):
        _refuse(text, f"the threshold {number!r} is not a number" if number else "no threshold")
    _check_metric(text, name, label)
    label = None if label is None else label.strip()
    written = " ".join(text.split())
    return AlertRule(name, label, cast(Operator, op.group(1)), float(number), written)


def evaluate_rules(rules: Iterable[AlertRule], values: Mapping[str, float]) -> AlertResults:
    """Check ``rules`` against measurements keyed like ``drift_share`` or ``missing_rate{age}``."""
    alerts: list[Alert] = []
    not_measured: list[str] = []
    for rule in rules:
        raw = values.get(rule.key)
        value = None if raw is None else float(raw)
        if value is None or math.isnan(value):
            not_measured.append(str(rule))
        elif rule.fires(value):
            message = _say(rule, value)
            alerts.append(Alert(str(rule), rule.key, value, rule.threshold, rule.op, message))
    return AlertResults(alerts, not_measured)


def _say(rule: AlertRule, value: float) -> str:
    subject = rule.metric if rule.label is None else f"{rule.metric} of column {rule.label!r}"
    return (
        f"{subject} is {value:.4g}, {_WORDS[rule.op]} the threshold {rule.threshold:g} "
        f"(rule: {rule})."
    )


def _check_metric(text: str, name: str, label: str | None) -> None:
    known = METRICS.get(name)
    if known is None:
        close = difflib.get_close_matches(name, list(METRICS), n=1)
        maybe = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidInput(
            f"Alert rule {text!r}: unknown metric {name!r}{maybe}.",
            hint=f"Known metrics: {_KNOWN}.",
        )
    labelled = known[0]
    if labelled and (label is None or not label.strip()):
        _refuse(text, f"{name} is measured per column: write {name}{{column}}")
    if not labelled and label is not None:
        _refuse(text, f"{name} is not measured per column: drop {{{label}}}")


def _refuse(text: str, problem: str) -> NoReturn:
    raise InvalidInput(f"Alert rule {text!r} does not parse: {problem}.", hint=f"Write {_FORM}.")
