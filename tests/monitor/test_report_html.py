"""The monitor run's HTML page: offline plotly, every section in its place, hostile names inert."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.monitor import detect_drift
from shipyard.monitor._report_html import (
    MAX_DISTRIBUTION_CHARTS,
    plotly_js_bundle,
    render_report,
)

HOSTILE_COLUMN = "<script>alert(1)</script>"
HOSTILE_CATEGORY = "<img src=x onerror=alert(1)>"
HOSTILE_TARGET = "churn</title><script>alert(2)</script>"
ALERT_MESSAGE = "drift share 0.43 > 0.3 <b>now</b>"
VOID_TAGS = {"meta", "br", "img", "hr", "link", "input", "col", "wbr", "source"}


def _distribution(reference: pd.Series, current: pd.Series) -> dict[str, Any]:
    """What the drift detector records for the report: equal-width bins or category shares."""
    if reference.dtype.kind in "if":
        both = np.concatenate([reference.to_numpy(), current.to_numpy()])
        edges = np.linspace(both.min(), both.max(), 21)
        ref, _ = np.histogram(reference, edges)
        cur, _ = np.histogram(current, edges)
        return {
            "edges": edges.tolist(),
            "reference": (ref / ref.sum()).tolist(),
            "current": (cur / cur.sum()).tolist(),
        }
    categories = sorted(set(reference) | set(current))
    ref_shares = reference.value_counts(normalize=True)
    cur_shares = current.value_counts(normalize=True)
    return {
        "categories": categories,
        "reference": [float(ref_shares.get(c, 0.0)) for c in categories],
        "current": [float(cur_shares.get(c, 0.0)) for c in categories],
    }


def _frames(n_numeric: int = 6) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(11)
    reference = pd.DataFrame({f"f{i}": rng.normal(size=3_000) for i in range(n_numeric)})
    current = pd.DataFrame({f"f{i}": rng.normal(size=2_000) for i in range(n_numeric)})
    current["f1"] += 0.6
    current["f4"] *= 1.8
    reference[HOSTILE_COLUMN] = rng.normal(size=3_000)
    current[HOSTILE_COLUMN] = rng.normal(1.0, 1.0, size=2_000)
    plans = ["basic", "pro", HOSTILE_CATEGORY]
    reference["plan"] = rng.choice(plans, size=3_000, p=[0.6, 0.3, 0.1])
    current["plan"] = rng.choice(plans, size=2_000, p=[0.3, 0.3, 0.4])
    return reference, current


def _result(n_numeric: int = 6) -> dict[str, Any]:
    reference, current = _frames(n_numeric)
    drift = detect_drift(reference, current).to_dict()
    for feature in drift["features"]:
        column = feature["column"]
        feature["distribution"] = _distribution(reference[column], current[column])
    rng = np.random.default_rng(3)
    scores_ref, scores_cur = pd.Series(rng.beta(2, 5, 3_000)), pd.Series(rng.beta(3, 4, 2_000))
    prediction = detect_drift(
        pd.DataFrame({"prediction": scores_ref}), pd.DataFrame({"prediction": scores_cur})
    ).features[0]
    prediction_drift = prediction.to_dict() | {
        "distribution": _distribution(scores_ref, scores_cur)
    }
    return {
        "id": "01JRUN0003",
        "target": HOSTILE_TARGET,
        "target_kind": "deployment",
        "model": {"name": "churn", "version": 3, "uri": "models:/churn/3"},
        "reference": {"kind": "data", "ref": "churn-data:2", "rows": 3_000},
        "window": {
            "spec": "1h",
            "since": "2026-12-04T10:00:00+00:00",
            "until": "2026-12-04T11:00:00+00:00",
            "rows": 2_000,
        },
        "started_at": "2026-12-04T11:00:02+00:00",
        "duration_s": 0.84,
        "status": "alert",
        "drift": drift | {"drift_share_threshold": 0.5},
        "prediction_drift": prediction_drift,
        "target_drift": None,
        "quality": {
            "ok": False,
            "problems": [
                {
                    "column": "plan",
                    "kind": "unseen_categories",
                    "severity": "warning",
                    "message": f"unseen category {HOSTILE_CATEGORY}",
                },
                {
                    "column": None,
                    "kind": "missing_column",
                    "severity": "error",
                    "message": "column 'region' is missing",
                },
            ],
        },
        "performance": {
            "task": "binary",
            "reference": {"roc_auc": 0.91, "accuracy": 0.86},
            "realized": {
                "roc_auc": 0.8,
                "accuracy": 0.79,
                "n_labeled": 1200,
                "label_coverage": 0.24,
            },
            "estimated": {"roc_auc": 0.81, "accuracy": 0.8},
            "drops": {"roc_auc_drop": 0.11, "estimated_roc_auc_drop": 0.1},
            "windows": [
                {
                    "start": f"2026-12-04T{hour:02d}:00:00+00:00",
                    "realized": {"roc_auc": 0.9 - 0.02 * hour / 3} if hour < 9 else None,
                    "estimated": {"roc_auc": 0.9 - 0.019 * hour / 3},
                }
                for hour in range(11)
            ],
        },
        "alerts": [
            {
                "rule": "drift_share > 0.3",
                "metric": "drift_share",
                "value": 0.43,
                "threshold": 0.3,
                "op": ">",
                "message": ALERT_MESSAGE,
            }
        ],
        "notes": ["no labels arrived after 09:00"],
        "not_measured": ["target_drift > 0.1"],
        "retrain": {
            "status": "promoted",
            "pipeline_run_id": "01JPIPE77",
            "new_version": 4,
            "gate": "passed",
            "reason": "challenger beat champion on roc_auc",
        },
    }


def _history(result: dict[str, Any], earlier: int, *, with_current: bool) -> list[dict[str, Any]]:
    runs = [
        {
            "id": f"01JRUN000{i}",
            "started_at": f"2026-12-04T{8 + i:02d}:00:02+00:00",
            "drift_share": 0.1 * i,
            "status": "ok",
            "features": {"f1": 0.05 * i, HOSTILE_COLUMN: 0.2},
            "drifted_columns": [],
            "performance": {"roc_auc": 0.9, "estimated_roc_auc": 0.89},
        }
        for i in range(earlier)
    ]
    if with_current:
        drift = result["drift"]
        runs.append(
            {
                "id": result["id"],
                "started_at": result["started_at"],
                "drift_share": drift["drift_share"],
                "status": result["status"],
                "features": {f["column"]: f["statistic"] for f in drift["features"]},
                "drifted_columns": drift["drifted_columns"],
            }
        )
    return runs


class _Structure(HTMLParser):
    """Every non-void tag closed in order; the tags and chart scripts seen, for the asserts."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.seen: list[str] = []
        self.scripts: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)
        self.ids += [value for name, value in attrs if name == "id"]
        if tag not in VOID_TAGS:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "script":
            self.scripts.append(data)


