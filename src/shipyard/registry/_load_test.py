"""``shipyard models load-test``: how fast a model loads and answers, on its own input example."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from shipyard.core.errors import InvalidInput
from shipyard.registry._api import load_model, registry_service
from shipyard.registry._uris import RunModelUri, parse_model_uri

__all__ = ["load_test"]


def load_test(uri: str, *, backend: str, batch_size: int, seconds: float) -> dict[str, Any]:
    """Load time, then single-row and batch latency percentiles in milliseconds.

    Each loop stops after ``seconds`` (and at least 5 calls), so a slow model is measured by
    its rate rather than waited for.
    """
    import numpy as np

    run_id, path = _source(uri)  # resolved once: an alias may move while we measure
    start = time.perf_counter()
    model = load_model(f"runs:/{run_id}/{path}", backend=backend)
    load_ms = (time.perf_counter() - start) * 1000
    single, batch = _inputs(_example(uri, run_id, path, model.metadata), batch_size)
    model.predict(single)  # warm-up: first calls pay for lazy initialisation
    one = _timed(lambda: model.predict(single), seconds)
    many = _timed(lambda: model.predict(batch), seconds)
    return {
        "uri": uri,
        "backend": backend,
        "load_ms": round(load_ms, 3),
        "single_row_p50_ms": round(float(np.percentile(one, 50)), 4),
        "single_row_p95_ms": round(float(np.percentile(one, 95)), 4),
        "single_row_p99_ms": round(float(np.percentile(one, 99)), 4),
        "single_row_calls": len(one),
        f"batch_{batch_size}_p50_ms": round(float(np.percentile(many, 50)), 4),
        f"batch_{batch_size}_rows_per_s": round(batch_size / (float(np.median(many)) / 1000)),
    }


def _source(uri: str) -> tuple[str, str]:
    parsed = parse_model_uri(uri)
    if isinstance(parsed, RunModelUri):
        return parsed.run_id, parsed.artifact_path
    found = registry_service().resolve(parsed)
    return found.run_id, found.artifact_path


def _example(uri: str, run_id: str, path: str, meta: Any) -> dict[str, Any]:
    name = meta.get("input_example")
    if not name:
        raise InvalidInput(
            f"The model {uri} was logged without a JSON input example to replay.",
            hint="Log it with an input_example of plain numbers and strings.",
        )
    tracking = registry_service().tracking
    return dict(json.loads(tracking.get_artifact(run_id, f"{path}/{name}")))


def _inputs(example: dict[str, Any], batch_size: int) -> tuple[Any, Any]:
    import numpy as np

    if example["kind"] == "dataframe":
        rows = [dict(zip(example["columns"], row, strict=True)) for row in example["data"]]
        return rows[0], [rows[i % len(rows)] for i in range(batch_size)]
    array = np.asarray(example["data"], dtype=example["dtype"])
    return array[:1], array[np.arange(batch_size) % len(array)]


def _timed(call: Callable[[], Any], seconds: float) -> list[float]:
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < 5 or time.perf_counter() < deadline:
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times
