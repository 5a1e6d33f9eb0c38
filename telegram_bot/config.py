"""Settings, read from the environment and a `.env` file.

Each section is its own class so that a command needs only the variables it uses: `alembic upgrade head`
runs with `DATABASE_URL` alone, while the bot also needs its token.
"""

from __future__ import annotations

import sys
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BeforeValidator, HttpUrl, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

ASYNC_DRIVER = "postgresql+asyncpg"
_ACCEPTED_SCHEMES = ("postgres", "postgresql", "postgresql+asyncpg")


class ConfigurationError(Exception):
    """Settings are missing or invalid; the message names every offending variable and no value."""


def parse_database_url(value: str) -> URL:
    """Parse a PostgreSQL URL in any form Railway, Heroku or a developer writes it, as an asyncpg URL."""
    try:
        url = make_url(value)
    except ArgumentError:
        # SQLAlchemy's message repeats the URL, password included.
        raise ValueError("is not a URL of the form postgresql://user:password@host:port/dbname") from None
    if url.drivername not in _ACCEPTED_SCHEMES:
        accepted = ", ".join(f"{scheme}://" for scheme in _ACCEPTED_SCHEMES)
        raise ValueError(f"must start with one of {accepted}")
    if not url.database:
        raise ValueError("names no database")
    return url.set(drivername=ASYNC_DRIVER)


def _normalise_database_url(value: SecretStr) -> SecretStr:
    url = parse_database_url(value.get_secret_value())
    return SecretStr(url.render_as_string(hide_password=False))


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _check_token(value: SecretStr) -> SecretStr:
    bot_id, _, secret = value.get_secret_value().partition(":")
    if not (bot_id.isdigit() and secret and secret.replace("_", "").replace("-", "").isalnum()):
        raise ValueError("is not a bot token of the form 123456789:AAE... (ask @BotFather for one)")
    return value


def _default_log_format() -> Literal["console", "json"]:
    """Readable lines for a person at a terminal, JSON lines for a log collector."""
    return "console" if sys.stderr.isatty() else "json"


DatabaseUrl = Annotated[SecretStr, AfterValidator(_normalise_database_url)]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)]
BotToken = Annotated[SecretStr, AfterValidator(_check_token)]


class _Section(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")


class DatabaseSettings(_Section):
    database_url: DatabaseUrl

    @property
    def url(self) -> URL:
        """The asyncpg URL, password included: hand it to SQLAlchemy, never to a log line."""
        return make_url(self.database_url.get_secret_value())


class LoggingSettings(_Section):
    log_level: LogLevel = "INFO"
    log_format: Literal["console", "json"] = _default_log_format()


class Settings(DatabaseSettings, LoggingSettings):
    telegram_token: BotToken
    telegram_api_url: HttpUrl | None = None

    def secrets(self) -> tuple[str, ...]:
        """Every value that must never reach a log line."""
        found = [self.telegram_token.get_secret_value()]
        if self.url.password:
            found.append(str(self.url.password))
        return tuple(found)


def describe_errors(error: ValidationError) -> str:
    """One line per offending variable, by its environment name, never echoing the value."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        variable = str(problem["loc"][0]).upper() if problem["loc"] else "settings"
        message = "is required but not set" if problem["type"] == "missing" else problem["msg"]
        message = message.removeprefix("Value error, ")
        lines.append(f"{variable} {message}")
    return "\n".join(lines)


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load(settings_class: type[SettingsT]) -> SettingsT:
    """Read one settings class, turning a validation failure into a ConfigurationError."""
    try:
        return settings_class()
    except ValidationError as error:
        raise ConfigurationError(describe_errors(error)) from None
