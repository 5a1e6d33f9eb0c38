"""The deploy gate, read from the files that define it.

`.github/workflows/ci.yml` must verify every push and pull request and deploy to Railway only what passed,
only from main, with actions and a CLI pinned so that a moved tag or a skipped install script cannot change
what runs. These tests pin those properties, so that an edit that quietly opens the gate fails here first.
What the deploy itself does is tested by running its script (test_deploy_script.py); what Railway is told to
run, by rendering .railway/railway.py (test_railway_iac.py). They need no database.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_FILE = ROOT / ".github" / "workflows" / "ci.yml"
CLI_DIRECTORY = ROOT / ".ci" / "railway-cli"
DEPLOY_JOB = "deploy"
VERIFY_JOB = "verify"

# The first major of each action that runs on Node 24: the ones before run on the deprecated Node 20.
MINIMUM_MAJOR = {"actions/checkout": 5, "actions/setup-python": 6, "actions/cache": 5}
MINIMUM_POSTGRES_MAJOR = 17


def _mapping(value: object, what: str) -> dict[Any, Any]:
    assert isinstance(value, dict), f"{what} should be a mapping, got {value!r}"
    return value


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _expression(value: object) -> str:
    """An `if:` condition without its optional ${{ }} wrapper, whitespace collapsed."""
    text = " ".join(str(value).split())
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2].strip()
    return text


def _steps(job: dict[Any, Any]) -> list[dict[Any, Any]]:
    return [_mapping(step, "a step") for step in _as_list(job.get("steps"))]


def _scripts(job: dict[Any, Any]) -> list[str]:
    return [str(step["run"]) for step in _steps(job) if "run" in step]


def _commands(job: dict[Any, Any], program: str) -> list[list[str]]:
    """Each command line of the job's scripts that runs `program`, split into words."""
    found = []
    for script in _scripts(job):
        for line in script.splitlines():
            try:
                words = shlex.split(line, comments=True)
            except ValueError:  # a quote that a later line closes: not a simple command
                words = line.split()
            if words[: len(program.split())] == program.split():
                found.append(words)
    return found


def _env(job: dict[Any, Any], step: dict[Any, Any] | None = None) -> dict[Any, Any]:
    """The variables a step sees from the job and from itself (workflow-level env is not used here)."""
    variables = dict(_mapping(job.get("env") or {}, "the job's env"))
    if step is not None:
        variables.update(_mapping(step.get("env") or {}, "the step's env"))
    return variables


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    return _mapping(yaml.safe_load(WORKFLOW_FILE.read_text(encoding="utf-8")), str(WORKFLOW_FILE))


@pytest.fixture(scope="module")
def jobs(workflow: dict[Any, Any]) -> dict[str, dict[Any, Any]]:
    return {name: _mapping(job, f"job {name}") for name, job in _mapping(workflow["jobs"], "jobs").items()}


@pytest.fixture(scope="module")
def deploy(jobs: dict[str, dict[Any, Any]]) -> dict[Any, Any]:
    assert DEPLOY_JOB in jobs, f"the workflow has no {DEPLOY_JOB!r} job"
    return jobs[DEPLOY_JOB]


@pytest.fixture(scope="module")
def verify(jobs: dict[str, dict[Any, Any]]) -> dict[Any, Any]:
    assert VERIFY_JOB in jobs, f"the workflow has no {VERIFY_JOB!r} job"
    return jobs[VERIFY_JOB]


# The workflow: triggers and privileges


def test_runs_on_push_to_main_and_on_pull_requests(workflow: dict[Any, Any]) -> None:
    # YAML 1.1 reads the bare key `on` as the boolean true.
    triggers = _mapping(workflow.get("on", workflow.get(True)), "the triggers")
    push = _mapping(triggers.get("push") or {}, "the push trigger")
    assert "main" in _as_list(push.get("branches"))
    assert "pull_request" in triggers


def test_permissions_are_read_only(workflow: dict[Any, Any], jobs: dict[str, dict[Any, Any]]) -> None:
    assert workflow.get("permissions") == {"contents": "read"}
    for name, job in jobs.items():
        granted = _mapping(job.get("permissions") or {}, f"permissions of {name}")
        assert set(granted.values()) <= {"read", "none"}, f"job {name} asks for write access: {granted}"


