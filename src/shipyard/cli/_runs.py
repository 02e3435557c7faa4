"""``shipyard runs …``"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli._output import fmt_ms, fmt_value, print_json, print_table

if TYPE_CHECKING:
    from shipyard.tracking import RunRecord

app = typer.Typer(
    help="Runs: what was trained, with which params, and how it scored.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("list")
def list_(
    experiment: Annotated[
        list[str] | None, typer.Option("--experiment", "-e", help="Experiment name (repeatable).")
    ] = None,
    filter: Annotated[
        str | None,
        typer.Option("--filter", "-f", help="e.g. \"metrics.auc > 0.9 and params.model = 'lgbm'\""),
    ] = None,
    order_by: Annotated[
        list[str] | None, typer.Option("--order-by", "-o", help="e.g. 'metrics.auc desc'.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Runs per page.")] = 20,
    page_token: Annotated[
        str | None, typer.Option("--page-token", help="From a previous page.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List and search runs, newest first."""
    from shipyard.tracking import search_runs

    page = search_runs(experiment or None, filter, order_by, limit, page_token)
    if as_json:
        print_json(
            {"runs": [r.to_dict() for r in page.runs], "next_page_token": page.next_page_token}
        )
        return
    metric_keys = sorted({k for r in page.runs for k in r.metrics})[:6]
    print_table(
        "Runs",
        ["id", "experiment", "name", "status", "started", *metric_keys],
        [
            (
                r.id,
                r.experiment,
                r.name,
                r.status,
                fmt_ms(r.start_ms),
                *(r.metrics.get(k) for k in metric_keys),
            )
            for r in page.runs
        ],
    )
    if page.next_page_token:
        typer.echo(f"More: --page-token {page.next_page_token}")


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    as_json: JsonOption = False,
) -> None:
    """Show one run: status, params, latest metrics, tags, environment and artifacts."""
    from shipyard.tracking import tracking_service

    service = tracking_service()
    run = service.get_run(run_id)
    files = service.list_artifacts(run.id)
    if as_json:
        print_json({**run.to_dict(), "artifacts": [a.__dict__ for a in files]})
        return
    env = run.environment
    print_table(
        f"Run {run.id}",
        ["field", "value"],
        [
            ("name", run.name),
            ("experiment", run.experiment),
            ("status", run.status),
            ("error", run.error),
            ("parent", run.parent_id),
            ("started", fmt_ms(run.start_ms)),
            ("ended", fmt_ms(run.end_ms)),
            ("duration (s)", run.duration_s),
            (
                "git commit",
                (env.get("git_commit") or "-") + (" (dirty)" if env.get("git_dirty") else ""),
            ),
            ("python", env.get("python_version")),
            ("host", env.get("host")),
        ],
    )
    for title, values in (
        ("Params", run.params),
        ("Metrics (latest)", run.metrics),
        ("Tags", run.tags),
    ):
        if values:
            print_table(title, ["key", "value"], sorted(values.items()))
    if files:
        print_table(
            "Artifacts",
            ["name", "size", "sha256"],
            [(a.name, a.size, a.digest[:12]) for a in files],
        )


@app.command("compare")
def compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids (or prefixes).")],
    as_json: JsonOption = False,
) -> None:
    """Compare runs side by side: params and latest metrics, differences first."""
    from shipyard.core.errors import InvalidInput
    from shipyard.tracking import tracking_service

    if len(run_ids) < 2:
        raise InvalidInput(
            "compare needs at least two run ids.", hint="shipyard runs compare ID1 ID2"
        )
    service = tracking_service()
    found = [service.get_run(run_id) for run_id in run_ids]
    if as_json:
        print_json([r.to_dict() for r in found])
        return
    print_table(
        "Comparison",
        ["", *(f"{r.name}\n{r.id[-8:]}" for r in found)],
        _comparison_rows(found),
    )


def _comparison_rows(found: list[RunRecord]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [("status", *(r.status for r in found))]
    for kind in ("params", "metrics"):
        keys = sorted({k for r in found for k in getattr(r, kind)})
        cells = [
            (f"{kind}.{k}", *(fmt_value(getattr(r, kind).get(k)) for r in found)) for k in keys
        ]
        # Rows that differ come first: they are what a comparison is for.
        cells.sort(key=lambda row: len(set(row[1:])) == 1)
        rows.extend(cells)
    return rows
