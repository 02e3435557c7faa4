"""The step cache: a key from the step's code, parameters and input contents, mapped to the
outputs of the step run that computed it. Same key, same outputs: the step is skipped."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shipyard.pipelines._graph import Node
from shipyard.pipelines._outputs import StoredOutput
from shipyard.store import Database
from shipyard.store._schema import step_cache
from shipyard.tracking._sql import insert_for, now_ms

__all__ = ["CACHE_FORMAT", "StepCache", "cache_key"]

CACHE_FORMAT = 2  # bump when what a key covers changes, so old entries stop matching


def cache_key(node: Node, input_hashes: dict[str, str]) -> str:
    """Changing the step's code, a parameter or the content of an input changes the key."""
    payload = {
        "format": CACHE_FORMAT,
        "step": node.step.name,
        "code": node.step.code_hash,
        "params": node.params,
        "inputs": input_hashes,
        "outputs": list(node.output_names),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class StepCache:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str) -> tuple[str, dict[str, StoredOutput]] | None:
        """The run that computed ``key`` and its outputs, or None on a miss."""
        row = self.db.read(
            lambda conn: conn.execute(
                sa.select(step_cache.c.run_id, step_cache.c.outputs).where(step_cache.c.key == key)
            ).first()
        )
        if row is None:
            return None
        outputs = {name: StoredOutput.from_dict(data) for name, data in row.outputs.items()}
        return str(row.run_id), outputs

    def put(self, key: str, step: str, run_id: str, outputs: dict[str, StoredOutput]) -> None:
        """Map ``key`` to these outputs; the latest computation wins, so a run with the cache
        off refreshes what later runs reuse."""

        def work(conn: Connection) -> Any:
            stmt = insert_for(conn, step_cache).values(
                key=key,
                step=step,
                run_id=run_id,
                outputs={name: out.to_dict() for name, out in outputs.items()},
                created_ms=now_ms(),
            )
            fresh = {c: stmt.excluded[c] for c in ("step", "run_id", "outputs", "created_ms")}
            return conn.execute(
                stmt.on_conflict_do_update(index_elements=[step_cache.c.key], set_=fresh)
            )

        self.db.write(work)
