"""The migration suite: every revision upgrades, downgrades and matches the models.

The tests run against an empty database of their own (`alembic_engine` in the root conftest). pytest-alembic
drives the async engine through `asyncio.run()`, so these tests are plain functions.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from pytest_alembic import MigrationContext
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from pytest_alembic.tests.experimental import all_models_register_on_metadata
from sqlalchemy import Connection, String, Text, text

from telegram_bot.db import metadata
from telegram_bot.db.record_revisions import RECORD, render
from telegram_bot.db.schema import head_revision, known_revisions

__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]

ROOT = Path(__file__).resolve().parents[2]
USERS_REVISION = "8844327c472e"
UPDATE_TRACKING_REVISION = "5ad1330bc221"


def test_all_models_register_on_metadata(alembic_runner: MigrationContext) -> None:
    # Named explicitly: pytest-alembic finds the package to walk from the module that defines the metadata,
    # and cannot walk from a plain module (telegram_bot.db.base) as opposed to a package.
    all_models_register_on_metadata.test_all_models_register_on_metadata(alembic_runner, "telegram_bot.db")


SEEDED_USERS: list[dict[str, Any]] = [
    {"telegram_id": 9_000_000_001, "first_name": "Ada", "username": "ada", "language_code": "en"},
    {"telegram_id": 9_000_000_002, "first_name": "Zoë 🐍", "username": None, "language_code": None},
]


def _read_users(connection: Connection) -> list[dict[str, Any]]:
    rows = connection.execute(
        text("SELECT telegram_id, first_name, username, language_code FROM users ORDER BY telegram_id")
    )
    return [dict(row._mapping) for row in rows]


def test_rows_written_at_the_users_revision_survive_every_later_migration(
    alembic_runner: MigrationContext,
) -> None:
    alembic_runner.migrate_up_to(USERS_REVISION)
    alembic_runner.insert_into("users", SEEDED_USERS)

    alembic_runner.migrate_up_to("heads")

    assert alembic_runner.connection_executor.run_task(_read_users) == SEEDED_USERS


def test_profiles_from_before_update_tracking_yield_to_any_update(alembic_runner: MigrationContext) -> None:
    alembic_runner.migrate_up_to(USERS_REVISION)
    alembic_runner.insert_into("users", SEEDED_USERS)

    alembic_runner.migrate_up_to(UPDATE_TRACKING_REVISION)

    def last_update_ids(connection: Connection) -> list[int]:
        return list(connection.execute(text("SELECT last_update_id FROM users")).scalars())

    assert alembic_runner.connection_executor.run_task(last_update_ids) == [0, 0]


def test_the_users_revision_creates_the_phase_one_table(alembic_runner: MigrationContext) -> None:
    alembic_runner.migrate_up_to(USERS_REVISION)

    def describe(connection: Connection) -> dict[str, tuple[str, str, str | None]]:
        rows = connection.execute(
            text(
                "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                "WHERE table_name = 'users'"
            )
        )
        return {row.column_name: (row.data_type, row.is_nullable, row.column_default) for row in rows}

    columns = alembic_runner.connection_executor.run_task(describe)
    assert columns == {
        "id": ("bigint", "NO", None),
        "telegram_id": ("bigint", "NO", None),
        "username": ("text", "YES", None),
        "first_name": ("text", "NO", None),
        "last_name": ("text", "YES", None),
        "language_code": ("text", "YES", None),
        "created_at": ("timestamp with time zone", "NO", "now()"),
        "updated_at": ("timestamp with time zone", "NO", "now()"),
    }


@pytest.mark.parametrize("statement", ["INSERT INTO users (telegram_id) VALUES (1)"])
def test_first_name_is_required(alembic_runner: MigrationContext, statement: str) -> None:
    alembic_runner.migrate_up_to("heads")

    def insert(connection: Connection) -> None:
        connection.execute(text(statement))

    with pytest.raises(Exception, match="first_name"):
        alembic_runner.connection_executor.run_task(insert)


# PostgreSQL's own description of every column, index, constraint and sequence, Alembic's table apart.
SCHEMA_SNAPSHOT = text(
    """
    SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
           || CASE WHEN a.attidentity <> '' THEN ' identity' ELSE '' END AS item
    FROM pg_attribute AS a
    JOIN pg_class AS c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
          AND c.relname <> 'alembic_version'
    UNION ALL
    SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'alembic_version'
    UNION ALL
    SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid <> 0
          AND conrelid <> 'alembic_version'::regclass
    UNION ALL
    SELECT 'sequence ' || relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'S'
    UNION ALL
    SELECT 'type ' || typname FROM pg_type
    WHERE typnamespace = 'public'::regnamespace AND typtype IN ('e', 'd')
    ORDER BY item
    """
)


def _schema(connection: Connection) -> list[str]:
    return list(connection.execute(SCHEMA_SNAPSHOT).scalars())


def test_every_downgrade_restores_the_schema_its_upgrade_found(alembic_runner: MigrationContext) -> None:
    # pytest-alembic's experimental test_downgrade_leaves_no_trace runs inside one transaction, where a
    # revision that builds an index CONCURRENTLY (docs/migrations.md) cannot run: this one really migrates.
    for revision in alembic_runner.history.revisions[1:-1]:
        alembic_runner.migrate_up_before(revision)
        before = alembic_runner.connection_executor.run_task(_schema)
        alembic_runner.migrate_up_one()
        alembic_runner.migrate_down_one()

        assert alembic_runner.connection_executor.run_task(_schema) == before, revision


def test_no_model_column_is_varchar() -> None:
    # .squawk.toml turns prefer-text-field off for Alembic's own table; this keeps it on for ours.
    varchar_columns = [
        f"{table.name}.{column.name}"
        for table in metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, String) and not isinstance(column.type, Text)
    ]
    assert varchar_columns == []


@pytest.mark.parametrize(
    ("statement", "rule"),
    [
        ("ALTER TABLE users ADD COLUMN score integer NOT NULL DEFAULT 0;", "require-lock-timeout"),
        ("CREATE INDEX ix_users_username ON users (username);", "require-concurrent-index-creation"),
    ],
)
def test_squawk_with_the_project_config_flags_risky_sql(tmp_path: Path, statement: str, rule: str) -> None:
    migration = tmp_path / "risky.sql"
    migration.write_text(statement)

    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "squawk"),
            "--config",
            str(ROOT / ".squawk.toml"),
            "--reporter",
            "gcc",
            str(migration),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode != 0
    assert rule in result.stdout


def test_the_bot_reads_the_same_history_as_alembic() -> None:
    # The running bot reads the package's record, not the revision files (telegram_bot/db/schema.py).
    scripts = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))

    assert head_revision() == scripts.get_current_head()
    assert known_revisions() == {script.revision for script in scripts.walk_revisions()}


def test_the_package_record_of_the_revisions_is_in_step_with_migrations() -> None:
    # Out of step after a hand edit of migrations/: `poetry run python -m telegram_bot.db.record_revisions`.
    assert RECORD.read_text(encoding="utf-8") == render(str(ROOT / "alembic.ini"))
