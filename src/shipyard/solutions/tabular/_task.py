"""What kind of prediction a target column asks for: binary, multiclass or regression."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from shipyard.core.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MAX_CLASSES", "TASKS", "Task", "infer_task", "resolve_task"]

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")
# More distinct whole numbers than this reads as a count or an amount, not as class labels.
MAX_CLASSES = 20


def infer_task(target: pd.Series) -> Task:
    """The task a target column asks for, from its non-null values.

    The rule: a non-numeric target (strings, categories, booleans) is a class label, and so is a
    numeric one whose values are all whole numbers with at most ``MAX_CLASSES`` (20) distinct
    values; two classes make it ``binary``, more ``multiclass``. Any other numeric target is
    ``regression``. Pass ``task=`` to overrule it, e.g. for a 1-10 rating to be regressed.
    """
    values = target.dropna()
    if not _is_number(values):
        return "binary" if values.nunique() <= 2 else "multiclass"
    distinct = values.nunique()
    whole = bool((values.astype("float64") % 1 == 0).all())
    if whole and distinct <= MAX_CLASSES:
        return "binary" if distinct <= 2 else "multiclass"
    return "regression"


def resolve_task(target: pd.Series, task: str | None) -> Task:
    """The task to train for: ``task`` when given (checked against the target), else inferred.

    ``task="classification"`` is accepted and becomes binary or multiclass by the class count.
    """
    values = target.dropna()
    name = target.name
    if task is None:
        chosen = infer_task(target)
    elif task == "classification":
        chosen = "binary" if values.nunique() <= 2 else "multiclass"
    elif task in TASKS:
        chosen = task
    else:
        raise InvalidInput(
            f"Unknown task {task!r}.",
            hint=f"Use one of: {', '.join(TASKS)} or 'classification' (or leave it out).",
        )
    distinct = values.nunique()
    if distinct < 2:
        first: Any = values.iloc[0] if len(values) else None
        shown = repr(first.item() if hasattr(first, "item") else first)
        raise InvalidInput(
            f"The target column {name!r} has a single value ({shown}); there is nothing to "
            "predict.",
            hint="Pick a target column whose value varies between rows.",
        )
    if chosen == "regression" and not _is_number(values):
        raise InvalidInput(
            f"task='regression' needs a numeric target; column {name!r} holds "
            f"{target.dtype} values.",
            hint="Convert the column to numbers, or leave task out to classify it.",
        )
    if chosen == "binary" and distinct != 2:
        raise InvalidInput(
            f"task='binary' needs exactly two classes; column {name!r} has {distinct}.",
            hint="Use task='multiclass', or leave task out.",
        )
    if chosen == "multiclass" and distinct < 3:
        raise InvalidInput(
            f"task='multiclass' needs three or more classes; column {name!r} has two.",
            hint="Use task='binary', or leave task out.",
        )
    return chosen


def _is_number(values: pd.Series) -> bool:
    """Numbers that are not booleans: a True/False target is a class label."""
    import pandas as pd

    dtype = values.dtype
    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))
