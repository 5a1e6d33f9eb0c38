"""The real `python -m telegram_bot` process, pointed at a fake Bot API server with TELEGRAM_API_URL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import URL, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from conftest import Server, unique_name
from telegram_bot.bot import texts
from telegram_bot.db.models import User
from telegram_bot.web import SECRET_HEADER
from tests.bot.conftest import TOKEN
from tests.factories import MessageFactory, UpdateFactory
from tests.fakes import FakeBotAPI

SECRET = "runtime-test-secret"
SETTINGS_PREFIXES = ("TELEGRAM_", "DATABASE_", "LOG_", "BOT_", "WEBHOOK_", "RAILWAY_", "HOST", "PORT")


@pytest.fixture
async def bot_api() -> AsyncIterator[tuple[FakeBotAPI, str]]:
    api = FakeBotAPI(token=TOKEN)
    server = TestServer(api.app(), host="127.0.0.1")
    await server.start_server()
    yield api, str(server.make_url("/"))
    await server.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def bot_environment(database_url: URL, api_url: str, **extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_PREFIXES)}
    environment |= {
        "TELEGRAM_TOKEN": TOKEN,
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
        "TELEGRAM_API_URL": api_url,
        "LOG_FORMAT": "json",
        "DATABASE_WAIT_SECONDS": "2",
    }
    return environment | extra


async def start_bot(environment: dict[str, str], cwd: Path, *arguments: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "telegram_bot",
        *arguments,
        env=environment,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop_bot(process: asyncio.subprocess.Process) -> tuple[int, list[dict[str, Any]]]:
    """SIGTERM, then the exit status and the JSON log lines."""
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        _, stderr = await process.communicate()
    return process.returncode or 0, [json.loads(line) for line in stderr.decode().splitlines()]


async def stored_users(database_url: URL) -> list[tuple[int, str]]:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(User.telegram_id, User.first_name))
            return [tuple(row) for row in rows]  # type: ignore[misc]
    finally:
        await engine.dispose()


def start_update() -> dict[str, Any]:
    update = UpdateFactory.build(message=MessageFactory.build(text="/start"))
    body: dict[str, Any] = update.model_dump(mode="json", by_alias=True, exclude_none=True)
    return body


async def test_polling_answers_start_and_stops_cleanly_on_sigterm(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    update = start_update()
    api.queue_update(update)

    process = await start_bot(bot_environment(isolated_database_url, api_url), tmp_path)
    try:
        (sent,) = await api.wait_for_call("sendMessage")
    finally:
        status, log = await stop_bot(process)

    sender = update["message"]["from"]
    assert (int(sent["chat_id"]), sent["text"]) == (
        update["message"]["chat"]["id"],
        texts.welcome(sender["first_name"]),
    )
    assert await stored_users(isolated_database_url) == [(sender["id"], sender["first_name"])]
    assert api.calls_to("deleteWebhook")
    assert [command["command"] for command in api.calls_to("setMyCommands")[0]["commands"]] == [
        "start",
        "help",
    ]
    assert status == 0
    assert log[-1]["event"] == "stopped"
    assert TOKEN not in json.dumps(log)


async def test_webhook_mode_registers_its_webhook_answers_start_and_stops_cleanly(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    port = free_port()
    environment = bot_environment(
        isolated_database_url,
        api_url,
        BOT_MODE="webhook",
        WEBHOOK_SECRET=SECRET,
        RAILWAY_PUBLIC_DOMAIN="bot.example.test",
        HOST="127.0.0.1",
        PORT=str(port),
    )
    update = start_update()

    process = await start_bot(environment, tmp_path)
    try:
        (registration,) = await api.wait_for_call("setWebhook")
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            ready = await http.get("/readyz")
            answered = await http.post("/webhook", json=update, headers={SECRET_HEADER: SECRET})
        (sent,) = api.calls_to("sendMessage")
    finally:
        status, _ = await stop_bot(process)

    assert registration["url"] == "https://bot.example.test/webhook"
    assert registration["secret_token"] == SECRET
    assert registration["allowed_updates"] == ["message"]
    assert (ready.status, answered.status) == (200, 200)
    assert sent["text"] == texts.welcome(update["message"]["from"]["first_name"])
    sender = update["message"]["from"]
    assert await stored_users(isolated_database_url) == [(sender["id"], sender["first_name"])]
    assert status == 0


@pytest.fixture
def empty_database_url(postgresql_server: Server) -> Iterator[URL]:
    with postgresql_server.janitor(unique_name("tb_empty")) as janitor:
        yield postgresql_server.url(janitor.dbname)


async def run_to_exit(environment: dict[str, str], cwd: Path, *arguments: str) -> tuple[int, str, str]:
    process = await start_bot(environment, cwd, *arguments)
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate()
    return process.returncode or 0, stdout.decode(), stderr.decode()


async def test_start_up_gives_up_on_an_unreachable_database(empty_database_url: URL, tmp_path: Path) -> None:
    status, _, stderr = await run_to_exit(
        bot_environment(empty_database_url.set(port=1), "http://127.0.0.1:1", DATABASE_WAIT_SECONDS="1"),
        tmp_path,
    )

    assert status == 1
    last = json.loads(stderr.splitlines()[-1])
    assert last["level"] == "error"
    assert last["event"].startswith("cannot start: PostgreSQL did not answer within 1 s")
    assert "Traceback" not in stderr


async def test_start_up_refuses_a_schema_behind_the_code(empty_database_url: URL, tmp_path: Path) -> None:
    status, _, stderr = await run_to_exit(bot_environment(empty_database_url, "http://127.0.0.1:1"), tmp_path)

    assert status == 1
    assert "run `alembic upgrade head`" in json.loads(stderr.splitlines()[-1])["event"]


async def test_check_passes_on_a_migrated_database(isolated_database_url: URL, tmp_path: Path) -> None:
    status, stdout, _ = await run_to_exit(
        bot_environment(isolated_database_url, "http://127.0.0.1:1"), tmp_path, "check"
    )

    assert status == 0
    assert [line.split(":")[0] for line in stdout.splitlines()] == [
        "ok    settings",
        "ok    database",
        "ok    schema",
    ]


async def test_check_fails_on_a_database_behind_the_code(empty_database_url: URL, tmp_path: Path) -> None:
    status, stdout, _ = await run_to_exit(
        bot_environment(empty_database_url, "http://127.0.0.1:1"), tmp_path, "check"
    )

    assert status == 1
    assert stdout.splitlines()[-1].startswith("FAIL  schema: schema at no revision")
