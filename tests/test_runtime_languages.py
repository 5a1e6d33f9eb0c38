"""The real `python -m telegram_bot` speaks each user's language: the catalogs as the package ships them, the
locale from each update, DEFAULT_LOCALE from the environment. Only the Bot API is a fake.
"""

# The Russian texts are Cyrillic on purpose: letters that look Latin are no mistake here.

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL

from tests.support.fakes import FakeBotAPI
from tests.support.locales import command_list
from tests.support.process import bot_environment, start_bot, stop_bot, update_json
from tests.support.updates import TelegramUserFactory

WELCOME = {
    "en": "Welcome, Ada! You are registered. Send /help to see what I can do.",
    "ru": "Добро пожаловать, Ada! Вы зарегистрированы. Отправьте /help, чтобы узнать, что я умею.",
}


async def welcome_each(
    api: FakeBotAPI, environment: dict[str, str], tmp_path: Path, language_codes: list[str | None]
) -> list[str]:
    """Run the bot in polling mode for one /start from an Ada of each language code; the reply to each."""
    senders = [TelegramUserFactory.build(first_name="Ada", language_code=code) for code in language_codes]
    for sender in senders:
        api.queue_update(update_json(from_user=sender))
    process = await start_bot(environment, tmp_path)
    try:
        replies = await api.wait_for_call("sendMessage", count=len(senders))
    finally:
        status, _ = await stop_bot(process)
    assert status == 0
    reply_to = {int(reply["chat_id"]): reply["text"] for reply in replies}
    return [reply_to[sender.id] for sender in senders]


def descriptions(locale: str) -> list[str]:
    return [command.description for command in command_list(locale)]


def command_lists(api: FakeBotAPI) -> list[tuple[str | None, list[str]]]:
    """(language code, descriptions) of each command list registered, in order."""
    calls: list[dict[str, Any]] = api.calls_to("setMyCommands")
    return [
        (call.get("language_code"), [command["description"] for command in call["commands"]])
        for call in calls
    ]


async def test_each_user_is_welcomed_in_their_language_with_english_the_default(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    environment = bot_environment(isolated_database_url, api_url)

    replies = await welcome_each(api, environment, tmp_path, ["ru", "en", "de", None])

    assert replies == [WELCOME["ru"], WELCOME["en"], WELCOME["en"], WELCOME["en"]]
    assert command_lists(api) == [(None, descriptions("en")), ("ru", descriptions("ru"))]


async def test_with_default_locale_ru_other_languages_are_welcomed_in_russian(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    environment = bot_environment(isolated_database_url, api_url, DEFAULT_LOCALE="ru")

    replies = await welcome_each(api, environment, tmp_path, ["de", "en", None])

    assert replies == [WELCOME["ru"], WELCOME["en"], WELCOME["ru"]]
    assert command_lists(api) == [(None, descriptions("ru")), ("en", descriptions("en"))]


async def start_and_stop(api: FakeBotAPI, environment: dict[str, str], tmp_path: Path) -> None:
    """Run the bot in polling mode until it has registered its command lists, the deletions last."""
    deleted = len(api.calls_to("deleteMyCommands"))
    process = await start_bot(environment, tmp_path)
    try:
        await api.wait_for_call("deleteMyCommands", count=deleted + 1)
    finally:
        status, _ = await stop_bot(process)
    assert status == 0


async def test_telegrams_command_lists_follow_a_change_of_default_locale_and_keep_no_stale_list(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api

    await start_and_stop(api, bot_environment(isolated_database_url, api_url, DEFAULT_LOCALE="ru"), tmp_path)
    with_ru_default = dict(api.command_lists)
    await start_and_stop(api, bot_environment(isolated_database_url, api_url, DEFAULT_LOCALE="en"), tmp_path)

    # The default list for everyone, and one per other locale the bot speaks: after the switch back, English
    # users get the default list, not the `en` list the Russian-default run registered.
    assert set(with_ru_default) == {("default", ""), ("default", "en")}
    assert set(api.command_lists) == {("default", ""), ("default", "ru")}
    assert command_lists(api)[-2:] == [(None, descriptions("en")), ("ru", descriptions("ru"))]
