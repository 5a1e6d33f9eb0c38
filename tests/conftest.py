"""Fixtures shared by the tests that run servers: the fake Bot API, and empty databases.

The fake Bot API is imported where it is used: it brings aiogram, whose import alone takes seconds, and the
database tests, which share this file, need none of it.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import URL

from conftest import Server, unique_name

if TYPE_CHECKING:
    from tests.support.fakes import FakeBotAPI


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the run's bot launcher now if the tests collected run bot processes: it imports aiogram (seconds)
    while the first tests run, not while the first bot test waits for it."""
    if "tests.support.process" in sys.modules and not session.config.option.collectonly:
        from tests.support.launcher import prepare

        prepare()


@pytest.fixture
async def bot_api() -> AsyncIterator[tuple[FakeBotAPI, str]]:
    """A fake Bot API server on 127.0.0.1 and its base URL, for TELEGRAM_API_URL."""
    from aiohttp.test_utils import TestServer

    from tests.support.environment import TOKEN
    from tests.support.fakes import FakeBotAPI

    api = FakeBotAPI(token=TOKEN)
    server = TestServer(api.app(), host="127.0.0.1")
    await server.start_server()
    yield api, str(server.make_url("/"))
    await server.close()


@pytest.fixture
def empty_database_url(postgresql_server: Server) -> Iterator[URL]:
    """A database with no schema at all, dropped afterwards."""
    with postgresql_server.janitor(unique_name("tb_empty")) as janitor:
        yield postgresql_server.url(janitor.dbname)
