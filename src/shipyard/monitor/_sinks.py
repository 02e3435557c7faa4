"""Alert sinks: where a monitor run's alerts go — the log, the registry's audit trail, a webhook.

Every sink takes the same JSON payload (:func:`alert_payload`)::

    {"event": "shipyard.monitor.alert", "id": "01J...", "at": "2024-05-01T12:00:00Z",
     "target": "churn@champion", "monitor_run_id": "01J...",
     "summary": "churn@champion: 1 alert: drift_share is 0.42, above the threshold 0.3 ...",
     "alerts": [{"rule": "drift_share > 0.3", "metric": "drift_share", "value": 0.42,
                 "threshold": 0.3, "op": ">", "message": "drift_share is 0.42, ..."}],
     "drifted_columns": ["age", "income"]}

``id`` is the same on every retry of one delivery (also sent as ``X-Shipyard-Delivery``), so a
receiver can drop duplicates. A sink never raises because delivery failed: it returns a
:class:`DeliveryResult` and logs the failure, so one broken webhook cannot stop the others or
the monitor run that raised the alert.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from shipyard._version import __version__
from shipyard.core.errors import InvalidInput
from shipyard.core.ids import new_id
from shipyard.monitor._alerts import Alert
from shipyard.monitor._config import (
    EventSinkConfig,
    LogSinkConfig,
    MonitorConfig,
    SinkConfig,
    WebhookSinkConfig,
    refused_address,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ALERT_EVENT",
    "DeliveryResult",
    "EventSink",
    "LogSink",
    "Sink",
    "WebhookSink",
    "alert_payload",
    "build_sinks",
    "deliver",
    "resolve_addresses",
]

ALERT_EVENT = "shipyard.monitor.alert"
logger = logging.getLogger("shipyard.monitor.alerts")

Resolver = Callable[..., Sequence[tuple[Any, ...]]]  # the shape of socket.getaddrinfo
EventRecorder = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class DeliveryResult:
    """How one sink fared: ``attempts`` is 0 when nothing was sent (an address was refused)."""

    sink: str
    target: str  # where, without secrets: "log", "event", "https://hooks.example.com/…"
    delivered: bool
    attempts: int
    status: int | None = None  # the last HTTP status, for webhooks
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Sink(Protocol):
    """Delivers one alert payload; reports failure in its result instead of raising."""

    @property
    def name(self) -> str:
        """The sink's type: "log", "event", "webhook"."""

    @property
    def target(self) -> str:
        """Where it delivers, safe to log."""

    def send(self, payload: Mapping[str, Any]) -> DeliveryResult: ...


def alert_payload(
    alerts: Sequence[Alert],
    *,
    target: str,
    monitor_run_id: str | None = None,
    drifted_columns: Iterable[str] = (),
    at: datetime | None = None,
) -> dict[str, Any]:
    """The JSON-ready payload every sink receives; ``target`` names what is monitored."""
    when = (at or datetime.now(UTC)).astimezone(UTC)
    count = f"{len(alerts)} alert{'' if len(alerts) == 1 else 's'}"
    return {
        "event": ALERT_EVENT,
        "id": new_id(),
        "at": when.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "target": target,
        "monitor_run_id": monitor_run_id,
        "summary": f"{target}: {count}: " + " ".join(a.message for a in alerts),
        "alerts": [alert.to_dict() for alert in alerts],
        "drifted_columns": list(drifted_columns),
    }


class LogSink:
    """One WARNING record per alert on the ``shipyard.monitor.alerts`` logger."""

    name = "log"
    target = "log"

    def send(self, payload: Mapping[str, Any]) -> DeliveryResult:
        for alert in payload["alerts"]:
            logger.warning("Alert on %s: %s", payload["target"], alert["message"])
        return DeliveryResult(self.name, self.target, True, 1)


class EventSink:
    """Hands the payload to ``record``: the orchestrator writes it to the registry audit trail."""

    name = "event"
    target = "event"

    def __init__(self, record: EventRecorder) -> None:
        self.record = record

    def send(self, payload: Mapping[str, Any]) -> DeliveryResult:
        self.record(dict(payload))
        return DeliveryResult(self.name, self.target, True, 1)


