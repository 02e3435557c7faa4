"""Prometheus metrics of one server process, on its own registry (never the global one).

Counters and histograms are updated on the request path through pre-bound children, so a
request costs a dictionary lookup and an addition; gauges that mirror live state (queue depth,
dropped log records) are read only when Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "ServerMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServerMetrics:
    """The server's metrics; ``render()`` is the body of GET /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "shipyard_requests",
            "HTTP requests answered, by deployment, route and status code.",
            ["deployment", "route", "code"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "shipyard_request_seconds",
            "Server-side latency of prediction requests.",
            ["deployment"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._batch_rows = Histogram(
            "shipyard_batch_rows",
            "Rows per predicted batch (micro-batching at work when above 1).",
            ["deployment", "variant"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self._model_info = Gauge(
            "shipyard_model_info",
            "1 for the model version each deployment variant serves now.",
            ["deployment", "variant", "model", "version", "backend"],
            registry=self.registry,
        )
        self._swaps = Counter(
            "shipyard_model_swaps",
            "Hot swaps to a new model version.",
            ["deployment", "variant"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], Any] = {}
        self._live = _LiveState()
        self.registry.register(self._live)

    def request(self, deployment: str, route: str, code: int, seconds: float | None) -> None:
        key = (deployment, route, code)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._requests.labels(deployment, route, str(code))
        child.inc()
        if seconds is not None and code < 400:
            self._latency.labels(deployment).observe(seconds)

    def batch(self, deployment: str, variant: str, rows: int) -> None:
        self._batch_rows.labels(deployment, variant).observe(rows)

    def model_served(
        self,
        deployment: str,
        variant: str,
        model: str,
        version: int,
        backend: str,
        old: tuple[int, str] | None,
    ) -> None:
        if old is not None:
            self._model_info.remove(deployment, variant, model, str(old[0]), old[1])
            self._swaps.labels(deployment, variant).inc()
        self._model_info.labels(deployment, variant, model, str(version), backend).set(1)

    def watch(self, name: str, documentation: str, kind: str, read: Callable[[], float]) -> None:
        """Report ``read()`` at each scrape as a gauge or counter named ``name``."""
        self._live.add(name, documentation, kind, read)

    def watch_labelled(
        self,
        name: str,
        documentation: str,
        labels: list[str],
        read: Callable[[], list[tuple[list[str], float]]],
    ) -> None:
        self._live.add_labelled(name, documentation, labels, read)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LiveState(Collector):
    """Values read from the server's own state when Prometheus scrapes."""

    def __init__(self) -> None:
        self._plain: list[tuple[str, str, str, Callable[[], float]]] = []
        self._labelled: list[
            tuple[str, str, list[str], Callable[[], list[tuple[list[str], float]]]]
        ] = []

    def add(self, name: str, documentation: str, kind: str, read: Callable[[], float]) -> None:
        self._plain.append((name, documentation, kind, read))

    def add_labelled(
        self,
        name: str,
        documentation: str,
        labels: list[str],
        read: Callable[[], list[tuple[list[str], float]]],
    ) -> None:
        self._labelled.append((name, documentation, labels, read))

    def collect(self) -> Iterator[Metric]:
        for name, documentation, kind, read in self._plain:
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(name, documentation, value=read())
        for name, documentation, labels, read_all in self._labelled:
            gauge = GaugeMetricFamily(name, documentation, labels=labels)
            for values, value in read_all():
                gauge.add_metric(values, value)
            yield gauge

    def describe(self) -> Iterator[Metric]:
        return iter(())
