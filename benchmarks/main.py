"""`python -m benchmarks`: every path in one run, then a table and one JSON line.

Paths, in order (each from an empty users table, with the same N users, warmed up first):
  1   ceiling: the project's dispatcher on /help (same filters, middlewares and error handler), one reply
      through a no-op Bot API session, no database;
  2   real path: /start through the project's dispatcher, middlewares and register_user on
      autocommit(engine).connect, against PostgreSQL: (a) N new users, then (b) the same N again;
  3   webhook: the same /start for N new users POSTed over HTTP to build_web_app, from another process;
  4   database limit: the real path's own upsert statement through a raw asyncpg pool, one per update;
  5   reference: the common template pattern (benchmarks/reference.py) behind aiogram's default webhook
      handler, timed until every row is written and every reply sent, on asyncio's own event loop, as the
      pattern runs (5u: the same on uvloop, for comparison; no target);
  6   real process: `python -m telegram_bot` in webhook mode, replies over HTTP to a fake Bot API; also its
      time to ready and its peak RSS after the load, next to a bare `python -c "import aiogram"`'s.
  7   at Telegram's limits: the real process with its pacing on, against a fake Bot API that limits as
      Telegram does; a burst of --flood-users new users' /start plus 20 users sending it 4 times, over 40
      connections, redelivered until answered 2xx (--only-flood runs this row alone).
Paths 1-4 and 6-7 run the project on its own event loop (uvloop where installed). Rows 1-6 measure the bot's
own cost: pacing off (TELEGRAM_MESSAGES_PER_SECOND=0), and a fake Bot API without limits.
A missed target is reported, not failed (exit 0); a lost update makes the run invalid (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import pstats
import sys
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import aiogram
import asyncpg
from sqlalchemy.engine import URL

from benchmarks import flood, paths
from benchmarks.database import (
    DATABASE_URL_VARIABLE,
    ROOT_REFUSAL,
    asyncpg_dsn,
    fresh_database,
    own_server,
)
from benchmarks.paths import Bench, Measurement
from benchmarks.process import REAL_PROCESS, REFERENCE_PROCESS, bare_aiogram, run_program
from benchmarks.report import Results, flood_report, json_line, table
from benchmarks.workload import TOKEN, InvalidRunError, Table, build_workload
from telegram_bot.log import configure_logging
from telegram_bot.loop import LoopFactory, loop_factory

DEFAULT_UPDATES = 3000
DEFAULT_CONCURRENCY = 32
DEFAULT_FLOOD_USERS = flood.DEFAULT_USERS
T = TypeVar("T")


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--updates",
        type=int,
        default=DEFAULT_UPDATES,
        help=f"updates (and users) a path (default {DEFAULT_UPDATES})",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"updates in flight, in every path (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(DATABASE_URL_VARIABLE),
        help="a running PostgreSQL to create a throwaway database on, e.g. "
        f"postgresql://postgres@127.0.0.1:5432/postgres (default: ${DATABASE_URL_VARIABLE}, else a server "
        "of the benchmark's own, which needs a user other than root)",
    )
    parser.add_argument(
        "--flood-users",
        type=int,
        help=f"new users in row 7's burst (default: --updates, at most {DEFAULT_FLOOD_USERS})",
    )
    parser.add_argument(
        "--only-flood", action="store_true", help="run row 7 alone (Telegram's limits), not rows 1-6"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="afterwards, run the real path once more under cProfile and write its stats to FILE",
    )
    arguments = parser.parse_args(argv)
    if arguments.updates < 1 or arguments.concurrency < 1:
        parser.error("--updates and --concurrency must be at least 1")
    if arguments.flood_users is None:
        arguments.flood_users = min(arguments.updates, DEFAULT_FLOOD_USERS)
    if arguments.flood_users < 1:
        parser.error("--flood-users must be at least 1")
    return arguments


def _progress(measurement: Measurement) -> None:
    print(f"  {measurement.label:<44} {measurement.rate:>8.0f} updates/s", file=sys.stderr, flush=True)


async def _environment(url: URL) -> dict[str, Any]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return {
            "postgresql": await connection.fetchval("SHOW server_version"),
            "synchronous_commit": await connection.fetchval("SHOW synchronous_commit"),
            "cpus": os.cpu_count(),
            "load_average": f"{os.getloadavg()[0]:.2f} at start",
            "python": platform.python_version(),
            "aiogram": aiogram.__version__,
        }
    finally:
        await connection.close()


def _in_loop(factory: LoopFactory | None, work: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(work)


async def _on_table(url: URL, work: Callable[[Table], Awaitable[T]]) -> T:
    """`work` with the benchmark's own connection to the users table, made in the running loop."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await work(Table(connection))
    finally:
        await connection.close()