def test_every_job_has_a_timeout(jobs: dict[str, dict[Any, Any]]) -> None:
    for name, job in jobs.items():
        assert isinstance(job.get("timeout-minutes"), int), f"job {name} has no timeout-minutes"


def _uses(text: str) -> list[tuple[str, str, str]]:
    """Each `uses:` line of the workflow file as (action, ref, the comment after it)."""
    return re.findall(r"^\s*(?:-\s+)?uses:\s*([^@\s]+)@(\S+)[ \t]*(?:#[ \t]*(.*))?$", text, re.MULTILINE)


@pytest.fixture(scope="module")
def uses() -> list[tuple[str, str, str]]:
    return _uses(WORKFLOW_FILE.read_text(encoding="utf-8"))


def test_every_uses_line_is_read(jobs: dict[str, dict[Any, Any]], uses: list[tuple[str, str, str]]) -> None:
    steps = [step for job in jobs.values() for step in _steps(job) if "uses" in step]
    assert [f"{action}@{ref}" for action, ref, _ in uses] == [str(step["uses"]) for step in steps]


def test_every_action_is_pinned_to_a_full_commit_sha(uses: list[tuple[str, str, str]]) -> None:
    # A tag can be moved to other code; a commit cannot.
    assert uses
    for action, ref, _ in uses:
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{action}@{ref} is not pinned to a full commit SHA"


@pytest.mark.parametrize(("action", "minimum"), sorted(MINIMUM_MAJOR.items()), ids=sorted(MINIMUM_MAJOR))
def test_actions_are_pinned_at_or_above_their_node24_major(
    uses: list[tuple[str, str, str]], action: str, minimum: int
) -> None:
    # The release a SHA stands for is in its comment, which Dependabot updates with the SHA.
    versions = [comment for name, _, comment in uses if name == action]
    assert versions, f"the workflow does not use {action}"
    for version in versions:
        match = re.fullmatch(r"v(\d+)(\.\d+)*", version)
        assert match, f"{action}'s SHA should name its release, such as v{minimum}.0.0, in a comment"
        assert int(match.group(1)) >= minimum, f"{action} {version} runs on Node 20: use v{minimum} or newer"


# The verification job


def test_verify_runs_the_steps_ci_runs(verify: dict[Any, Any]) -> None:
    # .ci/verify is shared with .ci/run, so the two cannot drift apart.
    commands = [words[1:] for words in _commands(verify, ".ci/verify")]
    assert ["checks"] in commands
    assert ["tests"] in commands


def test_verify_uses_the_python_production_runs(verify: dict[Any, Any]) -> None:
    # Railway's builder reads .python-version too.
    versions = [
        str(_mapping(step.get("with") or {}, "with").get("python-version-file"))
        for step in _steps(verify)
        if str(step.get("uses", "")).startswith("actions/setup-python@")
    ]
    assert versions == [".python-version"]
    assert (ROOT / ".python-version").read_text().strip() == "3.11"


def test_verify_tests_against_a_healthy_postgres_service(verify: dict[Any, Any]) -> None:
    service = _mapping(_mapping(verify.get("services"), "services").get("postgres"), "the postgres service")

    image = str(service["image"])
    match = re.fullmatch(r"postgres:(\d+)(\S*)", image)
    assert match, f"unexpected image {image}"
    assert int(match.group(1)) >= MINIMUM_POSTGRES_MAJOR

    options = " ".join(str(service.get("options", "")).split())
    health_command = re.search(r"--health-cmd[ =](\"[^\"]*\"|'[^']*'|\S+)", options)
    assert health_command, "the service has no health check"
    assert re.search(r"pg_isready .*(-U|--username)[ =]?\w+", health_command.group(1)), (
        "pg_isready should name the user, or it checks as root and logs an error every interval"
    )
    for option in ("--health-interval", "--health-timeout", "--health-retries"):
        assert option in options

    ports = [str(port) for port in _as_list(service.get("ports"))]
    url = urlsplit(str(_env(verify)["TEST_DATABASE_URL"]))
    assert url.scheme in {"postgresql", "postgres"}
    assert url.hostname in {"localhost", "127.0.0.1"}
    assert f"{url.port}:5432" in ports, f"{url.port} is not mapped to the service's 5432: {ports}"
    password = _mapping(service.get("env"), "the service's env").get("POSTGRES_PASSWORD")
    assert password, "the postgres image refuses to start without POSTGRES_PASSWORD"
    assert url.username == "postgres"
    assert url.password == str(password)


