"""A reference to a model logged in a run: what ``log_model`` returns and the registry takes."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MODEL_META_FILE", "ModelRef"]

# Written last when a model is logged, so a model is visible only once all its files are stored.
MODEL_META_FILE = "shipyard-model.json"


@dataclass(frozen=True)
class ModelRef:
    run_id: str
    artifact_path: str
    flavor: str
    has_onnx: bool = False

    @property
    def uri(self) -> str:
        return f"runs:/{self.run_id}/{self.artifact_path}"

    def __str__(self) -> str:
        return self.uri
