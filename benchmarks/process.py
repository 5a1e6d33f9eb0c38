"""The real `python -m telegram_bot` process in webhook mode: time to ready, throughput over HTTP with its
replies going over HTTP to a fake Bot API (tests/support/fakes.py), and its memory after that load; and the
memory of a bare `python -c "import aiogram"` beside it. The reference, run as a process the same way, under
the same load and with the same fake Bot API, for the comparison of whole processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import aiohttp
import psutil
from sqlalchemy.engine import URL

from benchmarks.database import free_port
from benchmarks.paths import Bench, Measurement
from benchmarks.workload import (
    SECRET,
    TOKEN,
    WEBHOOK_PATH,
    InvalidRunError,
    Timing,
    expect_replies,
    post_load,
    serving,
)
from tests.support.fakes import FakeBotAPI
from tests.support.flood import TelegramLimits

SETTINGS_PREFIXES = ("TELEGRAM_", "DATABASE_", "LOG_", "BOT_", "WEBHOOK_", "RAILWAY_", "HOST", "PORT")
READY_WITHIN_SECONDS = 30.0
STOP_WITHIN_SECONDS = 30.0
BARE_AIOGRAM = "import sys, aiogram; print('ready', flush=True); sys.stdin.readline()"


@dataclass(frozen=True)
class Memory:
    rss: int  # bytes, now
    peak: int  # bytes, the most it ever held (VmHWM), or rss where /proc does not say


def memory_of(pid: int) -> Memory:
    rss = psutil.Process(pid).memory_info().rss
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return Memory(rss=rss, peak=int(line.split()[1]) * 1024)
    return Memory(rss=rss, peak=rss)


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


@dataclass(frozen=True)
class ProcessResult:
    ready_seconds: float
    measurement: Measurement
    memory: Memory


def bot_environment(database_url: URL, api_url: str, port: int, *, paced: bool = False) -> dict[str, str]:
    """The bot's settings in webhook mode; pacing off unless `paced`: a row then measures the bot's cost."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(SETTINGS_PREFIXES)}
    if not paced:
        environment["TELEGRAM_MESSAGES_PER_SECOND"] = "0"
    return environment | {
        "TELEGRAM_TOKEN": TOKEN,
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
        "TELEGRAM_API_URL": api_url,
        "BOT_MODE": "webhook",
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_BASE_URL": "https://bench.example.test",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",
    }


@asynccontextmanager
async def fake_bot_api(limits: TelegramLimits | None = None) -> AsyncIterator[tuple[FakeBotAPI, str]]:
    """The fake Bot API on a socket; without Telegram's flood limits unless given, for the rows that measure
    the bot's own cost.
    """
    api = FakeBotAPI(token=TOKEN, limits=limits)
    async with serving(api.app()) as url:
        yield api, url


def sent_messages(api: FakeBotAPI) -> list[str]:
    return [str(params["text"]) for name, params in api.calls if name == "sendMessage"]


async def wait_for_replies(api: FakeBotAPI, count: int, what: str, within: float) -> float:
    deadline = time.monotonic() + within
    while (sent := len(sent_messages(api))) < count:
        if time.monotonic() > deadline:
            raise InvalidRunError(
                f"{what}: {sent} of {count} replies reached the fake Bot API in {within:g} s"
            )
        await asyncio.sleep(0.02)
    return time.monotonic()


