"""``shipyard predict``: score a CSV or Parquet file with a registered model (batch inference).

Exit codes: 0 when every row is scored and the output is in place, 2 for usage mistakes (a
missing input, an unknown format, columns the model needs but the file lacks), 1 otherwise. A
failed run leaves no output behind.
"""

from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli._output import print_json

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``predict`` to the root ``shipyard`` command."""
    app.command("predict")(predict)


def predict(
    model: Annotated[
        str,
        typer.Argument(
            help="models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN/PATH, NAME/VERSION or "
            "NAME@ALIAS."
        ),
    ],
    input_: Annotated[
        str,
        typer.Option(
            "--input", "-i", help="CSV or Parquet file (or folder of Parquet), local or a URL."
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Where predictions go: .parquet, .csv or .csv.gz (a folder of parts with "
            "--executor ray).",
        ),
    ],
    backend: Annotated[
        str, typer.Option(help="auto (ONNX when verified), native or onnx.")
    ] = "auto",
    batch_size: Annotated[
        int, typer.Option(min=1, help="Rows per chunk: memory use grows with it.")
    ] = 50_000,
    executor: Annotated[
        str, typer.Option(help="local (this process) or ray (Ray Data).")
    ] = "local",
    columns: Annotated[
        list[str] | None,
        typer.Option(
            "--columns",
            "-c",
            help="Input column(s) to copy to the output, e.g. an id (repeatable, or "
            "comma-separated).",
        ),
    ] = None,
    proba: Annotated[
        bool, typer.Option("--proba", help="Add proba_<class> columns (classifiers).")
    ] = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No progress bar (none off a terminal).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Score every row of --input with MODEL and write the predictions to --output.

    The input is read in chunks, so files larger than memory work; the output appears only
    once every row is written. The model version is fixed when the command starts.
    """
    from shipyard.cli._models import _as_uri
    from shipyard.serve._batch import predict_file

    passthrough = [name.strip() for item in columns or [] for name in item.split(",")]
    summary = predict_file(
        _as_uri(model),
        input_,
        output,
        backend=backend,
        batch_size=batch_size,
        executor=executor,
        columns=[name for name in passthrough if name],
        proba=proba,
        progress=not no_progress and not as_json,
    )
    if as_json:
        print_json(summary.to_dict())
        return
    typer.echo(
        f"Wrote {summary.rows:,} predictions to {summary.output} in {summary.seconds:.2f} s "
        f"({summary.rows_per_second:,.0f} rows/s) with {summary.model} ({summary.backend})."
    )
