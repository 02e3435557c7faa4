"""The runs, run and compare pages in real Chromium, and the runs API they are drawn from."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from tests.ui.conftest import HOSTILE_NAME, RunningUi, Seeded, screenshot

pytestmark = pytest.mark.slow

UI_TESTS = "/runs?experiment=ui-tests"
ALL_FOUR = {HOSTILE_NAME, "lr-0.1", "lr-0.01", "with-image"}


def names(page: Any) -> list[str]:
    """The run names of the table's rows, top to bottom."""
    return list(page.locator("#runs tbody td.name").all_inner_texts())


def search(page: Any, text: str) -> None:
    page.fill("#filter", text)
    with page.expect_navigation():
        page.click("#search button[type=submit]")


def test_filter_narrows_the_table(ui: RunningUi, seeded: Seeded, page: Any) -> None:
    page.goto(ui.url + "/runs")
    assert page.title() == "Runs · Shipyard"
    with page.expect_navigation():
        page.select_option("#experiment", "ui-tests")
    assert set(names(page)) == ALL_FOUR
    screenshot(page, "runs")

    search(page, "params.model = 'mlp'")
    assert sorted(names(page)) == ["lr-0.01", "lr-0.1"]
    search(page, "metrics.loss < 0.1")
    assert names(page) == ["lr-0.1"]  # final loss 0.05, against 0.25 and 1.0
    query = parse_qs(urlsplit(page.url).query)
    assert query["experiment"] == ["ui-tests"] and query["filter"] == ["metrics.loss < 0.1"]


def test_a_bad_filter_is_explained_on_the_page(ui: RunningUi, seeded: Seeded, page: Any) -> None:
    response = page.goto(ui.url + UI_TESTS + "&filter=" + quote("metrics.loss < x"))
    assert response.status == 422
    error = page.locator("#search-error").inner_text()
    assert "expected a number" in error and "metrics.loss < x" in error
    assert "Valid filters look like" in error
    assert page.locator("#filter").input_value() == "metrics.loss < x"  # kept for fixing


def test_headers_sort_and_runs_without_the_key_come_last(
    ui: RunningUi, seeded: Seeded, page: Any
) -> None:
    page.goto(ui.url + UI_TESTS + "&col=metrics.loss")
    header = page.locator('#runs th[data-column="metrics.loss"] a')
    with page.expect_navigation():
        header.click()
    assert names(page) == ["lr-0.1", "lr-0.01", HOSTILE_NAME, "with-image"]
    assert "▲" in header.inner_text()
    with page.expect_navigation():
        header.click()
    assert names(page) == [HOSTILE_NAME, "lr-0.01", "lr-0.1", "with-image"]
    assert parse_qs(urlsplit(page.url).query)["order_by"] == ["metrics.loss desc"]


def test_pages_go_forward_and_back(ui: RunningUi, seeded: Seeded, page: Any) -> None:
    page.goto(ui.url + UI_TESTS + "&limit=2&order_by=" + quote("name asc"))
    first = names(page)
    assert first == [HOSTILE_NAME, "lr-0.01"]  # "<" sorts before letters
    assert page.locator("#prev").count() == 0
    with page.expect_navigation():
        page.click("#next")
    assert names(page) == ["lr-0.1", "with-image"]
    assert page.locator("#page-info").inner_text() == "page 2 · runs 3\u20134"
    assert page.locator("#next").count() == 0
    with page.expect_navigation():
        page.click("#prev")
    assert names(page) == first


def test_columns_are_chosen_with_the_form(ui: RunningUi, seeded: Seeded, page: Any) -> None:
    page.goto(ui.url + UI_TESTS)
    shown = page.locator("#runs th[data-column]").evaluate_all(
        "cells => cells.map(c => c.dataset.column)"
    )
    assert {"metrics.loss", "params.lr"} <= set(shown)  # the page's keys by default
    page.click("#columns summary")
    for box in page.locator("#columns-form input[name=col]").all():
        box.uncheck()
    page.check('#columns-form input[value="tags.kind"]')
    page.check('#columns-form input[value="params.layers"]')
    with page.expect_navigation():
        page.click("#columns-form button[type=submit]")
    shown = page.locator("#runs th[data-column]").evaluate_all(
        "cells => cells.map(c => c.dataset.column)"
    )
    assert shown == ["params.layers", "tags.kind"]  # in the form's order
    row = page.locator("#runs tbody tr", has_text="lr-0.01")
    assert row.locator("td").nth(-2).inner_text() == "3"
    hostile = page.locator(f'#runs tbody tr[data-run="{seeded.hostile_run}"]')
    assert hostile.locator("td").last.inner_text() == HOSTILE_NAME


