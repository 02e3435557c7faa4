"""The model card: a model version in plain words, in real Chromium, in print, as JSON and as a
standalone file that opens offline; its numbers checked against the stored predictions."""

from __future__ import annotations

import io
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ui.conftest import RunningUi, Seeded, screenshot

CARD = "/models/churn/versions/2/card"


def _half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _held_out(version: int) -> dict[str, Any]:
    """The version's headline numbers, computed here from its stored test predictions."""
    import pandas as pd
    from sklearn import metrics

    from shipyard.registry import get_model_version
    from shipyard.tracking import tracking_service

    found = get_model_version("churn", version)
    data = tracking_service().get_artifact(found.run_id, "evaluation/predictions.parquet")
    frame = pd.read_parquet(io.BytesIO(data))
    positive = frame["actual"].max()  # 0/1 labels: churned is 1
    actual, flagged = frame["actual"] == positive, frame["predicted"] == positive
    return {
        "rows": len(frame),
        "caught": int((actual & flagged).sum()),
        "false_alarms": int((~actual & flagged).sum()),
        "recall": metrics.recall_score(actual, flagged),
        "precision": metrics.precision_score(actual, flagged),
        "accuracy": metrics.accuracy_score(actual, flagged),
        "roc_auc": metrics.roc_auc_score(actual, frame[f"proba_{positive}"]),
    }


def _chart_data(page: Any, element: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = page.evaluate(
        "id => document.getElementById(id).data.map(t => ({name: t.name, x: t.x, y: t.y}))",
        element,
    )
    return data


@pytest.mark.slow
def test_card_tells_how_well_v2_does_in_words_and_charts(
    ui: RunningUi, seeded: Seeded, page: Any
) -> None:
    from shipyard.monitor import list_monitor_runs
    from shipyard.ui._card_scores import plain

    mine, before = _held_out(2), _held_out(1)
    page.goto(ui.url + CARD)
    assert page.title() == "Model card: churn v2 · Shipyard"
    assert "churned" in page.locator("#what").inner_text()

    how = page.locator("#how-well-sentences").inner_text()
    assert f"catches {_half_up(10 * mine['recall'])} of 10 churned cases" in how
    assert f"1 in {_half_up(1 / (1 - mine['precision']))} cases it flags is a false alarm" in how
    assert f"right about {100 * mine['accuracy']:.0f}% of all cases" in how
    assert f"{100 * mine['roc_auc']:.0f}% of the time (ROC AUC {mine['roc_auc']:.2f}" in how
    page.wait_for_selector("#chart-outcomes .main-svg")
    bars = {
        t["name"]: [v for v in t["x"] if v is not None] for t in _chart_data(page, "chart-outcomes")
    }
    assert bars["caught"] == [mine["caught"]] and bars["false alarms"] == [mine["false_alarms"]]
    assert sum(v for values in bars.values() for v in values) == mine["rows"]

    comparison = page.locator("#comparison")
    assert "version 1" in comparison.inner_text()
    accuracy_row = comparison.locator("tr", has_text="All cases right").inner_text()
    assert f"{100 * mine['accuracy']:.0f}%" in accuracy_row
    assert f"{100 * before['accuracy']:.0f}%" in accuracy_row
    expected = "better" if mine["accuracy"] > before["accuracy"] else "worse"
    assert expected in accuracy_row
    assert "passed the release gate" in page.locator("#compare").inner_text()

    page.wait_for_selector("#chart-drivers .main-svg")
    importance = _importance(2)
    drivers = _chart_data(page, "chart-drivers")[0]
    assert drivers["y"] == [plain(f) for f in importance[:10]]
    assert drivers["x"][0] == max(drivers["x"])

    dataset = page.locator("#datasets a", has_text="churn:2")
    assert dataset.get_attribute("href") == "/datasets/churn?version=2"

    latest = list_monitor_runs("churn", 1)[0]
    status = latest.tags["monitor.status"]
    assert page.locator("#health-status").inner_text() == status.upper()
    assert f"Status {status.upper()}" in page.locator("#health").inner_text()
    assert page.locator("#health a").get_attribute("href") == f"/monitoring/{latest.id}"
    screenshot(page, "model-card")

    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden()
    assert page.locator("#print-card").is_hidden()
    assert page.locator("#how-well").is_visible()
    screenshot(page, "model-card-print")


def _importance(version: int) -> list[str]:
    import json

    from shipyard.registry import get_model_version
    from shipyard.tracking import tracking_service

    run_id = get_model_version("churn", version).run_id
    report = json.loads(tracking_service().get_artifact(run_id, "evaluation/importance.json"))
    return [f["feature"] for f in report["features"]]


@pytest.mark.slow
def test_the_first_version_has_nothing_to_compare_and_unknown_versions_are_404(
    ui: RunningUi, seeded: Seeded, page: Any
) -> None:
    page.goto(ui.url + "/models/churn/versions/1/card")
    assert "first version of churn" in page.locator("#compare").inner_text()
    assert "Not monitored yet" not in page.locator("#health").inner_text()

    response = page.goto(ui.url + "/models/churn/versions/99/card")
    assert response is not None and response.status == 404
    assert "has no version 99" in page.locator("main").inner_text()
    response = page.goto(ui.url + "/models/no-such-model/versions/1/card")
    assert response is not None and response.status == 404
    response = page.goto(ui.url + "/models/churn/versions/two/card")
    assert response is not None and response.status == 422
    assert "positive whole number" in page.locator("main").inner_text()


@pytest.mark.slow
def test_card_api_and_download(ui: RunningUi, seeded: Seeded) -> None:
    mine = _held_out(2)
    card = httpx.get(ui.url + "/api" + CARD).json()
    assert card["model"]["uri"] == "models:/churn/2" and card["model"]["task"] == "binary"
    assert card["performance"]["source"] == "predictions"
    assert card["performance"]["counts"]["caught"] == mine["caught"]
    assert sum(card["performance"]["counts"].values()) == mine["rows"]
    headline = {h["key"]: h["value"] for h in card["performance"]["headline"]}
    assert headline["recall"] == pytest.approx(mine["recall"])
    assert headline["roc_auc"] == pytest.approx(mine["roc_auc"])
    assert card["comparison"]["version"] == 1
    assert [d["ref"] for d in card["data"]] == ["churn:2"]
    assert card["health"]["monitored"] is True

    missing = httpx.get(ui.url + "/api/models/churn/versions/99/card")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert httpx.get(ui.url + "/api/models/churn/versions/0/card").status_code == 422
    schema = httpx.get(ui.url + "/api/openapi.json").json()
    assert "/api/models/{name}/versions/{version}/card" in schema["paths"]

    download = httpx.get(ui.url + CARD + ".html", timeout=60)
    assert download.status_code == 200
    assert 'filename="churn-v2-card.html"' in download.headers["content-disposition"]
    assert "<h1>Model card: churn" in download.text and "/static/" not in download.text


@pytest.mark.slow
def test_exported_card_is_one_offline_file(seeded: Seeded, browser: Any, tmp_path: Path) -> None:
    from plotly.offline import get_plotlyjs

    out = tmp_path / "card.html"
    env = {**os.environ, "SHIPYARD_HOME": str(seeded.root)}
    env.pop("SHIPYARD_DB_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "shipyard", "models", "card", "models:/churn/2", "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert str(out) in done.stdout
    text = out.read_text(encoding="utf-8")
    bundle = re.sub(r"</(script)", r"<\\/\1", get_plotlyjs(), flags=re.IGNORECASE)
    assert text.count(bundle) == 1  # plotly.js inlined, once
    ours = text.replace(bundle, "")
    for reference in ('src="http', 'href="http', "src=", "href=", "<link", "@import", "url("):
        assert reference not in ours, reference

    context = browser.new_context(offline=True)
    requested: list[str] = []
    errors: list[str] = []
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith("file:")
            else (requested.append(route.request.url), route.abort())
        ),
    )
    opened = context.new_page()
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(out.as_uri())
    opened.wait_for_selector("#chart-outcomes .main-svg")
    opened.wait_for_selector("#chart-drivers .main-svg")
    assert "catches" in opened.locator("#how-well").inner_text()
    assert opened.locator("header.top").count() == 0
    screenshot(opened, "model-card-standalone")
    context.close()
    assert not requested and not errors


