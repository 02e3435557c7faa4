"""Datasets and models in real Chromium: versions, profiles, gates, history, lineage, and the
actions (promote, roll back, note) with and without the token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.ui.conftest import TOKEN, RunningUi, Seeded, screenshot

pytestmark = pytest.mark.slow

HOSTILE_NOTE = "<b>bold</b><script>alert(1)</script>"
BEARER = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def restore_aliases(seeded: Seeded) -> Iterator[None]:
    """Leave the aliases as the seeded workspace had them: other tests read ``champion``."""
    from shipyard.registry import registry_service

    registry = registry_service()
    before = registry.get_model("churn").aliases
    yield
    for alias in set(registry.get_model("churn").aliases) - set(before):
        registry.delete_alias("churn", alias, reason="ui test cleanup")
    assert registry.get_model("churn").aliases == before == {"champion": 2}


def test_datasets_list_and_profile_charts(ui: RunningUi, page: Any) -> None:
    page.goto(ui.url + "/datasets")
    assert page.title() == "Datasets · Shipyard"
    row = page.locator("#datasets tr", has_text="churn")
    assert "v2" in row.inner_text() and "1,500" in row.inner_text()
    screenshot(page, "datasets")

    page.click("#datasets a:text-is('churn')")
    page.wait_for_url("**/datasets/churn")
    assert page.title() == "Dataset churn · Shipyard"
    assert page.locator("#versions tr").count() == 3  # header + v1, v2
    assert "shown" in page.locator("#versions tr", has_text="v2").inner_text()
    tenure = page.locator("#schema tr", has_text="monthly_charges").inner_text()
    assert "float" in tenure and "double" in tenure
    contract = page.locator("#schema tr", has_text="contract").inner_text()
    assert "string" in contract

    api = httpx.get(ui.url + "/api/datasets/churn").json()
    profile = api["version"]["profile"]["columns"]
    first = api["version"]["schema"]["columns"][0]["name"]
    chart = page.locator("#chart-0")
    chart.scroll_into_view_if_needed()
    page.wait_for_selector("#chart-0 .main-svg")
    drawn = page.evaluate("() => document.getElementById('chart-0').data[0]")
    assert drawn["y"] == profile[first]["histogram"]["counts"]
    assert sum(drawn["y"]) == profile[first]["count"] == 1500
    assert page.locator("#chart-0 .bars path").count() > 0
    categorical = page.locator(".chart[data-kind='top values']").first
    categorical.scroll_into_view_if_needed()
    page.wait_for_selector(".chart[data-kind='top values'] .main-svg")
    charts = page.locator("#charts .chart")
    assert charts.count() == len(api["version"]["schema"]["columns"]) == 11
    for i in range(charts.count()):  # drawn lazily, as each one scrolls into view
        charts.nth(i).scroll_into_view_if_needed()
    page.wait_for_function("[...document.querySelectorAll('#charts .chart')].every(c => c.data)")
    numbers = page.locator("#profile-numeric tr", has_text="monthly_charges").inner_text()
    assert f"{profile['monthly_charges']['count']:,}" in numbers
    screenshot(page, "dataset")

    page.goto(ui.url + "/datasets/churn?version=1")
    assert "shown" in page.locator("#versions tr", has_text="v1").inner_text()
    listed = httpx.get(ui.url + "/api/datasets").json()
    assert [(d["name"], d["latest_version"], d["num_rows"]) for d in listed] == [("churn", 2, 1500)]
    one = httpx.get(ui.url + "/api/datasets/churn", params={"version": 1}).json()
    assert one["version"]["version"] == 1 and [v["version"] for v in one["versions"]] == [1, 2]
    assert httpx.get(ui.url + "/api/datasets/churn", params={"version": 7}).status_code == 404
    assert httpx.get(ui.url + "/datasets/nope").status_code == 404


def test_model_pages_show_versions_gates_history_and_lineage(
    ui: RunningUi, seeded: Seeded, page: Any
) -> None:
    page.goto(ui.url + "/models")
    assert page.title() == "Models · Shipyard"
    assert "champion → v2" in page.locator("#models tr", has_text="churn").inner_text()
    screenshot(page, "models")

    page.click("#models a:text-is('churn')")
    page.wait_for_url("**/models/churn")
    assert page.locator("#version-2 .alias").all_inner_texts() == ["champion"]
    assert page.locator("#version-1 .alias").count() == 0
    api = httpx.get(ui.url + "/api/models/churn").json()
    gate_run = api["versions"][1]["gate"]["run_id"]
    report = page.locator("#version-2 a.gate-report").get_attribute("href")
    assert report == f"/api/runs/{gate_run}/artifacts/gate/gate-report.html?inline=1"
    assert "passed" in page.locator("#version-2 .gate").inner_text()

    alert = page.locator("#history tr.monitor_alert")
    assert alert.count() == 1 and "drift_share > 0.2" in alert.inner_text()
    assert seeded.monitor_alert_run is not None
    assert seeded.monitor_alert_run in alert.inner_text()  # the reason names the monitor run
    link = alert.locator("a").get_attribute("href")
    assert link == f"/monitoring/{seeded.monitor_alert_run}"
    retrain = page.locator("#history tr.retrain").inner_text()
    assert "retrain promoted: new version v2" in retrain

    nodes = page.locator("#lineage g.node")
    ids = {nodes.nth(i).get_attribute("data-id") for i in range(nodes.count())}
    assert {"dataset:churn:1", "dataset:churn:2", "version:1", "version:2"} <= ids
    assert {"alias:champion", "deployment:churn"} <= ids
    assert page.locator("#lineage path").count() == len(api["lineage"]["edges"]) == 6
    assert {"from": "alias:champion", "to": "deployment:churn"} in api["lineage"]["edges"]
    assert api["deployments"][0]["name"] == "churn" and api["deployments"][0]["version"] == 2
    screenshot(page, "model")

    page.click("#version-2 a:text-is('v2')")
    page.wait_for_url("**/models/churn/versions/2")
    assert page.title() == "churn v2 · Shipyard"
    assert page.locator("#gate-status").inner_text() == "passed"
    assert "models:/churn/1" in page.locator("#gate").inner_text()
    assert page.locator("#gate-checks tr").count() > 1
    assert "test.roc_auc" in page.locator("#metrics").inner_text()
    assert "model.learning_rate" in page.locator("#params").inner_text()
    assert page.locator("#datasets").inner_text().strip() == "churn:2"
    screenshot(page, "model_version")

    version = httpx.get(ui.url + "/api/models/churn/versions/2").json()
    assert version["aliases"] == ["champion"] and version["gate"]["status"] == "passed"
    assert version["run"]["params"]["dataset"] == "churn:2"
    assert httpx.get(ui.url + "/api/models/churn/versions/9").status_code == 404
    assert httpx.get(ui.url + "/models/nope").status_code == 404
    forged = httpx.get(ui.url + "/models/churn", params={"flash": "Pay here", "sig": "0" * 64})
    assert forged.status_code == 200 and "Pay here" not in forged.text


def test_actions_are_refused_without_the_token(
    ui_with_token: RunningUi, page: Any, restore_aliases: None
) -> None:
    url = ui_with_token.url
    page.goto(url + "/models/churn")
    assert page.locator("#sign-in-hint").is_visible()
    page.select_option("#promote-version", "1")
    page.fill("#promote-alias", "staging")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#promote-submit")
    assert answer.value.status == 401
    assert "needs the workspace's API token" in page.locator("#refusal").inner_text()
    assert "staging" not in httpx.get(url + "/api/models/churn").json()["model"]["aliases"]

    body = {"version": 1, "alias": "staging"}
    refused = httpx.post(url + "/api/models/churn/promote", json=body)
    assert refused.status_code == 401 and "API token" in refused.json()["error"]
    wrong = httpx.post(
        url + "/api/models/churn/promote", json=body, headers={"authorization": "Bearer no"}
    )
    assert wrong.status_code == 401
    no_csrf = httpx.post(url + "/models/churn/promote", data=body, headers=BEARER)
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
    note = httpx.post(url + "/api/models/churn/notes", json={"text": "hi"})
    assert note.status_code == 401
    assert httpx.get(url + "/api/models/churn").json()["model"]["aliases"] == {"champion": 2}


def test_promote_roll_back_and_note_when_signed_in(
    ui_with_token: RunningUi, page: Any, restore_aliases: None
) -> None:
    url = ui_with_token.url
    page.goto(url + "/login?next=/models/churn")
    page.fill("#token", TOKEN)
    page.click("#sign-in")
    page.wait_for_url("**/models/churn")
    assert page.locator("#sign-in-hint").count() == 0

    # v1 was gated against no champion; staging points nowhere yet, so the gate holds.
    _promote(page, 1, "staging", "try v1 in staging")
    assert page.locator("#flash").inner_text() == "churn@staging now points at version 1."
    assert page.locator("#version-1 .alias").all_inner_texts() == ["staging"]
    # v2 beat v1 in its gate, and staging now holds v1.
    _promote(page, 2, "staging", "")
    assert sorted(page.locator("#version-2 .alias").all_inner_texts()) == ["champion", "staging"]
    assert page.locator("#version-1 .alias").count() == 0

    # v1's gate says nothing about v2, the champion: refused, with promote's own message.
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        _promote(page, 1, "champion", "")
    assert answer.value.status == 409
    refusal = page.locator("#refusal").inner_text()
    assert "Refusing to promote models:/churn/1 to 'champion'" in refusal
    assert "champion is now models:/churn/2" in refusal

    page.select_option("#rollback-alias", "staging")
    page.fill("#rollback-reason", "v2 misbehaves in staging")
    with page.expect_navigation():
        page.click("#rollback-submit")
    assert page.locator("#flash").inner_text() == "churn@staging rolled back to version 1."
    assert page.locator("#version-1 .alias").all_inner_texts() == ["staging"]
    newest = page.locator("#history tr.event").first.inner_text()
    assert "staging → v1 (was v2); rollback" in newest and "v2 misbehaves in staging" in newest

    page.select_option("#note-version", "1")
    page.fill("#note-text", HOSTILE_NOTE)
    with page.expect_navigation():
        page.click("#note-submit")
    assert page.locator("#flash").inner_text() == "Note added to churn v1."
    note = page.locator("#history tr.note").first
    assert note.locator("td.summary").first.inner_text() == HOSTILE_NOTE
    assert page.locator("#history b, #history script").count() == 0

    aliases = httpx.get(url + "/api/models/churn").json()["model"]["aliases"]
    assert aliases == {"champion": 2, "staging": 1}
    history = httpx.get(url + "/api/models/churn").json()["history"]
    assert history[-1]["action"] == "note" and history[-1]["detail"] == {"note": HOSTILE_NOTE}
    page.goto(url + "/models/churn/versions/1")
    assert HOSTILE_NOTE in page.locator("#history tr.note").first.inner_text()


def test_actions_api_with_the_bearer_token(ui_with_token: RunningUi, restore_aliases: None) -> None:
    api = ui_with_token.url + "/api/models/churn"
    moved = httpx.post(
        api + "/promote", json={"version": 1, "alias": "api-test", "reason": "api"}, headers=BEARER
    )
    assert moved.status_code == 200, moved.text
    assert moved.json() == {
        "model": "churn",
        "alias": "api-test",
        "version": 1,
        "message": "churn@api-test now points at version 1.",
    }
    assert httpx.get(api).json()["model"]["aliases"]["api-test"] == 1

    def post(path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(api + path, json=body, headers=BEARER)

    assert post("/promote", {"version": 99, "alias": "api-test"}).status_code == 404
    assert post("/promote", {"version": 1, "alias": "1-bad alias"}).status_code == 422
    assert post("/promote", {"version": 1, "alias": "latest"}).status_code == 422
    forced = post("/promote", {"version": 2, "alias": "api-test", "force": True})
    assert forced.status_code == 422 and "needs a reason" in forced.json()["error"]
    only_one = post("/rollback", {"alias": "api-test"})
    assert only_one.status_code == 409 and "nothing to roll back" in only_one.json()["error"]
    assert post("/rollback", {"alias": "nowhere"}).status_code == 404
    assert post("/notes", {"text": "x" * 2001}).status_code == 422
    assert post("/notes", {"text": "   "}).status_code == 422
    noted = post("/notes", {"text": "checked by the api test"})
    assert noted.status_code == 200 and noted.json()["version"] is None
    last = httpx.get(api).json()["history"][-1]
    assert (last["action"], last["version"], last["summary"]) == (
        "note",
        None,
        "checked by the api test",
    )
    assert httpx.get(api).json()["model"]["aliases"]["champion"] == 2


def _promote(page: Any, version: int, alias: str, reason: str) -> None:
    page.select_option("#promote-version", str(version))
    page.fill("#promote-alias", alias)
    page.fill("#promote-reason", reason)
    with page.expect_navigation():
        page.click("#promote-submit")


def test_wide_datasets_chart_at_most_forty_columns() -> None:
    import pyarrow as pa

    from shipyard.data._columns import infer_schema
    from shipyard.data._profile import profile_table
    from shipyard.ui._pages_data import MAX_CHARTS, charts_of, columns_view

    table = pa.table({f"c{i}": [float(i), float(i + 1), None] for i in range(55)})
    columns = columns_view(infer_schema(table).to_dict(), profile_table(table, bins=4).to_dict())
    charts = charts_of(columns)
    assert len(columns) == 55 and len(charts) == MAX_CHARTS == 40
    assert charts[3] == {
        "id": "chart-3",
        "column": "c3",
        "kind": "histogram",
        "x": [3.125, 3.375, 3.625, 3.875],
        "width": [0.25, 0.25, 0.25, 0.25],
        "y": [1, 0, 0, 1],
    }
