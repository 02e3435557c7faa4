"""Predictions joined to the labels that arrived for them later.

Feedback is matched on ``(request_id, row)``, and feedback without a row applies to every row of
its request (as the inference log defines it). Labels are sent more than once when a caller
corrects one, so the latest to arrive wins; between a row's own label and its request's label
arriving at the same instant, the row's own wins. Rows without a label are kept, with a null
label, so label coverage can be reported; feedback for requests that are not in the
predictions (older than the rows read, or dropped by a full log buffer) is ignored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from shipyard.core.errors import InvalidInput

__all__ = ["join_feedback"]

_KEYS = ("request_id", "row")


def join_feedback(
    predictions: pa.Table, feedback: pa.Table, *, keep_inputs: bool = False
) -> pd.DataFrame:
    """The predicted rows, in their order, with ``label`` (null until one arrived) and
    ``label_ts`` (when it arrived).

    ``label`` keeps the feedback table's type; classifiers compare it with the logged classes as
    text (see :mod:`shipyard.monitor._logged`). The ``inputs`` struct is left out unless
    ``keep_inputs``: performance does not need it and it is the costly column to convert.
    """
    _check_table(predictions, "predictions", ("request_id", "row", "ts"))
    _check_table(feedback, "feedback", ("request_id", "row", "ts", "label"))
    for name in ("label", "label_ts"):
        if name in predictions.column_names:
            raise InvalidInput(f"The predictions already have a {name} column.")
    position = _latest_feedback(predictions, feedback)
    indices = pa.array(position, type=pa.int64(), mask=position < 0)
    table = predictions if keep_inputs else _without(predictions, "inputs")
    table = table.append_column("label", feedback.column("label").take(indices))
    table = table.append_column("label_ts", feedback.column("ts").take(indices))
    return table.to_pandas()


def _latest_feedback(predictions: pa.Table, feedback: pa.Table) -> npt.NDArray[np.int64]:
    """For each predicted row, the position in ``feedback`` of its winning label (-1: none)."""
    keys = predictions.select(list(_KEYS)).to_pandas().astype({"row": "int64"})
    sent = feedback.select(["request_id", "row", "ts"]).to_pandas()
    sent["position"] = np.arange(len(sent), dtype=np.int64)
    sent = sent.sort_values(["ts", "position"], kind="stable")  # latest last
    per_row = sent[sent["row"].notna()].astype({"row": "int64"})
    per_row = per_row.drop_duplicates(list(_KEYS), keep="last")
    per_request = sent[sent["row"].isna()].drop(columns="row")
    per_request = per_request.drop_duplicates("request_id", keep="last")
    # Left merges on unique right keys keep the predictions' rows and order.
    own = keys.merge(per_row, on=list(_KEYS), how="left")
    shared = keys[["request_id"]].merge(per_request, on="request_id", how="left")
    use_shared = (shared["ts"].notna() & ~(own["ts"] >= shared["ts"])).to_numpy()
    position = np.where(use_shared, shared["position"], own["position"])
    out: npt.NDArray[np.int64] = np.nan_to_num(position.astype(np.float64), nan=-1).astype(np.int64)
    return out


def _check_table(table: pa.Table, what: str, columns: Sequence[str]) -> None:
    if not isinstance(table, pa.Table):
        raise InvalidInput(
            f"The {what} must be a pyarrow Table, got {type(table).__name__}.",
            hint="Read them with read_inference_log and read_feedback.",
        )
    missing = [name for name in columns if name not in table.column_names]
    if missing:
        raise InvalidInput(
            f"The {what} have no {', '.join(missing)} column.",
            hint="Read them with read_inference_log and read_feedback.",
        )


def _without(table: pa.Table, name: str) -> pa.Table:
    return table.drop_columns([name]) if name in table.column_names else table
