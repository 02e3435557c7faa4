"""The dashboard's defences: labels from data drawn as text in charts, no third-party scripts and
a Content-Security-Policy, malformed signatures refused rather than crashing, no open actions
on the network without a token, and every error in the dashboard's own format."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.ui.conftest import TOKEN, RunningUi, Seeded

LINK_LABEL = '<a href="https://evil.example">click me</a>'
QUOTED_LABEL = 'say "hi" & <b>bye</b>'
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


# -- S1: labels from data are text in plotly charts


def test_plotly_text_escapes_markup_but_keeps_quotes() -> None:
    from shipyard.monitor._charts import category_traces, plotly_text

    assert plotly_text(LINK_LABEL) == '&lt;a href="https://evil.example"&gt;click me&lt;/a&gt;'
    assert plotly_text(QUOTED_LABEL) == 'say "hi" &amp; &lt;b&gt;bye&lt;/b&gt;'
    assert plotly_text(3) == "3"
    bars = category_traces(
        {"categories": [LINK_LABEL, 'a "b"'], "reference": [0.5, 0.5], "current": [0.4, 0.6]}
    )
    assert list(bars[0].x) == ['a "b"', plotly_text(LINK_LABEL)]


def test_card_and_drift_chart_labels_keep_quotes() -> None:
    from shipyard.ui._pages_card import card_charts
    from shipyard.ui._pages_monitor import drift_charts

    card = {
        "performance": {
            "source": "predictions",
            "task": "binary",
            "positives": 'churn "yes"',
            "counts": {"caught": 1, "missed": 2, "false_alarms": 3, "left_alone": 4},
        },
        "drivers": {"features": [{"label": 'plan "gold"', "share": 1.0}]},
    }
    charts = card_charts(card)
    assert charts["chart-outcomes"]["data"][0]["y"] == ['Real churn "yes"', "Other cases"]
    assert charts["chart-drivers"]["data"][0]["y"] == ['plan "gold"']
    runs = [
        {
            "id": "r1",
            "start_ms": 0,
            "status": "alert",
            "drift_share": 0.5,
            "drift": {LINK_LABEL: 0.9},
            "drifted_features": [LINK_LABEL],
        }
    ]
    features = drift_charts(runs, {})[1]["figure"]["data"]
    assert [trace["name"] for trace in features] == [
        '&lt;a href="https://evil.example"&gt;click me&lt;/a&gt;'
    ]


@pytest.mark.slow
def test_a_dataset_value_with_markup_is_drawn_as_text(
    ui: RunningUi, seeded: Seeded, page: Any
) -> None:
    import pandas as pd

    import shipyard as sy

    labels = [LINK_LABEL] * 3 + [QUOTED_LABEL] * 2 + ["plain"]
    sy.log_dataset(pd.DataFrame({"label": labels}), "hostile_labels")

    page.goto(ui.url + "/datasets/hostile_labels")
    chart = page.locator(".chart[data-kind='top values']").first
    chart.scroll_into_view_if_needed()
    page.wait_for_selector(".chart[data-kind='top values'] .main-svg")
    page.wait_for_selector(".chart[data-kind='top values'] .xtick text")
    ticks = chart.locator(".xtick text").all_text_contents()
    assert ticks == [LINK_LABEL, QUOTED_LABEL, "plain"]
    assert chart.locator("a").count() == 0
    assert page.locator("a[href*='evil.example']").count() == 0
    assert "&quot;" not in chart.inner_text()


# -- S2: no CDN script, a Content-Security-Policy on every page


@pytest.mark.slow
def test_no_swagger_ui_and_a_content_security_policy(ui: RunningUi, seeded: Seeded) -> None:
    docs = httpx.get(ui.url + "/api/docs")
    assert docs.status_code == 404 and docs.json()["code"] == "not_found"
    assert "cdn.jsdelivr.net" not in docs.text
    home = httpx.get(ui.url + "/")
    assert home.headers["content-security-policy"] == CSP
    assert home.headers["cross-origin-resource-policy"] == "same-origin"
    assert 'href="/api/openapi.json"' in home.text and "/api/docs" not in home.text
    for path in ("/api/overview", "/nope", "/static/plotly.min.js"):
        assert httpx.get(ui.url + path).headers["content-security-policy"] == CSP
    # An artifact download keeps its own sandbox policy.
    csv = httpx.get(f"{ui.url}/api/runs/{seeded.image_run}/artifacts/data/table.csv")
    assert csv.status_code == 200
    assert csv.headers["content-security-policy"].startswith("sandbox")


@pytest.mark.slow
def test_every_page_runs_under_the_policy_without_console_errors(
    ui: RunningUi, seeded: Seeded, page: Any
) -> None:
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text) if m.type == "error" else None)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation',"
        " (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    first, second = seeded.compare_runs
    paths = [
        "/",
        "/runs",
        f"/runs/{first}",
        f"/runs/{seeded.image_run}",
        f"/compare?ids={first},{second}",
        "/datasets",
        "/datasets/churn",
        "/models",
        "/models/churn",
        "/models/churn/versions/2",
        "/models/churn/versions/2/card",
        "/deployments",
        "/deployments/churn",
        "/monitoring",
        "/login",
    ]
    if seeded.monitor_alert_run:
        paths.append(f"/monitoring/{seeded.monitor_alert_run}")
    for path in paths:
        response = page.goto(ui.url + path)
        assert response is not None and response.status == 200, path
        assert response.headers["content-security-policy"] == CSP, path
        page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_load_state("networkidle")
    assert page.evaluate("() => typeof Plotly") == "object"
    assert messages == []


# -- S3: a malformed signature, CSRF token or sign-in cookie is refused, never a 500


@pytest.mark.slow
def test_non_ascii_signatures_are_refused_not_crashes(
    ui: RunningUi, ui_with_token: RunningUi, seeded: Seeded
) -> None:
    flash = httpx.get(ui.url + "/models/churn?flash=hello&sig=%C3%A9")
    assert flash.status_code == 200 and 'id="flash"' not in flash.text

    with httpx.Client(base_url=ui.url) as client:
        client.get("/models/churn")  # the session cookie
        note = client.post("/models/churn/notes", data={"csrf": "é", "text": "x"})
        assert note.status_code == 403 and "CSRF token" in note.text
        assert note.headers["content-type"].startswith("text/html")

    session = httpx.get(ui_with_token.url + "/").cookies["shipyard_session"]
    cookie = {"cookie": f"shipyard_session={session}; shipyard_auth=é".encode()}
    for path in ("/", "/models/churn", "/runs"):
        shown = httpx.get(ui_with_token.url + path, headers=cookie)
        assert shown.status_code == 200, path
    form = httpx.get(ui_with_token.url + "/models/churn", headers=cookie).text
    assert 'id="sign-in-hint"' in form  # a malformed cookie is not a sign-in
    csrf = form.split('name="csrf" value="')[1].split('"')[0]
    refused = httpx.post(
        ui_with_token.url + "/models/churn/notes",
        data={"csrf": csrf, "text": "x"},
        headers=cookie,
    )
    assert refused.status_code == 401 and "API token" in refused.text
    login = httpx.post(
        ui_with_token.url + "/login", data={"csrf": csrf, "token": "é"}, headers=cookie
    )
    assert login.status_code == 401


def test_same_text_compares_any_text() -> None:
    from shipyard.ui._security import same_text

    assert same_text("abc", "abc")
    assert not same_text("é", "abc")
    assert not same_text("\udce9", "abc")  # lone surrogates do not raise either
    assert not same_text("\ud800", "abc")


# -- S5: no open actions on the network without a token


def test_exposure_needs_a_token_or_no_auth() -> None:
    from shipyard.cli._ui import check_exposure
    from shipyard.core.errors import InvalidInput

    for host, allowed in (
        ("127.0.0.1", []),
        ("localhost", ["localhost", "127.0.0.2"]),
        ("::1", ["[::1]"]),
    ):
        check_exposure(host, allowed, token=None, no_auth=False)
    for host, allowed, words in (
        ("127.0.0.1", ["*"], "--allow-host '*'"),
        ("0.0.0.0", [], "--host 0.0.0.0"),
        ("192.168.1.5", [], "--host 192.168.1.5"),
        ("127.0.0.1", ["dash.example"], "--allow-host dash.example"),
    ):
        with pytest.raises(InvalidInput, match="SHIPYARD_API_TOKEN") as refused:
            check_exposure(host, allowed, token=None, no_auth=False)
        assert words in refused.value.message
        check_exposure(host, allowed, token=TOKEN, no_auth=False)
        check_exposure(host, allowed, token=None, no_auth=True)


@pytest.mark.parametrize("args", [["--allow-host", "*"], ["--host", "0.0.0.0"]])
def test_cli_refuses_to_serve_open_actions_before_binding(args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SHIPYARD_API_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "shipyard", "ui", "--port", "0", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Refusing to start" in done.stderr and "--no-auth" in done.stderr
    assert "dashboard on" not in done.stdout


# -- C1: every error in the dashboard's format


@pytest.mark.slow
def test_errors_are_json_for_the_api_and_a_page_otherwise(ui: RunningUi, seeded: Seeded) -> None:
    api = httpx.get(ui.url + "/api/runs?limit=abc")
    assert api.status_code == 422
    body = api.json()
    assert set(body) == {"error", "code", "hint"} and body["code"] == "invalid_input"
    assert "'limit'" in body["error"] and "integer" in body["error"] and "'abc'" in body["error"]

    page = httpx.get(ui.url + "/runs?limit=abc")
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert "<title>Error 422 · Shipyard</title>" in page.text and "limit" in page.text

    missing = httpx.get(ui.url + "/nope")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "<title>Error 404 · Shipyard</title>" in missing.text and "/nope" in missing.text

    api_missing = httpx.get(ui.url + "/api/nope")
    assert api_missing.status_code == 404
    assert api_missing.json()["code"] == "not_found" and "/api/nope" in api_missing.json()["error"]

    wrong_method = httpx.delete(ui.url + "/api/overview")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"
    assert "GET" in wrong_method.headers["allow"]
