"""``shipyard quickstart``: the whole loop in a fresh workspace, then a summary table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from shipyard.solutions.quickstart import QuickstartSummary

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)


def quickstart(
    directory: Annotated[
        Path,
        typer.Option("--dir", help="The workspace to create (a former quickstart is replaced)."),
    ] = Path("shipyard-quickstart"),
    seed: Annotated[int, typer.Option(min=0, help="Seed of the generated data.")] = 42,
) -> None:
    """Train, gate, serve, shift, detect drift, retrain, promote and swap: the closed loop on a
    generated churn data set, in about a minute."""
    from rich.console import Console

    from shipyard.solutions.quickstart import run_quickstart

    console = Console()
    console.print(f"[bold]Shipyard quickstart[/bold] in {directory.resolve()}")
    summary = run_quickstart(directory, seed=seed, console=console)
    _print_summary(console, summary)


def _print_summary(console: Console, summary: QuickstartSummary) -> None:
    from rich.table import Table

    table = Table(title="The loop, closed", show_lines=False)
    for column in ("", "v1", "v2"):
        table.add_column(column, justify="right" if column else "left")
    for metric in ("roc_auc", "accuracy"):
        if metric in summary.v1_metrics:
            table.add_row(
                f"held-out {metric}",
                f"{summary.v1_metrics[metric]:.3f}",
                f"{summary.v2_metrics.get(metric, float('nan')):.3f}",
            )
    before = summary.accuracy.get("after shift (v1)")
    after = summary.accuracy.get("after swap (v2)")
    table.add_row(
        "live accuracy on shifted traffic",
        "-" if before is None else f"{before:.3f}",
        "-" if after is None else f"{after:.3f}",
    )
    console.print(table)
    console.print(
        f"Live accuracy before the shift: {summary.accuracy.get('before shift (v1)', 0):.3f}. "
        f"Drifted features: {', '.join(summary.drifted_columns) or 'none'} "
        f"(planned: {', '.join(summary.expected_drift)})."
    )
    chain = summary.retrain
    console.print(
        f"Retrain chain {chain.get('id')}: "
        + " -> ".join(f"{s['step']} {s['status']}" for s in chain.get("steps", ()))
    )
    console.print(f"Done in {summary.seconds:.0f}s. Look further:")
    workspace = summary.workspace
    for command in (
        "shipyard runs list -e monitor",
        f"shipyard monitor show {summary.monitor_after}",
        f"shipyard monitor show {summary.monitor_after} --report report.html",
        "shipyard models history churn",
        "shipyard ui   (the dashboard: http://127.0.0.1:8080/)",
    ):
        console.print(f"  cd {workspace} && {command}")
