"""The webhook application: Telegram's updates in, health and readiness out."""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from telegram_bot.bot.pacing import is_refused_send
from telegram_bot.collector import serving_collector
from telegram_bot.db import metadata
from telegram_bot.db.engine import is_database_unavailable
from telegram_bot.db.schema import schema_status
from telegram_bot.log import get_logger

log = get_logger(__name__)

# Telegram's updates are a few kilobytes; anything near this is not one.
MAX_BODY_BYTES = 1024 * 1024
READINESS_TIMEOUT_SECONDS = 3.0
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
ENGINE = web.AppKey("engine", AsyncEngine)


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _acknowledged() -> web.Response:
    return web.json_response({})


class UpdateLedger:
    """The ids of the updates handled lately, so that a second delivery of one is acknowledged, not handled.

    Telegram delivers an update again when its answer was not 2xx or came too late; a delivery that arrives
    while the first is still being handled waits for it and shares its outcome. The ledger is in memory and
    bounded: after a restart, or `capacity` updates later, a redelivery is handled again (registration is an
    idempotent upsert, so that costs at most a second reply).
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._handled: OrderedDict[int, None] = OrderedDict()
        self._in_flight: dict[int, asyncio.Future[bool]] = {}
        self._unsent: OrderedDict[int, TelegramMethod[Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._handled)

    def keep_unsent(self, update_id: int, reply: TelegramMethod[Any]) -> None:
        """Remember the reply of an update that was handled but could not be sent, for its redelivery."""
        self._unsent[update_id] = reply
        if len(self._unsent) > self._capacity:
            self._unsent.popitem(last=False)

    def take_unsent(self, update_id: int) -> TelegramMethod[Any] | None:
        return self._unsent.pop(update_id, None)

    async def once(self, update_id: int, handle: Callable[[], Awaitable[web.Response]]) -> web.Response:
        if update_id in self._handled:
            return _acknowledged()
        if (first := self._in_flight.get(update_id)) is not None:
            if await asyncio.shield(first):
                return _acknowledged()
            return _error(503, "another delivery of this update failed")
        outcome = asyncio.get_running_loop().create_future()
        self._in_flight[update_id] = outcome
        handled = False
        try:
            response = await handle()
            handled = response.status < 300
        finally:
            del self._in_flight[update_id]
            outcome.set_result(handled)
        if handled:
            self._handled[update_id] = None
            if len(self._handled) > self._capacity:
                self._handled.popitem(last=False)
        return response


class WebhookHandler(SimpleRequestHandler):
    """aiogram's webhook handler, answering only after the update was handled, with honest statuses.

    - a missing or wrong secret: 401, before the body is read;
    - a body that is not JSON, or JSON that is not an update: 400;
    - a body over MAX_BODY_BYTES: 413, by its Content-Length before it is read (client_max_size otherwise);
    - an update of a kind this aiogram does not know: 200, ignored (Telegram would only repeat it);
    - an update already handled: 200, not handled again;
    - PostgreSQL unreachable while handling: 503, so that Telegram delivers the update again;
    - a reply that Telegram's flood limits held back past the bound (telegram_bot/bot/pacing.py): 503, and
      the ledger keeps the reply, so that the redelivery sends it without handling the update again.
    A reply waiting for its turn under the flood limits keeps its request open: Telegram opens at most
    max_connections at once, which is the back-pressure. aiogram's default answers 200 before handling, which
    loses every update that then fails. At most `max_concurrent` updates are handled at once; more wait their
    turn.
    """

    def __init__(
        self, dispatcher: Dispatcher, bot: Bot, secret_token: str, *, max_concurrent: int, **data: Any
    ) -> None:
        super().__init__(dispatcher, bot, handle_in_background=False, secret_token=secret_token, **data)
        self._secret = secret_token.encode()
        self.ledger = UpdateLedger()
        self._slots = asyncio.Semaphore(max_concurrent)

    def verify_secret(self, telegram_secret_token: str, _bot: Bot) -> bool:
        # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, hence a 500).
        given = telegram_secret_token.encode("utf-8", "surrogateescape")
        return secrets.compare_digest(given, self._secret)

    async def handle(self, request: web.Request) -> web.Response:
        if not self.verify_secret(request.headers.get(SECRET_HEADER, ""), self.bot):
            return _error(401, "unauthorized")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            # Refused unread: aiohttp's own refusal (client_max_size, for bodies sent without a length) reads
            # the body first, and its exception keeps that buffer alive until the garbage collector runs.
            return _error(413, "body too large")
        try:
            payload = await request.json(loads=self.bot.session.json_loads)
        except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python recurses
            return _error(400, "body is not JSON")
        try:
            update = Update.model_validate(payload, context={"bot": self.bot})
        except (ValidationError, RecursionError):
            return _error(400, "body is not a Telegram update")
        try:
            update_type = update.event_type
        except UpdateTypeLookupError:
            log.info("ignored an update of an unknown kind", update_id=update.update_id)
            return _acknowledged()
        async with self._slots:
            return await self.ledger.once(update.update_id, lambda: self._answer(update, update_type))

    async def _answer(self, update: Update, update_type: str) -> web.Response:
        unsent = self.ledger.take_unsent(update.update_id)
        if unsent is None:
            return await self._feed(update, update_type)
        try:
            await self.bot(unsent)
        except Exception as error:
            if is_refused_send(error):
                return self._hold_back(update, error)
            # Not tried again: a request that failed after it went out may have reached the user.
            log.exception("the held-back reply failed on the redelivery", update_id=update.update_id)
        return _acknowledged()

    def _hold_back(self, update: Update, refused: TelegramAPIError) -> web.Response:
        self.ledger.keep_unsent(update.update_id, refused.method)
        return _error(503, "reply held back by Telegram's flood limits")

    async def _feed(self, update: Update, update_type: str) -> web.Response:
        try:
            # feed_update, not feed_webhook_update: that one answers 200 after 55 s and carries on in the
            # background, acknowledging an update that may still fail. Past Telegram's patience the update is
            # delivered again instead, and the ledger makes the second delivery wait for the first.
            result = await self.dispatcher.feed_update(self.bot, update, **self.data)
        except Exception as error:
            if is_database_unavailable(error):
                return _error(503, "database unavailable")
            if is_refused_send(error):
                return self._hold_back(update, error)
            log.exception(
                "update failed outside the error handler", update_id=update.update_id, kind=update_type
            )
            return _error(500, "update failed")
        # A handler may return its reply instead of sending it: it then travels in the webhook's answer.
        reply = result if isinstance(result, TelegramMethod) else None
        return web.Response(body=self._build_response_writer(bot=self.bot, result=reply))

    async def close(self) -> None:
        """The runner closes the bot's session after the last request; the handler leaves it open."""


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            status = await schema_status(request.app[ENGINE], metadata)
    except Exception as error:
        if is_database_unavailable(error):
            return web.json_response({"status": "unavailable", "reason": "database unreachable"}, status=503)
        raise
    if not status.is_usable:
        return web.json_response({"status": "unavailable", "reason": status.describe()}, status=503)
    return web.json_response({"status": "ready", "revision": status.current, "head": status.head})


async def _serving_collector(_app: web.Application) -> AsyncIterator[None]:
    with serving_collector():
        yield


def build_web_app(
    dispatcher: Dispatcher,
    bot: Bot,
    engine: AsyncEngine,
    *,
    webhook_path: str,
    secret_token: str,
    max_concurrent: int = 40,
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[ENGINE] = engine
    app.cleanup_ctx.append(_serving_collector)
    WebhookHandler(dispatcher, bot, secret_token, max_concurrent=max_concurrent).register(
        app, path=webhook_path
    )
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