def test_verify_fails_on_skipped_tests(verify: dict[Any, Any]) -> None:
    assert str(_env(verify).get("CI")).lower() == "true"


# The deploy job: the gate


def test_deploy_needs_every_other_job(jobs: dict[str, dict[Any, Any]], deploy: dict[Any, Any]) -> None:
    assert set(_as_list(deploy.get("needs"))) == set(jobs) - {DEPLOY_JOB}


def test_deploy_runs_only_on_a_push_to_main(deploy: dict[Any, Any]) -> None:
    condition = _expression(deploy.get("if", ""))
    clauses = {clause.strip() for clause in condition.split("&&")}
    assert clauses == {"github.event_name == 'push'", "github.ref == 'refs/heads/main'"}, condition
    # always(), failure() or cancelled() would let it run after a failed verification.
    assert not re.search(r"always\(|failure\(|cancelled\(|\|\|", condition)


def test_deploy_targets_the_production_environment(deploy: dict[Any, Any]) -> None:
    environment = deploy.get("environment")
    name = _mapping(environment, "environment").get("name") if isinstance(environment, dict) else environment
    assert name == "production"


def test_deploys_run_one_at_a_time_and_are_never_cancelled(
    workflow: dict[Any, Any], deploy: dict[Any, Any]
) -> None:
    concurrency = _mapping(deploy.get("concurrency"), "the deploy job's concurrency")
    assert str(concurrency.get("group", "")).strip()
    assert concurrency.get("cancel-in-progress") is False

    # The workflow's own group may cancel superseded pull-request runs, never a run on main.
    cancel = _mapping(workflow.get("concurrency") or {}, "the workflow's concurrency").get(
        "cancel-in-progress"
    )
    assert cancel in {None, False} or _expression(cancel) == "github.event_name == 'pull_request'", cancel


def _step_running(job: dict[Any, Any], program: str) -> dict[Any, Any]:
    found = [step for step in _steps(job) if program in str(step.get("run", ""))]
    assert len(found) == 1, f"{len(found)} steps run {program!r}"
    return found[0]


def test_deploy_installs_the_pinned_railway_cli_from_its_lock_file(deploy: dict[Any, Any]) -> None:
    installs = _commands(deploy, "npm ci")
    assert len(installs) == 1, installs
    install = installs[0]
    assert install[install.index("--prefix") + 1] == ".ci/railway-cli"
    # npm 12 skips install scripts that package.json does not allow; strict makes any other script an error.
    assert "--strict-allow-scripts" in install
    assert not {"--ignore-scripts", "--dangerously-allow-all-scripts"} & set(install)
    assert not _commands(deploy, "npm install")


