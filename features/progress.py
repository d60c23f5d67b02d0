"""Progress of long work: the layers say which stage they are in and how far along, the command line shows it.

Training or scoring a million claims takes minutes; a person (or a cron log) should see the stage and an estimate,
not a silent wait. A layer takes `progress` and calls it at each stage, and at each step of a stage that has steps
(`done` of `total`); the default says nothing. `claimsight.progress_view.ProgressView` is the command line's.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Progress", "silent"]


class Progress(Protocol):
    def __call__(self, stage: str, done: int = 0, total: int = 0) -> None: ...


def silent(stage: str, done: int = 0, total: int = 0) -> None:
    """The default: nothing shown (a library call, a test, the scoring service)."""
