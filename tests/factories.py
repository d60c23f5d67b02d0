"""Tiny hand-built histories for rule tests.

Rows are written as text, as a CSV export would hold them, so every test also exercises parsing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from features.contract.schema import TABLES
from features.contract.tables_io import RawTables
from features.contract.validation import ValidationResult, validate_tables

if TYPE_CHECKING:
    from features.contract.payer_rules import PayerRules
    from features.denial_context import FeatureSet


def _text(value: object) -> object:
    if value is None:
        return pd.NA
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


@dataclass
class History:
    rows: dict[str, list[dict[str, object]]] = field(default_factory=lambda: {name: [] for name in TABLES})
    _remit_seq: int = 0

    def claim(
        self,
        claim_id: str,
        *,
        submitted: str = "2024-01-10",
        service: str = "2024-01-05",
        charge: float = 100.0,
        payer: str = "P1",
        frequency: str = "1",
        original: str | None = None,
        lines: int = 1,
        procedures: tuple[str, ...] | None = None,
        **fields: object,
    ) -> str:
        """`procedures` gives one line per code (default: `lines` lines of 99213)."""
        row: dict[str, object] = {
            "claim_id": claim_id,
            "frequency_code": frequency,
            "original_claim_id": original,
            "patient_id": f"PAT-{claim_id}",
            "payer_id": payer,
            "plan_type": "commercial",
            "billing_npi": "1000000001",
            "facility_id": "F1",
            "service_from": service,
            "service_to": service,
            "submitted_at": submitted,
            "diagnosis_codes": "M545",
            "total_charge": charge,
        }
        row.update(fields)
        self.rows["claims"].append(row)
        codes = procedures or ("99213",) * lines
        for n, code in enumerate(codes, start=1):
            self.rows["claim_lines"].append(
                {
                    "claim_id": claim_id,
                    "line_number": n,
                    "procedure_code": code,
                    "units": 1,
                    "charge": charge / len(codes),
                }
            )
        return claim_id

    def remit(
        self, claim_id: str, *, date: str, status: str = "1", paid: float = 0.0, remit_id: str | None = None
    ) -> str:
        self._remit_seq += 1
        rid = remit_id or f"R{self._remit_seq:04d}"
        self.rows["remits"].append(
            {"claim_id": claim_id, "remit_id": rid, "remit_date": date, "status_code": status, "paid_amount": paid}
        )
        return rid

    def adj(
        self,
        claim_id: str,
        remit_id: str,
        group: str,
        carc: str,
        amount: float,
        *,
        line: int | None = None,
        remarks: str | None = None,
    ) -> None:
        self.rows["adjustments"].append(
            {
                "claim_id": claim_id,
                "remit_id": remit_id,
                "line_number": line,
                "group_code": group,
                "carc": carc,
                "amount": amount,
                "remark_codes": remarks,
            }
        )

    def followup(
        self,
        claim_id: str,
        *,
        action: str,
        date: str,
        outcome: str | None = None,
        outcome_date: str | None = None,
        level: int | None = None,
    ) -> None:
        self.rows["followups"].append(
            {
                "claim_id": claim_id,
                "action": action,
                "action_date": date,
                "level": level,
                "outcome": outcome,
                "outcome_date": outcome_date,
            }
        )

    def raw(self) -> RawTables:
        frames = {}
        for name, table in TABLES.items():
            rows = [{c: _text(r.get(c)) for c in table.names} for r in self.rows[name]]
            frames[name] = pd.DataFrame(rows, columns=table.names, dtype="string")
        return RawTables(frames=frames)

    def validated(self, **kwargs: object) -> ValidationResult:
        return validate_tables(self.raw(), **kwargs)  # type: ignore[arg-type]

    def denial_features(self, claim_ids: list[str], *, as_of: str, rules: PayerRules | None = None) -> FeatureSet:
        """Denial features of `claim_ids`, from a builder fitted on this whole history with outcomes known
        on `as_of` (each feature still counts only what was known before each claim was sent), under `rules`
        (default: the shipped payer rules)."""
        from features.contract.codes import load_code_tables
        from features.contract.labels import compute_labels
        from features.contract.payer_rules import load_payer_rules
        from features.denial_features import DenialFeatureBuilder

        tables = self.validated().tables
        codes = load_code_tables()
        labels = compute_labels(tables, codes=codes, as_of=pd.Timestamp(as_of))
        rules = load_payer_rules() if rules is None else rules
        builder = DenialFeatureBuilder().fit(tables=tables, labels=labels, rules=rules, codes=codes)
        query = tables["claims"][tables["claims"]["claim_id"].isin(claim_ids)]
        return builder.transform(claims=query, lines=tables["claim_lines"])

    def write_csv(self, data_dir: Path) -> Path:
        data_dir.mkdir(parents=True, exist_ok=True)
        for name, df in self.raw().frames.items():
            df.to_csv(data_dir / f"{name}.csv", index=False)
        return data_dir


def three_paid_claims() -> History:
    """Three clean claims of two lines each, paid with a routine contractual adjustment: a valid base that a
    test breaks in one place."""
    h = History()
    for i in range(1, 4):
        h.claim(f"C{i}", lines=2)
        r = h.remit(f"C{i}", date="2024-02-01", status="1", paid=80.0)
        h.adj(f"C{i}", r, "CO", "45", 20.0, line=1)
    return h
