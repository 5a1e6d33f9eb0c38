"""Start-up refuses a database it cannot use, with one clear line and exit status 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.process import bot_environment, run_to_exit


async def last_log_line(database_url: URL, tmp_path: Path) -> tuple[int, str]:
    status, _, stderr = await run_to_exit(bot_environment(database_url, "http://127.0.0.1:1"), tmp_path)
    assert "Traceback" not in stderr
    entry = json.loads(stderr.splitlines()[-1])
    assert entry["level"] == "error"
    return status, str(entry["event"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"database": "no_such_database"}, 'database "no_such_database" does not exist'),
        ({"username": "no_such_role"}, 'role "no_such_role" does not exist'),
    ],
    ids=["unknown-database", "unknown-role"],
)
async def test_a_refusal_that_waiting_cannot_fix_fails_at_once(
    isolated_database_url: URL, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    status, event = await last_log_line(isolated_database_url.set(**change), tmp_path)

    assert status == 1
    assert event == f"cannot start: PostgreSQL refused the connection: {message}"


async def test_a_schema_ahead_of_the_code_is_refused(isolated_database_url: URL, tmp_path: Path) -> None:
    engine = create_async_engine(isolated_database_url, poolclass=NullPool)
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
    await engine.dispose()

    status, event = await last_log_line(isolated_database_url, tmp_path)

    assert status == 1
    assert "schema at f00dfeedbeef, a revision this code does not know" in event
