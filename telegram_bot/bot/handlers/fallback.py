"""The answer to a message no other handler took. The dispatcher keeps this router last (BotDispatcher)."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

__all__ = ["build_router", "hint"]


def hint() -> str:
    return _("I don't know that one yet. Send /help to see what I can do.")


async def answer_with_a_hint(message: Message) -> None:
    await message.answer(hint())


def build_router() -> Router:
    router = Router(name="fallback")
    router.message.register(answer_with_a_hint)
    return router