class WebhookSink:
    """POSTs the payload as JSON; 2xx is delivered. Retries connection errors, 5xx and 429.

    The host is resolved at every attempt and every address checked (link-local and cloud
    metadata addresses are refused unless allowed); the request then goes to a checked address,
    so a DNS answer that changes between check and connect cannot redirect it. Redirects are
    not followed and proxies from the environment are not used, for the same reason.
    """

    name = "webhook"

    def __init__(
        self,
        config: WebhookSinkConfig,
        *,
        resolver: Resolver = socket.getaddrinfo,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.resolver = resolver
        self.sleep = sleep
        self.jitter = jitter

    @property
    def target(self) -> str:
        """The URL without its path and query, where webhook secrets usually live."""
        parts = urlsplit(self.config.url)
        hidden = "/…" if parts.path.strip("/") or parts.query else ""
        return f"{parts.scheme}://{parts.netloc}{hidden}"

    def send(self, payload: Mapping[str, Any]) -> DeliveryResult:
        import httpx

        body = json.dumps(payload, allow_nan=False, default=str).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"shipyard/{__version__}",
            "X-Shipyard-Delivery": str(payload.get("id", "")),
            **self.config.headers,
        }
        status: int | None = None
        error = ""
        attempt = 0
        with httpx.Client(
            timeout=self.config.timeout_s, follow_redirects=False, trust_env=False
        ) as client:
            for attempt in range(1, self.config.retries + 2):
                try:
                    status, retry_after = self._attempt(client, body, headers)
                except InvalidInput as exc:  # a refused address: never sent, never retried
                    return self._failed(attempt - 1, None, exc.message)
                except (OSError, httpx.TransportError) as exc:
                    status, retry_after, error = None, None, f"{type(exc).__name__}: {exc}"
                else:
                    if 200 <= status < 300:
                        return DeliveryResult(self.name, self.target, True, attempt, status)
                    error = f"HTTP {status}"
                    if status != 429 and status < 500:
                        break  # the receiver rejected the payload: sending it again won't help
                if attempt <= self.config.retries:
                    self.sleep(self._wait(attempt, retry_after))
        return self._failed(attempt, status, error)

    def _attempt(
        self, client: httpx.Client, body: bytes, headers: dict[str, str]
    ) -> tuple[int, float | None]:
        """POST once to the first checked address that accepts a connection."""
        import httpx

        parts = urlsplit(self.config.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = resolve_addresses(
            host, port, allow_link_local=self.config.allow_link_local, resolver=self.resolver
        )
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        url = httpx.URL(self.config.url)
        failure: Exception = ConnectionError(f"{host} resolved to no address")
        for address in addresses:
            try:
                with client.stream(
                    "POST",
                    url.copy_with(host=address),
                    content=body,
                    headers={**headers, "Host": parts.netloc},
                    extensions=extensions,
                ) as response:  # closed unread: the answer's body is of no use to us
                    status = int(response.status_code)
                    return status, _retry_after(response.headers.get("Retry-After"))
            except httpx.ConnectError as exc:  # try the host's next address
                failure = exc
        raise failure

    def _wait(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before the next attempt: Retry-After when given, else jittered doubling."""
        cap = self.config.max_backoff_s
        if retry_after is not None:
            return min(retry_after, cap)
        delay = min(cap, self.config.backoff_s * 2.0 ** (attempt - 1))
        return delay / 2 + self.jitter() * delay / 2

    def _failed(self, attempts: int, status: int | None, error: str) -> DeliveryResult:
        logger.warning(
            "Alert webhook %s not delivered after %d attempt(s): %s", self.target, attempts, error
        )
        return DeliveryResult(self.name, self.target, False, attempts, status, error)


def resolve_addresses(
    host: str, port: int, *, allow_link_local: bool = False, resolver: Resolver = socket.getaddrinfo
) -> list[str]:
    """The IPs ``host`` resolves to, in order; ``InvalidInput`` if any of them is refused.

    One refused address refuses the host: a name that also points at a metadata service is not
    one to send alerts (and their headers) to. ``OSError`` when the name does not resolve.
    """
    addresses = list(dict.fromkeys(str(info[4][0]) for info in resolver(host, port)))
    for address in addresses:
        reason = None if allow_link_local else refused_address(address)
        if reason:
            raise InvalidInput(
                f"Refused to send to {host}: {reason}.",
                hint="Set allow_link_local = true on this sink to send there anyway.",
            )
    return addresses


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def build_sinks(
    config: MonitorConfig | Iterable[SinkConfig], *, record_event: EventRecorder | None = None
) -> list[Sink]:
    """The sinks a configuration names; an event sink writes through ``record_event``."""
    configs = config.sinks if isinstance(config, MonitorConfig) else tuple(config)
    sinks: list[Sink] = []
    for sink in configs:
        if isinstance(sink, LogSinkConfig):
            sinks.append(LogSink())
        elif isinstance(sink, EventSinkConfig):
            if record_event is None:
                raise InvalidInput(
                    "An event sink is configured but no recorder was given to build_sinks.",
                    hint="Pass record_event=... (the registry audit writer).",
                )
            sinks.append(EventSink(record_event))
        else:
            sinks.append(WebhookSink(sink))
    return sinks


def deliver(sinks: Iterable[Sink], payload: Mapping[str, Any]) -> list[DeliveryResult]:
    """Send ``payload`` to every sink, each independently; nothing is sent without alerts."""
    if not payload.get("alerts"):
        return []
    results = []
    for sink in sinks:
        try:
            results.append(sink.send(payload))
        except Exception as exc:  # a broken sink or recorder must not silence the others
            logger.warning("Alert sink %s failed", sink.target, exc_info=True)
            error = f"{type(exc).__name__}: {exc}"
            results.append(DeliveryResult(sink.name, sink.target, False, 1, error=error))
    return results
