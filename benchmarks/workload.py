"""What every path is fed, and the plumbing they share: the updates, a counting no-op Bot API session, a
bounded pool of workers, a web server on 127.0.0.1, the HTTP load generator, and the correctness checks.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import itertools
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from aiogram import Bot
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update
from aiogram.types import User as TelegramUser
from aiohttp import web

from benchmarks.database import REPOSITORY
from telegram_bot.bot.handlers import start
from telegram_bot.bot.pacing import FloodLimits, install_policy
from telegram_bot.db.models import User
from telegram_bot.web import SECRET_HEADER
from tests.support.fakes import RecordingSession
from tests.support.locales import said
from tests.support.updates import MessageFactory, TelegramUserFactory, UpdateFactory

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # noqa: S105 - a made-up token, as in the tests
SECRET = "benchmark-webhook-secret"  # noqa: S105 - the benchmark's own
WEBHOOK_PATH = "/webhook"
USERS_TABLE = User.__tablename__
T = TypeVar("T")


class InvalidRunError(Exception):
    """An update was lost, or answered wrongly: the numbers of this run mean nothing."""


@dataclass(frozen=True)
class Batch:
    """Updates of one kind for one set of users, as objects (for feed_update) and as JSON (for HTTP)."""

    users: list[TelegramUser]
    updates: list[Update]

    def bodies(self) -> list[str]:
        return [update.model_dump_json(by_alias=True, exclude_none=True) for update in self.updates]

    def welcomes(self) -> list[str]:
        return [said("en", start.welcome, user.first_name) for user in self.users]

    def welcomes_back(self) -> list[str]:
        return [said("en", start.welcome_back, user.first_name) for user in self.users]


@dataclass(frozen=True)
class Workload:
    """The same users for every path: each path starts from an empty table and writes the same rows."""

    help: Batch  # /help from each user: the ceiling
    new: Batch  # /start from each user, first time: N new rows
    returning: Batch  # /start again from the same users, later updates: N updated rows
    warm_help: Batch  # other users, to warm each path up before its clock starts
    warm_new: Batch

    @property
    def size(self) -> int:
        return len(self.new.updates)


def build_workload(size: int, warm_up: int) -> Workload:
    update_ids = itertools.count(700_000_000)

    def batch(users: list[TelegramUser], text: str) -> Batch:
        updates = [
            UpdateFactory.build(
                update_id=next(update_ids), message=MessageFactory.build(from_user=user, text=text)
            )
            for user in users
        ]
        return Batch(users=users, updates=updates)

    users = [TelegramUserFactory.build() for _ in range(size)]
    warm_users = [TelegramUserFactory.build() for _ in range(warm_up)]
    return Workload(
        warm_help=batch(warm_users, "/help"),
        warm_new=batch(warm_users, "/start"),
        help=batch(users, "/help"),
        new=batch(users, "/start"),
        # Made last: their update ids are higher, as a user's later update's are.
        returning=batch(users, "/start"),
    )


def mount(updates: Sequence[Update], bot: Bot) -> list[Update]:
    """The updates bound to `bot`, as the webhook handler and polling hand them to the dispatcher.

    feed_update re-creates an update that is not bound to its bot through a JSON round trip: production never
    pays that, so the in-process paths bind their updates before the clock starts.
    """
    return [Update.model_validate(update.model_dump(), context={"bot": bot}) for update in updates]


class CountingSession(RecordingSession):
    """The no-op Bot API session of tests/support/fakes.py, noting when each call arrived.

    Without Telegram's flood limits: the rows that use it measure the bot's own cost, with pacing off.
    """

    def __init__(self) -> None:
        super().__init__(limits=None)
        self.arrivals: list[float] = []  # time.monotonic() of each call
        self._called = asyncio.Event()

    def reset(self) -> None:
        self.calls.clear()
        self.arrivals.clear()

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - BaseSession's signature
    ) -> TelegramType:
        result = await super().make_request(bot, method, timeout)
        self.arrivals.append(time.monotonic())
        self._called.set()
        return result

    async def wait_for(self, count: int, what: str, within: float) -> float:
        """When the `count`th call since the last reset arrived (time.monotonic()); waits for it as needed."""
        try:
            async with asyncio.timeout(within):
                while len(self.arrivals) < count:
                    self._called.clear()
                    await self._called.wait()
        except TimeoutError:
            raise InvalidRunError(
                f"{what}: {len(self.arrivals)} of {count} replies after {within:g} s"
            ) from None
        return self.arrivals[count - 1] if count else 0.0


def unpaced_bot(session: CountingSession) -> Bot:
    """A Bot with the project's Bot API policy, pacing off (TELEGRAM_MESSAGES_PER_SECOND=0), as row 6 runs."""
    bot = Bot(TOKEN, session=session)
    install_policy(bot, FloodLimits(messages_per_second=0))
    return bot


