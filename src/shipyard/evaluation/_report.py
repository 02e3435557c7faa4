"""The gate report in Markdown: what a reviewer reads in a pull request or a CI step summary.

The rows of its tables are built here once and shared with the HTML report and the CLI, so
the three always say the same thing.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.evaluation._gates import GateResult
    from shipyard.evaluation._policy import GateCheck

__all__ = [
    "VERDICT_COLUMNS",
    "fmt",
    "headline",
    "markdown_report",
    "metric_rows",
    "operational_rows",
    "slice_rows",
    "slice_values",
    "summary_rows",
    "verdict_rows",
]

VERDICT_COLUMNS = ("rule", "metric", "champion", "challenger", "delta [CI]", "verdict", "result")
METRIC_COLUMNS = ("metric", "champion", "challenger", "delta [CI]", "verdict")
SLICE_COLUMNS = ("slice", "n", "metric", "champion", "challenger", "delta")
_OPERATIONAL = ("latency_p50_ms", "latency_p95_ms", "batch_rows_per_s", "size_mb")


def fmt(value: Any) -> str:
    """Numbers to four significant digits; missing and NaN as "-"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def headline(result: GateResult) -> str:
    against = result.against_uri or "no champion"
    return f"Gate {result.status.upper()}: {result.model_uri} against {against}"


def _signed(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:+.4g}"


def _delta_text(delta: Any) -> str:
    return f"{_signed(delta.delta)} [{fmt(delta.ci_low)}, {fmt(delta.ci_high)}]"


def _result_text(check: GateCheck) -> str:
    """pass / FAIL / skipped, with the check's detail unless the other columns already say it."""
    word = {"pass": "pass", "fail": "FAIL", "skip": "skipped"}[check.outcome]
    shown = check.kind in ("relative", "min", "max") and check.actual is not None
    return word if shown or not check.detail else f"{word}: {check.detail}"


def verdict_rows(result: GateResult) -> list[tuple[str, ...]]:
    """One row per check: rule, metric, champion, challenger, delta [CI], verdict, result."""
    from shipyard.evaluation._policy import measured_value

    rows: list[tuple[str, ...]] = []
    for check in result.checks:
        metric = check.metric
        delta = result.comparison.deltas.get(metric) if result.comparison and metric else None
        champion: Any = None
        challenger: Any = None
        if metric and check.kind.startswith("worst_slice"):
            challenger = check.actual
        elif delta is not None:
            champion, challenger = delta.champion, delta.challenger
        elif metric:
            challenger = measured_value(result.challenger, metric)
            if result.champion is not None:
                champion = measured_value(result.champion, metric)
        show_delta = delta is not None and not check.kind.startswith("worst_slice")
        rows.append(
            (
                check.rule,
                metric or "-",
                fmt(champion),
                fmt(challenger),
                _delta_text(delta) if show_delta else "-",
                str(delta.verdict) if show_delta and delta is not None else "-",
                _result_text(check),
            )
        )
    return rows


def metric_rows(result: GateResult) -> list[tuple[str, ...]]:
    """Every metric of the task, champion against challenger."""
    if result.comparison is not None:
        return [
            (d.metric, fmt(d.champion), fmt(d.challenger), _delta_text(d), str(d.verdict))
            for d in result.comparison.deltas.values()
        ]
    return [(k, "-", fmt(v), "-", "-") for k, v in result.challenger.metrics.items()]


def operational_rows(result: GateResult) -> list[tuple[str, ...]]:
    from shipyard.evaluation._policy import measured_value

    rows: list[tuple[str, ...]] = []
    for metric in _OPERATIONAL:
        champion = None if result.champion is None else measured_value(result.champion, metric)
        row = (metric, fmt(champion), fmt(measured_value(result.challenger, metric)))
        if row[1:] != ("-", "-"):  # latency is not measured when the caller skipped it
            rows.append(row)
    return rows


def slice_values(result: GateResult) -> list[tuple[str, int | None, str, float, float, float]]:
    """The primary metric per slice as numbers: (slice, n, metric, champion, challenger, delta),
    from the comparison, or the challenger's own numbers without a champion."""
    if result.comparison is not None:
        return [
            (f"{s.column}={s.value}", s.n, s.metric, s.champion, s.challenger, s.delta)
            for s in result.comparison.slice_deltas
        ]
    from shipyard.evaluation._records import PRIMARY_METRIC

    metric = PRIMARY_METRIC.get(result.task, "")
    nan = float("nan")
    return [
        (f"{column}={value}", _count(values.get("n")), metric, nan, values.get(metric, nan), nan)
        for column, groups in result.challenger.slices.items()
        for value, values in groups.items()
    ]


def _count(value: float | None) -> int | None:
    return None if value is None or math.isnan(value) else int(value)


def slice_rows(result: GateResult) -> list[tuple[str, ...]]:
    return [
        (label, fmt(n), metric, fmt(champion), fmt(challenger), _signed(delta))
        for label, n, metric, champion, challenger, delta in slice_values(result)
    ]


def summary_rows(result: GateResult) -> list[tuple[str, ...]]:
    """The facts a verdict rests on: models, data, policy, bootstrap settings, where it is kept."""
    challenger = result.challenger
    checks = result.checks
    counted = ", ".join(
        f"{sum(c.outcome == o for c in checks)} {word}"
        for o, word in (("pass", "passed"), ("fail", "failed"), ("skip", "skipped"))
    )
    rows: list[tuple[str, ...]] = [
        ("result", f"{result.status} ({len(checks)} checks: {counted})"),
        ("challenger", result.model_uri),
        ("champion", f"{result.against_uri or 'none'} (asked for: {result.against or '-'})"),
        (
            "data",
            f"{result.dataset_ref or 'in-memory data'}, {challenger.n_rows} rows, "
            f"digest {challenger.data_digest[:12]}",
        ),
        ("target", f"{result.target} ({result.task})"),
        ("policy", result.policy_source),
    ]
    if result.comparison is not None:
        c = result.comparison
        rows.append(
            (
                "bootstrap",
                f"{c.n_resamples} paired resamples, {c.confidence:.0%} intervals, seed {c.seed}",
            )
        )
    if result.run_id:
        rows.append(("gate run", f"{result.run_id} (report: {result.report_uri})"))
    rows.extend(("note", note) for note in result.notes)
    return rows


def _table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    return [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(cell(c) for c in row) + " |" for row in rows),
        "",
    ]


def markdown_report(result: GateResult) -> str:
    """The whole report: headline, the verdict table, metrics, speed and size, slices."""
    mark = "✅" if result.passed else "❌"
    lines = [f"## {mark} {headline(result)}", ""]
    lines += [f"- **{key}**: {value}" for key, value in summary_rows(result)]
    lines += ["", "### Verdict", "", *_table(VERDICT_COLUMNS, verdict_rows(result))]
    lines += ["### Metrics", "", *_table(METRIC_COLUMNS, metric_rows(result))]
    speed = operational_rows(result)
    if speed:
        lines += ["### Speed and size", "", *_table(("measure", "champion", "challenger"), speed)]
    slices = slice_rows(result)
    if slices:
        worst = result.comparison.worst_slice if result.comparison else None
        lines += ["### Slices", ""]
        if worst is not None:
            lines += [
                f"Worst slice for the challenger: **{worst.column}={worst.value}** "
                f"({worst.metric} {fmt(worst.challenger)}, n={worst.n}).",
                "",
            ]
        lines += _table(SLICE_COLUMNS, slices)
    return "\n".join(lines)
