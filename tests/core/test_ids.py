from __future__ import annotations

import re

from shipyard.core.ids import new_id


def test_ids_are_unique_fixed_width_and_sort_in_creation_order() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", i) for i in ids)
    assert ids == sorted(ids)
