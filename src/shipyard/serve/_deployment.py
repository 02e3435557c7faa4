"""Deployments: a route whose traffic goes to one or more model versions that follow aliases.

Each traffic target (``champion``, ``challenger`` …) is a :class:`Variant` holding the version
it serves now. A watcher asks the registry every ``poll_seconds`` where the alias points; when
it has moved, the new version is loaded and warmed on a loader thread while the old one keeps
serving, then swapped in with one assignment. Requests already queued on the old version finish
there; its batcher then drains and stops. Rolling back is moving the alias back.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from shipyard.core.errors import InvalidInput, Unavailable
from shipyard.models._package import LoadedModel
from shipyard.registry._records import ModelVersion
from shipyard.registry._uris import ModelUri, RunModelUri, check_model_name, parse_model_uri
from shipyard.serve._batcher import Batch, MicroBatcher
from shipyard.serve._config import DeploymentSpec

__all__ = [
    "Deployment",
    "ServedModel",
    "Target",
    "Variant",
    "load_version",
    "model_uri",
    "targets_of",
]

log = logging.getLogger("shipyard.serve")
_GOLDEN = 0.6180339887498949  # low-discrepancy split: 2,000 requests land within 0.1% of target


@dataclass(frozen=True)
class Target:
    """Where a share of a deployment's traffic goes: a label, a models:/ URI and a weight."""

    label: str
    uri: str
    weight: int = 1


def targets_of(spec: DeploymentSpec) -> tuple[str, list[Target], Target | None]:
    """The registered model's name, the traffic targets and the shadow target of ``spec``.

    With a traffic split, ``model`` may be the bare model name: the split names the versions.
    """
    what = f"deployment {spec.name!r}: model"
    bare = spec.traffic is not None and not any(c in spec.model for c in ":/@")
    if bare:
        name = _checked_name(spec.model, what)
    else:
        parsed = model_uri(spec.model, what=what)
        name = parsed.name
    if spec.traffic is None:
        targets = [Target(_label(parsed), str(parsed), 1)]
    else:
        targets = [
            Target(key, _target_uri(name, key, spec.name), weight)
            for key, weight in spec.traffic.items()
            if weight > 0
        ]
    shadow = None
    if spec.shadow is not None:
        shadow = Target(spec.shadow, _target_uri(name, spec.shadow, spec.name), 0)
    return name, targets, shadow


def model_uri(value: str, *, what: str) -> ModelUri:
    """``value`` (models:/NAME@ALIAS, models:/NAME/3, or NAME@ALIAS) as a registered model URI."""
    try:
        parsed = parse_model_uri(value if ":/" in value else f"models:/{value}")
    except InvalidInput as exc:
        raise InvalidInput(f"{what}: {exc.message}", hint=exc.hint) from None
    if isinstance(parsed, RunModelUri):
        raise InvalidInput(
            f"{what} is {value!r}, a run's model; a deployment serves registered versions.",
            hint="Register it first: shipyard models register RUN_URI NAME.",
        )
    return parsed


def _checked_name(value: str, what: str) -> str:
    try:
        return check_model_name(value)
    except InvalidInput as exc:
        raise InvalidInput(f"{what}: {exc.message}", hint=exc.hint) from None


def _target_uri(name: str, key: str, deployment: str) -> str:
    if key.startswith("models:/"):
        return str(model_uri(key, what=f"deployment {deployment!r}: traffic target"))
    if key.isdigit():
        return f"models:/{name}/{int(key)}"
    return str(model_uri(f"{name}@{key}", what=f"deployment {deployment!r}: traffic target"))


def _label(uri: ModelUri) -> str:
    return uri.alias if uri.alias is not None else f"v{uri.version}"


@dataclass
class ServedModel:
    """One loaded model version and the batcher that feeds it."""

    version: ModelVersion
    model: LoadedModel
    batcher: MicroBatcher
    classes: list[Any] | None


