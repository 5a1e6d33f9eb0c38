"""Factories that assemble the bot: the same assembly serves polling, the webhook and the tests."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent, Update
from aiogram.utils.i18n import I18n
from structlog.contextvars import bound_contextvars

from telegram_bot.bot import texts
from telegram_bot.bot.handlers import build_router
from telegram_bot.bot.i18n import UserLocaleMiddleware, build_i18n
from telegram_bot.bot.middlewares import (
    ConnectionFactory,
    DatabaseMiddleware,
    LogContextMiddleware,
    update_context,
)
from telegram_bot.bot.pacing import FloodLimits, install_policy, is_refused_send
from telegram_bot.bot.session import BotSession
from telegram_bot.config import Settings
from telegram_bot.db.engine import is_database_unavailable
from telegram_bot.languages import SOURCE_LOCALE
from telegram_bot.log import get_logger

log = get_logger(__name__)


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


class ErrorReporter:
    """The dispatcher's error handler: log the failure with its context and keep serving.

    With `redeliverable` (webhook mode), an update that failed because PostgreSQL was unreachable is
    re-raised, so that the webhook answers non-2xx and Telegram delivers it again once the database is back.
    Otherwise (polling, whose updates are confirmed once fetched), the user is told to try again.

    A reply that Telegram's flood control refused (or that pacing gave up) is never answered with one more
    message, which would be refused too: it is re-raised with `redeliverable` (the webhook keeps the reply and
    sends it on the redelivery), and otherwise only logged.
    """

    def __init__(self, *, redeliverable: bool) -> None:
        self._redeliverable = redeliverable

    async def handle(self, event: ErrorEvent, bot: Bot) -> bool:
        unavailable = is_database_unavailable(event.exception)
        with bound_contextvars(**update_context(event.update)):
            if is_refused_send(event.exception):
                if self._redeliverable:
                    log.warning("reply held back by Telegram's flood limits; left for the redelivery")
                    raise event.exception
                log.error("reply not sent: Telegram's flood limits", error=str(event.exception))
                return True
            if unavailable and self._redeliverable:
                log.warning("database unavailable; update left for Telegram to deliver again")
                raise event.exception
            log.error("update failed", exc_info=event.exception)
            await self._tell_user(bot, event.update, texts.unavailable() if unavailable else texts.failed())
        return True

    @staticmethod
    async def _tell_user(bot: Bot, update: Update, text: str) -> None:
        chat = UserContextMiddleware.resolve_event_context(update).chat
        if chat is None:
            return
        try:
            await bot.send_message(chat.id, text)
        except TelegramAPIError:
            log.exception("could not tell the user about the failure")


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
