"""The Bot API client's policy under Telegram's flood limits, for every request the bot makes, in both modes.

`BotApiPolicy` is a session request middleware (aiogram's own hook, `bot.session.middleware(...)`):
- **pacing** (aiolimiter's leaky buckets): messages bot-wide per second, per private chat per second, and per
  group per minute, so that a burst is spread under Telegram's limits instead of being refused;
- **a 429** (`TelegramRetryAfter`) pauses every request of the bot for `retry_after`, then the refused request
  is sent again;
- **5xx and network errors** are retried with growing pauses for the methods whose repetition the user cannot
  see (`IDEMPOTENT_METHODS`). Any other method is retried only when the connection was never made, so that
  nothing was sent: a timeout or a 5xx after the request went out may have delivered it, and sending it again
  could deliver it twice.
Whatever it waits for, one request waits at most `max_wait` seconds. Past that it is given up unsent, with
`TelegramRetryAfter` (Telegram's own refusal) or `FloodWaitExceededError` (pacing would have waited longer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeGuard

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import ClientConnectorError
from aiolimiter import AsyncLimiter

from telegram_bot.log import get_logger

if TYPE_CHECKING:
    from aiogram import Bot

log = get_logger(__name__)

# Repeating one of these changes nothing the user sees: they set or read the bot's own state.
IDEMPOTENT_METHODS = frozenset(
    {
        "getMe",
        "getUpdates",
        "setWebhook",
        "deleteWebhook",
        "getWebhookInfo",
        "setMyCommands",
        "deleteMyCommands",
        "getMyCommands",
    }
)
# Telegram's 429 says when to try again in whole seconds; a little more keeps the retry past its clock.
RETRY_AFTER_MARGIN_SECONDS = 0.1
FIRST_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 5.0
# The bot's buckets hold less than Telegram's (a burst of about 30 bot-wide and 3 per chat): a burst that
# leaves here evenly can arrive there bunched by the network's jitter, and must still fit. Bot-wide the bot
# bursts a tenth of a second's worth; per chat, 2 messages.
OVERALL_BURST_SECONDS = 0.1
CHAT_BURST = 2
# Past this many per-chat buckets, the idle ones (empty: they hold back nothing) are dropped.
IDLE_BUCKETS_KEPT = 1024


class FloodWaitExceededError(TelegramAPIError):
    """A request given up unsent: Telegram's flood limits would have kept it waiting past the bound."""


def is_refused_send(error: BaseException) -> TypeGuard[TelegramAPIError]:
    """Telegram refused the request (429), or pacing gave it up unsent: it was not delivered."""
    return isinstance(error, TelegramRetryAfter | FloodWaitExceededError)


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's published limits by default; `messages_per_second=0` turns pacing off (429s still count)."""

    messages_per_second: float = 30.0
    chat_messages_per_second: float = 1.0
    group_messages_per_minute: float = 20.0
    # How long one request may wait for pacing, 429 pauses and retries before it is given up: well inside the
    # 60 s Telegram waits for a webhook's answer. A handler waiting to send its reply still holds its database
    # connection; an update queued behind it for one gives up after the pool's timeout (POOL_TIMEOUT_SECONDS)
    # and is answered 503, to be delivered again (docs/reliability.md).
    max_wait_seconds: float = 20.0

    @property
    def paced(self) -> bool:
        return self.messages_per_second > 0


def _chat_of(method: TelegramMethod[TelegramType]) -> int | str | None:
    """The chat a message goes to, for the methods Telegram counts against its limits; None for the rest.

    Everything that posts into a chat counts; reading (get*) does not.
    """
    if method.__api_method__.startswith("get"):
        return None
    chat_id: int | str | None = getattr(method, "chat_id", None)
    if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
        return int(chat_id)  # a numeric id given as text is the same chat as the number
    return chat_id


def _is_group(chat_id: int | str) -> bool:
    """Groups, supergroups and channels have negative ids, or an @username; people have positive ids."""
    return isinstance(chat_id, str) or chat_id < 0


class _Buckets:
    """One leaky bucket per chat, made when first needed, the idle ones dropped once there are many."""

    def __init__(self, capacity: float, per_second: float) -> None:
        self._capacity = capacity
        self._period = capacity / per_second
        self._buckets: dict[int | str, AsyncLimiter] = {}

    def __getitem__(self, chat_id: int | str) -> AsyncLimiter:
        bucket = self._buckets.get(chat_id)
        if bucket is None:
            if len(self._buckets) >= IDLE_BUCKETS_KEPT:
                self._drop_idle()
            bucket = self._buckets[chat_id] = AsyncLimiter(self._capacity, self._period)
        return bucket

    def _drop_idle(self) -> None:
        for chat_id, bucket in list(self._buckets.items()):
            if bucket.has_capacity(bucket.max_rate):
                del self._buckets[chat_id]


