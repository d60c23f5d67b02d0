"""Chunks of a batch worked on side by side, their results taken in order.

A chunk's feature build is mostly numpy sorts, searches and gathers, which release the GIL: two chunks on two
threads overlap for most of their time. Threads, not processes: the fitted history (gigabytes at ten million
claims) is shared, not copied or pickled. At most `threads` chunks are in flight, so memory grows by one
chunk's working arrays per thread, never by the batch.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["in_chunk_thread", "map_in_order"]

T = TypeVar("T")

_here = threading.local()


def in_chunk_thread() -> bool:
    """Whether this thread builds one of several chunks side by side: the cores are then taken, and work inside a
    chunk that would spread over threads of its own (the history's levels) runs on this one instead."""
    return getattr(_here, "side_by_side", False)


def _side_by_side(fn: Callable[..., T], *item: Any) -> T:
    _here.side_by_side = True
    try:
        return fn(*item)
    finally:
        _here.side_by_side = False


def map_in_order(fn: Callable[..., T], items: Iterable[tuple[Any, ...]], *, threads: int) -> Iterator[T]:
    """fn(*item) for each item, in the items' order, at most `threads` running or waiting at once.

    Items are drawn from `items` on the caller's thread (a generator need not be thread-safe). One thread:
    plain calls on the caller's thread, no pool. An exception in fn is raised here, at its item's turn."""
    if threads < 1:
        raise ValueError(f"threads: must be at least 1, got {threads}")
    if threads == 1:
        for item in items:
            yield fn(*item)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="chunk") as pool:
        pending: deque[Future[T]] = deque()
        try:
            for item in items:
                if len(pending) == threads:
                    yield pending.popleft().result()
                pending.append(pool.submit(_side_by_side, fn, *item))
            while pending:
                yield pending.popleft().result()
        finally:  # an error or an abandoned iteration: do not start chunks nobody will read
            for future in pending:
                future.cancel()
