"""The runtime check of a schema ahead of the code: which changes it accepts and which it refuses.

Each test changes the migrated schema inside the test's transaction, marks the database as migrated by a
revision this code does not know, and reads the status as start-up, `check` and /readyz do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import REAL, Column, Integer, MetaData, SmallInteger, Table, event, text
from sqlalchemy.ext.asyncio import AsyncConnection

from telegram_bot.db import metadata
from telegram_bot.db.schema import SchemaStatus, head_revision, read_schema_status

# Every test here alters its schema and compares it with its own head: the compatibility gate leaves it out.
pytestmark = pytest.mark.schema_state

NEWER_REVISION = "f00dfeedbeef"
FIRST_REVISION = "8844327c472e"


async def status_after(
    connection: AsyncConnection, *statements: str, revision: str = NEWER_REVISION, code: MetaData = metadata
) -> SchemaStatus:
    for statement in statements:
        await connection.execute(text(statement))
    await connection.execute(
        text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision}
    )
    return await read_schema_status(connection, code)


@pytest.fixture
def statements_sent(connection: AsyncConnection) -> Iterator[list[str]]:
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    engine = connection.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


async def test_a_schema_at_the_head_is_usable_and_costs_two_statements(
    connection: AsyncConnection, statements_sent: list[str]
) -> None:
    status = await read_schema_status(connection, metadata)

    assert (status.is_usable, status.is_current, status.is_ahead) == (True, True, False)
    assert len(statements_sent) == 2


async def test_an_unchanged_schema_at_an_unknown_revision_is_usable_and_named_with_both_revisions(
    connection: AsyncConnection, statements_sent: list[str]
) -> None:
    status = await status_after(connection)

    assert (status.is_usable, status.is_ahead, status.problems) == (True, True, ())
    assert status.describe() == (
        f"schema at {NEWER_REVISION}, ahead of this code's head {head_revision()}, and compatible with it"
    )
    # The update above, the revision (two statements), then one introspection query.
    assert len(statements_sent) == 1 + 3


@pytest.mark.parametrize(
    "statements",
    [
        ["ALTER TABLE users ADD COLUMN nickname text"],
        ["CREATE TABLE subscriptions (id bigint PRIMARY KEY, user_id bigint NOT NULL)"],
        ["ALTER TABLE users ADD COLUMN score integer NOT NULL DEFAULT 0"],
        ["ALTER TABLE users ADD COLUMN number bigint GENERATED ALWAYS AS IDENTITY"],
        # The second release of adding a required column: this code writes it, and maps it as nullable.
        ["ALTER TABLE users ALTER COLUMN username SET NOT NULL"],
        ["ALTER TABLE users ALTER COLUMN first_name TYPE text"],
    ],
    ids=["nullable-column", "new-table", "not-null-with-default", "identity", "tightened", "same-type"],
)
async def test_additive_changes_are_accepted(connection: AsyncConnection, statements: list[str]) -> None:
    status = await status_after(connection, *statements)

    assert status.problems == ()
    assert status.is_usable


@pytest.mark.parametrize(
    ("statements", "problems"),
    [
        (
            ["ALTER TABLE users RENAME COLUMN language_code TO locale"],
            ["column users.language_code is missing"],
        ),
        (["ALTER TABLE users DROP COLUMN last_name"], ["column users.last_name is missing"]),
        (
            ["ALTER TABLE users ADD COLUMN nickname text NOT NULL"],
            [
                (
                    "column users.nickname is NOT NULL without a default, and this code does not know it: "
                    "its INSERTs would fail"
                )
            ],
        ),
        (
            ["ALTER TABLE users ALTER COLUMN telegram_id TYPE numeric"],
            ["column users.telegram_id is numeric, this code expects bigint"],
        ),
        (
            ["ALTER TABLE users ALTER COLUMN first_name DROP NOT NULL"],
            ["column users.first_name allows NULL, which this code does not expect"],
        ),
        (
            ["ALTER TABLE users ALTER COLUMN created_at DROP DEFAULT"],
            ["column users.created_at has no default, and this code leaves it to the database"],
        ),
        (
            ["ALTER TABLE users ALTER COLUMN id DROP IDENTITY"],
            ["column users.id has no default, and this code leaves it to the database"],
        ),
        (["ALTER TABLE users RENAME TO people"], ["table users is missing"]),
        (
            [
                "ALTER TABLE users DROP COLUMN username",
                "ALTER TABLE users ALTER COLUMN last_update_id TYPE text",
            ],
            [
                "column users.last_update_id is text, this code expects bigint",
                "column users.username is missing",
            ],
        ),
    ],
    ids=[
        "renamed-column",
        "dropped-column",
        "required-column",
        "changed-type",
        "loosened",
        "lost-default",
        "lost-identity",
        "renamed-table",
        "several",
    ],
)
async def test_breaking_changes_are_refused_by_name(
    connection: AsyncConnection, statements: list[str], problems: list[str]
) -> None:
    status = await status_after(connection, *statements)

    assert list(status.problems) == problems
    assert not status.is_usable
    description = status.describe()
    assert description.startswith(f"schema at {NEWER_REVISION}, a revision this code does not know")
    assert all(problem in description for problem in problems)


async def test_widened_columns_are_accepted(connection: AsyncConnection) -> None:
    # The driver returns the same Python value, and every value the code writes still fits.
    code = MetaData()
    Table(
        "counters",
        code,
        Column("id", SmallInteger, primary_key=True, autoincrement=False),
        Column("hits", Integer, nullable=False),
        Column("ratio", REAL),
    )

    status = await status_after(
        connection,
        "CREATE TABLE counters (id bigint PRIMARY KEY, hits bigint NOT NULL, ratio double precision)",
        code=code,
    )

    assert (status.problems, status.is_usable) == ((), True)


async def test_a_schema_behind_the_code_is_not_introspected(
    connection: AsyncConnection, statements_sent: list[str]
) -> None:
    status = await status_after(connection, revision=FIRST_REVISION)

    assert (status.is_usable, status.is_ahead, status.problems) == (False, False, ())
    assert status.describe().endswith("run `alembic upgrade head`")
    assert len(statements_sent) == 1 + 2
