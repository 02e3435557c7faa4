"""``shipyard models …``: registered models, versions, aliases, audit history and a load test."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli._output import fmt_ms, print_json, print_table

if TYPE_CHECKING:
    from shipyard.registry import ModelVersion

app = typer.Typer(
    help="The model registry: versions, aliases, history.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
alias_app = typer.Typer(
    help="Set or delete aliases (champion, challenger …).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(alias_app, name="alias")

_JSON = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_NAME = Annotated[str, typer.Argument(help="Registered model name.")]
_REASON = Annotated[
    str | None, typer.Option("--reason", "-m", help="Why: kept in the audit history.")
]


@app.command("list")
def list_(as_json: _JSON = False) -> None:
    """List registered models with their newest version and aliases."""
    from shipyard.registry import list_models

    found = list_models()
    if as_json:
        print_json([m.to_dict() for m in found])
        return
    print_table(
        "Registered models",
        ["name", "latest", "aliases", "updated"],
        [
            (
                m.name,
                m.latest_version,
                ", ".join(f"{a}→{v}" for a, v in m.aliases.items()) or "-",
                fmt_ms(m.updated_ms),
            )
            for m in found
        ],
    )


@app.command()
def show(
    uri: Annotated[
        str, typer.Argument(help="NAME (newest version), NAME/VERSION or a models:/ URI.")
    ],
    as_json: _JSON = False,
) -> None:
    """Show one model version: source run, flavor, status, aliases, metrics, datasets, tags."""
    from shipyard.registry import resolve_model

    found = resolve_model(_as_uri(uri))
    if as_json:
        print_json(found.to_dict())
        return
    rows = [
        ("uri", found.uri),
        ("source", found.source),
        ("flavor", found.flavor),
        ("status", found.status),
        ("aliases", ", ".join(found.aliases) or "-"),
        ("description", found.description or "-"),
        ("created", f"{fmt_ms(found.created_ms)} by {found.created_by or '-'}"),
        ("datasets", ", ".join(found.datasets) or "-"),
        *((f"metric {k}", v) for k, v in found.metrics.items()),
        *((f"tag {k}", v) for k, v in found.tags.items()),
    ]
    print_table(f"{found.name} version {found.version}", ["field", "value"], rows)


@app.command()
def versions(name: _NAME, as_json: _JSON = False) -> None:
    """List every version of a model."""
    from shipyard.registry import list_model_versions

    found = list_model_versions(name)
    if as_json:
        print_json([v.to_dict() for v in found])
        return
    print_table(
        f"Versions of {name}",
        ["version", "status", "aliases", "flavor", "run", "created"],
        [_version_row(v) for v in found],
    )


def _version_row(v: ModelVersion) -> tuple[object, ...]:
    return (
        v.version,
        v.status,
        ", ".join(v.aliases) or "-",
        v.flavor,
        v.run_id,
        fmt_ms(v.created_ms),
    )


@app.command()
def register(
    source: Annotated[str, typer.Argument(help="runs:/RUN_ID/PATH or a models:/ URI.")],
    name: _NAME,
    description: Annotated[str | None, typer.Option(help="What this version is.")] = None,
    reason: _REASON = None,
) -> None:
    """Register a logged model as the next version of NAME."""
    from shipyard.registry import register_model

    found = register_model(source, name, description=description, reason=reason)
    typer.echo(f"Registered {found.uri} from {found.source}")


@app.command()
def update(
    name: _NAME,
    version: Annotated[int, typer.Argument(help="Version number.")],
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    status: Annotated[str | None, typer.Option(help="ready or archived.")] = None,
    reason: _REASON = None,
) -> None:
    """Change a version's description or status."""
    from shipyard.registry import update_model_version

    found = update_model_version(
        name, version, description=description, status=status, reason=reason
    )
    typer.echo(f"Updated {found.uri}: status {found.status}")


