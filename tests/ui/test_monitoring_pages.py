"""The deployments and monitoring pages in real Chromium: drift over time, per-feature overlays,
the retrain chain, and a deployment's live state read from a real model server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import httpx
import pytest

from shipyard.ui._api_monitor import SERVERS_ENV
from tests.ui.conftest import RunningUi, Seeded, screenshot

pytestmark = pytest.mark.slow

DRIFTED = {"monthly_charges", "contract", "support_calls"}
TRACES = "id => Array.from(document.getElementById(id).data || [], t => ({name: t.name, x: t.x, y: t.y, ids: t.customdata}))"  # noqa: E501


def _chain(ui: RunningUi, seeded: Seeded) -> dict[str, Any]:
    chains = httpx.get(ui.url + "/api/monitoring/retrains", params={"model": "churn"}).json()
    return next(c for c in chains["retrains"] if c["id"] == seeded.retrain_run)


def test_monitoring_page_draws_drift_over_time_and_links_the_retrain_chain(
    ui: RunningUi, seeded: Seeded, page: Any
) -> None:
    from shipyard.tracking import tracking_service

    alert_run = seeded.monitor_alert_run
    page.goto(ui.url + "/monitoring")
    assert page.title() == "Monitoring churn · Shipyard"
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length === 2")
    share = {t["name"]: t for t in page.evaluate(TRACES, "drift-share")}
    assert len(share["drift share"]["x"]) >= 2
    assert share["drift share"]["y"][-1] == pytest.approx(0.3)
    assert share["alert"]["ids"] == [alert_run]  # the alerting run is marked on the chart
    assert share["alert rule: drift_share > 0.2"]["y"] == [0.2, 0.2]
    features = {t["name"] for t in page.evaluate(TRACES, "drift-features")}
    assert features >= DRIFTED and len(features) <= 10

    row = page.locator(f"#monitor-runs tr[data-run='{alert_run}']")
    assert row.get_attribute("class") == "bad"
    assert "alert" in row.inner_text() and "30%" in row.inner_text()
    assert set(row.locator("td").nth(5).inner_text().split(", ")) == DRIFTED
    statuses = page.locator("#monitor-runs tr[data-run]").evaluate_all(
        "rows => rows.map(r => r.dataset.status)"
    )
    assert statuses == ["alert", "ok"]
    assert alert_run in page.locator("#alerts").inner_text()

    chain = page.locator(f"#retrains tr[data-chain='{seeded.retrain_run}']")
    assert "promoted" in chain.inner_text()
    pipeline_run = next(
        s["pipeline_run"] for s in _chain(ui, seeded)["record"]["steps"] if s["step"] == "pipeline"
    )
    assert tracking_service().get_run(pipeline_run).experiment == "churn_pipeline"
    assert chain.locator(f"a[href='/runs/{pipeline_run}']").count() == 1
    assert chain.locator("a[href='/models/churn/versions/2']").inner_text() == "churn v2"
    assert chain.locator(f"a[href='/monitoring/{alert_run}']").count() == 1
    screenshot(page, "monitoring")

    row.locator("a").first.click()
    page.wait_for_url(f"**/monitoring/{alert_run}")


def test_monitor_run_page_shows_drifted_features_with_distribution_overlays(
    ui: RunningUi, seeded: Seeded, page: Any
) -> None:
    alert_run = seeded.monitor_alert_run
    page.goto(f"{ui.url}/monitoring/{alert_run}")
    assert page.title() == f"Monitor run {alert_run[:10]} · Shipyard"
    drifted = page.locator("#features tr.bad td:first-child").all_inner_texts()
    assert set(drifted) == DRIFTED
    assert set(page.locator("#drifted-columns").inner_text().split(", ")) == DRIFTED

    page.wait_for_function("document.querySelectorAll('#distributions .js-plotly-plot').length")
    drawn = page.locator("#distributions figure").evaluate_all(
        """figures => Object.fromEntries(figures.map(f => {
             const chart = f.querySelector('.js-plotly-plot');
             return [f.dataset.column, chart ? chart.data.map(t => [t.name, t.y.length]) : []];
           }))"""
    )
    assert len(drawn) == len(page.locator("#features tr[data-column]").all())
    for column in DRIFTED:  # reference and current overlaid, with data
        assert [name for name, _ in drawn[column]] == ["reference", "current"]
        assert all(points > 1 for _, points in drawn[column])
    assert list(drawn)[:3] == drifted  # drifted features come first
    assert page.locator("#prediction_drift.js-plotly-plot").count() == 1

    assert "drift_share > 0.2" in page.locator("#alerts").inner_text()
    result = httpx.get(f"{ui.url}/api/monitoring/runs/{alert_run}").json()
    accuracy = page.locator("#performance tr", has_text="accuracy").first.locator("td")
    realized = result["performance"]["realized"]["accuracy"]
    assert accuracy.nth(1).inner_text() == f"{realized:.4g}"
    report = page.locator("#report-link").get_attribute("href")
    assert report == f"/api/runs/{alert_run}/artifacts/report.html?inline=1"
    assert page.locator("#chain a[href='/models/churn/versions/2']").count() == 1
    screenshot(page, "monitor_run")


def test_monitoring_api(ui: RunningUi, seeded: Seeded) -> None:
    runs = httpx.get(ui.url + "/api/monitoring/runs", params={"target": "churn"}).json()
    assert [r["status"] for r in runs["runs"]] == ["alert", "ok"]
    assert runs["runs"][0]["id"] == seeded.monitor_alert_run
    assert set(runs["runs"][0]["drifted_features"]) == DRIFTED
    assert runs["thresholds"]["alert"] == 0.2
    assert (
        httpx.get(ui.url + "/api/monitoring/runs", params={"target": "nope"}).json()["runs"] == []
    )
    assert len(httpx.get(ui.url + "/api/monitoring/runs", params={"limit": 1}).json()["runs"]) == 1

    result = httpx.get(f"{ui.url}/api/monitoring/runs/{seeded.monitor_alert_run}").json()
    assert result["id"] == seeded.monitor_alert_run
    assert set(result["drift"]["drifted_columns"]) == DRIFTED
    chain = _chain(ui, seeded)
    assert chain["status"] == "promoted" and chain["record"]["new_version"] == 2
    assert chain["monitor_run_id"] == seeded.monitor_alert_run

    for missing in ("0" * 26, seeded.hostile_run):  # unknown, and a run that is not a monitor run
        answer = httpx.get(f"{ui.url}/api/monitoring/runs/{missing}")
        assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    assert httpx.get(ui.url + "/monitoring/" + "0" * 26).status_code == 404
    paths = httpx.get(ui.url + "/api/openapi.json").json()["paths"]
    for path in ("/api/deployments/{name}", "/api/monitoring/runs", "/api/monitoring/retrains"):
        assert path in paths


def test_deployment_without_a_server_shows_what_the_log_recorded(ui: RunningUi, page: Any) -> None:
    page.goto(ui.url + "/deployments")
    assert page.locator("#no-servers").is_visible()
    assert "churn" in page.locator("#deployments").inner_text()
    assert page.locator("#deployments .requests").inner_text() == "-"  # no server: no counts

    page.locator("#deployments a[href='/deployments/churn']").click()
    page.wait_for_url("**/deployments/churn")
    assert page.locator("#not-live").is_visible()
    versions = page.locator("#logged tr[data-version]").evaluate_all(
        "rows => rows.map(r => r.dataset.version)"
    )
    assert sorted(versions) == ["1", "2"]
    moves = page.locator("#alias-moves").inner_text()
    assert "champion" in moves and "v2" in moves

    api = httpx.get(ui.url + "/api/deployments/churn").json()
    assert api["model"] == "churn" and api["live"] == []
    logged = {v["version"]: v for v in api["log"]["versions"]}
    assert set(logged) == {1, 2} and all(v["rows"] > 0 for v in logged.values())
    assert sum(v["rows"] for v in logged.values()) == api["log"]["rows"]
    # Other tests move other aliases (staging) in the shared workspace: look at the champion.
    champion = [m for m in api["alias_moves"] if m["alias"] == "champion"]
    assert [(m["from_version"], m["to_version"]) for m in champion] == [(1, 2), (None, 1)]
    missing = httpx.get(ui.url + "/api/deployments/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_an_unreachable_server_is_shown_as_such(seeded: Seeded, page: Any) -> None:
    from shipyard.ui import create_app

    nobody = f"http://127.0.0.1:{_free_port()}"
    running = RunningUi(create_app(token=None, servers=[nobody])).start()
    try:
        listed = httpx.get(running.url + "/api/deployments")
        assert listed.status_code == 200
        assert [(s["url"], s["status"]) for s in listed.json()["servers"]] == [
            (nobody, "unreachable")
        ]
        page.goto(running.url + "/deployments")
        assert "unreachable" in page.locator("#servers").inner_text()
        page.goto(running.url + "/deployments/churn")
        assert "unreachable" in page.locator("#servers").inner_text()
        assert page.locator("#logged tr[data-version]").count() == 2  # the log still speaks
        assert httpx.get(running.url + "/api/deployments/churn").status_code == 200
    finally:
        running.stop()


def test_deployment_live_state_from_a_real_model_server(
    seeded: Seeded, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    from shipyard.ui import create_app

    rows = pd.read_parquet(seeded.root / "data" / "holdout.parquet").drop(columns=["churned"])
    with _model_server(seeded) as server:
        for start in range(0, 15, 5):
            body = {"instances": rows.iloc[start : start + 5].to_dict(orient="records")}
            answer = httpx.post(f"{server}/v1/models/churn:predict", json=body, timeout=30)
            assert answer.status_code == 200 and answer.json()["model_version"] == "2"
        monkeypatch.setenv(SERVERS_ENV, server)
        running = RunningUi(create_app(token=None)).start()
        try:
            api = httpx.get(running.url + "/api/deployments/churn").json()
            (live,) = api["live"]
            assert [(v["version"], v["traffic_percent"]) for v in live["variants"]] == [(2, 100)]
            assert live["metrics"]["requests"] == 3 and live["metrics"]["by_code"] == {"200": 3}
            assert live["metrics"]["latency"]["p50_ms"] > 0
            assert live["metrics"]["requests_per_s"] > 0  # since the first request
            listed = httpx.get(running.url + "/api/deployments").json()
            assert [(d["name"], d["versions"], d["requests"]) for d in listed["deployments"]] == [
                ("churn", [2], 3)
            ]

            page.goto(running.url + "/deployments")
            listed = page.locator("#deployments").inner_text()
            assert "v2" in listed and "champion 100%" in listed
            assert page.locator("#deployments .requests").inner_text() == "3"
            assert "ok" in page.locator("#servers").inner_text()
            screenshot(page, "deployments")

            page.goto(running.url + "/deployments/churn")
            section = page.locator("section.live")
            assert section.get_attribute("data-server") == server
            assert section.locator(".variants a").inner_text() == "v2"
            assert section.locator(".traffic").inner_text() == "100%"
            assert section.locator(".requests").inner_text() == "3"
            assert section.locator(".rate").inner_text().endswith("/s")
            p50, p95 = section.locator(".latency").inner_text().split(" / ")
            assert float(p50.removesuffix(" ms")) > 0 and p95.endswith(" ms")
            screenshot(page, "deployment")
        finally:
            running.stop()


@contextmanager
def _model_server(seeded: Seeded) -> Iterator[str]:
    """``shipyard serve models:/churn@champion`` in its own process; it logs no predictions,
    so the seeded workspace stays as the other tests expect it."""
    port = _free_port()
    env = {**os.environ, "SHIPYARD_HOME": str(seeded.root)}
    for key in ("SHIPYARD_API_TOKEN", "SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS"):
        env.pop(key, None)
    command = [sys.executable, "-m", "shipyard", "serve", "models:/churn@champion"]
    command += ["--port", str(port), "--no-inference-log", "--no-access-log"]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            command, cwd=seeded.root, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            _wait_ready(url, process, output)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], output: IO[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output.seek(0)
            pytest.fail(f"The model server exited: {output.read().decode()[-2000:]}")
        try:
            if httpx.get(url + "/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("The model server did not become ready within 60 s.")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_stored_report_opens_sandboxed_with_its_charts(
    ui: RunningUi, seeded: Seeded, page: Any
) -> None:
    """The report's own scripts run (its charts draw from the sibling plotly.min.js), in an
    opaque origin: it cannot read the dashboard's cookies."""
    page.goto(ui.url + "/")  # get the session cookie first
    page.goto(f"{ui.url}/api/runs/{seeded.monitor_alert_run}/artifacts/report.html?inline=1")
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 3")
    assert page.evaluate("window.origin") == "null"
    with pytest.raises(Exception, match=r"(?i)sandbox|SecurityError|denied"):
        page.evaluate("document.cookie")
