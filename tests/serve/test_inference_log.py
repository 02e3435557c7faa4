"""The inference log: bounded, never blocking, atomic Parquet parts that read back exactly."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.core.errors import InvalidInput, StoreError
from shipyard.serve._inference_log import (
    FEEDBACK_SCHEMA,
    INFERENCE_SCHEMA,
    Feedback,
    InferenceLog,
    LogBatch,
    read_feedback,
    read_inference_log,
)

DAY_MS = 86_400_000
T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC
StoreLocation = tuple[str, dict[str, Any]]


@pytest.fixture
def logs() -> Iterator[list[InferenceLog]]:
    """Logs to close after the test, whatever happened in it (their threads must not leak)."""
    opened: list[InferenceLog] = []
    yield opened
    for log in opened:
        log.close(timeout=10)


def make_log(logs: list[InferenceLog], location: str, **kwargs: Any) -> InferenceLog:
    log = InferenceLog(location, kwargs.pop("storage_options", None), **kwargs)
    logs.append(log)
    return log


def classifier_batch(received_ms: int = T0, deployment: str = "churn") -> LogBatch:
    """Two requests (2 rows + 1 row) to a classifier with mixed-type DataFrame inputs."""
    inputs = pd.DataFrame(
        {
            "tenure": [1.5, 2.25, np.nan],
            "calls": [3, 0, 7],
            "plan": ["basic", None, "pro"],
            "region": pd.Categorical(["north", "south", "north"]),
        }
    )
    return LogBatch(
        deployment=deployment,
        model_name="churn",
        model_version=1,
        variant="champion",
        role="primary",
        request_ids=["r1", "r2"],
        rows_per_request=[2, 1],
        received_ms=[received_ms, received_ms + 250],
        latency_ms=[1.5, 0.75],
        inputs=inputs,
        input_names=None,
        predictions=np.array(["stay", "leave", "stay"], dtype=object),
        probabilities=np.array([[0.75, 0.25], [0.125, 0.875], [0.5, 0.5]]),
        classes=np.array(["stay", "leave"], dtype=object),
    )


def regressor_batch(
    request_ids: list[str],
    rows: list[int],
    received_ms: list[int],
    *,
    version: int = 1,
    names: tuple[str, ...] = ("x", "y"),
    deployment: str = "price",
) -> LogBatch:
    """A regressor with ndarray inputs; input and prediction values encode the row's position."""
    n = sum(rows)
    values = np.arange(n * len(names), dtype=np.float64).reshape(n, len(names))
    return LogBatch(
        deployment=deployment,
        model_name="price",
        model_version=version,
        variant="champion",
        role="primary",
        request_ids=request_ids,
        rows_per_request=rows,
        received_ms=received_ms,
        latency_ms=[2.0] * len(rows),
        inputs=values,
        input_names=list(names),
        predictions=values.sum(axis=1),
    )