def _backoffs() -> Iterator[float]:
    pause = FIRST_BACKOFF_SECONDS
    while True:
        yield pause
        pause = min(pause * 2, MAX_BACKOFF_SECONDS)


def _never_sent(error: TelegramNetworkError) -> bool:
    """The connection was never made (refused, DNS, TLS handshake): not a byte of the request went out."""
    return isinstance(error.__cause__, ClientConnectorError)


class BotApiPolicy(BaseRequestMiddleware):
    """Pacing, 429 pauses and retries for every Bot API request; see the module's docstring."""

    def __init__(self, limits: FloodLimits) -> None:
        self.limits = limits
        self._overall: AsyncLimiter | None = None
        self._chats: _Buckets | None = None
        self._groups: _Buckets | None = None
        if limits.paced:
            burst = max(1.0, limits.messages_per_second * OVERALL_BURST_SECONDS)
            self._overall = AsyncLimiter(burst, burst / limits.messages_per_second)
            self._chats = _Buckets(CHAT_BURST, limits.chat_messages_per_second)
            self._groups = _Buckets(1, limits.group_messages_per_minute / 60)
        self._paused_until = 0.0

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.max_wait_seconds
        backoffs = _backoffs()
        paced = self._overall is not None and _chat_of(method) is not None
        while True:
            if paced or self._paused_until > loop.time():  # otherwise there is nothing to wait for
                await self._wait_for_a_slot(method, deadline)
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                self._pause(error.retry_after + RETRY_AFTER_MARGIN_SECONDS)
                if self._paused_until > deadline:
                    raise
                log.warning(
                    "Telegram's flood control: every request paused",
                    method=method.__api_method__,
                    retry_after=error.retry_after,
                )
            except (TelegramServerError, TelegramNetworkError, ClientDecodeError) as error:
                pause = next(backoffs)
                if not self._may_repeat(method, error) or loop.time() + pause > deadline:
                    raise
                log.warning(
                    "Bot API request failed; retrying",
                    method=method.__api_method__,
                    error=type(error).__name__,
                    retry_in=pause,
                )
                await asyncio.sleep(pause)

    @staticmethod
    def _may_repeat(method: TelegramMethod[TelegramType], error: Exception) -> bool:
        if isinstance(error, TelegramEntityTooLarge):
            return False  # the same request will be too large again
        if method.__api_method__ in IDEMPOTENT_METHODS:
            return True
        return isinstance(error, TelegramNetworkError) and _never_sent(error)

    def _pause(self, seconds: float) -> None:
        """Hold back every request of the bot for `seconds` from now (the later of two pauses wins)."""
        self._paused_until = max(self._paused_until, asyncio.get_running_loop().time() + seconds)

    async def _wait_for_a_slot(self, method: TelegramMethod[TelegramType], deadline: float) -> None:
        """Wait out a 429's pause and this request's turn in its buckets, or give it up past the deadline."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                await self._acquire(method)
                # A 429 may have paused the bot while this request waited its turn, or lengthen the pause
                # while it sleeps: hence a loop on the deadline rather than an event.
                while (pause := self._paused_until - loop.time()) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(pause)
        except TimeoutError:
            raise FloodWaitExceededError(
                method,
                f"not sent: Telegram's flood limits would keep it waiting over "
                f"{self.limits.max_wait_seconds:g} s",
            ) from None

    async def _acquire(self, method: TelegramMethod[TelegramType]) -> None:
        chat_id = _chat_of(method)
        if chat_id is None or self._overall is None:
            return
        assert self._chats is not None  # noqa: S101 - made with the overall bucket
        assert self._groups is not None  # noqa: S101 - likewise
        # The chat's bucket first: a request that must wait for its chat holds no bot-wide turn meanwhile.
        await self._chats[chat_id].acquire()
        if _is_group(chat_id):
            await self._groups[chat_id].acquire()
        await self._overall.acquire()


def install_policy(bot: Bot, limits: FloodLimits) -> BotApiPolicy:
    """Put the policy in front of every request `bot` makes through its session."""
    policy = BotApiPolicy(limits)
    bot.session.middleware(policy)
    return policy