def _parse(page: str) -> _Structure:
    parser = _Structure()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    assert len(parser.ids) == len(set(parser.ids))  # plotly draws into the first of an id
    return parser


def _figure(page: str, key: str) -> dict[str, Any]:
    match = re.search(
        rf"<div class='chart' id='chart-{key}'></div><script>.*?\}}\)\((.*?)\);</script>", page
    )
    assert match, key
    figure: dict[str, Any] = json.loads(match.group(1))
    return figure


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return _result()


@pytest.fixture(scope="module")
def bundle() -> str:
    return plotly_js_bundle().decode("utf-8")


@pytest.fixture(scope="module")
def inline_page(result: dict[str, Any]) -> str:
    return render_report(result, _history(result, 3, with_current=True))


@pytest.fixture(scope="module")
def sibling_page(result: dict[str, Any]) -> str:
    return render_report(result, _history(result, 3, with_current=False), plotly_js="sibling")


# --- plotly.js without the internet ------------------------------------------------------------


def test_inline_page_embeds_the_plotly_bundle_once_and_nothing_remote(
    inline_page: str, bundle: str
) -> None:
    assert bundle.startswith("/**") and "plotly.js" in bundle[:200]
    assert inline_page.count(bundle) == 1
    rest = inline_page.replace(bundle, "")
    assert "cdn" not in rest.lower()
    assert "http://" not in rest and "https://" not in rest
    assert "<script src" not in rest
    _parse(inline_page)