def load_version(uri: str, backend: str) -> tuple[ModelVersion, LoadedModel]:
    """Resolve ``uri`` now, open that version (ONNX when it has a verified form and ``backend``
    is ``auto``), and warm it on its own input example. Blocking: run it on a loader thread."""
    from shipyard.registry import load_model, resolve_model

    version = resolve_model(uri)
    model: LoadedModel | None = None
    if backend in ("auto", "onnx"):
        try:
            model = load_model(version, backend="onnx")
        except InvalidInput:
            if backend == "onnx":
                raise
    if model is None:
        model = load_model(version, backend="native")
    example = _input_example(version, model)
    if example is not None:
        model.predict(example)  # first calls pay for lazy initialisation; not the users
    return version, model


def _input_example(version: ModelVersion, model: LoadedModel) -> Any:
    import numpy as np

    from shipyard.registry import registry_service

    name = model.metadata.get("input_example")
    if not name:
        return None
    tracking = registry_service().tracking
    example = json.loads(tracking.get_artifact(version.run_id, f"{version.artifact_path}/{name}"))
    if example.get("kind") == "dataframe":
        return [dict(zip(example["columns"], example["data"][0], strict=True))]
    return np.asarray(example["data"], dtype=example["dtype"])[:1]


class Variant:
    """One traffic target of a deployment and the version it serves now."""

    def __init__(
        self,
        deployment: Deployment,
        target: Target,
        *,
        role: str,
    ) -> None:
        self.deployment = deployment
        self.target = target
        self.role = role
        self.current: ServedModel | None = None
        self.last_error: str | None = None

    @property
    def label(self) -> str:
        return self.target.label

    def serving(self) -> ServedModel:
        """The version to send a request to now, or Unavailable while none is loaded."""
        current = self.current
        if current is None:
            raise Unavailable(
                f"Deployment {self.deployment.name!r} is still loading {self.target.uri}.",
                hint="Retry shortly; GET /v2/health/ready says when the server is ready.",
                retry_after=1,
            )
        return current

    async def refresh(self) -> bool:
        """Load the version the target names now if it is not the one served; True if swapped."""
        loop = asyncio.get_running_loop()
        deployment = self.deployment
        try:
            version = await loop.run_in_executor(deployment.loader, _resolve, self.target.uri)
            if self.current is not None and self.current.version.version == version.version:
                return False
            version, model = await loop.run_in_executor(
                deployment.loader, load_version, version.uri, deployment.spec.backend
            )
        except Exception as exc:  # keep serving what we have; say why the new one is not served
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("deployment %s: cannot load %s: %s", deployment.name, self.target.uri, exc)
            return False
        self.last_error = None
        served = deployment.serve_model(self, version, model)
        old, self.current = self.current, served
        log.info(
            "deployment %s: %s serves %s (%s backend)",
            deployment.name,
            self.label,
            version.uri,
            model.backend,
        )
        deployment.swapped(self, old, served)
        if old is not None:
            await old.batcher.close()  # requests queued on the old version finish there
        return True


def _resolve(uri: str) -> ModelVersion:
    from shipyard.registry import resolve_model

    return resolve_model(uri)


