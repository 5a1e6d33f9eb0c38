"""The webhook watch when Telegram does not answer: it says so and keeps watching.

The watch in the real bot process is tested in tests/test_runtime_webhook.py; these are the failures that a
fake Bot API server would have to be taught to make, fed to the watch through a recording session.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import GetWebhookInfo, SetWebhook, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import WebhookInfo

from telegram_bot.log import configure_logging
from telegram_bot.webhook import WebhookRegistration, WebhookWatch
from tests.support.environment import TOKEN
from tests.support.fakes import RecordingSession

REGISTRATION = WebhookRegistration(
    url="https://bot.example.test/webhook",
    secret_token="watch-test-secret",
    allowed_updates=["message"],
    max_connections=40,
)
NO_WEBHOOK = WebhookInfo(url="", has_custom_certificate=False, pending_update_count=0)


class UnreachableSession(RecordingSession):
    """Records each call, and fails the chosen methods as aiogram does when the network fails."""

    def __init__(self, failing: set[type[TelegramMethod[Any]]]) -> None:
        super().__init__()
        self._failing = failing

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        if type(method) in self._failing:
            self.calls.append(method)
            raise TelegramNetworkError(method=method, message="Request timeout error")
        return await super().make_request(bot, method, timeout)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    yield stream
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def warnings(stream: io.StringIO) -> list[dict[str, Any]]:
    return [
        entry for line in stream.getvalue().splitlines() if (entry := json.loads(line))["level"] == "warning"
    ]


async def test_a_registration_telegram_does_not_take_is_tried_again_at_the_next_reading(
    log_stream: io.StringIO,
) -> None:
    session = UnreachableSession(failing={SetWebhook})
    watch = WebhookWatch(Bot(TOKEN, session=session), REGISTRATION, interval=60)

    await watch.check(NO_WEBHOOK)
    await watch.check(NO_WEBHOOK)

    assert session.methods() == ["setWebhook", "setWebhook"]
    assert [(entry["message"], entry["error"]) for entry in warnings(log_stream)] == [
        (
            "the webhook was deleted, and registering it again failed; trying again later",
            "TelegramNetworkError: HTTP Client says - Request timeout error",
        )
    ] * 2


async def test_a_reading_telegram_does_not_answer_is_logged_and_the_watch_goes_on(
    log_stream: io.StringIO,
) -> None:
    session = UnreachableSession(failing={GetWebhookInfo})
    watch = WebhookWatch(Bot(TOKEN, session=session), REGISTRATION, interval=0.01)

    async with asyncio.timeout(10), watch.running():
        while session.methods().count("getWebhookInfo") < 3:
            await asyncio.sleep(0.01)

    assert set(session.methods()) == {"getWebhookInfo"}
    assert {entry["message"] for entry in warnings(log_stream)} == {
        "could not read the webhook's state from Telegram"
    }