def test_sibling_page_loads_plotly_min_js_from_its_own_folder(sibling_page: str) -> None:
    assert "<script src='plotly.min.js'></script>" in sibling_page
    assert len(sibling_page) < 400_000  # no bundle inside
    assert "cdn" not in sibling_page.lower()
    assert "https://" not in sibling_page and "http://" not in sibling_page
    structure = _parse(sibling_page)
    assert structure.seen.count("script") == sibling_page.count("<div class='chart'") + 2


def test_plotly_bundle_is_the_installed_packages() -> None:
    from plotly.offline import get_plotlyjs

    assert plotly_js_bundle() == get_plotlyjs().encode("utf-8")


def test_unknown_plotly_js_mode_is_refused(result: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="plotly_js"):
        render_report(result, plotly_js="cdn")  # type: ignore[arg-type]


# --- content -----------------------------------------------------------------------------------


def test_sections_come_in_the_reading_order(sibling_page: str) -> None:
    ids = [
        "<header>",
        "id='alerts'",
        "id='notes'",
        "id='summary'",
        "id='drift-over-time'",
        "id='features'",
        "id='distributions'",
        "id='prediction-drift'",
        "id='quality'",
        "id='performance'",
        "id='retrain'",
    ]
    positions = [sibling_page.index(marker) for marker in ids]
    assert positions == sorted(positions)
    assert "id='target-drift'" not in sibling_page  # None in the run
    assert "<span class='badge alert'>ALERT</span>" in sibling_page
    assert "churn v3, models:/churn/3" in sibling_page
    assert "2026-12-04 10:00 UTC → 2026-12-04 11:00 UTC" in sibling_page
    assert "<span class='badge promoted'>PROMOTED</span>" in sibling_page
    assert "<li>pipeline run 01JPIPE77</li>" in sibling_page
    assert "<li>model version 4</li>" in sibling_page
    assert "<li>not measured: target_drift &gt; 0.1</li>" in sibling_page


def test_every_drifted_column_has_its_chart_and_comes_first(
    result: dict[str, Any], sibling_page: str
) -> None:
    drifted = result["drift"]["drifted_columns"]
    assert {"f1", "f4", HOSTILE_COLUMN, "plan"} <= set(drifted)
    section = sibling_page[sibling_page.index("id='distributions'") :].split("</section>")[0]
    charted = re.findall(r"<figure class='distribution' data-column='([^']*)'>", section)
    escaped = [c.replace("<", "&lt;").replace(">", "&gt;") for c in drifted]
    assert charted[: len(drifted)] == escaped
    assert len(charted) == len(result["drift"]["features"])
    table = sibling_page[sibling_page.index("id='features'") :]
    rows = re.findall(r"<tr class=fail><td>([^<]*)</td>", table.split("</table>")[0])
    assert rows == escaped


