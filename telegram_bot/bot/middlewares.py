"""Middlewares: log context for every update, a database connection for the handlers that ask for one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

import structlog
from aiogram import BaseMiddleware, Router
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.dispatcher.router import INTERNAL_UPDATE_TYPES
from aiogram.types import TelegramObject, Update
from sqlalchemy.ext.asyncio import AsyncConnection

from telegram_bot.bot.data import HandlerData

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
ConnectionFactory = Callable[[], AbstractAsyncContextManager[AsyncConnection]]

# HandlerData's key: the parameter a handler names to get a connection.
CONNECTION_PARAMETER = "connection"


def update_context(update: Update) -> dict[str, int]:
    """The ids that identify an update in the logs: update, user and chat."""
    context = UserContextMiddleware.resolve_event_context(update)
    ids = {"update_id": update.update_id}
    if context.user is not None:
        ids["user_id"] = context.user.id
    if context.chat is not None:
        ids["chat_id"] = context.chat.id
    return ids


class LogContextMiddleware(BaseMiddleware):
    """Outer, on updates: every log line written while an update is handled names it."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        with structlog.contextvars.bound_contextvars(**update_context(event)):
            return await handler(event, data)


class InFlightMiddleware(BaseMiddleware):
    """Outer, on updates: counts the updates being handled, so that shutdown can wait for them."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        self._count += 1
        self._idle.clear()
        try:
            return await handler(event, data)
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    @property
    def count(self) -> int:
        return self._count

    async def wait_idle(self) -> None:
        """Return once no update is being handled."""
        await self._idle.wait()


class DatabaseMiddleware(BaseMiddleware):
    """Inner: opens a connection for the handler only if the handler takes a `connection` parameter.

    It is an inner middleware because only there is the chosen handler known: an update that needs no database
    (/help, a hint) never touches the pool.
    """

    def __init__(self, connect: ConnectionFactory) -> None:
        self._connect = connect

    def setup(self, router: Router) -> None:
        """On every kind of event a handler can take (messages, callback queries, pre-checkout queries...)."""
        for name, observer in router.observers.items():
            if name not in INTERNAL_UPDATE_TYPES:
                observer.middleware(self)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chosen: HandlerObject | None = data.get("handler")
        if chosen is None or CONNECTION_PARAMETER not in chosen.params:
            return await handler(event, data)
        async with self._connect() as connection:
            cast("HandlerData", data)["connection"] = connection
            return await handler(event, data)
