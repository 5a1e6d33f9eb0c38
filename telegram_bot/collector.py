"""The garbage collector's settings while the bot serves updates."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Python's default is 700. Nearly every object an update allocates is freed by its reference count, so the
# young generation reaches 700 only every few updates; each collection then promotes the objects of the
# updates in flight, and those promotions bring on the full collections. At 10,000 it ran 4 to 5 times in
# 3,000 updates of the benchmark, and a cycle waits that much longer to be freed: a few megabytes at most.
YOUNG_GENERATION_THRESHOLD = 10_000


@contextmanager
def serving_collector() -> Iterator[None]:
    """While the block runs: what exists now is frozen, and the young generation is collected less often.

    What start-up built (modules, models, the pool) lives as long as the process; frozen, it is out of the
    full collections' way. Both settings are restored on exit, so that a process that serves more than once
    (the tests) gives its objects back to the collector.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
