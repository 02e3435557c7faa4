"""``shipyard pipelines …``: run a pipeline, list its runs, show one as a DAG of step outcomes."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from shipyard.cli._output import fmt_ms, print_json, print_table

app = typer.Typer(
    help="Pipelines: cached, tracked DAGs of steps.", no_args_is_help=True, rich_markup_mode=None
)
runs_app = typer.Typer(help="Past pipeline runs.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(runs_app, name="runs")

_JSON = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_PIPELINE_FILTER = "tags.`shipyard.kind` = 'pipeline'"


@app.command()
def run(
    target: Annotated[str, typer.Argument(help="MODULE:FUNCTION or path/to/file.py:FUNCTION.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="name=value (repeatable).")
    ] = None,
    executor: Annotated[str, typer.Option(help="local or ray.")] = "local",
    workers: Annotated[int | None, typer.Option(min=1, help="Parallel steps (local).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every step again.")] = False,
    experiment: Annotated[str | None, typer.Option(help="Default: the pipeline's name.")] = None,
) -> None:
    """Run a pipeline; exit 1 when a step fails."""
    from shipyard.pipelines._loader import load_pipeline, parse_params

    pipeline = load_pipeline(target)
    params = parse_params(param or [], pipeline)
    result = pipeline.run(
        executor=executor,
        workers=workers,
        cache=not no_cache,
        experiment=experiment,
        raise_on_failure=False,
        **params,
    )
    _print_steps(result.run_id, {n: r.to_dict() for n, r in result.steps.items()}, result.graph)
    typer.echo(f"Pipeline {result.name} {result.status}: run {result.run_id}")
    if result.status != "completed":
        raise typer.Exit(1)


@runs_app.command("list")
def list_(
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 20,
    as_json: _JSON = False,
) -> None:
    """Pipeline runs, newest first."""
    from shipyard.tracking import search_runs

    query = _PIPELINE_FILTER
    if pipeline:
        query += f" and tags.`shipyard.pipeline` = {json.dumps(pipeline)}"
    found = search_runs(None, query, limit=limit).runs
    if as_json:
        print_json([r.to_dict() for r in found])
        return
    print_table(
        "Pipeline runs",
        ["id", "pipeline", "status", "started", "steps run", "cached", "failed"],
        [
            (
                r.id,
                r.tags.get("shipyard.pipeline"),
                r.status,
                fmt_ms(r.start_ms),
                r.tags.get("shipyard.steps.completed"),
                r.tags.get("shipyard.steps.cached"),
                r.tags.get("shipyard.steps.failed"),
            )
            for r in found
        ],
    )


@runs_app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="Pipeline run id (or a unique prefix).")],
    as_json: _JSON = False,
) -> None:
    """The DAG of one run: each step's inputs, status, cache hit, duration and error."""
    from shipyard.core.errors import InvalidInput, NotFound
    from shipyard.tracking import tracking_service

    service = tracking_service()
    record = service.get_run(run_id)
    if record.tags.get("shipyard.kind") != "pipeline":
        raise InvalidInput(
            f"Run {record.id} is not a pipeline run.",
            hint="List them: shipyard pipelines runs list.",
        )
    graph = json.loads(service.get_artifact(record.id, "pipeline/graph.json"))
    try:
        steps = json.loads(service.get_artifact(record.id, "pipeline/steps.json"))
    except NotFound:  # still running, or stopped early: the step runs say how far it got
        steps = _steps_from_runs(record)
    if as_json:
        print_json({"run": record.to_dict(), "graph": graph, "steps": steps})
        return
    _print_steps(record.id, steps, graph)
    typer.echo(f"Pipeline {graph['name']}: {record.status} (run {record.id})")
    if record.error:
        typer.echo(f"error: {record.error}")


def _steps_from_runs(record: Any) -> dict[str, Any]:
    from shipyard.pipelines._pipeline import step_runs

    statuses = {"RUNNING": "running", "FAILED": "failed", "KILLED": "killed"}
    steps = {}
    for run in step_runs(record.id, record.experiment):
        status = statuses.get(run.status, "completed")
        if status == "completed" and run.tags.get("shipyard.cache") == "hit":
            status = "cached"
        steps[run.name] = {
            "node": run.name,
            "status": status,
            "run_id": run.id,
            "duration_s": run.duration_s,
            "error": run.tags.get("shipyard.last_error") or run.error,
        }
    return steps


def _print_steps(run_id: str, steps: dict[str, Any], graph: dict[str, Any]) -> None:
    """One row per step in call order (a topological order); "needs" draws the edges."""
    needs = {n["id"]: n["depends_on"] for n in graph["nodes"]}
    rows = []
    for node in needs:
        step = steps.get(node, {})
        rows.append(
            (
                node,
                " + ".join(needs.get(node, [])) or "-",
                step.get("status", "not run"),
                f"{step['duration_s']:.2f}s" if step.get("duration_s") else "-",
                (step.get("run_id") or "-")[:12],
                (step.get("error") or "-")[:120],
            )
        )
    print_table(f"Pipeline run {run_id}", ["step", "needs", "status", "time", "run", "error"], rows)
