"""Test doubles of the Telegram Bot API, the one thing the tests do not run for real.

- RecordingSession: a Bot session that records each method the bot calls and answers it without a network.
- FakeBotAPI: a small Bot API HTTP server (getUpdates, sendMessage, setWebhook...) for a real bot process
  pointed at it with TELEGRAM_API_URL. It keeps Telegram's state where the bot reads it back: the webhook
  (getWebhookInfo; getUpdates answers 409 Conflict while one is set) and the command list of each scope and
  language.
Both enforce Telegram's flood limits by default (tests/support/flood.py): what they refuse answers 429, as
Telegram does, and is not recorded as a call. A test that needs no limits asks for `limits=None`, and says
why.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncGenerator, Callable
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

from tests.support.flood import TELEGRAM, FloodControl, TelegramLimits, too_many_requests

_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_LANGUAGE_CODE = re.compile(r"(?:[a-z]{2})?")
# What getUpdates answers at most, unless asked for fewer.
GET_UPDATES_LIMIT = 100
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
    # What setWebhook was last given (secret included, which getWebhookInfo never shows); {} when none is set.
    webhook: dict[str, Any] = field(default_factory=dict)
    # (scope type, language code or "") -> the command names of that list (the bot uses the default scope).
    command_lists: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _delivery_error: dict[str, Any] = field(default_factory=dict)

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
        if (refusal := self._refusal(method, params)) is not None:
            return refusal
        if method == "getUpdates" and self.webhook:
            return _conflict()
        if method == "getUpdates":
            return _ok(await self._get_updates(params))
        async with self._called:
            self.calls.append((method, params))
            self._called.notify_all()
        try:
            return _ok(self._result(method, params))
        except BotAPIError as error:
            return web.json_response(
                {"ok": False, "error_code": error.code, "description": error.description}, status=error.code
            )

    def _refusal(self, method: str, params: dict[str, Any]) -> web.Response | None:
        """A queued failure (fail_next), or the flood control's 429; None when the request is taken."""
        if failures := self._failures.get(method):
            status = failures.pop(0)
            self.failed.append((method, params))
            return web.json_response(
                {"ok": False, "error_code": status, "description": HTTPStatus(status).phrase}, status=status
            )
        if self.flood is not None and (retry_after := self.flood.check(method, params.get("chat_id"))):
            return web.json_response(too_many_requests(retry_after), status=HTTPStatus.TOO_MANY_REQUESTS)
        return None

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """As Telegram answers: the earliest unconfirmed updates (below `offset`: confirmed), at most `limit`,
        in increasing update_id, whatever order they were queued in.

        The bot confirms up to the last update of each answer, so an answer out of order would hand it again
        the ones it had already taken.
        """
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
        earliest = sorted(self._updates, key=lambda update: int(update["update_id"]))
        return earliest[: int(params.get("limit", GET_UPDATES_LIMIT))]

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if (stateful := self._stateful_methods().get(method)) is not None:
            return stateful(params)
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

    # Telegram's state, as the bot changes it and as another client with the same token would.

    def set_webhook_elsewhere(self, url: str) -> None:
        """Another client with the token sets its own webhook."""
        self.webhook = {"url": url}

    def delete_webhook_elsewhere(self) -> None:
        """Another client with the token deletes the webhook (as a polling laptop used to)."""
        self.webhook = {}

    def fail_delivery(self, message: str, pending_update_count: int) -> None:
        """Telegram could not deliver to the webhook: getWebhookInfo reports it from now on."""
        self._delivery_error = {
            "last_error_date": int(datetime.now(tz=UTC).timestamp()),
            "last_error_message": message,
            "pending_update_count": pending_update_count,
        }

    def _stateful_methods(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {
            "getWebhookInfo": self._get_webhook_info,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
        }

    def _get_webhook_info(self, _params: dict[str, Any]) -> dict[str, Any]:
        if not self.webhook:
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        info = {"url": self.webhook["url"], "has_custom_certificate": False, "pending_update_count": 0}
        for name in ("max_connections", "allowed_updates"):
            if name in self.webhook:
                info[name] = self.webhook[name]
        return info | self._delivery_error

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url", ""))
        if not url:  # Telegram: an empty URL removes the webhook
            return self._delete_webhook(params)
        if not url.startswith("https://"):
            raise BotAPIError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = {
            "url": url,
            "secret_token": params.get("secret_token"),
            "allowed_updates": params.get("allowed_updates", []),
            "max_connections": int(params.get("max_connections", 40)),
        }
        return True

    def _delete_webhook(self, _params: dict[str, Any]) -> bool:
        self.webhook = {}
        return True

    @staticmethod
    def _command_list_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        language_code = str(params.get("language_code") or "")
        # Telegram's rule: two letters (ISO 639-1), or none. The description is the fake's own words.
        if not _LANGUAGE_CODE.fullmatch(language_code):
            raise BotAPIError(400, "Bad Request: invalid language code specified")
        return str(scope["type"]), language_code

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = [command["command"] for command in params["commands"]]
        # Telegram's rules: a command is 1-32 of a-z, 0-9 and _, a description 1-256 characters. The
        # descriptions of the refusals are the fake's own words.
        if not all(_COMMAND_NAME.fullmatch(name) for name in commands):
            raise BotAPIError(400, "Bad Request: BOT_COMMAND_INVALID")
        if not all(1 <= len(command["description"]) <= 256 for command in params["commands"]):
            raise BotAPIError(400, "Bad Request: command description is invalid")
        if commands:
            self.command_lists[self._command_list_key(params)] = commands
        else:  # Telegram: an empty list is no list
            self.command_lists.pop(self._command_list_key(params), None)
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        names = self.command_lists.get(self._command_list_key(params), [])
        return [{"command": name, "description": name} for name in names]

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.command_lists.pop(self._command_list_key(params), None)
        return True


class BotAPIError(Exception):
    """A refusal the fake answers as Telegram does: {"ok": false, "error_code", "description"}."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _conflict() -> web.Response:
    description = (
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
        "webhook first"
    )
    return web.json_response({"ok": False, "error_code": 409, "description": description}, status=409)


def _decode(value: Any) -> Any:
    """aiogram sends scalars as text and lists or objects as JSON text."""
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})
