"""Where the database's schema stands against the code: at its migrations' head, behind it, or ahead of it.

A schema ahead of the code (a newer release migrated it: a deploy under way, a failed one, a rollback) is
usable as long as it still serves this code, which the expand/contract rule (docs/migrations.md) keeps
true. Whether it does is read from the live database in one query, and compared with the code's metadata:

- every mapped table and column exists;
- its type is the code's, or a wider one the driver returns the same Python value for: smallint -> integer
  -> bigint, real -> double precision, character varying -> text (type modifiers such as a length are not
  compared: the project's columns have none);
- it allows NULL only where the code maps it as nullable (the code would read values it does not expect); a
  nullable column may have become NOT NULL, the second release of adding a required column;
- a column the code leaves to the database (a server default, an identity) still has a default;
- a NOT NULL column the code does not map has a default: every mapped table is one the code may insert into.

The code knows its migrations through telegram_bot/db/revisions.py, a record of their revisions inside the
package (kept in step by `alembic revision`, checked by tests/migrations): wherever the package is installed,
it knows its head, and it never mistakes its own revisions for a newer release's.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, MetaData, Row, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from telegram_bot.db import revisions

_TRACKED = text("SELECT to_regclass('alembic_version') IS NOT NULL")
_CURRENT = text("SELECT version_num FROM alembic_version")


def known_revisions() -> frozenset[str]:
    return revisions.KNOWN


def head_revision() -> str:
    """The newest revision in migrations/: what `alembic upgrade head` brings a database to."""
    return revisions.HEAD


# Columns the database still holds but this release no longer maps, as "table.column": the next release's
# migration drops them (docs/migrations.md). Autogenerate and the migration suite leave them alone.
RETIRED_COLUMNS: frozenset[str] = frozenset()


def not_retired(
    item: object,
    name: str | None,
    kind: str,
    reflected: bool,  # noqa: FBT001 - Alembic's include_object hook passes it by position
    compare_to: object,
) -> bool:
    """Alembic's include_object hook: leave out a retired column that the database has and the models lack."""
    table = getattr(item, "table", None)
    return not (
        kind == "column"
        and reflected
        and compare_to is None
        and f"{getattr(table, 'name', '')}.{name}" in RETIRED_COLUMNS
    )


# Every column of the mapped tables, joined with what the code expects of each: one round trip. Mapped tables
# are found through the search path, as the code's own statements find them.
_COLUMNS = text(
    """
    WITH expected AS (
        SELECT * FROM unnest(CAST(:tables AS text[]), CAST(:columns AS text[]), CAST(:types AS text[]))
            AS expected (table_name, column_name, type_name)
    ), actual AS (
        SELECT mapped.table_name, a.attname::text AS column_name, a.atttypid::regtype::text AS type_name,
               a.attnotnull AS not_null,
               a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '' AS has_default
        FROM (SELECT DISTINCT table_name FROM expected) AS mapped
        JOIN pg_catalog.pg_attribute AS a ON a.attrelid = to_regclass(quote_ident(mapped.table_name))
        WHERE a.attnum > 0 AND NOT a.attisdropped
    )
    SELECT table_name, column_name, to_regtype(expected.type_name)::text AS expected_type,
           actual.type_name AS actual_type, actual.not_null, actual.has_default
    FROM expected FULL JOIN actual USING (table_name, column_name)
    ORDER BY table_name, column_name
    """
)
# Type changes that old code survives: the driver gives back the same Python value, and every value the code
# writes still fits.
_WIDENINGS = frozenset(
    {
        ("smallint", "integer"),
        ("smallint", "bigint"),
        ("integer", "bigint"),
        ("real", "double precision"),
        ("character varying", "text"),
    }
)


def _left_to_database(column: Column[object]) -> bool:
    """Whether the code may leave the column out of an INSERT, for the database to fill in."""
    return (
        column.server_default is not None
        or column.identity is not None
        or column is column.table.autoincrement_column
    )


def _column_problems(column: Column[object], row: Row[object]) -> list[str]:
    name = f"{column.table.name}.{column.name}"
    if row.actual_type is None:
        return [f"column {name} is missing"]
    problems = []
    if row.expected_type != row.actual_type and (row.expected_type, row.actual_type) not in _WIDENINGS:
        problems.append(
            f"column {name} is {row.actual_type}, this code expects {row.expected_type or column.type}"
        )
    if not column.nullable and not row.not_null:
        problems.append(f"column {name} allows NULL, which this code does not expect")
    if _left_to_database(column) and row.not_null and not row.has_default:
        problems.append(f"column {name} has no default, and this code leaves it to the database")
    return problems


async def incompatibilities(connection: AsyncConnection, metadata: MetaData) -> tuple[str, ...]:
    """What in the live schema this code cannot work with: each missing or changed table or column."""
    expected = {
        (column.table.name, column.name): column
        for table in metadata.tables.values()
        for column in table.columns
    }
    parameters = {
        "tables": [table for table, _ in expected],
        "columns": [column for _, column in expected],
        "types": [column.type.compile(dialect=connection.dialect) for column in expected.values()],
    }
    rows = (await connection.execute(_COLUMNS, parameters)).all()
    missing = sorted(
        set(parameters["tables"]) - {row.table_name for row in rows if row.actual_type is not None}
    )
    problems = [f"table {table} is missing" for table in missing]
    for row in rows:
        column = expected.get((row.table_name, row.column_name))
        if row.table_name in missing:
            continue
        if column is not None:
            problems.extend(_column_problems(column, row))
        elif row.not_null and not row.has_default:
            problems.append(
                f"column {row.table_name}.{row.column_name} is NOT NULL without a default, and this code "
                "does not know it: its INSERTs would fail"
            )
    return tuple(problems)


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: str | None
    head: str
    # Only for a schema ahead of the code: what in it this code cannot work with.
    problems: tuple[str, ...] = ()

    @property
    def is_current(self) -> bool:
        return self.current == self.head

    @property
    def is_ahead(self) -> bool:
        """At a revision this code does not know: a newer release migrated it (or it is another project's)."""
        return self.current is not None and self.current not in known_revisions()

    @property
    def is_usable(self) -> bool:
        """At the head, or ahead of it with a schema that still serves this code."""
        return self.is_current or (self.is_ahead and not self.problems)

    def describe(self) -> str:
        if self.is_current:
            return f"schema at head ({self.head})"
        if self.is_ahead and not self.problems:
            return f"schema at {self.current}, ahead of this code's head {self.head}, and compatible with it"
        if self.is_ahead:
            return (
                f"schema at {self.current}, a revision this code does not know (it expects {self.head}), and "
                f"incompatible with it: {'; '.join(self.problems)}. Deploy the code that migrated it, or "
                "downgrade deliberately"
            )
        current = self.current or "no revision"
        return f"schema at {current}, code expects {self.head}: run `alembic upgrade head`"


async def read_schema_status(connection: AsyncConnection, metadata: MetaData) -> SchemaStatus:
    """Where the schema stands; when it is ahead of the code, whether it still serves the code's metadata."""
    tracked = (await connection.execute(_TRACKED)).scalar_one()
    current = (await connection.execute(_CURRENT)).scalar_one_or_none() if tracked else None
    status = SchemaStatus(current=current, head=head_revision())
    if status.is_ahead:
        status = SchemaStatus(current, status.head, await incompatibilities(connection, metadata))
    return status


async def schema_status(engine: AsyncEngine, metadata: MetaData) -> SchemaStatus:
    async with engine.connect() as connection:
        return await read_schema_status(connection, metadata)
