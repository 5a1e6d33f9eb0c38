"""The bot token and the database password never reach the output, least of all when things fail.

Real `python -m telegram_bot` processes are run into failures (the database unreachable or unknown, the Bot
API rejecting the token, unreachable, vanishing or answering garbage that echoes the request URL, settings
that do not validate) and ALL their standard output and standard error are searched for the token, its
secret part and the password. Each test also checks the exit status and the line that says what went wrong.
In-process tests raise exceptions whose text carries both secrets through the real dispatcher and webhook
app, with logging configured as the program configures it, and read the log stream.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
import yarl
from aiogram import Bot
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict, CIMultiDictProxy
from sqlalchemy import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from conftest import Server, unique_name
from telegram_bot.bot import errors
from telegram_bot.bot.dispatcher import build_dispatcher
from telegram_bot.config import Settings
from telegram_bot.log import REDACTED, configure_logging
from telegram_bot.web import SECRET_HEADER, build_web_app
from tests.support.environment import TOKEN
from tests.support.fakes import FakeBotAPI, RecordingSession
from tests.support.locales import said
from tests.support.process import (
    WEBHOOK_SECRET,
    BotProcess,
    bot_environment,
    free_port,
    start_bot,
    stop_bot,
    update_json,
    webhook_environment,
)

PASSWORD = "Pa55-w0rd-XYZ"
TOKEN_SECRET = TOKEN.partition(":")[2]
# A token that does not validate, with a secret part of its own that must not be echoed either.
BAD_TOKEN_SECRET = "Zq9-Bad-Secret-Part-Xv7"
BAD_TOKEN = f"12345:{BAD_TOKEN_SECRET}!"
SECRETS = {
    "the token": TOKEN,
    "the token's secret part": TOKEN_SECRET,
    "the database password": PASSWORD,
    "the invalid token's secret part": BAD_TOKEN_SECRET,
}
# How long a process that should exit on its own gets to do so.
EXIT_SECONDS = 60.0


# A Bot API that is gone, or is none at all: the bot retries each request until TELEGRAM_MAX_WAIT_SECONDS
# (20 s by default) has passed, then reports the failure. What these tests read comes after that.
QUICK_GIVE_UP = {"TELEGRAM_MAX_WAIT_SECONDS": "1"}


async def run_command(
    environment: dict[str, str], cwd: Path, *arguments: str, fresh: bool = False
) -> tuple[int, str, str]:
    """Run the bot's command to its end: exit status, stdout, stderr.

    `fresh`: in a new interpreter (`python -m telegram_bot`), whose output includes what the interpreter
    itself writes while it shuts down; otherwise forked from the run's launcher (tests/support/launcher.py),
    which runs the same main() in its own process a few seconds sooner.
    """
    bot = await start_bot(environment, cwd, *arguments, fresh=fresh)
    try:
        status = await bot.wait(timeout=EXIT_SECONDS)
    finally:
        if bot.returncode is None:  # did not exit on its own in time: stop it; the test then fails
            await stop_bot(bot)
    return status, bot.stdout(), bot.stderr()


def leaks(**outputs: str) -> list[str]:
    """Which secret appears in which output: [] when none does (short: a failure must not print the logs)."""
    return [
        f"{name} in {where}"
        for where, output in outputs.items()
        for name, secret in SECRETS.items()
        if secret in output
    ]


def json_lines(stdout: str) -> list[dict[str, Any]]:
    """Every line of the log as JSON: a raw interpreter traceback would not parse."""
    lines = stdout.splitlines()
    parsed = []
    for number, line in enumerate(lines):
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"line {number + 1} of {len(lines)} is not a JSON log line: {line[:120]!r}")
    return parsed


def with_password(url: URL) -> URL:
    return url.set(password=PASSWORD)


def unreachable_database() -> URL:
    return URL.create(
        "postgresql+asyncpg", username="postgres", password=PASSWORD, host="127.0.0.1", port=1, database="x"
    )


async def serving(app: web.Application) -> AsyncIterator[str]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/"))
    finally:
        await server.close()


@pytest.fixture
async def rejecting_bot_api() -> AsyncIterator[str]:
    """A Bot API server that knows another bot: it answers 401 Unauthorized to ours."""
    async for url in serving(FakeBotAPI(token="999999:other-bot-token-XXXXXXXXXXXXXXXX").app()):
        yield url


async def echo_not_found(request: web.Request) -> web.Response:
    # What a misconfigured proxy answers: an HTML page repeating the path, token included.
    return web.Response(status=404, text=f"<html><h1>Not Found</h1><p>{request.path}</p></html>")


@pytest.fixture
async def echoing_bot_api() -> AsyncIterator[str]:
    """Not a Bot API at all: answers every request with an HTML page that repeats the request's path."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo_not_found)
    async for url in serving(app):
        yield url


