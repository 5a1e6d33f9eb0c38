"""Telegram's flood control, as strict as Telegram, for the tests' Bot API doubles (tests/support/fakes.py).

Telegram publishes its limits only roughly: about 30 messages a second per bot, about one a second per chat
with short bursts, 20 a minute per group. Past one it answers 429 with `parameters.retry_after`, and a client
that sends again before the wait is over is refused again, for longer. `FloodControl` does exactly that:
- bot-wide, a token bucket of `burst` messages refilled at `per_second`;
- per chat, a token bucket of `chat_burst` refilled at `chat_per_second`;
- per group (a negative chat id or an @username), at most `group_messages` in any `group_window_seconds`;
- a refusal bans its scope (the bot, or that chat) for `retry_after` whole seconds, and each request sent
  into a ban is refused and lengthens it by `penalty_seconds`.
Every method that posts into a chat counts (it has a `chat_id` and does not read: no get*); others do not.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

BOT_WIDE = "bot"


@dataclass(frozen=True)
class TelegramLimits:
    per_second: float = 30.0
    burst: float = 30.0
    chat_per_second: float = 1.0
    chat_burst: float = 3.0
    group_messages: int = 20
    group_window_seconds: float = 60.0
    penalty_seconds: float = 1.0


TELEGRAM = TelegramLimits()


@dataclass
class _Bucket:
    capacity: float
    per_second: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now

    def wait(self) -> float:
        """Seconds until a token is there (0: one is there now)."""
        return max(0.0, (1 - self.tokens) / self.per_second)


@dataclass
class FloodControl:
    """Decides, for each request, whether Telegram would take it; counts what it took and what it refused."""

    limits: TelegramLimits = TELEGRAM
    clock: Callable[[], float] = time.monotonic
    accepted: int = 0
    refused: int = 0
    _overall: _Bucket | None = None
    _chats: dict[int | str, _Bucket] = field(default_factory=dict)
    _groups: dict[int | str, deque[float]] = field(default_factory=dict)
    _banned_until: dict[int | str, float] = field(default_factory=dict)

    def check(self, method: str, chat_id: int | str | None) -> int | None:
        """None if Telegram takes the request now (and counts it), else the retry_after of its 429."""
        if chat_id is None or method.startswith("get"):
            return None
        now = self.clock()
        chat_id = _chat_key(chat_id)
        for scope in (BOT_WIDE, chat_id):
            if (banned_until := self._banned_until.get(scope, 0.0)) > now:
                # Sent into its wait: refused again, and the wait grows.
                self._banned_until[scope] = banned_until + self.limits.penalty_seconds
                return self._refuse(self._banned_until[scope] - now)
        overall, chat = self._overall_bucket(now), self._chat_bucket(chat_id, now)
        if (wait := overall.wait()) > 0:
            return self._ban(BOT_WIDE, now, wait)
        if (wait := chat.wait()) > 0:
            return self._ban(chat_id, now, wait)
        window = self._groups.setdefault(chat_id, deque()) if _is_group(chat_id) else None
        if window is not None:
            while window and window[0] <= now - self.limits.group_window_seconds:
                window.popleft()
            if len(window) >= self.limits.group_messages:
                return self._ban(chat_id, now, window[0] + self.limits.group_window_seconds - now)
            window.append(now)
        overall.tokens -= 1
        chat.tokens -= 1
        self.accepted += 1
        return None

    def ban(self, scope: int | str, seconds: float) -> None:
        """Refuse all in `scope` (BOT_WIDE, or a chat id) for `seconds`, as after another client's burst."""
        self._banned_until[scope] = self.clock() + seconds

    def refused_share(self) -> float:
        total = self.accepted + self.refused
        return self.refused / total if total else 0.0

    def _overall_bucket(self, now: float) -> _Bucket:
        if self._overall is None:
            self._overall = _Bucket(self.limits.burst, self.limits.per_second, self.limits.burst, now)
        self._overall.refill(now)
        return self._overall

    def _chat_bucket(self, chat_id: int | str, now: float) -> _Bucket:
        limits = self.limits
        bucket = self._chats.setdefault(
            chat_id, _Bucket(limits.chat_burst, limits.chat_per_second, limits.chat_burst, now)
        )
        bucket.refill(now)
        return bucket

    def _ban(self, scope: int | str, now: float, wait: float) -> int:
        retry_after = max(1, math.ceil(wait))
        self._banned_until[scope] = now + retry_after
        return self._refuse(retry_after)

    def _refuse(self, wait: float) -> int:
        self.refused += 1
        return max(1, math.ceil(wait))


def _chat_key(chat_id: int | str) -> int | str:
    """aiogram sends chat ids as text over HTTP: the same chat whichever way it came."""
    if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
        return int(chat_id)
    return chat_id


def _is_group(chat_id: int | str) -> bool:
    return isinstance(chat_id, str) or chat_id < 0


def too_many_requests(retry_after: int) -> dict[str, object]:
    """Telegram's 429 answer."""
    return {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }
