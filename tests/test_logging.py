from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from telegram_bot.log import REDACTED, SecretRedactor, configure_logging, get_logger
from tests.support.environment import TOKEN

PASSWORD = "pa55-w0rd"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("DEBUG", "json", secrets=[TOKEN, PASSWORD], stream=stream)
    yield stream
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_structlog_lines_are_json_with_message_level_logger_and_time(output: io.StringIO) -> None:
    get_logger("telegram_bot.test").info("user registered", telegram_id=42)

    (line,) = lines(output)
    # Railway's log explorer reads the text from `message` only: structlog's `event` is renamed.
    assert "event" not in line
    assert line["message"] == "user registered"
    assert line["telegram_id"] == 42
    assert line["level"] == "info"
    assert line["logger"] == "telegram_bot.test"
    assert line["timestamp"].endswith("Z")


def test_standard_library_loggers_share_the_pipeline_and_the_context(output: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(update_id=7)

    logging.getLogger("aiogram.event").info("Update id=%s is handled", 7)
    get_logger("telegram_bot.test").info("ours")

    aiogram_line, our_line = lines(output)
    assert aiogram_line["message"] == "Update id=7 is handled"
    assert aiogram_line["logger"] == "aiogram.event"
    assert aiogram_line["update_id"] == 7
    assert our_line["update_id"] == 7


@pytest.mark.parametrize("method", ["debug", "info", "warning", "error", "critical"])
def test_each_level_is_named_as_railway_matches_it(output: io.StringIO, method: str) -> None:
    getattr(get_logger("telegram_bot.test"), method)("something")
    getattr(logging.getLogger("aiogram"), method)("something else")

    assert [line["level"] for line in lines(output)] == [method, method]


def test_an_exception_stays_inside_its_line(output: io.StringIO) -> None:
    try:
        raise ValueError("first line\nsecond line")
    except ValueError:
        get_logger("telegram_bot.test").exception("failed")

    (line,) = lines(output)
    assert (line["level"], line["message"]) == ("error", "failed")
    assert line["exception"].startswith("Traceback (most recent call last):\n")
    assert line["exception"].endswith("ValueError: first line\nsecond line")


def test_every_line_goes_to_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG", "json")
    try:
        get_logger("telegram_bot.test").info("fine")
        get_logger("telegram_bot.test").error("broken")
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()

    written = capsys.readouterr()
    assert [json.loads(line)["message"] for line in written.out.splitlines()] == ["fine", "broken"]
    assert written.err == ""


def test_levels_below_the_configured_one_are_dropped() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", "json", stream=stream)
    get_logger("telegram_bot.test").info("quiet")
    logging.getLogger("aiogram").info("quiet too")
    get_logger("telegram_bot.test").warning("loud")

    assert [line["message"] for line in lines(stream)] == ["loud"]


def test_configured_secrets_are_redacted_everywhere(output: io.StringIO) -> None:
    log = get_logger("telegram_bot.test")
    log.info("token %s in the message", TOKEN, nested={"url": f"https://api.telegram.org/bot{TOKEN}/getMe"})
    logging.getLogger("asyncpg").warning("password %s in an argument", PASSWORD)

    text = output.getvalue()
    assert TOKEN not in text
    assert PASSWORD not in text
    assert text.count(REDACTED) == 3


def test_exception_text_is_redacted(output: io.StringIO) -> None:
    url = f"postgresql://bot:{PASSWORD}@db.internal/bot"
    try:
        raise ConnectionError(f"cannot reach {url} for bot {TOKEN}")
    except ConnectionError:
        get_logger("telegram_bot.test").exception("start-up failed")

    (line,) = lines(output)
    assert (
        "ConnectionError: cannot reach postgresql://bot:***@db.internal/bot for bot ***" in line["exception"]
    )
    assert PASSWORD not in output.getvalue()
    assert TOKEN not in output.getvalue()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "https://api.telegram.org/bot987654:ZZHdqTcvCH1vGWJxfSeofSAs0K5PAL/getMe",
            "https://api.telegram.org/bot***/getMe",
        ),
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgresql+asyncpg://u:p%40ss@h:5432/d", "postgresql+asyncpg://u:***@h:5432/d"),
        (
            "no secrets here: 12:30 at https://example.org/a:b",
            "no secrets here: 12:30 at https://example.org/a:b",
        ),
    ],
)
def test_secret_shaped_text_is_redacted_even_when_not_configured(text: str, expected: str) -> None:
    assert SecretRedactor().redact(text) == expected


def test_console_format_is_readable_and_redacted() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "console", secrets=[TOKEN], stream=stream)

    get_logger("telegram_bot.test").info("started", token=TOKEN)

    text = stream.getvalue()
    assert "started" in text
    assert "token=***" in text
    assert not text.lstrip().startswith("{")
