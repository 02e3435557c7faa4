"""``shipyard gate | promote | rollback | ci`` on real models, with the exit codes CI reads.

The commands run in-process (Typer's runner) on an app that ``register`` fills, which keeps
these tests fast; Shipyard errors get their exit code from the CLI's own ``_report``.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli._app import _report
from shipyard.cli._gate import register
from tests.evaluate.gating import FEW, MANY, NAME, frames, sqlite_workspace
from tests.evaluate.gating import register as register_model

FLOWS = Path(__file__).resolve().parents[1] / "evaluate" / "ci_flows.py"
FAST = ("--resamples", "200", "--no-latency")
DATA = ("--data", "cancer-holdout@latest", "--target", "benign")


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


def shipyard(*args: str, env: dict[str, str] | None = None) -> Outcome:
    """Run a command as ``shipyard.cli.main`` would: Shipyard errors become one line + code."""
    app = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False)
    register(app)
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250", **(env or {})})
    error = result.exception
    if error is None or isinstance(error, SystemExit):
        return Outcome(result.exit_code, result.stdout, result.stderr)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = _report(error, debug=False)  # type: ignore[arg-type]
    return Outcome(code, result.stdout, stderr.getvalue())


@pytest.fixture
def train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pd.DataFrame]:
    """A workspace with ``cancer@champion`` (a weak model, version 1) and the held-out rows
    logged as the dataset ``cancer-holdout``; the training rows are yielded."""
    with sqlite_workspace(tmp_path / "ws", monkeypatch):
        train, holdout = frames()
        register_model(train, FEW, alias="champion")
        sy.log_dataset(holdout, "cancer-holdout")
        yield train


def test_a_worse_challenger_fails_and_only_a_forced_promotion_gets_through(
    train: pd.DataFrame, tmp_path: Path
) -> None:
    register_model(train, FEW, shuffle=True)
    summary = tmp_path / "summary.md"
    failed = shipyard(
        "gate", "cancer/2", *DATA, "--slice", "size", "--report-dir", "out", *FAST,
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    assert failed.code == 1, failed.out + failed.err
    roc = next(line for line in failed.out.splitlines() if " roc_auc " in line)
    assert "worse" in roc and "FAIL" in roc
    assert "Gate failed: models:/cancer/2" in failed.out
    markdown = Path("out/gate-report.md").read_text()
    assert "❌ Gate FAILED: models:/cancer/2 against models:/cancer/1" in markdown
    assert summary.read_text() == markdown + "\n"
    assert (
        "<img alt='ROC curve' src='data:image/png;base64,"
        in Path("out/gate-report.html").read_text()
    )

    refused = shipyard("promote", NAME, "2")
    assert refused.code == 1
    assert "Refusing to promote models:/cancer/2 to 'champion': it failed its latest gate" in (
        refused.err
    )
    no_reason = shipyard("promote", NAME, "2", "--force")
    assert no_reason.code == 2 and "Forcing a promotion needs a reason" in no_reason.err
    forced = shipyard("promote", NAME, "2", "--force", "--reason", "incident 42")
    assert forced.code == 0 and "models:/cancer@champion -> version 2 (forced)" in forced.out
    back = shipyard("rollback", NAME, "-m", "forced one misbehaves", "--json")
    assert back.code == 0 and json.loads(back.out)["aliases"] == ["champion"]
    assert sy.get_model_version(NAME, 1).aliases == ("champion",)
    assert shipyard("rollback", NAME).code == 1  # nothing before version 1


def test_a_better_challenger_passes_and_is_promoted(train: pd.DataFrame, tmp_path: Path) -> None:
    register_model(train, MANY)
    csv = tmp_path / "holdout.csv"
    frames()[1].to_csv(csv, index=False)
    passed = shipyard(
        "gate", "models:/cancer/2", "--data", str(csv), "--target", "benign", "--json", *FAST
    )
    assert passed.code == 0, passed.out + passed.err
    result = json.loads(passed.out)
    assert result["status"] == "passed" and result["dataset_ref"] == str(csv)
    assert {c["actual"] for c in result["checks"]} == {"better"}
    assert Path("shipyard-reports/gate-report.md").is_file()  # the default report folder

    promoted = shipyard("promote", NAME, "2", "--to", "champion")
    assert promoted.code == 0 and promoted.out.strip() == "models:/cancer@champion -> version 2"
    event = sy.model_history(NAME)[-1]
    assert event.detail["gate_status"] == "passed" and event.detail["forced"] is False

    register_model(train, MANY)  # the same as the new champion
    same = shipyard("gate", "cancer/3", *DATA, *FAST)
    assert same.code == 0 and "no significant difference" in same.out


def test_ci_trains_gates_and_promotes_only_what_passes(train: pd.DataFrame) -> None:
    target = f"{FLOWS}:training"
    better = shipyard("ci", target, "-p", "wide=true", "--promote", *DATA, *FAST)
    assert better.code == 0, better.out + better.err
    assert "Promoted models:/cancer/2 to champion." in better.out
    assert sy.get_model_version(NAME, 2).aliases == ("champion",)

    worse = shipyard("ci", target, "-p", "shuffle=true", "--model", NAME, "--promote", *DATA, *FAST)
    assert worse.code == 1 and "Not promoted: the gate failed." in worse.out
    assert sy.get_model_version(NAME, 2).aliases == ("champion",)

    gate_only = shipyard("ci", target, "-p", "wide=true", "--json", *DATA, *FAST)
    assert gate_only.code == 0
    report = json.loads(gate_only.out)
    assert report["model_uri"] == "models:/cancer/4" and report["promoted"] is False

    broken = shipyard("ci", target, "-p", "fail=true", *DATA, *FAST)
    assert broken.code == 1 and "failed at train_and_register" in broken.err
    assert "nothing was gated" in broken.err


def test_usage_errors_exit_2_with_one_line(train: pd.DataFrame, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[gates]\nroc_auc = "not worse"\n')
    bad_policy = shipyard("gate", "cancer/1", *DATA, "--policy", str(policy))
    assert bad_policy.code == 2
    assert "roc_auc = 'not worse' is not a rule" in bad_policy.err
    assert "Traceback" not in bad_policy.err
    assert shipyard("gate", "cancer/1").code == 2  # --data is required
    unknown = shipyard("gate", "cancer/9", *DATA)
    assert unknown.code == 1 and "has no version 9" in unknown.err
    assert shipyard("ci", f"{FLOWS}:nope", *DATA).code == 1


def _commands(steps: list[str]) -> tuple[str, str]:
    """(the gate-only command, the promoting one) among a CI file's shell lines."""
    found = [" ".join(s.split()) for s in steps if s.lstrip().startswith("shipyard ci ")]
    assert len(found) == 2, found
    gate_only, promoting = sorted(found, key=lambda c: "--promote" in c)
    assert "--promote" not in gate_only and promoting == f"{gate_only} --promote"
    assert gate_only == (
        "shipyard ci pipeline:training --model churn --data churn@latest --target churned"
    )
    return gate_only, promoting


