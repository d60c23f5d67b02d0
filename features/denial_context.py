"""What the denial reasons can name: the feature set a model scores, and the values its phrases read.

A reason phrase names the payer, the codes and the line behind a feature. Those values stay arrays until
someone reads a claim (`FeatureSet`), and `reason_context` builds them from the claim and line arrays the
features were computed from. Never patient fields.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.auth_evidence import WINDOW_DAYS as AUTH_WINDOW_DAYS
from features.claim_fields import referral_missing, rendering_clinician
from features.columns import Columns, per_distinct
from features.contract.codes import CATEGORIES
from features.denial_events import pick
from features.denial_feature_defs import FEATURE_NAMES
from features.learned_policies import WINDOW_DAYS as POLICY_WINDOW_DAYS

__all__ = ["FeatureSet", "RowValues", "beside_text", "modifier_text", "reason_context"]


# per chosen line: context name suffix -> line column
_LINE_CONTEXT = {
    "line": "line_number",
    "code": "procedure_code",
    "mods": "modifier_text",
    "dx": "line_dx",
    "units": "units",
    "prev": "prev_code",
    "beside": "beside_text",
}


def _python(value: Any) -> Any:
    """A numpy scalar as the Python value `to_dict` would give (other objects as they are)."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass
class FeatureSet:
    """Model input (`X`, float32, columns FEATURE_NAMES) and the values reasons name.

    Reason values stay arrays until someone reads a claim: `context` holds claim-level values,
    `lines` line-level values, and `pointers[spec]` the line each line-level aggregate picked per claim.
    """

    X: np.ndarray
    context: dict[str, np.ndarray]
    claim_ids: pd.Index
    lines: dict[str, np.ndarray] = field(default_factory=dict)
    pointers: dict[str, np.ndarray] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.X, columns=list(FEATURE_NAMES), index=self.claim_ids)

    def context_frame(self, rows: np.ndarray | None = None) -> pd.DataFrame:
        idx = np.arange(len(self.claim_ids)) if rows is None else np.asarray(rows)
        out: dict[str, np.ndarray] = {k: v[idx] for k, v in self.context.items()}
        for spec, pointer in self.pointers.items():
            ptr = pointer[idx]
            for suffix, col in _LINE_CONTEXT.items():
                values = self.lines[col][np.maximum(ptr, 0)] if len(self.lines[col]) else np.full(len(ptr), None)
                out[f"{spec}_{suffix}"] = np.where(ptr >= 0, values, np.array(None, dtype=object))
        if "payer_proc_code" in out:
            out["dup_code"] = out["payer_proc_code"]
        return pd.DataFrame(out, index=self.claim_ids[idx], dtype=object)

    def records(self, rows: np.ndarray | None = None) -> list[dict[str, Any]]:
        """One dict per selected row with every feature and context value: what a reason phrase reads.

        The same keys and values as a row of `frame()` and `context_frame()` read by `to_dict("records")`
        (Python floats, None for no line). A phrase reads a handful of them: `row_values` reads them on demand."""
        return [dict(values) for values in self.row_values(rows)]

    def row_values(self, rows: np.ndarray | None = None) -> list[RowValues]:
        """The selected rows' values as `records` gives them, each read only when a phrase asks for it: a
        flagged claim's phrases read about ten of its ~300 values, and a million flagged claims' dicts would
        hold more memory than the rest of scoring."""
        idx = np.arange(len(self.claim_ids)) if rows is None else np.asarray(rows)
        sources = self._value_sources()
        return [RowValues(self, int(i), sources) for i in idx]

    def _value_sources(self) -> dict[str, tuple[str, Any, Any]]:
        """Key -> where its value is: a feature column, a context array, or a line column behind a pointer.
        Later sources win, in the order `records` has always used: features, context, chosen lines, dup_code."""
        out: dict[str, tuple[str, Any, Any]] = {name: ("X", j, None) for j, name in enumerate(FEATURE_NAMES)}
        out.update({name: ("context", values, None) for name, values in self.context.items()})
        for spec, pointer in self.pointers.items():
            for suffix, col in _LINE_CONTEXT.items():
                out[f"{spec}_{suffix}"] = ("line", pointer, self.lines[col])
        if "payer_proc_code" in out:
            out["dup_code"] = out["payer_proc_code"]
        return out

    @classmethod
    def concat(cls, parts: Sequence[FeatureSet], *, X: np.ndarray | None = None) -> FeatureSet:
        """The parts' claims one after another, as one transform of all of them would give: each part's
        line pointers move past the lines of the parts before it. `X`: the parts' matrices already stacked
        (a caller that filled one matrix a part at a time)."""
        offsets = np.cumsum([0] + [len(next(iter(p.lines.values()), ())) for p in parts[:-1]])
        if X is not None and len(X) != sum(len(p.X) for p in parts):
            raise ValueError(f"X has {len(X)} rows, the parts {sum(len(p.X) for p in parts)}")
        return cls(
            X=np.concatenate([p.X for p in parts]) if X is None else X,
            context={k: np.concatenate([p.context[k] for p in parts]) for k in parts[0].context},
            claim_ids=parts[0].claim_ids.append([p.claim_ids for p in parts[1:]]),
            lines={k: np.concatenate([p.lines[k] for p in parts]) for k in parts[0].lines},
            pointers={
                k: np.concatenate(
                    [np.where(p.pointers[k] >= 0, p.pointers[k] + at, -1) for p, at in zip(parts, offsets, strict=True)]
                )
                for k in parts[0].pointers
            },
        )

    def subset(self, rows: np.ndarray | slice) -> FeatureSet:
        """The selected rows (a slice gives views of the arrays, no copy)."""
        return FeatureSet(
            X=self.X[rows],
            context={k: v[rows] for k, v in self.context.items()},
            claim_ids=self.claim_ids[rows],
            lines=self.lines,
            pointers={k: v[rows] for k, v in self.pointers.items()},
        )


