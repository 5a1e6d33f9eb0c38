"""A retired column (schema.RETIRED_COLUMNS) stays out of autogenerate and the model-matches-DDL check.

That is what lets a release stop mapping a column while its database still holds it for the release before,
and the next release drop it (docs/migrations.md: expand, then contract).
"""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

from telegram_bot.db import metadata, schema


def differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={"include_object": schema.not_retired, "compare_type": True, "compare_server_default": True},
    )
    return list(compare_metadata(context, metadata))


async def test_a_column_the_models_lack_is_a_difference_until_it_is_retired(
    connection: AsyncConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    await connection.execute(text("ALTER TABLE users ADD COLUMN nickname text NOT NULL DEFAULT ''"))

    before = await connection.run_sync(differences)
    monkeypatch.setattr(schema, "RETIRED_COLUMNS", frozenset({"users.nickname"}))
    after = await connection.run_sync(differences)

    assert [(change[0], change[2], change[3].name) for change in before] == [
        ("remove_column", "users", "nickname")
    ]
    assert after == []
