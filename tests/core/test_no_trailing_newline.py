"""A trailing newline must not slip through a name check: `^...$` matches before a final "\n",
and "champion\n" would be a second alias that looks like the first on every screen."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shipyard.core.errors import InvalidInput, NotFound


def _checks() -> list[tuple[str, Callable[[str], Any], str]]:
    from shipyard.core.names import check_entity_name
    from shipyard.data._api import resolve_dataset
    from shipyard.registry._uris import check_alias
    from shipyard.tracking._validation import check_key
    from shipyard.tuning._space import check_space, uniform

    return [
        ("alias", check_alias, "champion"),
        ("model name", lambda n: check_entity_name("model", n), "churn"),
        ("metric key", lambda k: check_key("metric", k), "loss"),
        ("search-space name", lambda n: check_space({n: uniform(0, 1)}), "lr"),
        ("dataset ref", resolve_dataset, "churn:1"),
    ]


@pytest.mark.parametrize("index", range(5))
def test_a_trailing_newline_is_refused(index: int, workspace: Path) -> None:
    what, check, valid = _checks()[index]
    with contextlib.suppress(NotFound):  # an empty workspace has no dataset 'churn'
        check(valid)  # the name itself is fine ...
    try:
        check(valid + "\n")  # ... with a newline after it, not
    except InvalidInput:
        return
    pytest.fail(f"The {what} check accepted {valid!r} with a trailing newline.")