def test_select_two_runs_and_compare(ui: RunningUi, seeded: Seeded, page: Any) -> None:
    page.goto(ui.url + UI_TESTS)
    assert page.locator("#compare").is_disabled()
    for run_id in seeded.compare_runs:
        page.check(f'#runs input[name=ids][value="{run_id}"]')
    assert page.locator("#selected").inner_text() == "2 selected"
    with page.expect_navigation():
        page.click("#compare")
    query = parse_qs(urlsplit(page.url).query)
    assert set(query["ids"][0].split(",")) == set(seeded.compare_runs)
    chart = page.locator('#metric-charts [data-metric="loss"]')
    chart.locator(".main-svg").first.wait_for()
    traces = chart.evaluate("el => el.data.map(t => [t.name, t.x.length])")
    assert sorted(traces) == [["lr-0.01", 20], ["lr-0.1", 20]]
    assert page.locator('#params tr[data-key="lr"]').get_attribute("class") == "differs"
    assert page.locator('#params tr[data-key="layers"]').get_attribute("class") == "differs"
    assert page.locator('#params tr[data-key="model"]').get_attribute("class") is None
    latest = page.locator('#latest-metrics tr[data-key="loss"] td').all_inner_texts()
    assert sorted(latest[1:]) == ["0.05", "0.25"]
    screenshot(page, "compare")


def test_run_page_charts_metrics_and_shows_artifacts(
    ui: RunningUi, seeded: Seeded, page: Any
) -> None:
    run_id = seeded.compare_runs[0]
    page.goto(f"{ui.url}/runs/{run_id[:10]}")  # a prefix is enough
    assert page.locator("#run-name").inner_text().startswith("lr-0.1")
    chart = page.locator('#metric-charts [data-metric="loss"]')
    chart.locator(".main-svg").first.wait_for()
    assert chart.evaluate("el => el.data[0].y.length") == 20
    params = dict(
        row.locator("td").all_inner_texts()
        for row in page.locator("#params tr").all()[1:]  # below the header
    )
    assert params == {"layers": "2", "lr": "0.1", "model": "mlp"}
    screenshot(page, "run")

    page.goto(f"{ui.url}/runs/{seeded.image_run}")
    image = page.locator("#images img")
    image.wait_for()
    page.wait_for_function("() => document.querySelector('#images img').complete")
    assert image.evaluate("img => img.naturalWidth") > 0
    screenshot(page, "run_artifacts")
    link = page.locator("#artifacts a", has_text="data/table.csv").get_attribute("href")
    assert link == f"/api/runs/{seeded.image_run}/artifacts/data/table.csv"
    csv = httpx.get(ui.url + link)
    assert csv.status_code == 200 and csv.content == b"a,b\n1,2\n"
    assert csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv.headers["content-disposition"].startswith('attachment; filename="table.csv"')
    assert csv.headers["x-content-type-options"] == "nosniff"
    assert csv.headers["content-security-policy"].startswith("sandbox")
    png = httpx.get(f"{ui.url}/api/runs/{seeded.image_run}/artifacts/plots/line.png?inline=1")
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"


def test_run_page_shows_lineage_and_system_info(ui: RunningUi, seeded: Seeded, page: Any) -> None:
    from shipyard.registry import registry_service

    champion = registry_service().get_version("churn", 2)
    page.goto(f"{ui.url}/runs/{champion.run_id}")
    lineage = page.locator("#lineage")
    models = lineage.locator('a[href^="/models/"]').evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    assert "/models/churn/versions/2" in models
    datasets = lineage.locator('a[href^="/datasets/"]').all_inner_texts()
    assert datasets == list(champion.datasets)
    assert "python" in page.locator("#environment").inner_text()

    detail = httpx.get(f"{ui.url}/api/runs/{champion.run_id}").json()
    assert {"name": "churn", "version": 2} in [
        {k: m[k] for k in ("name", "version")} for m in detail["lineage"]["models"]
    ]
    assert [d["ref"] for d in detail["lineage"]["datasets"]] == list(champion.datasets)
    assert detail["environment"]["python_version"]


