"""``shipyard new …``: start a project from a solution template."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Start a project from a solution.", no_args_is_help=True, rich_markup_mode=None
)


@app.command()
def tabular(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project.")],
    data: Annotated[str, typer.Option("--data", help="CSV or Parquet file to learn from.")],
    target: Annotated[str, typer.Option("--target", help="The column to predict.")],
) -> None:
    """A tabular prediction project: shipyard.toml, the data and pipeline.py."""
    from shipyard.solutions.tabular import scaffold

    created = scaffold(directory, data, target)
    typer.echo(f"Project ready: {created}")
    typer.echo(f"Run it with: cd {directory} && shipyard pipelines run pipeline:tabular_pipeline")
