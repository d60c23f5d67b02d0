"""What one run of ClaimSight was asked to do, decided once from the settings and passed as one value.

The same eight choices reach every entry point (train, retrain, monitor, backtest, replay, the service):
where the local store lives, which MLflow store to use, the seed, how much of a table may be quarantined,
when a denial's outcome counts as final, which adjustments are routine, how many claims' features are built
at once (memory against speed) and on how many threads. Typed once here, they cannot drift apart between
entry points, and a function that needs them takes `options` instead of eight keywords.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from features.contract.labels import DEFAULT_MATURITY_DAYS

__all__ = [
    "DEFAULT_CHUNK_CLAIMS",
    "DEFAULT_FEATURE_THREADS",
    "DEFAULT_HOME",
    "DEFAULT_MATURITY_DAYS",
    "DEFAULT_MAX_REJECT_RATE",
    "DEFAULT_SEED",
    "RunOptions",
]

DEFAULT_SEED = 7
DEFAULT_MAX_REJECT_RATE = 0.05
DEFAULT_HOME = Path(".claimsight")
DEFAULT_CHUNK_CLAIMS = 100_000  # README, "Measured on this machine": memory against time per chunk size
DEFAULT_FEATURE_THREADS = 2  # chunks built side by side: README, "Scoring speed (sixth session)"


@dataclass(frozen=True)
class RunOptions:
    home: Path = DEFAULT_HOME  # local store: MLflow database and artifacts, audit log, monitor reports
    tracking_uri: str | None = None  # an MLflow server; None = the embedded SQLite store under `home`
    seed: int = DEFAULT_SEED  # same data + same seed = same model
    max_reject_rate: float = DEFAULT_MAX_REJECT_RATE  # share of a table's rows that may be quarantined
    maturity_days: int = DEFAULT_MATURITY_DAYS  # days after a denial before its outcome counts as final
    routine: frozenset[tuple[str, str]] | None = None  # (group, CARC) adjustments that are not denials
    chunk_claims: int | None = DEFAULT_CHUNK_CLAIMS  # claims whose features are built at once (None: all)
    feature_threads: int = DEFAULT_FEATURE_THREADS  # chunks whose features are built side by side

    def but(self, **changes: object) -> RunOptions:
        """A copy with some choices changed (a test's temporary home, a command's --seed)."""
        return replace(self, **changes)  # type: ignore[arg-type]
