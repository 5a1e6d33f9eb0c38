"""/start: register the user, or bring their profile up to date, and say hello."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import CommandStart
from aiogram.types import Message, Update
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from sqlalchemy.ext.asyncio import AsyncConnection

from telegram_bot.bot.menu import MenuCommand
from telegram_bot.db.queries.users import Profile, register_user
from telegram_bot.log import get_logger

__all__ = ["COMMANDS", "build_router"]

log = get_logger(__name__)

COMMANDS: tuple[MenuCommand, ...] = (MenuCommand("start", __("Register and say hello")),)


def welcome(first_name: str) -> str:
    # Translators: {first_name} is the user's first name, as their Telegram profile has it.
    text = _("Welcome, {first_name}! You are registered. Send /help to see what I can do.")
    return text.format(first_name=first_name)


def welcome_back(first_name: str) -> str:
    # Translators: {first_name} is the user's first name, as their Telegram profile has it.
    return _("Welcome back, {first_name}!").format(first_name=first_name)


async def start(message: Message, event_update: Update, connection: AsyncConnection) -> None:
    # In any chat, groups included: the sender registers, the answer goes to the chat the command came from.
    sender = message.from_user
    assert sender is not None  # noqa: S101 - guaranteed by the dispatcher's filter (from_a_person)
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
        await message.answer(welcome(sender.first_name))
    else:
        await message.answer(welcome_back(sender.first_name))


def build_router() -> Router:
    router = Router(name="start")
    router.message.register(start, CommandStart())
    return router
