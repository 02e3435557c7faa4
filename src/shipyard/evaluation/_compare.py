"""``sy.compare``: is the challenger really better than the champion, or just lucky on this data?

Both models scored the same rows, so their errors are paired: resampling rows once for both
and looking at the spread of the metric's difference is a much sharper test than comparing two
independent intervals. A metric is "better" or "worse" only when the whole interval of the
difference lies on one side of zero.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator, Sequence

from shipyard.core.errors import InvalidInput
from shipyard.evaluation._records import (
    HIGHER_IS_BETTER,
    PRIMARY_METRIC,
    TASK_METRICS,
    Comparison,
    Evaluation,
    MetricDelta,
    SliceDelta,
    Verdict,
)

__all__ = ["compare"]


def compare(
    champion: Evaluation,
    challenger: Evaluation,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    metrics: Sequence[str] | None = None,
) -> Comparison:
    """Paired bootstrap of each metric's difference (challenger - champion), and per-slice deltas.

    Both evaluations must cover the same rows (same data digest and target) for the same task.
    ``metrics`` defaults to the task's metrics that both evaluations report.
    """
    from shipyard.evaluation._bootstrap import WeightedScorer, interval, paired_deltas

    _check_options(n_resamples, seed, confidence)
    _check_pair(champion, challenger)
    task = champion.task
    names = _metric_names(task, metrics, champion, challenger)
    scorers = [
        WeightedScorer(task, names, e.y_true, e.y_pred, e.y_score, e.classes)  # type: ignore[arg-type]
        for e in (champion, challenger)
    ]
    with _one_blas_thread():
        deltas = paired_deltas(*scorers, n_rows=champion.n_rows, n_resamples=n_resamples, seed=seed)
    results: dict[str, MetricDelta] = {}
    for name in names:
        low, high = interval(deltas[name], confidence)
        before, after = champion.metrics[name], challenger.metrics[name]
        higher = HIGHER_IS_BETTER[name]
        verdict = _verdict(low, high, higher)
        results[name] = MetricDelta(name, before, after, after - before, low, high, higher, verdict)
    primary = PRIMARY_METRIC[task]
    slice_deltas = _slice_deltas(champion, challenger, primary)
    return Comparison(
        champion_uri=champion.model_uri,
        challenger_uri=challenger.model_uri,
        task=task,
        primary_metric=primary,
        deltas=results,
        slice_deltas=slice_deltas,
        worst_slice=_worst(slice_deltas, HIGHER_IS_BETTER[primary]),
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
    )


def _check_options(n_resamples: object, seed: object, confidence: object) -> None:
    if not isinstance(n_resamples, numbers.Integral) or isinstance(n_resamples, bool):
        raise InvalidInput(f"n_resamples must be an integer, got {n_resamples!r}.")
    if n_resamples < 1:
        raise InvalidInput(f"n_resamples must be at least 1, got {n_resamples}.", hint="Use 1000.")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise InvalidInput(f"seed must be a non-negative integer, got {seed!r}.")
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real):
        raise InvalidInput(f"confidence must be a number, got {confidence!r}.")
    if not 0 < float(confidence) < 1:
        raise InvalidInput(
            f"confidence must lie strictly between 0 and 1, got {confidence}.",
            hint="For a 95% interval, use 0.95.",
        )


def _check_pair(champion: Evaluation, challenger: Evaluation) -> None:
    """Refuse a comparison that would not be paired: different rows, targets or tasks."""
    for role, evaluation in (("champion", champion), ("challenger", challenger)):
        if not isinstance(evaluation, Evaluation):
            raise InvalidInput(
                f"The {role} must be an Evaluation, got {type(evaluation).__name__}.",
                hint="Make one with sy.evaluate(model, data, target).",
            )
        if evaluation.y_true is None or evaluation.y_pred is None or evaluation.y_score is None:
            raise InvalidInput(
                f"The {role} evaluation of {evaluation.model_uri} carries no predictions.",
                hint="Load it with shipyard.evaluation.load_evaluation(run_id), which reads them "
                "back from its run.",
            )
    if champion.task != challenger.task:
        raise InvalidInput(
            f"The champion was evaluated as a {champion.task} task and the challenger as "
            f"{challenger.task}.",
            hint="Evaluate both with the same task=.",
        )
    if champion.data_digest != challenger.data_digest or champion.n_rows != challenger.n_rows:
        raise InvalidInput(
            f"The evaluations scored different rows: the champion {_rows(champion)}, the "
            f"challenger {_rows(challenger)}.",
            hint="Evaluate both models on the same data (the same frame or dataset version).",
        )
    if champion.classes != challenger.classes:
        raise InvalidInput(
            f"The models have different classes: {champion.classes} (champion) and "
            f"{challenger.classes} (challenger).",
        )
    import numpy as np

    if not np.array_equal(champion.y_true, challenger.y_true):  # type: ignore[arg-type]
        raise InvalidInput(
            "The evaluations scored the same rows against different targets.",
            hint="Pass the same target column to both evaluations.",
        )


def _rows(evaluation: Evaluation) -> str:
    where = evaluation.dataset_ref or f"data {evaluation.data_digest[:12]}"
    return f"{evaluation.n_rows} rows of {where}"


def _metric_names(
    task: str, metrics: Sequence[str] | None, champion: Evaluation, challenger: Evaluation
) -> list[str]:
    both = set(champion.metrics) & set(challenger.metrics)
    if metrics is None:
        return [name for name in TASK_METRICS[task] if name in both]
    if isinstance(metrics, str):
        metrics = [metrics]
    unknown = [name for name in metrics if name not in TASK_METRICS[task]]
    if unknown:
        raise InvalidInput(
            f"Unknown {task} metric(s) {unknown}.",
            hint=f"Choose from {list(TASK_METRICS[task])}.",
        )
    missing = [name for name in metrics if name not in both]
    if missing:
        raise InvalidInput(
            f"Metric(s) {missing} are undefined on these rows (ROC AUC needs both classes).",
            hint="Compare on data holding every class, or leave them out of metrics=.",
        )
    return list(dict.fromkeys(metrics))


def _verdict(low: float, high: float, higher_is_better: bool) -> Verdict:
    if low > 0:
        return Verdict.BETTER if higher_is_better else Verdict.WORSE
    if high < 0:
        return Verdict.WORSE if higher_is_better else Verdict.BETTER
    return Verdict.NO_DIFFERENCE  # the interval holds 0 (or is undefined)


def _slice_deltas(champion: Evaluation, challenger: Evaluation, metric: str) -> list[SliceDelta]:
    out = []
    for column, groups in champion.slices.items():
        theirs = challenger.slices.get(column, {})
        for value, mine in groups.items():
            other = theirs.get(value, {})
            if metric in mine and metric in other:
                before, after = mine[metric], other[metric]
                n = int(mine.get("n", 0))
                out.append(SliceDelta(column, value, metric, before, after, after - before, n))
    return out


def _worst(deltas: list[SliceDelta], higher_is_better: bool) -> SliceDelta | None:
    """The slice where the challenger's own metric is worst (first one on a tie)."""
    finite = [d for d in deltas if math.isfinite(d.challenger)]
    if not finite:
        return None
    sign = 1 if higher_is_better else -1
    return min(finite, key=lambda d: sign * d.challenger)


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Threaded BLAS only spins on the small matrix-vector products of the bootstrap."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield
