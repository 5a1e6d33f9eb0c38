"""The bot's Bot API session keeps the answer models it parsed, instead of rebuilding one per answer."""

from __future__ import annotations

import gc
import weakref

from aiogram import Bot
from aiogram.methods import DeleteWebhook

from telegram_bot.bot.session import BotSession
from tests.support.environment import TOKEN


async def test_the_answer_model_outlives_a_garbage_collection() -> None:
    session = BotSession()
    bot = Bot(TOKEN, session=session)
    method = DeleteWebhook()
    first = session.check_response(bot, method, 200, '{"ok": true, "result": true}')
    model = weakref.ref(type(first))
    del first
    gc.collect()
    second = session.check_response(bot, method, 200, '{"ok": true, "result": true}')
    assert model() is type(second)
    assert second.result is True
    await session.close()
