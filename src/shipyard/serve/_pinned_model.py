"""A model URI pinned to one version on the driver, and loaded from those files where the rows are.

The URI is resolved once, up front, to the run artifact behind it; every chunk, Ray actor and
Spark executor then loads those same immutable files, even if an alias moves while a job runs.
Only the model's metadata is read when pinning; the model itself loads where it is used.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from shipyard.models._package import LoadedModel
    from shipyard.models._signature import Signature

__all__ = ["BACKENDS", "PROBA_PREFIX", "PinnedModel", "pin_model"]

BACKENDS = ("auto", "native", "onnx")
PROBA_PREFIX = "proba_"

_loaded: dict[tuple[Any, ...], LoadedModel] = {}
_loaded_lock = threading.Lock()


@dataclass(frozen=True)
class PinnedModel:
    """A model URI resolved once to the run artifact behind it, with what a worker needs to load
    it: the chosen backend and the driver's workspace settings (database URL, artifact store).

    It is small and picklable, so it travels to Ray actors and Spark executors, which then load
    exactly this version from the same store whatever their working folder or environment.
    """

    uri: str  # as the caller wrote it
    source: str  # runs:/RUN/PATH
    name: str | None
    version: int | None
    backend: str  # "native" or "onnx"
    environment: tuple[tuple[str, str], ...]
    meta: Mapping[str, Any] = field(compare=False, hash=False, repr=False)

    @property
    def label(self) -> str:
        """How messages name the model: models:/NAME/VERSION, or the run artifact."""
        return f"models:/{self.name}/{self.version}" if self.name else self.source

    @property
    def signature(self) -> Signature:
        from shipyard.models._signature import Signature

        return Signature.from_dict(self.meta["signature"])

    @property
    def input_columns(self) -> list[str] | None:
        """The named columns the model takes, in order; None for a model fed one array."""
        from shipyard.models._signature import TensorSpec

        inputs = self.signature.inputs
        return None if isinstance(inputs, TensorSpec) else [c.name for c in inputs]

    @property
    def proba_columns(self) -> list[str] | None:
        """Output names of the class probabilities (``proba_<class>``); None: not a classifier."""
        width = self.meta.get("proba_width")
        if width is None:
            return None
        classes = self.meta.get("flavor_meta", {}).get("classes")
        if not classes or len(classes) != width:
            classes = range(width)
        return [f"{PROBA_PREFIX}{c}" for c in classes]

    def load(self) -> LoadedModel:
        """The model, loaded in this process from the pinned files."""
        from shipyard.registry import load_model

        return load_model(self.source, backend=self.backend)

    def load_in_worker(self) -> LoadedModel:
        """The model in a worker process (Ray actor, Spark executor): loaded once per process.

        The worker first adopts the driver's workspace settings, as the Ray pipeline executor
        does, so it reads the same database and artifact store as the driver.
        """
        key = (self.source, self.backend, self.environment)
        with _loaded_lock:
            model = _loaded.get(key)
            if model is None:
                os.environ.update(dict(self.environment))
                model = _loaded[key] = self.load()
            return model


def pin_model(uri: str, backend: str = "auto", *, proba: bool = False) -> PinnedModel:
    """Resolve ``uri`` (models:/NAME/3, models:/NAME@ALIAS, runs:/RUN/PATH) to its files now.

    ``backend="auto"`` picks the verified ONNX form when there is one (and, with ``proba``, it
    gives probabilities), else the model's own library. Only the model's metadata is read here.
    """
    from shipyard.core.config import resolve_settings
    from shipyard.models._ref import MODEL_META_FILE
    from shipyard.registry import RunModelUri, parse_model_uri, registry_service

    if backend not in BACKENDS:
        raise InvalidInput(
            f"Unknown backend {backend!r}.",
            hint="Use auto (ONNX when the model has a verified ONNX form), native or onnx.",
        )
    settings = resolve_settings()
    service = registry_service()
    parsed = parse_model_uri(uri)
    name: str | None = None
    version: int | None = None
    if isinstance(parsed, RunModelUri):
        run_id = service.tracking.resolve_run_id(parsed.run_id)
        path = parsed.artifact_path
    else:
        found = service.resolve(parsed)
        run_id, path, name, version = found.run_id, found.artifact_path, found.name, found.version
    try:
        meta = json.loads(service.tracking.get_artifact(run_id, f"{path}/{MODEL_META_FILE}"))
    except NotFound:
        raise NotFound(
            f"Run {run_id} has no model at {path!r} ({uri}).",
            hint=f"List the run's files with: shipyard artifacts list {run_id}.",
        ) from None
    environment = (
        ("SHIPYARD_HOME", str(settings.root)),
        ("SHIPYARD_DB_URL", settings.db_url),
        ("SHIPYARD_ARTIFACTS", settings.artifacts),
    )
    return PinnedModel(
        uri=uri,
        source=f"runs:/{run_id}/{path}",
        name=name,
        version=version,
        backend=_choose_backend(backend, meta, proba),
        environment=environment,
        meta=meta,
    )


def _choose_backend(backend: str, meta: Mapping[str, Any], proba: bool) -> str:
    onnx = meta.get("onnx") or {}
    if backend != "auto":
        return backend
    if onnx.get("status") != "verified":
        return "native"
    if proba and not (onnx.get("outputs") or {}).get("proba"):
        return "native"  # the ONNX graph has labels only
    return "onnx"
