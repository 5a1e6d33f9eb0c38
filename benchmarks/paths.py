"""The paths measured in this process. Each builds its own bot, dispatcher and pool, warms up, empties the
users table, and then times the same updates from the same users.
"""

from __future__ import annotations

import cProfile
from collections.abc import Iterator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from benchmarks.database import asyncpg_dsn
from benchmarks.reference import build_reference_app, build_reference_dispatcher, reference_engine
from benchmarks.workload import (
    SECRET,
    TOKEN,
    WEBHOOK_PATH,
    Batch,
    Clock,
    CountingSession,
    InvalidRunError,
    Table,
    Timing,
    Workload,
    expect_replies,
    mount,
    post_load,
    run_bounded,
    serving,
    unpaced_bot,
)
from telegram_bot.bot.dispatcher import build_dispatcher
from telegram_bot.bot.handlers import help, menu  # noqa: A004 - the module of /help
from telegram_bot.collector import serving_collector
from telegram_bot.db.engine import autocommit, create_engine
from telegram_bot.web import build_web_app
from tests.support.locales import said
from tests.support.updates import MessageFactory, TelegramUserFactory, UpdateFactory

# create_engine's pool: 20 connections, no overflow. The raw asyncpg pool gets as many.
POOL_CONNECTIONS = 20


@dataclass(frozen=True)
class Measurement:
    key: str
    label: str
    updates: int
    timing: Timing

    @property
    def seconds(self) -> float:
        return self.timing.seconds

    @property
    def rate(self) -> float:
        return self.updates / self.timing.seconds

    @property
    def cpu_ms(self) -> float:
        """CPU milliseconds an update cost the process that handled it."""
        return self.timing.cpu_seconds * 1000 / self.updates


@dataclass(frozen=True)
class Bench:
    """What every path shares in one run."""

    url: URL
    workload: Workload
    concurrency: int
    table: Table

    @property
    def reply_timeout(self) -> float:
        """How long a phase may take before its missing replies count as lost."""
        return max(60.0, self.workload.size / 20)


@dataclass
class Statements:
    """The SQL the real path sent for one /start, as SQLAlchemy handed it to asyncpg."""

    new_user: list[str] = field(default_factory=list)
    returning_user: list[str] = field(default_factory=list)
    upsert: str = ""
    # Parameter i of the upsert is update_fields(update)[fields[i]].
    fields: list[str] = field(default_factory=list)

    def arguments(self, update: Update) -> tuple[object, ...]:
        values = update_fields(update)
        return tuple(values[name] for name in self.fields)


def update_fields(update: Update) -> dict[str, object]:
    """The values of an update the bot may bind into its SQL, by name."""
    message = update.message
    if message is None or message.from_user is None:
        raise ValueError("not a message from a user")
    values: dict[str, object] = {"update_id": update.update_id, "message_id": message.message_id}
    values |= {f"from_user.{name}": value for name, value in message.from_user.model_dump().items()}
    return values


def _field_of(parameter: object, values: dict[str, object]) -> str:
    for name, value in values.items():
        if type(value) is type(parameter) and value == parameter:
            return name
    raise InvalidRunError(
        f"parameter {parameter!r} of the real path's upsert is none of the update's fields "
        f"({', '.join(values)}): teach benchmarks/paths.py:update_fields where it comes from"
    )