@pytest.mark.slow
def test_cli_refuses_an_unwritable_path(seeded: Seeded, tmp_path: Path) -> None:
    env = {**os.environ, "SHIPYARD_HOME": str(seeded.root)}
    target = tmp_path / "missing-folder" / "card.html"
    done = subprocess.run(
        [sys.executable, "-m", "shipyard", "models", "card", "churn/2", "-o", str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Cannot write the model card" in done.stderr


# -- the card's numbers and words, as pure functions ------------------------------------------


def test_binary_scores_in_words() -> None:
    import pandas as pd

    from shipyard.ui._card_scores import performance

    score = [0.9, 0.8, 0.7, 0.4, 0.6, 0.3, 0.2, 0.1, 0.1, 0.1]
    frame = pd.DataFrame(
        {
            "actual": ["premium"] * 4 + ["basic"] * 6,
            "predicted": ["premium"] * 3 + ["basic", "premium"] + ["basic"] * 5,
            "proba_basic": [1 - s for s in score],
            "proba_premium": score,
        }
    )
    found = performance(frame, {}, "binary", "plan")
    assert found["counts"] == {"caught": 3, "missed": 1, "false_alarms": 1, "left_alone": 5}
    text = " ".join(found["sentences"])
    assert "catches 8 of 10 “premium” cases (recall 75%: 3 of 4)" in text  # 7.5 rounds up
    assert "1 in 4 cases it flags is a false alarm (1 of 4 flagged" in text
    assert "right about 80% of all cases (8 of 10" in text
    assert "96% of the time (ROC AUC 0.96" in text  # 23 of the 24 pairs ranked right
    assert "probability above 50%" in text


def test_multiclass_regression_and_metrics_only_scores() -> None:
    import pandas as pd

    from shipyard.ui._card_scores import performance

    multiclass = pd.DataFrame(
        {
            "actual": list("aabbcc"),
            "predicted": list("aabcca"),
            **{f"proba_{c}": [1 / 3] * 6 for c in "abc"},
        }
    )
    found = performance(multiclass, {}, "multiclass", "plan")
    assert [(c["label"], c["right"]) for c in found["classes"]] == [("a", 2), ("b", 1), ("c", 1)]
    assert "right class for 67% of cases (4 of 6" in found["sentences"][0]
    assert "weakest on “b”" in found["sentences"][1]

    regression = pd.DataFrame({"actual": [1.0, 2.0, 3.0, 4.0], "predicted": [2.0, 2.0, 3.0, 2.0]})
    found = performance(regression, {}, "regression", "monthly_spend")
    assert found["headline"][0]["value"] == pytest.approx(0.75)
    assert "monthly spend are typically off by 0.75" in found["sentences"][0]
    assert "within 0.5 of the true value" in found["sentences"][1]
    assert sum(found["errors"]["counts"]) == 4

    found = performance(None, {"test.accuracy": 0.9, "test.roc_auc": 0.8}, "binary", "churned")
    assert found["source"] == "metrics"
    assert [h["key"] for h in found["headline"]] == ["accuracy", "roc_auc"]
    assert "right about 90%" in found["sentences"][0]
    assert performance(None, {}, None, None)["source"] is None
    assert performance(regression, {"test.accuracy": 0.9}, "binary", "x")["source"] == "metrics"


def test_weak_slices_are_the_clearly_worse_ones_with_enough_rows() -> None:
    from shipyard.ui._card import weak_slices

    report = {
        "contract": [
            {"value": "monthly", "rows": 50, "metrics": {"accuracy": 0.6}},
            {"value": "yearly", "rows": 50, "metrics": {"accuracy": 0.95}},
            {"value": "tiny", "rows": 3, "metrics": {"accuracy": 0.1}},
        ],
        "age": [{"value": "q1", "range": [18, 30], "rows": 40, "metrics": {"accuracy": 0.7}}],
    }
    found = weak_slices(report, "binary", {"accuracy": 0.85})
    assert [(s["column"], s["value"]) for s in found] == [("contract", "monthly"), ("age", "q1")]
    assert found[0]["sentence"] == (
        "Weaker where contract = monthly: right for 60% against 85% overall (50 test cases)."
    )
    assert "age between 18 and 30" in found[1]["sentence"]
    assert weak_slices(report, "binary", {}) == []


def test_chart_labels_are_escaped_and_names_read_as_words() -> None:
    from shipyard.ui._card_scores import plain
    from shipyard.ui._pages_card import card_charts

    card = {
        "performance": {
            "source": "predictions",
            "task": "multiclass",
            "classes": [{"label": "<b>x</b>", "rows": 2, "right": 1}],
        },
        "drivers": {"features": [{"label": "<img src=x onerror=alert(1)>", "share": 1.0}]},
    }
    charts = card_charts(card)
    assert charts["chart-outcomes"]["data"][0]["y"] == ["&lt;b&gt;x&lt;/b&gt;"]
    assert charts["chart-drivers"]["data"][0]["y"] == ["&lt;img src=x onerror=alert(1)&gt;"]
    assert plain("num_products") == "number of products"
    assert plain("MonthlyCharges") == "monthly charges"
    assert plain("customerID") == "customer ID"


def test_a_sparse_card_renders_standalone_with_everything_escaped() -> None:
    from shipyard.ui._pages_card import card_charts
    from shipyard.ui._templates import templates

    hostile = "<script>alert(1)</script>"
    card = {
        "model": {
            "name": "m",
            "version": 1,
            "uri": "models:/m/1",
            "run_id": "R1",
            "description": hostile,
            "aliases": [hostile],
            "created_ms": 0,
            "created_by": hostile,
            "task": None,
            "task_words": None,
            "target": hostile,
            "summary": [hostile],
            "features": [{"name": hostile, "label": hostile, "kind": "text"}],
        },
        "performance": {
            "source": "metrics",
            "task": None,
            "rows": None,
            "sentences": [hostile],
            "headline": [],
        },
        "comparison": None,
        "drivers": None,
        "data": [],
        "limits": {"slices": [], "sentences": [hostile]},
        "health": {"monitored": False, "sentences": ["Not monitored yet."]},
    }
    page = templates.env.get_template("card.html").render(
        card=card,
        charts=card_charts(card),
        standalone=True,
        version="0",
        shared_css="",
        plotly_js="",
    )
    assert hostile not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "first version of m" in page and "Not monitored yet." in page
    assert "did not store its test predictions" in page and "<script" not in page