class Deployment:
    """A named route: traffic split over variants, an optional shadow, and their watcher."""

    def __init__(
        self,
        spec: DeploymentSpec,
        *,
        loader: ThreadPoolExecutor,
        on_batch: Callable[[Deployment, ServedModel, Variant, Batch], None],
        on_swap: Callable[[Deployment, Variant, ServedModel | None, ServedModel], None],
        want_proba: bool,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.model_name, targets, shadow = targets_of(spec)
        self.loader = loader
        self.variants = [Variant(self, t, role="primary") for t in targets]
        self.shadow = Variant(self, shadow, role="shadow") if shadow is not None else None
        self._weights = _cumulative([t.weight for t in targets])
        self._on_batch = on_batch
        self._on_swap = on_swap
        self._want_proba = want_proba
        self._counter = 0
        self._sticky = spec.sticky_header.encode() if spec.sticky_header else None
        self.swaps: deque[dict[str, Any]] = deque(maxlen=50)
        self.shadow_dropped = 0
        self._watcher: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return all(v.current is not None for v in self.variants)

    def all_variants(self) -> list[Variant]:
        return [*self.variants, *([self.shadow] if self.shadow else [])]

    def pick(self, headers: Mapping[bytes, bytes]) -> Variant:
        """The variant for one request: sticky by header value when configured, else a split
        that follows the weights closely even over a few hundred requests."""
        if len(self.variants) == 1:
            return self.variants[0]
        value = headers.get(self._sticky) if self._sticky else None
        if value:
            digest = hashlib.blake2b(value, digest_size=8).digest()
            point = int.from_bytes(digest, "big") / 2**64
        else:
            self._counter += 1
            point = (self._counter * _GOLDEN) % 1.0
        for variant, bound in zip(self.variants, self._weights, strict=True):
            if point < bound:
                return variant
        return self.variants[-1]

    def serve_model(
        self, variant: Variant, version: ModelVersion, model: LoadedModel
    ) -> ServedModel:
        """Wrap a freshly loaded version with its own batcher (called on the event loop)."""
        spec = self.spec
        served: ServedModel
        shadow = variant.role == "shadow"

        def on_batch(batch: Batch) -> None:
            self._on_batch(self, served, variant, batch)

        batcher = MicroBatcher(
            model,
            max_batch_size=spec.max_batch_size,
            max_wait_ms=spec.max_wait_ms,
            max_queue=spec.max_queue,
            want_proba=self._want_proba,
            on_batch=on_batch,
            prepare_in_worker=shadow,
            timeout_s=None if shadow else spec.timeout_s,
            name=f"{self.name}-{variant.label}-v{version.version}",
        )
        classes = model.metadata.get("flavor_meta", {}).get("classes")
        served = ServedModel(version, model, batcher, list(classes) if classes else None)
        batcher.start()
        return served

    def swapped(self, variant: Variant, old: ServedModel | None, new: ServedModel) -> None:
        if old is not None:
            self.swaps.append(
                {
                    "time_ms": int(time.time() * 1000),
                    "variant": variant.label,
                    "from_version": old.version.version,
                    "to_version": new.version.version,
                }
            )
            log.info(
                "deployment %s: %s swapped v%s -> v%s",
                self.name,
                variant.label,
                old.version.version,
                new.version.version,
            )
        self._on_swap(self, variant, old, new)

    async def load(self) -> None:
        """Load every variant (concurrently), then follow their aliases until cancelled."""
        await asyncio.gather(*(v.refresh() for v in self.all_variants()))
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.spec.poll_seconds)
            for variant in self.all_variants():
                await variant.refresh()

    async def close(self) -> None:
        """Stop following aliases and finish every queued request."""
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        for variant in self.all_variants():
            if variant.current is not None:
                await variant.current.batcher.close()

    def status(self) -> dict[str, Any]:
        """What the deployment serves now, for GET /v1/deployments and the dashboard."""
        total = sum(t.target.weight for t in self.variants)
        return {
            "name": self.name,
            "model": self.model_name,
            "ready": self.ready,
            "variants": [
                {
                    "label": v.label,
                    "uri": v.target.uri,
                    "role": v.role,
                    "traffic_percent": round(100 * v.target.weight / total, 3)
                    if v.role == "primary"
                    else 0.0,
                    "version": v.current.version.version if v.current else None,
                    "backend": v.current.model.backend if v.current else None,
                    "queue_depth": v.current.batcher.depth if v.current else 0,
                    "last_error": v.last_error,
                }
                for v in self.all_variants()
            ],
            "recent_swaps": list(self.swaps),
            "shadow_dropped": self.shadow_dropped,
        }


def _cumulative(weights: list[int]) -> list[float]:
    total = float(sum(weights))
    bounds, running = [], 0.0
    for weight in weights:
        running += weight / total
        bounds.append(running)
    bounds[-1] = 1.0
    return bounds
