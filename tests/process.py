"""Running the real `python -m telegram_bot` process in tests, against a fake Bot API server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import URL, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from telegram_bot.db.models import User
from tests.factories import MessageFactory, UpdateFactory

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
WEBHOOK_SECRET = "runtime-test-secret"
SETTINGS_PREFIXES = ("TELEGRAM_", "DATABASE_", "LOG_", "BOT_", "WEBHOOK_", "RAILWAY_", "HOST", "PORT")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def bot_environment(database_url: URL, api_url: str, **extra: str) -> dict[str, str]:
    """The process environment: this one without any of the bot's settings, then exactly the given ones."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_PREFIXES)}
    environment |= {
        "TELEGRAM_TOKEN": TOKEN,
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
        "TELEGRAM_API_URL": api_url,
        "LOG_FORMAT": "json",
        "DATABASE_WAIT_SECONDS": "2",
    }
    return environment | extra


def webhook_environment(database_url: URL, api_url: str, port: int, **extra: str) -> dict[str, str]:
    return bot_environment(
        database_url,
        api_url,
        BOT_MODE="webhook",
        WEBHOOK_SECRET=WEBHOOK_SECRET,
        RAILWAY_PUBLIC_DOMAIN="bot.example.test",
        HOST="127.0.0.1",
        PORT=str(port),
        **extra,
    )


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


async def run_to_exit(environment: dict[str, str], cwd: Path, *arguments: str) -> tuple[int, str, str]:
    """Run the command to its end: exit status, standard output, standard error."""
    process = await start_bot(environment, cwd, *arguments)
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate()
    return process.returncode or 0, stdout.decode(), stderr.decode()


async def stored_users(database_url: URL) -> list[tuple[int, str]]:
    """(telegram id, first name) of every stored user, by telegram id."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(User.telegram_id, User.first_name).order_by(User.telegram_id)
            )
            return [(row.telegram_id, row.first_name) for row in rows]
    finally:
        await engine.dispose()


def update_json(text: str = "/start", **message: Any) -> dict[str, Any]:
    """An update as Telegram sends it: JSON with aliases ("from"), without empty fields."""
    update = UpdateFactory.build(message=MessageFactory.build(text=text, **message))
    body: dict[str, Any] = update.model_dump(mode="json", by_alias=True, exclude_none=True)
    return body
