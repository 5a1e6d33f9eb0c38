"""Updates fed through the real dispatcher and middlewares; only the Bot API session is a recording fake."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager

import pytest
import structlog
from aiogram import Bot, Dispatcher
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from telegram_bot.bot import texts
from telegram_bot.bot.dispatcher import build_dispatcher
from telegram_bot.db.models import User
from telegram_bot.log import configure_logging
from tests.bot.conftest import CountingConnections
from tests.fakes import RecordingSession
from tests.locales import said
from tests.updates import MessageFactory, TelegramUserFactory, UpdateFactory


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    yield stream
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def log_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def users(connection: AsyncConnection) -> list[User]:
    rows = await connection.execute(select(User.__table__))
    return [User(**row._mapping) for row in rows]


async def test_start_registers_a_new_user_and_welcomes_them(
    dispatcher: Dispatcher, bot: Bot, session: RecordingSession, connection: AsyncConnection
) -> None:
    sender = TelegramUserFactory.build(
        first_name="Ada", last_name="Lovelace", username="ada", language_code="en"
    )
    update = UpdateFactory.build(message=MessageFactory.build(from_user=sender, text="/start"))

    await dispatcher.feed_update(bot, update)

    assert session.methods() == ["sendMessage"]
    assert session.sent() == [(sender.id, said("en", texts.welcome, "Ada"))]
    (user,) = await users(connection)
    assert (user.telegram_id, user.first_name, user.last_name, user.username, user.language_code) == (
        sender.id,
        "Ada",
        "Lovelace",
        "ada",
        "en",
    )


async def test_start_again_welcomes_back_and_updates_the_profile(
    dispatcher: Dispatcher, bot: Bot, session: RecordingSession, connection: AsyncConnection
) -> None:
    first = TelegramUserFactory.build(first_name="Ada", username="ada", language_code="en")
    renamed = first.model_copy(update={"first_name": "Augusta", "username": None, "language_code": "de"})

    await dispatcher.feed_update(bot, UpdateFactory.build(message=MessageFactory.build(from_user=first)))
    await dispatcher.feed_update(bot, UpdateFactory.build(message=MessageFactory.build(from_user=renamed)))

    # "de": a language the bot does not speak, so the default locale's (English) texts.
    assert session.sent_texts() == [
        said("en", texts.welcome, "Ada"),
        said("en", texts.welcome_back, "Augusta"),
    ]
    (user,) = await users(connection)
    assert (user.first_name, user.username, user.language_code) == ("Augusta", None, "de")


@pytest.mark.parametrize(
    ("text", "reply"), [("/help", texts.help_text), ("hello there", texts.hint), ("/nope", texts.hint)]
)
@pytest.mark.usefixtures("connection")
async def test_other_messages_are_answered_without_touching_the_database(
    session: RecordingSession, bot: Bot, connections: CountingConnections, text: str, reply: Callable[[], str]
) -> None:
    dispatcher = build_dispatcher(connections, redeliverable=True)
    message = MessageFactory.build(text=text)

    await dispatcher.feed_update(bot, UpdateFactory.build(message=message))

    assert session.methods() == ["sendMessage"]
    assert session.sent() == [(message.chat.id, said("en", reply))]
    assert connections.opened == 0


def test_help_lists_every_command() -> None:
    assert said("en", texts.help_text).splitlines()[1:] == [
        "/start - Register and say hello",
        "/help - What this bot can do",
    ]


async def test_messages_from_bots_are_ignored(
    dispatcher: Dispatcher, bot: Bot, session: RecordingSession, connection: AsyncConnection
) -> None:
    robot = TelegramUserFactory.build(is_bot=True)

    await dispatcher.feed_update(bot, UpdateFactory.build(message=MessageFactory.build(from_user=robot)))

    assert session.calls == []
    assert await users(connection) == []


async def test_every_log_line_of_an_update_names_it(
    dispatcher: Dispatcher, bot: Bot, log_output: io.StringIO
) -> None:
    update = UpdateFactory.build()

    await dispatcher.feed_update(bot, update)

    registered = [line for line in log_lines(log_output) if line["message"] == "user registered"]
    assert len(registered) == 1
    assert registered[0]["update_id"] == update.update_id
    assert registered[0]["user_id"] == update.message.from_user.id
    assert registered[0]["chat_id"] == update.message.chat.id


async def test_a_handler_that_raises_is_answered_logged_and_the_bot_keeps_serving(
    dispatcher: Dispatcher, bot: Bot, session: RecordingSession, log_output: io.StringIO
) -> None:
    async def boom(_message: Message) -> None:
        raise RuntimeError("handler bug")

    dispatcher.message.register(boom, Command("boom"))
    failing = UpdateFactory.build(message=MessageFactory.build(text="/boom"))

    await dispatcher.feed_update(bot, failing)
    await dispatcher.feed_update(bot, UpdateFactory.build(message=MessageFactory.build(text="/help")))

    assert session.sent_texts() == [said("en", texts.failed), said("en", texts.help_text)]
    (failure,) = [line for line in log_lines(log_output) if line["message"] == "update failed"]
    assert failure["level"] == "error"
    assert failure["update_id"] == failing.update_id
    assert "RuntimeError: handler bug" in str(failure["exception"])


def unreachable() -> AbstractAsyncContextManager[AsyncConnection]:
    """A connection factory whose database is down."""
    raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")


async def test_database_outage_is_raised_when_telegram_will_deliver_again(
    bot: Bot, session: RecordingSession
) -> None:
    dispatcher = build_dispatcher(unreachable, redeliverable=True)

    with pytest.raises(ConnectionRefusedError):
        await dispatcher.feed_update(bot, UpdateFactory.build())

    assert session.calls == []


async def test_database_outage_is_reported_to_the_user_when_nothing_will_deliver_again(
    bot: Bot, session: RecordingSession
) -> None:
    dispatcher = build_dispatcher(unreachable, redeliverable=False)
    update = UpdateFactory.build()

    await dispatcher.feed_update(bot, update)

    assert session.sent() == [(update.message.chat.id, said("en", texts.unavailable))]


async def test_each_dispatcher_is_built_anew(connections: CountingConnections) -> None:
    first = build_dispatcher(connections, redeliverable=True)
    second = build_dispatcher(connections, redeliverable=False)

    assert first.resolve_used_update_types() == second.resolve_used_update_types() == ["message"]
