"""Row 7: `python -m telegram_bot` at Telegram's flood limits, with its pacing on, as it serves by default.

A burst of N new users' /start, plus REPEATERS users sending /start REPEATS times each, arrives over
CONNECTIONS connections from a Telegram-like sender (benchmarks/load.py with redelivery: whatever is not
answered 2xx is delivered again). The bot's replies go over HTTP to the fake Bot API of
tests/support/fakes.py, which limits them as Telegram does (tests/support/flood.py: 30 a second bot-wide with
a burst of 30, 1 a second per chat with a burst of 3, 429 with retry_after, a wait that grows while a client
sends into it).

What it prints: the makespan (from the first delivery to the last acknowledgement, which comes after the last
reply) over the limits' own minimum, (replies - burst) / rate; the share of sends refused with 429; the
replies missing or doubled, any of which makes the run invalid.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import psutil
from aiogram.types import Update

from benchmarks.database import free_port
from benchmarks.paths import Bench
from benchmarks.process import (
    REAL_PROCESS,
    bot_environment,
    fake_bot_api,
    spawned,
    wait_for_replies,
    wait_until_ready,
)
from benchmarks.workload import WEBHOOK_PATH, InvalidRunError, post_load
from telegram_bot.bot.handlers import start
from tests.support.fakes import FakeBotAPI
from tests.support.flood import TELEGRAM, FloodControl
from tests.support.locales import said
from tests.support.updates import MessageFactory, TelegramUserFactory, UpdateFactory

REPEATERS = 20
REPEATS = 4
CONNECTIONS = 40
DEFAULT_USERS = 600
WARM_UP_USERS = 20
LABEL = "7  at Telegram's limits: a burst of /start"
# The order the updates arrive in is shuffled, the same way in every run.
SHUFFLE_SEED = 16


@dataclass(frozen=True)
class FloodResult:
    users: int
    repeaters: int
    replies: int  # expected: one per update
    makespan: float
    accepted: int  # sends the fake Bot API took
    refused: int  # sends it answered 429
    deliveries: int  # webhook requests, redeliveries included
    cpu_seconds: float  # the bot process's, during the burst

    @property
    def updates(self) -> int:
        return self.users + self.repeaters * REPEATS

    @property
    def minimum(self) -> float:
        """The least time the limits allow for the replies: all but a burst's worth at the bot-wide rate."""
        return (self.replies - TELEGRAM.burst) / TELEGRAM.per_second

    @property
    def ratio(self) -> float:
        return self.makespan / self.minimum

    @property
    def refused_share(self) -> float:
        return self.refused / (self.accepted + self.refused)


@dataclass(frozen=True)
class Burst:
    bodies: list[str]
    expected: Counter[tuple[int, str]]  # (chat id, reply text): how many times each

    @property
    def replies(self) -> int:
        return sum(self.expected.values())


def build_burst(users: int, first_update_id: int) -> Burst:
    update_ids = iter(range(first_update_id, first_update_id + users + REPEATERS * REPEATS))
    updates: list[Update] = []
    expected: Counter[tuple[int, str]] = Counter()
    for index in range(users + REPEATERS):
        person = TelegramUserFactory.build()
        repeats = REPEATS if index >= users else 1
        for _ in range(repeats):
            message = MessageFactory.build(from_user=person, text="/start")
            updates.append(UpdateFactory.build(update_id=next(update_ids), message=message))
        # One welcome, whichever of a repeater's updates registers them; a welcome back for each other one.
        expected[(person.id, said("en", start.welcome, person.first_name))] += 1
        if repeats > 1:
            expected[(person.id, said("en", start.welcome_back, person.first_name))] += repeats - 1
    random.Random(SHUFFLE_SEED).shuffle(updates)
    bodies = [update.model_dump_json(by_alias=True, exclude_none=True) for update in updates]
    return Burst(bodies, expected)


def _replies_by_chat(api: FakeBotAPI) -> Counter[tuple[int, str]]:
    return Counter(
        (int(params["chat_id"]), str(params["text"])) for name, params in api.calls if name == "sendMessage"
    )


def check_replies(api: FakeBotAPI, burst: Burst) -> None:
    sent = _replies_by_chat(api)
    missing, doubled = burst.expected - sent, sent - burst.expected
    if missing or doubled:
        raise InvalidRunError(
            f"{LABEL}: replies missing {sum(missing.values())}, doubled or unexpected "
            f"{sum(doubled.values())} (e.g. missing {list(missing)[:2]}, unexpected {list(doubled)[:2]})"
        )


async def at_telegrams_limits(bench: Bench, users: int) -> FloodResult:
    """The real process, pacing on, against a fake Bot API at Telegram's limits; see the module docstring."""
    port = free_port()
    async with (
        fake_bot_api(TELEGRAM) as (api, api_url),
        spawned(REAL_PROCESS, bot_environment(bench.url, api_url, port, paced=True), port) as bot,
    ):
        await wait_until_ready(bot.base, bot.process)
        url = bot.base + WEBHOOK_PATH
        warm_up = build_burst(WARM_UP_USERS, 800_000_000)
        await post_load(url, warm_up.bodies[:WARM_UP_USERS], CONNECTIONS, what=LABEL, redeliver=True)
        await bench.table.empty()
        burst = build_burst(users, 900_000_000)
        # Telegram's counters start afresh, as after a quiet spell.
        api.calls.clear()
        api.flood = FloodControl(TELEGRAM)
        process = psutil.Process(bot.process.pid)
        cpu_before = sum(process.cpu_times()[:2])
        load = await post_load(url, burst.bodies, CONNECTIONS, what=LABEL, redeliver=True)
        replied = await wait_for_replies(api, burst.replies, LABEL, bench.reply_timeout)
        cpu_seconds = sum(process.cpu_times()[:2]) - cpu_before
        check_replies(api, burst)
        await bench.table.expect_rows(users + REPEATERS, LABEL)
    flood = api.flood
    return FloodResult(
        users=users,
        repeaters=REPEATERS,
        replies=burst.replies,
        makespan=max(load.finished, replied) - load.started,
        accepted=flood.accepted,
        refused=flood.refused,
        deliveries=load.deliveries,
        cpu_seconds=cpu_seconds,
    )


def describe(result: FloodResult) -> str:
    return (
        f"{LABEL}: {result.users} new users + {result.repeaters} users x {REPEATS}, "
        f"{CONNECTIONS} connections, redelivered until 2xx\n"
        f"  makespan {result.makespan:.2f} s; the limits' minimum {result.minimum:.2f} s ((replies "
        f"{result.replies} - burst {TELEGRAM.burst:g}) / {TELEGRAM.per_second:g}/s): {result.ratio:.3f}x "
        "(target <= 1.25, goal 1.1)\n"
        f"  sends refused with 429: {result.refused} of {result.accepted + result.refused} "
        f"({result.refused_share:.1%}; target <= 10%); replies missing 0, doubled 0; webhook deliveries "
        f"{result.deliveries} for {result.updates} updates; "
        f"bot CPU {result.cpu_seconds * 1000 / result.updates:.2f} ms/update"
    )