def part_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_round_trip_keeps_values_types_order_and_time(
    tmp_path: Path, logs: list[InferenceLog]
) -> None:
    log = make_log(logs, str(tmp_path))
    log.start()
    assert log.append(classifier_batch())
    assert log.append(regressor_batch(["p1", "p2"], [1, 3], [T0 + 5, T0 + 9]))
    log.flush(timeout=10)
    assert (log.written_rows, log.buffered_rows, log.dropped_rows) == (7, 0, 0)

    churn = read_inference_log(str(tmp_path), "churn")
    assert churn.column_names == INFERENCE_SCHEMA.names
    assert churn.schema.field("inputs").type == pa.struct(
        [("tenure", pa.float64()), ("calls", pa.int64()), ("plan", pa.string()),
         ("region", pa.string())]
    )  # fmt: skip
    rows = churn.to_pylist()
    assert [(r["request_id"], r["row"]) for r in rows] == [("r1", 0), ("r1", 1), ("r2", 0)]
    assert [r["inputs"] for r in rows] == [
        {"tenure": 1.5, "calls": 3, "plan": "basic", "region": "north"},
        {"tenure": 2.25, "calls": 0, "plan": None, "region": "south"},
        {"tenure": None, "calls": 7, "plan": "pro", "region": "north"},  # NaN is missing
    ]
    assert [r["prediction"] for r in rows] == ["stay", "leave", "stay"]
    assert [r["proba"] for r in rows] == [[0.75, 0.25], [0.125, 0.875], [0.5, 0.5]]
    assert [r["classes"] for r in rows] == [["stay", "leave"]] * 3
    assert [r["latency_ms"] for r in rows] == [1.5, 1.5, 0.75]
    assert [r["ts"] for r in rows] == [
        datetime.fromtimestamp(T0 / 1000, UTC),
        datetime.fromtimestamp(T0 / 1000, UTC),
        datetime.fromtimestamp((T0 + 250) / 1000, UTC),
    ]
    assert {(r["deployment"], r["model_name"], r["model_version"], r["variant"], r["role"])
            for r in rows} == {("churn", "churn", 1, "champion", "primary")}  # fmt: skip

    price = read_inference_log(str(tmp_path), "price").to_pylist()
    assert [(r["request_id"], r["row"]) for r in price] == [
        ("p1", 0), ("p2", 0), ("p2", 1), ("p2", 2)
    ]  # fmt: skip
    assert [r["inputs"] for r in price] == [{"x": 2 * i, "y": 2 * i + 1} for i in range(4)]
    assert [r["prediction"] for r in price] == [4 * i + 1 for i in range(4)]
    assert [r["proba"] for r in price] == [None] * 4
    assert [r["classes"] for r in price] == [None] * 4

    parts = part_files(tmp_path / "inference")
    assert [p.relative_to(tmp_path / "inference").parent.as_posix() for p in parts] == [
        "churn/date=2023-11-14",
        "price/date=2023-11-14",
    ]
    assert all(p.name.startswith("part-") and p.suffix == ".parquet" for p in parts)
    assert pq.ParquetFile(parts[0]).metadata.row_group(0).column(0).compression == "ZSTD"


def test_multi_output_predictions_and_tensor_inputs_are_lists(
    tmp_path: Path, logs: list[InferenceLog]
) -> None:
    log = make_log(logs, str(tmp_path))
    batch = LogBatch(
        deployment="vision",
        model_name="vision",
        model_version=3,
        variant="v3",
        role="shadow",
        request_ids=["a"],
        rows_per_request=[2],
        received_ms=[T0],
        latency_ms=[3.0],
        inputs=np.arange(8, dtype=np.float32).reshape(2, 2, 2),
        input_names=["image"],
        predictions=np.array([[1, 2, 3], [4, 5, 6]]),
    )
    assert log.append(batch)
    log.close()
    rows = read_inference_log(str(tmp_path), "vision").to_pylist()
    assert [r["inputs"] for r in rows] == [{"image": [0, 1, 2, 3]}, {"image": [4, 5, 6, 7]}]
    assert [r["prediction"] for r in rows] == [[1, 2, 3], [4, 5, 6]]
    assert [r["role"] for r in rows] == ["shadow", "shadow"]


def test_full_buffer_drops_and_counts_without_raising(
    tmp_path: Path, logs: list[InferenceLog]
) -> None:
    log = make_log(logs, str(tmp_path), max_buffered_rows=5)  # writer not started
    assert log.append(regressor_batch(["a", "b"], [1, 2], [T0, T0]))
    assert not log.append(regressor_batch(["c"], [3], [T0]))  # 3 + 3 > 5
    assert log.append(regressor_batch(["d"], [2], [T0]))  # 3 + 2 == 5 still fits
    assert not log.append(regressor_batch(["e"], [1], [T0]))
    assert (log.buffered_rows, log.dropped_rows, log.written_rows) == (5, 4, 0)
    log.close()
    assert (log.buffered_rows, log.dropped_rows, log.written_rows) == (5 - 5, 4, 5)
    ids = read_inference_log(str(tmp_path), "price").column("request_id").to_pylist()
    assert ids == ["a", "b", "b", "d", "d"]


def test_parts_appear_on_time_without_flush(tmp_path: Path, logs: list[InferenceLog]) -> None:
    log = make_log(logs, str(tmp_path), flush_seconds=0.05)
    log.start()
    assert log.append(regressor_batch(["a"], [2], [T0]))
    deadline = time.monotonic() + 10
    while log.written_rows < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log.written_rows == 2
    assert read_inference_log(str(tmp_path), "price").num_rows == 2