def test_only_the_cli_may_run_an_install_script() -> None:
    package = json.loads((CLI_DIRECTORY / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((CLI_DIRECTORY / "package-lock.json").read_text(encoding="utf-8"))
    pinned = package["dependencies"]["@railway/cli"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), f"@railway/cli {pinned} is a range, not a version"
    assert lock["packages"]["node_modules/@railway/cli"]["version"] == pinned
    assert package["allowScripts"] == {"@railway/cli": True}
    with_scripts = {name for name, entry in lock["packages"].items() if entry.get("hasInstallScript")}
    assert with_scripts == {"node_modules/@railway/cli"}
    assert all(entry.get("integrity") for name, entry in lock["packages"].items() if name)


def test_deploy_pins_node_where_the_cli_is_pinned(deploy: dict[Any, Any]) -> None:
    setups = [step for step in _steps(deploy) if str(step.get("uses", "")).startswith("actions/setup-node@")]
    assert len(setups) == 1
    options = _mapping(setups[0].get("with"), "setup-node's inputs")
    assert options.get("node-version-file") == ".ci/railway-cli/package.json"
    # No cache in a job that holds the production token: nothing restored from a cache runs there.
    assert options.get("package-manager-cache") is False
    engines = json.loads((CLI_DIRECTORY / "package.json").read_text(encoding="utf-8"))["engines"]
    assert re.fullmatch(r"\d+", engines["node"]), engines


def test_deploy_runs_the_deploy_script_where_railway_sdk_is_installed(deploy: dict[Any, Any]) -> None:
    # The CLI evaluates .railway/railway.py with the python3 on PATH; `poetry run` puts the project's first.
    assert _commands(deploy, "poetry run .ci/deploy") == [["poetry", "run", ".ci/deploy"]]
    installs = _commands(deploy, "poetry install")
    assert len(installs) == 1
    assert installs[0][installs[0].index("--only") + 1] == "deploy"
    scripts = _scripts(deploy)
    order = [
        next(i for i, script in enumerate(scripts) if word in script) for word in ("npm ci", ".ci/deploy")
    ]
    assert order == sorted(order), "the CLI must be installed before the deploy script runs"


def test_deploy_runs_only_on_the_tip_of_main(deploy: dict[Any, Any]) -> None:
    tip = _step_running(deploy, "gh api")
    assert tip.get("id") == "tip"
    steps = _steps(deploy)
    after = steps[steps.index(tip) + 1 :]
    assert after
    for step in after:
        assert _expression(step.get("if", "")) == "steps.tip.outputs.current == 'true'", step


def test_the_token_reaches_the_deploy_step_alone_and_the_service_is_fixed(
    jobs: dict[str, dict[Any, Any]], deploy: dict[Any, Any]
) -> None:
    variables = _env(deploy)
    # Only the step that runs .ci/deploy gets the token, not the steps that run install scripts before it.
    assert "RAILWAY_TOKEN" not in variables
    holders = [step for step in _steps(deploy) if "RAILWAY_TOKEN" in _env(deploy, step)]
    assert holders == [_step_running(deploy, ".ci/deploy")]
    token = _env(deploy, holders[0])["RAILWAY_TOKEN"]
    assert " ".join(str(token).split()) == "${{ secrets.RAILWAY_TOKEN }}"
    # The service is the one .railway/railway.py declares (test_railway_iac.py checks they agree).
    assert re.fullmatch(r"[\w-]+", str(variables.get("RAILWAY_SERVICE")))
    # Only this job gets the token: the verification job runs the pull requests' code.
    for name, job in jobs.items():
        if name != DEPLOY_JOB:
            assert "secrets." not in yaml.safe_dump(job), f"job {name} reads a secret"


# The offline validators, also run by pre-commit, run here too


@pytest.mark.parametrize(
    "arguments",
    [
        ["actionlint"],
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows"],
        ["check-jsonschema", "--builtin-schema", "custom.github-workflows-require-timeout"],
    ],
    ids=["actionlint", "github-workflows-schema", "github-workflows-require-timeout"],
)
def test_workflow_passes_the_validators(arguments: list[str]) -> None:
    # The tools come with the dev dependencies, beside the interpreter running the tests.
    executable = Path(sys.executable).parent / arguments[0]
    assert executable.exists(), f"{executable} is missing: run `poetry install`"
    result = subprocess.run(
        [str(executable), *arguments[1:], str(WORKFLOW_FILE.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "arguments",
    [
        ["zizmor", "--offline", ".github/"],
        ["check-jsonschema", "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml"],
    ],
    ids=["zizmor", "dependabot-schema"],
)
def test_the_supply_chain_audits_pass(arguments: list[str]) -> None:
    # zizmor at its default persona, with no finding suppressed (the repository has no zizmor config).
    executable = Path(sys.executable).parent / arguments[0]
    assert executable.exists(), f"{executable} is missing: run `poetry install`"
    assert not list((ROOT / ".github").glob("zizmor.y*ml"))
    result = subprocess.run(
        [str(executable), *arguments[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_moves_every_pin_forward() -> None:
    config = _mapping(yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text(encoding="utf-8")), "")
    updates = {(update["package-ecosystem"], update["directory"]) for update in config["updates"]}
    # The actions' SHAs, the Poetry lock (Dependabot's pip updater reads poetry.lock), and the Railway CLI.
    assert updates == {("github-actions", "/"), ("pip", "/"), ("npm", "/.ci/railway-cli")}
