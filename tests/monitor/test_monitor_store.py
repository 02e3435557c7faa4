"""Monitor runs in a workspace that has none yet, on SQLite and PostgreSQL: empty answers and
clear errors, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli._app import app
from shipyard.core.errors import NotFound


def test_an_empty_workspace_lists_nothing_and_names_what_is_missing(workspace: Path) -> None:
    from shipyard.monitor import list_monitor_runs, load_result, monitor
    from shipyard.monitor._retrain import list_retrains

    assert list_monitor_runs() == [] and list_monitor_runs("churn") == []
    assert list_retrains("churn") == []
    listed = CliRunner().invoke(app, ["monitor", "list", "--json"])
    assert listed.exit_code == 0 and listed.stdout.strip() == "[]"
    with pytest.raises(NotFound, match="no model named 'churn' has a champion"):
        monitor("churn", store=False)
    with pytest.raises(NotFound):
        load_result("0RXR000000000000000000000")
    with pytest.raises(Exception, match="quote"):
        list_monitor_runs("it's")
