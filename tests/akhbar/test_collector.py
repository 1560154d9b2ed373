"""The run's garbage-collector schedule (``akhbar.collector``)."""

from __future__ import annotations

import gc

from akhbar.collector import FULL_NEVER, GcClock, collect_full


def test_a_started_clock_stops_automatic_full_collections_and_stop_restores_them() -> None:
    before = gc.get_threshold()
    clock = GcClock("flow").start()
    try:
        assert gc.get_threshold() == (before[0], before[1], FULL_NEVER)
        collect_full()
        gc.collect(0)
    finally:
        clock.stop()
    assert gc.get_threshold() == before
    assert clock not in gc.callbacks
    assert clock.seconds["python gc, generation 2 (flow)"] > 0
    assert clock.seconds["python gc, generation 0 (flow)"] > 0


def test_take_hands_over_the_seconds_counted_since_the_last_take() -> None:
    clock = GcClock().start()
    try:
        collect_full()
        first = clock.take()
        second = clock.take()
    finally:
        clock.stop()
    assert list(first) == ["python gc, generation 2"] and first["python gc, generation 2"] > 0
    assert second == {}
