"""Track the update each profile came from, so that an older update never overwrites a newer profile.

A constant default: PostgreSQL 11+ adds the column without rewriting the table; existing rows read 0.

Revision ID: 5ad1330bc221
Revises: 8844327c472e
Create Date: 2026-11-26 17:37:30.161112+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5ad1330bc221"
down_revision: str | None = "8844327c472e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("last_update_id", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
    )


def downgrade() -> None:
    op.drop_column("users", "last_update_id")