@contextmanager
def _recording_sql(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(*arguments: Any) -> None:
        # The event's arguments are the connection, cursor, statement, parameters, context and executemany.
        seen.append((arguments[2], arguments[3]))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def _feed_all(
    dispatcher: Dispatcher,
    bot: Bot,
    updates: Sequence[Update],
    concurrency: int,
    profiler: cProfile.Profile | None = None,
) -> Timing:
    async def feed(update: Update) -> None:
        result = await dispatcher.feed_update(bot, update)
        if isinstance(result, TelegramMethod):
            # A handler may return its reply instead of calling it: polling then calls it, as here.
            await bot(result)

    return await run_bounded(updates, feed, concurrency, profiler)


def _no_database() -> AbstractAsyncContextManager[AsyncConnection]:
    raise InvalidRunError("the ceiling's updates asked for a database connection")


async def ceiling(bench: Bench) -> Measurement:
    """The project's dispatcher (its filters, middlewares, error handler) on /help: one reply, no database."""
    session = CountingSession()
    bot = unpaced_bot(session)
    dispatcher = build_dispatcher(_no_database, redeliverable=True)
    workload = bench.workload
    with serving_collector():  # as runner.py serves
        warm_up = mount(workload.warm_help.updates, bot)
        session.reset()
        await _feed_all(dispatcher, bot, warm_up, bench.concurrency)
        updates = mount(workload.help.updates, bot)
        session.reset()
        timing = await _feed_all(dispatcher, bot, updates, bench.concurrency)
    expect_replies(session.sent_texts(), [said("en", help.help_text, menu())] * len(updates), "ceiling")
    return Measurement("ceiling", "1  ceiling: /help, no database", len(updates), timing)


class RealPath:
    """The project's real assembly, as runner.py builds it: create_engine, autocommit(engine).connect and
    build_dispatcher; only the Bot API session is a no-op.
    """

    def __init__(self, bench: Bench, profiler: cProfile.Profile | None = None) -> None:
        self.bench = bench
        self.profiler = profiler
        self.engine = create_engine(bench.url)
        self.session = CountingSession()
        self.bot = unpaced_bot(self.session)
        self.dispatcher = build_dispatcher(autocommit(self.engine).connect, redeliverable=True)

    async def feed(self, updates: Sequence[Update], *, profiled: bool = False) -> Timing:
        mounted = mount(updates, self.bot)
        self.session.reset()
        profiler = self.profiler if profiled else None
        return await _feed_all(self.dispatcher, self.bot, mounted, self.bench.concurrency, profiler)

    async def probe(self) -> Statements:
        """Feed one new user's /start, then the same user's next /start, alone; keep the SQL each sent."""
        # Distinct values, so that each parameter of the SQL tells which field it came from.
        user = TelegramUserFactory.build(
            first_name="Probe-first", last_name="Probe-last", username="probe_user", language_code="pr"
        )
        first, again = (
            UpdateFactory.build(
                update_id=update_id, message=MessageFactory.build(from_user=user, text="/start")
            )
            for update_id in (1, 2)
        )
        statements = Statements()
        with _recording_sql(self.engine) as seen:
            await self.feed([first])
            new_user = list(seen)
            seen.clear()
            await self.feed([again])
            statements.returning_user = [sql for sql, _ in seen]
        statements.new_user = [sql for sql, _ in new_user]
        inserts = [
            (sql, parameters) for sql, parameters in new_user if sql.lstrip().upper().startswith("INSERT")
        ]
        if len(inserts) != 1:
            raise InvalidRunError(
                f"expected one INSERT for a new user's /start; SQLAlchemy saw the real path send {new_user} "
                "(if it now bypasses SQLAlchemy, teach benchmarks/paths.py:_recording_sql to see its SQL)"
            )
        statements.upsert, parameters = inserts[0]
        values = update_fields(first)
        statements.fields = [_field_of(parameter, values) for parameter in parameters]
        return statements

    async def warm_up(self) -> None:
        await self.feed(self.bench.workload.warm_new.updates)
        await self.bench.table.empty()

    async def new_and_returning(self) -> tuple[Measurement, Measurement]:
        workload, table = self.bench.workload, self.bench.table
        timing = await self.feed(workload.new.updates, profiled=True)
        expect_replies(self.session.sent_texts(), workload.new.welcomes(), "real path, new users")
        await table.expect_rows(workload.size, "real path, new users")
        new = Measurement("real_new", "2a real path: /start, new users", workload.size, timing)
        timing = await self.feed(workload.returning.updates, profiled=True)
        expect_replies(
            self.session.sent_texts(), workload.returning.welcomes_back(), "real path, returning users"
        )
        await table.expect_rows(workload.size, "real path, returning users")
        returning = Measurement(
            "real_returning", "2b real path: /start, returning users", workload.size, timing
        )
        return new, returning

    async def close(self) -> None:
        await self.engine.dispose()


async def real_path(bench: Bench) -> tuple[Measurement, Measurement, Statements]:
    """/start for N new users, then again for the same N: dispatcher, middlewares, queries, PostgreSQL."""
    path = RealPath(bench)
    try:
        statements = await path.probe()
        with serving_collector():  # as runner.py serves
            await path.warm_up()
            new, returning = await path.new_and_returning()
    finally:
        await path.close()
    return new, returning, statements


async def profile_real_path(bench: Bench, output: Path) -> None:
    """The real path once more, new then returning users, under cProfile while timed; stats to `output`."""
    profiler = cProfile.Profile()
    path = RealPath(bench, profiler)
    try:
        with serving_collector():
            await path.warm_up()
            await path.new_and_returning()
    finally:
        await path.close()
    profiler.dump_stats(output)


async def _over_http(bench: Bench, url: str, session: CountingSession, what: str) -> Timing:
    """POST the warm-up, empty the table, then N new users' /start, timed until every reply was sent."""
    workload, table = bench.workload, bench.table
    warm_up = workload.warm_new
    session.reset()
    load = await post_load(url, warm_up.bodies(), bench.concurrency, what=f"{what}, warm-up")
    await session.wait_for(len(warm_up.updates) - len(load.replies), f"{what}, warm-up", bench.reply_timeout)
    await table.empty()
    bodies = workload.new.bodies()
    session.reset()
    clock = Clock()
    load = await post_load(url, bodies, bench.concurrency, what=what)
    # Each reply is sent after its row was written: the last reply comes after the last row.
    replied = await session.wait_for(len(bodies) - len(load.replies), what, bench.reply_timeout)
    cpu_seconds = clock.cpu_seconds()
    expect_replies(session.sent_texts() + load.replies, workload.new.welcomes(), what)
    await table.expect_rows(workload.size, what)
    return Timing(max(load.finished, replied) - load.started, cpu_seconds)


async def webhook(bench: Bench) -> Measurement:
    """The real webhook app (build_web_app and its WebhookHandler) over HTTP, the real path behind it."""
    engine = create_engine(bench.url)
    session = CountingSession()
    bot = unpaced_bot(session)
    dispatcher = build_dispatcher(autocommit(engine).connect, redeliverable=True)
    app = build_web_app(dispatcher, bot, engine, webhook_path=WEBHOOK_PATH, secret_token=SECRET)
    label = "3  webhook: /start over HTTP, new users"
    try:
        async with serving(app) as base:
            timing = await _over_http(bench, base + WEBHOOK_PATH, session, label)
    finally:
        await engine.dispose()
    return Measurement("webhook", label, bench.workload.size, timing)


async def reference(bench: Bench) -> Measurement:
    """The common template pattern (benchmarks/reference.py) behind aiogram's default webhook handler."""
    engine = reference_engine(bench.url)
    session = CountingSession()
    bot = Bot(TOKEN, session=session)
    app = build_reference_app(build_reference_dispatcher(engine), bot)
    label = "5  reference: /start over HTTP, new users"
    try:
        async with serving(app) as base:
            timing = await _over_http(bench, base + WEBHOOK_PATH, session, label)
    finally:
        await engine.dispose()
    return Measurement("reference", label, bench.workload.size, timing)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Release a connection as it is: the upsert leaves no session state behind."""


async def database_limit(bench: Bench, statements: Statements) -> tuple[Measurement, Measurement]:
    """The real path's own upsert, one statement per update, through a raw asyncpg pool."""
    workload, table = bench.workload, bench.table
    # By default the pool sends a reset query on every release: a second round trip per update.
    pool = await asyncpg.create_pool(
        asyncpg_dsn(bench.url), min_size=POOL_CONNECTIONS, max_size=POOL_CONNECTIONS, reset=_keep_session
    )
    returned: list[object] = []

    async def upsert(arguments: tuple[object, ...]) -> None:
        returned.append(await pool.fetchrow(statements.upsert, *arguments))

    async def run(batch: Batch, key: str, label: str) -> Measurement:
        arguments = [statements.arguments(update) for update in batch.updates]
        returned.clear()
        timing = await run_bounded(arguments, upsert, bench.concurrency)
        rows = sum(row is not None for row in returned)
        if rows != len(arguments):
            raise InvalidRunError(f"{label}: the upsert returned {rows} rows for {len(arguments)} updates")
        await table.expect_rows(workload.size, label)
        return Measurement(key, label, len(arguments), timing)

    try:
        warm_up = [statements.arguments(update) for update in workload.warm_new.updates]
        await run_bounded(warm_up, upsert, bench.concurrency)
        await table.empty()
        new = await run(workload.new, "asyncpg_new", "4a database limit: new users")
        returning = await run(workload.returning, "asyncpg_returning", "4b database limit: returning users")
    finally:
        await pool.close()
    return new, returning
