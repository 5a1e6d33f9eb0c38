"""Settings, read from the environment and a `.env` file.

Each section is its own class so that a command needs only the variables it uses: `alembic upgrade head`
runs with `DATABASE_URL` alone, while the bot also needs its token.
"""

from __future__ import annotations

import re
import sys
from typing import Annotated, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from telegram_bot.languages import SOURCE_LOCALE, supported_locales

ASYNC_DRIVER = "postgresql+asyncpg"
_ACCEPTED_SCHEMES = ("postgres", "postgresql", "postgresql+asyncpg")
_WEBHOOK_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class ConfigurationError(Exception):
    """Settings are missing or invalid; the message names every offending variable and no value."""


def parse_database_url(value: str) -> URL:
    """Parse a PostgreSQL URL in any form Railway, Heroku or a developer writes it, as an asyncpg URL."""
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        # SQLAlchemy's messages repeat parts of the URL: the whole of it, or a password it took for a port.
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


def _check_webhook_secret(value: SecretStr) -> SecretStr:
    if not _WEBHOOK_SECRET_PATTERN.fullmatch(value.get_secret_value()):
        raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
    return value


def _check_locale(value: str) -> str:
    supported = supported_locales()
    if value not in supported:
        raise ValueError(f"must be one of {', '.join(supported)}: the locales the bot has catalogs for")
    return value


def _default_log_format() -> Literal["console", "json"]:
    """Readable lines for a person at a terminal, JSON lines for a log collector."""
    return "console" if sys.stdout.isatty() else "json"


DatabaseUrl = Annotated[SecretStr, AfterValidator(_normalise_database_url)]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)]
BotToken = Annotated[SecretStr, AfterValidator(_check_token)]


class _Section(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")


class DatabaseSettings(_Section):
    database_url: DatabaseUrl
    # How long start-up waits for an unreachable PostgreSQL before giving up.
    database_wait_seconds: Annotated[float, Field(ge=0)] = 30.0

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
    # Telegram's flood limits, which the bot paces its messages under (telegram_bot/bot/pacing.py). A bot
    # allowed more (paid broadcasts) raises them; TELEGRAM_MESSAGES_PER_SECOND=0 turns pacing off.
    telegram_messages_per_second: Annotated[float, Field(ge=0)] = 30.0
    telegram_chat_messages_per_second: Annotated[float, Field(gt=0)] = 1.0
    telegram_group_messages_per_minute: Annotated[float, Field(gt=0)] = 20.0
    # How long one Bot API request may wait for pacing, a 429's pause and retries before it is given up.
    telegram_max_wait_seconds: Annotated[float, Field(gt=0)] = 20.0
    bot_mode: Literal["polling", "webhook"] = "polling"
    # Webhook mode only.
    host: str = "0.0.0.0"  # noqa: S104 - a container must listen on every interface
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    webhook_path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9/_.-]*$")] = "/webhook"
    webhook_secret: Annotated[SecretStr, AfterValidator(_check_webhook_secret)] | None = None
    webhook_base_url: HttpUrl | None = None
    # Telegram opens at most this many connections at once (its default is 40); the server handles at most as
    # many updates at once, which also bounds the database connections they hold.
    webhook_max_connections: Annotated[int, Field(ge=1, le=100)] = 40
    # How often webhook mode reads its registration from Telegram, to restore or report a lost one.
    webhook_watch_seconds: Annotated[float, Field(gt=0)] = 60.0
    railway_public_domain: str | None = None
    # The language of users whose Telegram language the bot does not speak, or who send none.
    default_locale: Annotated[str, AfterValidator(_check_locale)] = SOURCE_LOCALE

    @model_validator(mode="after")
    def _webhook_needs_secret_and_url(self) -> Self:
        if self.bot_mode == "webhook":
            if self.webhook_secret is None:
                raise ValueError("WEBHOOK_SECRET is required when BOT_MODE=webhook")
            if self.webhook_url is None:
                raise ValueError("WEBHOOK_BASE_URL is required when BOT_MODE=webhook outside Railway")
        return self

    @property
    def webhook_url(self) -> str | None:
        """Where Telegram posts updates: WEBHOOK_BASE_URL, else Railway's public domain, plus WEBHOOK_PATH."""
        if self.webhook_base_url is not None:
            base = str(self.webhook_base_url).rstrip("/")
        elif self.railway_public_domain:
            base = f"https://{self.railway_public_domain}"
        else:
            return None
        return base + self.webhook_path

    def secrets(self) -> tuple[str, ...]:
        """Every value that must never reach a log line."""
        found = [self.telegram_token.get_secret_value()]
        if self.url.password:
            found.append(str(self.url.password))
        if self.webhook_secret is not None:
            found.append(self.webhook_secret.get_secret_value())
        return tuple(found)


def describe_errors(error: ValidationError) -> str:
    """One line per offending variable, by its environment name, never echoing the value."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        message = "is required but not set" if problem["type"] == "missing" else problem["msg"]
        message = message.removeprefix("Value error, ")
        # A rule over several variables (a model validator) names them in its message.
        lines.append(f"{str(problem['loc'][0]).upper()} {message}" if problem["loc"] else message)
    return "\n".join(lines)


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load(settings_class: type[SettingsT]) -> SettingsT:
    """Read one settings class, turning a validation failure into a ConfigurationError."""
    try:
        return settings_class()
    except ValidationError as error:
        raise ConfigurationError(describe_errors(error)) from None
