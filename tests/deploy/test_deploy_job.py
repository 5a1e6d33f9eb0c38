"""The deploy job of .github/workflows/ci.yml, executed by act on this machine, offline.

act runs the job's steps as written, on the host (`-P ubuntu-latest=-self-hosted`), in a copy of the
checkout. What cannot run here is replaced at its edge, and nothing else: the three remote actions by a local
stand-in that does nothing; `gh` (the tip-of-main check) by one that answers with a chosen SHA; `python -m
pip`, `poetry install` and `npm ci` by ones that install nothing (the project's environment is in place
already; npm's stand-in puts the fake Railway CLI where npm would put the real one). The job still has to
pass its `if:`s, hand the secret and the service to `.ci/deploy`, put the CLI on PATH and run the script with
the project's Python, which the fake CLI uses, as the real one does, to evaluate .railway/railway.py.

The workflow act gets is ci.yml with the verify job and the deploy job's `needs` left out: act would otherwise
run the whole verification first. test_deploy_gate.py checks those on the real file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import fake_railway
from tests.deploy.fake_railway import DEPLOYMENT_ID

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_FILE = ROOT / ".github" / "workflows" / "ci.yml"
ACT = Path(sys.executable).parent / "act"
TOKEN = "project-token-act"

STAND_IN_ACTION = """\
name: stand-in
description: An action that cannot be fetched offline; the machine already has what it would set up.
runs:
  using: composite
  steps:
    - run: echo "stand-in for ${{ github.action }}"
      shell: bash
