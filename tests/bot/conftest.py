from __future__ import annotations

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy.ext.asyncio import AsyncConnection

from telegram_bot.bot.dispatcher import build_dispatcher
from tests.support.connections import CountingConnections
from tests.support.environment import TOKEN
from tests.support.fakes import RecordingSession


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
