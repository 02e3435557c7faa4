"""``train_tabular``: from a table and a target column to an evaluated, registered model in
one tracked run."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput
from shipyard.core.names import check_entity_name
from shipyard.solutions.tabular._data import TrainingData, load_training_data
from shipyard.solutions.tabular._evaluate import HEADLINE, metric_values, predict, slice_metrics
from shipyard.solutions.tabular._features import Features, describe_features, prepare_features
from shipyard.solutions.tabular._importance import explain
from shipyard.solutions.tabular._models import (
    ModelChoice,
    choose_model,
    search_space,
    thread_limit,
)
from shipyard.solutions.tabular._report import log_evaluation
from shipyard.solutions.tabular._split import Split, holdout, split_rows
from shipyard.solutions.tabular._task import Task
from shipyard.solutions.tabular._train import Trained, train_model

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.data import DatasetVersion
    from shipyard.tracking import Run

__all__ = ["TabularResult", "default_name", "train_tabular"]


@dataclass(frozen=True)
class TabularResult:
    """What a tabular training produced and where to find it."""

    run_id: str
    model_uri: str  # models:/NAME/N once registered, else runs:/RUN/model
    task: Task
    metrics: dict[str, float]  # held-out metrics by name ("roc_auc"); logged as test.<name>
    dataset_ref: str  # the dataset version trained on, "name:version"
    model_version: int | None  # None when register=False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Plan:
    """Everything checked before the run starts, so that bad input leaves no failed run."""

    data: TrainingData
    name: str
    choice: ModelChoice
    features: Features
    split: Split
    validation: Split | None  # of the training rows: early stopping and tuning
    times: pd.Series | None
    slices: tuple[str, ...]
    test_size: float
    tune_trials: int
    seed: int


def train_tabular(
    data: Any,
    target: str,
    *,
    name: str | None = None,
    task: str | None = None,
    model: Any = "lightgbm",
    time_column: str | None = None,
    test_size: float = 0.2,
    slice_columns: Iterable[str] | str = (),
    tune_trials: int = 0,
    seed: int = 0,
    register: bool = True,
    experiment: str | None = None,
) -> TabularResult:
    """Train, evaluate and register a model that predicts ``target`` from the other columns.

    ``data`` is a CSV/Parquet path or a DataFrame. The task (binary, multiclass, regression) is
    inferred from the target unless ``task`` says it (see :func:`infer_task`). ``model`` is
    ``"lightgbm"``, a scikit-learn model by name (``"random_forest"``, ``"logistic_regression"``,
    ``"ridge"``, ``"hist_gradient_boosting"`` …) or an estimator instance. The latest
    ``test_size`` share of rows by ``time_column``, or else a seeded (stratified) random share,
    is held out for evaluation; ``tune_trials > 0`` tunes the model on a validation split of
    the training rows first. Everything goes into one run: the dataset version (lineage), params,
    ``test.*`` and ``slice.*`` metrics, figures, importance, test predictions and the model,
    registered as ``name`` (default: derived from the file name and target).
    """
    slices = (slice_columns,) if isinstance(slice_columns, str) else tuple(slice_columns)
    _check_arguments(target, test_size, seed, slices, tune_trials, register)
    loaded = load_training_data(
        data, target, task=task, time_column=time_column, slice_columns=slices
    )
    plan = _plan(loaded, name, model, time_column, test_size, slices, tune_trials, seed)
    from shipyard.tracking import active_run, start_run

    if experiment is None and active_run() is None:
        experiment = plan.name  # nested inside a run (a pipeline step), it joins the parent's
    with start_run(
        experiment=experiment, name=f"tabular-{plan.choice.name}", tags={"solution": "tabular"}
    ) as run:
        return _train_in_run(run, plan, register)


def _plan(
    loaded: TrainingData,
    name: str | None,
    model: Any,
    time_column: str | None,
    test_size: float,
    slices: tuple[str, ...],
    tune_trials: int,
    seed: int,
) -> _Plan:
    target, task = loaded.target, loaded.task
    name = check_entity_name("model", default_name(loaded.source, target) if name is None else name)
    choice = choose_model(model, task)
    features = describe_features(loaded.frame, exclude={target, time_column or target})
    times = None if time_column is None else loaded.frame[time_column]
    split = split_rows(loaded.y, task, test_size=test_size, seed=seed, times=times)
    validation = holdout(
        loaded.y.iloc[split.train],
        task,
        seed=seed,
        times=None if times is None else times.iloc[split.train],
    )
    if tune_trials:
        _require_tunable(choice, task, validation, len(split.train))
    return _Plan(
        loaded,
        name,
        choice,
        features,
        split,
        validation,
        times,
        slices,
        test_size,
        tune_trials,
        seed,
    )


def _require_tunable(
    choice: ModelChoice, task: Task, validation: Split | None, n_train: int
) -> None:
    if search_space(choice, task) is None:
        raise InvalidInput(
            f"Cannot tune {choice.name!r}: Shipyard has no search space for it.",
            hint="Tune a model given by name (e.g. 'lightgbm', 'random_forest'), or set "
            "tune_trials=0.",
        )
    if validation is None:
        raise InvalidInput(
            f"Tuning needs a validation split of the {n_train} training rows; they are too few.",
            hint="Add rows, or set tune_trials=0.",
        )


def _check_arguments(
    target: str,
    test_size: float,
    seed: int,
    slices: tuple[str, ...],
    tune_trials: int,
    register: bool,
) -> None:
    """The scalar arguments, checked before any data is read."""
    if not isinstance(target, str) or not target:
        raise InvalidInput(f"target must be a column name, got {target!r}.")
    if isinstance(test_size, bool) or not isinstance(test_size, int | float):
        raise InvalidInput(f"test_size must be a number between 0 and 1, got {test_size!r}.")
    if not 0 < test_size < 1:
        raise InvalidInput(
            f"test_size must be between 0 and 1 (the share of rows held out), got {test_size}.",
            hint="For example test_size=0.2.",
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InvalidInput(f"seed must be a whole number from 0 to 2**32-1, got {seed!r}.")
    if not all(isinstance(c, str) for c in slices):
        raise InvalidInput(f"slice_columns must be column names, got {list(slices)!r}.")
    if isinstance(tune_trials, bool) or not isinstance(tune_trials, int) or tune_trials < 0:
        raise InvalidInput(f"tune_trials must be a whole number >= 0, got {tune_trials!r}.")
    if not isinstance(register, bool):
        raise InvalidInput(f"register must be True or False, got {register!r}.")


def default_name(source: str | None, target: str) -> str:
    """The registered model's name when none is given: ``<file stem>-<target>`` for a file,
    the target alone for a DataFrame; lower case, other characters as ``-``."""
    text = f"{source}-{target}" if source else target
    slug = re.sub(r"[^a-z0-9_.-]+", "-", text.lower())
    slug = re.sub(r"^[^a-z0-9]+", "", slug).rstrip("-")[:128]
    return slug or "tabular"


def _train_in_run(run: Run, plan: _Plan, register: bool) -> TabularResult:
    data, split, task = plan.data, plan.split, plan.data.task
    dataset = run.log_dataset(data.table, plan.name, context="training")
    run.log_params(_params(plan, dataset))
    x = prepare_features(data.frame, plan.features, native_categories=plan.choice.lightgbm)
    x_train, y_train = x.iloc[split.train], data.y.iloc[split.train]
    x_test, y_test = x.iloc[split.test], data.y.iloc[split.test]
    with thread_limit(len(split.train)):
        trained = train_model(
            plan.choice,
            task,
            plan.features,
            x_train,
            y_train,
            validation=plan.validation,
            seed=plan.seed,
            tune_trials=plan.tune_trials,
        )
        pred = predict(trained.estimator, x_test, y_test, task)
        importance = explain(
            trained.estimator, plan.choice.lightgbm, x_test, y_test, task, plan.seed
        )
    run.log_params(_model_params(trained))
    metrics = metric_values(pred, task)
    run.log_metrics({f"test.{key}": value for key, value in metrics.items()})
    slices = None
    if plan.slices:
        slices, flat = slice_metrics(data.frame.iloc[split.test], pred, task, plan.slices)
        run.log_metrics(flat)
    rows = data.frame.index.to_numpy()[split.test]
    log_evaluation(run, pred, task, metrics, rows=rows, importance=importance, slices=slices)
    ref = run.log_model(trained.estimator, "model", input_example=x_train.head(5))
    if not register:
        return TabularResult(run.id, ref.uri, task, metrics, dataset.ref, None)
    from shipyard.registry import register_model

    run.flush()  # the version records the run's metrics as they are now
    version = register_model(
        ref,
        plan.name,
        description=_description(plan, dataset, metrics),
        tags={"solution": "tabular", "task": task},
    )
    return TabularResult(run.id, version.uri, task, metrics, dataset.ref, version.version)


def _params(plan: _Plan, dataset: DatasetVersion) -> dict[str, Any]:
    features = plan.features
    params: dict[str, Any] = {
        "task": plan.data.task,
        "target": plan.data.target,
        "model": plan.choice.name,
        "dataset": dataset.ref,
        "rows": len(plan.data.frame),
        "train_rows": len(plan.split.train),
        "test_rows": len(plan.split.test),
        "split": plan.split.method,
        "test_size": plan.test_size,
        "seed": plan.seed,
        "features": len(features.columns),
        "categorical_features": len(features.categorical),
        "tune_trials": plan.tune_trials,
    }
    if plan.times is not None:
        params["time_column"] = plan.times.name
    if features.dropped:
        params["dropped_columns"] = ", ".join(features.dropped)[:2000]
    return params


def _model_params(trained: Trained) -> dict[str, Any]:
    """The final estimator's own settings that read as one value each."""
    estimator = trained.estimator
    step = estimator[-1] if hasattr(estimator, "steps") else estimator
    simple = (str, int, float, bool, type(None))
    return {
        f"model.{key}": value
        for key, value in step.get_params(deep=False).items()
        if isinstance(value, simple)
    }


def _description(plan: _Plan, dataset: DatasetVersion, metrics: dict[str, float]) -> str:
    task = plan.data.task
    headline = HEADLINE[task]
    score = f"; test {headline} {metrics[headline]:.4f}" if headline in metrics else ""
    return (
        f"{plan.choice.name} {task} model of {plan.data.target!r} on {dataset.ref} "
        f"({len(plan.split.train)} training rows, {len(plan.features.columns)} features){score}."
    )
