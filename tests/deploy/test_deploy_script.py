"""The deploy job's script, run for real against a fake Railway CLI.

`.ci/deploy` is what the workflow's deploy job runs. Here it runs as a process with
tests/deploy/fake_railway.py first on PATH as `railway`, which answers as the real CLI's source says it does,
following a scenario. The tests check the exit status, what the script says, and which CLI calls it made, in
what order.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import fake_railway
from tests.deploy.fake_railway import DEPLOYMENT_ID, LOGS_URL, SERVICE

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_SCRIPT = ROOT / ".ci" / "deploy"
PINNED = fake_railway.PINNED_VERSION
TOKEN = "project-token-4f1d2c"

LIVE = ["SUCCESS", "SLEEPING"]
NOT_LIVE = ["FAILED", "CRASHED", "REMOVED", "REMOVING", "SKIPPED", "NEEDS_APPROVAL"]


@dataclass(frozen=True)
class Run:
    status: int
    output: str
    calls: list[list[str]]

    def commands(self) -> list[str]:
        """Each call as its first two words ("deployment list", "status --json", "up --detach", ...)."""
        return [" ".join(call[:2]) for call in self.calls]


@pytest.fixture
def deploy(tmp_path: Path) -> Any:
    def run(env: dict[str, str] | None = None, **scenario: Any) -> Run:
        scenario_file = tmp_path / "scenario.json"
        fake_railway.write_scenario(scenario_file, TOKEN, **scenario)
        calls_file = tmp_path / "calls.jsonl"
        calls_file.unlink(missing_ok=True)
        bin_dir = tmp_path / "bin"
        fake_railway.install(bin_dir)
        environment = {
            # The fake first; then this interpreter's directory, whose python3 imports railway-sdk, as the
            # deploy job's `poetry run` gives the CLI.
            "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]]),
            "FAKE_RAILWAY_SCENARIO": str(scenario_file),
            "FAKE_RAILWAY_CALLS": str(calls_file),
            "RAILWAY_TOKEN": TOKEN,
            "RAILWAY_SERVICE": SERVICE,
            "DEPLOY_POLL_SECONDS": "0",
            # A status the script failed to recognise as terminal shows as a timeout, not as a hung test.
            "DEPLOY_TIMEOUT_SECONDS": "5",
            **(env or {}),
        }
        result = subprocess.run(
            [str(DEPLOY_SCRIPT)],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return Run(result.returncode, result.stdout + result.stderr, fake_railway.calls(calls_file))

    return run


@pytest.mark.parametrize("status", LIVE)
def test_a_deployment_that_goes_live_passes(deploy: Any, status: str) -> None:
    run = deploy(statuses=["QUEUED", "BUILDING", "DEPLOYING", status])

    assert run.status == 0, run.output
    assert f"Deployment {DEPLOYMENT_ID} is {status}" in run.output
    assert LOGS_URL in run.output
    assert run.commands() == [
        "--version",
        "status --json",
        "config apply",
        "up --detach",
        *["deployment list"] * 4,
    ]


def test_the_deployment_id_comes_from_the_json_of_railway_up(deploy: Any) -> None:
    run = deploy()

    up = next(call for call in run.calls if call[0] == "up")
    assert {"--detach", "--json"} <= set(up)
    assert up[up.index("--service") + 1] == SERVICE
    # The id the script follows is the one `up` printed, not the older deployment also listed.
    assert f"Deployment {DEPLOYMENT_ID}: BUILDING" in run.output
    assert fake_railway.PREVIOUS_ID not in run.output


@pytest.mark.parametrize("status", NOT_LIVE)
def test_every_other_terminal_status_fails_by_name(deploy: Any, status: str) -> None:
    run = deploy(statuses=["BUILDING", status])

    assert run.status == 1, run.output
    assert f"::error::Deployment {DEPLOYMENT_ID} ended {status}:" in run.output
    assert "The previous deployment keeps serving" in run.output
    # It links the logs and prints their tails.
    assert LOGS_URL in run.output
    assert f"build log line 2 of {DEPLOYMENT_ID}" in run.output
    assert f"deploy log line 2 of {DEPLOYMENT_ID}" in run.output
    # It stops polling at the terminal status.
    assert run.commands().count("deployment list") == 2


@pytest.mark.parametrize("status", ["BUILDING", "DEPLOYING", "INITIALIZING", "QUEUED", "WAITING"])
def test_only_the_statuses_of_a_deployment_on_its_way_keep_the_wait_going(deploy: Any, status: str) -> None:
    run = deploy(statuses=[status, status, "SUCCESS"])

    assert run.status == 0, run.output
    assert run.commands().count("deployment list") == 3


def test_a_status_the_script_does_not_know_ends_the_wait_as_a_failure_naming_it(deploy: Any) -> None:
    # A value added to DeploymentStatus after this CLI was built: it prints it as `Other("...")`.
    run = deploy(statuses=["BUILDING", "PAUSED"], env={"DEPLOY_TIMEOUT_SECONDS": "600"})

    assert run.status == 1, run.output
    assert (
        f'::error::Deployment {DEPLOYMENT_ID} ended Other("PAUSED"): a status this script does not know, so '
        "it counts as not live."
    ) in run.output
    assert run.commands().count("deployment list") == 2


def test_a_bad_token_fails_before_anything_is_uploaded(deploy: Any) -> None:
    run = deploy(env={"RAILWAY_TOKEN": "revoked-token"})

    assert run.status == 1
    assert "::error::Railway refused the token" in run.output
    assert f"`railway status --json` failed (exit status 1): {fake_railway.UNAUTHORIZED}" in run.output
    assert run.commands() == ["--version", "status --json"]
    assert "revoked-token" not in run.output


def test_an_unknown_service_fails_before_anything_is_uploaded(deploy: Any) -> None:
    run = deploy(env={"RAILWAY_SERVICE": "web"})

    assert run.status == 1
    assert (
        "::error::Railway does not know the service 'web', so nothing was uploaded. RAILWAY_SERVICE must be "
        "one of the project's services: Postgres, bot."
    ) in run.output
    assert run.commands() == ["--version", "status --json"]


def test_a_service_named_in_another_case_fails_before_anything_is_applied(deploy: Any) -> None:
    # `deployment list --service Bot` would accept it; `up --service Bot` would not, after the apply.
    run = deploy(env={"RAILWAY_SERVICE": SERVICE.capitalize()})

    assert run.status == 1
    assert (
        f"::error::RAILWAY_SERVICE is 'Bot', but the service is named '{SERVICE}': `railway up` needs the "
        "exact name (or the service's id)"
    ) in run.output
    assert run.commands() == ["--version", "status --json"]


def test_the_service_may_be_named_by_its_id(deploy: Any) -> None:
    run = deploy(env={"RAILWAY_SERVICE": fake_railway.SERVICE_ID})

    assert run.status == 0, run.output
    up = next(call for call in run.calls if call[0] == "up")
    assert up[up.index("--service") + 1] == fake_railway.SERVICE_ID


def test_a_failed_upload_says_what_the_cli_said_on_stdout(deploy: Any) -> None:
    run = deploy(upload="rejected")

    assert run.status == 1
    assert (
        f"::error::`railway up` failed (exit status 1): {fake_railway.UPLOAD_REJECTED} (UPLOAD_FAILED)"
    ) in run.output
    assert "deployment list" not in run.commands()


def test_a_failed_listing_says_what_the_cli_said_on_stderr(deploy: Any) -> None:
    run = deploy(listing_failures=1, statuses=["SUCCESS"])

    assert run.status == 0, run.output
    assert (
        "Could not list the deployments, trying again: `railway deployment list --service bot --limit 20 "
        "--json` failed (exit status 1): Failed to fetch: error sending request for url"
    ) in run.output


def test_missing_settings_are_named_and_nothing_runs(deploy: Any) -> None:
    run = deploy(env={"RAILWAY_TOKEN": "", "RAILWAY_SERVICE": ""})

    assert run.status == 2
    assert "::error::Not set: RAILWAY_TOKEN (a Railway project token) and RAILWAY_SERVICE" in run.output
    assert "Traceback" not in run.output
    assert run.calls == []


def test_a_bad_poll_interval_is_named(deploy: Any) -> None:
    run = deploy(env={"DEPLOY_POLL_SECONDS": "soon"})

    assert run.status == 2
    assert "DEPLOY_POLL_SECONDS must be a number of seconds, not 'soon'" in run.output
    assert run.calls == []


def test_a_cli_whose_install_script_never_ran_is_caught(deploy: Any) -> None:
    run = deploy(version=None)

    assert run.status == 1
    assert f"not 'railway {PINNED}'" in run.output
    assert "exit status 127" in run.output
    assert "install script" in run.output
    assert run.commands() == ["--version"]


def test_a_cli_of_another_version_is_refused(deploy: Any) -> None:
    run = deploy(version="5.0.0")

    assert run.status == 1
    assert "printed 'railway 5.0.0'" in run.output
    assert run.commands() == ["--version"]


def test_the_environment_is_applied_before_the_upload_and_never_destructively(deploy: Any) -> None:
    run = deploy()

    applies = [call for call in run.calls if call[:2] == ["config", "apply"]]
    assert applies == [["config", "apply", "--yes"]]
    assert run.commands().index("config apply") < run.commands().index("up --detach")
    assert not any("--confirm-destructive" in call for call in run.calls)


def test_a_destructive_change_stops_the_deploy_for_a_person(deploy: Any) -> None:
    run = deploy(apply="destructive")

    assert run.status == 1
    assert "Destructive Railway configuration changes require explicit confirmation" in run.output
    assert "::error::`railway config apply --yes` failed, so nothing was uploaded" in run.output
    assert "up --detach" not in run.commands()


def test_a_configuration_the_cli_cannot_evaluate_stops_the_deploy(deploy: Any) -> None:
    run = deploy(apply="broken")

    assert run.status == 1
    assert "python3 failed to evaluate IaC file" in run.output
    assert "up --detach" not in run.commands()


def test_a_listing_that_fails_for_a_while_is_retried(deploy: Any) -> None:
    run = deploy(listing_failures=2, statuses=["SUCCESS"])

    assert run.status == 0, run.output
    assert run.output.count("Could not list the deployments, trying again") == 2


def test_a_deployment_that_never_finishes_times_out(deploy: Any) -> None:
    run = deploy(statuses=["DEPLOYING"], env={"DEPLOY_TIMEOUT_SECONDS": "0"})

    assert run.status == 1
    assert f"Deployment {DEPLOYMENT_ID} did not finish within 0 s (last status: DEPLOYING)" in run.output


def test_the_commit_is_the_deployment_message(deploy: Any) -> None:
    run = deploy(env={"GITHUB_SHA": "a" * 40})

    up = next(call for call in run.calls if call[0] == "up")
    assert up[up.index("--message") + 1] == "a" * 40


def test_the_token_never_reaches_the_output(deploy: Any) -> None:
    for statuses in (["SUCCESS"], ["CRASHED"]):
        assert TOKEN not in deploy(statuses=statuses).output
