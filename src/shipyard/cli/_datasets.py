"""``shipyard datasets …``"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli._output import fmt_ms, print_json, print_table

if TYPE_CHECKING:
    from shipyard.data import DatasetVersion

app = typer.Typer(
    help="Dataset versions: schema, profile, validation.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_JSON = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_VERSION = Annotated[
    int | None, typer.Option("--version", "-v", help="Version number (default: newest).")
]


@app.command("list")
def list_(as_json: _JSON = False) -> None:
    """List datasets with their newest version."""
    from shipyard.data import list_datasets

    found = list_datasets()
    if as_json:
        print_json([d.__dict__ for d in found])
        return
    print_table(
        "Datasets",
        ["name", "latest", "rows", "columns", "updated"],
        [
            (d.name, d.latest_version, d.num_rows, d.num_columns, fmt_ms(d.updated_ms))
            for d in found
        ],
    )


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    version: _VERSION = None,
    as_json: _JSON = False,
) -> None:
    """Show a dataset version: its versions, schema and profile."""
    from shipyard.data import dataset_service

    service = dataset_service()
    dataset = service.get(name, version)
    if as_json:
        print_json(dataset.to_dict())
        return
    versions = service.versions(name)
    print_table(
        f"Dataset {name}",
        ["version", "rows", "columns", "digest", "run", "created"],
        [
            (
                f"{v.version}{' *' if v.version == dataset.version else ''}",
                v.num_rows,
                v.num_columns,
                v.content_digest[:12],
                v.run_id or "-",
                fmt_ms(v.created_ms),
            )
            for v in versions
        ],
    )
    _print_profile(dataset)


def _print_profile(dataset: DatasetVersion) -> None:
    profile = dataset.profile.to_dict()["columns"]
    rows = []
    for column in dataset.schema.columns:
        stats: dict[str, Any] = profile.get(column.name, {})
        top = stats.get("top_values") or []
        rows.append(
            (
                column.name,
                column.kind,
                f"{stats.get('missing_rate', 0.0):.1%}",
                stats.get("min"),
                stats.get("max"),
                stats.get("mean"),
                stats.get("std"),
                (stats.get("quantiles") or {}).get("p50"),
                ", ".join(f"{value} ({count})" for value, count in top[:3]) or "-",
            )
        )
    print_table(
        f"Profile of {dataset.ref} ({dataset.num_rows} rows)",
        ["column", "type", "missing", "min", "max", "mean", "std", "median", "top values"],
        rows,
    )


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file to check.")],
    against: Annotated[str, typer.Option("--against", help="Dataset name to check against.")],
    version: _VERSION = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on warnings too, not only on errors.")
    ] = False,
    as_json: _JSON = False,
) -> None:
    """Check FILE against a dataset version; exit 1 on errors (and on warnings with --strict)."""
    from shipyard.data import validate as validate_data

    report = validate_data(file, against, version=version)
    if as_json:
        print_json(report.to_dict())
    else:
        typer.echo(str(report))
    if not report.ok or (strict and report.warnings):
        raise typer.Exit(1)
