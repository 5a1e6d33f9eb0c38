"""Factories that assemble the bot: the same assembly serves polling, the webhook and the tests."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.utils.i18n import I18n

from telegram_bot.bot import handlers
from telegram_bot.bot.errors import ErrorReporter
from telegram_bot.bot.handlers import fallback
from telegram_bot.bot.i18n import UserLocaleMiddleware, build_i18n
from telegram_bot.bot.middlewares import (
    ConnectionFactory,
    DatabaseMiddleware,
    LogContextMiddleware,
)
from telegram_bot.bot.pacing import FloodLimits, install_policy
from telegram_bot.bot.session import BotSession
from telegram_bot.config import Settings
from telegram_bot.languages import SOURCE_LOCALE


def flood_limits(settings: Settings) -> FloodLimits:
    return FloodLimits(
        messages_per_second=settings.telegram_messages_per_second,
        chat_messages_per_second=settings.telegram_chat_messages_per_second,
        group_messages_per_minute=settings.telegram_group_messages_per_minute,
        max_wait_seconds=settings.telegram_max_wait_seconds,
    )


def build_bot(settings: Settings) -> Bot:
    """A Bot talking to Telegram, or to the Bot API server TELEGRAM_API_URL names, paced under its limits."""
    api = PRODUCTION
    if settings.telegram_api_url is not None:
        api = TelegramAPIServer.from_base(str(settings.telegram_api_url))
    bot = Bot(settings.telegram_token.get_secret_value(), session=BotSession(api=api))
    install_policy(bot, flood_limits(settings))
    return bot


class BotDispatcher(Dispatcher):
    """A Dispatcher that keeps its fallback router last: a router included after it is still reached.

    aiogram offers an event to each router in the order they were included, and the fallback takes every
    message: anything after it would never run.
    """

    def __init__(self, fallback: Router, **workflow_data: Any) -> None:
        super().__init__(**workflow_data)
        self._fallback = super().include_router(fallback)

    def include_router(self, router: Router) -> Router:
        included = super().include_router(router)
        self.sub_routers.remove(self._fallback)
        self.sub_routers.append(self._fallback)
        return included


def build_dispatcher(
    connect: ConnectionFactory, *, redeliverable: bool, i18n: I18n | None = None
) -> Dispatcher:
    """The dispatcher with its middlewares, error handler and routers, all new.

    `i18n` holds the catalogs and DEFAULT_LOCALE (build_i18n); without it, the default locale is English.
    """
    dispatcher = BotDispatcher(fallback.build_router(), menu=handlers.menu())
    dispatcher.update.outer_middleware(LogContextMiddleware())
    # Outer on every kind of event but the update itself, the error handler's included: each handler, and the
    # message telling the user about a failure, speaks the user's language.
    UserLocaleMiddleware(i18n or build_i18n(SOURCE_LOCALE)).setup(dispatcher)
    DatabaseMiddleware(connect).setup(dispatcher)
    # A filter on the dispatcher's own observer comes before every router: messages are for people.
    dispatcher.message.filter(handlers.from_a_person)
    dispatcher.errors.register(ErrorReporter(redeliverable=redeliverable).handle)
    dispatcher.include_routers(*handlers.build_routers())
    return dispatcher
