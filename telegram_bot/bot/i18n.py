"""The user's language: aiogram's I18n over the catalogs in telegram_bot/locales, and each update's locale.

The locale is the user's Telegram `language_code` when the bot speaks it ("ru", or "ru-RU" as "ru"), and
DEFAULT_LOCALE otherwise: an unsupported language, no code, or no user at all.

Texts live beside the code that says them (a feature's in its handler module), written in English and marked
with `_`, aiogram's gettext: they come out in the locale chosen for the update being handled. So they work
only where an I18n context is set: in handlers, in the error handler, or inside `i18n.context()` and
`i18n.use_locale(...)`. They are plain text, sent with no parse mode: a user's name goes in as it is.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.dispatcher.middlewares.user_context import EVENT_FROM_USER_KEY
from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, SimpleI18nMiddleware
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from telegram_bot.bot import handlers
from telegram_bot.bot.middlewares import Handler
from telegram_bot.languages import DOMAIN, LOCALES_DIR, RETIRED_LOCALES, catalog_path, supported_locales

# Telegram's language codes are a few hundred at most: more than this is someone making them up.
MAX_REMEMBERED_CODES = 1024


def build_i18n(default_locale: str) -> I18n:
    """Every catalog, with `default_locale` for users whose language has none."""
    return TranslationsI18n(path=LOCALES_DIR, default_locale=default_locale, domain=DOMAIN)


class TranslationsI18n(I18n):
    """aiogram's I18n, reading each locale's translations from its .po, compiled in memory once, at start.

    So the repository keeps no compiled .mo that could fall behind its .po: what a user reads is what the .po
    says. Compiling the two catalogs takes milliseconds.
    """

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        return {locale: _compiled(catalog_path(locale, self.path)) for locale in supported_locales(self.path)}

    @contextmanager
    def context(self) -> Iterator[I18n]:
        # I18n's context variable, the one gettext reads: ContextInstanceMixin gives each subclass its own.
        token = I18n.set_current(self)
        try:
            yield self
        finally:
            I18n.reset_current(token)


def _compiled(po_path: Path) -> gettext.GNUTranslations:
    with po_path.open("rb") as po:
        catalog = read_po(po)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


class UserLocaleMiddleware(SimpleI18nMiddleware):
    """SimpleI18nMiddleware's choice of locale, made once per language code rather than once per update.

    Babel takes a few microseconds to parse a code, every update, for an answer that never changes. And it
    raises ValueError on a code that is no language tag at all ("", "en_US"), which SimpleI18nMiddleware lets
    through, failing the update: here such a code gets the default locale.
    """

    def __init__(self, i18n: I18n) -> None:
        # No `i18n` entry in the handlers' data: texts get the I18n from its context, not as an argument.
        super().__init__(i18n, i18n_key=None)
        self._chosen: dict[str | None, str] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        # I18nMiddleware.__call__ made cheap, for it runs on every update: a known code's locale without a
        # coroutine; the context variables set and reset directly rather than through two generator-based
        # context managers, and the locale's only when it is not the default, its variable's default value
        # (setting a context variable makes every other one's next read slower); and no `i18n_middleware`
        # entry that every later copy of `data` would carry.
        locale = self._chosen.get(_language_code(data)) or await self.get_locale(event, data)
        current = I18n.set_current(self.i18n)
        try:
            if locale == self.i18n.default_locale:
                return await handler(event, data)
            chosen = self.i18n.ctx_locale.set(locale)
            try:
                return await handler(event, data)
            finally:
                self.i18n.ctx_locale.reset(chosen)
        finally:
            I18n.reset_current(current)

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        code = _language_code(data)
        locale = self._chosen.get(code)
        if locale is None:
            try:
                locale = await super().get_locale(event, data)
            except ValueError:  # not a language tag: aiogram catches only Babel's UnknownLocaleError
                locale = self.i18n.default_locale
            if len(self._chosen) < MAX_REMEMBERED_CODES:
                self._chosen[code] = locale
        return locale


def _language_code(data: dict[str, Any]) -> str | None:
    user: User | None = data.get(EVENT_FROM_USER_KEY)
    return None if user is None else user.language_code


async def register_commands(bot: Bot, i18n: I18n, retired: Iterable[str] = RETIRED_LOCALES) -> None:
    """Make Telegram's command lists those of the languages the bot speaks, and no others.

    The default locale's list goes to every user; each other locale's, to the users whose Telegram speaks
    it: Telegram picks the list by the user's language code, and keeps a list until it is deleted. So the
    lists no locale serves any more are deleted: one in the default locale's own code (left from a time when
    another locale was the default, it would show its users that time's menu), and one in each retired code.
    """
    others = sorted(set(i18n.available_locales) - {i18n.default_locale})
    for locale in [i18n.default_locale, *others]:
        with i18n.context(), i18n.use_locale(locale):
            commands = handlers.menu().bot_commands()
        language_code = None if locale == i18n.default_locale else locale
        await bot.set_my_commands(commands, language_code=language_code)
    for stale in sorted({i18n.default_locale, *retired} - set(others)):
        await bot.delete_my_commands(language_code=stale)
