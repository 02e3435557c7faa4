"""The CI flow: train with a pipeline, gate what it registered, promote it if the gate passes.

``shipyard ci`` is meant to be the one line of a CI job; its exit code is the verdict (0 pass,
1 pipeline or gate failed, 2 usage error), and everything it decided is kept in the store.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from shipyard.evaluation._gates import GateResult
    from shipyard.evaluation._policy import Policy
    from shipyard.pipelines import PipelineRun
    from shipyard.registry import ModelVersion, RegistryService

__all__ = ["CiResult", "run_ci"]


@dataclass(frozen=True)
class CiResult:
    """What one CI run did: the pipeline run, the version it gated and whether it moved."""

    pipeline: PipelineRun
    version: ModelVersion | None = None
    gate: GateResult | None = None
    promoted: bool = False

    @property
    def passed(self) -> bool:
        return self.pipeline.status == "completed" and self.gate is not None and self.gate.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "pipeline": {
                "run_id": self.pipeline.run_id,
                "name": self.pipeline.name,
                "status": self.pipeline.status,
                "failed_steps": self.pipeline.failed,
            },
            "model_uri": None if self.version is None else self.version.uri,
            "gate": None if self.gate is None else self.gate.to_dict(),
            "promoted": self.promoted,
        }


def run_ci(
    target: str,
    *,
    data: Any,
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
    label: str | None = None,
    alias: str = "champion",
    promote: bool = False,
    slices: Sequence[str] = (),
    policy: Policy | Mapping[str, Any] | str | Path | None = None,
    report_dir: str | Path | None = None,
    n_resamples: int = 1000,
    latency: bool = True,
    cache: bool = True,
) -> CiResult:
    """Run the pipeline ``target`` (``module:function``), gate the version of ``model`` it
    registered against ``alias`` on ``data`` (``label``: the target column), and with
    ``promote=True`` move the alias to it when the gate passes.
    """
    from shipyard.evaluation._gates import gate
    from shipyard.evaluation._promote import promote as promote_version
    from shipyard.pipelines._loader import load_pipeline
    from shipyard.registry import registry_service

    if data is None:
        raise InvalidInput(
            "The CI gate needs data to evaluate on.",
            hint="Pass --data with a held-out dataset (e.g. churn@latest) or file.",
        )
    pipeline = load_pipeline(target)
    started_ms = int(time.time() * 1000)
    run = pipeline.run(cache=cache, raise_on_failure=False, **dict(params or {}))
    if run.status != "completed":
        return CiResult(run)
    registry = registry_service()
    version = _registered(registry, model, started_ms, run.run_id)
    result = gate(
        version.uri,
        data,
        label,
        against=alias,
        slices=slices,
        policy=policy,
        report_dir=report_dir,
        n_resamples=n_resamples,
        latency=latency,
    )
    promoted = False
    if promote and result.passed:
        promote_version(
            version.name, version.version, alias, reason=f"ci: gate passed (run {result.run_id})"
        )
        promoted = True
    return CiResult(run, version, result, promoted)


def _registered(
    registry: RegistryService, model: str | None, started_ms: int, run_id: str
) -> ModelVersion:
    """The newest version registered since ``started_ms``: of ``model``, or of the only model
    that got one."""
    models = [registry.get_model(model)] if model else registry.list_models()
    newest = [registry.get_version(m.name, m.latest_version) for m in models if m.latest_version]
    fresh = [v for v in newest if v.created_ms >= started_ms]
    if model is None and len(fresh) > 1:
        raise InvalidInput(
            f"Pipeline run {run_id} registered versions of several models: "
            f"{', '.join(v.uri for v in fresh)}.",
            hint="Say which to gate with --model NAME.",
        )
    if not fresh:
        which = f"model {model!r}" if model else "any model"
        raise NotFound(
            f"Pipeline run {run_id} registered no new version of {which}.",
            hint="Does the pipeline register its model (sy.register_model)? A cached step "
            "registers nothing: rerun with --no-cache.",
        )
    return fresh[0]
