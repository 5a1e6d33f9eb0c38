from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from telegram_bot.db.models import User
from tests.support.factories import UserFactory

CreateUser = Callable[..., Awaitable[User]]


@pytest.fixture
async def orm_session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """An ORM session on the test's connection; its commits become savepoints, rolled back with the test."""
    async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as orm_session:
        yield orm_session


@pytest.fixture
def create_user(orm_session: AsyncSession) -> CreateUser:
    """Persist a UserFactory row: `await create_user(first_name="Ada")`."""

    async def create(**overrides: Any) -> User:
        user: User = UserFactory.build(**overrides)
        orm_session.add(user)
        await orm_session.flush()
        return user

    return create