def test_a_full_part_is_written_without_waiting(tmp_path: Path, logs: list[InferenceLog]) -> None:
    log = make_log(logs, str(tmp_path), part_rows=4, flush_seconds=3600)
    log.start()
    assert log.append(regressor_batch(["a", "b"], [2, 2], [T0, T0]))
    deadline = time.monotonic() + 10
    while log.written_rows < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log.written_rows == 4


def test_close_flushes_is_idempotent_and_refuses_later_batches(
    tmp_path: Path, logs: list[InferenceLog]
) -> None:
    log = make_log(logs, str(tmp_path), flush_seconds=3600)
    log.start()
    assert log.append(regressor_batch(["a"], [3], [T0]))
    log.close(timeout=10)
    assert (log.written_rows, log.buffered_rows) == (3, 0)
    log.close(timeout=10)
    assert not log.append(regressor_batch(["b"], [2], [T0]))
    assert (log.written_rows, log.dropped_rows) == (3, 2)
    log.flush(timeout=1)  # nothing left to wait for
    log.start()  # a closed log stays closed
    assert not log.append(regressor_batch(["c"], [1], [T0]))
    assert read_inference_log(str(tmp_path), "price").num_rows == 3


def test_concurrent_appends_are_all_written_or_counted(
    tmp_path: Path, logs: list[InferenceLog]
) -> None:
    log = make_log(logs, str(tmp_path), max_buffered_rows=60, part_rows=25, flush_seconds=0.01)
    log.start()
    appended = [0] * 4
    rng = np.random.default_rng(7)
    sizes = rng.integers(1, 6, size=(4, 150))

    def produce(worker: int) -> None:
        for i, rows in enumerate(sizes[worker]):
            log.append(regressor_batch([f"w{worker}-{i}"], [int(rows)], [T0 + i]))
            appended[worker] += int(rows)
            if i % 10 == 0:
                time.sleep(0.002)  # let the writer drain now and then, as requests would

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close(timeout=20)
    assert log.written_rows + log.dropped_rows == sum(appended) == int(sizes.sum())
    assert log.written_rows > 60 and log.dropped_rows > 0  # both paths were taken
    assert log.buffered_rows == 0
    table = read_inference_log(str(tmp_path), "price")
    assert table.num_rows == log.written_rows
    # Whole requests only: each request's rows are all there, numbered 0..n-1.
    expected = {f"w{w}-{i}": int(rows) for w in range(4) for i, rows in enumerate(sizes[w])}
    counts = table.group_by("request_id").aggregate([("row", "count"), ("row", "max")])
    for request_id, count, top in zip(*counts.to_pydict().values(), strict=True):
        assert count == expected[request_id] == top + 1


def test_parts_of_different_model_versions_read_as_one_table(
    tmp_path: Path, logs: list[InferenceLog]
) -> None:
    log = make_log(logs, str(tmp_path))
    assert log.append(regressor_batch(["old"], [1], [T0], version=1, names=("x", "y")))
    log.flush()
    assert log.append(regressor_batch(["new"], [1], [T0 + 1], version=2, names=("x", "z")))
    log.close()
    assert len(part_files(tmp_path / "inference")) == 2
    table = read_inference_log(str(tmp_path), "price")
    assert table.schema.field("inputs").type == pa.struct(
        [("x", pa.float64()), ("y", pa.float64()), ("z", pa.float64())]
    )
    rows = table.to_pylist()
    assert [(r["model_version"], r["inputs"]) for r in rows] == [
        (1, {"x": 0.0, "y": 1.0, "z": None}),
        (2, {"x": 0.0, "y": None, "z": 1.0}),
    ]


def test_unmergeable_types_across_versions_become_text(
    tmp_path: Path, logs: list[InferenceLog]
) -> None:
    log = make_log(logs, str(tmp_path))
    labels = classifier_batch()
    numbers = regressor_batch(["n"], [1], [T0 + 1000], deployment="churn")
    assert log.append(labels)
    assert log.append(numbers)
    log.close()
    assert len(part_files(tmp_path / "inference")) == 2  # one flush, but no common schema
    table = read_inference_log(str(tmp_path), "churn")
    assert table.schema.field("prediction").type == pa.string()
    assert table.column("prediction").to_pylist() == ["stay", "leave", "stay", "1"]


