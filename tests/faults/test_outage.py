"""PostgreSQL goes away while the bot serves, and comes back: nothing is lost, nothing is done twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import aiohttp

from telegram_bot.bot import errors
from telegram_bot.bot.handlers import start
from tests.faults.conftest import Outage
from tests.support.fakes import FakeBotAPI
from tests.support.locales import said
from tests.support.process import (
    bot_environment,
    free_port,
    start_bot,
    stop_bot,
    stored_users,
    update_json,
    webhook_environment,
)
from tests.support.telegram import Telegram

UPDATES = 60
TELEGRAM_CONNECTIONS = 8


async def readiness(http: aiohttp.ClientSession) -> int:
    return (await http.get("/readyz")).status


async def wait_for_readiness(http: aiohttp.ClientSession, status: int) -> None:
    async with asyncio.timeout(20):
        while await readiness(http) != status:
            await asyncio.sleep(0.1)


async def test_webhook_updates_survive_a_database_outage_exactly_once(
    outage: Outage, bot_api: tuple[FakeBotAPI, str], tmp_path: Path
) -> None:
    api, api_url = bot_api
    port = free_port()
    process = await start_bot(webhook_environment(outage.url, api_url, port), tmp_path)
    updates = [update_json() for _ in range(UPDATES)]
    try:
        await api.wait_for_call("setWebhook")
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            telegram = Telegram(http, connections=TELEGRAM_CONNECTIONS, pause=0.1)
            async with asyncio.timeout(90):
                stream = asyncio.gather(*(telegram.deliver(update) for update in updates))
                while telegram.acknowledged < UPDATES // 4:
                    await asyncio.sleep(0.01)
                await outage.begin()
                await wait_for_readiness(http, 503)
                while telegram.statuses.count(503) < 5:
                    await asyncio.sleep(0.05)
                await outage.end()
                await stream
            await wait_for_readiness(http, 200)
            # Telegram delivers some again (an answer it did not see in time): acknowledged, not handled.
            for update in updates[:5]:
                await telegram.deliver(update)
        still_serving = process.returncode is None
    finally:
        status, _ = await stop_bot(process)

    assert still_serving
    assert 503 in telegram.statuses
    assert set(telegram.statuses) <= {200, 503}
    senders = sorted(
        (update["message"]["from"]["id"], update["message"]["from"]["first_name"]) for update in updates
    )
    assert await stored_users(outage.url) == senders
    replies = api.calls_to("sendMessage")
    assert Counter(int(reply["chat_id"]) for reply in replies) == Counter(
        {sender: 1 for sender, _ in senders}
    )
    # An update whose first attempt committed before the connection broke is welcomed back on redelivery.
    names = {int(reply["chat_id"]): reply["text"] for reply in replies}
    assert all(
        names[sender] in (said("en", start.welcome, name), said("en", start.welcome_back, name))
        for sender, name in senders
    )
    assert status == 0


async def test_polling_tells_the_user_during_an_outage_and_recovers_without_a_restart(
    outage: Outage, bot_api: tuple[FakeBotAPI, str], tmp_path: Path
) -> None:
    api, api_url = bot_api
    process = await start_bot(bot_environment(outage.url, api_url), tmp_path)
    first = update_json()
    sender = first["message"]["from"]
    again = update_json(from_user=first["message"]["from"], chat=first["message"]["chat"])
    try:
        await api.wait_for_call("setMyCommands")
        await outage.begin()
        api.queue_update(first)
        (during,) = await api.wait_for_call("sendMessage")
        await outage.end()
        api.queue_update(again)
        _, after = await api.wait_for_call("sendMessage", count=2)
    finally:
        status, _ = await stop_bot(process)

    assert during["text"] == said("en", errors.unavailable_text)
    assert after["text"] == said("en", start.welcome, sender["first_name"])
    assert await stored_users(outage.url) == [(sender["id"], sender["first_name"])]
    assert status == 0


async def test_start_up_waits_for_a_database_that_comes_back(
    outage: Outage, bot_api: tuple[FakeBotAPI, str], tmp_path: Path
) -> None:
    api, api_url = bot_api
    await outage.begin()
    process = await start_bot(bot_environment(outage.url, api_url, DATABASE_WAIT_SECONDS="30"), tmp_path)
    try:
        retrying = await process.wait_for_log("database not reachable yet; retrying")
        await outage.end()
        await api.wait_for_call("setMyCommands")
    finally:
        status, _ = await stop_bot(process)

    assert retrying["level"] == "warning"
    assert status == 0
