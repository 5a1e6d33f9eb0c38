"""A database that can be taken away and brought back in the middle of a test.

Where the tests may run a PostgreSQL of their own (not root, pg_ctl found through pg_config: as in .ci/run),
the outage is real: a dedicated server is stopped (`pg_ctl stop -m fast`) and started again. Elsewhere (as
root, or where pg_ctl is not found) a TCP proxy stands between the bot and the server and cuts every
connection, refusing new ones: what a client sees of a stopped server, short of its "shutting down" and
"starting up" messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Protocol

import pytest
from pytest_postgresql.executors import PostgreSQLExecutor
from sqlalchemy import URL

from conftest import Server, migrate_to_head, own_server, unique_name


@pytest.fixture(scope="session")
def postgresql_outage_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PostgreSQLExecutor]:
    """A server of its own to stop and start, apart from the one the other tests share."""
    with own_server(request, tmp_path_factory.mktemp("outage"), "telegram_bot_outage") as executor:
        yield executor


class Outage(Protocol):
    @property
    def url(self) -> URL:
        """Where the database is reached."""

    async def begin(self) -> None:
        """The database goes away: open connections break, new ones are refused."""

    async def end(self) -> None:
        """The database is back."""


class RestartedServer:
    def __init__(self, executor: PostgreSQLExecutor, url: URL) -> None:
        self._executor = executor
        self._url = url

    @property
    def url(self) -> URL:
        return self._url

    async def begin(self) -> None:
        await asyncio.to_thread(self._executor.stop)

    async def end(self) -> None:
        await asyncio.to_thread(self._executor.start)

    def ensure_running(self) -> None:
        if not self._executor.running():
            self._executor.start()


class CuttingProxy:
    def __init__(self, upstream: URL) -> None:
        self._upstream_host = upstream.host or "127.0.0.1"
        self._upstream_port = upstream.port or 5432
        self._upstream = upstream
        self._server: asyncio.Server | None = None
        self._port = 0
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> URL:
        return self._upstream.set(host="127.0.0.1", port=self._port)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def begin(self) -> None:
        await self.close()

    async def end(self) -> None:
        await self.start()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self._upstream_host, self._upstream_port
            )
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, upstream_writer}
        await asyncio.gather(
            self._pump(client_reader, upstream_writer), self._pump(upstream_reader, client_writer)
        )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
        self._writers.discard(writer)


def can_run_own_server() -> bool:
    """Whether pytest-postgresql can start a server here: not root, and pg_ctl where pg_config says."""
    pg_config = shutil.which("pg_config")
    if os.geteuid() == 0 or pg_config is None:
        return False
    found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=30)
    return (Path(found.stdout.strip()) / "pg_ctl").is_file()


@pytest.fixture
async def outage(request: pytest.FixtureRequest, isolated_database_url: URL) -> AsyncIterator[Outage]:
    """A migrated database behind something that can take it away: a real server, or a proxy."""
    if can_run_own_server():
        executor: PostgreSQLExecutor = request.getfixturevalue("postgresql_outage_server")
        server = Server(
            host=executor.host,
            port=int(executor.port),
            user=executor.user,
            password=None,
            maintenance_dbname="postgres",
        )
        with server.janitor(unique_name("tb_outage")) as janitor:
            url = server.url(janitor.dbname)
            await asyncio.to_thread(migrate_to_head, url)
            restarted = RestartedServer(executor, url)
            try:
                yield restarted
            finally:
                # The janitor drops the database on a running server.
                restarted.ensure_running()
    else:
        proxy = CuttingProxy(isolated_database_url)
        await proxy.start()
        try:
            yield proxy
        finally:
            await proxy.close()
