"""Under Telegram's flood limits: a reply held back past the bound is answered non-2xx, then sent exactly once
on the redelivery; the error handler never answers a refused send with one more message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from telegram_bot.bot.dispatcher import build_dispatcher
from telegram_bot.bot.handlers import start
from telegram_bot.bot.pacing import FloodLimits, install_policy
from telegram_bot.web import SECRET_HEADER
from tests.support.connections import CountingConnections
from tests.support.environment import TOKEN
from tests.support.fakes import RecordingSession
from tests.support.flood import BOT_WIDE
from tests.support.locales import said
from tests.support.process import update_json
from tests.support.readers import count_users
from tests.support.updates import MessageFactory, UpdateFactory
from tests.web.test_webhook import PATH, SECRET, start_client

# Telegram's wait outlasts the bound: the reply cannot be sent within the first delivery.
BOUND = FloodLimits(max_wait_seconds=0.2)
TELEGRAMS_WAIT_SECONDS = 1.5
REDELIVERIES = 100
REDELIVERY_PAUSE_SECONDS = 0.05


@pytest.fixture
async def banned(
    shared_engine: AsyncEngine, connection: AsyncConnection
) -> AsyncIterator[tuple[TestClient[Any, Any], RecordingSession]]:
    session = RecordingSession()
    assert session.flood is not None
    bot = Bot(TOKEN, session=session)
    install_policy(bot, BOUND)
    http = await start_client(bot, CountingConnections(connection), shared_engine)
    session.flood.ban(BOT_WIDE, TELEGRAMS_WAIT_SECONDS)
    yield http, session
    await http.close()


async def test_a_reply_held_back_past_the_bound_is_sent_once_on_a_redelivery(
    banned: tuple[TestClient[Any, Any], RecordingSession], connection: AsyncConnection
) -> None:
    http, session = banned
    update = update_json()

    statuses = []
    # As Telegram does: the same update again until it is answered 2xx (a bounded number of times).
    for _ in range(REDELIVERIES):
        response = await http.post(PATH, json=update, headers={SECRET_HEADER: SECRET})
        statuses.append(response.status)
        if response.status == 200:
            break
        await asyncio.sleep(REDELIVERY_PAUSE_SECONDS)

    first_name = update["message"]["from"]["first_name"]
    # Welcomed, not welcomed back: the redelivery sent the reply kept from the first, not a new one.
    assert session.sent() == [(update["message"]["chat"]["id"], said("en", start.welcome, first_name))]
    assert statuses[0] == 503
    assert statuses[-1] == 200
    assert await count_users(connection) == 1
    # Only the first delivery's reply was sent into Telegram's wait; the redeliveries waited it out.
    assert session.flood is not None
    assert session.flood.refused == 1


async def test_polling_tells_no_one_about_a_refused_reply(connection: AsyncConnection) -> None:
    session = RecordingSession()
    assert session.flood is not None
    bot = Bot(TOKEN, session=session)
    install_policy(bot, BOUND)
    dispatcher = build_dispatcher(CountingConnections(connection), redeliverable=False)
    session.flood.ban(BOT_WIDE, TELEGRAMS_WAIT_SECONDS)
    update = UpdateFactory.build(message=MessageFactory.build(text="/start"))

    await dispatcher.feed_update(bot, update)

    # One refused reply, and no "something went wrong" after it (which would be refused too).
    assert (session.sent(), session.flood.refused) == ([], 1)
