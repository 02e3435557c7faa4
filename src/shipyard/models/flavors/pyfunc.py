"""Models that are plain Python: ``PythonModel`` subclasses and functions, saved with cloudpickle.

This is the one flavor that pickles. Its bytes are only ever read back through the ``read``
callable over the workspace's own verified blobs, never from a path a user hands in.
"""

from __future__ import annotations

import abc
import functools
import types
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from shipyard.models._flavor import Flavor, distribution_versions

__all__ = ["PythonFunctionFlavor", "PythonModel"]

_FILE = "model.cloudpickle"


class PythonModel(abc.ABC):
    """Base class for a model written in Python: wrap any library or custom logic.

    Keep state in attributes set in ``__init__``; the instance is pickled whole.
    """

    @abc.abstractmethod
    def predict(self, data: Any) -> Any:
        """Predictions for prepared ``data`` (a DataFrame or an ndarray, per the signature)."""


class PythonFunctionFlavor(Flavor):
    """``PythonModel`` instances and plain functions ``f(data) -> predictions``."""

    name: ClassVar[str] = "pyfunc"

    def handles(self, model: object) -> bool:
        return isinstance(model, PythonModel | types.FunctionType | functools.partial)

    def save(
        self, model: Any, files: dict[str, bytes], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        import cloudpickle

        files[_FILE] = cloudpickle.dumps(model)
        kind = "python_model" if isinstance(model, PythonModel) else "function"
        return {"format": "cloudpickle", "file": _FILE, "kind": kind}

    def load(self, read: Callable[[str], bytes], meta: Mapping[str, Any]) -> Any:
        import cloudpickle

        return cloudpickle.loads(read(meta.get("file", _FILE)))

    def predict(self, model: Any, inputs: Any, meta: Mapping[str, Any]) -> Any:
        return model.predict(inputs) if isinstance(model, PythonModel) else model(inputs)

    def library_versions(self) -> dict[str, str]:
        return distribution_versions(["cloudpickle"])
