"""The event loop the bot runs on: uvloop where it is installed, asyncio's own where it is not."""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
import uvloop

from telegram_bot import loop

T = TypeVar("T")


def in_a_thread(function: Callable[[], T]) -> T:
    """`function`'s result, computed in a thread of its own: its event loop leaves the suite's alone."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(function).result()


async def running_loop() -> str:
    return loop.loop_name()


def test_the_bot_runs_on_uvloop_where_it_is_installed() -> None:
    assert loop.loop_factory() is uvloop.new_event_loop
    assert in_a_thread(lambda: loop.run(running_loop())) == "uvloop"


def test_without_uvloop_the_bot_runs_on_asyncios_own_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import uvloop` raise ImportError, as on Windows, where it is not installed.
    monkeypatch.setitem(sys.modules, "uvloop", None)

    assert loop.loop_factory() is None
    assert in_a_thread(lambda: loop.run(running_loop())) == "asyncio"
