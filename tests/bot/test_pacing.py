"""The Bot API client's policy (telegram_bot/bot/pacing.py) against doubles as strict as Telegram's limits.

No test here measures time: each counts what the double took and refused.
"""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType

from telegram_bot.bot.dispatcher import build_bot
from telegram_bot.bot.i18n import build_i18n, register_commands
from telegram_bot.bot.pacing import FloodLimits, FloodWaitExceededError, install_policy
from telegram_bot.config import Settings
from tests.support.environment import TOKEN
from tests.support.fakes import FakeBotAPI, RecordingSession
from tests.support.flood import BOT_WIDE, TelegramLimits

# A wait bound short enough for a test to get past it quickly.
SHORT_WAIT = FloodLimits(max_wait_seconds=0.3)


def paced_bot(session: RecordingSession, limits: FloodLimits | None = None) -> Bot:
    bot = Bot(TOKEN, session=session)
    install_policy(bot, limits or FloodLimits())
    return bot


async def send_all(bot: Bot, chats: list[int]) -> None:
    await asyncio.gather(*(bot.send_message(chat, f"to {chat}") for chat in chats))


def ban_bot_wide(session: RecordingSession, seconds: float) -> None:
    """Telegram's own wait on the bot (as after a burst of some other instance of it)."""
    assert session.flood is not None
    session.flood.ban(BOT_WIDE, seconds)


async def test_a_burst_over_the_bot_wide_limit_is_spread_under_it() -> None:
    unpaced, paced = RecordingSession(), RecordingSession()
    chats = list(range(1, 41))

    results = await asyncio.gather(
        *(Bot(TOKEN, session=unpaced).send_message(chat, "hi") for chat in chats), return_exceptions=True
    )
    await send_all(paced_bot(paced), chats)

    assert unpaced.flood is not None
    assert unpaced.flood.refused == len([result for result in results if isinstance(result, Exception)]) > 0
    assert paced.flood is not None
    assert (len(paced.sent()), paced.flood.refused) == (40, 0)


async def test_one_chats_repeats_are_spread_under_its_limit() -> None:
    session = RecordingSession()

    await send_all(paced_bot(session), [7] * 4)

    assert session.flood is not None
    assert (session.sent_texts(), session.flood.refused) == (["to 7"] * 4, 0)


async def test_a_group_is_paced_under_its_limit_per_minute() -> None:
    # Telegram's group limit scaled from 20 a minute to 2 a second, so that the test takes seconds.
    session = RecordingSession(
        TelegramLimits(chat_burst=100, chat_per_second=100, group_messages=2, group_window_seconds=1.0)
    )
    bot = paced_bot(session, FloodLimits(chat_messages_per_second=100, group_messages_per_minute=100))

    await send_all(bot, [-100500] * 5 + [-100600] * 2)

    assert session.flood is not None
    assert (len(session.sent()), session.flood.refused) == (7, 0)


async def test_a_429_pauses_every_request_of_the_bot_then_the_refused_one_is_sent_again() -> None:
    session = RecordingSession()
    ban_bot_wide(session, 1.0)

    await send_all(paced_bot(session), [1, 2, 3])

    # Only the first request was sent into the wait: the others waited for it to end, and none grew it.
    assert session.flood is not None
    assert (sorted(session.sent()), session.flood.refused) == ([(1, "to 1"), (2, "to 2"), (3, "to 3")], 1)


async def test_a_send_that_would_wait_past_the_bound_is_given_up_unsent() -> None:
    session = RecordingSession()
    ban_bot_wide(session, 3.0)
    bot = paced_bot(session, SHORT_WAIT)

    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(1, "first")
    with pytest.raises(FloodWaitExceededError):
        await bot.send_message(2, "second")

    # The first was refused by Telegram; the second was never sent into the wait.
    assert session.flood is not None
    assert (session.sent(), session.flood.refused) == ([], 1)


async def test_pacing_off_still_honours_a_429() -> None:
    session = RecordingSession()
    ban_bot_wide(session, 1.0)

    await send_all(paced_bot(session, FloodLimits(messages_per_second=0)), [1, 2])

    assert session.flood is not None
    assert (len(session.sent()), session.flood.refused) == (2, 1)


async def test_5xx_answers_to_the_start_up_calls_are_retried_until_they_succeed(
    bot_api: tuple[FakeBotAPI, str],
) -> None:
    api, url = bot_api
    settings = Settings(
        _env_file=None, telegram_token=TOKEN, database_url="postgresql://u@127.0.0.1/db", telegram_api_url=url
    )
    bot = build_bot(settings)
    api.fail_next("getMe", 502, times=2)
    api.fail_next("deleteWebhook", 500)
    api.fail_next("setWebhook", 503)
    api.fail_next("setMyCommands", 500, times=2)
    try:
        me = await bot.get_me()
        await bot.delete_webhook()
        await bot.set_webhook("https://bot.example.test/webhook")
        await register_commands(bot, build_i18n("en"))
    finally:
        await bot.session.close()

    assert me.id == 42
    assert [name for name, _ in api.failed] == ["getMe", "getMe", "deleteWebhook", "setWebhook"] + [
        "setMyCommands"
    ] * 2
    assert [name for name, _ in api.calls][:3] == ["getMe", "deleteWebhook", "setWebhook"]


async def test_a_send_answered_5xx_is_not_sent_again(bot_api: tuple[FakeBotAPI, str]) -> None:
    api, url = bot_api
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(url)))
    install_policy(bot, FloodLimits())
    api.fail_next("sendMessage", 502)
    try:
        with pytest.raises(TelegramServerError):
            await bot.send_message(1, "hello")
    finally:
        await bot.session.close()

    # Telegram may have delivered it before its gateway failed: a second try could deliver it twice.
    assert ([name for name, _ in api.failed], api.calls_to("sendMessage")) == (["sendMessage"], [])


class FirstTriesFail(RecordingSession):
    """Fails the first `tries` requests: with a timeout after sending, or with a real refused connection."""

    def __init__(self, tries: int, *, connected: bool) -> None:
        super().__init__()
        self.tries, self.connected, self.attempts = tries, connected, 0

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        self.attempts += 1
        if self.attempts > self.tries:
            return await super().make_request(bot, method, timeout)
        if self.connected:
            raise TelegramNetworkError(method=method, message="Request timeout error")
        # Port 1 on loopback: nothing listens there, so aiohttp's connection is refused before any byte goes.
        nowhere = AiohttpSession(api=TelegramAPIServer.from_base("http://127.0.0.1:1"))
        try:
            return await nowhere.make_request(bot, method, timeout)
        finally:
            await nowhere.close()


async def test_a_send_whose_connection_was_refused_is_sent_again_once_it_connects() -> None:
    session = FirstTriesFail(2, connected=False)

    await paced_bot(session).send_message(1, "hello")

    assert (session.attempts, session.sent()) == (3, [(1, "hello")])


async def test_a_send_that_timed_out_after_it_went_out_is_not_sent_again() -> None:
    session = FirstTriesFail(1, connected=True)

    with pytest.raises(TelegramNetworkError):
        await paced_bot(session).send_message(1, "hello")

    assert (session.attempts, session.sent()) == (1, [])
