"""The compatibility gate runs before every deploy (GitHub Actions, .ci/run), on the right release.

Read from the files that define it, like tests/deploy/test_deploy_gate.py; they need no database.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def verify_steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    steps: list[dict[str, Any]] = workflow["jobs"]["verify"]["steps"]
    return steps


def test_the_verify_job_fetches_the_history_and_runs_the_gate_on_the_previous_release() -> None:
    steps = verify_steps()
    (checkout,) = [step for step in steps if str(step.get("uses", "")).startswith("actions/checkout@")]
    (gate,) = [step for step in steps if ".ci/verify compat" in str(step.get("run", ""))]

    assert checkout["with"]["fetch-depth"] == 0
    assert gate["env"] == {
        "PUSH_BEFORE": "${{ github.event.before }}",
        "PR_BASE": "${{ github.event.pull_request.base.sha }}",
    }
    # Values reach the script through the environment, never as text pasted into it (template injection).
    assert "${{" not in gate["run"]
    assert shlex.split(gate["run"].splitlines()[-1]) == [".ci/verify", "compat", "$BASE"]
    # After the tests, in the job the deploy job needs.
    names = [step.get("name", "") for step in steps]
    assert names.index(gate["name"]) > names.index("Tests (against the postgres service)")


def test_the_verify_job_proves_the_gate_after_running_it() -> None:
    steps = verify_steps()
    names = [step.get("name", "") for step in steps]
    (gate,) = [step for step in steps if ".ci/verify compat" in str(step.get("run", ""))]
    (proof,) = [step for step in steps if ".ci/verify gate-proof" in str(step.get("run", ""))]

    assert proof["run"].strip() == ".ci/verify gate-proof"
    assert names.index(proof["name"]) > names.index(gate["name"])


def test_ci_run_runs_the_gate_and_its_proof() -> None:
    lines = [line.split() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    endings = [words[-2:] for words in lines if len(words) >= 2]

    assert [".ci/verify", "compat"] in endings
    assert [".ci/verify", "gate-proof"] in endings
