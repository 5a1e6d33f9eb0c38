"""An index on an existing table, built as docs/migrations.md says: CREATE INDEX CONCURRENTLY in a revision.

A copy of this checkout gets a scratch revision written that way (tests/migrations/mutations.py, which the
gate's proof also runs), and the model's index to match. It must pass squawk and the copy's own migration
suite (upgrade, round trip, no drift), and while the index builds the migration lock must still be held,
although the autocommit block committed the transaction around it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import URL, event
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from conftest import Server, unique_name
from tests.migrations.checkout import copy_of_this_checkout
from tests.migrations.mutations import MUTATIONS, revision_file
from tests.migrations.test_migration_lock import MIGRATION_LOCK_KEY

INDEX = "ix_users_first_name"
RECIPE = MUTATIONS["concurrent-index"]
MODEL_LINE = "    first_name: Mapped[str] = mapped_column(Text)\n"
INDEXED_MODEL_LINE = "    first_name: Mapped[str] = mapped_column(Text, index=True)\n"


@pytest.fixture(scope="module")
def indexed_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    checkout = tmp_path_factory.mktemp("indexed")
    copy_of_this_checkout(checkout)
    revision = checkout / "migrations" / "versions" / f"20991231_0000_{RECIPE.revision}_index_first_name.py"
    revision.write_text(revision_file("index users by first name", RECIPE))
    models = checkout / "telegram_bot" / "db" / "models.py"
    source = models.read_text()
    assert MODEL_LINE in source
    models.write_text(source.replace(MODEL_LINE, INDEXED_MODEL_LINE))
    # What `alembic revision` would have done after writing it: record the new head in the package.
    recorded = run(checkout, "telegram_bot.db.record_revisions")
    assert recorded.returncode == 0, recorded.stderr
    return checkout


def run(checkout: Path, *command: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=checkout,
        env=os.environ | environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_the_recipe_passes_squawk(indexed_checkout: Path) -> None:
    sql = run(indexed_checkout, "alembic", "upgrade", "head", "--sql")
    assert sql.returncode == 0, sql.stderr
    squawk = Path(sys.executable).parent / "squawk"

    linted = subprocess.run(
        [str(squawk), "--config", ".squawk.toml"],
        cwd=indexed_checkout,
        input=sql.stdout,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON users (first_name);" in sql.stdout
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_recipe_passes_the_migration_suite(indexed_checkout: Path, postgresql_server: Server) -> None:
    # On this run's server, rather than one the copy's suite would start (and initdb) for itself.
    server = postgresql_server.url(postgresql_server.maintenance_dbname).set(drivername="postgresql")
    suite = run(
        indexed_checkout,
        *("pytest", "-p", "no:cacheprovider", "-q", "tests/migrations/test_migrations.py"),
        TEST_DATABASE_URL=server.render_as_string(hide_password=False),
    )

    assert suite.returncode == 0, suite.stdout + suite.stderr
    assert " passed" in suite.stdout.splitlines()[-1]


@pytest.fixture
def database_at_the_head(postgresql_server: Server, template_database: str) -> Iterator[URL]:
    with postgresql_server.janitor(unique_name("tb_indexed"), template=template_database) as janitor:
        yield postgresql_server.url(janitor.dbname)


def lock_is_free(url: URL) -> bool:
    """Whether another deploy could take the migration lock now (it is given back at once if so)."""
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as other:
        (taken,) = other.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_KEY,)).fetchone() or (
            None,
        )
        if taken:
            other.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        return bool(taken)


def index_state(url: URL) -> list[tuple[bool, bool]]:
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as observer:
        rows = observer.execute(
            "SELECT indisvalid, indisready FROM pg_index WHERE indexrelid = to_regclass(%s)", (INDEX,)
        ).fetchall()
    return [(bool(valid), bool(ready)) for valid, ready in rows]


def test_the_index_builds_concurrently_under_the_migration_lock_and_drops_again(
    indexed_checkout: Path, database_at_the_head: URL
) -> None:
    engine = create_async_engine(database_at_the_head, poolclass=NullPool)
    seen: list[tuple[str, bool]] = []

    def after_statement(*arguments: Any) -> None:
        statement = str(arguments[2])
        if "CONCURRENTLY" in statement:
            seen.append((statement.split(maxsplit=1)[0], lock_is_free(database_at_the_head)))

    event.listen(engine.sync_engine, "after_cursor_execute", after_statement)
    config = Config(str(indexed_checkout / "alembic.ini"))
    config.attributes["connection"] = engine
    command.upgrade(config, "head")
    built = index_state(database_at_the_head)
    config.attributes["connection"] = engine
    command.downgrade(config, "-1")
    dropped = index_state(database_at_the_head)

    assert seen == [("DROP", False), ("CREATE", False), ("DROP", False)]
    assert built == [(True, True)]
    assert dropped == []
    assert lock_is_free(database_at_the_head)
