"""An append-only record of remittances (835 CLP) and their adjustments (CAS), as integer columns.

Adjudication, follow-up and reversal stages all post here; ids and final row order are assigned once at
the end (by remit date, then claim) so the output is deterministic and reads chronologically.
"""

from __future__ import annotations

import numpy as np

from synthetic.hazards import REASONS

STATUS_CODES: tuple[str, ...] = ("1", "2", "3", "4", "19", "22")
GROUPS: tuple[str, ...] = ("CO", "PR", "OA")
_ROUTINE_CARCS = ("45", "253", "1", "2", "3", "23")
# Codes no denial reason emits: MIPS payment adjustments (CO-237 penalty, CO-144 incentive, both with N807),
# a line pended for review (OA-133), and a replacement sent where a new claim was needed (CO-16 N142).
_OTHER_CARCS = ("237", "144", "133")
_OTHER_RARCS = ("N807", "N142")
CARCS: tuple[str, ...] = tuple(
    dict.fromkeys(list(_ROUTINE_CARCS) + [c for r in REASONS for c, _, _ in r.carcs] + list(_OTHER_CARCS))
)
RARCS: tuple[str, ...] = tuple(dict.fromkeys([x for r in REASONS for _, x, _ in r.carcs if x] + list(_OTHER_RARCS)))
# which RARC vocabulary entries (some are "A|B" lists) carry MA130: unprocessable, send a new claim
MA130_RARC = np.array(["MA130" in r.split("|") for r in RARCS] + [False])  # index -1 (none) -> False
CARC = {c: i for i, c in enumerate(CARCS)}
RARC = {c: i for i, c in enumerate(RARCS)}
STATUS = {s: i for i, s in enumerate(STATUS_CODES)}
GROUP = {g: i for i, g in enumerate(GROUPS)}


class Ledger:
    def __init__(self) -> None:
        self._remits: list[dict[str, np.ndarray]] = []
        self._adjs: list[dict[str, np.ndarray]] = []
        self.n_remits = 0

    def add_remits(
        self,
        *,
        claim: np.ndarray,
        day: np.ndarray,
        status: np.ndarray | int,
        paid: np.ndarray,
        patient_resp: np.ndarray,
    ) -> np.ndarray:
        """Post remits; returns their ledger indices."""
        n = len(claim)
        idx = self.n_remits + np.arange(n)
        self.n_remits += n
        self._remits.append(
            {
                "claim": np.asarray(claim, dtype=np.int64),
                "day": np.asarray(day, dtype=np.int64),
                "status": np.broadcast_to(np.asarray(status, dtype=np.int64), (n,)).copy(),
                "paid": np.round(np.asarray(paid, dtype=np.float64), 2),
                "patient_resp": np.round(np.asarray(patient_resp, dtype=np.float64), 2),
            }
        )
        return idx

    def add_adjustments(
        self,
        *,
        remit: np.ndarray,
        claim: np.ndarray,
        line_number: np.ndarray,
        group: np.ndarray,
        carc: np.ndarray,
        rarc: np.ndarray,
        amount: np.ndarray,
    ) -> None:
        n = len(remit)

        def col(x: np.ndarray, dtype: type) -> np.ndarray:
            return np.broadcast_to(np.asarray(x, dtype=dtype), (n,)).copy()

        self._adjs.append(
            {
                "remit": col(remit, np.int64),
                "claim": col(claim, np.int64),
                "line_number": col(line_number, np.int64),
                "group": col(group, np.int64),
                "carc": col(carc, np.int64),
                "rarc": col(rarc, np.int64),
                "amount": np.round(col(amount, np.float64), 2),
            }
        )

    def remits(self) -> dict[str, np.ndarray]:
        keys = ("claim", "day", "status", "paid", "patient_resp")
        return {k: np.concatenate([c[k] for c in self._remits]) if self._remits else np.zeros(0) for k in keys}

    def adjustments(self) -> dict[str, np.ndarray]:
        keys = ("remit", "claim", "line_number", "group", "carc", "rarc", "amount")
        return {
            k: np.concatenate([c[k] for c in self._adjs]) if self._adjs else np.zeros(0, dtype=np.int64) for k in keys
        }
