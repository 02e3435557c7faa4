"""Alert rules, the [monitor] configuration, and the sinks alerts are delivered through.

Webhooks are delivered to a real HTTP server on 127.0.0.1; waits between retries are recorded
instead of slept, so the retry tests assert on the backoff and still take milliseconds.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shipyard.core.config import resolve_settings
from shipyard.core.errors import ConfigError, InvalidInput
from shipyard.monitor._alerts import Alert, AlertRule, evaluate_rules, parse_rule
from shipyard.monitor._config import (
    LogSinkConfig,
    MonitorConfig,
    WebhookSinkConfig,
    format_duration,
    load_monitor_config,
    parse_duration,
    refused_address,
    workspace_monitor_config,
)
from shipyard.monitor._sinks import (
    DeliveryResult,
    EventSink,
    LogSink,
    WebhookSink,
    alert_payload,
    build_sinks,
    deliver,
    resolve_addresses,
)

# --- rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "value", "fires"),
    [
        (">", 0.31, True),
        (">", 0.3, False),
        (">=", 0.3, True),
        (">=", 0.29, False),
        ("<", 0.29, True),
        ("<", 0.3, False),
        ("<=", 0.3, True),
        ("<=", 0.31, False),
        ("==", 0.3, True),
        ("==", 0.31, False),
        ("!=", 0.31, True),
        ("!=", 0.3, False),
    ],
)
def test_every_operator_compares_the_value_with_the_threshold(
    op: str, value: float, fires: bool
) -> None:
    rule = parse_rule(f"drift_share {op} 0.3")
    assert (rule.metric, rule.label, rule.op, rule.threshold) == ("drift_share", None, op, 0.3)
    alerts, not_measured = evaluate_rules([rule], {"drift_share": value})
    assert [a.value for a in alerts] == ([value] if fires else [])
    assert not_measured == []


@pytest.mark.parametrize(
    ("text", "metric", "label", "op", "threshold"),
    [
        ("missing_rate{age} > 0.1", "missing_rate", "age", ">", 0.1),
        ("drift{income}<1e-3", "drift", "income", "<", 0.001),
        ("  drifted{ home town }  ==  1 ", "drifted", "home town", "==", 1.0),
        ("roc_auc_drop>=.05", "roc_auc_drop", None, ">=", 0.05),
        ("estimated_rmse_drop != -2", "estimated_rmse_drop", None, "!=", -2.0),
        ("quality_errors > 0", "quality_errors", None, ">", 0.0),
    ],
)
def test_rules_read_names_labels_operators_and_numbers(
    text: str, metric: str, label: str | None, op: str, threshold: float
) -> None:
    rule = parse_rule(text)
    assert (rule.metric, rule.label, rule.op, rule.threshold) == (metric, label, op, threshold)
    assert rule.key == (metric if label is None else f"{metric}{{{label}}}")
    assert str(rule) == " ".join(text.split())


def test_rules_are_equal_when_they_test_the_same_thing_however_written() -> None:
    assert parse_rule("drift_share>0.3") == parse_rule("drift_share  >  0.30")
    assert parse_rule("drift_share > 0.3") != parse_rule("drift_share >= 0.3")


def test_an_unknown_metric_is_named_with_a_suggestion_and_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rule("drift_shar > 0.3")
    assert caught.value.message == (
        "Alert rule 'drift_shar > 0.3': unknown metric 'drift_shar' (did you mean 'drift_share'?)."
    )
    hint = caught.value.hint or ""
    assert hint.startswith("Known metrics: drift_share, drifted_features, dataset_drift,")
    assert "missing_rate{column}" in hint
    assert "performance: roc_auc, accuracy, f1, precision, recall, log_loss, rmse, mae, r2" in hint


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("drift_share 0.3", "expected one of > >= < <= == != after 'drift_share'"),
        ("drift_share > high", "the threshold 'high' is not a number"),
        ("drift_share >", "no threshold"),
        ("drift_share => 0.3", "'=>' is not a comparison: write ==, >= or <="),
        ("drift_share = 0.3", "'=' is not a comparison: write ==, >= or <="),
        ("> 0.3", "it does not start with a metric name"),
        ("", "it does not start with a metric name"),
        ("missing_rate{age > 0.1", "the column label after 'missing_rate' is not closed"),
        ("missing_rate > 0.1", "missing_rate is measured per column: write missing_rate{column}"),
        ("drift{} > 0.1", "drift is measured per column"),
        ("drift_share{age} > 0.1", "drift_share is not measured per column: drop {age}"),
        ("drift_share > nan", "the threshold 'nan' is not a number"),
    ],
)
def test_a_malformed_rule_is_named_with_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rule(text)
    assert caught.value.message.startswith(f"Alert rule {text!r} does not parse: {problem}")
    assert caught.value.hint is not None
    assert caught.value.hint.startswith("Write NAME or NAME{column}")


def test_evaluation_fires_alerts_and_reports_what_was_not_measured() -> None:
    rules = [
        parse_rule(text)
        for text in (
            "drift_share > 0.3",
            "missing_rate{age} > 0.1",
            "drift{income} < 0.05",
            "roc_auc_drop > 0.05",
            "unseen_share{city} > 0.2",
        )
    ]
    values = {
        "drift_share": 0.42,
        "missing_rate{age}": 0.05,
        "drift{income}": 0.001,
        "roc_auc_drop": math.nan,  # a statistic that could not be computed is not measured
    }
    alerts, not_measured = evaluate_rules(rules, values)
    assert [a.to_dict() for a in alerts] == [
        {
            "rule": "drift_share > 0.3",
            "metric": "drift_share",
            "value": 0.42,
            "threshold": 0.3,
            "op": ">",
            "message": "drift_share is 0.42, above the threshold 0.3 (rule: drift_share > 0.3).",
        },
        {
            "rule": "drift{income} < 0.05",
            "metric": "drift{income}",
            "value": 0.001,
            "threshold": 0.05,
            "op": "<",
            "message": "drift of column 'income' is 0.001, below the threshold 0.05 "
            "(rule: drift{income} < 0.05).",
        },
    ]
    assert not_measured == ["roc_auc_drop > 0.05", "unseen_share{city} > 0.2"]


# --- durations and configuration --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        (" 24h ", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(days=14)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_durations_read_a_number_and_a_unit(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 hour", "Cannot read the duration '1 hour'."),
        ("h", "Cannot read the duration 'h'."),
        ("10", "Cannot read the duration '10'."),
        ("-1h", "Cannot read the duration '-1h'."),
        ("0m", "The duration '0m' must be longer than zero."),
    ],
)
def test_a_bad_duration_says_how_to_write_one(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_duration(text)
    assert caught.value.message == message
    assert caught.value.hint == (
        'Write a number and a unit s, m, h, d or w: "90s", "30m", "1h", "7d", "2w".'
    )


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(days=14), "2w"),
        (timedelta(days=8), "8d"),
        (timedelta(hours=2), "2h"),
        (timedelta(seconds=90), "90s"),
        (timedelta(seconds=1.5), "1.5s"),
    ],
)
def test_durations_are_written_back_in_their_shortest_exact_form(
    duration: timedelta, text: str
) -> None:
    assert format_duration(duration) == text
    assert parse_duration(text) == duration


_FULL = {
    "window": "30m",
    "alerts": ["drift_share > 0.3", "roc_auc_drop > 0.05", "missing_rate{age} > 0.1"],
    "sinks": [
        {"type": "log"},
        {"type": "event"},
        {
            "type": "webhook",
            "url": "http://127.0.0.1:9000/hook",
            "headers": {"Authorization": "Bearer s3cret"},
            "timeout_s": 5,
            "retries": 3,
        },
    ],
    "retrain": {
        "pipeline": "pipeline:tabular_pipeline",
        "params": {"data": "churn@latest"},
        "on": ["drift_share>0.3"],
        "cooldown": "2h",
        "max_per_day": 2,
        "alias": "production",
        "server_url": "http://127.0.0.1:8000",
    },
}


def test_the_full_monitor_section_loads_into_typed_values() -> None:
    config = load_monitor_config(_FULL)
    assert config.window == timedelta(minutes=30)
    assert config.last_requests is None
    assert [str(rule) for rule in config.alerts] == _FULL["alerts"]
    assert [sink.type for sink in config.sinks] == ["log", "event", "webhook"]
    webhook = config.sinks[2]
    assert isinstance(webhook, WebhookSinkConfig)
    assert (webhook.url, webhook.headers) == (
        "http://127.0.0.1:9000/hook",
        {"Authorization": "Bearer s3cret"},
    )
    assert (webhook.timeout_s, webhook.retries, webhook.allow_link_local) == (5.0, 3, False)
    assert "s3cret" not in repr(config)
    retrain = config.retrain
    assert retrain is not None
    assert retrain.pipeline == "pipeline:tabular_pipeline"
    assert retrain.params == {"data": "churn@latest"}
    assert retrain.on == (parse_rule("drift_share > 0.3"),)
    assert (retrain.cooldown, retrain.max_per_day, retrain.alias) == (
        timedelta(hours=2),
        2,
        "production",
    )
    assert (retrain.gate_data, retrain.gate_resamples, retrain.swap_timeout_s) == (None, 1000, 60)
    assert retrain.server_url == "http://127.0.0.1:8000"
    assert config.model_dump()["window"] == "30m"


def test_an_empty_section_means_a_one_hour_window_no_rules_and_the_log() -> None:
    config = load_monitor_config({})
    assert config.window == timedelta(hours=1)
    assert (config.last_requests, config.alerts, config.retrain) == (None, (), None)
    assert config.sinks == (LogSinkConfig(),)
    assert load_monitor_config({"last_requests": 1000}).last_requests == 1000


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"window": "1 hour"}, "window: Cannot read the duration '1 hour'"),
        ({"window": "1h", "last_requests": 10}, "set either window (a duration) or last_requests"),
        ({"last_requests": 0}, "last_requests: Input should be greater than or equal to 1"),
        ({"alerts": ["drift_share > 0.3", "drfit > 1"]}, "alerts[1]: Alert rule 'drfit > 1'"),
        ({"alerts": "drift_share > 0.3"}, "alerts: Input should be a valid tuple"),
        ({"colour": "blue"}, "colour: Extra inputs are not permitted"),
        ({"sinks": [{"type": "slack"}]}, "sinks[0]: Input tag 'slack' found using 'type'"),
        ({"sinks": [{"type": "webhook"}]}, "sinks[0].url: Field required"),
        (
            {"sinks": [{"type": "log"}, {"type": "webhook", "url": "ftp://x/y"}]},
            "sinks[1].url: must start with http:// or https://, got 'ftp://x/y'",
        ),
        (
            {"sinks": [{"type": "webhook", "url": "http://u:p@h.example/x"}]},
            "sinks[0].url: must not carry credentials; put them in `headers`",
        ),
        (
            {"sinks": [{"type": "webhook", "url": "http://h.example", "retries": 99}]},
            "sinks[0].retries: Input should be less than or equal to 10",
        ),
        (
            {"sinks": [{"type": "webhook", "url": "http://h.example", "headers": {"Host": "x"}}]},
            "sinks[0].headers: Host is set by Shipyard and cannot be configured",
        ),
        (
            {"sinks": [{"type": "log", "url": "http://h.example"}]},
            "sinks[0].url: Extra inputs are not permitted",
        ),
        ({"retrain": {}}, "retrain.pipeline: Field required"),
        ({"retrain": {"pipeline": "training"}}, "retrain.pipeline: 'training' is not MODULE:"),
        ({"retrain": {"pipeline": "a:b", "cooldown": 3600}}, "retrain.cooldown: Cannot read"),
        ({"retrain": {"pipeline": "a:b", "max_per_day": 0}}, "retrain.max_per_day: Input should"),
        ({"retrain": {"pipeline": "a:b", "alias": "latest"}}, "retrain.alias: 'latest' is a"),
        (
            {"retrain": {"pipeline": "a:b", "server_url": "localhost:8000"}},
            "retrain.server_url: must be an http:// or https:// URL, got 'localhost:8000'",
        ),
        (
            {"alerts": ["drift_share > 0.3"], "retrain": {"pipeline": "a:b", "on": ["f1 < 0.5"]}},
            "retrain.on names rules that are not in alerts: f1 < 0.5",
        ),
    ],
)
def test_a_bad_monitor_section_names_the_field_and_the_problem(
    section: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_monitor_config(section)
    assert caught.value.message.startswith(
        "The monitor configuration ([monitor] of shipyard.toml) is invalid: "
    )
    assert problem in caught.value.message
    assert ".." not in caught.value.message


def test_retraining_is_triggered_by_the_rules_named_in_on_however_written() -> None:
    fired = ["drift_share>0.3", "roc_auc_drop > 0.05"]
    policy = load_monitor_config(_FULL).retrain
    assert policy is not None
    assert policy.triggered_by(fired) == ["drift_share>0.3"]
    assert policy.triggered_by(["missing_rate{age} > 0.1"]) == []
    anything = load_monitor_config({"retrain": {"pipeline": "a:b"}}).retrain
    assert anything is not None
    assert anything.triggered_by(fired) == fired


def test_the_workspace_monitor_section_is_read_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SHIPYARD_HOME", "SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "shipyard.toml").write_text(
        '[monitor]\nlast_requests = 500\nalerts = ["dataset_drift == 1"]\n'
        '[[monitor.sinks]]\ntype = "webhook"\nurl = "https://hooks.example.com/T0/B0/xyz"\n'
    )
    config = MonitorConfig.from_settings(resolve_settings(tmp_path))
    assert config == workspace_monitor_config(tmp_path)
    assert config.last_requests == 500
    assert config.alerts == (AlertRule("dataset_drift", None, "==", 1.0),)
    (tmp_path / "shipyard.toml").write_text('[monitor]\nwindow = "soon"\n')
    with pytest.raises(ConfigError, match=r"window: Cannot read the duration 'soon'") as caught:
        MonitorConfig.from_settings(resolve_settings(tmp_path))
    assert f"[monitor] of {tmp_path / 'shipyard.toml'}" in caught.value.message


# --- addresses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("169.254.169.254", "link-local"),
        ("169.254.0.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("::ffff:169.254.169.254", "link-local"),
        ("fd00:ec2::254", "cloud metadata"),
        ("127.0.0.1", None),
        ("10.1.2.3", None),
        ("::1", None),
        ("93.184.216.34", None),
    ],
)
def test_link_local_and_metadata_addresses_are_refused(address: str, refused: str | None) -> None:
    reason = refused_address(address)
    assert (reason is None) if refused is None else (refused in (reason or ""))


def test_a_literal_link_local_url_is_refused_at_load_unless_allowed() -> None:
    url = "http://169.254.169.254/latest/meta-data/"
    with pytest.raises(ConfigError) as caught:
        load_monitor_config({"sinks": [{"type": "webhook", "url": url}]})
    assert (
        "sinks[0]: url: 169.254.169.254 is a link-local address (169.254.0.0/16, fe80::/10), "
        "where cloud metadata services answer; set allow_link_local = true to send there anyway"
    ) in caught.value.message
    with pytest.raises(ConfigError, match=r"fe80::1 is a link-local address"):
        load_monitor_config({"sinks": [{"type": "webhook", "url": "http://[fe80::1]:80/"}]})
    allowed = load_monitor_config(
        {"sinks": [{"type": "webhook", "url": url, "allow_link_local": True}]}
    )
    assert isinstance(allowed.sinks[0], WebhookSinkConfig)
    assert allowed.sinks[0].allow_link_local is True
    # The send-time check passes too; nothing is connected to here.
    assert resolve_addresses("169.254.169.254", 80, allow_link_local=True) == ["169.254.169.254"]
    with pytest.raises(InvalidInput, match=r"Refused to send to 169\.254\.169\.254"):
        resolve_addresses("169.254.169.254", 80)


def _resolver(*addresses: str) -> Any:
    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        calls.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    calls: list[str] = []
    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def test_a_host_name_resolving_to_link_local_is_refused_by_its_addresses() -> None:
    resolver = _resolver("93.184.216.34", "169.254.169.254")
    with pytest.raises(InvalidInput) as caught:
        resolve_addresses("metadata.example.test", 80, resolver=resolver)
    assert caught.value.message == (
        "Refused to send to metadata.example.test: 169.254.169.254 is a link-local address "
        "(169.254.0.0/16, fe80::/10), where cloud metadata services answer."
    )
    assert resolve_addresses("h.test", 80, resolver=_resolver("10.0.0.1", "10.0.0.1", "::1")) == [
        "10.0.0.1",
        "::1",
    ]


def test_a_webhook_to_a_name_resolving_to_link_local_is_never_sent() -> None:
    config = WebhookSinkConfig(url="http://metadata.example.test/hook", retries=3)
    resolver = _resolver("169.254.169.254")
    waits: list[float] = []
    result = WebhookSink(config, resolver=resolver, sleep=waits.append).send(_payload())
    assert result == DeliveryResult(
        "webhook",
        "http://metadata.example.test/…",
        delivered=False,
        attempts=0,
        status=None,
        error="Refused to send to metadata.example.test: 169.254.169.254 is a link-local "
        "address (169.254.0.0/16, fe80::/10), where cloud metadata services answer.",
    )
    assert (resolver.calls, waits) == (["metadata.example.test"], [])


# --- payload, log and event sinks ------------------------------------------------------------


def _alert(value: float = 0.42) -> Alert:
    rule = parse_rule("drift_share > 0.3")
    return evaluate_rules([rule], {"drift_share": value}).alerts[0]


def _payload() -> dict[str, Any]:
    return alert_payload(
        [_alert()],
        target="churn@champion",
        monitor_run_id="01HRUN",
        drifted_columns=["age", "income"],
        at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    )


def test_the_payload_carries_the_alerts_the_target_and_when() -> None:
    payload = _payload()
    assert len(payload.pop("id")) == 26
    assert payload == {
        "event": "shipyard.monitor.alert",
        "at": "2024-05-01T12:00:00Z",
        "target": "churn@champion",
        "monitor_run_id": "01HRUN",
        "summary": "churn@champion: 1 alert: drift_share is 0.42, above the threshold 0.3 "
        "(rule: drift_share > 0.3).",
        "alerts": [_alert().to_dict()],
        "drifted_columns": ["age", "income"],
    }
    assert json.loads(json.dumps(payload)) == payload


def test_the_log_sink_writes_one_warning_per_alert(caplog: pytest.LogCaptureFixture) -> None:
    payload = alert_payload([_alert(0.5), _alert(0.6)], target="churn@champion")
    with caplog.at_level(logging.WARNING, logger="shipyard.monitor.alerts"):
        result = LogSink().send(payload)
    assert result == DeliveryResult("log", "log", True, 1)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            "Alert on churn@champion: drift_share is 0.5, above the threshold 0.3 "
            "(rule: drift_share > 0.3).",
        ),
        (
            logging.WARNING,
            "Alert on churn@champion: drift_share is 0.6, above the threshold 0.3 "
            "(rule: drift_share > 0.3).",
        ),
    ]


def test_deliver_sends_to_every_sink_even_when_one_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorded: list[dict[str, Any]] = []

    def broken(payload: dict[str, Any]) -> None:
        raise RuntimeError("audit trail is down")

    payload = _payload()
    with caplog.at_level(logging.WARNING, logger="shipyard.monitor.alerts"):
        results = deliver([EventSink(broken), EventSink(recorded.append), LogSink()], payload)
    assert results == [
        DeliveryResult("event", "event", False, 1, error="RuntimeError: audit trail is down"),
        DeliveryResult("event", "event", True, 1),
        DeliveryResult("log", "log", True, 1),
    ]
    assert recorded == [payload]
    assert deliver([EventSink(recorded.append)], alert_payload([], target="x")) == []
    assert len(recorded) == 1


def test_build_sinks_makes_one_sink_per_configured_entry() -> None:
    recorded: list[dict[str, Any]] = []
    sinks = build_sinks(load_monitor_config(_FULL), record_event=recorded.append)
    assert [type(s) for s in sinks] == [LogSink, EventSink, WebhookSink]
    assert [s.target for s in sinks] == ["log", "event", "http://127.0.0.1:9000/…"]
    with pytest.raises(InvalidInput, match="no recorder was given"):
        build_sinks(load_monitor_config(_FULL))


# --- webhooks to a real local receiver ---------------------------------------------------------


class _Receiver:
    """Answers POSTs with scripted (status, headers) and records what it was sent."""

    def __init__(self, answers: list[tuple[int, dict[str, str]]]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.port = 0


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    state = _Receiver([])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append((self.path, dict(self.headers), json.loads(body)))
            status, headers = state.answers.pop(0) if state.answers else (200, {})
            self.send_response(status)
            for name, value in {**headers, "Content-Length": "2"}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _sink(port: int, *, host: str = "127.0.0.1", **options: Any) -> tuple[WebhookSink, list[float]]:
    config = WebhookSinkConfig(
        url=f"http://{host}:{port}/hooks/T0/secret", backoff_s=0.1, max_backoff_s=5, **options
    )
    waits: list[float] = []
    return WebhookSink(config, sleep=waits.append, jitter=lambda: 1.0), waits


def test_a_webhook_is_delivered_as_json_with_the_configured_headers(receiver: _Receiver) -> None:
    sink, waits = _sink(receiver.port, headers={"Authorization": "Bearer s3cret"})
    payload = _payload()
    result = sink.send(payload)
    assert result == DeliveryResult(
        "webhook", f"http://127.0.0.1:{receiver.port}/…", True, 1, 200, None
    )
    [(path, headers, body)] = receiver.requests
    assert (path, body, waits) == ("/hooks/T0/secret", payload, [])
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Shipyard-Delivery"] == payload["id"]
    assert headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert headers["User-Agent"].startswith("shipyard/")


def test_a_host_name_is_sent_to_its_checked_address_with_its_own_host_header(
    receiver: _Receiver,
) -> None:
    # 127.0.0.2 refuses (the receiver listens on 127.0.0.1 only): the next address is tried.
    resolver = _resolver("127.0.0.2", "127.0.0.1")
    config = WebhookSinkConfig(url=f"http://hooks.example.test:{receiver.port}/x", retries=0)
    result = WebhookSink(config, resolver=resolver).send(_payload())
    assert (result.delivered, result.attempts, result.status) == (True, 1, 200)
    assert receiver.requests[0][1]["Host"] == f"hooks.example.test:{receiver.port}"


def test_a_503_is_retried_with_doubling_backoff_until_delivered(receiver: _Receiver) -> None:
    receiver.answers = [(503, {}), (503, {})]
    sink, waits = _sink(receiver.port, retries=3)
    result = sink.send(_payload())
    assert result == DeliveryResult("webhook", sink.target, True, 3, 200, None)
    assert len(receiver.requests) == 3
    assert len({body["id"] for _, _, body in receiver.requests}) == 1
    assert waits == [0.1, 0.2]


def test_a_429_waits_as_long_as_retry_after_says_up_to_the_cap(receiver: _Receiver) -> None:
    receiver.answers = [(429, {"Retry-After": "2"}), (429, {"Retry-After": "120"})]
    sink, waits = _sink(receiver.port, retries=2)
    result = sink.send(_payload())
    assert (result.delivered, result.attempts, result.status) == (True, 3, 200)
    assert waits == [2.0, 5.0]


def test_a_400_is_not_retried(receiver: _Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.answers = [(400, {})]
    sink, waits = _sink(receiver.port, retries=3)
    with caplog.at_level(logging.WARNING, logger="shipyard.monitor.alerts"):
        result = sink.send(_payload())
    assert result == DeliveryResult("webhook", sink.target, False, 1, 400, "HTTP 400")
    assert (len(receiver.requests), waits) == (1, [])
    assert caplog.messages == [
        f"Alert webhook {sink.target} not delivered after 1 attempt(s): HTTP 400"
    ]


def test_a_redirect_is_not_followed(receiver: _Receiver) -> None:
    receiver.answers = [(302, {"Location": "http://169.254.169.254/"})]
    sink, waits = _sink(receiver.port, retries=3)
    result = sink.send(_payload())
    assert (result.delivered, result.attempts, result.status, waits) == (False, 1, 302, [])
    assert len(receiver.requests) == 1


def test_persistent_5xx_gives_up_after_the_retries(receiver: _Receiver) -> None:
    receiver.answers = [(500, {})] * 5
    sink, waits = _sink(receiver.port, retries=2)
    result = sink.send(_payload())
    assert result == DeliveryResult("webhook", sink.target, False, 3, 500, "HTTP 500")
    assert waits == [0.1, 0.2]


def test_an_unreachable_receiver_fails_cleanly_after_the_retries() -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink, waits = _sink(port, retries=2)
    result = sink.send(_payload())
    assert (result.delivered, result.attempts, result.status) == (False, 3, None)
    assert (result.error or "").startswith("ConnectError: ")
    assert waits == [0.1, 0.2]


def test_jitter_spreads_each_wait_between_half_and_all_of_the_backoff() -> None:
    config = WebhookSinkConfig(url="http://h.example", backoff_s=1, max_backoff_s=3)
    low = WebhookSink(config, jitter=lambda: 0.0)
    high = WebhookSink(config, jitter=lambda: 1.0)
    assert [low._wait(n, None) for n in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, 1.5]
    assert [high._wait(n, None) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]
