"""Each update answered in its user's language, through the real dispatcher; only the Bot API is a fake.

The expected texts are written out here, not read from the catalogs: a catalog that lost its translations
would otherwise agree with itself.
"""

# The Russian texts are Cyrillic on purpose: letters that look Latin are no mistake here.
# ruff: noqa: RUF001

from __future__ import annotations

import pytest
from aiogram import Bot, Dispatcher
from aiogram.methods import DeleteMyCommands, SetMyCommands

from telegram_bot.bot.dispatcher import build_dispatcher
from telegram_bot.bot.i18n import build_i18n, register_commands
from tests.support.connections import CountingConnections, unreachable
from tests.support.fakes import RecordingSession
from tests.support.locales import command_list
from tests.support.updates import MessageFactory, TelegramUserFactory, UpdateFactory

WELCOME = {
    "en": "Welcome, Ada! You are registered. Send /help to see what I can do.",
    "ru": "Добро пожаловать, Ada! Вы зарегистрированы. Отправьте /help, чтобы узнать, что я умею.",
}
WELCOME_BACK = {"en": "Welcome back, Ada!", "ru": "С возвращением, Ada!"}
HELP_HEADING = {"en": "Here is what I understand:", "ru": "Вот что я понимаю:"}
HINT = {
    "en": "I don't know that one yet. Send /help to see what I can do.",
    "ru": "Такого я пока не понимаю. Отправьте /help, чтобы узнать, что я умею.",
}
UNAVAILABLE = {
    "en": "I can't reach my database right now. Please send that again in a minute.",
    "ru": "Сейчас я не могу связаться со своей базой данных. Пожалуйста, отправьте это ещё раз через минуту.",
}
START_DESCRIPTION = {"en": "Register and say hello", "ru": "Зарегистрироваться и поздороваться"}
# Codes the bot has no catalog for, and codes that are no language tag at all: the default locale's texts.
FOREIGN_CODES = ["de", "zz", "pt-br", None, "", "en_US", "123"]


def help_in(locale: str) -> str:
    """/help's answer: the heading, then the menu as a user of `locale` reads it."""
    listing = [f"/{command.command} - {command.description}" for command in command_list(locale)]
    return "\n".join([HELP_HEADING[locale], *listing])


async def say(dispatcher: Dispatcher, bot: Bot, text: str, language_code: str | None) -> None:
    sender = TelegramUserFactory.build(first_name="Ada", language_code=language_code)
    message = MessageFactory.build(from_user=sender, text=text)
    await dispatcher.feed_update(bot, UpdateFactory.build(message=message))


@pytest.mark.parametrize(
    ("language_code", "locale"), [("en", "en"), ("ru", "ru"), ("ru-RU", "ru"), ("en-US", "en")]
)
@pytest.mark.usefixtures("connection")
async def test_start_welcomes_in_the_users_language(
    dispatcher: Dispatcher, bot: Bot, session: RecordingSession, language_code: str, locale: str
) -> None:
    sender = TelegramUserFactory.build(first_name="Ada", language_code=language_code)

    for _ in range(2):
        await dispatcher.feed_update(bot, UpdateFactory.build(message=MessageFactory.build(from_user=sender)))

    assert session.sent_texts() == [WELCOME[locale], WELCOME_BACK[locale]]


@pytest.mark.parametrize("language_code", ["en", "ru"])
async def test_help_and_the_hint_in_the_users_language(
    dispatcher: Dispatcher,
    bot: Bot,
    session: RecordingSession,
    connections: CountingConnections,
    language_code: str,
) -> None:
    await say(dispatcher, bot, "/help", language_code)
    await say(dispatcher, bot, "what now?", language_code)

    assert session.sent_texts() == [help_in(language_code), HINT[language_code]]
    assert connections.opened == 0


@pytest.mark.parametrize("language_code", FOREIGN_CODES)
@pytest.mark.usefixtures("connection")
async def test_any_other_language_gets_the_default_locale(
    dispatcher: Dispatcher, bot: Bot, session: RecordingSession, language_code: str | None
) -> None:
    await say(dispatcher, bot, "/start", language_code)
    await say(dispatcher, bot, "/help", language_code)

    assert session.sent_texts() == [WELCOME["en"], help_in("en")]


@pytest.mark.parametrize(
    ("language_code", "locale"), [("de", "ru"), (None, "ru"), ("ru", "ru"), ("en", "en")]
)
@pytest.mark.usefixtures("connection")
async def test_the_default_locale_is_a_setting(
    bot: Bot,
    session: RecordingSession,
    connections: CountingConnections,
    language_code: str | None,
    locale: str,
) -> None:
    dispatcher = build_dispatcher(connections, redeliverable=True, i18n=build_i18n("ru"))

    await say(dispatcher, bot, "/start", language_code)
    await say(dispatcher, bot, "/nope", language_code)

    assert session.sent_texts() == [WELCOME[locale], HINT[locale]]


@pytest.mark.parametrize("language_code", ["en", "ru"])
async def test_the_database_outage_message_is_in_the_users_language(
    bot: Bot, session: RecordingSession, language_code: str
) -> None:
    # Polling's dispatcher: it tells the user, since Telegram will not deliver the update again.
    dispatcher = build_dispatcher(unreachable, redeliverable=False)

    await say(dispatcher, bot, "/start", language_code)

    assert session.sent_texts() == [UNAVAILABLE[language_code]]


@pytest.mark.parametrize(("default_locale", "other"), [("en", "ru"), ("ru", "en")])
async def test_the_command_list_is_registered_in_every_language(
    bot: Bot, session: RecordingSession, default_locale: str, other: str
) -> None:
    await register_commands(bot, build_i18n(default_locale))

    assert session.calls == [
        SetMyCommands(commands=command_list(default_locale)),
        SetMyCommands(commands=command_list(other), language_code=other),
        # A list in the default's own code, left from a time another locale was the default, would shadow the
        # default list for its users.
        DeleteMyCommands(language_code=default_locale),
    ]


async def test_the_command_lists_of_retired_locales_are_deleted(bot: Bot, session: RecordingSession) -> None:
    await register_commands(bot, build_i18n("en"), retired=["uk", "de"])

    assert [call for call in session.calls if isinstance(call, DeleteMyCommands)] == [
        DeleteMyCommands(language_code="de"),
        DeleteMyCommands(language_code="en"),
        DeleteMyCommands(language_code="uk"),
    ]


@pytest.mark.parametrize("locale", ["en", "ru"])
def test_the_command_list_is_translated(locale: str) -> None:
    start, *_others = command_list(locale)
    assert (start.command, start.description) == ("start", START_DESCRIPTION[locale])


@pytest.mark.parametrize("language_code", ["en", "ru"])
@pytest.mark.usefixtures("connection")
async def test_a_name_goes_into_the_text_as_it_is(
    dispatcher: Dispatcher, bot: Bot, session: RecordingSession, language_code: str
) -> None:
    # Plain text, no parse mode: markup, format fields and percent signs in a name are just characters.
    name = "<b>{first_name}</b> {0} %s"
    sender = TelegramUserFactory.build(first_name=name, language_code=language_code)

    await dispatcher.feed_update(bot, UpdateFactory.build(message=MessageFactory.build(from_user=sender)))

    assert session.sent_texts() == [WELCOME[language_code].replace("Ada", name)]
