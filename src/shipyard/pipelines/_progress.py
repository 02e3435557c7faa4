"""Live per-step status on a terminal (Rich); silent when output is not a terminal."""

from __future__ import annotations

import sys
from typing import Any

from shipyard.pipelines._graph import Graph

__all__ = ["Progress"]

_STYLES = {
    "waiting": "dim",
    "running": "yellow",
    "completed": "green",
    "cached": "cyan",
    "failed": "bold red",
    "skipped": "dim",
}


class Progress:
    def __init__(self, graph: Graph, *, enabled: bool | None = None) -> None:
        self.graph = graph
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._tasks: dict[str, Any] = {}
        self._bar: Any = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import Progress as RichProgress
            from rich.progress import SpinnerColumn, TextColumn

            self._bar = RichProgress(
                SpinnerColumn(), TextColumn("{task.description}"), console=Console(stderr=True)
            )
            self._bar.start()
            for node in self.graph.topological():
                self._tasks[node.id] = self._bar.add_task(self._text(node.id, "waiting"), total=1)
        return self

    def update(self, node: str, status: str, duration_s: float | None = None) -> None:
        if self._bar is None:
            return
        finished = status not in ("waiting", "running")
        self._bar.update(
            self._tasks[node],
            description=self._text(node, status, duration_s),
            completed=1 if finished else 0,
        )

    def _text(self, node: str, status: str, duration_s: float | None = None) -> str:
        took = f" {duration_s:.2f}s" if duration_s is not None else ""
        return f"{node:<24} [{_STYLES.get(status, '')}]{status}[/]{took}"

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
