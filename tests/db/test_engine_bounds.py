"""The engine's bounded waits, on a real PostgreSQL: each ends in an error the bot counts as "not reachable in
time", so that the update is given back (webhook: 503) or the user asked to send it again (polling).
"""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy.exc
from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from telegram_bot.db.engine import (
    LOCK_TIMEOUT_MS,
    STATEMENT_TIMEOUT_MS,
    create_engine,
    is_database_unavailable,
)


async def test_every_connection_carries_the_bots_lock_and_statement_timeouts(
    shared_database_url: URL,
) -> None:
    engine = create_engine(shared_database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            lock = (await connection.execute(text("SHOW lock_timeout"))).scalar_one()
            statement = (await connection.execute(text("SHOW statement_timeout"))).scalar_one()
    finally:
        await engine.dispose()

    assert (lock, statement) == (f"{LOCK_TIMEOUT_MS // 1000}s", f"{STATEMENT_TIMEOUT_MS // 1000}s")


async def test_a_table_locked_by_another_session_fails_within_the_lock_timeout_as_unavailable(
    isolated_database_url: URL,
) -> None:
    holder_engine = create_async_engine(isolated_database_url, poolclass=NullPool)
    engine = create_engine(isolated_database_url, pool_size=1)
    try:
        async with holder_engine.connect() as holder:
            await holder.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
            with pytest.raises(sqlalchemy.exc.DBAPIError) as refused:
                async with engine.connect() as connection:
                    await connection.execute(text("SELECT count(*) FROM users"))
            await holder.rollback()
    finally:
        await engine.dispose()
        await holder_engine.dispose()

    assert "lock timeout" in str(refused.value)
    assert is_database_unavailable(refused.value)


async def test_a_statement_cancelled_by_its_timeout_is_unavailable(shared_database_url: URL) -> None:
    engine = create_engine(shared_database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            # The bot's own 5 s, shortened for this statement only: the error is the same.
            await connection.execute(text("SET LOCAL statement_timeout = '50ms'"))
            with pytest.raises(sqlalchemy.exc.DBAPIError) as cancelled:
                await connection.execute(text("SELECT pg_sleep(2)"))
    finally:
        await engine.dispose()

    assert "statement timeout" in str(cancelled.value)
    assert is_database_unavailable(cancelled.value)


async def test_a_pool_with_no_connection_left_fails_within_the_pool_timeout_as_unavailable(
    shared_database_url: URL,
) -> None:
    engine = create_engine(shared_database_url, pool_size=1, pool_timeout=0.1)
    try:
        async with engine.connect():
            with pytest.raises(sqlalchemy.exc.TimeoutError) as exhausted:
                async with asyncio.timeout(10), engine.connect():
                    pass
    finally:
        await engine.dispose()

    assert "QueuePool limit of size 1 overflow 0 reached" in str(exhausted.value)
    assert is_database_unavailable(exhausted.value)


async def test_a_statement_postgresql_rejects_is_not_unavailable(shared_database_url: URL) -> None:
    engine = create_engine(shared_database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            with pytest.raises(sqlalchemy.exc.DBAPIError) as rejected:
                await connection.execute(text("SELECT no_such_column FROM users"))
    finally:
        await engine.dispose()

    assert not is_database_unavailable(rejected.value)
