"""Connection factories for build_dispatcher and the webhook app: one that counts, one that cannot connect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection


class CountingConnections:
    """Hands out the test's connection (rolled back afterwards) and counts how often it was asked for one."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.opened = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncConnection]:
        self.opened += 1
        yield self.connection


def unreachable() -> AbstractAsyncContextManager[AsyncConnection]:
    """A connection factory whose database is down."""
    raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
