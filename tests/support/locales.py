"""The bot's texts as a user of a given locale reads them, for assertions made outside a handler.

The texts are translated in the I18n context a handler runs in; a test that checks a reply builds the same
context around the text it expects.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import ParamSpec, TypeVar

from aiogram.types import BotCommand
from aiogram.utils.i18n import I18n

from telegram_bot.bot.handlers import menu
from telegram_bot.bot.i18n import build_i18n
from telegram_bot.languages import SOURCE_LOCALE

P = ParamSpec("P")
T = TypeVar("T")


@cache
def _catalogs() -> I18n:
    # The default locale plays no part here: said() always names the locale.
    return build_i18n(SOURCE_LOCALE)


def said(locale: str, text: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """What `text(*args, **kwargs)` (e.g. `start.welcome`, "Ada") says to a user whose locale is `locale`."""
    i18n = _catalogs()
    with i18n.context(), i18n.use_locale(locale):
        return text(*args, **kwargs)


def command_list(locale: str) -> list[BotCommand]:
    """The bot's command list (its menu, from the handlers' COMMANDS) as a user of `locale` reads it."""
    return said(locale, menu().bot_commands)
