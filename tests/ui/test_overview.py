"""The overview page in real Chromium: what the workspace holds, at a glance."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.ui.conftest import RunningUi, Seeded, screenshot

pytestmark = pytest.mark.slow


def test_overview_shows_models_deployments_alerts_and_runs(
    ui: RunningUi, seeded: Seeded, page: Any
) -> None:
    page.goto(ui.url + "/")
    assert page.title() == "Overview · Shipyard"
    models = page.locator("#models")
    assert "churn" in models.inner_text() and "v2" in models.inner_text()
    assert "churn" in page.locator("#deployments").inner_text()
    assert "ui-tests" in page.locator("#experiments").inner_text()
    screenshot(page, "overview")

    api = httpx.get(ui.url + "/api/overview").json()
    assert [m["champion"] for m in api["models"] if m["name"] == "churn"] == [2]
    assert {d["name"] for d in api["deployments"]} == {"churn"}


def test_plotly_is_served_locally_and_hosts_are_checked(ui: RunningUi) -> None:
    bundle = httpx.get(ui.url + "/static/plotly.min.js")
    assert bundle.status_code == 200 and b"plotly" in bundle.content[:2000].lower()
    refused = httpx.get(ui.url + "/", headers={"host": "attacker.example"})
    assert refused.status_code == 403 and "not allowed" in refused.json()["error"]
    cross = httpx.post(ui.url + "/logout", headers={"origin": "https://attacker.example"})
    assert cross.status_code == 403
    schema = httpx.get(ui.url + "/api/openapi.json").json()
    assert "/api/overview" in schema["paths"]