def test_hostile_run_name_renders_as_text(ui: RunningUi, seeded: Seeded, page: Any) -> None:
    page.goto(ui.url + UI_TESTS)
    assert HOSTILE_NAME in names(page)
    page.goto(f"{ui.url}/runs/{seeded.hostile_run}")
    assert page.locator("#run-name").inner_text().startswith(HOSTILE_NAME)
    assert HOSTILE_NAME in page.locator("#params").inner_text()
    assert HOSTILE_NAME in page.locator("#tags").inner_text()
    assert page.title() == f"Run {HOSTILE_NAME} · Shipyard"
    page.goto(f"{ui.url}/compare?ids={seeded.hostile_run},{seeded.compare_runs[0]}")
    assert HOSTILE_NAME in page.locator("#compare-runs").inner_text()
    page.locator("#metric-charts .legendtext").first.wait_for()
    legend = page.locator("#metric-charts .legendtext").evaluate_all(
        "texts => texts.map(t => t.textContent)"
    )
    assert HOSTILE_NAME in legend  # Plotly shows it as text too
    assert page.locator("script", has_text=HOSTILE_NAME).count() == 0
    # the page fixture fails the test on any dialog or page error


def test_api_searches_pages_and_answers_errors_as_json(ui: RunningUi, seeded: Seeded) -> None:
    api = ui.url + "/api"
    first = httpx.get(api + "/runs", params={"experiment": "ui-tests", "limit": 3}).json()
    assert len(first["runs"]) == 3 and first["next_page_token"]
    rest = httpx.get(
        api + "/runs",
        params={"experiment": "ui-tests", "limit": 3, "page_token": first["next_page_token"]},
    ).json()
    assert rest["next_page_token"] is None
    assert {r["name"] for r in first["runs"] + rest["runs"]} == ALL_FOUR
    found = httpx.get(
        api + "/runs", params={"experiment": "ui-tests", "filter": "params.lr = '0.1'"}
    ).json()["runs"]
    assert [(r["id"], r["params"]["layers"], r["metrics"]["loss"]) for r in found] == [
        (seeded.compare_runs[0], "2", 0.05)
    ]

    bad = httpx.get(api + "/runs", params={"filter": "metrics.loss <"})
    assert bad.status_code == 422
    assert "Invalid filter" in bad.json()["error"] and "metrics.auc" in bad.json()["hint"]
    missing = httpx.get(api + "/runs/" + "0" * 26)
    assert missing.status_code == 404 and "No run" in missing.json()["error"]
    assert httpx.get(api + "/runs/" + seeded.image_run + "/artifacts/nope.txt").status_code == 404

    history = httpx.get(f"{api}/runs/{seeded.compare_runs[1]}/metrics/loss").json()["history"]
    assert [p["step"] for p in history] == list(range(20))
    assert history[0]["value"] == pytest.approx(1.2) and history[-1]["value"] == pytest.approx(0.25)
    listed = httpx.get(f"{api}/runs/{seeded.image_run}/artifacts").json()
    assert [(a["name"], a["kind"]) for a in listed] == [
        ("data/table.csv", "text"),
        ("plots/line.png", "image"),
    ]
    experiments = {e["name"]: e["runs"] for e in httpx.get(api + "/experiments").json()}
    assert experiments["ui-tests"] == 4
    paths = httpx.get(api + "/openapi.json").json()["paths"]
    assert {"/api/runs", "/api/runs/{run_id}", "/api/compare"} <= set(paths)
    assert paths["/api/runs"]["get"]["summary"]


def test_the_trail_of_previous_pages_stays_short() -> None:
    from shipyard.ui._pages_runs import MAX_TRAIL, _next_url

    state = {"experiment": "e", "page_token": "t99", "prev": "", "page": 100, "limit": 50}
    url = _next_url(state, "t100", ["-", *(f"t{n}" for n in range(1, 99))])
    query = parse_qs(urlsplit(url or "").query)
    trail = query["prev"][0].split(",")
    assert len(trail) == MAX_TRAIL and trail[-1] == "t99"
    assert query["page"] == ["101"] and query["page_token"] == ["t100"]
