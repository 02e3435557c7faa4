"""``shipyard artifacts …``"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli._output import fmt_ms, print_json, print_table

app = typer.Typer(help="Files logged by runs.", no_args_is_help=True, rich_markup_mode=None)


@app.command("list")
def list_(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List a run's artifacts."""
    from shipyard.tracking import tracking_service

    found = tracking_service().list_artifacts(run_id)
    if as_json:
        print_json([a.__dict__ for a in found])
        return
    print_table(
        f"Artifacts of {run_id}",
        ["name", "size", "sha256", "logged"],
        [(a.name, a.size, a.digest[:12], fmt_ms(a.created_ms)) for a in found],
    )


@app.command("get")
def get(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    name: Annotated[
        str | None, typer.Argument(help="Artifact or folder name; all when omitted.")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write into.")] = Path(
        "."
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Download artifacts (verified against their sha256) into a folder."""
    from shipyard.tracking import tracking_service

    service = tracking_service()
    written = service.download_artifacts(run_id, output, name)
    if as_json:
        print_json([str(p) for p in written])
        return
    for path in written:
        typer.echo(str(path))
