"""A third-party flavor as small as it gets: ``EchoModel`` returns its input's first column."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from shipyard.models import Flavor

__all__ = ["EchoFlavor", "EchoModel"]


class EchoModel:
    """Predicts the first column of whatever it is given, times ``scale``."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def predict(self, data: Any) -> Any:
        return np.asarray(data, dtype=float)[:, 0] * self.scale


class EchoFlavor(Flavor):
    """Saves an ``EchoModel`` as JSON."""

    name: ClassVar[str] = "echo"

    def handles(self, model: object) -> bool:
        return isinstance(model, EchoModel)

    def save(
        self, model: Any, files: dict[str, bytes], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        files["echo.json"] = json.dumps({"scale": model.scale}).encode()
        return {"file": "echo.json"}

    def load(self, read: Callable[[str], bytes], meta: Mapping[str, Any]) -> Any:
        return EchoModel(**json.loads(read(meta["file"])))

    def predict(self, model: Any, inputs: Any, meta: Mapping[str, Any]) -> Any:
        return model.predict(inputs)


def at_least_ten_rows(challenger: Any, champion: Any, comparison: Any) -> str:
    """A custom gate, registered in the ``shipyard.gates`` entry-point group: it passes (an
    empty message) when the challenger was evaluated on at least ten rows."""
    return "" if challenger.n_rows >= 10 else f"only {challenger.n_rows} rows were evaluated"
