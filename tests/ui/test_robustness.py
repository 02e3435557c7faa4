"""Bad stored data and odd requests degrade a page instead of failing it: a garbage alert count,
stray folders in the inference log, an unreadable importance report, a malformed metrics page;
and the bulk reads behind the run, compare and monitoring pages (ids deduped once resolved,
charts capped, every monitored target however old its latest run)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, cast

import httpx
import pytest

from shipyard.core.errors import NotFound, StoreError
from tests.ui.conftest import RunningUi, Seeded

ALERTS = "monitor.alerts"


def _record(tags: dict[str, str]) -> Any:
    from shipyard.tracking import RunRecord

    return RunRecord("R" * 26, "monitor", "m", "FINISHED", 0, 1, tags=tags)


def test_alert_count_reads_garbage_as_zero() -> None:
    from shipyard.monitor import alert_count

    given = {"3": 3, " 2 ": 2, "": 0, "many": 0, "-4": 0, "1.5": 0, "9" * 5000: 0}
    for text, expected in given.items():
        assert alert_count(_record({ALERTS: text})) == expected
    assert alert_count(_record({})) == 0  # still running


@contextmanager
def _alert_tag(run_id: str, value: str) -> Iterator[None]:
    """Set the alert count of a seeded monitor run, and put the real one back afterwards."""
    from shipyard.tracking import tracking_service

    service = tracking_service()
    before = service.get_run(run_id).tags[ALERTS]
    service.set_tags(run_id, {ALERTS: value})
    try:
        yield
    finally:
        service.set_tags(run_id, {ALERTS: before})


def test_a_garbage_alert_count_still_shows_every_page(ui: RunningUi, seeded: Seeded) -> None:
    alert_run = seeded.monitor_alert_run
    assert alert_run is not None
    with _alert_tag(alert_run, "lots"):
        overview = httpx.get(ui.url + "/api/overview")
        assert overview.status_code == 200
        assert [(a["target"], a["run_id"], a["alerts"]) for a in overview.json()["alerts"]] == [
            ("churn", alert_run, 0)
        ]
        runs = httpx.get(ui.url + "/api/monitoring/runs", params={"target": "churn"}).json()
        assert runs["runs"][0]["id"] == alert_run and runs["runs"][0]["alerts"] == 0
        card = httpx.get(ui.url + "/api/models/churn/versions/2/card")
        assert card.status_code == 200
        for path in ("/", "/monitoring", "/models/churn/versions/2/card"):
            assert httpx.get(ui.url + path).status_code == 200, path
    real = httpx.get(ui.url + "/api/monitoring/runs", params={"target": "churn"}).json()
    assert real["runs"][0]["alerts"] > 0
    assert [t["target"] for t in real["targets"]] == ["churn"]
    assert real["targets"][0]["run_id"] == alert_run


def test_every_target_is_listed_however_many_newer_runs_other_targets_have(
    workspace: Path,
) -> None:
    """The old open-alert list looked at the newest 200 monitor runs only."""
    from shipyard.monitor import latest_monitor_runs, load_result
    from shipyard.monitor._store import EXPERIMENT
    from shipyard.tracking import tracking_service
    from shipyard.ui._api_monitor import monitoring_runs
    from shipyard.ui._api_overview import open_alerts

    assert latest_monitor_runs() == [] and open_alerts() == []  # no monitor experiment yet
    service = tracking_service()

    def check(target: str, status: str, alerts: str) -> str:
        tags = {"monitor.kind": "check", "monitor.target": target}
        run = service.create_run(EXPERIMENT, name=f"monitor {target}", initial_tags=tags)
        service.set_tags(run.id, {"monitor.status": status, ALERTS: alerts})
        service.end_run(run.id)
        return run.id

    quiet = check("quiet", "alert", "2")
    for _ in range(201):
        busy = check("busy", "ok", "0")
    retrain = service.create_run(
        EXPERIMENT, initial_tags={"monitor.kind": "retrain", "monitor.target": "busy"}
    )
    assert [r.id for r in latest_monitor_runs()] == [busy, quiet]
    assert [(a["target"], a["run_id"], a["alerts"]) for a in open_alerts()] == [("quiet", quiet, 2)]
    listed = monitoring_runs(target=None, limit=5)
    assert [(t["target"], t["status"]) for t in listed["targets"]] == [
        ("busy", "ok"),
        ("quiet", "alert"),
    ]
    assert retrain.id not in {r["id"] for r in listed["runs"]}

    service.log_artifact_bytes(quiet, "monitor.json", b"{not json")
    with pytest.raises(StoreError, match="not a JSON object"):
        load_result(quiet)
    with pytest.raises(NotFound):
        load_result(busy)  # no result stored at all


def test_stray_files_in_the_inference_log_are_not_deployments(workspace: Path) -> None:
    from shipyard.core.config import resolve_settings
    from shipyard.ui._api_monitor import logged_versions
    from shipyard.ui._api_overview import deployments_seen

    assert deployments_seen() == []
    root = Path(resolve_settings().artifacts) / "inference"
    for folder in (
        "churn/date=2024-05-01",
        "churn/date=2024-05-03",
        "churn/date=garbage",
        "churn/notes",
        "churn/2024-06-01",
        "not a name!/date=2024-01-01",
        "empty",
    ):
        (root / folder).mkdir(parents=True)
    (root / "README.txt").write_text("stray")
    (root / "churn" / "date=2024-07-01").write_text("a file, not a day folder")
    assert deployments_seen() == [{"name": "churn", "last_day": "2024-05-03"}]
    assert logged_versions("churn", "2024-05-03")["rows"] == 0
    assert logged_versions("churn", "junk") == {
        "day": None,
        "model": None,
        "rows": 0,
        "versions": [],
    }


class _FakeArtifacts:
    """Just enough of the tracking service for the card's readers: stored files by name."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def get_artifact(self, run_id: str, name: str) -> bytes:
        if name not in self.files:
            raise NotFound(f"no {name}")
        return self.files[name]


