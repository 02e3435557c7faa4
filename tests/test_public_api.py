"""The public surface of ``shipyard`` is pinned, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import shipyard

EXPECTED = {
    "ArtifactCorrupted",
    "ConfigError",
    "Conflict",
    "InvalidArtifactName",
    "InvalidFilter",
    "InvalidInput",
    "NotFound",
    "Run",
    "RunPage",
    "RunRecord",
    "RunStatus",
    "ShipyardError",
    "StoreError",
    "__version__",
    "active_run",
    "get_run",
    "list_experiments",
    "log_artifact",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
    # datasets
    "DatasetVersion",
    "ValidationReport",
    "get_dataset",
    "list_datasets",
    "load_dataset",
    "log_dataset",
    "validate",
    # models
    "LoadedModel",
    "ModelRef",
    "PythonModel",
    "Signature",
    "log_model",
    # pipelines
    "PipelineRun",
    "RunFailed",
    "pipeline",
    "step",
    # evaluation and gates
    "Comparison",
    "Evaluation",
    "GateResult",
    "compare",
    "evaluate",
    "gate",
    "promote",
    "rollback",
    # tuning
    "TuneResult",
    "tune",
    # registry
    "ModelVersion",
    "delete_alias",
    "get_model_version",
    "list_model_versions",
    "list_models",
    "load_model",
    "model_history",
    "register_model",
    "set_alias",
    "update_model_version",
}

HEAVY = ["sqlalchemy.orm", "pandas", "numpy", "sklearn", "torch", "alembic", "pydantic"]


def test_public_names_are_pinned_and_all_resolve() -> None:
    assert set(shipyard.__all__) == EXPECTED
    for name in shipyard.__all__:
        assert getattr(shipyard, name) is not None


def _modules_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(done.stdout.split())


def test_import_shipyard_loads_nothing_heavy() -> None:
    loaded = _modules_after("import shipyard")
    assert not [m for m in [*HEAVY, "sqlalchemy", "typer"] if m in loaded]


def test_shipyard_help_loads_nothing_heavy() -> None:
    code = (
        "import sys; sys.argv = ['shipyard', '--help']\n"
        "from shipyard.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    loaded = _modules_after(code)
    assert not [m for m in [*HEAVY, "sqlalchemy"] if m in loaded]


def test_registry_and_models_load_no_model_library_until_used() -> None:
    loaded = _modules_after("import shipyard.registry, shipyard.models, shipyard.cli._models")
    libraries = ["pandas", "sklearn", "torch", "lightgbm", "xgboost", "onnxruntime", "skops"]
    assert not [m for m in libraries if m in loaded]
