"""`python -m benchmarks.locked_table`: a long ACCESS EXCLUSIVE lock on users under a stream of /start.

The real `python -m telegram_bot` in webhook mode, its replies going to a fake Bot API. /start from distinct
users arrives at a steady rate, delivered as Telegram does (at most 40 requests open, an update delivered
again until it is answered 2xx within 60 s, tests/support/telegram.py); `--lock-after` seconds in, another
session holds `LOCK TABLE users IN ACCESS EXCLUSIVE MODE` for `--lock-seconds`. Defaults: 600 updates at 20 a
second, a 40 s lock taken 5 s in (the stream ends while it is held).

Prints what happened to the users: stored once, answered once with a welcome, told something went wrong, and
the webhook's answers. Exit status 1 when anybody was lost, stored or answered other than once, or told
something went wrong. `tests/faults/test_locked_table.py` runs the same scenario short.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from aiohttp.test_utils import TestServer
from sqlalchemy.engine import URL

from benchmarks.database import DATABASE_URL_VARIABLE, ROOT_REFUSAL, fresh_database, own_server
from tests.support.environment import TOKEN
from tests.support.fakes import FakeBotAPI
from tests.support.telegram import LockedTableRun, locked_table_run


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.locked_table",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--updates", type=int, default=600, help="updates, one user each (default 600)")
    parser.add_argument("--rate", type=float, default=20.0, help="updates a second (default 20)")
    parser.add_argument(
        "--lock-seconds", type=float, default=40.0, help="how long the lock is held (default 40)"
    )
    parser.add_argument("--lock-after", type=float, default=5.0, help="when it is taken, in s (default 5)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(DATABASE_URL_VARIABLE),
        help=f"a running PostgreSQL to create a throwaway database on (default: ${DATABASE_URL_VARIABLE}, "
        "else a server of the benchmark's own, which needs a user other than root)",
    )
    arguments = parser.parse_args(argv)
    if arguments.updates < 1 or arguments.rate <= 0 or arguments.lock_seconds < 0 or arguments.lock_after < 0:
        parser.error("--updates and --rate must be positive, --lock-seconds and --lock-after not negative")
    return arguments


async def _run(url: URL, arguments: argparse.Namespace, cwd: Path) -> LockedTableRun:
    api = FakeBotAPI(token=TOKEN)
    server = TestServer(api.app(), host="127.0.0.1")
    await server.start_server()
    try:
        return await locked_table_run(
            url,
            (api, str(server.make_url("/"))),
            cwd,
            updates=arguments.updates,
            rate=arguments.rate,
            lock_after=arguments.lock_after,
            lock_seconds=arguments.lock_seconds,
        )
    finally:
        await server.close()


def _once_never_more(counts: Counter[int]) -> str:
    return f"{counts[1]} / {counts[0]} / {sum(users for times, users in counts.items() if times > 1)}"


def report(run: LockedTableRun) -> str:
    answers = ", ".join(f"{status or 'none'}: {count}" for status, count in sorted(run.statuses.items()))
    return "\n".join(
        [
            f"users                         {run.updates}",
            f"lock held                     {run.lock_seconds:g} s",
            f"stream and redeliveries took  {run.seconds:.1f} s",
            f"stored once / never / more    {_once_never_more(run.stored)}",
            f"answered once / never / more  {_once_never_more(run.replied)}",
            f"replies by kind               {dict(sorted(run.replies.items()))}",
            f"webhook answers (deliveries)  {answers}",
            f"longest answer                {run.longest_answer:.1f} s",
            f"bot exit status               {run.exit_status}",
            f"lost nobody                   {'yes' if run.lost_nobody else 'NO'}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    arguments = _parse_arguments(argv)
    if arguments.database_url is None and os.geteuid() == 0:
        print(ROOT_REFUSAL, file=sys.stderr)
        return 2
    with ExitStack() as stack:
        server = arguments.database_url or stack.enter_context(own_server())
        url = stack.enter_context(fresh_database(server))
        cwd = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-locked-")))
        run = asyncio.run(_run(url, arguments, cwd))
    print(report(run))
    return 0 if run.lost_nobody else 1


if __name__ == "__main__":
    sys.exit(main())
