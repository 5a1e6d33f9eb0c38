"""The event loop the bot runs on: uvloop where it is installed, asyncio's own elsewhere (Windows)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory() -> LoopFactory | None:
    """Uvloop's loop factory, or None (asyncio's default loop) where uvloop cannot be imported.

    uvloop runs aiohttp's server and client, and asyncpg, on libuv: about a third less CPU per update here.
    It is a main dependency except on Windows, which it does not support.
    """
    try:
        import uvloop  # noqa: PLC0415 - optional: absent on Windows
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(main), on the loop loop_factory() gives."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def loop_name() -> str:
    """The running loop's implementation, for the log: "uvloop" or "asyncio"."""
    return type(asyncio.get_running_loop()).__module__.partition(".")[0]
