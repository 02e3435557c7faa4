"""What every benchmark script shares: its command line and its own section of RESULTS.md."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from rich.console import Console
from rich.table import Table

__all__ = [
    "RESULTS_FILE",
    "BenchmarkError",
    "Findings",
    "Run",
    "Verdicts",
    "begin",
    "console",
    "heading",
    "installed",
    "judged",
    "judged_by_target",
    "machine_basics",
    "markdown_table",
    "one_line",
    "over",
    "parse_args",
    "print_table",
    "proc_field",
    "ram_gib",
    "shown",
    "this_command",
    "with_machine_and_notes",
    "write_section",
]

RESULTS_FILE = Path(__file__).resolve().parent / "RESULTS.md"
ROOT = RESULTS_FILE.parent.parent
QUICK_UNCHANGED = "--quick: RESULTS.md left unchanged; targets are meant for the full sizes."
# Off a terminal (make, CI logs) Rich would wrap the table at 80 columns.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)

Peer = TypeVar("Peer")


class BenchmarkError(Exception):
    """A measurement could not be taken (as opposed to a target being missed)."""


class Findings(Protocol):
    """What a script's results say in words besides its tables."""

    notes: list[str]
    errors: list[str]


def parse_args(argv: Sequence[str], doc: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, print only (RESULTS.md untouched)"
    )
    return parser.parse_args(argv)


# -- a run of a script, from its peers to its exit status -------------------------------------
@dataclass(frozen=True)
class Run(Generic[Peer]):
    """One run of a benchmark script: its arguments, its peer, its clock and the machine's load."""

    script: Path
    args: argparse.Namespace
    peer: Peer
    started: float
    load_at_start: float

    def loads(self) -> tuple[float, float]:
        """The 1-minute load average at the start and now: other work skews every figure."""
        return self.load_at_start, os.getloadavg()[0]

    def finish(
        self,
        name: str,
        results: Findings,
        section: Callable[[str, float], str],
        *,
        targets: Sequence[str] = (),
        kept: str,
        remove: Iterable[Path],
        write: bool = True,
        unchanged: str = QUICK_UNCHANGED,
    ) -> int:
        """Print the targets' verdicts, notes and errors; write the ``name`` section; exit status.

        ``section`` makes the section's markdown from the command that reruns the script and
        the total runtime in seconds. ``--quick`` or ``write`` False leave RESULTS.md alone,
        saying ``unchanged``. After errors the folders stay (``kept`` says where) and the
        status is 1; otherwise the ``remove`` folders go.
        """
        for line in [*targets, *results.notes, *results.errors]:
            console.print(f"- {line}", markup=False)
        seconds = time.perf_counter() - self.started
        if self.args.quick or not write:
            print(unchanged)
        else:
            write_section(name, section(this_command(self.script), seconds))
            print(f"Wrote the {name} section of {shown(RESULTS_FILE)}.")
        if results.errors:
            print(kept)
            return 1
        for folder in remove:
            shutil.rmtree(folder, ignore_errors=True)
        print(f"Total runtime: {seconds:.1f} s")
        return 0


def begin(script: str, args: argparse.Namespace, ensure: Callable[[], Peer]) -> Run[Peer]:
    """Start the clock, then ``ensure()`` the peer; exit with status 2 if that fails, saying why."""
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]  # other work on the machine skews every figure
    try:
        peer = ensure()
    except (BenchmarkError, OSError, subprocess.SubprocessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return Run(Path(script), args, peer, started, load_at_start)


# -- figures and targets ---------------------------------------------------------------------
def over(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``; None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


@dataclass
class Verdicts:
    """Each target's verdict: met, MISSED (or not settled, for a lower bound) or not measured,
    with its figure."""

    lines: dict[str, str] = field(default_factory=dict)

    def add(
        self,
        key: str,
        words: str,
        value: float | None,
        met: bool,
        shown_value: str,
        lower_bound: bool = False,
    ) -> str:
        missed = "not settled (a lower bound)" if lower_bound else "MISSED"
        state = "not measured" if value is None else ("met" if met else missed)
        self.lines[key] = f"{words}: {state}" + (f" ({shown_value})" if value is not None else "")
        return state


# -- tables -----------------------------------------------------------------------------------
def judged(row: Sequence[str], met: str = "met") -> str | None:
    """A row that says MISSED in red, one that says ``met`` in green."""
    text = " ".join(row)
    return "red" if "MISSED" in text else ("green" if met in text else None)


def judged_by_target(row: Sequence[str]) -> str | None:
    """:func:`judged` on the row's last cell only, its target."""
    return judged(row[-1:])


def print_table(
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    style: Callable[[Sequence[str]], str | None] = judged,
) -> None:
    table = Table(title=title)
    for column in headers:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(cell.replace("`", "") for cell in row), style=style(row))
    console.print(table)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


# -- RESULTS.md -------------------------------------------------------------------------------
def heading(title: str, command: str, seconds: float, targets: Sequence[str] = ()) -> list[str]:
    """A section's first lines: its title, when and how it was made, the targets' verdicts."""
    parts = [
        title,
        "",
        f"Generated {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} by `{command}`; "
        f"total runtime {seconds:.0f} s.",
        "",
    ]
    if targets:
        parts += ["## Targets", "", *(f"- {line}" for line in targets), ""]
    return parts


def installed(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_basics(loads: tuple[float, float] | None = None) -> dict[str, str]:
    """The facts every Machine list starts with; the load average when ``loads`` is given."""
    facts = {
        "CPUs (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU model": proc_field("/proc/cpuinfo", "model name") or platform.processor(),
        "RAM": ram_gib(),
    }
    if loads is not None:
        facts["Load average (1 min) at start / end"] = f"{loads[0]:.1f} / {loads[1]:.1f}"
    return {**facts, "OS": platform.platform(), "Python": platform.python_version()}


def ram_gib() -> str:
    total_kb = (proc_field("/proc/meminfo", "MemTotal") or "0 kB").split()[0]
    return f"{int(total_kb) / 2**20:.1f} GiB"


def proc_field(path: str, name: str) -> str | None:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


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


def shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it: shorter to read."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


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
