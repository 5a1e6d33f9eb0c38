"""The bot's command list: what Telegram's menu shows (setMyCommands) and /help lists, in one place.

Each feature names its commands in its handler module (`COMMANDS`); telegram_bot/bot/handlers collects them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiogram.types import BotCommand
from aiogram.utils.i18n import get_i18n
from babel.support import LazyProxy

__all__ = ["Menu", "MenuCommand"]


@dataclass(frozen=True, slots=True)
class MenuCommand:
    """A menu entry; `description`, marked with `__` (lazy_gettext), is translated when read."""

    name: str
    description: LazyProxy


class Menu:
    """The commands of every feature, in order, translated into the current locale when asked."""

    def __init__(self, commands: Iterable[MenuCommand]) -> None:
        self.commands = tuple(commands)
        self._listings: dict[str, str] = {}

    def names(self) -> list[str]:
        return [command.name for command in self.commands]

    def bot_commands(self) -> list[BotCommand]:
        """The list Telegram shows in its menu, in the current locale."""
        return [
            BotCommand(command=command.name, description=str(command.description))
            for command in self.commands
        ]

    def listing(self) -> str:
        """One "/name - description" line a command, in the current locale: built once per locale."""
        locale = get_i18n().current_locale
        listing = self._listings.get(locale)
        if listing is None:
            listing = self._listings[locale] = "\n".join(
                f"/{command.name} - {command.description}" for command in self.commands
            )
        return listing
