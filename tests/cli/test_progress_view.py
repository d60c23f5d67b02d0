"""What a long command prints while it works: the stage, how far along, and the time left."""

from __future__ import annotations

import io

from rich.console import Console

from claimsight.progress_view import ProgressView


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_stages_steps_and_the_time_left() -> None:
    out, clock = io.StringIO(), Clock()
    view = ProgressView(Console(file=out, width=200), command="train", every_seconds=5.0, clock=clock)
    view("labels")
    clock.now = 1.0
    view("features", 0, 1000)
    clock.now = 3.0
    view("features", 100, 1000)  # two seconds in: too soon for another line
    clock.now = 7.0
    view("features", 300, 1000)  # 6 s for 300: about 14 s for the other 700
    clock.now = 8.0
    view("features", 1000, 1000)  # the last step always shows
    view("fitting both heads")
    assert lines(out) == [
        "train: labels",
        "train: features 0/1,000",
        "train: features 300/1,000 (30%), about 14 s left",
        "train: features 1,000/1,000 (100%)",
        "train: fitting both heads",
    ]
