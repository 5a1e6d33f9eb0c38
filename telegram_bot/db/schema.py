"""Where the database's schema stands against the migrations this code ships with.

The running bot reads the revision files itself rather than through Alembic, whose import alone adds about
11 MB to the process; tests/migrations checks that both read the same history.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

VERSIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"
_TRACKED = text("SELECT to_regclass('alembic_version') IS NOT NULL")
_CURRENT = text("SELECT version_num FROM alembic_version")


def _assignments(path: Path) -> dict[str, object]:
    """The literal module-level assignments of a revision file: revision, down_revision, ..."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            found[node.target.id] = ast.literal_eval(node.value)
        elif (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ):
            found[node.targets[0].id] = ast.literal_eval(node.value)
    return found


@cache
def _history() -> dict[str, frozenset[str]]:
    """Each revision with the revisions it follows."""
    history: dict[str, frozenset[str]] = {}
    for path in VERSIONS.glob("*.py"):
        fields = _assignments(path)
        down = fields.get("down_revision")
        # None for the first revision, a string, or a tuple for a merge.
        parents = () if down is None else (down,) if isinstance(down, str) else down
        if not isinstance(parents, tuple):
            raise TypeError(f"{path.name}: down_revision is {down!r}")
        history[str(fields["revision"])] = frozenset(str(parent) for parent in parents)
    return history


def known_revisions() -> frozenset[str]:
    return frozenset(_history())


def head_revision() -> str | None:
    """The newest revision in migrations/: what `alembic upgrade head` brings a database to."""
    history = _history()
    followed: frozenset[str] = frozenset().union(*history.values())
    heads = sorted(revision for revision in history if revision not in followed)
    if len(heads) > 1:
        raise RuntimeError(f"migrations/ has several heads ({', '.join(heads)}): merge them")
    return heads[0] if heads else None


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


async def schema_status(engine: AsyncEngine) -> SchemaStatus:
    async with engine.connect() as connection:
        tracked = (await connection.execute(_TRACKED)).scalar_one()
        current = (await connection.execute(_CURRENT)).scalar_one_or_none() if tracked else None
    return SchemaStatus(current=current, head=head_revision())
