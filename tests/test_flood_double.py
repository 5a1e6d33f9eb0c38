"""The tests' flood control (tests/support/flood.py) refuses what Telegram does, on a clock the test moves."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.flood import FloodControl, TelegramLimits

SEND = "sendMessage"


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def control(limits: TelegramLimits | None = None) -> tuple[FloodControl, Clock]:
    clock = Clock()
    return FloodControl(limits or TelegramLimits(), clock=clock), clock


def test_a_burst_over_30_is_refused_past_the_30th_and_taken_again_after_the_wait() -> None:
    flood, clock = control()

    answers = [flood.check(SEND, chat) for chat in range(1, 32)]

    assert answers == [None] * 30 + [1]
    clock.now += 1.05
    assert flood.check(SEND, 99) is None
    assert (flood.accepted, flood.refused) == (31, 1)


def test_one_chat_gets_a_burst_of_3_then_one_a_second() -> None:
    flood, clock = control()

    assert [flood.check(SEND, 7) for _ in range(4)] == [None, None, None, 1]
    assert flood.check(SEND, 8) is None  # another chat is not held back by chat 7's wait
    clock.now += 1.0
    assert flood.check(SEND, 7) is None
    assert flood.check(SEND, "7") == 1  # the same chat, as aiogram sends its id over HTTP


def test_sending_into_the_wait_is_refused_for_longer_each_time() -> None:
    flood, clock = control()
    for _ in range(3):
        flood.check(SEND, 7)

    waits = [flood.check(SEND, 7) for _ in range(4)]

    assert waits == [1, 2, 3, 4]
    clock.now += 4.0
    assert flood.check(SEND, 7) is None


def test_a_group_gets_20_messages_in_any_minute() -> None:
    flood, clock = control(TelegramLimits(chat_burst=100, chat_per_second=100))

    for _ in range(20):
        assert flood.check(SEND, -100123) is None
        clock.now += 2.0
    # The 21st, 40 s after the first: the first leaves the window 20 s later.
    assert flood.check(SEND, -100123) == 20
    clock.now += 20.0
    assert flood.check(SEND, -100123) is None


def test_reading_and_the_bots_own_settings_are_not_limited() -> None:
    flood, _ = control(TelegramLimits(burst=1))
    flood.check(SEND, 1)

    assert [flood.check(method, None) for method in ("getMe", "setWebhook", "getUpdates")] == [None] * 3
    assert flood.check("getChat", 1) is None
    assert flood.check("sendMessage", 2) == 1
