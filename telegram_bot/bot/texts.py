"""What the bot says, in one place, in every language it speaks.

Each text is written in English and marked with `_`, aiogram's gettext: it comes out in the locale chosen for
the update being handled (telegram_bot/bot/i18n.py). So these functions work only where an I18n context is
set: in handlers, in the error handler, or inside `i18n.context()` and `i18n.use_locale(...)`. After changing
a text, update the catalogs (docs/development.md, "Languages"). Texts are plain text, sent with no parse mode:
a user's name goes in as it is, with nothing to escape.
"""

from __future__ import annotations

from functools import cache

from aiogram.types import BotCommand
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _


def _commands() -> tuple[tuple[str, str], ...]:
    """The commands and what each does, in the current locale."""
    return (
        ("start", _("Register and say hello")),
        ("help", _("What this bot can do")),
    )


def commands() -> list[BotCommand]:
    """The command list Telegram shows in its menu, in the current locale."""
    return [BotCommand(command=command, description=description) for command, description in _commands()]


def welcome(first_name: str) -> str:
    # Translators: {first_name} is the user's first name, as their Telegram profile has it.
    text = _("Welcome, {first_name}! You are registered. Send /help to see what I can do.")
    return text.format(first_name=first_name)


def welcome_back(first_name: str) -> str:
    # Translators: {first_name} is the user's first name, as their Telegram profile has it.
    return _("Welcome back, {first_name}!").format(first_name=first_name)


def help_text() -> str:
    return _help_text(get_i18n().current_locale)


@cache
def _help_text(locale: str) -> str:  # noqa: ARG001 - the cache's key: `_` reads the same locale from the context
    """The help in the current locale: the same for every update, so built once per locale."""
    lines = [_("Here is what I understand:")]
    lines += [f"/{command} - {description}" for command, description in _commands()]
    return "\n".join(lines)


def hint() -> str:
    return _("I don't know that one yet. Send /help to see what I can do.")


def failed() -> str:
    return _("Sorry, something went wrong on my side. Please try again later.")


def unavailable() -> str:
    return _("I can't reach my database right now. Please send that again in a minute.")
