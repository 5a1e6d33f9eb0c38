"""The dispatcher's error handler: what happens to an update whose handling failed."""

from __future__ import annotations

from aiogram import Bot
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent, Update
from aiogram.utils.i18n import gettext as _
from structlog.contextvars import bound_contextvars

from telegram_bot.bot.middlewares import update_context
from telegram_bot.bot.pacing import is_refused_send
from telegram_bot.db.engine import is_database_unavailable
from telegram_bot.log import get_logger

__all__ = ["ErrorReporter", "failed_text", "unavailable_text"]

log = get_logger(__name__)


def failed_text() -> str:
    return _("Sorry, something went wrong on my side. Please try again later.")


def unavailable_text() -> str:
    return _("I can't reach my database right now. Please send that again in a minute.")


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
            await self._tell_user(bot, event.update, unavailable_text() if unavailable else failed_text())
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
