"""The database server every test layer shares.

By default the suite starts a throwaway PostgreSQL of its own (pytest-postgresql's executor). With
TEST_DATABASE_URL set (for example `postgresql://postgres@127.0.0.1:5432/postgres`, as in the GitHub Actions
job with its service container) it uses that server instead; the URL's database is only used to create and
drop the test databases, which get names of their own.

On that server the migrations run once, into a template database. Tests then get, cheapest first:
- `connection`: a connection to a shared copy of the template inside a transaction that is rolled back;
- `isolated_database_url`: a fresh copy of the template (CREATE DATABASE ... TEMPLATE), for tests that commit
  or open several connections;
- `alembic_engine`: an empty database, for the migration suite.

TEST_MIGRATIONS_FROM=<checkout> builds the template from that checkout's alembic.ini and migrations instead of
this one's: the compatibility gate (`.ci/verify compat`) runs a previous release's tests against the schema
of the next one's migrations. It then leaves out the tests marked `schema_state`, which pin the state of this
release's own schema (at its head, altered by the test itself): the gate judges what the release does, and a
newer schema is meant to differ.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import port_for
import pytest
from alembic import command
from alembic.config import Config
from pytest_postgresql.executors import PostgreSQLExecutor
from pytest_postgresql.janitor import DatabaseJanitor
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from telegram_bot.db.engine import create_engine

TEST_DATABASE_URL_VARIABLE = "TEST_DATABASE_URL"
MIGRATIONS_FROM_VARIABLE = "TEST_MIGRATIONS_FROM"
ROOT_REFUSAL = (
    "PostgreSQL refuses to run as root, so the tests cannot start their own server. Run them as an "
    f"unprivileged user, or point them at a running server: {TEST_DATABASE_URL_VARIABLE}="
    "postgresql://postgres@127.0.0.1:5432/postgres"
)

START_TIMEOUT_SECONDS = 30
# Throwaway data: durability buys nothing and costs seconds.
SERVER_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


def postgres_bindir() -> Path:
    """Where PostgreSQL's server programs are, as pg_config says."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        pytest.exit(
            "pg_config not found: install PostgreSQL's server binaries, or point the tests at a running "
            f"server with {TEST_DATABASE_URL_VARIABLE}",
            returncode=2,
        )
    found = subprocess.run([pg_config, "--bindir"], check=True, capture_output=True, text=True)  # noqa: S603
    return Path(found.stdout.strip())


class CachedClusterExecutor(PostgreSQLExecutor):
    """pytest-postgresql's executor, starting from a copy of a cluster initdb made once, not a new initdb.

    initdb takes 1-2 s here, copying its result about 0.1 s: initdb would be most of a one-file test run. The
    cluster is kept in `cache` (pytest's cache directory), one per PostgreSQL version.
    """

    def __init__(self, cache: Path, **options: Any) -> None:
        super().__init__(**options)
        self._cache = cache

    def start(self) -> Self:
        """Started, and accepting connections: its port opens while it may still refuse them, starting up."""
        super().start()
        ready = [self._program("pg_isready"), "-q", "-h", self.host, "-p", str(self.port)]
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while subprocess.run(ready, check=False).returncode != 0:  # noqa: S603 - PostgreSQL's own program
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL did not accept connections within {START_TIMEOUT_SECONDS} s")
            time.sleep(0.02)
        return self

    def _program(self, name: str) -> str:
        """One of PostgreSQL's programs, beside the pg_ctl this executor runs."""
        return str(Path(self.executable).parent / name)

    def init_directory(self) -> None:
        if Path(self.datadir).is_dir():
            return  # started again after a stop: the server's own data
        shutil.copytree(self._cluster(), self.datadir, symlinks=True)

    def _cluster(self) -> Path:
        cluster = self._cache / f"cluster-{self.version}"
        # One initdb however many workers (or runs) start at once: the others wait for it, then copy it.
        with (self._cache / f"cluster-{self.version}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not cluster.is_dir():
                self._initdb(cluster)
        return cluster

    def _initdb(self, cluster: Path) -> None:
        staging = Path(tempfile.mkdtemp(dir=self._cache))
        # --no-sync: each run throws its copy away, so the cluster need not reach the disk now.
        initdb = [self._program("initdb"), "-D", str(staging / "data"), "-U", self.user]
        options = ["-A", "trust", "--no-sync"]
        environment = os.environ | self.envvars  # the locale the executor gives its own initdb
        try:
            subprocess.run([*initdb, *options], check=True, capture_output=True, env=environment)  # noqa: S603
            (staging / "data").rename(cluster)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def own_server(request: pytest.FixtureRequest, directory: Path, dbname: str) -> Iterator[PostgreSQLExecutor]:
    """A PostgreSQL started from the cached cluster, its log in `directory`; stopped, removed afterwards."""
    cache = getattr(request.config, "cache", None)
    data = Path(tempfile.mkdtemp(prefix="telegram-bot-tests-", dir=memory_directory()))
    executor = CachedClusterExecutor(
        cache=cache.mkdir("postgresql") if cache is not None else directory,
        executable=str(postgres_bindir() / "pg_ctl"),
        host="127.0.0.1",
        port=port_for.get_port(None),
        datadir=str(data / "data"),
        unixsocketdir=str(data),
        logfile=str(directory / "server.log"),
        startparams="-w",
        dbname=dbname,
        postgres_options=SERVER_OPTIONS,
    )
    try:
        executor.start()
        try:
            yield executor
        finally:
            executor.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)


