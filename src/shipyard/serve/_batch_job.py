"""One batch job's plan and its scoring: which input columns to read, checked against the model
before any row is read, and how one chunk of rows becomes one chunk of output.

A job is small and picklable, so Ray actors score with the very plan the driver checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput, RunFailed, ShipyardError
from shipyard.serve._pinned_model import PROBA_PREFIX, PinnedModel

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.models._package import LoadedModel
    from shipyard.serve._batch_io import Source

__all__ = ["PREDICTION", "Job"]

PREDICTION = "prediction"
_RESERVED = (f"{PREDICTION}_", PROBA_PREFIX)  # copied columns may not start with these


@dataclass(frozen=True)
class Job:
    """What to read and write for one model and one input; picklable, for Ray actors."""

    model: PinnedModel
    input: str
    features: tuple[str, ...]
    passthrough: tuple[str, ...]
    proba: bool

    @classmethod
    def plan(cls, model: PinnedModel, source: Source, passthrough: list[str], proba: bool) -> Job:
        """Check the input against the model before any row is read, and name what to read."""
        present = source.column_names
        expected = model.input_columns
        if expected is None:  # a model fed one array: every column not copied through
            features = [c for c in present if c not in passthrough]
        else:
            features = expected
            missing = [c for c in expected if c not in present]
            if missing:
                raise InvalidInput(
                    f"The input {source.location!r} is missing column(s) {missing} that "
                    f"{model.label} takes; it has {present}.",
                    hint=f"The model takes {expected}; extra input columns are ignored.",
                )
        absent = [c for c in passthrough if c not in present]
        if absent:
            raise InvalidInput(
                f"Column(s) to copy {absent} are not in {source.location!r}; it has {present}.",
                hint="Copy only columns the input has (check spelling and case).",
            )
        if len(set(passthrough)) != len(passthrough):
            raise InvalidInput(
                f"Columns to copy name a column twice: {passthrough}.", hint="Name each once."
            )
        if proba and model.proba_columns is None:
            raise InvalidInput(
                f"{model.label} gives no class probabilities: it is not a classifier.",
                hint="Ask for predictions only (no --proba, proba=False).",
            )
        outputs = [PREDICTION, *(model.proba_columns or [])]
        clashes = [c for c in passthrough if c == PREDICTION or c.startswith(_RESERVED)]
        if clashes:
            raise InvalidInput(
                f"Copied column(s) {clashes} would clash with the output columns {outputs}.",
                hint="Rename those input columns, or do not copy them through.",
            )
        return cls(model, source.location, tuple(features), tuple(passthrough), proba)

    @property
    def read_columns(self) -> list[str]:
        return list(dict.fromkeys([*self.passthrough, *self.features]))

    def csv_types(self, schema: pa.Schema) -> dict[str, Any]:
        """Arrow types for the model's columns, from its signature, so that a CSV whose first
        block holds only whole numbers in a float column still reads its later 1.5."""
        import pyarrow as pa

        from shipyard.models._signature import TensorSpec

        inputs = self.model.signature.inputs
        types: dict[str, Any] = {}
        for spec in () if isinstance(inputs, TensorSpec) else inputs:
            dtype = spec.dtype
            if dtype.startswith("float"):
                types[spec.name] = pa.float64()
            elif dtype.startswith(("int", "uint")):
                types[spec.name] = pa.int64()  # the signature check then names an unfit value
            elif dtype == "bool":
                types[spec.name] = pa.bool_()
            elif dtype in ("string", "category"):
                types[spec.name] = pa.string()
        return {name: t for name, t in types.items() if name in schema.names}

    def score(self, model: LoadedModel, table: pa.Table, start: int | None) -> pa.Table:
        """One chunk's output: copied columns, predictions and, if asked, probabilities."""
        import numpy as np
        import pyarrow as pa

        rows = table.num_rows
        where = (
            f"Rows {start:,}-{start + rows - 1:,} of {self.input} (row numbers below count "
            f"from {start:,})"
            if start is not None
            else f"A batch of {rows:,} rows of {self.input}"
        )
        try:
            frame = table.select(list(self.features)).to_pandas()
            predicted, probabilities = model.run(model.prepare(frame), proba=self.proba)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc.message}", hint=exc.hint) from exc
        except ShipyardError:
            raise
        except Exception as exc:  # the model's library failed on these rows
            raise RunFailed(
                f"{where}: {self.model.label} failed: {type(exc).__name__}: {exc}",
                hint="Check these rows' values; rerun with --debug for the traceback.",
            ) from exc
        columns: dict[str, Any] = {name: table.column(name) for name in self.passthrough}
        predicted = np.asarray(predicted)
        if predicted.ndim == 1:
            columns[PREDICTION] = pa.array(predicted)
        else:
            flat = predicted.reshape(rows, -1)
            for i in range(flat.shape[1]):
                columns[f"{PREDICTION}_{i}"] = pa.array(flat[:, i])
        if self.proba:
            if probabilities is None:
                raise RunFailed(f"{where}: {self.model.label} returned no probabilities.")
            names = self.model.proba_columns or []
            for i, name in enumerate(names):
                columns[name] = pa.array(np.asarray(probabilities[:, i], dtype=np.float64))
        return pa.table(columns)
