"""The bot's session to the Bot API: aiogram's aiohttp session, without rebuilding a model per answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot


class BotSession(AiohttpSession):
    """AiohttpSession holding on to the `Response[T]` model of every method it has called.

    aiogram parametrizes `Response[T]` for each answer it parses, and pydantic keeps parametrized models only
    weakly: once the garbage collector has taken one, the next answer builds the class and its validator
    again. Under webhook load that was an eighth of the bot process's CPU. A strong reference per returned
    type makes it a cache hit.
    """

    def __init__(self, api: TelegramAPIServer = PRODUCTION, **kwargs: Any) -> None:
        super().__init__(api=api, **kwargs)
        self._response_models: dict[object, type[Response[Any]]] = {}

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self._response_models:
            self._response_models[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot=bot, method=method, status_code=status_code, content=content)
