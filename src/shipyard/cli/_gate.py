"""``shipyard gate | promote | rollback | ci``: the commands a CI job and a release run.

Exit codes are the contract with CI systems: 0 when the gate passes, 1 when it (or the
pipeline before it) fails or a promotion is refused, 2 for usage errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli._output import print_json, print_table

if TYPE_CHECKING:
    from shipyard.evaluation._gates import GateResult

__all__ = ["register"]

_JSON = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_AGAINST = Annotated[
    str,
    typer.Option(help="Alias or version of the same model to beat; 'none': absolute rules only."),
]
_DATA = Annotated[
    str, typer.Option(help="Dataset (churn, churn:3, churn@latest) or a CSV/Parquet file.")
]
_TARGET = Annotated[
    str | None,
    typer.Option(help="Target column; default: the one data column the model does not take."),
]
_SLICE = Annotated[
    list[str] | None, typer.Option("--slice", help="Column to compare per value (repeatable).")
]
_POLICY = Annotated[
    Path | None, typer.Option(help="TOML file with a [gates] table; default: shipyard.toml.")
]
_REPORT_DIR = Annotated[Path, typer.Option(help="Where gate-report.md and .html are written.")]
_RESAMPLES = Annotated[int, typer.Option(min=50, max=100_000, help="Bootstrap resamples.")]
_NO_LATENCY = Annotated[
    bool, typer.Option("--no-latency", help="Skip timing predictions (latency rules then fail).")
]
_REASON = Annotated[
    str | None, typer.Option("--reason", "-m", help="Why: kept in the audit history.")
]


def register(app: typer.Typer) -> None:
    """Add ``gate``, ``promote``, ``rollback`` and ``ci`` to the root ``shipyard`` command."""
    app.command("gate")(gate)
    app.command("promote")(promote)
    app.command("rollback")(rollback)
    app.command("ci")(ci)


def gate(
    model: Annotated[str, typer.Argument(help="models:/NAME/VERSION, NAME/VERSION or NAME@ALIAS.")],
    data: _DATA,
    against: _AGAINST = "champion",
    target: _TARGET = None,
    slice_: _SLICE = None,
    policy: _POLICY = None,
    report_dir: _REPORT_DIR = Path("shipyard-reports"),
    resamples: _RESAMPLES = 1000,
    no_latency: _NO_LATENCY = False,
    as_json: _JSON = False,
) -> None:
    """Gate a model version against the champion; exit 1 when a rule fails.

    Writes gate-report.md and gate-report.html, keeps them in the gate's run, tags the version
    with the verdict (read by promote) and appends to $GITHUB_STEP_SUMMARY when it is set.
    """
    from shipyard.cli._models import _as_uri
    from shipyard.evaluation._gates import gate as run_gate

    result = run_gate(
        _as_uri(model),
        data,
        target,
        against=None if against.lower() == "none" else against,
        slices=slice_ or (),
        policy=policy,
        report_dir=report_dir,
        n_resamples=resamples,
        latency=not no_latency,
    )
    _show(result, as_json)
    if not result.passed:
        raise typer.Exit(1)


def _show(result: GateResult, as_json: bool) -> None:
    from shipyard.evaluation._report import VERDICT_COLUMNS, headline, verdict_rows

    if as_json:
        print_json(result.to_dict())
        return
    print_table(headline(result), VERDICT_COLUMNS, verdict_rows(result))
    for note in result.notes:
        typer.echo(f"note: {note}")
    for path in result.report_paths:
        typer.echo(f"report: {path}")
    typer.echo(f"Gate {result.status}: {result.model_uri} (gate run {result.run_id})")


def promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int, typer.Argument(help="Version to promote.")],
    to: Annotated[str, typer.Option("--to", help="Alias to move.")] = "champion",
    force: Annotated[
        bool, typer.Option("--force", help="Promote without a passed gate (needs --reason).")
    ] = False,
    reason: _REASON = None,
    as_json: _JSON = False,
) -> None:
    """Point NAME@ALIAS at VERSION, if the version's latest gate passed against the alias's
    current version. Exit 1 when refused."""
    from shipyard.evaluation._promote import promote as run_promote

    found = run_promote(name, version, to, force=force, reason=reason)
    if as_json:
        print_json(found.to_dict())
        return
    forced = " (forced)" if force and found.tags.get("shipyard.gate.status") != "passed" else ""
    typer.echo(f"models:/{name}@{to} -> version {found.version}{forced}")


def rollback(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    alias: Annotated[str, typer.Option(help="Alias to move back.")] = "champion",
    reason: _REASON = None,
    as_json: _JSON = False,
) -> None:
    """Move NAME@ALIAS back to the version it pointed at before its last move."""
    from shipyard.evaluation._promote import rollback as run_rollback

    found = run_rollback(name, alias, reason=reason)
    if as_json:
        print_json(found.to_dict())
        return
    typer.echo(f"models:/{name}@{alias} -> version {found.version} (rolled back)")


def ci(
    pipeline: Annotated[str, typer.Argument(help="MODULE:FUNCTION or path/to/file.py:FUNCTION.")],
    data: _DATA,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="name=value (repeatable).")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Model the pipeline registers; default: the only one.")
    ] = None,
    target: _TARGET = None,
    promote: Annotated[bool, typer.Option("--promote", help="Promote when the gate passes.")] = (
        False
    ),
    alias: Annotated[str, typer.Option(help="Alias to gate against and promote to.")] = "champion",
    slice_: _SLICE = None,
    policy: _POLICY = None,
    report_dir: _REPORT_DIR = Path("shipyard-reports"),
    resamples: _RESAMPLES = 1000,
    no_latency: _NO_LATENCY = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every step again.")] = False,
    as_json: _JSON = False,
) -> None:
    """Run a pipeline, gate the model version it registered, and promote it with --promote.

    Exit 0 when the gate passes (promoted or not), 1 when the pipeline or the gate fails.
    """
    from shipyard.evaluation._ci import run_ci
    from shipyard.pipelines._loader import parse_params

    result = run_ci(
        pipeline,
        data=data,
        model=model,
        params=parse_params(param or []),
        label=target,
        alias=alias,
        promote=promote,
        slices=slice_ or (),
        policy=policy,
        report_dir=report_dir,
        n_resamples=resamples,
        latency=not no_latency,
        cache=not no_cache,
    )
    if as_json:
        print_json(result.to_dict())
    elif result.gate is None:
        typer.echo(
            f"Pipeline {result.pipeline.name} failed at {', '.join(result.pipeline.failed)}: "
            f"run {result.pipeline.run_id}; nothing was gated.",
            err=True,
        )
    else:
        _show(result.gate, as_json=False)
        if result.promoted:
            typer.echo(f"Promoted {result.gate.model_uri} to {alias}.")
        elif promote:
            typer.echo(f"Not promoted: the gate {result.gate.status}.")
    if not result.passed:
        raise typer.Exit(1)
