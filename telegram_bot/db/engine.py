"""The engine factory. Nothing here runs at import: the runtimes and the tests build their own engine."""

import asyncpg
import sqlalchemy.exc
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# How long the bot's work may wait for the database before it gives the update back (docs/reliability.md):
# a webhook update then answers 503 and Telegram delivers it again, a polled one tells the user to send it
# again. Telegram waits about 60 s for a webhook's answer and keeps up to WEBHOOK_MAX_CONNECTIONS
# (40) requests open, twice the pool: a request waits at most POOL_TIMEOUT for a connection, then at most
# LOCK_TIMEOUT for a table lock (or STATEMENT_TIMEOUT in all), 10 s at worst, far inside Telegram's patience.
# The bot's statements are single-row upserts by key taking a millisecond or two: a lock held for seconds
# (a migration, a person at psql) turns into quick 503s instead of 40 requests pinned for the lock's length.
LOCK_TIMEOUT_MS = 2_000
STATEMENT_TIMEOUT_MS = 5_000
# Longer than LOCK_TIMEOUT: behind a held lock every pooled connection comes back within LOCK_TIMEOUT, so a
# waiting request gets one and finds out about the lock itself rather than time out in the queue.
POOL_TIMEOUT_SECONDS = 5.0


def create_engine(
    url: URL, *, pool_size: int = 20, max_overflow: int = 0, pool_timeout: float = POOL_TIMEOUT_SECONDS
) -> AsyncEngine:
    """An asyncpg engine with a bounded pool and bounded waits, its connections opened on demand and kept.

    No overflow: SQLAlchemy closes an overflow connection as soon as it is returned, so a burst above the pool
    size would open and close a connection for every few updates, each costing more than the update itself.

    A connection that died with the server is invalidated on its first error, and the pool then replaces
    every connection older than that error, so the engine recovers from a restart without a ping per checkout.
    """
    # hide_parameters: statement parameters are users' names; errors that reach the logs leave them out.
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        hide_parameters=True,
        # Set once per connection, when it opens: no statement of the bot's pays for them.
        connect_args={
            "server_settings": {
                "lock_timeout": str(LOCK_TIMEOUT_MS),
                "statement_timeout": str(STATEMENT_TIMEOUT_MS),
            }
        },
    )


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, each statement committing on its own.

    The bot's writes are single statements (an upsert): autocommit spares each one the BEGIN and COMMIT
    round trips. Work that needs several statements in one transaction uses the plain engine.
    """
    return engine.execution_options(isolation_level="AUTOCOMMIT")


# Failures to reach PostgreSQL in time, as opposed to a statement it rejected: the server is down, restarting,
# out of connection slots, the connection died under us, or the work waited longer than its bounds allow (for
# a connection from the pool, a lock, a statement). Trying the same work again later can succeed.
_UNAVAILABLE = (
    OSError,  # refused, reset, unreachable; TimeoutError and ConnectionError are OSErrors
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up, crashed
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,  # "connection is closed"
    sqlalchemy.exc.TimeoutError,  # the pool had no connection within POOL_TIMEOUT; it wraps no driver error
    asyncpg.exceptions.LockNotAvailableError,  # 55P03: lock_timeout
    asyncpg.exceptions.QueryCanceledError,  # 57014: statement_timeout, or a cancel from pg_cancel_backend
)


def is_database_unavailable(error: BaseException) -> bool:
    """Whether `error`, or what caused it, says PostgreSQL could not be reached, or not in time."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, _UNAVAILABLE):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def describe_database_error(error: BaseException) -> str:
    """The driver's own words, without SQLAlchemy's wrapping and link: for a line a person reads."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        return str(error.orig).strip() or type(error.orig).__name__
    return str(error).strip() or type(error).__name__
