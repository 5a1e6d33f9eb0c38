"""The runtime check on each scratch revision (tests/migrations/mutations.py) agrees with the gate.

On a database migrated by a breaking revision, the previous release's runtime check (start-up, `check`,
/readyz) refuses the schema, naming the column; on an additive one, the real process serves: `check` exits 0,
/readyz answers 200 and /start registers the user.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from conftest import Server, unique_name
from telegram_bot.db import metadata
from telegram_bot.db.schema import head_revision, schema_status
from telegram_bot.web import SECRET_HEADER
from tests.migrations.mutations import ADDITIVE, BREAKING, MUTATIONS
from tests.support.fakes import FakeBotAPI
from tests.support.process import (
    WEBHOOK_SECRET,
    bot_environment,
    free_port,
    run_to_exit,
    start_bot,
    stop_bot,
    stored_users,
    update_json,
    webhook_environment,
)


@pytest.fixture
def migrated_by(
    request: pytest.FixtureRequest,
    releases: dict[str, Path],
    postgresql_server: Server,
    template_database: str,
) -> Iterator[URL]:
    """A database at this code's head, then upgraded by the scratch revision the test is parametrized with."""
    worktree = releases[request.param]
    with postgresql_server.janitor(unique_name("tb_mutated"), template=template_database) as janitor:
        url = postgresql_server.url(janitor.dbname)
        config = Config(str(worktree / "alembic.ini"))
        config.attributes["connection"] = create_async_engine(url, poolclass=NullPool)
        command.upgrade(config, "head")
        yield url


async def runtime_verdict(url: URL) -> tuple[bool, tuple[str, ...], str | None]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        status = await schema_status(engine, metadata)
    finally:
        await engine.dispose()
    return status.is_usable, status.problems, status.current


@pytest.mark.parametrize("migrated_by", BREAKING, indirect=True)
async def test_the_runtime_check_refuses_a_breaking_revision_by_name(
    migrated_by: URL, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    mutation = MUTATIONS[request.node.callspec.params["migrated_by"]]

    usable, problems, current = await runtime_verdict(migrated_by)
    status, stdout, _ = await run_to_exit(
        bot_environment(migrated_by, "http://127.0.0.1:1"), tmp_path, "check"
    )

    assert (usable, current) == (False, mutation.revision)
    assert any(f"column {mutation.breaks} " in problem for problem in problems), problems
    assert status == 1
    last = stdout.splitlines()[-1]
    assert last.startswith(f"FAIL  schema: schema at {mutation.revision}, a revision this code does not know")
    assert f"column {mutation.breaks} " in last


@pytest.mark.parametrize("migrated_by", ADDITIVE, indirect=True)
async def test_the_previous_release_keeps_serving_on_an_additive_revision(
    migrated_by: URL, request: pytest.FixtureRequest, bot_api: tuple[FakeBotAPI, str], tmp_path: Path
) -> None:
    mutation = MUTATIONS[request.node.callspec.params["migrated_by"]]
    api, api_url = bot_api
    port = free_port()
    update = update_json()

    usable, problems, current = await runtime_verdict(migrated_by)
    checked, stdout, _ = await run_to_exit(bot_environment(migrated_by, api_url), tmp_path, "check")
    process = await start_bot(webhook_environment(migrated_by, api_url, port), tmp_path)
    try:
        await api.wait_for_call("setWebhook")
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            ready = await http.get("/readyz")
            answered = await http.post("/webhook", json=update, headers={SECRET_HEADER: WEBHOOK_SECRET})
    finally:
        stopped, log = await stop_bot(process)

    assert (usable, problems, current) == (True, (), mutation.revision)
    assert checked == 0, stdout
    assert (
        f"ok    schema: schema at {mutation.revision}, ahead of this code's head {head_revision()}, "
        "and compatible with it"
    ) in stdout.splitlines()
    assert (ready.status, answered.status, stopped) == (200, 200, 0)
    sender = update["message"]["from"]
    assert await stored_users(migrated_by) == [(sender["id"], sender["first_name"])]
    assert [entry["message"] for entry in log if entry["level"] == "warning"] == [
        "schema ahead of this code, and compatible with it"
    ]
