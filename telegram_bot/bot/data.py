"""What a handler can ask for by naming a parameter, typed in aiogram's style (its middlewares/data.py).

aiogram passes a handler the entries of this mapping its signature names (`message: Message, connection:
AsyncConnection`); a name that is not here makes the handler fail with a TypeError when it is called, which
tests/bot/test_dependencies.py catches for every built handler first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram.dispatcher.middlewares.data import MiddlewareData

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from telegram_bot.bot.menu import Menu

__all__ = ["HandlerData"]


class HandlerData(MiddlewareData, total=False):
    """aiogram's data (bot, event_update, event_from_user...) and what this bot adds to it."""

    connection: AsyncConnection
    """A connection in autocommit mode, back in the pool when the handler returns (DatabaseMiddleware).

    Opened only for a handler that names it, on every kind of event but aiogram's internal ones."""
    menu: Menu
    """The bot's command list (build_dispatcher)."""