def _run(url: URL, arguments: argparse.Namespace) -> Results:
    """Every path, each on its event loop: the project's (uvloop where installed) for the paths that run the
    project's code, asyncio's default loop for the reference, as the common pattern runs.
    """
    size = arguments.updates
    workload = build_workload(size, warm_up=max(20, min(300, size // 10)))
    project_loop = loop_factory()
    results = Results(
        updates=size, concurrency=arguments.concurrency, environment=_in_loop(None, _environment(url))
    )
    results.environment["event_loop"] = {
        "project": "uvloop" if project_loop is not None else "asyncio",
        "reference": "asyncio",
    }

    def bench(table: Table) -> Bench:
        return Bench(url, workload, arguments.concurrency, table)

    def add(*measurements: Measurement) -> None:
        for measurement in measurements:
            results.measurements.append(measurement)
            _progress(measurement)

    async def project_paths(table: Table) -> None:
        add(await paths.ceiling(bench(table)))
        new, returning, results.statements = await paths.real_path(bench(table))
        add(new, returning)
        add(await paths.webhook(bench(table)))
        add(*await paths.database_limit(bench(table), results.statements))

    async def reference(table: Table) -> Measurement:
        return await paths.reference(bench(table))

    async def reference_process(table: Table) -> Measurement:
        return (await run_program(bench(table), REFERENCE_PROCESS)).measurement

    async def real_process(table: Table) -> None:
        process = await run_program(bench(table), REAL_PROCESS)
        add(process.measurement)
        results.ready_seconds = process.ready_seconds
        results.bot_memory = process.memory
        bare = await bare_aiogram()
        results.bare_aiogram, results.bare_import_seconds = bare.memory, bare.seconds
        if arguments.profile is not None:
            await paths.profile_real_path(bench(table), arguments.profile)

    async def at_telegrams_limits(table: Table) -> None:
        results.flood = await flood.at_telegrams_limits(bench(table), arguments.flood_users)
        print(f"  {flood.LABEL:<44} {results.flood.ratio:>8.3f}x the minimum", file=sys.stderr, flush=True)

    if arguments.only_flood:
        _in_loop(project_loop, _on_table(url, at_telegrams_limits))
        results.environment["load_average"] += f", {os.getloadavg()[0]:.2f} at end"
        return results
    _in_loop(project_loop, _on_table(url, project_paths))
    add(_in_loop(None, _on_table(url, reference)))
    if project_loop is not None:
        # Not a target: how much of the project's lead the loop alone would give the reference.
        on_uvloop = _in_loop(project_loop, _on_table(url, reference))
        add(replace(on_uvloop, key="reference_uvloop", label="5u reference on uvloop (no target)"))
    add(_in_loop(project_loop, _on_table(url, reference_process)))
    _in_loop(project_loop, _on_table(url, real_process))
    _in_loop(project_loop, _on_table(url, at_telegrams_limits))
    results.environment["load_average"] += f", {os.getloadavg()[0]:.2f} at end"
    return results


def _print_profile(path: Path) -> None:
    print(f"\nprofile of the real path written to {path}; the top of it:", file=sys.stderr)
    stats = pstats.Stats(str(path), stream=sys.stderr)
    stats.sort_stats(pstats.SortKey.TIME).print_stats(25)


def main(argv: list[str] | None = None) -> int:
    arguments = _parse_arguments(argv)
    if arguments.database_url is None and os.geteuid() == 0:
        print(ROOT_REFUSAL, file=sys.stderr)
        return 2
    # The bot's own logging pipeline at WARNING, the level the bot process of row 6 gets: failures show,
    # routine lines cost nothing. At INFO, every update would also log aiogram's "Update id=... is handled".
    configure_logging("WARNING", "json", secrets=(TOKEN,))
    print(
        f"benchmarks: {arguments.updates} updates a path, {arguments.concurrency} in flight",
        file=sys.stderr,
        flush=True,
    )
    try:
        with ExitStack() as stack:
            server = arguments.database_url or stack.enter_context(own_server())
            url = stack.enter_context(fresh_database(server))
            results = _run(url, arguments)
    except InvalidRunError as error:
        print(f"\nBENCHMARK INVALID: {error}", file=sys.stderr)
        return 1
    if arguments.profile is not None:
        _print_profile(arguments.profile)
    print(flood_report(results) if arguments.only_flood else table(results))
    print(json_line(results))
    return 0
