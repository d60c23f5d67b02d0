"""Time splits: the model always learns from months earlier than the ones it is judged on.

A month is mature when nearly all of its original claims have their first remit; younger months
would be judged on the claims payers answered fastest, which are not a fair sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract.frames import member, month_text


class NotEnoughHistory(ValueError):
    """The data directory holds too few mature months to train and evaluate a model (exit code 2): the input is
    at fault, so the command line prints the message as one line, without a traceback."""

    exit_code = 2


@dataclass(frozen=True)
class TimeSplit:
    learn: tuple[str, ...]
    calibrate: tuple[str, ...]
    evaluate: tuple[str, ...]
    immature: tuple[str, ...]

    def role(self, months: pd.Series) -> pd.Series:
        roles = {m: "learn" for m in self.learn} | {m: "calibrate" for m in self.calibrate}
        roles |= {m: "evaluate" for m in self.evaluate}
        # each distinct month looked up once: a million claims hold a few dozen months
        codes, distinct = pd.factorize(months)
        names = np.array([roles.get(m, "unused") for m in distinct] + ["unused"], dtype=object)
        return pd.Series(names[codes], index=months.index, dtype=object)


def choose_split(
    claims: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    eval_months: int = 3,
    calibrate_months: int = 2,
    mature_share: float = 0.95,
) -> TimeSplit:
    """Latest mature months to evaluate, the months before them to calibrate, everything earlier to learn."""
    originals = claims[claims["frequency_code"].eq("1")]
    month = month_text(originals["submitted_at"])
    adjudicated = pd.Series(member(originals["claim_id"], labels["claim_id"]), index=originals.index)
    share = adjudicated.groupby(month).mean().sort_index()
    months = list(share.index)
    last_mature = max((i for i, m in enumerate(months) if share[m] >= mature_share), default=-1)
    need = eval_months + calibrate_months + 3
    if last_mature + 1 < need:
        raise NotEnoughHistory(
            f"need at least {need} mature months of history to train and evaluate; found {last_mature + 1}: "
            "give --data a longer history"
        )
    ev = months[last_mature - eval_months + 1 : last_mature + 1]
    cal = months[last_mature - eval_months - calibrate_months + 1 : last_mature - eval_months + 1]
    learn = months[: last_mature - eval_months - calibrate_months + 1]
    return TimeSplit(tuple(learn), tuple(cal), tuple(ev), tuple(months[last_mature + 1 :]))