def memory_directory() -> Path | None:
    """Where files live in memory (Linux's /dev/shm), if here: None, the temporary directory, elsewhere.

    Each test database is a copy of the template: hundreds of files made, then deleted. On this machine's
    disk that costs seconds of kernel time over a run; in memory, next to nothing.
    """
    shm = Path("/dev/shm")  # noqa: S108 - only ever the parent of a private mkdtemp directory
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


@pytest.fixture(scope="session")
def postgresql_own_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PostgreSQLExecutor]:
    """A PostgreSQL of the run's own (see own_server), stopped and removed afterwards."""
    with own_server(request, tmp_path_factory.mktemp("postgresql"), "telegram_bot_tests") as executor:
        yield executor


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    password: str | None
    maintenance_dbname: str

    def url(self, dbname: str) -> URL:
        return URL.create(
            "postgresql+asyncpg",
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=dbname,
        )

    def janitor(self, dbname: str, template: str | None = None) -> DatabaseJanitor:
        return DatabaseJanitor(
            user=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            dbname=dbname,
            template_dbname=template,
            maintenance_dbname=self.maintenance_dbname,
        )


def _server_from_url(value: str) -> Server:
    from telegram_bot.config import parse_database_url  # noqa: PLC0415 - pydantic-settings, only for this

    url = parse_database_url(value)
    return Server(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password if isinstance(url.password, str) else None,
        maintenance_dbname=url.database or "postgres",
    )


@pytest.fixture(scope="session")
def postgresql_server(request: pytest.FixtureRequest) -> Server:
    """The server the tests use: the one TEST_DATABASE_URL names, or a throwaway one of their own."""
    if existing := os.environ.get(TEST_DATABASE_URL_VARIABLE):
        return _server_from_url(existing)
    if os.geteuid() == 0:
        pytest.exit(ROOT_REFUSAL, returncode=2)
    executor: PostgreSQLExecutor = request.getfixturevalue("postgresql_own_server")
    return Server(
        host=executor.host,
        port=int(executor.port),
        user=executor.user,
        password=executor.password or None,
        maintenance_dbname="postgres",
    )


def unique_name(prefix: str) -> str:
    # Unique per run, so that runs against one shared server never collide.
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def migrate_to_head(url: URL) -> None:
    """Run the real migrations, as `alembic upgrade head` would, into the database at `url`."""
    if checkout := os.environ.get(MIGRATIONS_FROM_VARIABLE):
        _migrate_from(checkout, url)
        return
    config = Config("alembic.ini")
    config.attributes["connection"] = create_async_engine(url, poolclass=NullPool)
    command.upgrade(config, "head")