def test_numeric_and_categorical_overlays_plot_reference_and_current(sibling_page: str) -> None:
    numeric = _figure(sibling_page, "dist-0")
    assert [trace["name"] for trace in numeric["data"]] == ["reference", "current"]
    assert len(numeric["data"][0]["x"]) == 21 and numeric["data"][0]["line"]["shape"] == "hv"
    plan = sibling_page.index("data-column='plan'")
    key = re.search(r"id='chart-(dist-\d+)'", sibling_page[plan:])
    assert key
    bars = _figure(sibling_page, key.group(1))["data"]
    assert [bar["type"] for bar in bars] == ["bar", "bar"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in bars[0]["x"]


def test_figure_numbers_are_cut_to_four_significant_digits(sibling_page: str) -> None:
    numbers = []
    for key in ("dist-0", "drift-share", "performance", "prediction-drift"):
        for trace in _figure(sibling_page, key)["data"]:
            numbers += [v for v in trace.get("y", []) + trace.get("x", []) if isinstance(v, float)]
    assert numbers
    assert all(float(f"{v:.4g}") == v for v in numbers)


def test_alerts_quality_and_performance_are_reported(sibling_page: str) -> None:
    assert "drift share 0.43 &gt; 0.3 &lt;b&gt;now&lt;/b&gt;" in sibling_page
    quality = sibling_page[sibling_page.index("id='quality'") :].split("</table>")[0]
    assert quality.index("missing_column") < quality.index("unseen_categories")  # errors first
    assert "<td>&gt; 0.3</td>" in sibling_page
    assert "<td>0.8</td>" not in sibling_page  # numbers are right-aligned cells
    assert "<td class=num>0.8</td><td class=num>0.81</td>" in sibling_page
    assert "labels for 24% of rows (1,200)" in sibling_page
    performance = _figure(sibling_page, "performance")["data"]
    names = [trace["name"] for trace in performance]
    assert names[:3] == ["roc_auc realized", "roc_auc estimated", "roc_auc reference"]
    assert performance[0]["y"][-1] is None  # no labels yet for the last windows


def test_hostile_strings_render_as_text(inline_page: str, sibling_page: str) -> None:
    for page in (inline_page, sibling_page):
        structure = _parse(page)
        assert HOSTILE_COLUMN not in page
        assert HOSTILE_CATEGORY not in page
        assert "</title><script>" not in page
        assert "<b>now</b>" not in page
        assert "img" not in structure.seen and "b" not in structure.seen
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert structure.seen.count("title") == 1
    structure = _parse(sibling_page)
    assert all("alert(1)</script" not in script for script in structure.scripts)


# --- drift over time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("earlier", "with_current", "points"),
    [(0, False, 1), (0, True, 1), (1, False, 2), (1, True, 2), (3, True, 4), (3, False, 4)],
)
def test_drift_over_time_needs_two_runs_and_counts_this_one_once(
    result: dict[str, Any], earlier: int, with_current: bool, points: int
) -> None:
    page = render_report(
        result, _history(result, earlier, with_current=with_current), plotly_js="sibling"
    )
    if points < 2:
        assert "id='drift-over-time'" not in page
        return
    assert "id='drift-over-time'" in page
    share = _figure(page, "drift-share")["data"]
    assert len(share[0]["x"]) == points
    assert share[0]["y"][-1] == pytest.approx(result["drift"]["drift_share"], rel=1e-3)
    assert share[1]["name"] == "threshold" and share[1]["y"] == [0.5, 0.5]
    lines = _figure(page, "drift-features")["data"]
    assert [line["name"] for line in lines] == [
        c.replace("<", "&lt;").replace(">", "&gt;") for c in result["drift"]["drifted_columns"]
    ]


# --- limits and missing parts ------------------------------------------------------------------


def test_many_features_chart_thirty_and_list_the_rest() -> None:
    result = _result(n_numeric=40)
    page = render_report(result, plotly_js="sibling")
    assert page.count("<figure class='distribution'") == MAX_DISTRIBUTION_CHARTS + 1  # + prediction
    listed = re.search(r"Not charted: ([^<]*)</p>", page)
    assert listed
    assert len(listed.group(1).split(", ")) == len(result["drift"]["features"]) - 30
    _parse(page)


def test_a_bare_run_renders_without_charts_or_plotly() -> None:
    page = render_report({"id": "01JBARE", "target": "churn", "status": "ok", "quality": None})
    assert "<span class='badge ok'>OK</span>" in page
    assert "Plotly" not in page and "<script" not in page
    for section in ("alerts", "features", "distributions", "drift-over-time", "retrain"):
        assert f"id='{section}'" not in page
    _parse(page)


def test_missing_distributions_and_null_statistics_are_tolerated(result: dict[str, Any]) -> None:
    bare = dict(result)
    bare["drift"] = dict(result["drift"])
    bare["drift"]["features"] = [
        {k: v for k, v in f.items() if k != "distribution"} | {"statistic": None}
        for f in result["drift"]["features"]
    ]
    bare["prediction_drift"] = {"column": "prediction", "drifted": False, "distribution": {}}
    bare["performance"] = {"task": "binary", "reference": {"roc_auc": 0.9}, "realized": None}
    page = render_report(bare, plotly_js="sibling")
    assert "id='distributions'" not in page
    assert "id='performance'" not in page
    assert "<td class=num>—</td>" in page
    _parse(page)
