"""The collector's settings while the bot serves: set on entry, restored on exit."""

from __future__ import annotations

import gc

from telegram_bot.collector import YOUNG_GENERATION_THRESHOLD, serving_collector


def test_serving_freezes_and_collects_the_young_generation_less_often_until_it_ends() -> None:
    before = gc.get_threshold()

    with serving_collector():
        assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0

    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
