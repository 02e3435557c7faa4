"""What every benchmark script shares: its command line and its own section of RESULTS.md."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "RESULTS_FILE",
    "one_line",
    "parse_args",
    "this_command",
    "with_machine_and_notes",
    "write_section",
]

RESULTS_FILE = Path(__file__).resolve().parent / "RESULTS.md"
ROOT = RESULTS_FILE.parent.parent


def parse_args(argv: Sequence[str], doc: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, print only (RESULTS.md untouched)"
    )
    return parser.parse_args(argv)


def one_line(text: str) -> str:
    """A crash's traceback as one markdown list item: the first line and the error itself."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if len(lines) < 2 else f"{lines[0]} ... {lines[-1]}"


def with_machine_and_notes(
    parts: list[str], facts: Mapping[str, object], notes: Sequence[str]
) -> str:
    """A section's markdown: ``parts``, then the machine it ran on and any notes, one a line."""
    parts = [*parts, "", "## Machine", "", *(f"- {key}: {value}" for key, value in facts.items())]
    if notes:
        parts += ["", "## Notes", "", *(f"- {one_line(note)}" for note in notes)]
    return "\n".join(parts) + "\n"


def this_command(script: Path) -> str:
    """How to rerun this measurement, as recorded next to its figures."""
    python = os.path.relpath(sys.executable, ROOT)
    return f"cd {ROOT} && {shlex.join([python, os.path.relpath(script, ROOT), *sys.argv[1:]])}"


def write_section(name: str, body: str, path: Path = RESULTS_FILE) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->``, or append it."""
    start_marker, end_marker = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = f"{start_marker}\n{body.strip()}\n{end_marker}\n"
    text = path.read_text() if path.exists() else ""
    start, end = text.find(start_marker), text.find(end_marker)
    if start != -1 and end > start:
        after = text[end + len(end_marker) :].lstrip("\n")
        text = text[:start] + section + ("\n" + after if after else "")
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + section
    path.write_text(text)