def test_since_and_until_select_across_date_partitions(
    tmp_path: Path, logs: list[InferenceLog]
) -> None:
    log = make_log(logs, str(tmp_path))
    day0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
    times = [day0 + 1000, day0 + DAY_MS - 1, day0 + DAY_MS, day0 + 2 * DAY_MS + 5]
    # One batch across midnight is split into one part per date.
    assert log.append(regressor_batch(["a", "b", "c", "d"], [1, 1, 1, 1], times))
    log.close()
    folders = [p.parent.name for p in part_files(tmp_path / "inference")]
    assert folders == ["date=2024-01-01", "date=2024-01-02", "date=2024-01-03"]

    def ids(**window: Any) -> list[str]:
        table = read_inference_log(str(tmp_path), "price", **window)
        return list(table.column("request_id").to_pylist())

    assert ids() == ["a", "b", "c", "d"]
    assert ids(since=datetime(2024, 1, 2, tzinfo=UTC)) == ["c", "d"]
    assert ids(until="2024-01-02T00:00:00+00:00") == ["a", "b"]  # until is exclusive
    assert ids(since=day0 + DAY_MS - 1, until=day0 + DAY_MS + 1) == ["b", "c"]
    assert ids(since=datetime(2024, 1, 1, 0, 0, 2)) == ["b", "c", "d"]  # naive means UTC
    assert ids(since=datetime(2025, 1, 1, tzinfo=UTC)) == []
    with pytest.raises(InvalidInput, match="not a time"):
        ids(since="yesterday")


def test_columns_read_only_those_and_deployments_are_listed(
    tmp_path: Path, logs: list[InferenceLog]
) -> None:
    from shipyard.serve import logged_deployments

    log = make_log(logs, str(tmp_path))
    day0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
    assert log.append(regressor_batch(["a", "b"], [1, 1], [day0 + 1, day0 + DAY_MS + 1]))
    log.close()
    (tmp_path / "inference" / "stray-file.txt").write_text("not a deployment")
    (tmp_path / "inference" / "empty").mkdir()

    table = read_inference_log(str(tmp_path), "price", columns=["model_version", "request_id"])
    assert table.column_names == ["ts", "model_version", "request_id"]  # ts always, in front
    assert table.column("request_id").to_pylist() == ["a", "b"]
    assert logged_deployments(str(tmp_path)) == [{"name": "price", "last_day": "2024-01-02"}]
    none = read_inference_log(str(tmp_path / "nowhere"), "price", columns=["model_version"])
    assert none.num_rows == 0 and none.column_names == ["ts", "model_version"]
    with pytest.raises(InvalidInput, match="Unknown inference-log column"):
        read_inference_log(str(tmp_path), "price", columns=["colour"])


def test_absent_log_reads_as_empty_tables(tmp_path: Path) -> None:
    empty = read_inference_log(str(tmp_path / "nowhere"), "churn")
    assert empty.num_rows == 0 and empty.schema == INFERENCE_SCHEMA
    feedback = read_feedback(str(tmp_path), "churn")
    assert feedback.num_rows == 0 and feedback.schema == FEEDBACK_SCHEMA
    with pytest.raises(InvalidInput, match="deployment name"):
        read_inference_log(str(tmp_path), "../escape")


def test_feedback_is_durable_when_written_and_unifies_label_types(
    tmp_path: Path, logs: list[InferenceLog]
) -> None:
    log = make_log(logs, str(tmp_path))  # feedback needs no writer thread
    assert log.write_feedback("churn", [Feedback("r1", 1, row=0, received_ms=T0)]) == 1
    one = read_feedback(str(tmp_path), "churn")
    assert one.schema.field("label").type == pa.int64()
    assert one.to_pylist() == [
        {"request_id": "r1", "row": 0, "ts": datetime.fromtimestamp(T0 / 1000, UTC),
         "label_json": "1", "label": 1}
    ]  # fmt: skip

    assert log.write_feedback("churn", [Feedback("r2", 2.5, received_ms=T0 + 1)]) == 1
    numbers = read_feedback(str(tmp_path), "churn")
    assert numbers.schema.field("label").type == pa.float64()
    assert numbers.column("label").to_pylist() == [1.0, 2.5]

    written = log.write_feedback(
        "churn",
        [
            Feedback("r3", "leave", received_ms=T0 + 2),
            Feedback("r4", True, received_ms=T0 + 3),
            Feedback("r5", [1, 0], row=2, received_ms=T0 + 4),
        ],
    )
    assert written == 3
    mixed = read_feedback(str(tmp_path), "churn")
    assert mixed.schema.field("label").type == pa.string()
    assert mixed.column("request_id").to_pylist() == ["r1", "r2", "r3", "r4", "r5"]
    assert mixed.column("row").to_pylist() == [0, None, None, None, 2]
    assert mixed.column("label_json").to_pylist() == ["1", "2.5", '"leave"', "true", "[1,0]"]
    assert mixed.column("label").to_pylist() == ["1", "2.5", "leave", "true", "[1,0]"]


