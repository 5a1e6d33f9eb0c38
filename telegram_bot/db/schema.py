"""Where the database's schema stands against the migrations this code ships with."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(Config(str(ALEMBIC_INI)))


@cache
def known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _scripts().walk_revisions())


def head_revision() -> str | None:
    """The newest revision in migrations/: what `alembic upgrade head` would bring a database to."""
    return _scripts().get_current_head()


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: str | None
    head: str | None

    @property
    def is_current(self) -> bool:
        return self.current == self.head

    def describe(self) -> str:
        if self.is_current:
            return f"schema at head ({self.head})"
        if self.current is not None and self.current not in known_revisions():
            # Newer code migrated this database, or it belongs to another project.
            return (
                f"schema at {self.current}, a revision this code does not know (it expects {self.head}): "
                "deploy the code that migrated it, or downgrade deliberately"
            )
        current = self.current or "no revision"
        return f"schema at {current}, code expects {self.head}: run `alembic upgrade head`"


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def schema_status(engine: AsyncEngine) -> SchemaStatus:
    async with engine.connect() as connection:
        current = await connection.run_sync(_current_revision)
    return SchemaStatus(current=current, head=head_revision())
