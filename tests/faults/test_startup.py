"""Start-up refuses a database it cannot use, with one clear line and exit status 1.

A schema ahead of the code (a newer release migrated it) is one it can use while it still serves the code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from telegram_bot.db.schema import head_revision
from tests.support.fakes import FakeBotAPI
from tests.support.process import (
    bot_environment,
    log_lines,
    run_to_exit,
    start_bot,
    stop_bot,
    stored_users,
    update_json,
)

NEWER_REVISION = "f00dfeedbeef"


async def last_log_line(database_url: URL, tmp_path: Path) -> tuple[int, str]:
    status, stdout, stderr = await run_to_exit(bot_environment(database_url, "http://127.0.0.1:1"), tmp_path)
    assert (stderr, "Traceback" in stdout) == ("", False)
    entry = log_lines(stdout)[-1]
    assert entry["level"] == "error"
    return status, str(entry["message"])


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


async def mark_ahead(database_url: URL, *changes: str) -> None:
    """Change the schema as a newer release's migration would, at a revision this code does not know."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    async with engine.begin() as connection:
        for change in changes:
            await connection.execute(text(change))
        await connection.execute(
            text("UPDATE alembic_version SET version_num = :revision"), {"revision": NEWER_REVISION}
        )
    await engine.dispose()


@pytest.mark.schema_state
async def test_a_schema_ahead_of_the_code_that_it_cannot_use_is_refused(
    isolated_database_url: URL, tmp_path: Path
) -> None:
    await mark_ahead(isolated_database_url, "ALTER TABLE users DROP COLUMN username")

    status, event = await last_log_line(isolated_database_url, tmp_path)

    assert status == 1
    assert f"schema at {NEWER_REVISION}, a revision this code does not know" in event
    assert "column users.username is missing" in event


@pytest.mark.schema_state
async def test_a_schema_ahead_of_the_code_that_still_serves_it_is_accepted_with_one_warning(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    await mark_ahead(isolated_database_url, "ALTER TABLE users ADD COLUMN nickname text")
    api, api_url = bot_api
    update = update_json()
    api.queue_update(update)

    process = await start_bot(bot_environment(isolated_database_url, api_url), tmp_path)
    try:
        await api.wait_for_call("sendMessage")
    finally:
        status, log = await stop_bot(process)

    assert status == 0
    assert [entry for entry in log if entry["level"] == "warning"] == [
        {
            "message": "schema ahead of this code, and compatible with it",
            "revision": NEWER_REVISION,
            "head": head_revision(),
            "level": "warning",
            "logger": "telegram_bot.runner",
            "timestamp": ANY,
        }
    ]
    sender = update["message"]["from"]
    assert await stored_users(isolated_database_url) == [(sender["id"], sender["first_name"])]
