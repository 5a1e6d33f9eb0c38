"""The webhook's registration with Telegram: set at start, watched while serving, never deleted.

Telegram keeps one webhook per bot token, and any client holding the token can delete it or point it
elsewhere: a laptop polling with production's token used to do exactly that, silently. So webhook mode reads
getWebhookInfo every WEBHOOK_WATCH_SECONDS: a deleted webhook is registered again as it was; one pointing at
another URL is reported, not fought over (two deployments of the same token would otherwise take it from
each other forever); and a delivery error Telegram reports is logged, since nothing else in the bot's own
logs shows that Telegram cannot reach it. A stop leaves the webhook in place: the next deployment uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from aiogram import Bot
from aiogram.exceptions import AiogramError
from aiogram.types import WebhookInfo

from telegram_bot.log import get_logger

log = get_logger(__name__)


def _described(error: AiogramError) -> str:
    return f"{type(error).__name__}: {error}"


def polling_refusal(url: str) -> str:
    """Why polling does not start while a webhook is set: the same words for start-up and `check`."""
    return (
        f"a webhook is set at {url}: polling would take its updates away, so the bot does not poll. "
        "Use a separate bot token for development (a second bot from @BotFather)"
    )


Verdict = Literal["ok", "warn", "FAIL"]


def webhook_findings(info: WebhookInfo, expected_url: str | None) -> list[tuple[Verdict, str]]:
    """What `check` says of getWebhookInfo: `expected_url` in webhook mode, None in polling mode."""
    if expected_url is None:
        if info.url:
            return [("FAIL", polling_refusal(info.url))]
        return [("ok", "none set: polling can take the updates")]
    if not info.url:
        return [
            ("FAIL", f"none set: Telegram delivers nothing until the bot starts and registers {expected_url}")
        ]
    if info.url != expected_url:
        return [
            ("FAIL", f"set at {info.url}, not at {expected_url}: another deployment or bot uses this token")
        ]
    findings: list[tuple[Verdict, str]] = [
        ("ok", f"registered at {info.url}, {info.pending_update_count} updates pending")
    ]
    if info.last_error_date is not None:
        when = info.last_error_date.isoformat()
        findings.append(("warn", f"Telegram's last delivery error, at {when}: {info.last_error_message}"))
    return findings


@dataclass(frozen=True)
class WebhookRegistration:
    """Everything setWebhook is given, so that a lost registration comes back exactly as it was."""

    url: str
    secret_token: str = field(repr=False)
    allowed_updates: list[str]
    max_connections: int

    async def register(self, bot: Bot) -> None:
        await bot.set_webhook(
            self.url,
            secret_token=self.secret_token,
            allowed_updates=self.allowed_updates,
            max_connections=self.max_connections,
            drop_pending_updates=False,
        )


class WebhookWatch:
    """Reads the webhook's state every `interval` seconds and repairs or reports what changed."""

    def __init__(self, bot: Bot, registration: WebhookRegistration, interval: float) -> None:
        self._bot = bot
        self._registration = registration
        self._interval = interval
        # Delivery errors from before this watch began belong to an earlier deployment. Telegram dates them to
        # the second: one in the second the watch began counts as new.
        self._reported_error_at = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(seconds=1)
        self._foreign_url: str | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Watch in the background while the block runs; the watch ends with it."""
        task = asyncio.create_task(self._watch(), name="webhook watch")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                info = await self._bot.get_webhook_info()
            except AiogramError as error:
                log.warning("could not read the webhook's state from Telegram", error=_described(error))
                continue
            await self.check(info)

    async def check(self, info: WebhookInfo) -> None:
        """Act on one reading of getWebhookInfo."""
        expected = self._registration.url
        if not info.url:
            await self._register_again()
            return
        if info.url != expected:
            if info.url != self._foreign_url:  # once per change, not once per reading
                log.error(
                    "the webhook points at another URL; left as it is: another deployment or bot uses this "
                    "token, and Telegram delivers nothing here",
                    url=info.url,
                    expected=expected,
                )
                self._foreign_url = info.url
            return
        self._foreign_url = None
        self._report_delivery_error(info)

    async def _register_again(self) -> None:
        try:
            await self._registration.register(self._bot)
        except AiogramError as error:
            log.warning(
                "the webhook was deleted, and registering it again failed; trying again later",
                error=_described(error),
            )
            return
        log.warning(
            "the webhook was deleted (by a client with this token); registered it again",
            url=self._registration.url,
        )

    def _report_delivery_error(self, info: WebhookInfo) -> None:
        if info.last_error_date is None or info.last_error_date <= self._reported_error_at:
            return
        self._reported_error_at = info.last_error_date
        log.warning(
            "Telegram could not deliver updates to the webhook",
            error=info.last_error_message,
            error_at=info.last_error_date.isoformat(),
            pending_update_count=info.pending_update_count,
        )