@alias_app.command("set")
def alias_set(
    name: _NAME,
    alias: Annotated[str, typer.Argument(help="Alias, e.g. champion.")],
    version: Annotated[int, typer.Argument(help="Version the alias points at.")],
    reason: _REASON = None,
) -> None:
    """Point NAME@ALIAS at VERSION (creating or moving it)."""
    from shipyard.registry import set_alias

    set_alias(name, alias, version, reason=reason)
    typer.echo(f"models:/{name}@{alias} -> version {version}")


@alias_app.command("delete")
def alias_delete(
    name: _NAME,
    alias: Annotated[str, typer.Argument(help="Alias to delete.")],
    reason: _REASON = None,
) -> None:
    """Delete an alias (the version itself stays)."""
    from shipyard.registry import delete_alias

    delete_alias(name, alias, reason=reason)
    typer.echo(f"Deleted models:/{name}@{alias}")


@app.command()
def history(name: _NAME, as_json: _JSON = False) -> None:
    """Every change to a model, oldest first: who, when, what and why."""
    from shipyard.registry import model_history

    events = model_history(name)
    if as_json:
        print_json([e.to_dict() for e in events])
        return
    print_table(
        f"History of {name}",
        ["when", "who", "action", "version", "detail", "reason"],
        [
            (
                fmt_ms(e.at_ms),
                e.user,
                e.action,
                e.version,
                ", ".join(f"{k}={v}" for k, v in e.detail.items()) or "-",
                e.reason,
            )
            for e in events
        ],
    )


@app.command("load-test")
def load_test(
    uri: Annotated[str, typer.Argument(help="models:/NAME/VERSION, models:/NAME@ALIAS or runs:/…")],
    backend: Annotated[str, typer.Option(help="native or onnx.")] = "native",
    batch_size: Annotated[int, typer.Option(min=1, max=1_000_000, help="Rows per batch.")] = 1000,
    seconds: Annotated[
        float, typer.Option(min=0.1, max=600, help="Time spent on each measurement.")
    ] = 2.0,
    as_json: _JSON = False,
) -> None:
    """Load a model and measure single-row and batch prediction latency on its input example."""
    from shipyard.registry._load_test import load_test as run_load_test

    report = run_load_test(_as_uri(uri), backend=backend, batch_size=batch_size, seconds=seconds)
    if as_json:
        print_json(report)
        return
    print_table(
        f"Load test of {report['uri']} ({report['backend']})",
        ["measurement", "value"],
        [(key, value) for key, value in report.items() if key not in ("uri", "backend")],
    )


@app.command()
def card(
    uri: Annotated[str, typer.Argument(help="NAME/VERSION, NAME@ALIAS or a models:/ URI.")],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="The HTML file to write (NAME-vN-card.html)."),
    ] = None,
) -> None:
    """Write a version's model card, in plain words for non-technical readers, as one
    self-contained HTML file: it opens offline, prints cleanly and can be mailed."""
    from pathlib import Path

    from shipyard.core.errors import InvalidInput
    from shipyard.registry import resolve_model
    from shipyard.ui._pages_card import standalone_card

    found = resolve_model(_as_uri(uri))
    target = Path(output or f"{found.name}-v{found.version}-card.html")
    page = standalone_card(found.name, found.version)
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            f"Cannot write the model card to {str(target)!r}: {exc.strerror or exc}.",
            hint="Pass -o with a path in a folder that exists and that you can write to.",
        ) from None
    typer.echo(f"Wrote the model card of {found.uri} to {target}")


def _as_uri(text: str) -> str:
    """Let people type ``churn`` or ``churn/3`` where a ``models:/`` URI is expected."""
    if text.startswith(("models:/", "runs:/")):
        return text
    name, sep, rest = text.partition("/")
    if sep:
        return f"models:/{name}/{rest}"
    name, sep, alias = text.partition("@")
    return f"models:/{name}@{alias}" if sep else f"models:/{text}@latest"
