from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from telegram_bot.config import (
    ConfigurationError,
    DatabaseSettings,
    LoggingSettings,
    Settings,
    load,
)
from tests.support.environment import SETTINGS_PREFIXES, TOKEN

UNKNOWN_LOCALE = "DEFAULT_LOCALE must be one of en, ru: the locales the bot has catalogs for"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable from the developer's shell and no `.env` from the checkout leaks into these tests."""
    for name in [name for name in os.environ if name.startswith(SETTINGS_PREFIXES)]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:s3cret@db.internal:5432/bot")


@pytest.mark.parametrize(
    "given",
    [
        "postgres://bot:s3cret@db.internal:5432/bot",
        "postgresql://bot:s3cret@db.internal:5432/bot",
        "postgresql+asyncpg://bot:s3cret@db.internal:5432/bot",
    ],
)
def test_database_url_is_normalised_to_asyncpg(monkeypatch: pytest.MonkeyPatch, given: str) -> None:
    monkeypatch.setenv("DATABASE_URL", given)

    settings = load(DatabaseSettings)

    assert settings.url.render_as_string(hide_password=False) == (
        "postgresql+asyncpg://bot:s3cret@db.internal:5432/bot"
    )


@pytest.mark.usefixtures("required")
def test_defaults() -> None:
    settings = load(Settings)

    assert settings.log_level == "INFO"
    assert settings.telegram_api_url is None
    assert settings.telegram_token.get_secret_value() == TOKEN
    assert settings.secrets() == (TOKEN, "s3cret")
    assert settings.default_locale == "en"


def test_values_come_from_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"TELEGRAM_TOKEN={TOKEN}\nDATABASE_URL=postgres://u:p@h/d\nLOG_LEVEL=debug\nLOG_FORMAT=json\n"
    )

    settings = load(Settings)

    assert (settings.url.drivername, settings.log_level, settings.log_format) == (
        "postgresql+asyncpg",
        "DEBUG",
        "json",
    )


def test_the_environment_wins_over_the_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=DEBUG\n")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")

    assert load(LoggingSettings).log_level == "ERROR"


@pytest.mark.usefixtures("required")
def test_secrets_are_hidden_in_repr() -> None:
    shown = repr(load(Settings))

    assert TOKEN not in shown
    assert "s3cret" not in shown


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TELEGRAM_TOKEN", None, "TELEGRAM_TOKEN is required but not set"),
        ("DATABASE_URL", None, "DATABASE_URL is required but not set"),
        ("TELEGRAM_TOKEN", "not-a-token", "TELEGRAM_TOKEN is not a bot token"),
        ("TELEGRAM_TOKEN", "123:has spaces", "TELEGRAM_TOKEN is not a bot token"),
        ("DATABASE_URL", "mysql://u:p@h/d", "DATABASE_URL must start with one of postgres://"),
        ("DATABASE_URL", "postgresql://u:p@h", "DATABASE_URL names no database"),
        ("DATABASE_URL", "::not a url::", "DATABASE_URL is not a URL"),
        ("TELEGRAM_API_URL", "localhost:8081", "TELEGRAM_API_URL"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT"),
        ("DEFAULT_LOCALE", "de", UNKNOWN_LOCALE),
        ("DEFAULT_LOCALE", "ru-RU", UNKNOWN_LOCALE),
        ("DEFAULT_LOCALE", "", UNKNOWN_LOCALE),
    ],
)
@pytest.mark.usefixtures("required")
def test_each_invalid_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str | None, message: str
) -> None:
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigurationError) as raised:
        load(Settings)

    assert message in str(raised.value)
    assert len(str(raised.value).splitlines()) == 1


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigurationError) as raised:
        load(Settings)

    assert str(raised.value).splitlines() == [
        "DATABASE_URL is required but not set",
        "TELEGRAM_TOKEN is required but not set",
    ]


def test_the_command_line_exits_2_naming_the_variable_and_never_the_token(tmp_path: Path) -> None:
    secret_part = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    result = subprocess.run(
        [sys.executable, "-m", "telegram_bot"],
        env={
            "TELEGRAM_TOKEN": f"12345:{secret_part} with a space",
            "DEFAULT_LOCALE": "de",
            "PATH": "/usr/bin:/bin",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert "DATABASE_URL is required but not set" in result.stderr
    assert "TELEGRAM_TOKEN is not a bot token" in result.stderr
    assert UNKNOWN_LOCALE in result.stderr
    assert "Traceback" not in result.stderr
    assert secret_part not in result.stderr


@pytest.mark.usefixtures("required")
@pytest.mark.parametrize("locale", ["en", "ru"])
def test_any_locale_with_a_catalog_can_be_the_default(monkeypatch: pytest.MonkeyPatch, locale: str) -> None:
    monkeypatch.setenv("DEFAULT_LOCALE", locale)

    assert load(Settings).default_locale == locale


@pytest.mark.usefixtures("required")
def test_webhook_mode_needs_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_MODE", "webhook")
    monkeypatch.setenv("WEBHOOK_BASE_URL", "https://bot.example.com")

    with pytest.raises(ConfigurationError, match=r"^WEBHOOK_SECRET is required when BOT_MODE=webhook$"):
        load(Settings)


@pytest.mark.usefixtures("required")
def test_webhook_mode_needs_a_public_url_outside_railway(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_MODE", "webhook")
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret")

    with pytest.raises(
        ConfigurationError, match=r"^WEBHOOK_BASE_URL is required when BOT_MODE=webhook outside"
    ):
        load(Settings)


@pytest.mark.usefixtures("required")
@pytest.mark.parametrize(
    ("environment", "url"),
    [
        ({"RAILWAY_PUBLIC_DOMAIN": "bot.up.railway.app"}, "https://bot.up.railway.app/webhook"),
        (
            {"WEBHOOK_BASE_URL": "https://bot.example.com/", "WEBHOOK_PATH": "/tg/hook"},
            "https://bot.example.com/tg/hook",
        ),
        (
            {"WEBHOOK_BASE_URL": "https://own.example.com", "RAILWAY_PUBLIC_DOMAIN": "bot.up.railway.app"},
            "https://own.example.com/webhook",
        ),
    ],
    ids=["railway", "explicit", "explicit-wins"],
)
def test_the_webhook_url(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], url: str) -> None:
    monkeypatch.setenv("BOT_MODE", "webhook")
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    assert load(Settings).webhook_url == url


@pytest.mark.usefixtures("required")
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WEBHOOK_SECRET", "has spaces"),
        ("WEBHOOK_SECRET", "x" * 257),
        ("WEBHOOK_MAX_CONNECTIONS", "0"),
        ("WEBHOOK_MAX_CONNECTIONS", "101"),
        ("WEBHOOK_WATCH_SECONDS", "-5"),
        ("WEBHOOK_WATCH_SECONDS", "soon"),
        ("PORT", "70000"),
        ("WEBHOOK_PATH", "no-leading-slash"),
        ("BOT_MODE", "push"),
    ],
)
def test_invalid_webhook_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigurationError) as raised:
        load(Settings)

    assert str(raised.value).startswith(variable)
    assert value not in str(raised.value)