# The database fails at start-up


@pytest.mark.parametrize("command", ["run", "check"])
@pytest.mark.parametrize("database", ["unreachable", "unknown"])
async def test_a_database_failure_at_start_up_names_the_problem_and_no_secret(
    postgresql_server: Server, tmp_path: Path, command: str, database: str
) -> None:
    if database == "unreachable":
        url = unreachable_database()
    else:  # a live server, a database it does not have, and a password (that it may or may not check)
        url = with_password(postgresql_server.url(unique_name("tb_missing")))
    environment = bot_environment(url, "http://127.0.0.1:1", DATABASE_WAIT_SECONDS="1")

    status, stdout, stderr = await run_command(environment, tmp_path, command)

    assert leaks(stdout=stdout, stderr=stderr) == []
    assert status == 1
    if command == "check":
        assert stdout.splitlines()[0] == "ok    settings: valid"
        assert stdout.splitlines()[-1].startswith("FAIL  database: ")
        return
    last = json_lines(stdout)[-1]
    assert last["level"] == "error"
    assert last["message"].startswith(
        "cannot start: PostgreSQL did not answer within 1 s"
        if database == "unreachable"
        else "cannot start: PostgreSQL refused the connection: "
    )
    assert "Traceback" not in stdout + stderr


# The Bot API fails


@pytest.mark.parametrize(
    ("mode", "log_format", "level"),
    [("polling", "json", "INFO"), ("webhook", "json", "INFO"), ("polling", "console", "DEBUG")],
    ids=["polling", "webhook", "polling-console-debug"],
)
async def test_a_token_the_bot_api_rejects_stops_the_bot_with_status_1_and_no_secret(
    rejecting_bot_api: str, isolated_database_url: URL, tmp_path: Path, mode: str, log_format: str, level: str
) -> None:
    settings = {"LOG_FORMAT": log_format, "LOG_LEVEL": level}
    environment = (
        webhook_environment(isolated_database_url, rejecting_bot_api, free_port(), **settings)
        if mode == "webhook"
        else bot_environment(isolated_database_url, rejecting_bot_api, **settings)
    )

    status, stdout, stderr = await run_command(environment, tmp_path)

    assert leaks(stdout=stdout, stderr=stderr) == []
    assert (status, stderr) == (1, "")
    message = "cannot start: Telegram rejected TELEGRAM_TOKEN (401 Unauthorized): check it with @BotFather"
    assert message in stdout
    assert "Traceback" not in stdout
    if log_format == "json":
        last = json_lines(stdout)[-1]
        assert (last["level"], last["message"]) == ("error", message)


async def test_an_unreachable_bot_api_at_start_up_stops_the_bot_with_status_1_and_no_secret(
    isolated_database_url: URL, tmp_path: Path
) -> None:
    # Polling begins with getWebhookInfo: nothing listens there, and the bot gives up once its retries have.
    environment = bot_environment(isolated_database_url, f"http://127.0.0.1:{free_port()}", **QUICK_GIVE_UP)
    status, stdout, stderr = await run_command(environment, tmp_path)

    assert leaks(stdout=stdout, stderr=stderr) == []
    assert status == 1
    last = json_lines(stdout)[-1]
    assert last["level"] == "error"
    assert last["message"].startswith(
        "cannot start: the Bot API did not accept the bot's set-up: TelegramNetworkError: HTTP Client says - "
        "ClientConnectorError: Cannot connect"
    )


def first_log(bot: BotProcess, prefix: str) -> dict[str, Any] | None:
    return next((entry for entry in bot.log() if str(entry["message"]).startswith(prefix)), None)


