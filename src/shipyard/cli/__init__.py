"""Command-line interface (Typer + Rich): ``shipyard --help``."""

from shipyard.cli._app import app, main

__all__ = ["app", "main"]