"""
STAND_IN_COMMANDS = {
    # act itself asks `gh auth token` for a token first: there is none.
    "gh": '#!/bin/sh\n[ "$1" = api ] || exit 1\necho "gh $*" >> "$STAND_IN_CALLS"\necho "$STAND_IN_TIP"\n',
    "python": (
        '#!/bin/sh\nif [ "$1 $2 $3" = "-m pip install" ]; then\n'
        '  echo "pip $*" >> "$STAND_IN_CALLS"; exit 0\nfi\n'
        f'exec "{sys.executable}" "$@"\n'
    ),
    "poetry": (
        '#!/bin/sh\necho "poetry $*" >> "$STAND_IN_CALLS"\n'
        'case "$1" in\n'
        "  install) ;;\n"
        f'  run) shift; PATH="{Path(sys.executable).parent}:$PATH" exec "$@" ;;\n'
        "  *) exit 2 ;;\n"
        "esac\n"
    ),
    "npm": (
        '#!/bin/sh\necho "npm $*" >> "$STAND_IN_CALLS"\nprefix=.\n'
        'while [ $# -gt 0 ]; do [ "$1" = --prefix ] && prefix=$2; shift; done\n'
        'mkdir -p "$prefix/node_modules/.bin" && cp "$STAND_IN_RAILWAY" "$prefix/node_modules/.bin/railway"\n'
    ),
}


@dataclass(frozen=True)
class JobRun:
    status: int
    output: str
    railway: list[list[str]]
    stand_ins: list[str]


def _job_only(workflow: dict[Any, Any]) -> dict[Any, Any]:
    deploy = dict(workflow["jobs"]["deploy"])
    deploy.pop("needs")
    # YAML 1.1 reads the bare key `on` as true; act wants it back as `on`.
    triggers = workflow.get("on", workflow.get(True))
    rest = {key: value for key, value in workflow.items() if key not in {True, "on", "jobs"}}
    return {**rest, "on": triggers, "jobs": {"deploy": deploy}}


@pytest.fixture
def run_job(tmp_path: Path) -> Any:
    assert ACT.exists(), f"{ACT} is missing: run `poetry install`"
    workflow = _job_only(yaml.safe_load(WORKFLOW_FILE.read_text(encoding="utf-8")))
    workflow_file = tmp_path / "deploy.yml"
    workflow_file.write_text(yaml.safe_dump(workflow, sort_keys=False), encoding="utf-8")
    event_file = tmp_path / "push.json"
    event_file.write_text(json.dumps({"ref": "refs/heads/main"}), encoding="utf-8")
    action = tmp_path / "stand-in-action"
    action.mkdir()
    (action / "action.yml").write_text(STAND_IN_ACTION, encoding="utf-8")
    bin_dir = tmp_path / "stand-ins"
    bin_dir.mkdir()
    for name, script in STAND_IN_COMMANDS.items():
        (bin_dir / name).write_text(script, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    railway = fake_railway.install(tmp_path / "fake-railway")
    git = shutil.which("git")
    assert git, "git is not on PATH"
    head = subprocess.run([git, "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    remote_actions = [
        str(step["uses"]).split(" ")[0] for step in workflow["jobs"]["deploy"]["steps"] if "uses" in step
    ]

    def run(tip: str = head.stdout.strip(), secrets: dict[str, str] | None = None, **scenario: Any) -> JobRun:
        scenario_file = tmp_path / "scenario.json"
        fake_railway.write_scenario(scenario_file, TOKEN, **scenario)
        calls = tmp_path / "railway-calls.jsonl"
        stand_in_calls = tmp_path / "stand-in-calls"
        for log in (calls, stand_in_calls):
            log.unlink(missing_ok=True)
        arguments = [
            str(ACT),
            "push",
            "--workflows", str(workflow_file),
            "--eventpath", str(event_file),
            "--platform", "ubuntu-latest=-self-hosted",
            "--action-offline-mode",
        ]  # fmt: skip
        for uses in remote_actions:
            arguments += ["--local-repository", f"{uses}={action}"]
        for name, value in (secrets if secrets is not None else {"RAILWAY_TOKEN": TOKEN}).items():
            arguments += ["--secret", f"{name}={value}"]
        # Nothing of an enclosing GitHub Actions run (its GITHUB_PATH, GITHUB_OUTPUT, ...) or a real token.
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("GITHUB_", "RUNNER_", "ACTIONS_", "RAILWAY_", "DEPLOY_"))
        }
        environment = {
            **inherited,
            "PATH": os.pathsep.join([str(bin_dir), os.environ["PATH"]]),
            "HOME": str(tmp_path / "home"),  # act keeps its copy of the checkout under ~/.cache/act
            "XDG_CACHE_HOME": str(tmp_path / "home" / ".cache"),
            "STAND_IN_TIP": tip,
            "STAND_IN_CALLS": str(stand_in_calls),
            "STAND_IN_RAILWAY": str(railway),
            "FAKE_RAILWAY_SCENARIO": str(scenario_file),
            "FAKE_RAILWAY_CALLS": str(calls),
            "DEPLOY_POLL_SECONDS": "0",
            "DEPLOY_TIMEOUT_SECONDS": "5",
        }
        result = subprocess.run(
            arguments, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=False
        )
        made = stand_in_calls.read_text(encoding="utf-8").splitlines() if stand_in_calls.exists() else []
        return JobRun(result.returncode, result.stdout + result.stderr, fake_railway.calls(calls), made)

    return run


def test_the_job_deploys_the_tip_of_main(run_job: Any) -> None:
    run = run_job()

    assert run.status == 0, run.output
    assert "Job succeeded" in run.output
    assert f"Deployment {DEPLOYMENT_ID} is SUCCESS" in run.output
    # The secret reached the CLI (the fake refuses any other token), for the service the file declares.
    up = next(call for call in run.railway if call[0] == "up")
    assert up[up.index("--service") + 1] == fake_railway.SERVICE
    assert ["config", "apply", "--yes"] in run.railway
    # The pinned CLI came from the lock file, with only its own install script allowed.
    assert "npm ci --prefix .ci/railway-cli --strict-allow-scripts --no-audit --no-fund" in run.stand_ins
    assert "poetry install --no-interaction --only deploy --no-root" in run.stand_ins


def test_the_job_deploys_nothing_once_main_has_moved_on(run_job: Any) -> None:
    run = run_job(tip="f" * 40)

    assert run.status == 0, run.output
    assert "Not deploying" in run.output
    assert run.railway == []
    [tip_check] = run.stand_ins
    assert tip_check.startswith("gh api repos/")
    assert "/git/ref/heads/main" in tip_check


def test_the_job_fails_with_the_status_railway_reports(run_job: Any) -> None:
    run = run_job(statuses=["BUILDING", "CRASHED"])

    assert run.status != 0
    assert f"Deployment {DEPLOYMENT_ID} ended CRASHED" in run.output
    assert "Job failed" in run.output


def test_the_job_fails_at_once_without_the_token(run_job: Any) -> None:
    run = run_job(secrets={})

    assert run.status != 0
    assert "Not set: RAILWAY_TOKEN" in run.output
    assert run.railway == []