async def wait_for_log_starting(bot: BotProcess, prefix: str, timeout: float = 30) -> dict[str, Any]:
    """The first JSON log line whose event starts with `prefix` (aiogram's lines carry details after it)."""
    async with asyncio.timeout(timeout):
        while bot.returncode is None and first_log(bot, prefix) is None:
            await asyncio.sleep(0.05)  # polling the lines read so far, bounded by the timeout
    entry = first_log(bot, prefix)
    if entry is None:
        pytest.fail(f"the process ended without logging {prefix!r}")
    return entry


async def test_a_bot_api_that_goes_away_while_polling_is_retried_until_sigterm_and_no_secret(
    isolated_database_url: URL, tmp_path: Path
) -> None:
    api = FakeBotAPI(token=TOKEN)
    server = TestServer(api.app(), host="127.0.0.1")
    await server.start_server()
    api.queue_update(update_json("/help"))
    environment = bot_environment(isolated_database_url, str(server.make_url("/")), **QUICK_GIVE_UP)
    bot = await start_bot(environment, tmp_path)
    try:
        await api.wait_for_call("sendMessage")  # polling works
        await server.close()  # and now the Bot API is gone
        failure = await wait_for_log_starting(bot, "Failed to fetch updates")
        retry = await wait_for_log_starting(bot, "Sleep for")
    finally:
        await server.close()
        status, log = await stop_bot(bot)

    assert leaks(stdout=bot.stdout(), stderr=bot.stderr()) == []
    # aiogram keeps polling through the outage (logged, with backoff) until told to stop; then a clean stop.
    assert failure["level"] == "error"
    assert "TelegramNetworkError" in failure["message"]
    assert retry["level"] == "warning"
    assert status == 0
    assert log[-1]["message"] == "stopped"


async def test_a_bot_api_answer_that_echoes_the_token_is_logged_redacted(
    echoing_bot_api: str, isolated_database_url: URL, tmp_path: Path
) -> None:
    # aiogram puts the undecodable answer, which repeats /bot<token>/getWebhookInfo, into its error text.
    status, stdout, stderr = await run_command(
        bot_environment(isolated_database_url, echoing_bot_api, **QUICK_GIVE_UP), tmp_path, fresh=True
    )

    assert leaks(stdout=stdout, stderr=stderr) == []
    assert status == 1
    last = json_lines(stdout)[-1]
    assert last["level"] == "error"
    assert last["message"].startswith(
        "cannot start: the Bot API did not accept the bot's set-up: ClientDecodeError"
    )
    assert f"/bot{REDACTED}/getWebhookInfo" in last["message"]


# Settings that do not validate


@pytest.mark.parametrize(
    ("command", "variables", "expected"),
    [
        (
            "run",
            {"TELEGRAM_TOKEN": BAD_TOKEN, "DATABASE_URL": f"mysql://bot:{PASSWORD}@db.internal/bot"},
            [
                "Configuration error:",
                "DATABASE_URL must start with one of",
                "TELEGRAM_TOKEN is not a bot token",
            ],
        ),
        (
            "check",
            {"TELEGRAM_TOKEN": BAD_TOKEN, "DATABASE_URL": f"mysql://bot:{PASSWORD}@db.internal/bot"},
            [
                "FAIL  settings: DATABASE_URL must start with one of",
                "FAIL  settings: TELEGRAM_TOKEN is not a bot",
            ],
        ),
        # The host forgotten: SQLAlchemy reads user:password as host:port, and its error names the "port".
        (
            "run",
            {"DATABASE_URL": f"postgresql://postgres:{PASSWORD}/bot"},
            ["Configuration error:", "DATABASE_URL"],
        ),
        (
            "run",
            {"TELEGRAM_TOKEN": BAD_TOKEN_SECRET},
            ["Configuration error:", "TELEGRAM_TOKEN is not a bot token"],
        ),
    ],
    ids=["bad-token-and-scheme", "check-bad-token-and-scheme", "url-without-host", "token-without-bot-id"],
)
async def test_invalid_settings_name_the_variable_and_never_echo_the_value(
    tmp_path: Path, command: str, variables: dict[str, str], expected: list[str]
) -> None:
    environment = bot_environment(unreachable_database(), "http://127.0.0.1:1", **variables)

    status, stdout, stderr = await run_command(environment, tmp_path, command, fresh=True)

    assert leaks(stdout=stdout, stderr=stderr) == []
    # `run` exits 2 and writes to standard error; `check` reports each failure on standard output and exits 1.
    assert status == (1 if command == "check" else 2)
    report = (stdout if command == "check" else stderr).splitlines()
    assert [any(line.startswith(start) for line in report) for start in expected] == [True] * len(expected)
    assert "Traceback" not in stdout + stderr


