"""``shipyard experiments …``"""

from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli._output import fmt_ms, print_json, print_table

app = typer.Typer(help="Experiments group runs.", no_args_is_help=True, rich_markup_mode=None)


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List experiments with their run counts."""
    from shipyard.tracking import list_experiments

    found = list_experiments()
    if as_json:
        print_json([e.__dict__ for e in found])
        return
    print_table(
        "Experiments",
        ["name", "runs", "created"],
        [(e.name, e.run_count, fmt_ms(e.created_ms)) for e in found],
    )
