"""/help: the command list, as the menu has it."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __

from telegram_bot.bot.menu import Menu, MenuCommand

__all__ = ["COMMANDS", "build_router", "help_text"]

COMMANDS: tuple[MenuCommand, ...] = (MenuCommand("help", __("What this bot can do")),)


def help_text(menu: Menu) -> str:
    return "\n".join([_("Here is what I understand:"), menu.listing()])


async def help_command(message: Message, menu: Menu) -> None:
    await message.answer(help_text(menu))


def build_router() -> Router:
    router = Router(name="help")
    router.message.register(help_command, Command("help"))
    return router