@dataclass(frozen=True)
class Timing:
    seconds: float  # wall clock
    cpu_seconds: float  # CPU time of the process that did the work, meanwhile


class Clock:
    """Wall clock and this process's CPU time, from a clean garbage collector: every phase starts alike."""

    def __init__(self) -> None:
        gc.collect()
        self.started = time.monotonic()
        self._cpu = time.process_time()

    def cpu_seconds(self) -> float:
        return time.process_time() - self._cpu

    def stop(self) -> Timing:
        return Timing(time.monotonic() - self.started, self.cpu_seconds())


async def run_bounded(
    items: Sequence[T],
    work: Callable[[T], Awaitable[Any]],
    concurrency: int,
    profiler: cProfile.Profile | None = None,
) -> Timing:
    """Run `work` on every item, `concurrency` at a time; under `profiler`, if given, while timed."""
    pending = iter(items)

    async def worker() -> None:
        for item in pending:
            await work(item)

    clock = Clock()
    if profiler is not None:
        profiler.enable()
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, len(items))):
                group.create_task(worker())
    finally:
        if profiler is not None:
            profiler.disable()
    return clock.stop()


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """`app` on a real socket on 127.0.0.1; yields its base URL."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class LoadResult:
    started: float  # time.monotonic() in the load process: comparable with this process's on Linux
    finished: float
    statuses: dict[str, int]
    # Texts of the sendMessage calls answered in the webhook responses themselves, if the bot does that.
    replies: list[str]
    deliveries: int  # requests made: one per body, more with redelivery


async def post_load(
    url: str, bodies: Sequence[str], concurrency: int, *, what: str, redeliver: bool = False
) -> LoadResult:
    """POST `bodies` to `url` from a separate process (benchmarks/load.py), `concurrency` in flight.

    The load comes from another process, as Telegram's does: the server measured keeps its CPU to itself.
    Every request must be answered 200; with `redeliver`, a body is delivered again until it is, as Telegram
    does, and the run is invalid only if one never was.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="bench-load-") as spec:
        headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
        load = {"url": url, "headers": headers, "concurrency": concurrency, "bodies": list(bodies)}
        json.dump(load | {"redeliver": redeliver}, spec)
        spec.flush()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.load",
            spec.name,
            cwd=REPOSITORY,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await process.communicate()
    if process.returncode != 0:
        raise InvalidRunError(f"{what}: the load generator failed:\n{stderr.decode()}")
    answer = json.loads(stdout)
    result = LoadResult(
        answer["started"],
        answer["finished"],
        answer["statuses"],
        answer["replies"],
        answer.get("deliveries", len(bodies)),
    )
    if redeliver and answer["given_up"]:
        raise InvalidRunError(
            f"{what}: {answer['given_up']} updates were never answered 2xx: {result.statuses}"
        )
    if not redeliver and result.statuses != {"200": len(bodies)}:
        raise InvalidRunError(f"{what}: {len(bodies)} requests answered {result.statuses}; expected all 200")
    return result


class Table:
    """The benchmark's connection to its own database, for emptying and counting the users table."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def empty(self) -> None:
        await self._connection.execute(f"TRUNCATE {USERS_TABLE} RESTART IDENTITY")

    async def count(self) -> int:
        count: int = await self._connection.fetchval(f"SELECT count(*) FROM {USERS_TABLE}")  # noqa: S608 - the model's table name
        return count

    async def expect_rows(self, expected: int, what: str) -> None:
        found = await self.count()
        if found != expected:
            raise InvalidRunError(f"{what}: {found} rows in {USERS_TABLE}; expected {expected}")


def expect_replies(texts_sent: Sequence[str], expected: Sequence[str], what: str) -> None:
    """Every update got exactly its one reply: the same texts, as many times each."""
    sent = Counter(texts_sent)
    wanted = Counter(expected)
    if sent != wanted:
        missing = list((wanted - sent).elements())[:3]
        unexpected = list((sent - wanted).elements())[:3]
        raise InvalidRunError(
            f"{what}: {sum(sent.values())} replies for {len(expected)} updates; "
            f"missing e.g. {missing}, unexpected e.g. {unexpected}"
        )
