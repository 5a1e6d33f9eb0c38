"""The handlers: one module per feature, with its router, its commands and its texts.

A feature module has `COMMANDS` (what it adds to Telegram's menu and to /help; may be empty) and
`build_router()` (a new router each time: a router can be attached to one dispatcher only). FEATURES lists
them in the order the menu lists their commands and their routers see an update. The fallback (fallback.py)
is no feature: the dispatcher keeps it after every router, those included later too.
"""

from __future__ import annotations

from typing import Protocol

from aiogram import Router
from aiogram.types import Message

from telegram_bot.bot.handlers import help, start  # noqa: A004 - the module of /help
from telegram_bot.bot.menu import Menu, MenuCommand

__all__ = ["FEATURES", "Feature", "build_routers", "from_a_person", "menu"]


class Feature(Protocol):
    COMMANDS: tuple[MenuCommand, ...]

    def build_router(self) -> Router: ...


FEATURES: tuple[Feature, ...] = (start, help)


def build_routers() -> list[Router]:
    """A new router for each feature, in FEATURES' order."""
    return [feature.build_router() for feature in FEATURES]


def menu() -> Menu:
    """The commands of every feature, in FEATURES' order."""
    return Menu(command for feature in FEATURES for command in feature.COMMANDS)


async def from_a_person(message: Message) -> bool:
    """The filter on every message: from people, not bots (bots, channels, anonymous admins have no profile).

    A coroutine, because aiogram runs a plain function, a magic filter (F) included, in a worker thread.
    """
    return message.from_user is not None and not message.from_user.is_bot
