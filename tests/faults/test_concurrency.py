"""Many updates at once, from one user and from many, in both modes: one row each, the newest profile wins."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import URL

from telegram_bot.bot.dispatcher import build_dispatcher
from telegram_bot.bot.pacing import FloodLimits, install_policy
from telegram_bot.db.engine import autocommit, create_engine
from telegram_bot.web import build_web_app
from tests.support.environment import TOKEN
from tests.support.fakes import FakeBotAPI, RecordingSession
from tests.support.process import (
    WEBHOOK_SECRET,
    bot_environment,
    start_bot,
    stop_bot,
    stored_users,
    update_json,
)
from tests.support.telegram import Telegram
from tests.support.updates import TelegramUserFactory

USERS = 20
UPDATES_PER_USER = 3


def burst() -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """USERS people sending UPDATES_PER_USER updates each, a new name in each, shuffled; and what to store."""
    people = [TelegramUserFactory.build() for _ in range(USERS)]
    updates = [
        update_json(from_user=person.model_copy(update={"first_name": f"{person.first_name} v{version}"}))
        for version in range(UPDATES_PER_USER)
        for person in people
    ]
    # update_json numbers the updates in order of creation: each person's last version has the highest id.
    expected = sorted((person.id, f"{person.first_name} v{UPDATES_PER_USER - 1}") for person in people)
    random.shuffle(updates)
    return updates, expected


@pytest.fixture
async def webhook(isolated_database_url: URL) -> AsyncIterator[tuple[TestClient[Any, Any], RecordingSession]]:
    engine = create_engine(isolated_database_url)
    session = RecordingSession()
    dispatcher = build_dispatcher(autocommit(engine).connect, redeliverable=True)
    bot = Bot(TOKEN, session=session)
    # 60 replies at once, 3 in each chat: over the per-chat pace, so paced under it as build_bot paces.
    install_policy(bot, FloodLimits())
    app = build_web_app(dispatcher, bot, engine, webhook_path="/webhook", secret_token=WEBHOOK_SECRET)
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client, session
    await client.close()
    await engine.dispose()


async def test_webhook_burst(
    webhook: tuple[TestClient[Any, Any], RecordingSession], isolated_database_url: URL
) -> None:
    http, session = webhook
    updates, expected = burst()

    # Delivered as Telegram delivers: at most 40 at once, each again until it is answered 2xx. A handler
    # whose reply waits for its turn under the flood limits holds its connection, so on a loaded machine an
    # update can wait past the pool's timeout and be answered 503 first; it must still be handled and
    # answered exactly once.
    async with aiohttp.ClientSession(str(http.make_url("/"))) as client:
        telegram = Telegram(client)
        await asyncio.gather(*(telegram.deliver(update) for update in updates))

    assert telegram.acknowledged == len(updates)
    assert set(telegram.statuses) <= {200, 503}, telegram.statuses
    assert await stored_users(isolated_database_url) == expected
    assert len(session.sent()) == len(updates)


async def test_polling_burst(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    updates, expected = burst()
    for update in updates:
        api.queue_update(update)

    process = await start_bot(bot_environment(isolated_database_url, api_url), tmp_path)
    try:
        await api.wait_for_call("sendMessage", count=len(updates))
    finally:
        status, _ = await stop_bot(process)

    assert await stored_users(isolated_database_url) == expected
    # Each update handled once: one reply each, none a second time after the wait above.
    assert len(api.calls_to("sendMessage")) == len(updates)
    assert status == 0
