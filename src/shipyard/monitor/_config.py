"""The ``[monitor]`` section of ``shipyard.toml``: window, alert rules, sinks and retraining.

::

    [monitor]
    window = "1h"                      # the current window: "90s", "30m", "1h", "7d" ...
    # last_requests = 1000             # ... or the last N logged requests instead (not both)
    alerts = ["drift_share > 0.3", "missing_rate{age} > 0.1"]

    [[monitor.sinks]]                  # default: one log sink
    type = "webhook"                   # log | event | webhook
    url = "https://hooks.example.com/shipyard"
    headers = { Authorization = "Bearer ..." }
    timeout_s = 5
    retries = 3                        # after the first try; backoff_s doubles, with jitter
    allow_link_local = false           # 169.254.0.0/16, fe80::/10: cloud metadata services

    [monitor.retrain]
    pipeline = "pipeline:training"     # module:function (or path/file.py:function)
    params = { data = "churn@latest" }
    on = ["drift_share > 0.3"]         # rules from `alerts` that trigger it; default: any alert
    cooldown = "1h"
    max_per_day = 3
    alias = "champion"                 # the new version is gated against it, then promoted
    # gate_data = "churn@latest"       # what the gate judges on; default: params.data
    # server_url = "http://127.0.0.1:8000"   # wait until the server serves the new version

Webhook targets come from this file only, never from an HTTP request: whoever can write the
workspace config already controls the process, while an API caller choosing a URL would turn the
server into a proxy into its own network (SSRF). Even so, link-local addresses, where cloud
metadata services hand out credentials, are refused unless ``allow_link_local = true``: here for
literal IPs, and again at send time on the addresses the host name resolves to.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from shipyard.core.errors import ConfigError, InvalidInput
from shipyard.monitor._alerts import AlertRule, parse_rule

if TYPE_CHECKING:
    from shipyard.core.config import Settings

__all__ = [
    "DEFAULT_WINDOW",
    "EventSinkConfig",
    "LogSinkConfig",
    "MonitorConfig",
    "RetrainPolicy",
    "SinkConfig",
    "WebhookSinkConfig",
    "format_duration",
    "load_monitor_config",
    "parse_duration",
    "refused_address",
    "workspace_monitor_config",
]

DEFAULT_WINDOW = timedelta(hours=1)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_DURATION_HINT = 'Write a number and a unit s, m, h, d or w: "90s", "30m", "1h", "7d", "2w".'
# Link-local ranges hold the metadata services of AWS, GCP and Azure (169.254.169.254); these
# are the ones that live elsewhere (AWS over IPv6, Alibaba Cloud).
_METADATA = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_OWN_HEADERS = {"host", "content-length", "transfer-encoding"}  # set by the sink itself
_PIPELINE_FORM = "MODULE:FUNCTION (e.g. pipeline:training) or path/to/file.py:FUNCTION"


def parse_duration(text: str | timedelta) -> timedelta:
    """``"90s"``, ``"30m"``, ``"1h"``, ``"7d"``, ``"2w"`` (``"1.5h"`` too) as a positive
    timedelta."""
    if isinstance(text, timedelta):
        duration = text
    else:
        match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise InvalidInput(f"Cannot read the duration {text!r}.", hint=_DURATION_HINT)
        duration = timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    if duration <= timedelta(0):
        raise InvalidInput(f"The duration {text!r} must be longer than zero.", hint=_DURATION_HINT)
    return duration


def format_duration(duration: timedelta) -> str:
    """The shortest exact spelling :func:`parse_duration` reads back: ``"1h"``, ``"90s"``."""
    seconds = duration.total_seconds()
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


def refused_address(address: str) -> str | None:
    """Why webhooks must not go to the IP ``address`` (link-local, cloud metadata), else None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id is not part of it
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local:
        return (
            f"{address} is a link-local address (169.254.0.0/16, fe80::/10), "
            "where cloud metadata services answer"
        )
    if ip in _METADATA:
        return f"{address} is a cloud metadata service address"
    return None


