"""Proof by mutation: a migration that breaks the serving release is caught, and one that does not is let by.

A temporary repository holds a copy of this checkout as the previous release, and one branch per scratch
revision on top of it. For each revision:
- the gate (`.ci/verify compat`) runs the previous release's registration tests against the schema the
  revision builds, and must fail exactly for the breaking revisions;
- the runtime check, on a database migrated by the same revision, gives the same verdict, and for the additive
  ones the real process agrees end to end: `check` exits 0, /readyz answers 200 and /start registers the user.

The gates start first, all at once, and this module's other tests run while they do: each gate is a pytest
run of its own, and most of its cost is importing the test harness.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
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
from tests.migrations.checkout import copy_of_this_checkout, git
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

# The previous release's tests that register users: every breaking revision below breaks them.
# Stopping at the first failure and without the hypothesis plugin: the verdict is the same, and cheaper.
GATE_SELECTION = ["tests/db/test_queries.py", "-x", "-p", "no:hypothesispytest"]


@dataclass(frozen=True)
class Mutation:
    revision: str
    upgrade: str
    downgrade: str
    # The column a breaking revision breaks for the previous release; None for a compatible one.
    breaks: str | None


MUTATIONS = {
    "rename-column": Mutation(
        "c0ffee000001",
        'op.alter_column("users", "language_code", new_column_name="locale")',
        'op.alter_column("users", "locale", new_column_name="language_code")',
        "users.language_code",
    ),
    "drop-column": Mutation(
        "c0ffee000002",
        'op.drop_column("users", "last_name")',
        'op.add_column("users", sa.Column("last_name", sa.Text()))',
        "users.last_name",
    ),
    "required-column": Mutation(
        "c0ffee000003",
        'op.add_column("users", sa.Column("nickname", sa.Text(), nullable=False))',
        'op.drop_column("users", "nickname")',
        "users.nickname",
    ),
    "nullable-column": Mutation(
        "c0ffee000004",
        'op.add_column("users", sa.Column("nickname", sa.Text(), nullable=True))',
        'op.drop_column("users", "nickname")',
        None,
    ),
    "new-table": Mutation(
        "c0ffee000005",
        'op.create_table("subscriptions", sa.Column("id", sa.BigInteger(), primary_key=True), '
        'sa.Column("user_id", sa.BigInteger(), nullable=False))',
        'op.drop_table("subscriptions")',
        None,
    ),
}
OLDER_RELEASE = "before-the-switch"
BREAKING = [name for name, mutation in MUTATIONS.items() if mutation.breaks]
ADDITIVE = [name for name, mutation in MUTATIONS.items() if not mutation.breaks]


def revision_file(name: str, mutation: Mutation) -> str:
    return (
        f'"""Scratch revision: {name}."""\n\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        f"revision = {mutation.revision!r}\n"
        f"down_revision = {head_revision()!r}\n\n\n"
        f"def upgrade() -> None:\n    {mutation.upgrade}\n\n\n"
        f"def downgrade() -> None:\n    {mutation.downgrade}\n"
    )


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A repository whose `main` is this checkout, and a worktree per scratch revision, one commit on top."""
    base = tmp_path_factory.mktemp("releases")
    repository = base / "previous"
    copy_of_this_checkout(repository)
    git(repository, "init", "-q", "-b", "main")
    git(repository, "add", "-A")
    git(repository, "commit", "-q", "--no-verify", "-m", "the previous release")
    worktrees = {}
    for name, mutation in MUTATIONS.items():
        worktree = base / name
        git(repository, "worktree", "add", "-q", "-b", name, str(worktree))
        path = worktree / "migrations" / "versions" / f"20991231_0000_{mutation.revision}_{name}.py"
        path.write_text(revision_file(name, mutation))
        git(worktree, "add", "-A")
        git(worktree, "commit", "-q", "--no-verify", "-m", f"add a scratch revision: {name}")
        worktrees[name] = worktree
    # A release from before the harness had TEST_MIGRATIONS_FROM: the gate cannot run its tests.
    older = base / OLDER_RELEASE
    git(repository, "worktree", "add", "-q", "-b", OLDER_RELEASE, str(older))
    (older / "conftest.py").write_text('"""The harness of a release that predates the switch."""\n')
    git(older, "commit", "-q", "--no-verify", "-am", "a release older than the switch")
    return worktrees


