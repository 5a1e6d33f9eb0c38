"""What the database holds, read on the test's connection: for assertions, not for the bot."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from telegram_bot.db.models import User


async def count_users(connection: AsyncConnection) -> int:
    return (await connection.execute(select(func.count()).select_from(User))).scalar_one()


async def all_users(connection: AsyncConnection) -> list[User]:
    """Every stored user, as User objects detached from any session."""
    rows = await connection.execute(select(User.__table__))
    return [User(**row._mapping) for row in rows]
