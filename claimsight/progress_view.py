"""The command line's view of `features.progress`: one line per stage, and for a stage with steps a line with
how far along it is and an estimate of the time left, at most every few seconds (plain lines, so a cron log reads
the same as a terminal)."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console


class ProgressView:
    """`features.progress.Progress` printed as `command: stage done/total (share), about N s left`."""

    def __init__(
        self,
        console: Console,
        *,
        command: str,
        every_seconds: float = 5.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.console = console
        self.command = command
        self.every_seconds = every_seconds
        self.clock = clock
        self._stage: str | None = None
        self._started = 0.0
        self._shown = 0.0

    def __call__(self, stage: str, done: int = 0, total: int = 0) -> None:
        now = self.clock()
        if stage != self._stage:
            self._stage, self._started, self._shown = stage, now, now
            self._say(stage if not total else f"{stage} 0/{total:,}")
            return
        if not total or (now - self._shown < self.every_seconds and done < total):
            return
        self._shown = now
        line = f"{stage} {done:,}/{total:,} ({done / total:.0%})"
        if 0 < done < total:
            left = (now - self._started) / done * (total - done)
            line += f", about {left:,.0f} s left"
        self._say(line)

    def _say(self, text: str) -> None:
        self.console.print(f"{self.command}: {text}", highlight=False)
