"""One writer at a time per store: retrains of a model, and the first use of a fresh store, take turns.

Two retrains of the same month started together each judged their challenger against the old champion and
both moved the alias; two first uses of an empty SQLite store raced through MLflow's schema migration and
one crashed. The lock is an advisory `flock` on a file inside the store's own folder (`CLAIMSIGHT_HOME`,
where the embedded SQLite store and its artifacts live), so every process using that store sees it and a
process that dies releases it with its file descriptor. A remote MLflow server is not covered: the lock
then only orders the processes sharing this home (the README says so).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class StoreBusy(RuntimeError):
    """Another process held the lock for longer than the caller was willing to wait."""


@contextmanager
def store_lock(home: Path, name: str, *, wait_seconds: float = 3600.0, poll_seconds: float = 0.2) -> Iterator[None]:
    """Hold the lock `name` of the store in `home` for the body; wait (polling) while another process has it."""
    folder = home / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_SAFE.sub('_', name)}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                raise StoreBusy(f"another process has held the {name} lock of this store for {wait_seconds:.0f} s")
            if not told:
                log.info("waiting for another process that holds the %s lock of this store", name)
                told = True
            time.sleep(poll_seconds)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
