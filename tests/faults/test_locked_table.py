"""A table locked while the bot serves (a migration's statement, a person at psql): no update is lost.

The lock is real, on a real PostgreSQL. The bot's lock_timeout turns each update's wait into an error within
seconds, which the webhook answers with 503 (Telegram delivers the update again) and polling with a request to
send it again. The same scenario at full length (a 40 s lock): `python -m benchmarks.locked_table`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import URL

from telegram_bot.bot import errors
from telegram_bot.bot.handlers import start
from telegram_bot.db.engine import LOCK_TIMEOUT_MS, POOL_TIMEOUT_SECONDS
from tests.support.fakes import FakeBotAPI
from tests.support.locales import said
from tests.support.process import bot_environment, start_bot, stop_bot, stored_users, update_json
from tests.support.telegram import hold_lock, locked_table_run

# Longer than a wait for the pool and then for the lock: every update that arrives while it is held is refused
# at least once, some after waiting for a connection as well.
LOCK_SECONDS = POOL_TIMEOUT_SECONDS + LOCK_TIMEOUT_MS / 1000 + 1


async def test_a_locked_users_table_under_a_stream_of_start_loses_nobody(
    isolated_database_url: URL, bot_api: tuple[FakeBotAPI, str], tmp_path: Path
) -> None:
    run = await locked_table_run(
        isolated_database_url,
        bot_api,
        tmp_path,
        updates=160,
        rate=20,
        lock_after=1,
        lock_seconds=LOCK_SECONDS,
    )

    assert run.lost_nobody, run
    # The lock was felt: updates were refused with 503 and delivered again, and only that.
    assert run.statuses[503] > 0, run.statuses
    assert set(run.statuses) == {200, 503}, run.statuses


async def test_polling_asks_the_user_to_send_again_while_the_table_is_locked(
    isolated_database_url: URL, bot_api: tuple[FakeBotAPI, str], tmp_path: Path
) -> None:
    api, api_url = bot_api
    process = await start_bot(bot_environment(isolated_database_url, api_url), tmp_path)
    first = update_json()
    sender = first["message"]["from"]
    again = update_json(from_user=first["message"]["from"], chat=first["message"]["chat"])
    try:
        await api.wait_for_call("setMyCommands")
        taken = asyncio.Event()
        lock = asyncio.create_task(hold_lock(isolated_database_url, 2 * LOCK_TIMEOUT_MS / 1000, taken))
        await taken.wait()
        api.queue_update(first)
        (during,) = await api.wait_for_call("sendMessage")
        await lock
        api.queue_update(again)
        _, after = await api.wait_for_call("sendMessage", count=2)
    finally:
        status, _ = await stop_bot(process)

    assert during["text"] == said("en", errors.unavailable_text)
    assert after["text"] == said("en", start.welcome, sender["first_name"])
    assert await stored_users(isolated_database_url) == [(sender["id"], sender["first_name"])]
    assert status == 0
