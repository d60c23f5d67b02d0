"""Group commit: concurrent rows share a transaction, and each caller returns only once its own row is stored."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from serving.api.group_commit import GroupCommitter


class _Store:
    """A store whose first write waits for a gate, so that the rows arriving meanwhile pile up."""

    def __init__(self, *, fail_batches: int = 0) -> None:
        self.rows: list[int] = []
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.fail_batches = fail_batches

    def write(self, batch: Sequence[int]) -> None:
        self.gate.wait(10)
        if self.fail_batches:
            self.fail_batches -= 1
            raise OSError("disk I/O error")
        self.batches.append(list(batch))
        self.rows.extend(batch)


def test_rows_waiting_together_are_stored_in_one_transaction_and_each_caller_waits_for_its_own() -> None:
    store = _Store()
    committer: GroupCommitter[int] = GroupCommitter(store.write, max_batch=100)
    seen_at_return: dict[int, bool] = {}

    async def one(i: int) -> None:
        await committer.submit(i)
        seen_at_return[i] = i in store.rows  # durable before the caller goes on

    async def main() -> None:
        tasks = [asyncio.create_task(one(0))]
        await asyncio.sleep(0.05)  # the writer now holds row 0 and waits at the gate
        tasks += [asyncio.create_task(one(i)) for i in range(1, 41)]
        await asyncio.sleep(0.05)
        assert not seen_at_return  # nothing returned before its transaction committed
        store.gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    committer.close()
    assert sorted(store.rows) == list(range(41))
    assert seen_at_return == dict.fromkeys(range(41), True)
    assert len(store.batches) == 2  # one write for the first row, one for the forty that waited
    assert sorted(store.batches[1]) == list(range(1, 41))


def test_a_failed_transaction_fails_every_caller_in_it_and_the_next_one_is_written() -> None:
    store = _Store(fail_batches=1)
    store.gate.set()
    committer: GroupCommitter[int] = GroupCommitter(store.write)

    async def main() -> None:
        with pytest.raises(OSError, match="disk I/O error"):
            await committer.submit(1)
        await committer.submit(2)

    asyncio.run(main())
    committer.close()
    assert store.rows == [2]


def test_batches_are_bounded_and_close_writes_what_is_queued() -> None:
    store = _Store()
    committer: GroupCommitter[int] = GroupCommitter(store.write, max_batch=7)

    async def main() -> None:
        tasks = [asyncio.create_task(committer.submit(i)) for i in range(30)]
        await asyncio.sleep(0.05)
        store.gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    committer.close()
    assert sorted(store.rows) == list(range(30))
    assert max(len(b) for b in store.batches) <= 7
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(committer.submit(99))
