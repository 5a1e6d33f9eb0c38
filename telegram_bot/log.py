"""Logging: one structlog pipeline for our own lines and for every standard-library logger.

structlog's own loggers hand their event dicts to the standard library, and one `ProcessorFormatter` on the
root handler renders both kinds the same way, so aiogram's, SQLAlchemy's, Alembic's and asyncio's lines carry
the same context (bound with `structlog.contextvars`) and pass the same redaction.

JSON lines are what Railway's log explorer reads (railwayapp/docs, observability/logs.md): the text under
`message`, the severity under `level`, every other key an attribute to filter on (`@update_id:7`), one
object a line, a traceback included. Every line goes to stdout: Railway counts a line on stderr as an error
whatever its level, and one stream keeps the lines in the order they were written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "***"

# A bot token anywhere (aiogram puts it into request URLs: .../bot<token>/getMe), and the password of any
# URL with credentials (scheme://user:password@host), configured secret or not.
_TOKEN_PATTERN = re.compile(r"(?<!\d)\d{3,}:[A-Za-z0-9_-]{20,}")
_URL_PASSWORD_PATTERN = re.compile(r"(?P<prefix>[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(?=@)")


class SecretRedactor:
    """A processor that masks known secrets and secret-shaped text in every string of an event."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so that a secret containing another is masked whole.
        self._secrets = sorted({secret for secret in secrets if secret}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _TOKEN_PATTERN.sub(REDACTED, text)
        return _URL_PASSWORD_PATTERN.sub(rf"\g<prefix>{REDACTED}", text)

    def _redact_value(self, value: object) -> object:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {key: self._redact_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._redact_value(item) for item in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        # Anything else is rendered through str() or repr() later: redact that text now.
        return self.redact(repr(value) if isinstance(value, BaseException) else str(value))

    def __call__(self, _logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
        return {key: self._redact_value(value) for key, value in event_dict.items()}


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _renderers(log_format: Literal["console", "json"]) -> list[Processor]:
    if log_format == "json":
        # structlog calls the text `event`; Railway reads it from `message` only.
        return [structlog.processors.EventRenamer("message"), structlog.processors.JSONRenderer()]
    return [
        structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback, sort_keys=False
        )
    ]


def configure_logging(
    level: str = "INFO",
    log_format: Literal["console", "json"] = "console",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Route structlog and the standard library through one pipeline that ends in `stream`."""
    shared = _shared_processors()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Exceptions become text before redaction, so a URL with a password inside one is masked too.
            structlog.processors.format_exc_info,
            SecretRedactor(secrets),
            *_renderers(log_format),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # At INFO, SQLAlchemy's engine logger echoes every statement, and aiogram's event logger writes a line per
    # update (a fifth of the cost of a /help): both speak at DEBUG only.
    for chatty in ("sqlalchemy.engine", "aiogram.event"):
        logging.getLogger(chatty).setLevel(logging.WARNING if root.level > logging.DEBUG else logging.DEBUG)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


__all__ = ["REDACTED", "SecretRedactor", "configure_logging", "get_logger"]