def _migrate_from(checkout: str, url: URL) -> None:
    """`alembic upgrade head` in another checkout: its own alembic.ini, migrations and code, in a process."""
    environment = os.environ | {"DATABASE_URL": url.render_as_string(hide_password=False)}
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=checkout,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.exit(
            f"{MIGRATIONS_FROM_VARIABLE}={checkout}: `alembic upgrade head` failed:\n{done.stderr}", 1
        )


@pytest.fixture(scope="session")
def template_database(postgresql_server: Server) -> Iterator[str]:
    """A database migrated to head once per run; every test database is a copy of it."""
    name = unique_name("tb_template")
    with postgresql_server.janitor(name):
        migrate_to_head(postgresql_server.url(name))
        yield name


def _copy_of_template(server: Server, template: str, prefix: str) -> DatabaseJanitor:
    return server.janitor(unique_name(prefix), template=template)


@pytest.fixture(scope="session")
def shared_database_url(postgresql_server: Server, template_database: str) -> Iterator[URL]:
    with _copy_of_template(postgresql_server, template_database, "tb_shared") as janitor:
        yield postgresql_server.url(janitor.dbname)


@pytest.fixture(scope="session")
async def shared_engine(shared_database_url: URL) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(shared_database_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(shared_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test: nothing it writes survives."""
    async with shared_engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()


@pytest.fixture
def isolated_database_url(postgresql_server: Server, template_database: str) -> Iterator[URL]:
    """A migrated database of the test's own, dropped afterwards: for tests that commit."""
    with _copy_of_template(postgresql_server, template_database, "tb_isolated") as janitor:
        yield postgresql_server.url(janitor.dbname)


# pytest-alembic


@pytest.fixture
def alembic_config() -> dict[str, Any]:
    return {"file": "alembic.ini"}


@pytest.fixture
def alembic_engine(postgresql_server: Server) -> Iterator[AsyncEngine]:
    """An empty database for the migration suite, which builds and tears down the schema itself."""
    with postgresql_server.janitor(unique_name("tb_migrations")) as janitor:
        engine = create_async_engine(postgresql_server.url(janitor.dbname), poolclass=NullPool)
        yield engine


SCHEMA_STATE_MARKER = "schema_state"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under TEST_MIGRATIONS_FROM (the compatibility gate), deselect the tests that pin their own schema."""
    if not os.environ.get(MIGRATIONS_FROM_VARIABLE):
        return
    pinned = [item for item in items if item.get_closest_marker(SCHEMA_STATE_MARKER) is not None]
    if pinned:
        config.hook.pytest_deselected(items=pinned)
        items[:] = [item for item in items if item.get_closest_marker(SCHEMA_STATE_MARKER) is None]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (CI set), a skipped test fails the run: every test must run there."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not os.environ.get("CI"):
        return
    skipped = len(reporter.stats.get("skipped", []))
    if skipped and exitstatus == pytest.ExitCode.OK:
        reporter.write_line(f"CI: {skipped} test(s) skipped; every test must run in CI.", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """How many workers `--numprocesses auto` (the addopts) starts: two a core, for whole runs only.

    A run of the whole suite (no paths given: pytest takes `testpaths`) is spread over the workers. It waits
    (for bot processes, PostgreSQL, the paced Bot API double) about as much as it computes, so two workers a
    core beat one: on 2 cores, 4 workers took 58-62 s where 3 took 57-62 s and 2 took 83 s (2026-12-01, the
    machine's speed varying by a quarter from run to run). A narrower run (a file, a folder, a test) stays in
    one process: each worker pays for its own collection (about 6 s of CPU here, aiogram's import most of it)
    and its own template database, which costs a one-file run more than it could save.
    """
    if config.args_source is not pytest.Config.ArgsSource.TESTPATHS:
        return 0
    return 2 * (os.cpu_count() or 1)
