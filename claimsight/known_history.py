"""The history as the team knew it on a day: the data directory with the workspace's recorded work merged into
its followups, validated, cut to what was known by the end of that day, and its labels computed as of then.

`claimsight prevent` and `claimsight report` read the same thing, so the dashboard's prevention part and the
command's table agree to the dollar, and both count the staff minutes recorded in the workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from claimsight import shell
from claimsight.settings import Settings


@dataclass(frozen=True)
class KnownHistory:
    tables: dict[str, pd.DataFrame]
    labels: pd.DataFrame
    as_of: pd.Timestamp | None  # None: the latest date in the data


def known_history(
    data: Path, *, settings: Settings, as_of: str | None, say: Callable[[str], None] = lambda _: None
) -> KnownHistory:
    from claimsight.team_workspace import training_data
    from features.contract.codes import load_code_tables
    from features.contract.labels import compute_labels
    from features.contract.time_cut import known_at

    options = settings.run_options()
    day = None if as_of is None else shell.parse_date(as_of, option="--as-of")
    with training_data(data, settings) as source:  # the work recorded in the team workspace counts too
        say(f"reading and validating {data}" + (" with the workspace's recorded work" if source != data else ""))
        tables = dict(shell.validated(source, options=options).tables)
    if day is not None:
        tables = dict(known_at(tables, day + pd.Timedelta(days=1)))  # what was known by the end of that day
    say("labels")
    labels = compute_labels(
        tables, codes=load_code_tables(), routine=options.routine, maturity_days=options.maturity_days, as_of=day
    )
    return KnownHistory(tables=tables, labels=labels, as_of=day)


__all__ = ["KnownHistory", "known_history"]
