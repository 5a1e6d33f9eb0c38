"""Alembic's environment: how migrations reach a database.

Three callers hand it three things, through `config.attributes["connection"]`:
- the CLI (`alembic upgrade head`) hands nothing: the URL comes from DATABASE_URL via the project's settings;
- pytest-alembic hands a synchronous Connection, which it opened from the tests' async engine;
- a program may hand a (sync) Engine.
Offline mode (`alembic upgrade head --sql`) needs no database at all.
"""

from __future__ import annotations

import asyncio
import sys

from alembic import context
from sqlalchemy import Connection, Engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from telegram_bot.config import ConfigurationError, DatabaseSettings, LoggingSettings, load
from telegram_bot.db import metadata
from telegram_bot.db.schema import not_retired
from telegram_bot.log import configure_logging

# Any fixed number: every process that migrates this database takes the same lock, so two deploys that start
# at once run one after the other, and the second finds nothing left to do.
MIGRATION_LOCK_KEY = 7_302_611_450_113_001
# Once the migration lock is held: a migration that cannot get a table lock within LOCK_TIMEOUT fails (and
# the deploy with it) rather than queue the bot's queries behind it; a statement may run STATEMENT_TIMEOUT.
# A revision that needs longer (a large backfill, an index on a large table) raises it for itself with
# op.execute("SET statement_timeout = ...") and sets it back (docs/migrations.md).
LOCK_TIMEOUT = "5s"
STATEMENT_TIMEOUT = "60s"

# Session-level, not pg_advisory_xact_lock: an autocommit_block (CREATE INDEX CONCURRENTLY, which cannot run
# in a transaction) commits halfway through, which would release a transaction-level lock and let a second
# deploy start migrating. This lock is held from before the first revision to after the last, across those
# commits, and released by pg_advisory_unlock or, if the process dies, by its connection closing. The
# timeouts are session settings for the same reason (SET LOCAL ends with the first commit).
_GUARD = (
    f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})",
    f"SET lock_timeout = '{LOCK_TIMEOUT}'",
    f"SET statement_timeout = '{STATEMENT_TIMEOUT}'",
)
_RELEASE = (
    "RESET statement_timeout",
    "RESET lock_timeout",
    f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})",
)

config = context.config
target_metadata = metadata


def _run_migrations_guarded(connection: Connection | None = None) -> None:
    """Run the pending migrations in one transaction (autocommit blocks apart), under the lock and timeouts.

    `connection` is the one Alembic runs on when this environment owns its transactions; offline (the guard's
    statements go into the script around its BEGIN and COMMIT) or in a caller's transaction, None.
    """
    _run_outside_the_transaction(connection, _GUARD)
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        # After a failed revision its transaction is rolled back and the connection usable again; one that
        # died releases the lock by closing.
        if connection is None or not connection.invalidated:
            _run_outside_the_transaction(connection, _RELEASE)


def _run_outside_the_transaction(connection: Connection | None, statements: tuple[str, ...]) -> None:
    for statement in statements:
        context.execute(text(statement))
    if connection is not None:
        # Committed at once (autobegin opened a transaction), so that the migrations' own transaction begins
        # on a connection that is in none.
        connection.commit()


def run_migrations_offline() -> None:
    context.configure(
        dialect_name="postgresql",
        target_metadata=target_metadata,
        include_object=not_retired,
        literal_binds=True,
        compare_type=True,
        compare_server_default=True,
    )
    _run_migrations_guarded()


def do_run_migrations(connection: Connection) -> None:
    # A connection handed over inside its caller's transaction (pytest-alembic does so) is the caller's to
    # commit; Alembic then runs in that transaction, and so does the guard.
    own = None if connection.in_transaction() else connection
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=not_retired,
        compare_type=True,
        compare_server_default=True,
    )
    _run_migrations_guarded(own)


async def run_async_migrations(engine: AsyncEngine) -> None:
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def _engine_from_settings() -> AsyncEngine:
    try:
        settings = load(DatabaseSettings)
    except ConfigurationError as error:
        print(f"Configuration error: {error}", file=sys.stderr)  # noqa: T201 - the CLI's own message
        raise SystemExit(2) from None
    return create_async_engine(settings.url, poolclass=NullPool)


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        if config.config_file_name is not None:
            logging_settings = load(LoggingSettings)
            configure_logging(logging_settings.log_level, logging_settings.log_format)
        asyncio.run(run_async_migrations(_engine_from_settings()))
    elif isinstance(connectable, AsyncEngine):
        asyncio.run(run_async_migrations(connectable))
    elif isinstance(connectable, Connection):
        do_run_migrations(connectable)
    elif isinstance(connectable, Engine) or hasattr(connectable, "connect"):
        with connectable.connect() as connection:
            do_run_migrations(connection)
    else:
        raise TypeError(f"cannot migrate through {type(connectable).__name__}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
