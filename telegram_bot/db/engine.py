"""The engine factory. Nothing here runs at import: the runtimes and the tests build their own engine."""

import asyncpg
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def create_engine(url: URL, *, pool_size: int = 20, max_overflow: int = 0) -> AsyncEngine:
    """An asyncpg engine with a bounded pool, its connections opened on demand and kept.

    No overflow: SQLAlchemy closes an overflow connection as soon as it is returned, so a burst above the pool
    size would open and close a connection for every few updates, each costing more than the update itself.

    A connection that died with the server is invalidated on its first error, and the pool then replaces
    every connection older than that error, so the engine recovers from a restart without a ping per checkout.
    """
    # hide_parameters: statement parameters are users' names; errors that reach the logs leave them out.
    return create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow, hide_parameters=True)


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, each statement committing on its own.

    The bot's writes are single statements (an upsert): autocommit spares each one the BEGIN and COMMIT
    round trips. Work that needs several statements in one transaction uses the plain engine.
    """
    return engine.execution_options(isolation_level="AUTOCOMMIT")


# Failures to reach PostgreSQL, as opposed to a statement it rejected: the server is down, restarting, out
# of connection slots, or the connection died under us. Trying the same work again later can succeed.
_UNAVAILABLE = (
    OSError,  # refused, reset, unreachable; TimeoutError and ConnectionError are OSErrors
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up, crashed
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,  # "connection is closed"
)


def is_database_unavailable(error: BaseException) -> bool:
    """Whether `error`, or what caused it, says PostgreSQL could not be reached."""
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
