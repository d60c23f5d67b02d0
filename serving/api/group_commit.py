"""Group commit: many requests' audit rows stored by one thread in one transaction, each request still waiting
until its own row is durable.

With a transaction (and an fsync) per request, concurrent requests queue on the database's write lock; SQLite's
busy handler then sleeps in growing steps, which is where the probe's 0.5-1.1 s p99 at 8-32 connections came
from (issue 12). Here one writer thread takes every row waiting when it finishes the previous batch, so a
burst of N requests costs one transaction instead of N, and at one connection the cost is what it was.

The promise is unchanged: `submit` returns only after the transaction holding the row has committed, and raises
if it did not; the caller releases its response only then.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = object()


class GroupCommitter(Generic[T]):
    """Calls `write(batch)` on its own thread with up to `max_batch` items queued by `submit`, oldest first.

    `write` either stores the whole batch (returns) or none of it (raises); every waiter of the batch gets
    that outcome. The thread starts on the first `submit` and stops with `close`.
    """

    def __init__(self, write: Callable[[Sequence[T]], None], *, max_batch: int = 512, name: str = "group-commit"):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.write = write
        self.max_batch = max_batch
        self.name = name
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self.batches = 0  # transactions written, for tests and figures
        self.items = 0

    async def submit(self, item: T) -> None:
        """Return once `item` is stored; raise what `write` raised if its batch failed."""
        if self._closed:
            raise RuntimeError(f"{self.name} is closed")
        self._ensure_thread()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.put((item, done, loop))
        await done

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        self._closed = True
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            pending = [first]
            while len(pending) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                pending.append(more)
            self._write(pending)

    def _write(self, pending: list[object]) -> None:
        entries = [entry for entry in pending if isinstance(entry, tuple)]
        error: BaseException | None = None
        try:
            self.write([item for item, _, _ in entries])
            self.batches += 1
            self.items += len(entries)
        except Exception as exc:  # every waiter of the batch learns it failed; the thread goes on
            error = exc
        for _, done, loop in entries:
            try:
                loop.call_soon_threadsafe(_settle, done, error)
            except RuntimeError:  # that request's event loop has closed: nobody is waiting
                continue


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.cancelled():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


__all__ = ["GroupCommitter"]
