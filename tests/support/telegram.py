"""Telegram's side of a webhook, and a table locked under a stream of /start: for the tests and a benchmark.

Telegram keeps at most WEBHOOK_MAX_CONNECTIONS requests open, and delivers an update again until it gets a 2xx
answer in time (about 60 s). `locked_table_run` streams /start updates from distinct users at a steady rate,
as Telegram delivers them, to a real bot process, while another session holds an ACCESS EXCLUSIVE lock on
`users`; tests/faults/test_locked_table.py runs it short, `python -m benchmarks.locked_table` at full length.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from telegram_bot.bot import errors
from telegram_bot.bot.handlers import start
from telegram_bot.web import SECRET_HEADER
from tests.support.fakes import FakeBotAPI
from tests.support.locales import said
from tests.support.process import (
    WEBHOOK_SECRET,
    free_port,
    start_bot,
    stop_bot,
    stored_users,
    update_json,
    webhook_environment,
)

# Telegram's defaults: connections it opens at once, and how long it waits for an answer.
MAX_CONNECTIONS = 40
PATIENCE_SECONDS = 60.0
# How soon an update refused is delivered again (Telegram backs off further; sooner is the harder case).
REDELIVERY_PAUSE_SECONDS = 0.5
# No answer at all (a refused or reset connection) is recorded as this status.
NO_ANSWER = 0


class Telegram:
    """Delivers updates as Telegram does: again and again, until the answer is 2xx within its patience."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        connections: int = MAX_CONNECTIONS,
        patience: float = PATIENCE_SECONDS,
        pause: float = REDELIVERY_PAUSE_SECONDS,
    ) -> None:
        self._http = http
        self._slots = asyncio.Semaphore(connections)
        self._patience = aiohttp.ClientTimeout(total=patience)
        self._pause = pause
        self.statuses: list[int] = []
        self.acknowledged = 0
        self.longest_answer = 0.0

    async def deliver(self, update: dict[str, Any]) -> None:
        while True:
            async with self._slots:
                started = time.monotonic()
                status = await self._post(update)
                self.longest_answer = max(self.longest_answer, time.monotonic() - started)
            self.statuses.append(status)
            if 200 <= status < 300:
                self.acknowledged += 1
                return
            await asyncio.sleep(self._pause)

    async def _post(self, update: dict[str, Any]) -> int:
        try:
            async with self._http.post(
                "/webhook", json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}, timeout=self._patience
            ) as response:
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return NO_ANSWER


@dataclass(frozen=True)
class LockedTableRun:
    updates: int
    lock_seconds: float
    seconds: float
    statuses: Counter[int]
    longest_answer: float
    # Users by how many times each is stored (0: lost), and by how many replies each got.
    stored: Counter[int]
    replied: Counter[int]
    # Replies by kind: "welcome", "unavailable", "failed", or "other".
    replies: Counter[str]
    exit_status: int

    @property
    def lost_nobody(self) -> bool:
        """Every user stored once and answered once with a welcome, nobody told that something went wrong."""
        return (
            self.stored == Counter({1: self.updates})
            and self.replied == Counter({1: self.updates})
            and self.replies == Counter({"welcome": self.updates})
            and self.exit_status == 0
        )


async def hold_lock(database_url: URL, seconds: float, taken: asyncio.Event | None = None) -> None:
    """LOCK TABLE users IN ACCESS EXCLUSIVE MODE in a session of its own for `seconds`, as a person at psql.

    `taken` is set once the lock is held.
    """
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as holder:
            await holder.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
            if taken is not None:
                taken.set()
            await asyncio.sleep(seconds)
            await holder.rollback()
    finally:
        await engine.dispose()


def _kind(reply: str, name: str) -> str:
    kinds = {
        said("en", start.welcome, name): "welcome",
        said("en", errors.unavailable_text): "unavailable",
        said("en", errors.failed_text): "failed",
    }
    return kinds.get(reply, "other")


async def locked_table_run(
    database_url: URL,
    bot_api: tuple[FakeBotAPI, str],
    cwd: Path,
    *,
    updates: int,
    rate: float,
    lock_after: float,
    lock_seconds: float,
) -> LockedTableRun:
    """Stream `updates` /start at `rate` a second; `lock_after` seconds in, lock users for `lock_seconds`."""
    api, api_url = bot_api
    port = free_port()
    sent = [update_json() for _ in range(updates)]
    environment = webhook_environment(
        database_url, api_url, port, WEBHOOK_MAX_CONNECTIONS=str(MAX_CONNECTIONS)
    )
    process = await start_bot(environment, cwd)
    try:
        await api.wait_for_call("setWebhook")
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            telegram = Telegram(http)
            started = time.monotonic()
            lock = asyncio.create_task(_lock_later(database_url, lock_after, lock_seconds))
            deliveries = []
            for update in sent:
                deliveries.append(asyncio.create_task(telegram.deliver(update)))
                await asyncio.sleep(1 / rate)
            await asyncio.gather(lock, *deliveries)
        seconds = time.monotonic() - started
    finally:
        exit_status, _ = await stop_bot(process)
    stored = Counter(telegram_id for telegram_id, _ in await stored_users(database_url))
    senders = {update["message"]["from"]["id"]: update["message"]["from"]["first_name"] for update in sent}
    replies = api.calls_to("sendMessage")
    replied = Counter(int(reply["chat_id"]) for reply in replies)
    return LockedTableRun(
        updates=updates,
        lock_seconds=lock_seconds,
        seconds=seconds,
        statuses=Counter(telegram.statuses),
        longest_answer=telegram.longest_answer,
        stored=Counter(stored[sender] for sender in senders),
        replied=Counter(replied[sender] for sender in senders),
        replies=Counter(_kind(str(reply["text"]), senders[int(reply["chat_id"])]) for reply in replies),
        exit_status=exit_status,
    )


async def _lock_later(database_url: URL, after: float, seconds: float) -> None:
    await asyncio.sleep(after)
    await hold_lock(database_url, seconds)
