from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy.ext.asyncio import AsyncConnection

from telegram_bot.bot.dispatcher import build_dispatcher
from tests.support.environment import TOKEN
from tests.support.fakes import RecordingSession


class CountingConnections:
    """Hands out the test's connection (rolled back afterwards) and counts how often it was asked for one."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.opened = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncConnection]:
        self.opened += 1
        yield self.connection


@pytest.fixture
def session() -> RecordingSession:
    return RecordingSession()


@pytest.fixture
def bot(session: RecordingSession) -> Bot:
    return Bot(TOKEN, session=session)


@pytest.fixture
def connections(connection: AsyncConnection) -> CountingConnections:
    return CountingConnections(connection)


@pytest.fixture
def dispatcher(connections: CountingConnections) -> Dispatcher:
    return build_dispatcher(connections, redeliverable=True)
