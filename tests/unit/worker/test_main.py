"""What `python -m stream_rerun` does around the run itself, without a network: the garbage collector's settings while
the run lasts."""

from __future__ import annotations

import gc

from stream_rerun.__main__ import YOUNG_THRESHOLD, _heap_frozen


def test_the_run_freezes_the_heap_and_collects_the_young_generation_less_often_then_restores_both() -> None:
    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    with _heap_frozen():
        # WHILE the run lasts: what preflight built is out of the collector's passes, and young collections are rarer
        assert gc.get_freeze_count() > frozen_before
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:]) and before[0] < YOUNG_THRESHOLD
    # THEN afterwards the process collects as before (the tests run the worker in-process again and again)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