# In process: exceptions that carry the secrets, through the real dispatcher and webhook app

DATABASE_URL = f"postgresql://postgres:{PASSWORD}@db.internal:5432/bot"
SECRET_BEARING_TEXT = f"cannot open {DATABASE_URL} on behalf of https://api.telegram.org/bot{TOKEN}/getMe"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Logging configured as `python -m telegram_bot` configures it, from real settings, into a string."""
    settings = Settings(telegram_token=TOKEN, database_url=DATABASE_URL, log_format="json", _env_file=None)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(settings.log_level, settings.log_format, settings.secrets(), stream=stream)
    try:
        yield stream
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


class FailingConnection(AbstractAsyncContextManager[AsyncConnection]):
    """What the dispatcher's connection factory hands out: opening it fails, the secrets in the text."""

    async def __aenter__(self) -> AsyncConnection:
        raise RuntimeError(SECRET_BEARING_TEXT)

    async def __aexit__(self, *_exc_info: object) -> None:
        return None


def failing_connections() -> AbstractAsyncContextManager[AsyncConnection]:
    return FailingConnection()


def log_entries(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_a_handler_failure_is_logged_redacted_by_the_real_dispatcher(log_stream: io.StringIO) -> None:
    session = RecordingSession()
    bot = Bot(TOKEN, session=session)
    dispatcher = build_dispatcher(failing_connections, redeliverable=False)
    update = Update.model_validate(update_json(), context={"bot": bot})

    await dispatcher.feed_update(bot, update)

    assert leaks(log=log_stream.getvalue()) == []
    (failure,) = [entry for entry in log_entries(log_stream) if entry["message"] == "update failed"]
    assert (failure["level"], failure["update_id"]) == ("error", update.update_id)
    assert (
        f"RuntimeError: cannot open postgresql://postgres:{REDACTED}@db.internal:5432/bot"
        in failure["exception"]
    )
    assert f"https://api.telegram.org/bot{REDACTED}/getMe" in failure["exception"]
    assert session.sent_texts() == [said("en", errors.failed_text)]


class FailingSession(RecordingSession):
    """A session whose every call fails the way aiohttp does, with the request's URL, token included."""

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        self.calls.append(method)
        url = yarl.URL(f"https://api.telegram.org/bot{bot.token}/{method.__api_method__}")
        request = aiohttp.RequestInfo(url, "POST", CIMultiDictProxy(CIMultiDict()), url)
        raise aiohttp.ClientResponseError(request, (), status=502, message="Bad Gateway")


async def test_a_failure_outside_the_error_handler_is_logged_redacted_by_the_webhook(
    log_stream: io.StringIO, shared_engine: AsyncEngine
) -> None:
    # The handler fails (the password in the text), then telling the user fails too (the token in the text):
    # the error escapes the dispatcher, and the webhook logs it and answers 500 for Telegram to deliver again.
    bot = Bot(TOKEN, session=FailingSession())
    dispatcher = build_dispatcher(failing_connections, redeliverable=True)
    app = build_web_app(dispatcher, bot, shared_engine, webhook_path="/webhook", secret_token=WEBHOOK_SECRET)
    update = update_json()
    async with TestClient(TestServer(app, host="127.0.0.1")) as http:
        response = await http.post("/webhook", json=update, headers={SECRET_HEADER: WEBHOOK_SECRET})

    assert leaks(log=log_stream.getvalue()) == []
    assert response.status == 500
    entries = {entry["message"]: entry for entry in log_entries(log_stream)}
    handler_failure = entries["update failed"]
    escaped = entries["update failed outside the error handler"]
    assert handler_failure["update_id"] == escaped["update_id"] == update["update_id"]
    assert f"postgres:{REDACTED}@db.internal" in handler_failure["exception"]
    assert f"url='https://api.telegram.org/bot{REDACTED}/sendMessage'" in escaped["exception"]
    assert f"postgres:{REDACTED}@db.internal" in escaped["exception"]  # the chained cause, redacted too
