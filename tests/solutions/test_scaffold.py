"""scaffold: a project folder with a workspace, the data and a pipeline of the tabular
solution; and the package staying light to import."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

import shipyard as sy
from shipyard.solutions import tabular


@pytest.fixture
def wine_csv(tmp_path: Path, wine: pd.DataFrame) -> Path:
    path = tmp_path / "Wine Quality.csv"
    wine.to_csv(path, index=False)
    return path


def test_scaffold_writes_a_workspace_the_data_and_a_pipeline(
    tmp_path: Path, wine_csv: Path
) -> None:
    root = tabular.scaffold(tmp_path / "project", wine_csv, "target")

    assert root == tmp_path / "project"
    config = tomllib.loads((root / "shipyard.toml").read_text())
    assert config["store"]["db_url"] == "sqlite:///.shipyard/shipyard.db"
    assert (root / ".shipyard").is_dir()
    assert (root / ".gitignore").read_text() == ".shipyard/\n"
    assert (root / "data" / "Wine Quality.csv").read_bytes() == wine_csv.read_bytes()
    source = (root / "pipeline.py").read_text()
    module = ast.parse(source)
    compile(module, "pipeline.py", "exec")
    functions = {f.name: f for f in module.body if isinstance(f, ast.FunctionDef)}
    assert [ast.unparse(functions[n].decorator_list[0]) for n in ("load", "train")] == [
        "sy.step(cache=False)",  # it reads a file the user may change
        "sy.step",
    ]
    pipeline = functions["tabular_pipeline"]
    assert ast.unparse(pipeline.decorator_list[0]) == "sy.pipeline"
    defaults = [ast.literal_eval(d) for d in pipeline.args.defaults]
    assert defaults == ["data/Wine Quality.csv", "target", "lightgbm"]
    assert "MODEL_NAME = 'wine-quality-target'" in source
    assert "tabular.train_tabular(frame, target, model=model, name=MODEL_NAME)" in source


def test_the_scaffolded_pipeline_trains_and_registers_a_model(
    tmp_path: Path, wine_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from shipyard.tracking import close_workspaces

    root = tabular.scaffold(tmp_path / "project", wine_csv, "target")
    monkeypatch.chdir(root)  # as `shipyard pipelines run` is used: from the project folder
    for name in ("SHIPYARD_HOME", "SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS"):
        monkeypatch.delenv(name, raising=False)
    spec = importlib.util.spec_from_file_location("scaffolded_pipeline", root / "pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        run = module.tabular_pipeline.run(progress=False, model="logistic_regression")
        result = run.output("train")
        assert run.status == "completed"
        assert result["model_uri"] == "models:/wine-quality-target/1"
        assert result["metrics"]["accuracy"] >= 0.9
        version = sy.get_model_version("wine-quality-target", 1)
        assert version.datasets == ("wine-quality-target:1",)
        # pipeline run > train step run > training run: the model traces back to the pipeline
        assert sy.get_run(version.run_id).parent_id == run.steps["train"].run_id
        # A changed data file trains a new model: load reads the file on every run.
        data = root / "data" / "Wine Quality.csv"
        pd.read_csv(data).iloc[:-20].to_csv(data, index=False)
        again = module.tabular_pipeline.run(progress=False, model="logistic_regression")
        assert [r.status for r in again.steps.values()] == ["completed", "completed"]
        assert again.output("train")["model_version"] == 2
    finally:
        close_workspaces()
    assert (root / ".shipyard" / "shipyard.db").is_file()  # the project's own workspace


def test_scaffold_writes_a_dataframe_as_parquet(tmp_path: Path, wine: pd.DataFrame) -> None:
    root = tabular.scaffold(tmp_path / "project", wine, "target")

    pd.testing.assert_frame_equal(pd.read_parquet(root / "data" / "train.parquet"), wine)
    assert "data: str = 'data/train.parquet'" in (root / "pipeline.py").read_text()


def test_scaffold_refuses_to_overwrite_or_to_guess(tmp_path: Path, wine_csv: Path) -> None:
    root = tabular.scaffold(tmp_path / "project", wine_csv, "target")
    with pytest.raises(sy.Conflict, match=r"pipeline\.py already exists"):
        tabular.scaffold(root, wine_csv, "target")
    with pytest.raises(sy.InvalidInput, match="no column 'quality'; its columns are 'alcohol'"):
        tabular.scaffold(tmp_path / "other", wine_csv, "quality")
    with pytest.raises(sy.NotFound, match="No data file"):
        tabular.scaffold(tmp_path / "other", tmp_path / "missing.csv", "target")
    assert not (tmp_path / "other").exists()


def test_importing_the_solution_loads_no_heavy_library() -> None:
    code = (
        "import sys; from shipyard.solutions import tabular; "
        "tabular.train_tabular, tabular.scaffold, tabular.TabularResult; "
        "heavy = ('pandas', 'numpy', 'sklearn', 'lightgbm', 'matplotlib', 'pyarrow'); "
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""


def test_the_public_surface_is_pinned() -> None:
    assert tabular.__all__ == [
        "TabularResult",
        "default_name",
        "infer_task",
        "scaffold",
        "train_tabular",
    ]


def test_new_tabular_from_the_command_line_runs_unchanged(
    tmp_path: Path, wine_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    for name in ("SHIPYARD_HOME", "SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS"):
        monkeypatch.delenv(name, raising=False)

    def shipyard(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shipyard", *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            env={**os.environ, "COLUMNS": "200"},
            timeout=300,
        )

    made = shipyard(
        "new", "tabular", "wine", "--data", str(wine_csv), "--target", "target", cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    assert "shipyard pipelines run pipeline:tabular_pipeline" in made.stdout
    project = tmp_path / "wine"
    ran = shipyard("pipelines", "run", "pipeline:tabular_pipeline", cwd=project)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "Pipeline tabular_pipeline completed" in ran.stdout
    models = shipyard("models", "list", "--json", cwd=project)
    assert '"latest_version": 1' in models.stdout
    again = shipyard(
        "new", "tabular", "wine", "--data", str(wine_csv), "--target", "target", cwd=tmp_path
    )
    assert again.returncode != 0 and "Traceback" not in again.stderr
