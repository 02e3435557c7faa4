"""Micro-batching on a real server: concurrent requests share predictions, batches respect
max_batch_size, and one bad request in a batch fails alone."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.serve.conftest import Models, ServeApp, deployment


def _batch_rows(response: Any) -> int:
    timing = response.headers["server-timing"]
    return int(timing.split('batch;desc="rows=')[1].split('"')[0])


async def _fire(url: str, bodies: list[dict[str, Any]]) -> list[Any]:
    import httpx

    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        return await asyncio.gather(*(client.post(url, json=body) for body in bodies))


def test_concurrent_requests_are_predicted_in_batches(serve_app: ServeApp, models: Models) -> None:
    config = {
        "server": {"inference_log": False},
        "deployments": [deployment("slow", "models:/slow@champion", max_batch_size=16)],
    }
    server = serve_app(config)
    row = models.features[:1].to_dict(orient="records")
    responses = asyncio.run(
        _fire(f"{server.url}/v1/models/slow:predict", [{"instances": row}] * 40)
    )
    assert [r.status_code for r in responses] == [200] * 40
    sizes = [_batch_rows(r) for r in responses]
    assert max(sizes) == 16  # the 30 ms model lets requests pile up to the cap, never past it
    assert sum(1 for size in sizes if size > 1) >= 30
    import httpx

    metrics = httpx.get(f"{server.url}/metrics").text
    count = _sample(metrics, 'shipyard_batch_rows_count{deployment="slow",variant="champion"}')
    total = _sample(metrics, 'shipyard_batch_rows_sum{deployment="slow",variant="champion"}')
    assert total == 40 and count <= 10  # 40 rows in a handful of predictions, not 40


def test_a_bad_request_in_a_batch_fails_alone(serve_app: ServeApp) -> None:
    config = {
        "server": {"inference_log": False},
        "deployments": [deployment("plans", "models:/plans@champion", max_wait_ms=50)],
    }
    server = serve_app(config)
    good = {"instances": [{"plan": "pro", "country": "fr", "seats": 2}]}
    bad = {"instances": [{"plan": "pro", "country": "fr", "seats": 0}]}  # the model refuses it
    responses = asyncio.run(
        _fire(f"{server.url}/v1/models/plans:predict", [good, bad, good, good, bad, good])
    )
    codes = [r.status_code for r in responses]
    assert codes == [200, 422, 200, 200, 422, 200]
    assert all(r.json()["predictions"] == [40.0] for r in responses if r.status_code == 200)
    assert "seats must be at least 1" in responses[1].json()["error"]


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in the metrics")
