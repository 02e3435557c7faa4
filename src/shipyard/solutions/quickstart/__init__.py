"""``shipyard quickstart``: the closed loop — train, gate, serve, drift, retrain, swap — in one
command on the embedded defaults (see :func:`run_quickstart`)."""

from shipyard.solutions.quickstart._loop import (
    QuickstartSummary,
    Sizes,
    run_quickstart,
    workspace_environment,
)

__all__ = ["QuickstartSummary", "Sizes", "run_quickstart", "workspace_environment"]
