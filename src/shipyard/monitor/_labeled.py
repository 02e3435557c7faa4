"""Production rows with the labels that came back: the freshest training data there is."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from shipyard.core.errors import InvalidInput
from shipyard.monitor._feedback import join_feedback
from shipyard.monitor._window import Window, read_window

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["labeled_window"]


def labeled_window(
    deployment: str,
    *,
    target: str = "label",
    window: str | None = None,
    last_requests: int | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
) -> pd.DataFrame:
    """The inputs ``deployment`` logged (default: everything logged; or a window as in
    :func:`~shipyard.monitor.monitor`) of the rows whose label arrived, with the label as
    column ``target``. Rows of the version that answered last only, as a monitor run sees them.
    """
    from shipyard.core.config import resolve_settings
    from shipyard.serve import read_feedback

    span = Window.parse(window, last_requests=last_requests, since=since, until=until)
    location = resolve_settings().artifacts
    logged = read_window(location, deployment, span)
    if target in logged.inputs.column_names:
        raise InvalidInput(
            f"{target!r} is already an input column of {deployment!r}.",
            hint="Name the label column something else with target=.",
        )
    # Labels arrive after their predictions: nothing older than the window's first row matters.
    feedback = read_feedback(location, deployment, since=logged.since)
    keys = logged.log.select(["request_id", "row", "ts"])
    labels = join_feedback(keys, feedback)["label"]
    frame = logged.inputs.to_pandas()
    frame[target] = labels.to_numpy()
    return frame[labels.notna().to_numpy()].reset_index(drop=True)
