"""Handlers. A handler that takes a `connection` parameter gets one from DatabaseMiddleware."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message, Update
from sqlalchemy.ext.asyncio import AsyncConnection

from telegram_bot.bot import texts
from telegram_bot.db.queries.users import Profile, register_user
from telegram_bot.log import get_logger

log = get_logger(__name__)


async def start(message: Message, event_update: Update, connection: AsyncConnection) -> None:
    # Only private chats and users reach here: the router's filter guarantees from_user.
    sender = message.from_user
    assert sender is not None  # noqa: S101 - guaranteed by the router's filter
    profile = Profile(
        telegram_id=sender.id,
        update_id=event_update.update_id,
        first_name=sender.first_name,
        username=sender.username,
        last_name=sender.last_name,
        language_code=sender.language_code,
    )
    registration = await register_user(connection, profile)
    if registration.is_new:
        log.info("user registered")
        await message.answer(texts.welcome(sender.first_name))
    else:
        await message.answer(texts.welcome_back(sender.first_name))


async def help_command(message: Message) -> None:
    await message.answer(texts.help_text())


async def hint(message: Message) -> None:
    await message.answer(texts.hint())


async def from_a_person(message: Message) -> bool:
    """The router's filter: messages from people, not bots.

    A coroutine, because aiogram runs a plain function, a magic filter (F) included, in a worker thread.
    """
    return message.from_user is not None and not message.from_user.is_bot


def build_router() -> Router:
    """A new router each time: a router can be attached to one dispatcher only."""
    router = Router(name="registration")
    # Registration is for people: bots, channels and anonymous admins have no profile to keep.
    router.message.filter(from_a_person)
    router.message.register(start, CommandStart())
    router.message.register(help_command, Command("help"))
    router.message.register(hint)
    return router