def test_feedback_of_one_kind_keeps_its_type_and_defaults_to_now(tmp_path: Path) -> None:
    log = InferenceLog(str(tmp_path))
    before = datetime.now(UTC)
    log.write_feedback("churn", [Feedback("a", [1.5, 2]), Feedback("b", [3, 4])])
    table = read_feedback(str(tmp_path), "churn")
    assert table.schema.field("label").type.value_type == pa.float64()
    assert table.column("label").to_pylist() == [[1.5, 2.0], [3.0, 4.0]]
    assert all(before.replace(microsecond=0) <= ts for ts in table.column("ts").to_pylist())
    log.close()


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        (Feedback("", 1), "no request id"),
        (Feedback("r", None), "label"),
        (Feedback("r", float("nan")), "finite"),
        (Feedback("r", {"a": 1}), "label"),
        (Feedback("r", [[1]]), "label"),
        (Feedback("r", 1, row=-1), "row"),
    ],
)
def test_bad_feedback_is_refused_and_nothing_is_written(
    tmp_path: Path, record: Feedback, problem: str
) -> None:
    log = InferenceLog(str(tmp_path))
    with pytest.raises(InvalidInput, match=problem):
        log.write_feedback("churn", [Feedback("good", 1), record])
    assert read_feedback(str(tmp_path), "churn").num_rows == 0
    assert log.write_feedback("churn", []) == 0
    log.close()


def test_round_trip_on_s3(s3_location: StoreLocation, logs: list[InferenceLog]) -> None:
    base, options = s3_location
    location = f"{base}/{uuid.uuid4().hex}"
    log = make_log(logs, location, storage_options=options)
    log.start()
    assert log.append(classifier_batch())
    assert log.append(regressor_batch(["p"], [2], [T0 + DAY_MS]))
    log.flush(timeout=20)
    assert log.write_feedback("churn", [Feedback("r1", "leave", row=0)]) == 1
    log.close(timeout=20)

    churn = read_inference_log(location, "churn", storage_options=options).to_pylist()
    assert [(r["request_id"], r["row"], r["prediction"]) for r in churn] == [
        ("r1", 0, "stay"), ("r1", 1, "leave"), ("r2", 0, "stay")
    ]  # fmt: skip
    assert churn[1]["inputs"] == {"tenure": 2.25, "calls": 0, "plan": None, "region": "south"}
    price = read_inference_log(location, "price", storage_options=options, since=T0 + DAY_MS)
    assert price.column("prediction").to_pylist() == [1.0, 5.0]
    feedback = read_feedback(location, "churn", storage_options=options).to_pylist()
    assert [(f["request_id"], f["row"], f["label"]) for f in feedback] == [("r1", 0, "leave")]


def test_no_partial_or_temporary_file_is_left_in_the_log(
    tmp_path: Path, logs: list[InferenceLog]
) -> None:
    log = make_log(logs, str(tmp_path), part_rows=3, flush_seconds=0.01)
    log.start()
    for i in range(40):
        assert log.append(regressor_batch([f"r{i}"], [2], [T0 + i]))
    log.write_feedback("price", [Feedback("r0", 1.0)])
    log.close(timeout=10)
    files = part_files(tmp_path / "inference") + part_files(tmp_path / "feedback")
    assert files and all(p.suffix == ".parquet" for p in files)
    assert sum(pq.read_metadata(p).num_rows for p in files) == 81
    assert list((tmp_path / "tmp").iterdir()) == []  # every temp file was renamed into place