@pytest.mark.parametrize(
    "stored",
    [
        b"\xff\xfe not text",
        b"{not json",
        b"[1, 2]",
        b'{"features": [{"importance": 0.5}]}',
        b'{"features": [{"feature": "age", "importance": "high"}]}',
        b'{"features": {"age": 1}}',
    ],
)
def test_an_unreadable_importance_report_leaves_a_note(stored: bytes) -> None:
    from shipyard.ui._card import IMPORTANCE, _drivers

    drivers = _drivers(cast(Any, _FakeArtifacts({IMPORTANCE: stored})), "R" * 26)
    assert drivers is not None
    assert (
        drivers["features"] == []
        and drivers["note"] == f"The stored {IMPORTANCE} could not be read."
    )
    assert drivers["sentences"] and "unreadable" in drivers["sentences"][0]


def test_a_readable_importance_report_and_unreadable_slices() -> None:
    from shipyard.ui._card import IMPORTANCE, SLICES, _drivers, _limits

    report = {
        "method": "permutation",
        "rows": 100,
        "features": [
            {"feature": "tenure_months", "importance": 3.0},
            {"feature": "age", "importance": 1.0},
            {"feature": "nan", "importance": float("nan")},
        ],
    }
    files = {IMPORTANCE: json.dumps(report).encode(), SLICES: b'{"age": [{"rows": "many"}]}'}
    fake = cast(Any, _FakeArtifacts(files))
    drivers = _drivers(fake, "R" * 26)
    assert drivers is not None
    assert [(f["feature"], f["share"]) for f in drivers["features"]] == [
        ("tenure_months", 0.75),
        ("age", 0.25),
    ]
    scores = {"headline": [{"key": "accuracy", "value": 0.8}], "rows": 100}
    limits = _limits(fake, "R" * 26, scores, "binary", [], [])
    assert limits["slices"] == [] and limits["sentences"]
    assert _drivers(cast(Any, _FakeArtifacts({})), "R" * 26) is None  # none stored


class _FakeServer(BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, str]] = {}

    def do_GET(self) -> None:
        body = self.pages.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write((body or "").encode())

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def _server(pages: dict[str, str]) -> Iterator[str]:
    handler = type("Pages", (_FakeServer,), {"pages": pages})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_malformed_metrics_page_puts_the_server_in_error() -> None:
    from shipyard.ui._api_monitor import query_servers

    listed = json.dumps({"deployments": [{"name": "churn"}, {"nameless": 1}, "junk"]})
    good = 'shipyard_requests_total{deployment="churn",code="200",route="/predict"} 4\n'
    bad = good + 'shipyard_request_seconds_bucket{deployment="churn"} 3\n'  # no le label
    with (
        _server({"/v1/deployments": listed, "/metrics": good}) as fine,
        _server({"/v1/deployments": listed, "/metrics": bad}) as broken,
    ):
        answers = query_servers([fine, broken], None)
    assert answers[0]["status"] == "ok"
    assert [d["name"] for d in answers[0]["deployments"]] == ["churn"]  # the nameless skipped
    assert answers[0]["metrics"]["churn"]["requests"] == 4
    assert answers[1]["status"] == "error" and "KeyError" in answers[1]["error"]


def test_compare_counts_runs_not_the_ways_they_were_named(ui: RunningUi, seeded: Seeded) -> None:
    first, second = seeded.compare_runs
    same = httpx.get(ui.url + "/api/compare", params={"ids": f"{first},{first[:12]}"})
    assert same.status_code == 422 and "got 1" in same.json()["error"]
    three = httpx.get(ui.url + "/api/compare", params={"ids": f"{first},{second},{first[:12]}"})
    assert three.status_code == 200
    assert [r["id"] for r in three.json()["runs"]] == [first, second]
    page = httpx.get(ui.url + "/compare", params={"ids": f"{first},{second[:12]},{second}"})
    assert page.status_code == 200 and page.text.count('data-chart="') == 2  # auc, loss


def test_charts_are_capped_and_the_other_metrics_listed(
    ui: RunningUi, seeded: Seeded, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.ui import _api_runs

    first, second = seeded.compare_runs
    monkeypatch.setattr(_api_runs, "MAX_CHARTS", 1)
    compared = httpx.get(ui.url + "/api/compare", params={"ids": f"{first},{second}"}).json()
    assert [c["key"] for c in compared["histories"]] == ["auc"]
    assert compared["uncharted"] == ["loss"]
    assert [len(line["steps"]) for line in compared["histories"][0]["lines"]] == [20, 20]

    page.goto(f"{ui.url}/runs/{first}")
    chart = page.locator('#metric-charts [data-metric="auc"]')
    chart.locator(".main-svg").first.wait_for()
    assert chart.evaluate("el => el.data[0].y.length") == 20
    assert page.locator("#metric-charts .chart").count() == 1
    listed = page.locator("#metrics tr").all()[1:]
    assert [row.locator("td").first.inner_text() for row in listed] == ["loss"]

    detail = httpx.get(f"{ui.url}/api/runs/{seeded.image_run}").json()
    assert sorted(a["name"] for a in detail["artifacts"]) == ["data/table.csv", "plots/line.png"]
    assert detail["lineage"]["models"] == []
