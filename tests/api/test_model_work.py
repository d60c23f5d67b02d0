"""Where a request's model work runs: small ones on the event loop, batches on at most `scoring_threads` threads."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace
from typing import Any

from serving.api.app import INLINE_ITEMS, run_model_work
from serving.api.config import ApiConfig


def _request(scoring_threads: int) -> Any:
    state = SimpleNamespace(config=ApiConfig(scoring_threads=scoring_threads))
    return SimpleNamespace(app=SimpleNamespace(state=state))


def test_a_small_request_runs_on_the_event_loop_and_a_batch_on_a_worker_thread() -> None:
    request = _request(2)

    async def main() -> list[bool]:
        loop_thread = threading.get_ident()
        sizes = (1, INLINE_ITEMS, INLINE_ITEMS + 1)
        return [await run_model_work(request, threading.get_ident, items=n) == loop_thread for n in sizes]

    assert asyncio.run(main()) == [True, True, False]


def test_at_most_scoring_threads_batches_work_at_once() -> None:
    request = _request(2)
    running = 0
    most = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    async def main() -> None:
        await asyncio.gather(*(run_model_work(request, work, items=1000) for _ in range(6)))

    asyncio.run(main())
    assert most == 2
