"""Chunks worked on side by side come back in order, never more than `threads` at once, errors at their turn."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest

from features.chunk_threads import in_chunk_thread, map_in_order


def test_results_come_in_the_items_order_though_they_finish_out_of_it() -> None:
    delays = random.Random(3).sample([i / 1000 for i in range(20)], 20)  # later items often finish first

    def work(i: int, delay: float) -> int:
        time.sleep(delay)
        return i * i

    assert list(map_in_order(work, ((i, d) for i, d in enumerate(delays)), threads=4)) == [i * i for i in range(20)]


@pytest.mark.parametrize("threads", [2, 3])
def test_no_more_than_threads_items_are_drawn_ahead_of_the_reader(threads: int) -> None:
    """Each drawn item holds a chunk's tables: the reader must never be more than `threads` items behind."""
    drawn: list[int] = []
    running = 0
    most_running = 0
    lock = threading.Lock()

    def items() -> Iterator[tuple[int]]:
        for i in range(12):
            drawn.append(i)
            yield (i,)

    def work(i: int) -> int:
        nonlocal running, most_running
        with lock:
            running += 1
            most_running = max(most_running, running)
        time.sleep(0.005)
        with lock:
            running -= 1
        return i

    for read, value in enumerate(map_in_order(work, items(), threads=threads)):
        assert value == read
        assert len(drawn) - (read + 1) <= threads  # drawn but not yet read
    assert most_running == threads  # the threads were used side by side
    assert drawn == list(range(12))


def test_one_thread_works_on_the_callers_thread_without_a_pool() -> None:
    seen = list(map_in_order(lambda i: threading.get_ident(), ((i,) for i in range(3)), threads=1))
    assert seen == [threading.get_ident()] * 3


def test_an_error_is_raised_at_its_items_turn_and_later_items_are_not_started() -> None:
    started: list[int] = []
    gate = threading.Event()

    def work(i: int) -> int:
        started.append(i)
        if i == 2:
            raise ValueError("chunk 2 failed")
        if i > 2:
            gate.wait(1.0)
        return i

    got: list[int] = []
    with pytest.raises(ValueError, match="chunk 2 failed"):
        for value in map_in_order(work, ((i,) for i in range(50)), threads=2):
            got.append(value)
    gate.set()
    assert got == [0, 1]
    assert max(started) <= 4  # items drawn after the failure were cancelled, not run


def test_zero_threads_is_refused() -> None:
    with pytest.raises(ValueError, match="threads: must be at least 1"):
        list(map_in_order(lambda i: i, [(1,)], threads=0))


def test_a_chunk_built_beside_others_knows_it() -> None:
    """Work inside a chunk keeps to its thread when chunks run side by side (the cores are taken), and spreads
    over threads of its own when chunks run one at a time on the caller's thread."""
    assert not in_chunk_thread()
    assert list(map_in_order(lambda i: in_chunk_thread(), [(i,) for i in range(4)], threads=2)) == [True] * 4
    assert list(map_in_order(lambda i: in_chunk_thread(), [(i,) for i in range(3)], threads=1)) == [False] * 3
    assert not in_chunk_thread()
