"""Score Spark DataFrames with a registered model: ``predict_udf(spark, uri)`` is a pandas UDF.

The model version is resolved once, on the driver, when the UDF is made: every executor then
loads those same files, even if the alias moves while the job runs. The UDF carries the
driver's workspace settings (database URL and artifact store), so executors find the model
whatever their working folder; they must be able to reach both (PostgreSQL and an object store
on a cluster; SQLite and a local folder work on one machine, ``local[*]``). Each executor
process loads the model once and keeps it for every batch it is given.

Nothing here imports pyspark until ``predict_udf`` is called.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.serve._pinned_model import PinnedModel

__all__ = ["predict_udf"]


def predict_udf(
    spark: Any,
    uri: str,
    *,
    backend: str = "auto",
    result_type: Any = None,
) -> Any:
    """A pandas UDF that predicts with the model at ``uri`` (models:/NAME@ALIAS, …).

    Call it on the model's input columns in the model's order, ``udf(*columns)``, or on one
    struct whose fields are matched by name, ``udf(F.struct(*df.columns))`` (extra fields are
    ignored). It returns the prediction per row, typed from the model's signature (long,
    double, boolean or string; an array for multi-output models) unless ``result_type`` says
    otherwise. ``backend`` is auto (ONNX when verified), native or onnx.
    """
    from typing import Union

    import pandas as pd
    from pyspark.sql.pandas.functions import pandas_udf

    from shipyard.serve._pinned_model import pin_model

    model = pin_model(uri, backend)
    _warn_if_unreachable(spark, model.environment)
    scorer = _Scorer(model)
    returns = result_type if result_type is not None else _spark_type(model.meta)

    def predict(*columns: Any) -> Any:
        return scorer(columns)

    # pyspark infers the UDF kind from real annotation objects (pandas is only imported now),
    # and reads typing.Union, not X | Y.
    predict.__annotations__ = {"columns": Union[pd.Series, pd.DataFrame], "return": pd.Series}  # noqa: UP007
    return pandas_udf(predict, returnType=returns)  # type: ignore[call-overload]  # varargs


@dataclass(frozen=True)
class _Scorer:
    """What each Spark task runs: a module-level, picklable object, so the model cache it uses
    is this module's, shared by every task of the executor process."""

    model: PinnedModel

    def __call__(self, columns: tuple[Any, ...]) -> Any:
        import numpy as np
        import pandas as pd

        predicted = np.asarray(self.model.load_in_worker().predict(self._frame(columns)))
        if predicted.ndim > 1:
            return pd.Series(list(predicted.reshape(len(predicted), -1)))
        return pd.Series(predicted)

    def _frame(self, columns: tuple[Any, ...]) -> Any:
        """The batch as the model takes it: named columns, or one array in column order."""
        import numpy as np
        import pandas as pd

        names = self.model.input_columns
        if len(columns) == 1 and isinstance(columns[0], pd.DataFrame):
            return columns[0] if names is not None else columns[0].to_numpy()  # a struct
        if names is None:
            return np.column_stack([column.to_numpy() for column in columns])
        if len(columns) != len(names):
            raise InvalidInput(
                f"The UDF for {self.model.label} got {len(columns)} column(s); the model "
                f"takes {len(names)}: {names}.",
                hint="Pass the model's columns in this order, or one F.struct(...) of them.",
            )
        return pd.DataFrame({n: c.to_numpy() for n, c in zip(names, columns, strict=True)})


def _spark_type(meta: Any) -> Any:
    """The Spark type of the predictions, from the dtype recorded when the model was logged."""
    import numpy as np
    from pyspark.sql import types as T

    outputs = (meta.get("signature") or {}).get("outputs") or {}
    shape = outputs.get("shape") or [-1]
    dtype = str(meta.get("predict_dtype") or outputs.get("dtype") or "float64")
    kind = "U" if dtype in ("string", "str", "object") else np.dtype(dtype).kind
    element: Any = {
        "f": T.DoubleType(),
        "i": T.LongType(),
        "u": T.LongType(),
        "b": T.BooleanType(),
    }.get(kind, T.StringType())
    return T.ArrayType(element) if len(shape) > 1 else element


def _warn_if_unreachable(spark: Any, environment: tuple[tuple[str, str], ...]) -> None:
    """Warn when a cluster's executors are unlikely to see a SQLite file or a local folder."""
    try:
        master = str(spark.conf.get("spark.master", "local"))
    except Exception:  # a session that cannot say (Spark Connect): nothing to check
        return
    settings = dict(environment)
    local_store = settings["SHIPYARD_DB_URL"].startswith("sqlite") or (
        "://" not in settings["SHIPYARD_ARTIFACTS"]
    )
    if not master.startswith("local") and local_store:
        warnings.warn(
            f"The workspace uses {settings['SHIPYARD_DB_URL']} and "
            f"{settings['SHIPYARD_ARTIFACTS']}; Spark executors on other machines can read them "
            "only through a shared filesystem. Use PostgreSQL and an object store for clusters.",
            stacklevel=3,
        )
