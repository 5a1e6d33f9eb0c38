"""The PostgreSQL the benchmark writes to: a throwaway server of its own, or a fresh database on one given.

Either way the benchmark works in a database of its own, migrated by the project's real migrations, with
`synchronous_commit=off` (throwaway data: a WAL flush per commit would measure the disk, not the bot), and
dropped at the end.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from telegram_bot.config import parse_database_url

REPOSITORY = Path(__file__).resolve().parent.parent
DATABASE_URL_VARIABLE = "BENCH_DATABASE_URL"
ROOT_REFUSAL = (
    "PostgreSQL refuses to run as root, so the benchmark cannot start its own server: pass "
    "--database-url postgresql://postgres@127.0.0.1:5432/postgres (or set BENCH_DATABASE_URL) to use a "
    "running one."
)
SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _postgres_bindir() -> Path:
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = subprocess.run([pg_config, "--bindir"], check=True, capture_output=True, text=True)
        return Path(found.stdout.strip())
    return Path("/usr/lib/postgresql/15/bin")


@contextmanager
def own_server() -> Iterator[str]:
    """A PostgreSQL of the benchmark's own, in a temporary directory; yields its maintenance URL."""
    bindir = _postgres_bindir()
    with tempfile.TemporaryDirectory(prefix="bench-postgres-") as directory:
        data = Path(directory) / "data"
        subprocess.run(
            [bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
        )
        port = free_port()
        options = f"{SERVER_OPTIONS} -c port={port} -c unix_socket_directories={directory}"
        pg_ctl = bindir / "pg_ctl"
        subprocess.run(
            [pg_ctl, "-D", data, "-o", options, "-l", Path(directory) / "server.log", "-w", "start"],
            check=True,
            capture_output=True,
        )
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([pg_ctl, "-D", data, "-m", "immediate", "stop"], check=False, capture_output=True)


def asyncpg_dsn(url: URL) -> str:
    """The URL as asyncpg takes it: plain postgresql://, password included."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _run_on(url: URL, *statements: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def migrate_to_head(url: URL) -> None:
    """The project's real migrations, as `alembic upgrade head` runs them (the way conftest.py does)."""
    config = Config(str(REPOSITORY / "alembic.ini"))
    config.attributes["connection"] = create_async_engine(url, poolclass=NullPool)
    command.upgrade(config, "head")


@contextmanager
def fresh_database(server_url: str) -> Iterator[URL]:
    """A new database with a unique name on the server `server_url` names, migrated to head, then dropped.

    Call it outside any running event loop: the migrations run their own.
    """
    maintenance = parse_database_url(server_url)
    name = f"bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(
        _run_on(
            maintenance,
            f'CREATE DATABASE "{name}"',
            f'ALTER DATABASE "{name}" SET synchronous_commit = off',
        )
    )
    try:
        url = maintenance.set(database=name)
        migrate_to_head(url)
        yield url
    finally:
        asyncio.run(_run_on(maintenance, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
