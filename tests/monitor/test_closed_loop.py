"""The closed loop end to end — a shortened ``shipyard quickstart`` — and the monitor commands,
alerts, quality checks and webhook on the workspace it leaves behind.

One real server process, real traffic over HTTP, the real inference log and feedback, the
workspace's pipeline, gate and promotion: nothing stands in for what a user runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from shipyard.solutions.quickstart import (
    QuickstartSummary,
    Sizes,
    run_quickstart,
    workspace_environment,
)
from shipyard.solutions.quickstart._churn import SHIFTED_FEATURES, churn_table

pytestmark = pytest.mark.slow

SMALL = Sizes(train=4000, holdout=1000, before_shift=600, after_shift=2000, after_swap=600)


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> QuickstartSummary:
    from rich.console import Console

    root = tmp_path_factory.mktemp("quickstart") / "ws"
    return run_quickstart(root, sizes=SMALL, seed=7, console=Console(quiet=True))


@pytest.fixture
def in_workspace(loop: QuickstartSummary) -> Iterator[Path]:
    with workspace_environment(loop.workspace):
        yield loop.workspace


def test_the_loop_detects_the_planned_drift_retrains_and_recovers(loop: QuickstartSummary) -> None:
    assert set(loop.drifted_columns) == set(SHIFTED_FEATURES)
    chain = loop.retrain
    assert chain["status"] == "promoted", chain
    assert [step["step"] for step in chain["steps"]] == ["pipeline", "gate", "promote", "swap"]
    assert chain["swap"]["status"] == "swapped"
    assert chain["new_version"] == 2 and chain["champion_version"] == 1
    assert loop.served_versions == {"before shift": [1], "after shift": [1], "after swap": [2]}
    # The shift hurts v1; v2, retrained on labeled production data, recovers.
    assert loop.accuracy["after shift (v1)"] < loop.accuracy["before shift (v1)"] - 0.04
    assert loop.accuracy["after swap (v2)"] > loop.accuracy["after shift (v1)"] + 0.04


def test_every_step_is_recorded_and_linked(loop: QuickstartSummary, in_workspace: Path) -> None:
    from shipyard.monitor import load_result
    from shipyard.registry import get_model_version, model_history
    from shipyard.tracking import get_run

    before, after = load_result(loop.monitor_before or ""), load_result(loop.monitor_after or "")
    assert before["status"] == "ok" and before["alerts"] == []
    assert after["status"] == "alert"
    assert {alert["rule"] for alert in after["alerts"]} >= {"drift_share > 0.2"}
    assert after["retrain"]["id"] == loop.retrain["id"]
    # Performance: labels arrived for every row. The estimate from confidence sees the drop the
    # covariate shift causes, not the part the changed behaviour causes (no estimate can).
    performance = after["performance"]
    realized, estimated = performance["realized"], performance["estimated"]
    reference_accuracy = performance["reference"]["accuracy"]
    assert realized["n_labeled"] == SMALL.after_shift
    assert realized["accuracy"] < estimated["accuracy"] < reference_accuracy
    assert after["target_drift"]["drifted"] and after["prediction_drift"]["drifted"]

    chain_run = get_run(loop.retrain["id"])
    assert chain_run.tags["chain.monitor_run"] == loop.monitor_after
    assert chain_run.tags["chain.status"] == "promoted"
    pipeline_run = get_run(chain_run.tags["chain.pipeline_run"])
    assert pipeline_run.status == "FINISHED"
    assert get_model_version("churn", 2).aliases == ("champion",)
    actions = [event.action for event in model_history("churn")]
    assert actions.count("monitor_alert") == 1 and actions.count("retrain") == 1
    alerted_at = actions.index("monitor_alert")
    assert actions.index("set_alias", alerted_at) > alerted_at  # v2's promotion followed
    events = {event.action: event for event in model_history("churn")}
    assert events["set_alias"].version == 2
    assert events["monitor_alert"].detail["monitor_run_id"] == loop.monitor_after


def _shipyard(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "SHIPYARD_HOME": str(workspace)}
    env.pop("SHIPYARD_DB_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_monitor_commands(loop: QuickstartSummary, tmp_path: Path) -> None:
    workspace = loop.workspace
    listed = _shipyard(workspace, "monitor", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert [run["id"] for run in runs] == [loop.monitor_after, loop.monitor_before]

    report = tmp_path / "report.html"
    after = loop.monitor_after or ""
    shown = _shipyard(workspace, "monitor", "show", after, "--report", str(report))
    assert shown.returncode == 0, shown.stderr
    assert "ALERT" in shown.stdout and "monthly_charges" in shown.stdout
    assert "Retrain: promoted" in shown.stdout
    page = report.read_text()
    assert "Plotly.newPlot" in page and 'src="http' not in page  # plotly.js inline, no CDN

    # v2 was trained on the shifted world it now serves: no alert, exit 0.
    quiet = _shipyard(workspace, "monitor", "run", "churn", "--window", "1h", "--no-retrain")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "OK: churn (models:/churn/2)" in quiet.stdout
    # v1 judged on the data v2 learned from (dataset churn:2) alerts: exit 1, for cron and CI.
    alerted = _shipyard(
        workspace, "monitor", "run", "models:/churn/1", "--current", "churn:2", "--json"
    )
    assert alerted.returncode == 1, alerted.stdout + alerted.stderr
    document = json.loads(alerted.stdout)
    assert set(document["drift"]["drifted_columns"]) == set(SHIFTED_FEATURES)
    assert document["retrain"] == {"status": "skipped", "reason": document["retrain"]["reason"]}

    wrong = _shipyard(workspace, "monitor", "run", "churn", "--window", "soon")
    assert wrong.returncode == 2 and "duration" in wrong.stderr.lower()
    missing = _shipyard(workspace, "monitor", "run", "nobody")
    assert missing.returncode == 1 and "nobody" in missing.stderr
    assert "Traceback" not in wrong.stderr + missing.stderr


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_alert_reaches_a_webhook_and_quality_problems_are_found(
    loop: QuickstartSummary, in_workspace: Path
) -> None:
    from shipyard.monitor import monitor
    from shipyard.monitor._config import load_monitor_config

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = load_monitor_config(
            {
                "alerts": ["drift_share > 0.2", "missing_rate{age} > 0.1", "quality_errors > 0"],
                "sinks": [
                    {"type": "webhook", "url": f"http://127.0.0.1:{server.server_port}/hook"}
                ],
            }
        )
        current = churn_table(1500, seed=5, shifted=True).drop(columns="churned")
        current.loc[current.index[:300], "age"] = np.nan  # 20% missing
        current.loc[current.index[:15], "region"] = "atlantis"  # a region never seen (1%)
        result = monitor("models:/churn/1", current=current, config=config, retrain=False)
    finally:
        server.shutdown()
        server.server_close()

    fired = {alert.rule for alert in result.alerts}
    assert fired == {"drift_share > 0.2", "missing_rate{age} > 0.1"}
    assert set(result.drifted_columns) == set(SHIFTED_FEATURES)
    assert result.quality is not None
    kinds = {(p.column, p.kind) for p in result.quality.report.problems}
    assert {("age", "nulls_unexpected"), ("region", "unseen_categories")} <= kinds
    assert result.quality.columns["region"]["unseen_share"] == pytest.approx(15 / 1500)
    assert result.quality.columns["age"]["missing_rate"] == pytest.approx(0.2)

    (payload,) = _Receiver.received
    assert payload["event"] == "shipyard.monitor.alert"
    assert payload["monitor_run_id"] == result.id
    assert {a["rule"] for a in payload["alerts"]} == fired
    assert set(payload["drifted_columns"]) == set(SHIFTED_FEATURES)


def test_monitor_input_errors_are_clear(loop: QuickstartSummary, in_workspace: Path) -> None:
    from shipyard.core.errors import InvalidInput, NotFound
    from shipyard.monitor import monitor

    with pytest.raises(InvalidInput, match="one of window, last_requests or since"):
        monitor("churn", window="1h", last_requests=10, store=False)
    with pytest.raises(InvalidInput, match="none of the model's inputs"):
        monitor("models:/churn/1", current=churn_table(50, seed=1)[["churned"]], store=False)
    with pytest.raises(NotFound, match="no model named 'ghost'"):
        monitor("ghost", store=False)
    with pytest.raises(InvalidInput, match="not a date"):
        monitor("churn", since="yesterday-ish", store=False)


def test_last_requests_window_counts_requests(loop: QuickstartSummary, in_workspace: Path) -> None:
    from shipyard.monitor import monitor

    result = monitor("churn", last_requests=4, store=False)
    # The quickstart sends 50 rows per request; the last 4 requests were answered by v2.
    assert result.model is not None and result.model["version"] == 2
    assert result.window["rows"] == 4 * 50


def test_watch_runs_on_a_schedule(loop: QuickstartSummary) -> None:
    watched = _shipyard(
        loop.workspace, "monitor", "watch", "churn", "--every", "1s", "--times", "2", "--no-retrain"
    )
    assert watched.returncode == 0, watched.stderr
    lines = [line for line in watched.stdout.splitlines() if line.strip()]
    assert len(lines) == 2 and all(" OK " in line and "rows 600" in line for line in lines)


def test_cooldown_and_daily_maximum_hold_retraining_back(
    loop: QuickstartSummary, in_workspace: Path
) -> None:
    from shipyard.monitor._config import RetrainPolicy
    from shipyard.monitor._retrain import _held_back

    # One chain ran a moment ago (the quickstart's).
    waiting = RetrainPolicy(pipeline="pipeline.py:churn_pipeline", cooldown="1h", max_per_day=5)
    assert (_held_back("churn", waiting) or "").startswith("cooldown")
    capped = RetrainPolicy(pipeline="pipeline.py:churn_pipeline", cooldown="1s", max_per_day=1)
    assert "at most 1 retraining(s) a day" in (_held_back("churn", capped) or "")
    free = RetrainPolicy(pipeline="pipeline.py:churn_pipeline", cooldown="1s", max_per_day=5)
    assert _held_back("churn", free) is None


def test_a_pinned_version_is_judged_on_its_own_rows(
    loop: QuickstartSummary, in_workspace: Path
) -> None:
    from shipyard.monitor import monitor

    v1 = monitor("models:/churn/1", window="1h", store=False)
    assert v1.model is not None and v1.model["version"] == 1
    assert v1.window["rows"] == SMALL.before_shift + SMALL.after_shift  # v1 answered both phases
    v2 = monitor("models:/churn@champion", window="1h", store=False)
    assert v2.model is not None and v2.model["version"] == 2
    assert v2.window["rows"] == SMALL.after_swap


def test_per_feature_methods_and_thresholds_come_from_the_workspace_config(
    loop: QuickstartSummary, in_workspace: Path
) -> None:
    from shipyard.core.errors import ConfigError
    from shipyard.monitor import monitor
    from shipyard.monitor._config import load_monitor_config

    config = load_monitor_config(
        {"methods": {"contract": "psi"}, "thresholds": {"monthly_charges": 5.0, "ghost": 1.0}}
    )
    current = churn_table(1500, seed=5, shifted=True).drop(columns="churned")
    result = monitor("models:/churn/1", current=current, config=config, store=False)
    assert result.drift is not None
    assert result.drift["contract"].method.value == "psi" and result.drift["contract"].drifted
    charges = result.drift["monthly_charges"]
    assert charges.threshold == 5.0 and not charges.drifted  # a shift of ~1.2 sd, under 5
    assert set(result.drifted_columns) == {"contract", "support_calls"}
    with pytest.raises(ConfigError, match="unknown drift method"):
        load_monitor_config({"methods": {"contract": "vibes"}})