def test_the_ci_examples_gate_pull_requests_and_promote_on_main() -> None:
    import yaml

    examples = Path(__file__).resolve().parents[2] / "examples" / "ci"
    github = yaml.safe_load((examples / "github-actions.yml").read_text())
    triggers = github.get("on", github.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers == {"push": {"branches": ["main"]}, "pull_request": None}
    steps = github["jobs"]["train-gate-promote"]["steps"]
    assert any(s.get("run") == "pip install -e ." for s in steps)
    by_run = {s.get("run", ""): s.get("if", "") for s in steps}
    gate_only, promoting = _commands(list(by_run))
    assert by_run[gate_only] == "github.event_name == 'pull_request'"
    assert "refs/heads/main" in by_run[promoting]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "shipyard-reports/" and upload["if"] == "always()"

    gitlab = yaml.safe_load((examples / "gitlab-ci.yml").read_text())
    template = gitlab[".shipyard"]
    assert template["before_script"] == ["pip install -e ."]
    assert template["artifacts"]["paths"] == ["shipyard-reports/"]
    jobs = {name: gitlab[name] for name in ("gate", "promote")}
    assert all(job["extends"] == ".shipyard" for job in jobs.values())
    gate_only, promoting = _commands([line for job in jobs.values() for line in job["script"]])
    assert jobs["gate"]["script"] == [gate_only] and jobs["promote"]["script"] == [promoting]
    assert "merge_request_event" in jobs["gate"]["rules"][0]["if"]
    assert '$CI_COMMIT_BRANCH == "main"' in jobs["promote"]["rules"][0]["if"]
