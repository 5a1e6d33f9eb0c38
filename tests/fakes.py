"""Test doubles of the Telegram Bot API, the one thing the tests do not run for real.

- RecordingSession: a Bot session that records each method the bot calls and answers it without a network.
- FakeBotAPI: a small Bot API HTTP server (getUpdates, sendMessage, setWebhook...) for a real bot process
  pointed at it with TELEGRAM_API_URL.
Both enforce Telegram's flood limits by default (tests/flood.py): what they refuse answers 429, as Telegram
does, and is not recorded as a call. A test that needs no limits asks for `limits=None`, and says why.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import GetMe, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, Message, User
from aiohttp import web

from tests.flood import TELEGRAM, FloodControl, TelegramLimits, too_many_requests

BOT_USER = User(id=42, is_bot=True, first_name="Test bot", username="test_bot")


class RecordingSession(BaseSession):
    """Records each Bot API method called through it; answers sendMessage with a message, others with True."""

    def __init__(self, limits: TelegramLimits | None = TELEGRAM) -> None:
        super().__init__()
        self.calls: list[TelegramMethod[Any]] = []
        self.flood = None if limits is None else FloodControl(limits)
        self._message_ids = itertools.count(1)

    def methods(self) -> list[str]:
        """The Bot API methods called, in order: ["sendMessage", ...]."""
        return [call.__api_method__ for call in self.calls]

    def sent(self) -> list[tuple[int | str, str]]:
        """(chat id, text) of each message sent, in order."""
        return [(call.chat_id, call.text) for call in self.calls if isinstance(call, SendMessage)]

    def sent_texts(self) -> list[str]:
        return [text for _, text in self.sent()]

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        if self.flood is not None:
            retry_after = self.flood.check(method.__api_method__, getattr(method, "chat_id", None))
            if retry_after is not None:
                content = json.dumps(too_many_requests(retry_after))
                self.check_response(bot, method, HTTPStatus.TOO_MANY_REQUESTS, content)  # raises
        self.calls.append(method)
        if isinstance(method, SendMessage):
            return cast("TelegramType", self._message_for(method))
        if isinstance(method, GetMe):
            return cast("TelegramType", BOT_USER)
        return cast("TelegramType", True)

    def _message_for(self, method: SendMessage) -> Message:
        return Message(
            message_id=next(self._message_ids),
            date=datetime.now(tz=UTC),
            chat=Chat(id=int(method.chat_id), type="private"),
            from_user=BOT_USER,
            text=method.text,
        )

    async def close(self) -> None:
        """Nothing to close."""

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        # The bot downloads no files: there is never anything to stream.
        nothing: tuple[bytes, ...] = ()
        for chunk in nothing:
            yield chunk


@dataclass
class FakeBotAPI:
    """A Bot API server on 127.0.0.1: queue updates for getUpdates, read what the bot called.

    `calls` holds the requests it took (`flood` counts those it answered 429); `fail_next` makes the next
    requests of a method fail with a status (a 5xx) before they are taken, and `failed` holds them.
    """

    token: str
    limits: TelegramLimits | None = TELEGRAM
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _failures: dict[str, list[int]] = field(default_factory=dict)
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _new_update: asyncio.Event = field(default_factory=asyncio.Event)
    _called: asyncio.Condition = field(default_factory=asyncio.Condition)
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.flood = None if self.limits is None else FloodControl(self.limits)

    def fail_next(self, method: str, status: int = HTTPStatus.INTERNAL_SERVER_ERROR, times: int = 1) -> None:
        self._failures.setdefault(method, []).extend([status] * times)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        return app

    def queue_update(self, update: dict[str, Any]) -> None:
        self._updates.append(update)
        self._new_update.set()

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    async def wait_for_call(self, method: str, count: int = 1, timeout: float = 20) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout), self._called:
            await self._called.wait_for(lambda: len(self.calls_to(method)) >= count)
        return self.calls_to(method)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params = {key: _decode(value) for key, value in (await request.post()).items()}
        if failures := self._failures.get(method):
            status = failures.pop(0)
            self.failed.append((method, params))
            return web.json_response(
                {"ok": False, "error_code": status, "description": HTTPStatus(status).phrase}, status=status
            )
        if method == "getUpdates":
            return _ok(await self._get_updates(params))
        if self.flood is not None and (retry_after := self.flood.check(method, params.get("chat_id"))):
            return web.json_response(too_many_requests(retry_after), status=HTTPStatus.TOO_MANY_REQUESTS)
        async with self._called:
            self.calls.append((method, params))
            self._called.notify_all()
        return _ok(self._result(method, params))

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0))
        self._updates = [update for update in self._updates if update["update_id"] >= offset]
        if not self._updates:
            self._new_update.clear()
            # A short long-poll: enough to be realistic, short enough for a quick shutdown.
            try:
                async with asyncio.timeout(min(float(params.get("timeout", 0)), 1.0)):
                    await self._new_update.wait()
            except TimeoutError:
                return []
        return list(self._updates)

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER.model_dump(exclude_none=True)
        if method == "sendMessage":
            return {
                "message_id": next(self._message_ids),
                "date": int(datetime.now(tz=UTC).timestamp()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": BOT_USER.model_dump(exclude_none=True),
                "text": params["text"],
            }
        return True


def _decode(value: Any) -> Any:
    """aiogram sends scalars as text and lists or objects as JSON text."""
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})
