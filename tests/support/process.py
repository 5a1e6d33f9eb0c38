"""Running the real `python -m telegram_bot` process in tests, against a fake Bot API server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import URL, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import telegram_bot
from telegram_bot.db.models import User
from tests.support.environment import SETTINGS_PREFIXES, TOKEN
from tests.support.launcher import LaunchedProcess, Request, launch
from tests.support.updates import MessageFactory, UpdateFactory

WEBHOOK_SECRET = "runtime-test-secret"
WEBHOOK_DOMAIN = "bot.example.test"
WEBHOOK_URL = f"https://{WEBHOOK_DOMAIN}/webhook"  # where webhook_environment's bot registers its webhook


def log_lines(output: str) -> list[dict[str, Any]]:
    """Every complete line of `output`, each of which must be one JSON object as Railway reads it.

    A line still being written (no newline yet) is left for the next read.
    """
    complete = output[: output.rfind("\n") + 1]
    entries = []
    for line in complete.splitlines():
        entry = json.loads(line)
        assert isinstance(entry, dict), line
        assert {"message", "level", "timestamp", "logger"} <= entry.keys(), line
        assert entry["level"] in {"debug", "info", "warning", "error", "critical"}, line
        entries.append(entry)
    return entries


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
        RAILWAY_PUBLIC_DOMAIN=WEBHOOK_DOMAIN,
        HOST="127.0.0.1",
        PORT=str(port),
        **extra,
    )


class BotProcess:
    """A running bot command: its own process, its output in files next to it.

    `fresh=True` runs `python -m telegram_bot` from a new interpreter; otherwise the process is forked from
    the run's launcher (tests/support/launcher.py), which imported the package once, and runs the same main():
    that spares each test seconds of imports.
    Either way it is a separate process with its own signals, exit status, stdout and stderr. Output goes to
    files, not pipes: a process whose pipe fills up blocks on its next log line, event loop and all.
    """

    def __init__(self, environment: dict[str, str], cwd: Path, arguments: list[str], *, fresh: bool) -> None:
        self._stdout = cwd / f"bot-{id(self)}.stdout"
        self._stderr = cwd / f"bot-{id(self)}.stderr"
        self._fresh: subprocess.Popen[bytes] | None = None
        self._forked: LaunchedProcess | None = None
        if fresh:
            with self._stdout.open("ab") as out, self._stderr.open("ab") as err:
                self._fresh = subprocess.Popen(
                    [sys.executable, "-m", "telegram_bot", *arguments],
                    env=environment | {"PYTHONPATH": _code_path(environment)},
                    cwd=cwd,
                    stdout=out,
                    stderr=err,
                )
        else:
            self._forked = launch(
                Request(environment, str(cwd), arguments, str(self._stdout), str(self._stderr))
            )

    @property
    def returncode(self) -> int | None:
        if self._fresh is not None:
            return self._fresh.poll()
        assert self._forked is not None
        return self._forked.exitcode

    def terminate(self) -> None:
        """SIGTERM, as Railway and a terminal's Ctrl-C (SIGINT) stop it."""
        if self.returncode is None:
            os.kill(self._pid, signal.SIGTERM)

    @property
    def _pid(self) -> int:
        pid = self._fresh.pid if self._fresh is not None else self._forked.pid if self._forked else None
        assert pid is not None
        return pid

    def stdout(self) -> str:
        return self._stdout.read_text() if self._stdout.exists() else ""

    def stderr(self) -> str:
        return self._stderr.read_text() if self._stderr.exists() else ""

    def log(self) -> list[dict[str, Any]]:
        """The log lines written so far: all of standard output, each line a JSON object (see log_lines)."""
        return log_lines(self.stdout())

    async def wait_for_log(self, message: str, timeout: float = 30) -> dict[str, Any]:
        """The first log line with this message, once it is written."""
        async with asyncio.timeout(timeout):
            while True:
                found = next((entry for entry in self.log() if entry["message"] == message), None)
                if found is not None:
                    return found
                if self.returncode is not None:
                    raise AssertionError(f"the process ended without logging {message!r}")
                await asyncio.sleep(0.05)

    async def wait(self, timeout: float = 60) -> int:
        async with asyncio.timeout(timeout):
            while (status := self.returncode) is None:
                await asyncio.sleep(0.02)
        return status


def _code_path(environment: dict[str, str]) -> str:
    """PYTHONPATH that finds the bot's code where these tests found it, not only where it was installed.

    The compatibility gate runs a previous release's tests, with that release's own code, from a folder of
    their own, on an environment installed from this checkout.
    """
    code = str(Path(telegram_bot.__file__).resolve().parents[1])
    return os.pathsep.join(filter(None, [code, environment.get("PYTHONPATH")]))


async def start_bot(
    environment: dict[str, str], cwd: Path, *arguments: str, fresh: bool = False
) -> BotProcess:
    return BotProcess(environment, cwd, list(arguments), fresh=fresh)


async def stop_bot(bot: BotProcess) -> tuple[int, list[dict[str, Any]]]:
    """SIGTERM, then the exit status and the JSON log lines."""
    bot.terminate()
    status = await bot.wait(timeout=30)
    return status, bot.log()


async def run_to_exit(
    environment: dict[str, str], cwd: Path, *arguments: str, fresh: bool = False
) -> tuple[int, str, str]:
    """Run the command to its end: exit status, standard output, standard error."""
    bot = await start_bot(environment, cwd, *arguments, fresh=fresh)
    status = await bot.wait(timeout=60)
    return status, bot.stdout(), bot.stderr()


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
