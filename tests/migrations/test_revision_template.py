"""`alembic revision -m ...` writes a file that imports op and sa and passes ruff and mypy, and records it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.migrations.checkout import ROOT, copy_of_this_checkout

EMPTY_UPGRADE = "def upgrade() -> None:\n    pass\n"
# What a developer writes next: it needs both names.
WRITTEN_UPGRADE = 'def upgrade() -> None:\n    op.add_column("users", sa.Column("nickname", sa.Text()))\n'


def run(checkout: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def failed_checks(checkout: Path, revision: Path) -> list[str]:
    """The output of each check the project runs on a revision file that did not pass."""
    # The project's own mypy cache: `.ci/verify checks` fills it before the tests run.
    checks = [
        ("ruff", "check"),
        ("ruff", "format", "--check"),
        ("mypy", "--cache-dir", str(ROOT / ".mypy_cache")),
    ]
    results = [run(checkout, *check, str(revision)) for check in checks]
    return [result.stdout + result.stderr for result in results if result.returncode != 0]


def test_a_new_revision_imports_op_and_sa_and_passes_ruff_and_mypy_empty_and_written(tmp_path: Path) -> None:
    copy_of_this_checkout(tmp_path)

    generated = run(tmp_path, "alembic", "revision", "-m", "backfill nicknames")

    assert generated.returncode == 0, generated.stderr
    (revision,) = (tmp_path / "migrations" / "versions").glob("*_backfill_nicknames.py")
    source = revision.read_text()
    assert "import sqlalchemy as sa\n" in source
    assert "from alembic import op\n" in source
    assert EMPTY_UPGRADE in source
    assert failed_checks(tmp_path, revision) == []
    # The post-write hook recorded the new head in the package, where the bot reads it.
    record = (tmp_path / "telegram_bot" / "db" / "revisions.py").read_text()
    assert f'HEAD: str = "{revision.name.split("_")[2]}"' in record
    assert failed_checks(tmp_path, tmp_path / "telegram_bot" / "db" / "revisions.py") == []

    revision.write_text(source.replace(EMPTY_UPGRADE, WRITTEN_UPGRADE))

    assert failed_checks(tmp_path, revision) == []
