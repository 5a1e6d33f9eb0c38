"""The log of real runs, as Railway's log explorer reads it: every line of standard output one JSON object
with `message` and `level` (log_lines in tests/support/process.py), and nothing on standard error, where
every line would count as an error.

Three real runs. Two are `python -m telegram_bot` in new interpreters, exactly as deployed, so that what the
imports and the interpreter's own shutdown write is read too: serving /start and stopping on SIGTERM, and a
start-up against an unreachable database, which exits by another path. The third, a handler that fails with a
traceback and then stops as the first does, is forked from the run's launcher (tests/support/launcher.py),
which runs the same main() seconds sooner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.support.fakes import FakeBotAPI
from tests.support.process import bot_environment, log_lines, run_to_exit, start_bot, stop_bot, update_json

REFUSING_FUNCTION = """
CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'refused by the test';
END
$$
"""


async def serve_one(
    api: FakeBotAPI, database_url: URL, api_url: str, tmp_path: Path, *, fresh: bool = False
) -> tuple[str, str]:
    """Serve one /start in polling mode, stop with SIGTERM: standard output and standard error."""
    update = update_json()
    api.queue_update(update)
    process = await start_bot(bot_environment(database_url, api_url), tmp_path, fresh=fresh)
    try:
        await api.wait_for_call("sendMessage")
    finally:
        status, _ = await stop_bot(process)
    assert status == 0
    return process.stdout(), process.stderr()


def messages(log: list[dict[str, Any]]) -> list[str]:
    return [entry["message"] for entry in log]


# Every line at info holds at this release's own head only: on a newer schema the bot warns that it is ahead.
@pytest.mark.schema_state
async def test_serving_logs_json_lines_on_standard_output_only(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api

    stdout, stderr = await serve_one(api, isolated_database_url, api_url, tmp_path, fresh=True)

    assert stderr == ""
    log = log_lines(stdout)
    assert len(log) == len(stdout.splitlines())
    assert {"starting", "user registered", "stopped"} <= set(messages(log))
    assert {entry["level"] for entry in log} == {"info"}
    registered = next(entry for entry in log if entry["message"] == "user registered")
    # The context Railway's filters use: @update_id:..., @user_id:...
    assert {"update_id", "user_id", "chat_id"} <= registered.keys()


async def test_a_start_up_against_an_unreachable_database_logs_json_lines_only(
    empty_database_url: URL, tmp_path: Path
) -> None:
    environment = bot_environment(
        empty_database_url.set(port=1), "http://127.0.0.1:1", DATABASE_WAIT_SECONDS="1"
    )

    status, stdout, stderr = await run_to_exit(environment, tmp_path, fresh=True)

    assert (status, stderr) == (1, "")
    log = log_lines(stdout)
    assert len(log) == len(stdout.splitlines())
    assert {entry["level"] for entry in log[:-1]} == {"warning"}
    assert messages(log)[0] == "database not reachable yet; retrying"
    assert log[-1]["level"] == "error"
    assert log[-1]["message"].startswith("cannot start: PostgreSQL did not answer within 1 s")


async def test_a_handler_failure_logs_its_traceback_inside_one_json_line(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    engine = create_async_engine(isolated_database_url, poolclass=NullPool)
    async with engine.begin() as connection:
        # The schema stays as the code expects it, and /start's upsert fails inside the handler.
        await connection.execute(text(REFUSING_FUNCTION))
        await connection.execute(
            text("CREATE TRIGGER refuse BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION refuse()")
        )
    await engine.dispose()

    stdout, stderr = await serve_one(api, isolated_database_url, api_url, tmp_path)

    assert stderr == ""
    log = log_lines(stdout)
    assert len(log) == len(stdout.splitlines())
    (failure,) = [entry for entry in log if entry["level"] == "error"]
    assert failure["message"] == "update failed"
    assert failure["exception"].startswith("Traceback (most recent call last):\n")
    assert "refused by the test" in failure["exception"]
    assert {"update_id", "user_id", "chat_id"} <= failure.keys()
    assert messages(log)[-1] == "stopped"
