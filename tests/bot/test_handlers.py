"""Updates fed through the real dispatcher and middlewares; only the Bot API session is a recording fake."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from functools import partial

import pytest
import structlog
from aiogram import Bot, Dispatcher, Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncConnection

from telegram_bot.bot import errors
from telegram_bot.bot.dispatcher import build_dispatcher
from telegram_bot.bot.handlers import fallback, help, menu, start  # noqa: A004 - the module of /help
from telegram_bot.log import configure_logging
from tests.support.connections import CountingConnections, unreachable
from tests.support.fakes import RecordingSession
from tests.support.locales import command_list, said
from tests.support.readers import all_users
from tests.support.updates import GroupChatFactory, MessageFactory, TelegramUserFactory, UpdateFactory


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    yield stream
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def log_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_start_registers_a_new_user_and_welcomes_them(
    dispatcher: Dispatcher, bot: Bot, session: RecordingSession, connection: AsyncConnection
) -> None:
    sender = TelegramUserFactory.build(
        first_name="Ada", last_name="Lovelace", username="ada", language_code="en"
    )
    update = UpdateFactory.build(message=MessageFactory.build(from_user=sender, text="/start"))

    await dispatcher.feed_update(bot, update)

    assert session.methods() == ["sendMessage"]
    assert session.sent() == [(sender.id, said("en", start.welcome, "Ada"))]
    (user,) = await all_users(connection)
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
        said("en", start.welcome, "Ada"),
        said("en", start.welcome_back, "Augusta"),
    ]
    (user,) = await all_users(connection)
    assert (user.first_name, user.username, user.language_code) == ("Augusta", None, "de")


@pytest.mark.parametrize(
    ("text", "reply"),
    [("/help", partial(help.help_text, menu())), ("hello there", fallback.hint), ("/nope", fallback.hint)],
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


def test_help_lists_every_command_of_the_menu_in_order() -> None:
    assert said("en", help.help_text, menu()).splitlines() == [
        "Here is what I understand:",
        *(f"/{command.command} - {command.description}" for command in command_list("en")),
    ]


async def test_start_in_a_group_registers_the_sender_and_answers_in_the_group(
    dispatcher: Dispatcher, bot: Bot, session: RecordingSession, connection: AsyncConnection
) -> None:
    # The bot answers wherever it is asked: registration is for the person, whatever chat they write from.
    sender = TelegramUserFactory.build(first_name="Ada")
    group = GroupChatFactory.build()

    await dispatcher.feed_update(
        bot, UpdateFactory.build(message=MessageFactory.build(from_user=sender, chat=group, text="/start"))
    )

    assert session.sent() == [(group.id, said("en", start.welcome, "Ada"))]
    assert [user.telegram_id for user in await all_users(connection)] == [sender.id]


async def test_a_router_included_after_the_built_ones_still_gets_its_messages(
    dispatcher: Dispatcher, bot: Bot, session: RecordingSession
) -> None:
    later = Router(name="later")

    @later.message(Command("later"))
    async def answer_later(message: Message) -> None:
        await message.answer("later")

    dispatcher.include_router(later)
    await dispatcher.feed_update(bot, UpdateFactory.build(message=MessageFactory.build(text="/later")))
    await dispatcher.feed_update(bot, UpdateFactory.build(message=MessageFactory.build(text="/nope")))

    assert session.sent_texts() == ["later", said("en", fallback.hint)]
    assert dispatcher.sub_routers[-1].name == "fallback"


async def test_messages_from_bots_are_ignored(
    dispatcher: Dispatcher, bot: Bot, session: RecordingSession, connection: AsyncConnection
) -> None:
    robot = TelegramUserFactory.build(is_bot=True)

    await dispatcher.feed_update(bot, UpdateFactory.build(message=MessageFactory.build(from_user=robot)))

    assert session.calls == []
    assert await all_users(connection) == []


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

    assert session.sent_texts() == [said("en", errors.failed_text), said("en", help.help_text, menu())]
    (failure,) = [line for line in log_lines(log_output) if line["message"] == "update failed"]
    assert failure["level"] == "error"
    assert failure["update_id"] == failing.update_id
    assert "RuntimeError: handler bug" in str(failure["exception"])


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

    assert session.sent() == [(update.message.chat.id, said("en", errors.unavailable_text))]


async def test_each_dispatcher_is_built_anew(connections: CountingConnections) -> None:
    first = build_dispatcher(connections, redeliverable=True)
    second = build_dispatcher(connections, redeliverable=False)

    assert first.resolve_used_update_types() == second.resolve_used_update_types() == ["message"]