async def wait_until_ready(base: str, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise InvalidRunError(f"the bot exited with status {process.returncode} before it was ready")
            try:
                async with http.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass  # not listening yet
            await asyncio.sleep(0.005)
    raise InvalidRunError(f"the bot was not ready within {READY_WITHIN_SECONDS:g} s")


@dataclass(frozen=True)
class Program:
    """A bot run as a process of its own: `python -m module`, configured by the environment."""

    module: str
    key: str
    label: str


REAL_PROCESS = Program("telegram_bot", "process", "6  real process: /start over HTTP, new users")
# The common pattern served as its templates serve it (benchmarks/reference.py's main).
REFERENCE_PROCESS = Program(
    "benchmarks.reference", "reference_process", "5p reference process: /start over HTTP"
)


async def _measure(
    bench: Bench,
    program: Program,
    api: FakeBotAPI,
    process: asyncio.subprocess.Process,
    base: str,
    spawned: float,
) -> ProcessResult:
    """Time the bot to ready from `spawned`, load it with N new users' /start, read its CPU and memory."""
    workload, table = bench.workload, bench.table
    what = program.label
    await wait_until_ready(base, process)
    ready_seconds = time.monotonic() - spawned
    warm_up = workload.warm_new
    load = await post_load(base + WEBHOOK_PATH, warm_up.bodies(), bench.concurrency, what=what)
    await wait_for_replies(api, len(warm_up.updates) - len(load.replies), what, bench.reply_timeout)
    await table.empty()
    api.calls.clear()
    bodies = workload.new.bodies()
    bot = psutil.Process(process.pid)
    cpu_before = _cpu_seconds(bot)
    load = await post_load(base + WEBHOOK_PATH, bodies, bench.concurrency, what=what)
    replied = await wait_for_replies(api, len(bodies) - len(load.replies), what, bench.reply_timeout)
    timing = Timing(max(load.finished, replied) - load.started, _cpu_seconds(bot) - cpu_before)
    memory = memory_of(process.pid)
    expect_replies(sent_messages(api) + load.replies, workload.new.welcomes(), what)
    await table.expect_rows(workload.size, what)
    measurement = Measurement(program.key, program.label, workload.size, timing)
    return ProcessResult(ready_seconds, measurement, memory)


async def _stop(process: asyncio.subprocess.Process) -> int:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(STOP_WITHIN_SECONDS):
            return await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise InvalidRunError(f"the bot did not stop within {STOP_WITHIN_SECONDS:g} s of SIGTERM") from None


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-3000:]


@dataclass(frozen=True)
class Spawned:
    process: asyncio.subprocess.Process
    base: str  # the bot's own URL, http://127.0.0.1:PORT
    started: float  # time.monotonic() when it was spawned


@asynccontextmanager
async def spawned(program: Program, environment: dict[str, str], port: int) -> AsyncIterator[Spawned]:
    """`program` as a process of its own; stopped with SIGTERM afterwards, and it must exit 0."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-bot-") as directory,
        (Path(directory) / "log").open("w+b") as log,
    ):
        started = time.monotonic()
        # The working directory has no .env: the bot reads only the environment given here.
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", program.module, env=environment, cwd=directory, stdout=log, stderr=log
        )
        try:
            yield Spawned(process, f"http://127.0.0.1:{port}", started)
        except InvalidRunError as error:
            raise InvalidRunError(f"{error}\nthe bot's output ends with:\n{_tail(log)}") from None
        finally:
            exit_status = await _stop(process)
        if exit_status != 0:
            raise InvalidRunError(
                f"the bot exited with status {exit_status}; its output ends with:\n{_tail(log)}"
            )


async def run_program(bench: Bench, program: Program) -> ProcessResult:
    """Start the bot against a fake Bot API, measure it, stop it with SIGTERM; it must exit 0."""
    port = free_port()
    async with (
        fake_bot_api() as (api, api_url),
        spawned(program, bot_environment(bench.url, api_url, port), port) as bot,
    ):
        return await _measure(bench, program, api, bot.process, bot.base, bot.started)


@dataclass(frozen=True)
class BareAiogram:
    """A Python process that imported aiogram and nothing else: any aiogram bot's floor."""

    memory: Memory
    seconds: float  # from spawning it to its import done, as the bot's ready time is timed from its spawn


async def _import_aiogram() -> BareAiogram:
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        BARE_AIOGRAM,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None  # noqa: S101 - asked for just above
    assert process.stdout is not None  # noqa: S101 - likewise
    await process.stdout.readline()
    seconds = time.monotonic() - started
    memory = memory_of(process.pid)
    process.stdin.close()
    await process.wait()
    return BareAiogram(memory, seconds)


async def bare_aiogram(times: int = 3) -> BareAiogram:
    """The median of `times` bare imports: one import's time varies by a second with the machine's load."""
    imports = sorted([await _import_aiogram() for _ in range(times)], key=lambda bare: bare.seconds)
    return imports[len(imports) // 2]