def test_failed_writes_keep_rows_and_retry(
    tmp_path: Path, logs: list[InferenceLog], caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "store"
    blocker.write_text("a file where the store's folder should be")
    log = make_log(logs, str(blocker), flush_seconds=3600)
    log.start()
    assert log.append(regressor_batch(["a"], [2], [T0]))
    with caplog.at_level(logging.WARNING, logger="shipyard.serve"), pytest.raises(StoreError):
        log.flush(timeout=10)
    assert "stay buffered" in caplog.text
    assert (log.buffered_rows, log.written_rows, log.dropped_rows) == (2, 0, 0)
    with pytest.raises(StoreError):  # each flush tries again
        log.flush(timeout=10)

    blocker.unlink()  # the store comes back
    assert log.append(regressor_batch(["b"], [1], [T0 + 1]))
    log.flush(timeout=10)
    assert (log.buffered_rows, log.written_rows, log.dropped_rows) == (0, 3, 0)
    ids = read_inference_log(str(blocker), "price").column("request_id").to_pylist()
    assert ids == ["a", "a", "b"]


def test_close_gives_up_on_a_dead_store_in_time(
    tmp_path: Path, logs: list[InferenceLog], caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "store"
    blocker.write_text("not a folder")
    log = make_log(logs, str(blocker), flush_seconds=3600)
    log.start()
    assert log.append(regressor_batch(["a"], [2], [T0]))
    with caplog.at_level(logging.WARNING, logger="shipyard.serve"):
        started = time.monotonic()
        log.close(timeout=5)
    assert time.monotonic() - started < 5
    assert (log.buffered_rows, log.written_rows, log.dropped_rows) == (0, 0, 2)
    assert "lost" in caplog.text


def test_a_malformed_batch_is_dropped_with_a_warning(
    tmp_path: Path, logs: list[InferenceLog], caplog: pytest.LogCaptureFixture
) -> None:
    log = make_log(logs, str(tmp_path))
    bad = regressor_batch(["a"], [2], [T0])
    bad = LogBatch(**{**bad.__dict__, "rows_per_request": [5]})
    assert log.append(bad)
    assert log.append(regressor_batch(["b"], [1], [T0]))
    with caplog.at_level(logging.WARNING, logger="shipyard.serve"):
        log.flush(timeout=10)
    assert "could not be converted" in caplog.text
    assert (log.written_rows, log.dropped_rows, log.buffered_rows) == (1, 2, 0)
    with pytest.raises(InvalidInput, match="one rows_per_request"):
        log.append(LogBatch(**{**bad.__dict__, "latency_ms": []}))


def test_many_small_batches_make_one_part_per_flush(
    tmp_path: Path, logs: list[InferenceLog]
) -> None:
    log = make_log(logs, str(tmp_path), flush_seconds=3600)
    for i in range(300):  # single-row requests, as under light load
        batch = classifier_batch(received_ms=T0 + 1000 * i)
        assert isinstance(batch.inputs, pd.DataFrame) and batch.probabilities is not None
        batch = LogBatch(
            **{
                **batch.__dict__,
                "request_ids": [f"q{i}"],
                "rows_per_request": [1],
                "received_ms": [T0 + i],
                "latency_ms": [float(i)],
                "inputs": batch.inputs.iloc[[i % 3]],
                "predictions": batch.predictions[[i % 3]],
                "probabilities": batch.probabilities[[i % 3]],
            }
        )
        assert log.append(batch)
    log.start()
    log.close(timeout=10)
    parts = part_files(tmp_path / "inference")
    assert len(parts) == 1 and pq.read_metadata(parts[0]).num_rows == 300
    table = read_inference_log(str(tmp_path), "churn")
    assert table.column("request_id").to_pylist() == [f"q{i}" for i in range(300)]
    assert table.column("latency_ms").to_pylist() == [float(i) for i in range(300)]
    assert table.column("prediction").to_pylist() == ["stay", "leave", "stay"] * 100
    regions = [inputs["region"] for inputs in table.column("inputs").to_pylist()]
    assert regions == ["north", "south", "north"] * 100