def gate(worktree: Path, *arguments: str) -> list[str]:
    """The command line of `.ci/verify compat` in that checkout."""
    return [str(worktree / ".ci" / "verify"), "compat", *arguments]


def test_the_gate_passes_a_release_older_than_the_switch_with_one_line(releases: dict[str, Path]) -> None:
    worktree = releases["required-column"]
    commit = git(worktree, "rev-parse", OLDER_RELEASE).decode().strip()

    result = subprocess.run(
        gate(worktree, OLDER_RELEASE), cwd=worktree, capture_output=True, text=True, check=False
    )

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        (
            f"compat: not checked: {OLDER_RELEASE} ({commit[:12]}) predates the TEST_MIGRATIONS_FROM switch, "
            "so its tests cannot run against these migrations"
        )
    ]


def test_the_gate_refuses_a_base_that_is_not_in_the_clone(releases: dict[str, Path]) -> None:
    worktree = releases["required-column"]
    unknown = "f" * 40

    result = subprocess.run(
        gate(worktree, unknown), cwd=worktree, capture_output=True, text=True, check=False
    )

    assert result.returncode == 2
    assert (
        result.stderr
        == f"compat: {unknown} is not a commit in this clone (fetch the history: fetch-depth: 0)\n"
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


async def run_gate(worktree: Path, server_url: str) -> tuple[int, str]:
    environment = {k: v for k, v in os.environ.items() if k != "TEST_MIGRATIONS_FROM"}
    environment |= {
        "TEST_DATABASE_URL": server_url,
        # The environment these tests run in, which the gate's `poetry run` then uses as it is.
        "VIRTUAL_ENV": sys.prefix,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}",
    }
    process = await asyncio.create_subprocess_exec(
        *gate(worktree, "main", *GATE_SELECTION),
        cwd=worktree,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await process.communicate()
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, output.decode()


@pytest.fixture(scope="module", autouse=True)
async def gates(
    releases: dict[str, Path], postgresql_server: Server
) -> AsyncIterator[dict[str, asyncio.Task[tuple[int, str]]]]:
    """The gate on every scratch revision, started first: this module's other tests run while they do."""
    server = postgresql_server.url(postgresql_server.maintenance_dbname).set(drivername="postgresql")
    url = server.render_as_string(hide_password=False)
    running = {name: asyncio.ensure_future(run_gate(worktree, url)) for name, worktree in releases.items()}
    yield running
    for task in running.values():
        task.cancel()
    await asyncio.gather(*running.values(), return_exceptions=True)


@pytest.mark.parametrize("name", BREAKING)
async def test_the_gate_fails_on_a_revision_that_breaks_the_previous_release(
    gates: dict[str, asyncio.Task[tuple[int, str]]], name: str
) -> None:
    status, output = await gates[name]
    breaks = MUTATIONS[name].breaks
    assert breaks is not None
    table, column = breaks.split(".")

    assert status != 0, output
    assert "compat: FAILED: the tests of main fail against this checkout's schema" in output
    assert "1 failed" in output.splitlines()[-2]
    # PostgreSQL's own refusal of the previous release's statement, naming the column.
    assert f'column "{column}"' in output
    assert f'relation "{table}"' in output


@pytest.mark.parametrize("name", ADDITIVE)
async def test_the_gate_passes_a_revision_that_keeps_the_previous_release_working(
    gates: dict[str, asyncio.Task[tuple[int, str]]], name: str
) -> None:
    status, output = await gates[name]

    assert status == 0, output
    assert "compat: the tests of main" in output
    assert " passed" in output.splitlines()[-1]
    assert "failed" not in output.splitlines()[-1]
