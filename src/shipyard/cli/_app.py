"""The ``shipyard`` command: parse, call a service, render. Nothing heavy is imported here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli import (
    _artifacts,
    _datasets,
    _experiments,
    _gate,
    _models,
    _monitor,
    _new,
    _pipelines,
    _predict,
    _quickstart,
    _runs,
    _serve,
    _ui,
)
from shipyard.cli._output import print_json

__all__ = ["app", "main"]

app = typer.Typer(
    name="shipyard",
    help="Shipyard: track, version, train, gate, register, serve and monitor ML models.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(_runs.app, name="runs")
app.add_typer(_experiments.app, name="experiments")
app.add_typer(_artifacts.app, name="artifacts")
app.add_typer(_datasets.app, name="datasets")
app.add_typer(_models.app, name="models")
app.add_typer(_pipelines.app, name="pipelines")
app.add_typer(_new.app, name="new")
app.add_typer(_monitor.app, name="monitor")
_gate.register(app)
_serve.register(app)
_predict.register(app)
_quickstart.register(app)
_ui.register(app)


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks for errors.")
    ] = False,
) -> None:
    """Shipyard: take a model from idea to production and keep it healthy there."""


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the workspace.")] = Path("."),
) -> None:
    """Create a workspace: shipyard.toml and .shipyard/ (database and artifacts)."""
    from shipyard.core.config import resolve_settings, write_default_config
    from shipyard.store import Store

    config = write_default_config(directory.resolve())
    Store.open(resolve_settings(directory.resolve())).close()
    typer.echo(f"Workspace ready: {config}")


@app.command()
def version(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the Shipyard version."""
    from shipyard import __version__

    if as_json:
        print_json({"shipyard": __version__, "python": sys.version.split()[0]})
    else:
        typer.echo(f"shipyard {__version__}")


def main() -> None:
    """Entry point: user mistakes print one line and exit 2; failures exit 1.

    Typer (Click) reports its own usage errors with exit code 2; Shipyard's errors are
    turned into one line here, with the traceback only under ``--debug``.
    """
    try:
        app()
    except Exception as exc:
        sys.exit(_report(exc, debug="--debug" in sys.argv[1:]))


def _report(exc: Exception, debug: bool) -> int:
    from shipyard.cli._output import print_error
    from shipyard.core.errors import InvalidInput, ShipyardError

    if debug:
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, ShipyardError):
        print_error(exc.message, exc.hint)
        return 2 if isinstance(exc, InvalidInput) else 1
    print_error(
        f"Unexpected {type(exc).__name__}: {exc}",
        "This is a bug in Shipyard; rerun with --debug and report the traceback.",
    )
    return 1
