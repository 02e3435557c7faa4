"""How step outputs become files and back, chosen by the value's type.

DataFrames and Arrow tables → Parquet, ndarrays → ``.npy`` (never pickled), JSON values → JSON,
models → their flavor's files, dataset versions → a reference. A type with no materializer is a
clear error; :func:`register_materializer` adds one.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard.core.errors import InvalidInput

__all__ = [
    "Materializer",
    "get_materializer",
    "materializer_for",
    "register_materializer",
]

Read = Callable[[str], bytes]


@dataclass(frozen=True)
class Materializer:
    """``handles(value)`` picks it; ``save`` returns named files; ``load`` reads them back."""

    name: str
    handles: Callable[[Any], bool]
    save: Callable[[Any], dict[str, bytes]]
    load: Callable[[Read], Any]


def _module_is(value: Any, prefix: str) -> bool:
    return any(k.__module__.split(".")[0] == prefix for k in type(value).__mro__)


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str) or _is_numpy_scalar(value):
        return True
    if isinstance(value, list | tuple):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def _is_numpy_scalar(value: Any) -> bool:
    """``np.int64(3)``, ``np.bool_(True)``…: what ``frame[col].sum()`` and friends return."""
    return (
        _module_is(value, "numpy")
        and type(value).__name__ != "ndarray"
        and getattr(value, "ndim", None) == 0
        and getattr(value.dtype, "kind", None) in ("b", "i", "u", "f", "U")
    )


def _save_json(value: Any) -> dict[str, bytes]:
    text = json.dumps(value, sort_keys=True, allow_nan=True, default=lambda v: v.item())
    return {"value.json": text.encode()}


def _save_pandas(frame: Any) -> dict[str, bytes]:
    import pyarrow as pa

    from shipyard.data._frames import to_parquet_bytes

    # Unlike dataset versions, step outputs keep their index: the next step expects the frame.
    return {"data.parquet": to_parquet_bytes(pa.Table.from_pandas(frame))}


def _load_pandas(read: Read) -> Any:
    from shipyard.data._frames import from_parquet_bytes

    return from_parquet_bytes(read("data.parquet")).to_pandas()


def _save_arrow(table: Any) -> dict[str, bytes]:
    from shipyard.data._frames import to_parquet_bytes

    return {"data.parquet": to_parquet_bytes(table)}


def _load_arrow(read: Read) -> Any:
    from shipyard.data._frames import from_parquet_bytes

    return from_parquet_bytes(read("data.parquet"))


def _save_numpy(array: Any) -> dict[str, bytes]:
    import numpy as np

    if array.dtype.hasobject:
        raise InvalidInput(
            "A step returned a NumPy array of Python objects, which cannot be stored safely.",
            hint="Return a numeric or string array, a DataFrame, or a list.",
        )
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return {"array.npy": buffer.getvalue()}


def _load_numpy(read: Read) -> Any:
    import numpy as np

    return np.load(io.BytesIO(read("array.npy")), allow_pickle=False)


def _is_dataset(value: Any) -> bool:
    return type(value).__name__ == "DatasetVersion" and _module_is(value, "shipyard")


def _save_dataset(version: Any) -> dict[str, bytes]:
    return {"dataset.json": json.dumps({"name": version.name, "version": version.version}).encode()}


def _load_dataset(read: Read) -> Any:
    from shipyard.data import get_dataset

    ref = json.loads(read("dataset.json"))
    return get_dataset(ref["name"], ref["version"])


def _is_model(value: Any) -> bool:
    if not any(_module_is(value, lib) for lib in ("sklearn", "lightgbm", "xgboost", "torch")):
        return False
    from shipyard.models import flavor_for

    try:
        flavor_for(value)
    except InvalidInput:
        return False
    return True


def _save_model(model: Any) -> dict[str, bytes]:
    from shipyard.models import flavor_for

    flavor = flavor_for(model)
    files: dict[str, bytes] = {}
    meta = flavor.save(model, files, {})
    manifest = {"flavor": flavor.name, "flavor_meta": meta, "files": sorted(files)}
    return {
        **{f"model/{k}": v for k, v in files.items()},
        "model.json": json.dumps(manifest).encode(),
    }


def _load_model(read: Read) -> Any:
    from shipyard.models import get_flavor

    manifest = json.loads(read("model.json"))
    return get_flavor(manifest["flavor"]).load(
        lambda f: read(f"model/{f}"), manifest["flavor_meta"]
    )


_BUILTINS = [
    Materializer("json", _is_json, _save_json, lambda read: json.loads(read("value.json"))),
    Materializer("dataset", _is_dataset, _save_dataset, _load_dataset),
    Materializer(
        "pandas",
        lambda v: _module_is(v, "pandas") and type(v).__name__ == "DataFrame",
        _save_pandas,
        _load_pandas,
    ),
    Materializer(
        "arrow",
        lambda v: _module_is(v, "pyarrow") and type(v).__name__ == "Table",
        _save_arrow,
        _load_arrow,
    ),
    Materializer(
        "numpy",
        lambda v: _module_is(v, "numpy") and type(v).__name__ == "ndarray",
        _save_numpy,
        _load_numpy,
    ),
    Materializer("model", _is_model, _save_model, _load_model),
]
_registered: list[Materializer] = []


def register_materializer(materializer: Materializer) -> None:
    """Add a materializer; it is tried before the built-ins, latest registered first."""
    _registered.insert(0, materializer)


def _all() -> list[Materializer]:
    return [*_registered, *_BUILTINS]


def materializer_for(value: Any, step: str) -> Materializer:
    for materializer in _all():
        if materializer.handles(value):
            return materializer
    raise InvalidInput(
        f"Step {step!r} returned a {type(value).__module__}.{type(value).__qualname__}, which "
        "Shipyard does not know how to store.",
        hint="Return a DataFrame, Arrow table, ndarray, JSON value, model or dataset version, or "
        "register one with shipyard.pipelines.register_materializer(Materializer(...)).",
    )


def get_materializer(name: str) -> Materializer:
    for materializer in _all():
        if materializer.name == name:
            return materializer
    raise InvalidInput(
        f"No materializer named {name!r} in this process.",
        hint="Register it with shipyard.pipelines.register_materializer before running.",
    )