class RowValues(Mapping[str, Any]):
    """One row of a `FeatureSet` as a read-only mapping of the values `FeatureSet.records` holds."""

    __slots__ = ("_fs", "_row", "_sources")

    def __init__(self, fs: FeatureSet, row: int, sources: dict[str, tuple[str, Any, Any]]) -> None:
        self._fs, self._row, self._sources = fs, row, sources

    def __getitem__(self, key: str) -> Any:
        kind, where, column = self._sources[key]
        if kind == "X":
            return self._fs.X[self._row, where].item()
        if kind == "context":
            return _python(where[self._row])
        line = int(where[self._row])
        return _python(column[line]) if line >= 0 else None

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)


def _modifier_words(key: str) -> str:
    """'-' -> 'no modifier', 'GP' -> 'modifier GP', '26|RT' -> 'modifiers 26, RT'."""
    return "no modifier" if key == "-" else ("modifiers " if "|" in key else "modifier ") + key.replace("|", ", ")


def beside_text(other_sections: np.ndarray) -> np.ndarray:
    """`features.claim_fields.other_sections` as words: 'Lab|Surgery' -> 'Lab, Surgery'."""
    words = per_distinct(other_sections, lambda key: "no other service" if key == "-" else key.replace("|", ", "))
    words[pd.isna(words)] = "no other service"
    return words


def modifier_text(keys: np.ndarray) -> np.ndarray:
    words = per_distinct(keys, _modifier_words)
    words[pd.isna(words)] = "no modifier"
    return words


# What can be missing: a referral number where the plan requires one, a line's diagnosis pointer. An absent
# rendering NPI is not here: it means the billing provider rendered the service (837P sends 2310B only then).
_MISSING_NAMES = ("referral number the plan requires", "diagnosis pointer")
_MISSING_TEXT = np.array(
    [", ".join(n for bit, n in zip((2, 1), _MISSING_NAMES, strict=True) if k & bit) or "none" for k in range(4)],
    dtype=object,
)


