"""Pre-submission edits learned from the history: what the payers' remits show they check, written as
rules a claim scrubber (and the written-rule features) can apply, each with its evidence.

Why: the prevention report says where the money goes; an edit says what to check on the next claim. A
payer's policy changes reach the team as denials long before anyone updates payer_rules.yaml, so the
history is read for five kinds of edit, and the ones the team's resolved rules (payer -> plan type ->
defaults) do not already carry are proposed (``claimsight edits``), accepted into payer_rules.yaml
(``features.prevention.edit_files``) or rejected and remembered:

===============  ======================================================  ==========================================
kind             cell (its lines) vs the rest                            a hit is a line (claim) denied with
===============  ======================================================  ==========================================
``auth``         payer x code, lines on claims without an authorization  an authorization-category adjustment
                 number, vs the payer's other unlisted no-auth lines     (CARC 15/197/198...; ``carc.csv``)
``modifier``     payer x code, lines without modifier M vs its lines     CARC 4 (procedure inconsistent with the
                 with M                                                  modifier)
``pair``         payer x (A, B): B lines on claims that also bill A vs   CARC 97 / 236 / B15 (bundled, NCCI pair,
                 the payer's B lines on claims without A                 qualifying service)
``dx``           payer x code x ICD-10 category (first 3 characters of   CARC 11 / 50 / 167 in the coding or
                 the diagnosis the line points at) vs the code's lines   medical-necessity category (so CARC 50
                 with other diagnoses                                    with M127, records not received, is not)
``filing``       payer: claims submitted at lags t..L days after the     a timely-filing adjustment (CARC 29)
                 first date of service (L the rule's timely_filing_days)
                 vs its claims submitted earlier than t
===============  ======================================================  ==========================================

For ``filing`` t is the smallest lag of a timely-filing denial within the written limit at which the
claims from t to L hold at least ``min_denials`` timely-filing denials at a rate of ``min_rate``; the
observed limit reported is t - 1 days. (t is chosen from the data, so its p-value is conditional on that
choice; the minimum rate and lift guard it.)

**Statistics** (the prevention report's discipline, ``features.prevention.patterns``): each cell is tested
against the rest of its parent with a one-sided Fisher exact test (the hypergeometric tail P(X >= x) given
the parent's lines and hits, exact because most cells hold a handful of denials), and the
Benjamini-Hochberg procedure controls the false discovery rate across every candidate of every kind with
at least one hit (a candidate below the minimum support gets p = 1, which only makes the procedure more
conservative). An edit is proposed only with q <= ``fdr``, at least ``min_lines`` lines (claims) and
``min_denials`` hits, a hit rate of at least ``min_rate``, at least ``min_lift`` times the rest's rate, and
at least ``min_reference`` lines in the rest. The authorization thresholds start from the learned
authorization features' (``features.auth_evidence``: MIN_LINES, MIN_RATE).

**Time.** Only claims whose first remit is dated on or before ``as_of`` (and after ``as_of`` minus ``months``)
count, with the adjustments of that first remit: what the team knew that day (DATA.md, "Time").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.auth_evidence import MIN_LINES, MIN_RATE
from features.claim_fields import line_frame
from features.contract.adjudication import denial_adjustments
from features.contract.codes import CodeTables
from features.contract.frames import member
from features.contract.labels import data_as_of
from features.contract.payer_rules import PayerRules
from features.prevention.patterns import bh_adjust, fisher_greater

__all__ = [
    "EDIT_COLUMNS",
    "KINDS",
    "EditRule",
    "edit_cell",
    "edit_id",
    "edit_lines",
    "learn_edits",
    "parse_edit_id",
]

KINDS = ("auth", "modifier", "pair", "dx", "filing")
MODIFIER_CARCS = frozenset({"4"})
BUNDLING_CARCS = frozenset({"97", "236", "B15"})
DX_CARCS = frozenset({"11", "50", "167"})
DX_CATEGORIES = frozenset({"coding", "medical_necessity"})

EDIT_COLUMNS = (
    "edit_id",  # kind:payer:code[:detail]; stable, so a decision on it is remembered (edit_decisions.yaml)
    "kind",  # auth, modifier, pair, dx, filing
    "payer_id",
    "plan_type",  # the most common plan type on the cell's claims (the rule in force resolved for it)
    "procedure_code",  # the code the edit is about (B of a pair); empty for filing
    "detail",  # modifier M / code A billed with it / ICD-10 category / observed filing limit (days)
    "field",  # the payer_rules.yaml field the edit writes
    "unit",  # line or claim
    "seen",  # lines (claims) in the cell
    "denied",  # of them, hits (see the module docstring)
    "denial_rate",
    "reference_seen",  # lines (claims) in the rest it is tested against
    "reference_rate",
    "lift",
    "p_value",  # one-sided Fisher exact, cell vs rest
    "q_value",  # Benjamini-Hochberg across every candidate of every kind
    "carcs",  # the denying group-CARC (RARCs) on the hits, most frequent first, with counts
    "first_seen",  # first remit date of the first and last hit
    "last_seen",
    "rule_in_force",  # the team's resolved value today (filing: timely_filing_days), and where it comes from
    "status",  # new, accepted, rejected (edit_decisions.yaml)
    "as_of",
)
_FIELD = {
    "auth": "auth_required",
    "modifier": "modifier_required",
    "pair": "denied_together",
    "dx": "dx_not_supporting",
    "filing": "timely_filing_days",
}


@dataclass(frozen=True)
class EditRule:
    """Thresholds of the edit test (module docstring)."""

    fdr: float = 0.05
    months: int = 12
    min_lines: int = MIN_LINES
    min_denials: int = 5
    min_rate: float = MIN_RATE
    min_lift: float = 3.0
    min_reference: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.fdr < 1:
            raise ValueError(f"fdr must be between 0 and 1, got {self.fdr!r}")
        if self.months < 1:
            raise ValueError("months must be at least 1")


def edit_id(kind: str, payer_id: str, code: str = "", detail: str = "") -> str:
    """``auth:P1:70551``, ``modifier:P1:97110:GP``, ``pair:P1:97140+97530`` (A+B), ``dx:P1:97110:M54``,
    ``filing:P1`` (one per payer: a rejection means "our written limit stands")."""
    if kind == "filing":
        return f"filing:{payer_id}"
    if kind == "pair":
        return f"pair:{payer_id}:{detail}+{code}"
    return ":".join(x for x in (kind, payer_id, code, detail) if x)


def parse_edit_id(ident: str) -> dict[str, str]:
    """The edit an id names: kind, payer_id, procedure_code and detail as ``edit_id`` was given them (so
    ``edit_id(**parse_edit_id(i)) == i``); ValueError when it is not an edit id."""
    kind, _, rest = str(ident).partition(":")
    parts = rest.split(":")
    if kind not in KINDS or not parts[0]:
        raise ValueError(f"not an edit id (expected KIND:PAYER..., KIND one of {', '.join(KINDS)})")
    payer, code, detail = parts[0], "", ""
    if kind == "filing" and len(parts) == 1:
        pass
    elif kind == "pair" and len(parts) == 2 and parts[1].count("+") == 1:
        detail, code = parts[1].split("+")
    elif kind == "auth" and len(parts) == 2:
        code = parts[1]
    elif kind in ("modifier", "dx") and len(parts) == 3:
        code, detail = parts[1], parts[2]
    else:
        raise ValueError(f"not a {kind} edit id (see features.prevention.edits.edit_id for the forms)")
    if not all(parts) or (kind == "pair" and not (code and detail)):
        raise ValueError(f"not a {kind} edit id: an empty part")
    return {"kind": kind, "payer_id": payer, "procedure_code": code, "detail": detail}


# ---- the line frame ---------------------------------------------------------------------------------------------
def edit_lines(
    tables: Mapping[str, pd.DataFrame],
    labels: pd.DataFrame,
    *,
    codes: CodeTables,
    as_of: pd.Timestamp,
    months: int,
    routine: frozenset[tuple[str, str]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(lines, reasons): one row per line of an original claim whose first remit lies in the window, with its
    keys and one boolean per kind saying whether it is a hit (`hit_<kind>`, `filing` per claim), and the
    denial adjustments behind the hits (`row`, `kind`, `label` 'CO-197 M62')."""
    as_of = pd.Timestamp(as_of)
    first = labels["first_remit_date"]
    window = ((first > as_of - pd.DateOffset(months=months)) & (first <= as_of)).to_numpy(dtype=bool)
    lab = labels[window].set_index("claim_id")
    claims = tables["claims"]
    claims = claims[member(claims["claim_id"], lab.index)]
    lines = line_frame(claims, tables["claim_lines"])
    lines["row"] = np.arange(len(lines))
    lines["first_remit_date"] = lab["first_remit_date"].reindex(lines["claim_id"]).to_numpy()
    lines["procedure_code"] = lines["procedure_code"].astype("string").str.strip().str.upper().fillna("")
    lines["payer_id"] = lines["payer_id"].astype("string").fillna("")
    dates = claims.set_index("claim_id")[["submitted_at", "service_from"]].reindex(lines["claim_id"])
    lag = (pd.to_datetime(dates["submitted_at"]) - pd.to_datetime(dates["service_from"])).dt.days
    lines["lag_days"] = lag.to_numpy(dtype=float)

    denial = denial_adjustments(tables["adjustments"], lab["first_remit_id"].dropna(), codes=codes, routine=routine)
    denial = denial.assign(
        adjustment=np.arange(len(denial)),
        category=codes.categorize(denial["carc"], denial["remark_codes"]).astype(str).to_numpy(),
        carc=denial["carc"].astype("string").str.strip().str.upper(),
        line_number=pd.to_numeric(denial["line_number"], errors="coerce"),
    )
    keys = lines[["claim_id", "line_number", "row"]].assign(line_number=pd.to_numeric(lines["line_number"]))
    on_line = denial[denial["line_number"].notna()].merge(keys, on=["claim_id", "line_number"])
    on_claim = denial[denial["line_number"].isna()].drop(columns="line_number").merge(keys, on="claim_id")
    reasons = pd.concat([on_line, on_claim], ignore_index=True)
    remarks = reasons["remark_codes"].astype("string").fillna("")
    reasons["label"] = (
        reasons["group_code"].astype(str) + "-" + reasons["carc"].astype(str) + " " + remarks
    ).str.strip()
    carc, category = reasons["carc"].astype(str), reasons["category"]
    kinds = {
        "auth": (category == "authorization").to_numpy(),
        "modifier": carc.isin(MODIFIER_CARCS).to_numpy(),
        "pair": carc.isin(BUNDLING_CARCS).to_numpy(),
        "dx": (carc.isin(DX_CARCS) & category.isin(DX_CATEGORIES)).to_numpy(),
        "filing": (category == "timely_filing").to_numpy(),
    }
    parts = []
    for kind, mask in kinds.items():
        hit = np.zeros(len(lines), dtype=bool)
        hit[reasons.loc[mask, "row"].to_numpy(dtype=np.int64)] = True
        lines[f"hit_{kind}"] = hit
        parts.append(reasons.loc[mask, ["row", "label", "amount", "adjustment"]].assign(kind=kind))
    return lines, pd.concat(parts, ignore_index=True)


