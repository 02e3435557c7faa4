"""A seeded workspace, the dashboard on a real port of 127.0.0.1, and headless Chromium.

The workspace is a shortened ``shipyard quickstart`` (models with gates, a champion, a retrained
v2, datasets, pipeline runs, monitor runs with alerts, a retrain chain, an inference log) plus a
few hand-made runs: one named like a script tag, two to compare, one with an image artifact.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests._servers import InThreadServer

HOSTILE_NAME = "<script>alert(1)</script>"
TOKEN = "ui-test-token"
SCREENSHOTS = Path(os.environ.get("SHIPYARD_TEST_ARTIFACTS", "test-artifacts")) / "ui"
CHROMIUM = "/usr/bin/chromium"


@dataclass(frozen=True)
class Seeded:
    root: Path
    hostile_run: str  # run ids
    compare_runs: tuple[str, str]
    image_run: str
    monitor_alert_run: str | None
    retrain_run: str | None


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    from rich.console import Console

    from shipyard.solutions.quickstart import Sizes, run_quickstart, workspace_environment

    root = tmp_path_factory.mktemp("ui") / "ws"
    sizes = Sizes(train=3000, holdout=800, before_shift=500, after_shift=1500, after_swap=500)
    summary = run_quickstart(root, sizes=sizes, seed=11, console=Console(quiet=True))
    with workspace_environment(root):
        hostile, compare, image = _hand_made_runs()
        yield Seeded(
            root,
            hostile,
            compare,
            image,
            summary.monitor_after,
            summary.retrain.get("id"),
        )


def _hand_made_runs() -> tuple[str, tuple[str, str], str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import shipyard as sy

    with sy.start_run(experiment="ui-tests", name=HOSTILE_NAME) as hostile:
        hostile.log_params({"note": HOSTILE_NAME})
        hostile.set_tags({"kind": HOSTILE_NAME})
        hostile.log_metrics({"loss": 1.0})
    ids = []
    for lr, shift in ((0.1, 0.0), (0.01, 0.2)):
        with sy.start_run(experiment="ui-tests", name=f"lr-{lr}") as run:
            run.log_params({"lr": lr, "model": "mlp", "layers": 2 if lr == 0.1 else 3})
            for step in range(20):
                values = {"loss": 1 / (step + 1) + shift, "auc": 0.7 + step / 100}
                run.log_metrics(values, step=step)
            ids.append(run.id)
    with sy.start_run(experiment="ui-tests", name="with-image") as image:
        figure, axis = plt.subplots(figsize=(3, 2))
        axis.plot([0, 1], [1, 0])
        image.log_figure(figure, "plots/line.png")
        plt.close(figure)
        image.log_artifact(b"a,b\n1,2\n", "data/table.csv")
    return hostile.id, (ids[0], ids[1]), image.id


class RunningUi(InThreadServer):
    """The dashboard under uvicorn on a free port of 127.0.0.1, in a background thread."""

    def __init__(self, app: Any) -> None:
        super().__init__(app, failure="the dashboard did not start")


@pytest.fixture(scope="session")
def ui(seeded: Seeded) -> Iterator[RunningUi]:
    """The dashboard without a token: actions are open."""
    from shipyard.ui import create_app

    running = RunningUi(create_app(token=None)).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def ui_with_token(seeded: Seeded) -> Iterator[RunningUi]:
    """The dashboard with SHIPYARD_API_TOKEN set: actions need it."""
    from shipyard.ui import create_app

    running = RunningUi(create_app(token=TOKEN)).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it).")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context per test (its own cookies); JavaScript errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    yield opened
    context.close()
    assert not errors, f"JavaScript errors or dialogs on the page: {errors}"


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
