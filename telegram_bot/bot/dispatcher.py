"""Factories that assemble the bot: the same assembly serves polling, the webhook and the tests."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.utils.i18n import I18n

from telegram_bot.bot.errors import ErrorReporter
from telegram_bot.bot.handlers.start import build_router
from telegram_bot.bot.i18n import UserLocaleMiddleware, build_i18n
from telegram_bot.bot.middlewares import (
    ConnectionFactory,
    DatabaseMiddleware,
    LogContextMiddleware,
)
from telegram_bot.bot.session import BotSession
from telegram_bot.config import Settings
from telegram_bot.languages import SOURCE_LOCALE


def build_bot(settings: Settings) -> Bot:
    """A Bot talking to Telegram, or to the Bot API server TELEGRAM_API_URL names."""
    api = PRODUCTION
    if settings.telegram_api_url is not None:
        api = TelegramAPIServer.from_base(str(settings.telegram_api_url))
    return Bot(settings.telegram_token.get_secret_value(), session=BotSession(api=api))


def build_dispatcher(
    connect: ConnectionFactory, *, redeliverable: bool, i18n: I18n | None = None
) -> Dispatcher:
    """The dispatcher with its middlewares, error handler and routers, all new.

    `i18n` holds the catalogs and DEFAULT_LOCALE (build_i18n); without it, the default locale is English.
    """
    dispatcher = Dispatcher()
    dispatcher.update.outer_middleware(LogContextMiddleware())
    # Outer on every kind of event but the update itself, the error handler's included: each handler, and the
    # message telling the user about a failure, speaks the user's language.
    UserLocaleMiddleware(i18n or build_i18n(SOURCE_LOCALE)).setup(dispatcher)
    dispatcher.message.middleware(DatabaseMiddleware(connect))
    dispatcher.errors.register(ErrorReporter(redeliverable=redeliverable).handle)
    dispatcher.include_router(build_router())
    return dispatcher
