""".railway/railway.py, rendered offline the way the Railway CLI evaluates it, and the graph it declares.

The file replaces railway.toml: it must still migrate before a new deployment starts, switch traffic only once
the bot is ready, restart a crashed bot a bounded number of times, let the old deployment finish its updates,
and give the bot its database, by reference, and its mode. Secrets never appear in it. These tests need no
database and no network.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
import yaml

from telegram_bot.config import Settings, load
from telegram_bot.runner import SHUTDOWN_GRACE_SECONDS
from tests.deploy.iac import IAC_FILE, ROOT, render

# The fields of a service's deploy and build settings in an environment's config (railwayapp/cli 5.43.1,
# src/controllers/config/environment.rs: DeployConfig, BuildConfig). The SDK passes `deploy` and `build`
# through unchecked, so a misspelt key would otherwise be dropped without a word.
DEPLOY_KEYS = {
    "startCommand",
    "preDeployCommand",
    "healthcheckPath",
    "healthcheckTimeout",
    "ipv6EgressEnabled",
    "numReplicas",
    "multiRegionConfig",
    "cronSchedule",
    "restartPolicyType",
    "restartPolicyMaxRetries",
    "sleepApplication",
    "registryCredentials",
    "limitOverride",
    "requiredMountPath",
    "overlapSeconds",
    "drainingSeconds",
}
BUILD_KEYS = {
    "builder",
    "buildCommand",
    "buildEnvironment",
    "dockerfilePath",
    "watchPatterns",
    "nixpacksConfigPath",
    "nixpacksPlan",
    "nixpacksVersion",
    "railpackVersion",
}
RESTART_POLICIES = {"ON_FAILURE", "ALWAYS", "NEVER"}
SECRETS = {"TELEGRAM_TOKEN", "WEBHOOK_SECRET"}
PLAIN_VALUES = {"BOT_MODE": "webhook", "LOG_FORMAT": "json"}


@pytest.fixture(scope="module")
def graph() -> dict[str, Any]:
    return render(sys.executable)


def _resources(graph: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [resource for resource in graph["resources"] if resource["type"] == kind]


@pytest.fixture(scope="module")
def database(graph: dict[str, Any]) -> dict[str, Any]:
    databases = _resources(graph, "database")
    assert len(databases) == 1, databases
    return databases[0]


@pytest.fixture(scope="module")
def bot(graph: dict[str, Any]) -> dict[str, Any]:
    services = _resources(graph, "service")
    assert len(services) == 1, services
    return services[0]


def test_the_file_is_where_the_cli_looks_and_alone(graph: dict[str, Any]) -> None:
    # The CLI refuses to choose between .railway/railway.{ts,py,go}, and no longer reads railway.toml.
    assert IAC_FILE == ROOT / ".railway" / "railway.py"
    assert not (ROOT / ".railway" / "railway.ts").exists()
    assert not (ROOT / ".railway" / "railway.go").exists()
    assert not (ROOT / "railway.toml").exists()
    assert not (ROOT / "railway.json").exists()
    assert {resource["type"] for resource in graph["resources"]} == {"database", "service"}


def test_a_postgres_database(database: dict[str, Any]) -> None:
    assert database["engine"] == "postgres"
    assert database["output"] == "DATABASE_URL"


def test_the_bot_is_built_with_railpack_and_started(bot: dict[str, Any]) -> None:
    assert set(bot["build"]) <= BUILD_KEYS, set(bot["build"]) - BUILD_KEYS
    assert bot["build"]["builder"] == "RAILPACK"
    assert bot["deploy"]["startCommand"] == "python -m telegram_bot"


def test_the_deploy_settings_are_ones_railway_knows(bot: dict[str, Any]) -> None:
    assert set(bot["deploy"]) <= DEPLOY_KEYS, set(bot["deploy"]) - DEPLOY_KEYS


def test_migrations_run_before_the_new_deployment_starts(bot: dict[str, Any]) -> None:
    assert bot["deploy"]["preDeployCommand"] == ["alembic upgrade head"]


def test_traffic_switches_only_when_the_bot_is_ready(bot: dict[str, Any]) -> None:
    assert bot["deploy"]["healthcheckPath"] == "/readyz"
    timeout = bot["deploy"]["healthcheckTimeout"]
    assert isinstance(timeout, int)
    assert timeout > 0


def test_a_crashed_bot_is_restarted_a_bounded_number_of_times(bot: dict[str, Any]) -> None:
    assert bot["deploy"]["restartPolicyType"] in RESTART_POLICIES
    assert bot["deploy"]["restartPolicyType"] == "ON_FAILURE"
    retries = bot["deploy"]["restartPolicyMaxRetries"]
    assert isinstance(retries, int)
    assert retries >= 1


def test_the_old_deployment_may_finish_its_updates(bot: dict[str, Any]) -> None:
    # Railway's default is SIGKILL right after SIGTERM; the bot stops gracefully within its grace period.
    draining = bot["deploy"]["drainingSeconds"]
    assert isinstance(draining, int)
    assert draining > SHUTDOWN_GRACE_SECONDS


def test_the_database_url_is_a_reference_to_the_database(
    bot: dict[str, Any], database: dict[str, Any]
) -> None:
    assert bot["variables"]["DATABASE_URL"] == {
        "type": "reference",
        "resource": database["address"],
        "output": "DATABASE_URL",
    }


def test_the_bot_runs_as_a_webhook_and_logs_json(bot: dict[str, Any]) -> None:
    for name, value in PLAIN_VALUES.items():
        assert bot["variables"][name] == {"type": "literal", "value": value}


def test_no_secret_value_is_in_the_file(bot: dict[str, Any]) -> None:
    variables = bot["variables"]
    for name in SECRETS:
        # Kept as set on Railway, or not managed here at all; never a value.
        assert variables.get(name, {"type": "preserve"}) == {"type": "preserve"}
    literals = {name for name, value in variables.items() if value["type"] not in {"reference", "preserve"}}
    assert literals == set(PLAIN_VALUES)


def test_the_bot_starts_in_the_environment_the_file_declares(
    bot: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What Railway gives the service: the file's literals, the database's URL for the reference, the secrets
    # set once, and the public domain. With nothing else, the bot's settings load in webhook mode.
    database_url = "postgresql://postgres:secret@postgres.railway.internal:5432/railway"
    secrets = {"TELEGRAM_TOKEN": "123456:" + "A" * 35, "WEBHOOK_SECRET": "s" * 32}
    monkeypatch.chdir(ROOT / ".railway")  # no .env file here
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, variable in bot["variables"].items():
        if variable["type"] == "literal":
            monkeypatch.setenv(name, variable["value"])
        elif variable["type"] == "reference":
            monkeypatch.setenv(name, database_url)
        else:
            monkeypatch.setenv(name, secrets[name])
    monkeypatch.setenv("RAILWAY_PUBLIC_DOMAIN", "bot-production.up.railway.app")

    settings = load(Settings)

    assert settings.bot_mode == "webhook"
    assert settings.webhook_url == "https://bot-production.up.railway.app/webhook"
    assert settings.url.drivername == "postgresql+asyncpg"


def test_the_deploy_job_deploys_the_service_the_file_declares(bot: dict[str, Any]) -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    assert workflow["jobs"]["deploy"]["env"]["RAILWAY_SERVICE"] == bot["name"]
