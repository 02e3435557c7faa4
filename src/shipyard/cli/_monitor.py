"""``shipyard monitor run | watch | list | show``: watch production data for a deployment or model.

``run`` exits 1 when an alert fires, so cron and CI can act on it; usage errors exit 2.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.cli._output import fmt_ms, fmt_value, print_json, print_table

__all__ = ["app"]

app = typer.Typer(
    help="Drift, data quality and performance of deployed models; alerts and retraining.",
    no_args_is_help=True,
)

_TARGET = Annotated[
    str, typer.Argument(help="A deployment name, or a model as models:/NAME@ALIAS.")
]
_WINDOW = Annotated[
    str | None,
    typer.Option(help="How far back to look: 30m, 1h, 7d; default: [monitor] window, or 1h."),
]
_LAST = Annotated[
    int | None, typer.Option("--last-requests", min=1, help="The last N requests instead.")
]
_SINCE = Annotated[str | None, typer.Option(help="Start of a fixed range (ISO 8601).")]
_UNTIL = Annotated[str | None, typer.Option(help="End of a fixed range (ISO 8601).")]
_CURRENT = Annotated[
    str | None, typer.Option(help="Compare a dataset version (churn:4) instead of the log.")
]
_REFERENCE = Annotated[
    str | None,
    typer.Option(help="Reference dataset version; default: the model's training data."),
]
_NO_RETRAIN = Annotated[
    bool, typer.Option("--no-retrain", help="Alert, but never start the retrain policy.")
]
_JSON = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("run")
def run(
    target: _TARGET,
    window: _WINDOW = None,
    last_requests: _LAST = None,
    since: _SINCE = None,
    until: _UNTIL = None,
    current: _CURRENT = None,
    reference: _REFERENCE = None,
    no_retrain: _NO_RETRAIN = False,
    as_json: _JSON = False,
) -> None:
    """Check drift, quality and performance once; exit 1 when an alert fires."""
    from shipyard.monitor import monitor

    result = monitor(
        target,
        window=window,
        last_requests=last_requests,
        since=since,
        until=until,
        current=current,
        reference=reference,
        retrain=not no_retrain,
    )
    if as_json:
        print_json(result.to_dict())
    else:
        _print_document(result.to_dict())
    if result.alerts:
        raise typer.Exit(1)


@app.command("watch")
def watch(
    target: _TARGET,
    every: Annotated[str, typer.Option(help="Time between runs: 30s, 5m, 1h.")] = "5m",
    window: _WINDOW = None,
    times: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many runs (default: never).")
    ] = None,
    no_retrain: _NO_RETRAIN = False,
) -> None:
    """Run the monitor every --every until stopped (Ctrl-C) or --times runs are done."""
    from shipyard.monitor import monitor
    from shipyard.monitor._config import parse_duration

    interval = parse_duration(every).total_seconds()
    done = 0
    try:
        while times is None or done < times:
            started = time.monotonic()
            result = monitor(target, window=window, retrain=not no_retrain)
            done += 1
            drift = "-" if result.drift is None else f"{result.drift.drift_share:.0%}"
            alerts = "; ".join(alert.rule for alert in result.alerts) or "none"
            typer.echo(
                f"{result.started_at}  {result.status.upper():5}  drift share {drift}  "
                f"rows {result.window.get('rows')}  alerts: {alerts}  run {result.id}",
            )
            if times is None or done < times:
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        typer.echo(f"Stopped after {done} run(s).")


@app.command("list")
def list_(
    target: Annotated[str | None, typer.Argument(help="Only this target's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    as_json: _JSON = False,
) -> None:
    """Stored monitor runs and retrain chains, newest first."""
    from shipyard.monitor._retrain import list_retrains
    from shipyard.monitor._store import STATUS_TAG, list_monitor_runs

    runs = list_monitor_runs(target, limit)
    if as_json:
        print_json([run.to_dict() for run in runs])
        return
    print_table(
        "Monitor runs",
        ["run", "target", "started", "status", "drift share", "drifted", "rows", "alerts"],
        [
            [
                run.id,
                run.tags.get("monitor.target", ""),
                fmt_ms(run.start_ms),
                run.tags.get(STATUS_TAG, "running"),
                fmt_value(run.metrics.get("drift_share")),
                fmt_value(run.metrics.get("drifted_features")),
                fmt_value(run.metrics.get("rows")),
                run.tags.get("monitor.alerts", ""),
            ]
            for run in runs
        ],
    )
    chains = list_retrains(None, limit)
    if chains:
        print_table(
            "Retrain chains",
            ["run", "model", "started", "status", "monitor run", "pipeline run", "new version"],
            [
                [
                    chain.id,
                    chain.tags.get("monitor.model_name", ""),
                    fmt_ms(chain.start_ms),
                    chain.tags.get("chain.status", "running"),
                    chain.tags.get("chain.monitor_run", ""),
                    chain.tags.get("chain.pipeline_run", ""),
                    chain.tags.get("chain.new_version", ""),
                ]
                for chain in chains
            ],
        )


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="A monitor run id (or a unique prefix).")],
    report: Annotated[
        Path | None, typer.Option(help="Also write the standalone HTML report here.")
    ] = None,
    as_json: _JSON = False,
) -> None:
    """One monitor run: features, quality, performance, alerts and the retrain chain."""
    from shipyard.monitor._store import history, load_result

    document = load_result(run_id)
    if report is not None:
        from shipyard.monitor._report_html import render_report

        report.write_text(render_report(document, history(document["target"])), encoding="utf-8")
    if as_json:
        print_json(document)
        return
    _print_document(document)
    if report is not None:
        typer.echo(f"Report: {report}")


def _print_document(doc: dict[str, Any]) -> None:
    model = doc.get("model") or {}
    window = doc.get("window") or {}
    typer.echo(
        f"{doc['status'].upper()}: {doc['target']} ({model.get('uri', '-')}), "
        f"{window.get('spec')}, {window.get('rows')} rows; reference "
        f"{(doc.get('reference') or {}).get('ref') or '-'}; run {doc.get('id') or '(not stored)'}"
    )
    for note in doc.get("notes", ()):
        typer.echo(f"note: {note}")
    drift = doc.get("drift")
    if drift:
        typer.echo(
            f"Drift: {len(drift['drifted_columns'])} of {drift['n_features']} features "
            f"({drift['drift_share']:.0%}) drifted: {', '.join(drift['drifted_columns']) or '-'}"
        )
        features = sorted(drift["features"], key=lambda f: not f["drifted"])
        extra = [doc.get("prediction_drift"), doc.get("target_drift")]
        print_table(
            None,
            ["feature", "kind", "method", "statistic", "threshold", "drifted"],
            [
                [
                    f["column"],
                    f["kind"],
                    f["method"],
                    fmt_value(f["statistic"]),
                    fmt_value(f["threshold"]),
                    "yes" if f["drifted"] else "no",
                ]
                for f in [*features, *(e for e in extra if e)]
            ],
        )
    quality = doc.get("quality")
    if quality and quality.get("problems"):
        print_table(
            "Data quality",
            ["column", "problem", "severity", "message"],
            [
                [p["column"] or "-", p["kind"], p["severity"], p["message"]]
                for p in quality["problems"]
            ],
        )
    _print_performance(doc.get("performance"))
    alerts = doc.get("alerts") or []
    if alerts:
        print_table(
            "Alerts",
            ["rule", "value", "message"],
            [[a["rule"], fmt_value(a["value"]), a["message"]] for a in alerts],
        )
    chain = doc.get("retrain")
    if chain:
        steps = " -> ".join(f"{s['step']} {s['status']}" for s in chain.get("steps", ()))
        reason = f" ({chain['reason']})" if chain.get("reason") else ""
        typer.echo(f"Retrain: {chain['status']}{reason}{'; ' + steps if steps else ''}")


def _print_performance(performance: dict[str, Any] | None) -> None:
    from shipyard.monitor._store import HEADLINE_METRICS

    if not performance:
        return
    sections = {key: performance.get(key) or {} for key in ("reference", "realized", "estimated")}
    metrics = [m for m in HEADLINE_METRICS if any(m in s for s in sections.values())]
    if not metrics:
        return
    print_table(
        "Performance",
        ["", *metrics],
        [[label, *(fmt_value(s.get(m)) for m in metrics)] for label, s in sections.items() if s],
    )
