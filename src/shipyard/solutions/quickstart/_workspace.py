"""The files of a quickstart workspace: its configuration, its pipeline and its server's."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEPLOYMENT", "MODEL", "PIPELINE_SPEC", "write_workspace"]

MODEL = "churn"
DEPLOYMENT = "churn"
PIPELINE_SPEC = "pipeline.py:churn_pipeline"

_CONFIG = """\
# A Shipyard workspace made by `shipyard quickstart`.
[store]
db_url = "sqlite:///.shipyard/shipyard.db"
artifacts = ".shipyard/artifacts"

# A new version must rank and classify churners no worse than the champion (a retrained model
# may trade some precision for recall), and clear an absolute floor.
[gates]
roc_auc = "no significant regression"
accuracy = "no significant regression"
log_loss = "no significant regression"
roc_auc_min = 0.7

[monitor]
window = "1h"
alerts = ["drift_share > 0.2", "estimated_accuracy_drop > 0.05", "accuracy_drop > 0.05"]

[[monitor.sinks]]
type = "log"

[[monitor.sinks]]
type = "event"

[monitor.retrain]
pipeline = "{pipeline}"
params = {{ data = "data/train.parquet", deployment = "{deployment}" }}
on = ["drift_share > 0.2"]
gate_data = "data/holdout.parquet"
gate_resamples = 200
alias = "champion"
cooldown = "10m"
max_per_day = 3
server_url = "http://127.0.0.1:{port}"
"""

_DEPLOYMENT = """\
[server]
host = "127.0.0.1"
port = {port}
access_log = false

[[deployments]]
name = "{deployment}"
model = "models:/{model}@champion"
poll_seconds = 0.5
"""

_PIPELINE = '''\
"""The churn model's pipeline: made by `shipyard quickstart`, rerun by the retrain policy.

    shipyard pipelines run pipeline:churn_pipeline

With a deployment named, the training data are the predictions it logged (since `since`: the
retrain policy passes the start of the window that alerted) joined with the labels that came
back as feedback — the freshest data there is; without, the file.
"""

from typing import Any

import pandas as pd

import shipyard as sy
from shipyard.monitor import labeled_window
from shipyard.solutions import tabular

TARGET = "churned"


@sy.step(cache=False)  # fresh data every run
def load(data: str, deployment: str, since: str) -> pd.DataFrame:
    if deployment:
        fresh = labeled_window(deployment, target=TARGET, since=since or None)
        if len(fresh) >= 500:
            return fresh
    return pd.read_parquet(data)


@sy.step
def train(frame: pd.DataFrame) -> dict[str, Any]:
    result = tabular.train_tabular(frame, TARGET, name="{model}", model="lightgbm", seed=7)
    return result.to_dict()


@sy.pipeline
def churn_pipeline(data: str = "data/train.parquet", deployment: str = "", since: str = "") -> None:
    train(load(data, deployment, since))
'''


def write_workspace(root: Path, port: int) -> None:
    """Write ``shipyard.toml``, ``deployment.toml`` and ``pipeline.py`` into ``root``."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / ".shipyard").mkdir(exist_ok=True)
    names = {"model": MODEL, "deployment": DEPLOYMENT, "pipeline": PIPELINE_SPEC, "port": port}
    (root / "shipyard.toml").write_text(_CONFIG.format(**names), encoding="utf-8")
    (root / "deployment.toml").write_text(_DEPLOYMENT.format(**names), encoding="utf-8")
    (root / "pipeline.py").write_text(_PIPELINE.replace("{model}", MODEL), encoding="utf-8")
