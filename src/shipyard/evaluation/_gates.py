"""Running a gate: the challenger and the champion evaluated on the same rows, compared, judged
by the policy, and the verdict recorded where promotion and people will look for it.

The verdict lands in four places: a tracked run (``shipyard.kind=gate``) holding the reports,
tags on the challenger's model version (``shipyard.gate.status``, read by ``promote``), report
files for CI artifacts, and ``$GITHUB_STEP_SUMMARY`` when running in GitHub Actions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput, NotFound
from shipyard.evaluation._custom import run_custom_gates
from shipyard.evaluation._policy import GateCheck, Policy, check_rules, load_policy

if TYPE_CHECKING:
    from shipyard.evaluation._records import Comparison, Evaluation
    from shipyard.registry import ModelVersion, RegistryService
    from shipyard.tracking import Run

__all__ = ["GATE_EXPERIMENT", "REPORT_MD", "GateResult", "gate", "infer_target"]

GATE_EXPERIMENT = "gates"
REPORT_FOLDER = "gate"
REPORT_MD = f"{REPORT_FOLDER}/gate-report.md"


@dataclass(frozen=True)
class GateResult:
    """A gate's verdict with everything it rests on: the checks, the comparison, the runs."""

    model_uri: str
    name: str
    version: int
    against: str | None  # what was asked for: an alias or a version number
    against_uri: str | None  # the champion version it resolved to; None when there was none
    dataset_ref: str | None
    target: str
    task: str
    passed: bool
    checks: tuple[GateCheck, ...]
    policy_source: str
    challenger: Evaluation
    champion: Evaluation | None = None
    comparison: Comparison | None = None
    run_id: str | None = None
    report_paths: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def status(self) -> str:
        return "passed" if self.passed else "failed"

    @property
    def report_uri(self) -> str | None:
        """Where the Markdown report is kept for good: an artifact of the gate's run."""
        return None if self.run_id is None else f"runs:/{self.run_id}/{REPORT_MD}"

    @property
    def failed_checks(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        """JSON values; the evaluations are summarised (metrics), not their predictions."""
        return {
            "model_uri": self.model_uri,
            "name": self.name,
            "version": self.version,
            "against": self.against,
            "against_uri": self.against_uri,
            "dataset_ref": self.dataset_ref,
            "target": self.target,
            "task": self.task,
            "passed": self.passed,
            "status": self.status,
            "checks": [c.to_dict() for c in self.checks],
            "policy_source": self.policy_source,
            "challenger_metrics": dict(self.challenger.metrics),
            "champion_metrics": None if self.champion is None else dict(self.champion.metrics),
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
            "run_id": self.run_id,
            "report_uri": self.report_uri,
            "report_paths": list(self.report_paths),
            "notes": list(self.notes),
        }


def gate(
    model_uri: str,
    data: Any,
    target: str | None = None,
    *,
    against: str | int | None = "champion",
    slices: Sequence[str] = (),
    policy: Policy | Mapping[str, Any] | str | Path | None = None,
    report_dir: str | Path | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    latency: bool = True,
) -> GateResult:
    """Gate a registered model version against ``against`` (an alias or version of the same
    model) on ``data`` (a dataset ref such as ``churn@latest``, a file, or a frame).

    Without a champion (``against=None``, or an alias nobody holds) only absolute rules apply.
    ``target`` may be left out when exactly one column of ``data`` is not a model input.
    ``report_dir`` also writes ``gate-report.md`` and ``gate-report.html`` there.
    ``latency=False`` skips timing predictions (latency rules then fail as not measured).
    """
    from shipyard.evaluation._records import HIGHER_IS_BETTER, TASK_METRICS
    from shipyard.models._ref import MODEL_META_FILE
    from shipyard.registry import registry_service

    chosen = load_policy(policy, HIGHER_IS_BETTER)  # a bad policy fails before any work
    registry = registry_service()
    version = registry.resolve(model_uri)
    meta = json.loads(
        registry.tracking.get_artifact(version.run_id, f"{version.artifact_path}/{MODEL_META_FILE}")
    )
    chosen.rules_for(TASK_METRICS[_task_of(meta)])
    champion_version, notes = _champion(registry, version, against)
    data, label = _pin(data)
    target = target or infer_target(meta, data, version.uri)
    options = {
        "slices": tuple(slices),
        "latency": latency,
        "n_resamples": n_resamples,
        "seed": seed,
        "confidence": confidence,
    }
    result, reports = _judge(version, champion_version, data, target, chosen, options)
    result = replace(result, against=None if against is None else str(against), notes=notes)
    if label and not result.dataset_ref:
        result = replace(result, dataset_ref=label)
    return _record(registry, result, reports, report_dir)


def _champion(
    registry: RegistryService, version: ModelVersion, against: str | int | None
) -> tuple[ModelVersion | None, tuple[str, ...]]:
    if against is None or against == "":
        return None, ("No champion asked for: only absolute rules apply.",)
    text = str(against)
    number = text.isascii() and text.isdigit()
    uri = f"models:/{version.name}/{text}" if number else f"models:/{version.name}@{text}"
    try:
        found = registry.resolve(uri)
    except NotFound:
        if number:
            raise  # a version asked for by number must exist
        return None, (f"{uri} does not exist yet: only absolute rules apply.",)
    if found.version == version.version:
        return found, (f"{version.uri} is {uri} itself: every difference is zero.",)
    return found, ()


def _pin(data: Any) -> tuple[Any, str | None]:
    """Read ``data`` once: a dataset ref becomes its version (``@latest`` must not move
    between the two evaluations), a file becomes a frame. Also a label for the report."""
    from shipyard.data import resolve_dataset
    from shipyard.evaluation._evaluate import is_data_path, read_data

    if isinstance(data, str) and not is_data_path(data):
        version = resolve_dataset(data)
        return version, version.ref
    if isinstance(data, (str, os.PathLike)):
        frame, _ = read_data(data)
        return frame, os.fspath(data)
    return data, None


def _task_of(meta: Mapping[str, Any]) -> str:
    """The task ``evaluate`` will find for this model, known before loading it, so that a rule
    on a metric of another task is refused before any work is done."""
    classes = (meta.get("flavor_meta") or {}).get("classes")
    return "regression" if not classes else "binary" if len(classes) == 2 else "multiclass"


def infer_target(meta: Mapping[str, Any], data: Any, uri: str) -> str:
    """The one column of ``data`` that is not an input of the model's signature (``meta``)."""
    from shipyard.data import DatasetVersion

    inputs = {column["name"] for column in meta["signature"]["inputs"].get("columns", ())}
    if isinstance(data, DatasetVersion):
        columns = list(data.schema.names)
    else:
        columns = [str(c) for c in getattr(data, "columns", ())]
    left = [c for c in columns if c not in inputs]
    if len(left) == 1:
        return left[0]
    raise InvalidInput(
        f"Cannot tell the target column for {uri}: the data has {len(left)} columns "
        f"the model does not take ({_some(left)}).",
        hint="Name it with --target COLUMN (target= in Python).",
    )


def _some(names: list[str], most: int = 8) -> str:
    shown = ", ".join(names[:most]) or "none"
    return f"{shown}, … {len(names) - most} more" if len(names) > most else shown


def _judge(
    version: ModelVersion,
    champion_version: ModelVersion | None,
    data: Any,
    target: str,
    policy: Policy,
    options: dict[str, Any],
) -> tuple[GateResult, dict[str, str]]:
    """Evaluate both models (child runs of the gate's run), compare, apply the policy, and
    keep the reports in the gate's run."""
    from shipyard.evaluation._compare import compare
    from shipyard.evaluation._evaluate import evaluate
    from shipyard.evaluation._records import HIGHER_IS_BETTER, TASK_METRICS
    from shipyard.tracking import start_run

    tags = {
        "shipyard.kind": "gate",
        "shipyard.gate.model": version.name,
        "shipyard.gate.version": version.version,
        "shipyard.gate.against": champion_version.uri if champion_version else "none",
    }
    name = f"gate {version.name}/{version.version}"
    slices, latency = options["slices"], options["latency"]
    with start_run(GATE_EXPERIMENT, name, tags=tags, parent=None) as run:
        challenger = evaluate(version, data, target, slices=slices, latency=latency)
        champion = comparison = None
        if champion_version is not None:
            champion = evaluate(champion_version, data, target, slices=slices, latency=latency)
            comparison = compare(
                champion,
                challenger,
                n_resamples=options["n_resamples"],
                seed=options["seed"],
                confidence=options["confidence"],
            )
        task_metrics = TASK_METRICS.get(challenger.task, tuple(challenger.metrics))
        checks = check_rules(
            policy.rules_for(task_metrics), HIGHER_IS_BETTER, challenger, comparison
        )
        checks += run_custom_gates(policy.custom, challenger, champion, comparison)
        result = GateResult(
            model_uri=version.uri,
            name=version.name,
            version=version.version,
            against=None,
            against_uri=None if champion_version is None else champion_version.uri,
            dataset_ref=challenger.dataset_ref,
            target=target,
            task=challenger.task,
            passed=all(c.passed for c in checks),
            checks=tuple(checks),
            policy_source=policy.source,
            challenger=challenger,
            champion=champion,
            comparison=comparison,
            run_id=run.id,
        )
        reports = _log(run, result)
    return result, reports


def _log(run: Run, result: GateResult) -> dict[str, str]:
    from shipyard.evaluation._report import markdown_report
    from shipyard.evaluation._report_html import html_report

    reports = {"gate-report.md": markdown_report(result), "gate-report.html": html_report(result)}
    for file_name, text in reports.items():
        run.log_artifact(text.encode(), f"{REPORT_FOLDER}/{file_name}")
    summary = json.dumps(result.to_dict(), indent=2, default=str)
    run.log_artifact(summary.encode(), f"{REPORT_FOLDER}/result.json")
    run.set_tags(
        {"shipyard.gate.status": result.status, "shipyard.gate.failed": len(result.failed_checks)}
    )
    return reports


def _record(
    registry: RegistryService,
    result: GateResult,
    reports: dict[str, str],
    report_dir: str | Path | None,
) -> GateResult:
    """Tag the model version, write the report files, append the GitHub step summary."""
    paths: list[str] = []
    if report_dir is not None:
        folder = Path(report_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, text in reports.items():
            (folder / file_name).write_text(text, encoding="utf-8")
            paths.append(str(folder / file_name))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as out:
            out.write(reports["gate-report.md"] + "\n")
    against = result.against_uri or "no champion"
    registry.set_version_tags(
        result.name,
        result.version,
        {
            "shipyard.gate.status": result.status,
            "shipyard.gate.run_id": result.run_id,
            "shipyard.gate.against": result.against_uri or "none",
        },
        reason=f"gate {result.status} against {against} on {result.dataset_ref or 'given data'}",
    )
    return replace(result, report_paths=tuple(paths))
