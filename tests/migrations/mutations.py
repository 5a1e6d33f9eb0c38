"""Scratch revisions, each one commit on top of a copy of this checkout: the next release's migrations.

Four keep the previous release (this checkout) working, three break it. tests/migrations/test_compat_gate.py
runs the compatibility gate on each, test_runtime_on_mutations.py the runtime check and the real process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from telegram_bot.db.schema import head_revision
from tests.migrations.checkout import copy_of_this_checkout, git


@dataclass(frozen=True)
class Mutation:
    revision: str
    upgrade: str
    downgrade: str
    # The column a breaking revision breaks for the previous release; None for a compatible one.
    breaks: str | None = None


# The recipe for an index on an existing table (docs/migrations.md), on users.first_name.
AUTOCOMMIT = "with op.get_context().autocommit_block():\n        "
DROP_INDEX = (
    'op.drop_index("ix_users_first_name", table_name="users", postgresql_concurrently=True, if_exists=True)'
)
CREATE_INDEX = (
    'op.create_index("ix_users_first_name", "users", ["first_name"], postgresql_concurrently=True, '
    "if_not_exists=True)"
)
MUTATIONS = {
    "nullable-column": Mutation(
        "c0ffee000004",
        # The name the previous release's own schema tests once added themselves (they are left out now).
        'op.add_column("users", sa.Column("nickname", sa.Text(), nullable=True))',
        'op.drop_column("users", "nickname")',
    ),
    "new-table": Mutation(
        "c0ffee000005",
        'op.create_table("subscriptions", sa.Column("id", sa.BigInteger(), primary_key=True), '
        'sa.Column("user_id", sa.BigInteger(), sa.ForeignKey("users.id"), nullable=False))',
        'op.drop_table("subscriptions")',
    ),
    "concurrent-index": Mutation(
        "c0ffee000006",
        f"{AUTOCOMMIT}{DROP_INDEX}\n        {CREATE_INDEX}",
        f"{AUTOCOMMIT}{DROP_INDEX}",
    ),
    "required-column-with-default": Mutation(
        "c0ffee000007",
        'op.add_column("users", sa.Column("score", sa.Integer(), nullable=False, server_default="0"))',
        'op.drop_column("users", "score")',
    ),
    "drop-column": Mutation(
        "c0ffee000002",
        'op.drop_column("users", "last_name")',
        'op.add_column("users", sa.Column("last_name", sa.Text()))',
        "users.last_name",
    ),
    "rename-column": Mutation(
        "c0ffee000001",
        'op.alter_column("users", "language_code", new_column_name="locale")',
        'op.alter_column("users", "locale", new_column_name="language_code")',
        "users.language_code",
    ),
    "required-column": Mutation(
        "c0ffee000003",
        'op.add_column("users", sa.Column("nickname", sa.Text(), nullable=False))',
        'op.drop_column("users", "nickname")',
        "users.nickname",
    ),
}
BREAKING = [name for name, mutation in MUTATIONS.items() if mutation.breaks]
ADDITIVE = [name for name, mutation in MUTATIONS.items() if not mutation.breaks]
OLDER_RELEASE = "before-the-switch"


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


def make_releases(base: Path) -> dict[str, Path]:
    """A repository whose `main` is this checkout, and a worktree per scratch revision, one commit on top.

    Also a branch OLDER_RELEASE, a release from before the harness had TEST_MIGRATIONS_FROM.
    """
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
    older = base / OLDER_RELEASE
    git(repository, "worktree", "add", "-q", "-b", OLDER_RELEASE, str(older))
    (older / "conftest.py").write_text('"""The harness of a release that predates the switch."""\n')
    git(older, "commit", "-q", "--no-verify", "-am", "a release older than the switch")
    return worktrees