# ---- candidates per kind ----------------------------------------------------------------------------------------
def _cells(frame: pd.DataFrame, keys: list[str], hit: str) -> pd.DataFrame:
    g = frame.groupby(keys, observed=True, sort=True)
    return g.agg(seen=(hit, "size"), denied=(hit, "sum")).reset_index()


def _mode(values: pd.Series) -> str:
    counts = values.astype(str).value_counts()
    return str(counts.index[0]) if len(counts) else ""


def _plans(lines: pd.DataFrame) -> dict[str, str]:
    """Each payer's most common plan type (the rule in force is resolved for it)."""
    counts = lines.groupby(["payer_id", "plan_type"], observed=True).size().sort_values(ascending=False, kind="stable")
    return {str(p): str(t) for p, t in counts.index[~counts.index.get_level_values(0).duplicated()]}


def _with_parent(cells: pd.DataFrame, parents: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    p = parents[[*on, "seen", "denied"]].rename(columns={"seen": "parent_seen", "denied": "parent_denied"})
    out = cells.merge(p, on=on, how="left")
    return out


def _auth(lines: pd.DataFrame, rules: PayerRules) -> pd.DataFrame:
    no_auth = lines[lines["has_auth"].to_numpy() == "no_auth"]
    listed = rules.auth_required(no_auth["payer_id"], no_auth["plan_type"], no_auth["procedure_code"])
    unlisted = no_auth[~listed]
    cells = _cells(unlisted, ["payer_id", "procedure_code"], "hit_auth")
    parents = _cells(unlisted, ["payer_id"], "hit_auth")
    out = _with_parent(cells, parents, ["payer_id"])
    return out.assign(kind="auth", detail="", unit="line", plan_type=out["payer_id"].map(_plans(lines)))


def _exploded_modifiers(lines: pd.DataFrame) -> pd.DataFrame:
    keys = lines["modifier_key"].astype(str)
    has = keys != "-"
    mods = keys[has].str.split("|").explode()
    return lines.loc[mods.index].assign(modifier=mods.to_numpy())


def _modifier(lines: pd.DataFrame, rules: PayerRules) -> pd.DataFrame:
    with_m = _exploded_modifiers(lines)
    by_m = _cells(with_m, ["payer_id", "procedure_code", "modifier"], "hit_modifier")
    parents = _cells(lines, ["payer_id", "procedure_code"], "hit_modifier")
    out = _with_parent(by_m, parents, ["payer_id", "procedure_code"])
    out["plan_type"] = out["payer_id"].map(_plans(lines))
    # the cell is the lines WITHOUT M: parent minus the lines with it
    out["seen"], out["denied"] = out["parent_seen"] - out["seen"], out["parent_denied"] - out["denied"]
    in_force = [
        m in rules.lookup(payer_id=p, plan_type=t).modifier_required.get(c, ())
        for p, t, c, m in zip(out["payer_id"], out["plan_type"], out["procedure_code"], out["modifier"], strict=True)
    ]
    out = out[~np.array(in_force, dtype=bool)] if len(out) else out
    return out.rename(columns={"modifier": "detail"}).assign(kind="modifier", unit="line")


def _pair(lines: pd.DataFrame, rules: PayerRules) -> pd.DataFrame:
    left = lines[["claim_id", "procedure_code"]].rename(columns={"procedure_code": "detail"})
    right = lines[["claim_id", "row", "payer_id", "plan_type", "procedure_code", "hit_pair"]]
    both = right.merge(left, on="claim_id")
    both = both[both["detail"] != both["procedure_code"]].drop_duplicates(["row", "detail"])
    cells = _cells(both, ["payer_id", "procedure_code", "detail"], "hit_pair")
    parents = _cells(lines, ["payer_id", "procedure_code"], "hit_pair")
    out = _with_parent(cells, parents, ["payer_id", "procedure_code"])
    out["plan_type"] = out["payer_id"].map(_plans(lines))
    in_force = [
        (a, b) in rules.lookup(payer_id=p, plan_type=t).denied_together
        for p, t, a, b in zip(out["payer_id"], out["plan_type"], out["detail"], out["procedure_code"], strict=True)
    ]
    out = out[~np.array(in_force, dtype=bool)] if len(out) else out
    return out.assign(kind="pair", unit="line")


def _dx(lines: pd.DataFrame, rules: PayerRules) -> pd.DataFrame:
    with_dx = lines.assign(detail=lines["dx_category"].astype("string").fillna("").str.upper())
    with_dx = with_dx[with_dx["detail"] != ""]
    cells = _cells(with_dx, ["payer_id", "procedure_code", "detail"], "hit_dx")
    parents = _cells(with_dx, ["payer_id", "procedure_code"], "hit_dx")
    out = _with_parent(cells, parents, ["payer_id", "procedure_code"])
    out["plan_type"] = out["payer_id"].map(_plans(lines))

    def listed(payer: str, plan: str, code: str, category: str) -> bool:
        prefixes = rules.lookup(payer_id=payer, plan_type=plan).dx_not_supporting.get(code, ())
        return any(category.startswith(x) or x.startswith(category) for x in prefixes)

    in_force = [
        listed(p, t, c, d)
        for p, t, c, d in zip(out["payer_id"], out["plan_type"], out["procedure_code"], out["detail"], strict=True)
    ]
    out = out[~np.array(in_force, dtype=bool)] if len(out) else out
    return out.assign(kind="dx", unit="line")


def _filing(lines: pd.DataFrame, rules: PayerRules, rule: EditRule) -> pd.DataFrame:
    claims = lines.drop_duplicates("claim_id")
    claims = claims.assign(limit=rules.timely_filing_days(claims["payer_id"], claims["plan_type"]))
    claims = claims[claims["lag_days"].notna() & (claims["lag_days"] <= claims["limit"])]
    rows = []
    for payer, group in claims.groupby("payer_id", observed=True, sort=True):
        lag = group["lag_days"].to_numpy(dtype=float)
        hit = group["hit_filing"].to_numpy(dtype=bool)
        if not hit.any():
            continue
        chosen = None
        for t in np.unique(lag[hit]):
            inside = lag >= t
            x, n = int(hit[inside].sum()), int(inside.sum())
            if x >= rule.min_denials and x / n >= rule.min_rate:
                chosen = (t, x, n)
                break
        if chosen is None:  # still a candidate for the FDR count (p = 1 below: not enough support)
            t, x, n = float(lag[hit].min()), int(hit[lag >= lag[hit].min()].sum()), int((lag >= lag[hit].min()).sum())
        else:
            t, x, n = chosen
        rows.append(
            {
                "payer_id": payer,
                "procedure_code": "",
                "detail": str(int(t) - 1),
                "plan_type": _mode(group["plan_type"]),
                "seen": n,
                "denied": x,
                "parent_seen": len(group),
                "parent_denied": int(hit.sum()),
                "rows": group.loc[(lag >= t) & hit, "row"].to_numpy(),
            }
        )
    columns = ["payer_id", "procedure_code", "detail", "plan_type", "seen", "denied", "parent_seen", "parent_denied"]
    out = pd.DataFrame(rows, columns=[*columns, "rows"])
    return out.assign(kind="filing", unit="claim")


# ---- the edits --------------------------------------------------------------------------------------------------
def learn_edits(
    tables: Mapping[str, pd.DataFrame],
    labels: pd.DataFrame,
    *,
    codes: CodeTables,
    rules: PayerRules,
    as_of: pd.Timestamp | None = None,
    rule: EditRule | None = None,
    decisions: Mapping[str, str] | None = None,
    routine: frozenset[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Every edit the history supports and the team's rules do not carry, one row each (EDIT_COLUMNS), most
    significant first. `rules` are the team's resolved rules today (shipped + data_dir); `decisions` maps
    edit ids to 'accepted' / 'rejected' (their status; the export leaves them out). `labels` are
    compute_labels' output; only first remits on or before `as_of` (default: the latest date) count."""
    rule = rule or EditRule()
    day = data_as_of(tables) if as_of is None else pd.Timestamp(as_of)
    lines, reasons = edit_lines(tables, labels, codes=codes, as_of=day, months=rule.months, routine=routine)
    candidates = pd.concat(
        [
            _auth(lines, rules),
            _modifier(lines, rules),
            _pair(lines, rules),
            _dx(lines, rules),
            _filing(lines, rules, rule),
        ],
        ignore_index=True,
    )
    candidates = candidates[candidates["denied"] > 0].reset_index(drop=True)
    if candidates.empty:
        return pd.DataFrame(columns=list(EDIT_COLUMNS))
    x, n = candidates["denied"].to_numpy(dtype=np.int64), candidates["seen"].to_numpy(dtype=np.int64)
    px, pn = candidates["parent_denied"].to_numpy(dtype=np.int64), candidates["parent_seen"].to_numpy(dtype=np.int64)
    rate = x / np.maximum(n, 1)
    rest_n, rest_x = pn - n, px - x
    ref = rest_x / np.maximum(rest_n, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(ref > 0, rate / np.where(ref > 0, ref, 1.0), np.inf)
    eligible = (
        (n >= rule.min_lines)
        & (x >= rule.min_denials)
        & (rate >= rule.min_rate)
        & (lift >= rule.min_lift)
        & (rest_n >= rule.min_reference)
    )
    p = np.ones(len(x))
    if eligible.any():
        p[eligible] = fisher_greater(x[eligible], n[eligible], px[eligible], pn[eligible])
    q = bh_adjust(p)
    candidates = candidates.assign(
        denial_rate=rate, reference_seen=rest_n, reference_rate=ref, lift=lift, p_value=p, q_value=q
    )
    found = candidates[eligible & (q <= rule.fdr)].reset_index(drop=True)
    return _describe(found, lines, reasons, rules=rules, as_of=day, decisions=decisions or {})


def _hit_rows(edit: pd.Series, lines: pd.DataFrame) -> np.ndarray:
    """Rows of the cell's hits (the evidence behind one edit)."""
    if edit["kind"] == "filing":
        return np.asarray(edit["rows"], dtype=np.int64)
    hits = edit_cell(edit, lines) & lines[f"hit_{edit['kind']}"].to_numpy(dtype=bool)
    return lines.loc[hits, "row"].to_numpy(dtype=np.int64)


def edit_cell(edit: Mapping[str, str] | pd.Series, lines: pd.DataFrame) -> np.ndarray:
    """Which rows of `edit_lines` an edit is about (kind, payer_id, procedure_code, detail: ``parse_edit_id``):
    auth, the code's lines on the payer's claims without an authorization number; modifier, its lines without
    the modifier; pair, B's lines on claims that also bill A; dx, its lines pointing at the ICD-10 category.
    A hit is such a row with ``hit_<kind>``. Once a team accepts the edit the rules list it, so no "not
    listed yet" condition applies here: the same lines are read before and after (``effects``).

    filing: one row per claim of the payer (its first line). Learning tests the claims submitted late (lags
    t..L, t chosen from the data), but the edit acts by making claims go out before the observed limit, so
    its effect shows in the payer's claims as a whole, not in the few that still go late."""
    kind = edit["kind"]
    same = (lines["payer_id"] == edit["payer_id"]).to_numpy(dtype=bool)
    if kind == "filing":
        return same & ~lines["claim_id"].duplicated().to_numpy()
    same &= (lines["procedure_code"] == edit["procedure_code"]).to_numpy(dtype=bool)
    if kind == "auth":
        same &= (lines["has_auth"] == "no_auth").to_numpy(dtype=bool)
    elif kind == "modifier":
        at = np.flatnonzero(same)
        carries = [edit["detail"] in str(k).split("|") for k in lines["modifier_key"].to_numpy()[at]]
        same[at[np.array(carries, dtype=bool)]] = False
    elif kind == "dx":
        same &= (lines["dx_category"].astype("string").fillna("").str.upper() == edit["detail"]).to_numpy(dtype=bool)
    elif kind == "pair":
        claims_with_a = lines.loc[lines["procedure_code"] == edit["detail"], "claim_id"]
        same &= member(lines["claim_id"], claims_with_a)
    return same


def _in_force(edit: pd.Series, rules: PayerRules) -> str:
    resolved = rules.lookup(payer_id=edit["payer_id"], plan_type=edit["plan_type"] or None)
    field = _FIELD[edit["kind"]]
    value = getattr(resolved, field)
    if edit["kind"] in ("modifier", "dx"):
        value = "|".join(value.get(edit["procedure_code"], ())) or "none"
    elif edit["kind"] in ("auth", "pair"):
        value = f"{len(value)} entries"
    return f"{value} ({resolved.source.get(field, 'default')})"


def _describe(
    found: pd.DataFrame,
    lines: pd.DataFrame,
    reasons: pd.DataFrame,
    *,
    rules: PayerRules,
    as_of: pd.Timestamp,
    decisions: Mapping[str, str],
) -> pd.DataFrame:
    if found.empty:
        return pd.DataFrame(columns=list(EDIT_COLUMNS))
    rows = []
    dates = pd.to_datetime(lines["first_remit_date"]).to_numpy()
    for _, edit in found.iterrows():
        hits = _hit_rows(edit, lines)
        why = reasons[(reasons["kind"] == edit["kind"]).to_numpy() & member(reasons["row"], hits)]
        top = why.drop_duplicates(["row", "label"])["label"].value_counts().head(3)
        ident = edit_id(edit["kind"], edit["payer_id"], edit["procedure_code"], edit["detail"])
        seen_dates = dates[hits] if len(hits) else np.array([], dtype="datetime64[ns]")
        rows.append(
            {
                "edit_id": ident,
                "kind": edit["kind"],
                "payer_id": edit["payer_id"],
                "plan_type": edit["plan_type"],
                "procedure_code": edit["procedure_code"],
                "detail": edit["detail"],
                "field": _FIELD[edit["kind"]],
                "unit": edit["unit"],
                "seen": int(edit["seen"]),
                "denied": int(edit["denied"]),
                "denial_rate": float(edit["denial_rate"]),
                "reference_seen": int(edit["reference_seen"]),
                "reference_rate": float(edit["reference_rate"]),
                "lift": float(edit["lift"]),
                "p_value": float(edit["p_value"]),
                "q_value": float(edit["q_value"]),
                "carcs": ", ".join(f"{label} ({count})" for label, count in top.items()),
                "first_seen": pd.Timestamp(seen_dates.min()).date().isoformat() if len(seen_dates) else "",
                "last_seen": pd.Timestamp(seen_dates.max()).date().isoformat() if len(seen_dates) else "",
                "rule_in_force": _in_force(edit, rules),
                "status": decisions.get(ident, "new"),
                "as_of": as_of.date().isoformat(),
            }
        )
    out = pd.DataFrame(rows, columns=list(EDIT_COLUMNS))
    return out.sort_values(["q_value", "p_value", "edit_id"], ignore_index=True)
