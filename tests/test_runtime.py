"""The real `python -m telegram_bot` process, pointed at a fake Bot API server with TELEGRAM_API_URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import URL

from telegram_bot.bot.handlers import menu, start
from telegram_bot.web import SECRET_HEADER
from telegram_bot.webhook import polling_refusal
from tests.support.environment import TOKEN
from tests.support.fakes import FakeBotAPI
from tests.support.locales import said
from tests.support.process import (
    WEBHOOK_SECRET,
    WEBHOOK_URL,
    bot_environment,
    free_port,
    log_lines,
    run_to_exit,
    start_bot,
    stop_bot,
    stored_users,
    update_json,
    webhook_environment,
)

PRODUCTION_URL = "https://production.example.test/webhook"


def started(log: list[dict[str, Any]]) -> dict[str, Any]:
    """The bot's "starting" log line."""
    return next(entry for entry in log if entry["message"] == "starting")


async def test_polling_answers_start_and_stops_cleanly_on_sigterm(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    update = update_json()
    api.queue_update(update)

    # Forked, like most runs here: test_runtime_logs.py runs `python -m telegram_bot` in a new interpreter.
    process = await start_bot(bot_environment(isolated_database_url, api_url), tmp_path)
    try:
        (sent,) = await api.wait_for_call("sendMessage")
    finally:
        status, log = await stop_bot(process)

    sender = update["message"]["from"]
    assert (int(sent["chat_id"]), sent["text"]) == (
        update["message"]["chat"]["id"],
        said("en", start.welcome, sender["first_name"]),
    )
    assert await stored_users(isolated_database_url) == [(sender["id"], sender["first_name"])]
    # No webhook was set, so polling went ahead; it never deletes one.
    assert api.calls_to("getWebhookInfo")
    assert not api.calls_to("deleteWebhook")
    # The command list in each language: the default locale's for everyone, then Russian for Russian clients.
    assert api.command_lists == {("default", ""): menu().names(), ("default", "ru"): menu().names()}
    assert status == 0
    assert log[-1]["message"] == "stopped"
    assert TOKEN not in json.dumps(log)
    assert started(log)["event_loop"] == "uvloop"


async def test_webhook_mode_registers_its_webhook_answers_start_and_stops_cleanly(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    port = free_port()
    environment = webhook_environment(isolated_database_url, api_url, port)
    update = update_json()

    process = await start_bot(environment, tmp_path)
    try:
        (registration,) = await api.wait_for_call("setWebhook")
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            ready = await http.get("/readyz")
            answered = await http.post("/webhook", json=update, headers={SECRET_HEADER: WEBHOOK_SECRET})
        (sent,) = api.calls_to("sendMessage")
    finally:
        status, log = await stop_bot(process)

    assert registration["url"] == WEBHOOK_URL
    assert registration["secret_token"] == WEBHOOK_SECRET
    assert registration["allowed_updates"] == ["message"]
    assert registration["max_connections"] == "40"
    assert (ready.status, answered.status) == (200, 200)
    assert sent["text"] == said("en", start.welcome, update["message"]["from"]["first_name"])
    sender = update["message"]["from"]
    assert await stored_users(isolated_database_url) == [(sender["id"], sender["first_name"])]
    assert status == 0
    # Forked from the run's launcher, the bot still sets up its own loop.
    assert started(log)["event_loop"] == "uvloop"


async def test_start_up_gives_up_on_an_unreachable_database(empty_database_url: URL, tmp_path: Path) -> None:
    status, stdout, stderr = await run_to_exit(
        bot_environment(empty_database_url.set(port=1), "http://127.0.0.1:1", DATABASE_WAIT_SECONDS="1"),
        tmp_path,
    )

    assert (status, stderr) == (1, "")
    last = log_lines(stdout)[-1]
    assert last["level"] == "error"
    assert last["message"].startswith("cannot start: PostgreSQL did not answer within 1 s")
    assert "Traceback" not in stdout


async def test_start_up_refuses_a_schema_behind_the_code(empty_database_url: URL, tmp_path: Path) -> None:
    status, stdout, _ = await run_to_exit(bot_environment(empty_database_url, "http://127.0.0.1:1"), tmp_path)

    assert status == 1
    assert "run `alembic upgrade head`" in log_lines(stdout)[-1]["message"]


async def test_check_passes_on_a_migrated_database_with_no_webhook_in_polling_mode(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    _, api_url = bot_api
    status, stdout, _ = await run_to_exit(bot_environment(isolated_database_url, api_url), tmp_path, "check")

    assert status == 0
    assert [line.split(":")[0] for line in stdout.splitlines()] == [
        "ok    settings",
        "ok    database",
        "ok    schema",
        "ok    webhook",
    ]
    assert stdout.splitlines()[-1] == "ok    webhook: none set: polling can take the updates"


async def test_check_fails_on_a_database_behind_the_code(empty_database_url: URL, tmp_path: Path) -> None:
    status, stdout, _ = await run_to_exit(
        bot_environment(empty_database_url, "http://127.0.0.1:1"), tmp_path, "check"
    )

    assert status == 1
    assert stdout.splitlines()[-1].startswith("FAIL  schema: schema at no revision")


async def test_check_in_polling_mode_fails_while_a_webhook_is_set(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    api.set_webhook_elsewhere(PRODUCTION_URL)

    status, stdout, _ = await run_to_exit(bot_environment(isolated_database_url, api_url), tmp_path, "check")

    assert status == 1
    assert stdout.splitlines()[-1] == f"FAIL  webhook: {polling_refusal(PRODUCTION_URL)}"


async def test_check_in_webhook_mode_reports_the_registration_and_telegrams_last_error(
    bot_api: tuple[FakeBotAPI, str], isolated_database_url: URL, tmp_path: Path
) -> None:
    api, api_url = bot_api
    environment = webhook_environment(isolated_database_url, api_url, free_port())

    before, before_stdout, _ = await run_to_exit(environment, tmp_path, "check")
    api.set_webhook_elsewhere(WEBHOOK_URL)
    registered, registered_stdout, _ = await run_to_exit(environment, tmp_path, "check")
    api.fail_delivery("Connection timed out", pending_update_count=3)
    failing, failing_stdout, _ = await run_to_exit(environment, tmp_path, "check")
    api.set_webhook_elsewhere("https://elsewhere.example.test/hook")
    elsewhere, elsewhere_stdout, _ = await run_to_exit(environment, tmp_path, "check")

    assert (before, registered, failing, elsewhere) == (1, 0, 0, 1)
    assert before_stdout.splitlines()[-1] == (
        f"FAIL  webhook: none set: Telegram delivers nothing until the bot starts and registers {WEBHOOK_URL}"
    )
    assert (
        registered_stdout.splitlines()[-1] == f"ok    webhook: registered at {WEBHOOK_URL}, 0 updates pending"
    )
    ok_line, warning = failing_stdout.splitlines()[-2:]
    assert ok_line == f"ok    webhook: registered at {WEBHOOK_URL}, 3 updates pending"
    assert warning.startswith("warn  webhook: Telegram's last delivery error, at 20")
    assert warning.endswith(": Connection timed out")
    assert elsewhere_stdout.splitlines()[-1] == (
        f"FAIL  webhook: set at https://elsewhere.example.test/hook, not at {WEBHOOK_URL}: "
        "another deployment or bot uses this token"
    )
