"""Telegram's webhook, which any client with the token can change: polling never takes it away, and webhook
mode keeps it registered, reports what it cannot repair, and leaves it in place when it stops.

The real `python -m telegram_bot` process against the fake Bot API, whose webhook state is Telegram's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL

from telegram_bot.webhook import polling_refusal
from tests.support.fakes import FakeBotAPI
from tests.support.process import (
    WEBHOOK_SECRET,
    WEBHOOK_URL,
    BotProcess,
    bot_environment,
    free_port,
    run_to_exit,
    start_bot,
    stop_bot,
    update_json,
    webhook_environment,
)

PRODUCTION_URL = "https://production.example.test/webhook"
# Short, so that a test sees several readings; the bot reads getWebhookInfo once per interval.
WATCH_SECONDS = "0.2"


async def test_polling_refuses_to_take_a_webhook_away_and_leaves_it_registered(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    api.set_webhook_elsewhere(PRODUCTION_URL)  # production, with the same token

    status, stdout, stderr = await run_to_exit(bot_environment(isolated_database_url, api_url), tmp_path)

    assert (status, stderr) == (1, "")
    (refusal,) = [line for line in stdout.splitlines() if PRODUCTION_URL in line]
    assert f"cannot start: {polling_refusal(PRODUCTION_URL)}" in refusal
    assert "separate bot token for development" in refusal
    assert api.webhook == {"url": PRODUCTION_URL}
    assert [method for method, _ in api.calls] == ["getWebhookInfo"]


async def test_take_over_webhook_deletes_the_webhook_deliberately_and_polls(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    api.set_webhook_elsewhere(PRODUCTION_URL)
    api.queue_update(update_json("/help"))

    process = await start_bot(
        bot_environment(isolated_database_url, api_url), tmp_path, "run", "--take-over-webhook"
    )
    try:
        await api.wait_for_call("sendMessage")
    finally:
        status, log = await stop_bot(process)

    assert status == 0
    # Picked by its text, not as the only warning: on a newer schema (the compatibility gate) the bot also
    # warns that the schema is ahead.
    (warning,) = [entry for entry in log if entry["message"].startswith("taking the webhook over")]
    assert warning["message"].startswith("taking the webhook over, as --take-over-webhook asks")
    assert (warning["level"], warning["url"]) == ("warning", PRODUCTION_URL)
    assert api.calls_to("deleteWebhook") == [{"drop_pending_updates": "false"}]
    assert api.webhook == {}


async def test_take_over_webhook_is_refused_in_webhook_mode(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    environment = webhook_environment(isolated_database_url, api_url, free_port())

    status, stdout, stderr = await run_to_exit(environment, tmp_path, "run", "--take-over-webhook")

    assert (status, stdout) == (2, "")
    assert stderr == "--take-over-webhook is for BOT_MODE=polling: webhook mode registers its own\n"
    assert api.calls == []


async def started_webhook(
    api: FakeBotAPI, database_url: URL, api_url: str, tmp_path: Path
) -> tuple[BotProcess, dict[str, Any]]:
    """A bot in webhook mode that watches every WATCH_SECONDS, and what Telegram holds once it registered."""
    environment = webhook_environment(database_url, api_url, free_port(), WEBHOOK_WATCH_SECONDS=WATCH_SECONDS)
    process = await start_bot(environment, tmp_path)
    await process.wait_for_log("webhook registered")
    return process, dict(api.webhook)


def readings_after(api: FakeBotAPI, mark: int, until: str) -> int:
    """How many getWebhookInfo calls came after call number `mark` and before the first `until` call there."""
    later = [method for method, _ in api.calls[mark:]]
    return later[: later.index(until)].count("getWebhookInfo")


async def more_readings(api: FakeBotAPI, count: int = 3) -> None:
    """Let the watch read the same state `count` more times."""
    await api.wait_for_call("getWebhookInfo", count=len(api.calls_to("getWebhookInfo")) + count)


async def test_a_deleted_webhook_is_registered_again_as_it_was_and_survives_sigterm(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    process, registered = await started_webhook(api, isolated_database_url, api_url, tmp_path)
    try:
        api.delete_webhook_elsewhere()
        deleted_at = len(api.calls)
        await api.wait_for_call("setWebhook", count=2)
        warning = await process.wait_for_log(
            "the webhook was deleted (by a client with this token); registered it again"
        )
    finally:
        status, log = await stop_bot(process)

    assert registered == {
        "url": WEBHOOK_URL,
        "secret_token": WEBHOOK_SECRET,
        "allowed_updates": ["message"],
        "max_connections": 40,
    }
    assert api.webhook == registered
    # Back at the first reading after the deletion, or the second if a reading was under way: within two
    # watch intervals.
    assert readings_after(api, deleted_at, until="setWebhook") <= 2
    assert (warning["level"], warning["url"]) == ("warning", WEBHOOK_URL)
    # SIGTERM: a clean stop that leaves the webhook to the next deployment.
    assert status == 0
    assert log[-1]["message"] == "stopped"
    assert api.webhook == registered
    assert not api.calls_to("deleteWebhook")


async def test_a_webhook_pointing_elsewhere_is_reported_once_and_not_fought_over(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    process, _ = await started_webhook(api, isolated_database_url, api_url, tmp_path)
    try:
        api.set_webhook_elsewhere(PRODUCTION_URL)
        moved_at = len(api.calls)
        report = await process.wait_for_log(
            "the webhook points at another URL; left as it is: another deployment or bot uses this token, "
            "and Telegram delivers nothing here"
        )
        await more_readings(api)
    finally:
        status, log = await stop_bot(process)

    assert (report["level"], report["url"], report["expected"]) == ("error", PRODUCTION_URL, WEBHOOK_URL)
    assert [entry for entry in log if entry["level"] == "error"] == [report]
    assert [method for method, _ in api.calls[moved_at:] if method != "getWebhookInfo"] == []
    assert api.webhook == {"url": PRODUCTION_URL}
    assert status == 0


async def test_a_delivery_error_telegram_reports_is_logged_once_at_warning(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    process, _ = await started_webhook(api, isolated_database_url, api_url, tmp_path)
    try:
        api.fail_delivery("Wrong response from the webhook: 502 Bad Gateway", pending_update_count=7)
        warning = await process.wait_for_log("Telegram could not deliver updates to the webhook")
        await more_readings(api)
    finally:
        status, log = await stop_bot(process)

    assert warning["level"] == "warning"
    assert warning["error"] == "Wrong response from the webhook: 502 Bad Gateway"
    assert warning["pending_update_count"] == 7
    assert [entry["message"] for entry in log].count(warning["message"]) == 1
    assert status == 0


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_sigterm_while_start_up_waits_for_the_database_stops_at_once_and_registers_nothing(
    bot_api: tuple[FakeBotAPI, str], empty_database_url: URL, tmp_path: Path, mode: str
) -> None:
    api, api_url = bot_api
    unreachable = empty_database_url.set(port=1)
    settings = {"DATABASE_WAIT_SECONDS": "30"}
    environment = (
        webhook_environment(unreachable, api_url, free_port(), **settings)
        if mode == "webhook"
        else bot_environment(unreachable, api_url, **settings)
    )
    process = await start_bot(environment, tmp_path)
    try:
        await process.wait_for_log("database not reachable yet; retrying")
    finally:
        process.terminate()
    # The bound: well inside the 30 s the start-up would otherwise wait.
    status = await process.wait(timeout=2)

    assert status == 0, process.stdout()
    assert process.log()[-1]["message"] == "stopped during start-up, before anything was registered"
    assert api.calls == []
