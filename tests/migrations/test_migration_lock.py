"""Deploys migrating one database at once: the advisory lock in migrations/env.py runs them in turn."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from telegram_bot.db.schema import head_revision

ROOT = Path(__file__).resolve().parents[2]
# migrations/env.py is not importable as a module; its lock key is part of its contract with this test.
MIGRATION_LOCK_KEY = 7_302_611_450_113_001


async def alembic_upgrade(database_url: URL) -> tuple[int, str]:
    # The plain form Railway hands out: the settings normalise it for asyncpg.
    plain = database_url.set(drivername="postgresql").render_as_string(hide_password=False)
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "alembic"),
        "upgrade",
        "head",
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": plain, "LOG_FORMAT": "json"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def waiting_for_the_lock(connection: AsyncConnection) -> int:
    query = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    return int((await connection.execute(query)).scalar_one())


async def test_concurrent_upgrades_run_one_after_the_other(empty_database_url: URL) -> None:
    engine = create_async_engine(empty_database_url, poolclass=NullPool)
    try:
        async with engine.connect() as holder, engine.connect() as observer:
            # Hold the migration lock, as a deploy that is migrating would.
            await holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            upgrades = [asyncio.create_task(alembic_upgrade(empty_database_url)) for _ in range(3)]
            async with asyncio.timeout(30):
                # Polling PostgreSQL's own view of who waits: nothing here could signal an Event.
                while await waiting_for_the_lock(observer) < 3:
                    await asyncio.sleep(0.05)
            assert not any(upgrade.done() for upgrade in upgrades)
            await holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            results = await asyncio.gather(*upgrades)
            versions = (
                (await observer.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
            )
    finally:
        await engine.dispose()

    assert [status for status, _ in results] == [0, 0, 0], [output for _, output in results]
    # Exactly one of them found work to do; the others found the schema at head once they got the lock.
    assert sum("Running upgrade  ->" in output for _, output in results) == 1
    assert versions == [head_revision()]