def reason_context(
    claims: Columns,
    rows: Columns,
    cols: Mapping[str, np.ndarray],
    *,
    category_labels: Mapping[str, str],
    category_actions: Mapping[str, str],
) -> dict[str, np.ndarray]:
    """Values the reason phrases name (payer, codes, lines), as arrays. Never patient fields.

    Texts are picked from a few constants by index rather than built per row: only the rows someone
    reads are ever formatted.
    """
    n = len(claims["claim_id"])

    def text(col: str, default: str = "unknown") -> np.ndarray:
        values = claims[col].copy()
        values[pd.isna(values)] = default
        return values

    context = {col: text(col) for col in ("payer_id", "plan_type", "billing_npi", "facility_id", "place_of_service")}
    context["rendering_npi"] = rendering_clinician(claims).copy()  # absent: the billing provider rendered it
    context["rendering_npi"][pd.isna(context["rendering_npi"])] = "unknown"
    need = np.flatnonzero(rows["auth_needed"])  # rows are sorted by claim and line: the first such line
    need_pos = rows["claim_pos"][need]
    first = np.r_[True, need_pos[1:] != need_pos[:-1]] if len(need) else np.zeros(0, dtype=bool)
    auth_code = np.full(n, "none on file for these codes", dtype=object)
    auth_code[need_pos[first]] = rows["procedure_code"][need[first]]
    context["auth_rule_code"] = auth_code
    source = np.full(n, "payer rules", dtype=object)
    for i in need[first][rows["auth_learned"][need[first]]]:  # rare: format only these
        source[rows["claim_pos"][i]] = (
            f"learned: {rows['payer_id'][i]} denied about {rows['auth_evidence_rate'][i]:.0%} of "
            f"{rows['auth_evidence_lines'][i]:.0f} {rows['proc_family'][i]}xx lines sent without authorization "
            f"in the last {AUTH_WINDOW_DAYS} days"
        )
    context["auth_rule_source"] = source
    context["terminated_code"] = _first_flagged_code(rows, n, "edit_code_terminated")
    for flag, prefix, name, what in (
        ("noncovered_learned", "coverage", "coverage", "denied as not covered"),
        ("modifier_learned", "modifier", "modifier_policy", "sent without a modifier denied for coding"),
    ):
        context[f"{name}_code"], context[f"{name}_text"] = _learned_policy_context(
            rows, n, flag=flag, evidence=prefix, what=what
        )
    has_auth = ~pd.isna(claims["prior_auth_number"])
    context["auth_text"] = pick(("without an authorization number", "with an authorization number"), has_auth)
    # no number on a claim that needs one: get it; otherwise the one on file must fit the service
    unauthorized = np.zeros(n, dtype=bool)
    unauthorized[need_pos] = True
    unauthorized &= ~has_auth
    context["auth_action"] = np.full(n, category_actions["authorization"], dtype=object)
    for i in np.flatnonzero(unauthorized):  # few claims: format only these
        context["auth_action"][i] = (
            f"Obtain {context['payer_id'][i]}'s prior authorization for {auth_code[i]} before release"
        )
    context["filing_limit"] = claims["filing_limit"]
    verified = claims["eligibility_verified"]
    context["eligibility_text"] = pick(("no", "yes", "not recorded"), np.nan_to_num(verified, nan=2.0).astype(int))
    context["secondary_payer"] = text("secondary_payer_id", "none")
    flags = referral_missing(claims).astype(int) * 2 + (cols["lines_without_pointer"] > 0).astype(int)
    context["missing_text"] = _MISSING_TEXT[flags]
    # the payer's worst recent denial category, for the payer_history phrase
    cat_rates = np.column_stack([cols[f"payer_cat_{cat}_rate_recent"] for cat in CATEGORIES])
    top = np.nan_to_num(cat_rates, nan=-1).argmax(axis=1)
    context["payer_top_cat_rate"] = cat_rates[np.arange(len(top)), top]
    labels, actions = _category_texts(category_labels, category_actions)
    context["payer_top_cat_label"] = labels[top]
    context["payer_top_cat_action"] = actions[top]
    return context


def _first_flagged_code(rows: Columns, n: int, flag: str) -> np.ndarray:
    """Per claim: the code of its first line with `flag` set ('-' when none)."""
    hit = np.flatnonzero(rows[flag])
    pos = rows["claim_pos"][hit]
    first = np.r_[True, pos[1:] != pos[:-1]] if len(hit) else np.zeros(0, dtype=bool)
    out = np.full(n, "-", dtype=object)
    out[pos[first]] = rows["procedure_code"][hit[first]]
    return out


def _category_texts(labels: Mapping[str, str], actions: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Label (lower case) and preventive action per category, in CATEGORIES order."""
    texts = np.array([labels[c].lower() for c in CATEGORIES], dtype=object)
    return texts, np.array([actions[c] for c in CATEGORIES], dtype=object)


def _learned_policy_context(
    rows: Mapping[str, np.ndarray], n: int, *, flag: str, evidence: str, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """(code, evidence text) of each claim's first line a learned policy flags (features/learned_policies.py)."""
    flagged = np.flatnonzero(rows[flag])
    flagged_pos = rows["claim_pos"][flagged]
    lead = flagged[np.r_[True, flagged_pos[1:] != flagged_pos[:-1]]] if len(flagged) else flagged
    code = np.full(n, "none", dtype=object)
    code[rows["claim_pos"][lead]] = rows["procedure_code"][lead]
    text = np.full(n, "no recent evidence", dtype=object)
    for i in lead:  # rare: format only these
        text[rows["claim_pos"][i]] = (
            f"{rows['procedure_code'][i]}: {rows[f'{evidence}_evidence_rate'][i]:.0%} of "
            f"{rows[f'{evidence}_evidence_lines'][i]:.0f} lines {what} in the last {POLICY_WINDOW_DAYS} days"
        )
    return code, text