def _rule(value: object) -> AlertRule:
    return value if isinstance(value, AlertRule) else parse_rule(value)  # type: ignore[arg-type]


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
Rule = Annotated[AlertRule, PlainValidator(_rule), PlainSerializer(str)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogSinkConfig(_Section):
    """Alerts as WARNING records of the ``shipyard.monitor.alerts`` logger, one per alert."""

    type: Literal["log"] = "log"


class EventSinkConfig(_Section):
    """Alerts handed to a recorder the caller supplies: the registry's audit trail."""

    type: Literal["event"] = "event"


class WebhookSinkConfig(_Section):
    """Alerts POSTed as JSON to a URL; a 2xx answer means delivered."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(repr=False)  # the path of many webhook URLs is itself the secret
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    timeout_s: float = Field(default=5.0, gt=0, le=300)
    retries: int = Field(default=3, ge=0, le=10)  # after the first attempt
    # The first wait between attempts; it doubles per retry, jittered, up to max_backoff_s,
    # which also caps the wait a Retry-After header asks for.
    backoff_s: float = Field(default=0.5, ge=0, le=60)
    max_backoff_s: float = Field(default=30.0, ge=0, le=300)
    allow_link_local: bool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"must start with http:// or https://, got {url!r}")
        if not parts.hostname:
            raise ValueError(f"{url!r} names no host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials; put them in `headers`")
        try:
            parts.port  # noqa: B018 - parsing the port is the check
        except ValueError:
            raise ValueError(f"{url!r} has an invalid port") from None
        return url

    @field_validator("headers")
    @classmethod
    def _sendable_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in _OWN_HEADERS:
                raise ValueError(f"{name} is set by Shipyard and cannot be configured")
            if "\r" in value or "\n" in value:
                raise ValueError(f"the value of {name} must not contain line breaks")
        return headers

    @model_validator(mode="after")
    def _not_link_local(self) -> WebhookSinkConfig:
        host = urlsplit(self.url).hostname or ""
        try:
            reason = refused_address(host)
        except ValueError:  # a host name: checked on its resolved addresses at send time
            return self
        if reason and not self.allow_link_local:
            raise ValueError(f"url: {reason}; set allow_link_local = true to send there anyway")
        return self


SinkConfig = Annotated[
    LogSinkConfig | EventSinkConfig | WebhookSinkConfig, Field(discriminator="type")
]


class RetrainPolicy(_Section):
    """When alerts call for it, run a pipeline whose new model is gated against ``alias``."""

    pipeline: str
    params: dict[str, Any] = Field(default_factory=dict)
    on: tuple[Rule, ...] = ()  # empty: any alert triggers a retrain
    cooldown: Duration = timedelta(hours=1)
    max_per_day: int = Field(default=3, ge=1, le=1000)
    alias: str = "champion"
    gate_data: str | None = None  # the dataset the gate judges on; default: params["data"]
    gate_resamples: int = Field(default=1000, ge=1, le=100_000)
    server_url: str | None = None  # a model server to watch until it serves the new version
    swap_timeout_s: float = Field(default=60.0, gt=0, le=3600)

    def triggered_by(self, fired: Iterable[str]) -> list[str]:
        """The texts of ``fired`` rules that trigger a retrain, compared as parsed rules, so
        ``drift_share>0.3`` matches ``drift_share > 0.3``; every one when ``on`` is empty."""
        return [text for text in fired if not self.on or parse_rule(text) in self.on]

    @field_validator("pipeline")
    @classmethod
    def _pipeline_reference(cls, spec: str) -> str:
        module, sep, function = spec.rpartition(":")
        if not sep or not module.strip() or not function.isidentifier():
            raise ValueError(f"{spec!r} is not {_PIPELINE_FORM}")
        return spec

    @field_validator("alias")
    @classmethod
    def _alias(cls, alias: str) -> str:
        from shipyard.registry._uris import check_alias

        return check_alias(alias)

    @field_validator("server_url")
    @classmethod
    def _server_url(cls, url: str | None) -> str | None:
        parts = urlsplit(url or "")
        if url is not None and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise ValueError(f"must be an http:// or https:// URL, got {url!r}")
        return url


class MonitorConfig(_Section):
    """The validated ``[monitor]`` section. ``last_requests``, when set, replaces ``window``."""

    window: Duration = DEFAULT_WINDOW
    last_requests: int | None = Field(default=None, ge=1)
    alerts: tuple[Rule, ...] = ()
    sinks: tuple[SinkConfig, ...] = (LogSinkConfig(),)
    retrain: RetrainPolicy | None = None
    # Per feature: the drift method judging it (ks, psi, wasserstein, jensenshannon, chisquare)
    # and its threshold, as detect_drift takes them; a feature not named keeps the defaults.
    methods: dict[str, str] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: dict[str, str]) -> dict[str, str]:
        from shipyard.monitor._drift import DriftMethod

        allowed = {m.value for m in DriftMethod}
        wrong = {feature: m for feature, m in methods.items() if m not in allowed}
        if wrong:
            raise ValueError(
                f"unknown drift method(s) {wrong}; allowed: {', '.join(sorted(allowed))}"
            )
        return methods

    @model_validator(mode="after")
    def _consistent(self) -> MonitorConfig:
        if self.last_requests is not None and "window" in self.model_fields_set:
            raise ValueError("set either window (a duration) or last_requests (a count), not both")
        if self.retrain is not None:
            unknown = [str(rule) for rule in self.retrain.on if rule not in self.alerts]
            if unknown:
                raise ValueError(
                    f"retrain.on names rules that are not in alerts: {', '.join(unknown)}; "
                    "a retrain is triggered by an alert, so list each rule in alerts too"
                )
        return self

    @classmethod
    def from_settings(cls, settings: Settings) -> MonitorConfig:
        """The ``[monitor]`` section of a workspace's resolved settings."""
        from shipyard.core.config import CONFIG_FILE

        source = f"[monitor] of {settings.root / CONFIG_FILE}"
        return load_monitor_config(settings.monitor, source=source)


def load_monitor_config(
    section: Mapping[str, Any], *, source: str = "[monitor] of shipyard.toml"
) -> MonitorConfig:
    """Validate a ``[monitor]`` table; ``ConfigError`` lists every problem, each by its field."""
    try:
        return MonitorConfig.model_validate(dict(section))
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise ConfigError(
            f"The monitor configuration ({source}) is invalid: {problems}.",
            hint="Fields: window or last_requests, alerts, [[monitor.sinks]] "
            "(type = log | event | webhook), [monitor.retrain].",
        ) from None


def workspace_monitor_config(start: Path | None = None) -> MonitorConfig:
    """The ``[monitor]`` section of the workspace at or above ``start`` (see resolve_settings)."""
    from shipyard.core.config import resolve_settings

    return MonitorConfig.from_settings(resolve_settings(start))


def _describe(error: Any) -> str:
    """``sinks[1].url: must start with http://...`` from one pydantic error."""
    path = ""
    previous: object = None
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not (isinstance(previous, int) and part in ("log", "event", "webhook")):
            path += f".{part}" if path else str(part)  # the union's tag is not a field
        previous = part
    message = str(error["msg"]).removeprefix("Value error, ").rstrip(".")
    return f"{path}: {message}" if path else message
