"""The tracking API end to end, on a real SQLite file and a real PostgreSQL schema."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest

import shipyard as sy
from shipyard.tracking import tracking_service


@pytest.fixture(autouse=True)
def _ws(workspace: Path) -> Path:
    return workspace


def test_a_run_records_params_metrics_tags_and_environment() -> None:
    with sy.start_run(experiment="churn", name="baseline", tags={"team": "growth"}) as run:
        run.log_params({"lr": 0.1, "model": "lgbm"})
        run.log_metrics({"auc": 0.91, "loss": 0.3}, step=0)
        run.log_metric("auc", 0.93, step=1)
        run.set_tags({"stage": "dev"})
    stored = sy.get_run(run.id)
    assert stored.status == "FINISHED"
    assert stored.name == "baseline" and stored.experiment == "churn"
    assert stored.params == {"lr": "0.1", "model": "lgbm"}
    assert stored.metrics == {"auc": 0.93, "loss": 0.3}
    assert stored.tags == {"team": "growth", "stage": "dev"}
    assert stored.end_ms is not None and stored.end_ms >= stored.start_ms
    env = stored.environment
    assert env["python_version"].count(".") == 2
    assert env["packages"]["shipyard"] == sy.__version__
    assert env["host"]


def test_metric_history_keeps_every_value_in_step_order() -> None:
    with sy.start_run(experiment="hist") as run:
        for step in (2, 0, 1):
            run.log_metric("loss", step / 10, step=step)
        run.log_metric("acc", 0.5)
        run.log_metric("acc", 0.6)
        run.log_metric("weird", math.nan)
        run.log_metric("weird", math.inf)
    service = tracking_service()
    assert [(p.step, p.value) for p in service.metric_history(run.id, "loss")] == [
        (0, 0.0),
        (1, 0.1),
        (2, 0.2),
    ]
    assert [(p.step, p.value) for p in service.metric_history(run.id, "acc")] == [
        (0, 0.5),
        (1, 0.6),
    ]
    weird = [p.value for p in service.metric_history(run.id, "weird")]
    assert math.isnan(weird[0]) and weird[1] == math.inf
    assert sy.get_run(run.id).metrics["weird"] == math.inf


def test_latest_metric_is_the_highest_step_not_the_last_logged() -> None:
    with sy.start_run(experiment="latest") as run:
        run.log_metric("auc", 0.9, step=5)
        run.flush()
        run.log_metric("auc", 0.1, step=1)  # a late, older value must not win
    assert sy.get_run(run.id).metrics["auc"] == 0.9


def test_a_block_that_raises_ends_the_run_failed_with_the_message() -> None:
    with pytest.raises(ZeroDivisionError), sy.start_run(experiment="boom") as run:
        run.log_metric("before", 1.0)
        _ = 1 / 0
    stored = sy.get_run(run.id)
    assert stored.status == "FAILED"
    assert stored.error == "ZeroDivisionError: division by zero"
    assert stored.metrics == {"before": 1.0}
    assert sy.active_run() is None


def test_nested_runs_record_their_parent_and_share_its_experiment() -> None:
    with sy.start_run(experiment="cv") as parent:
        with sy.start_run(name="fold-0") as child:
            assert sy.active_run() is child
            sy.log_metric("auc", 0.8)  # module-level shortcut goes to the innermost run
        assert sy.active_run() is parent
    stored = sy.get_run(child.id)
    assert stored.parent_id == parent.id
    assert stored.experiment == "cv"
    assert stored.metrics == {"auc": 0.8}
    assert sy.get_run(parent.id).metrics == {}


def test_each_thread_has_its_own_active_run() -> None:
    seen: dict[str, str | None] = {}

    def worker() -> None:
        active = sy.active_run()
        seen["thread"] = None if active is None else active.id

    with sy.start_run(experiment="threads"):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    assert seen == {"thread": None}


def test_run_ids_sort_by_creation_time() -> None:
    ids = []
    for _ in range(5):
        with sy.start_run(experiment="order") as run:
            ids.append(run.id)
    assert ids == sorted(ids)
    assert [r.id for r in sy.search_runs("order").runs] == ids[::-1]  # newest first


def test_params_are_immutable_but_relogging_the_same_value_is_fine() -> None:
    with sy.start_run(experiment="immutable") as run:
        run.log_param("lr", 0.1)
        run.log_param("lr", 0.1)
        with pytest.raises(sy.Conflict, match=r"Param 'lr' .* already '0.1'.*'0.2'"):
            run.log_param("lr", 0.2)
        run.set_tag("note", "a")
        run.set_tag("note", "b")
    stored = sy.get_run(run.id)
    assert stored.params == {"lr": "0.1"} and stored.tags == {"note": "b"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.log_metric("", 1.0), "Invalid metric key ''"),
        (lambda r: r.log_metric("../x", 1.0), "Invalid metric key"),
        (lambda r: r.log_metric("auc", "high"), "must be a number, got str"),
        (lambda r: r.log_metric("auc", True), "must be a number, got bool"),
        (lambda r: r.log_metric("auc", 1.0, step=-1), "integer from 0 to 2..63-1"),
        (lambda r: r.log_metric("auc", 1.0, step=1.5), "integer from 0 to 2..63-1"),
        (lambda r: r.log_metric("auc", 1.0, step=2**63), "integer from 0 to 2..63-1"),
        (lambda r: r.log_metrics({"auc": 1.0}, step=True), "integer from 0 to 2..63-1"),
        (lambda r: r.log_metric("auc", 10**400), "must be a number"),
        (lambda r: r.log_params(["lr", 1]), "params must be given as a dict"),
        (lambda r: r.log_params({"x": "y" * 9000}), "limit is 8000"),
        (lambda r: r.log_artifact(b"data"), "got bytes but no name"),
        (lambda r: r.log_artifact(123, "x"), "takes a path or bytes"),
        (lambda r: r.log_figure(object(), "x.png"), "needs a matplotlib or plotly figure"),
    ],
)
def test_bad_input_is_refused_with_a_message_that_says_why(call, message) -> None:  # type: ignore[no-untyped-def]
    with sy.start_run(experiment="bad") as run, pytest.raises(sy.InvalidInput, match=message):
        call(run)
    assert sy.get_run(run.id).status == "FINISHED"  # a refused call does not break the run


def test_shortcuts_without_an_active_run_explain_how_to_start_one() -> None:
    with pytest.raises(sy.InvalidInput, match=r"No active run.*start_run"):
        sy.log_metric("auc", 1.0)


def test_search_finds_runs_by_metric_and_param_and_pages_through_them() -> None:
    for i in range(7):
        with sy.start_run(experiment="search") as run:
            run.log_params({"model": "lgbm" if i % 2 else "xgb"})
            run.log_metric("auc", i / 10)
    page = sy.search_runs(
        "search", filter="metrics.auc >= 0.2 and params.model = 'lgbm'", order_by="metrics.auc desc"
    )
    assert [r.metrics["auc"] for r in page.runs] == [0.5, 0.3]
    seen, token = [], None
    while True:
        page = sy.search_runs("search", order_by=["metrics.auc"], limit=3, page_token=token)
        seen += [r.metrics["auc"] for r in page.runs]
        token = page.next_page_token
        if token is None:
            break
    assert seen == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]


def test_search_errors_point_at_the_bad_token_and_unknown_experiments() -> None:
    with sy.start_run(experiment="known"):
        pass
    with pytest.raises(sy.InvalidFilter, match="position 14: expected a number"):
        sy.search_runs("known", filter="metrics.auc >> 1")
    with pytest.raises(sy.NotFound, match=r"No experiment named 'nope'.*Known experiments: known"):
        sy.search_runs("nope")


def test_experiments_are_listed_with_run_counts() -> None:
    for name in ("a", "b", "b"):
        with sy.start_run(experiment=name):
            pass
    assert [(e.name, e.run_count) for e in sy.list_experiments()] == [("a", 1), ("b", 2)]


def test_run_ids_resolve_from_a_unique_prefix() -> None:
    with sy.start_run(experiment="prefix") as run:
        pass
    assert sy.get_run(run.id[:10].lower()).id == run.id
    with pytest.raises(sy.InvalidInput, match="at least 6 characters"):
        sy.get_run("abc")
    with pytest.raises(sy.NotFound):
        sy.get_run("ZZZZZZZZZZ")


def test_numpy_numbers_are_accepted_as_values_and_steps() -> None:
    import numpy as np

    with sy.start_run(experiment="numpy") as run:
        run.log_metric("auc", np.float32(0.5), step=np.int64(3))
        run.log_metrics({"loss": np.int64(2)}, step=np.int32(4))
    history = tracking_service().metric_history(run.id, "auc")
    assert [(p.step, p.value) for p in history] == [(3, 0.5)]
    assert sy.get_run(run.id).metrics == {"auc": 0.5, "loss": 2.0}


def test_runs_ended_out_of_order_never_become_active_again() -> None:
    parent = sy.start_run(experiment="order")
    child = sy.start_run()
    parent.end()
    assert sy.active_run() is child
    child.end()
    assert sy.active_run() is None


def test_run_id_prefixes_are_not_patterns() -> None:
    with sy.start_run(experiment="pattern"):
        pass
    with pytest.raises(sy.InvalidInput, match="Invalid run id"):
        sy.get_run("%%%%%%")
    with pytest.raises(sy.InvalidInput, match="Invalid run id"):
        sy.get_run(123)  # type: ignore[arg-type]


def test_metric_histories_reads_many_runs_and_keys_at_once_like_metric_history() -> None:
    service = tracking_service()
    ids = []
    for shift in (0.0, 1.0):
        with sy.start_run(experiment="bulk") as run:
            for step in (3, 0, 2):
                run.log_metric("loss", step + shift, step=step)
            run.flush()  # a second chunk: the history spans chunks
            run.log_metrics({"loss": 9.0 + shift, "acc": math.nan}, step=1)
            run.log_metric("loss", 7.0 + shift, step=1)  # same step: kept in logging order
            run.log_metric("only_here", shift)
            ids.append(run.id)
    with sy.start_run(experiment="bulk") as quiet:
        pass
    every = service.metric_histories([ids[0][:16], ids[1], quiet.id])  # a prefix resolves too
    assert set(every) == {(i, k) for i in ids for k in ("loss", "acc", "only_here")}
    for run_id, key in every:
        one, bulk = service.metric_history(run_id, key), every[(run_id, key)]
        assert [(p.step, p.timestamp_ms) for p in bulk] == [(p.step, p.timestamp_ms) for p in one]
        assert [repr(p.value) for p in bulk] == [repr(p.value) for p in one]  # NaN too
    assert [(p.step, p.value) for p in every[(ids[1], "loss")]] == [
        (0, 1.0),
        (1, 10.0),
        (1, 8.0),
        (2, 3.0),
        (3, 4.0),
    ]
    some = service.metric_histories(ids, ["loss", "missing"])
    assert set(some) == {(ids[0], "loss"), (ids[1], "loss")}
    assert service.metric_histories(ids, []) == {} == service.metric_histories([])
    counts = service.metric_counts([*ids, quiet.id])
    assert counts == {pair: len(points) for pair, points in every.items()}
    assert service.metric_counts(ids, ["acc"]) == {(ids[0], "acc"): 1, (ids[1], "acc"): 1}


def test_latest_runs_by_tag_is_the_newest_run_of_each_tag_value() -> None:
    service = tracking_service()

    def make(target: str | None, kind: str = "check") -> str:
        tags = {"kind": kind} | ({"target": target} if target is not None else {})
        run = service.create_run("watch", initial_tags=tags)
        service.end_run(run.id)
        return run.id

    old_a = make("a")
    newest_b = make("b")
    for _ in range(3):
        newest_a = make("a")
    make("a", kind="retrain")  # newer, but not a check
    make(None)  # no target: not grouped
    service.create_run("elsewhere", initial_tags={"kind": "check", "target": "c"})
    latest = service.latest_runs_by_tag("watch", "target", {"kind": "check"})
    assert [(r.id, r.tags["target"]) for r in latest] == [(newest_a, "a"), (newest_b, "b")]
    assert latest[0].tags == {"kind": "check", "target": "a"} and latest[0].experiment == "watch"
    any_kind = service.latest_runs_by_tag("watch", "target")
    assert [r.tags["kind"] for r in any_kind] == ["retrain", "check"]
    assert old_a not in {r.id for r in any_kind}
    assert service.latest_runs_by_tag("watch", "target", {"kind": "nope"}) == []
    with pytest.raises(sy.NotFound):
        service.latest_runs_by_tag("no-such-experiment", "target")
