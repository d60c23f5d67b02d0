"""Recovery features: what is known about a denial the day its first remit arrives.

A denial's recovery features (DATA.md, "Time") use only
- its own claim and its FIRST remit (status, paid amount, CARCs, RARCs, group codes, amounts, date),
- follow-ups dated before that remit and the payer rules (the recommended action and its deadline), and
- aggregates over OTHER denials whose maturity window closed strictly before this denial's remit date.

An outcome event is a mature denial dated on the day its outcome became known, first_remit_date +
maturity_days (the last day a payment can still count as recovered). `HistoryAggregates` counts an
event for a query iff event day < query day, and the query day is the denial's own first_remit_date, so
"closed strictly before" holds by construction, and a denial's own outcome (dated 180 days after its own
remit) can never reach its own features.

Every feature is declared once in FEATURES (name, meaning, source, as-of rule, reason group).
`RecoveryFeatureBuilder` holds the fitted state (category levels, history aggregates) and saves it as
plain arrays and JSON.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from features.claim_fields import day_number
from features.contract.adjudication import denial_adjustments, largest_first
from features.contract.codes import CodeTables
from features.contract.frames import member
from features.contract.labels import DEFAULT_MATURITY_DAYS
from features.contract.payer_rules import PayerRules
from features.decisions.action_frame import recommend_frame
from features.declarations import AggregateSpec, FeatureDef, ReasonGroup
from features.history import HistoryAggregates

__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "REASON_GROUPS",
    "RECOVERY_SPECS",
    "RecoveryFeatureBuilder",
    "denial_frame",
    "recovery_events",
]

WINDOW_DAYS = 90
_AS_OF_OWN = "the denial's own claim and first remit"
_AS_OF_HISTORY = "mature denials whose maturity window closed strictly before this denial's first remit date"
_NONE = "none"  # key level of a denial with no denial adjustment (status 4 alone)


# Reason groups: why a denial looks recoverable (or not), phrased with the denial's own payer and codes.
REASON_GROUPS: dict[str, ReasonGroup] = {
    g.name: g
    for g in (
        ReasonGroup(
            "denial_codes",
            "a {denial_category} denial ({top_group}-{top_carc}); recommended: {recommended_action}",
            "other",
            "{action_rule}",
        ),
        ReasonGroup(
            "denied_amount",
            "${denied_amount:,.0f} denied ({denied_share:.0%} of the claim)",
            "other",
            "Work it before its deadline: the amount at stake is large",
        ),
        ReasonGroup(
            "payer_history",
            "{payer_recovery_rate:.0%} of payer {payer_id}'s mature denials were recovered",
            "other",
            "Follow {payer_id}'s usual route ({recommended_action}); it has paid on review before",
        ),
        ReasonGroup(
            "provider_history",
            "{provider_recovery_rate:.0%} of provider {billing_npi}'s mature denials were recovered",
            "other",
            "Use the provider's documentation that won earlier reviews",
        ),
        ReasonGroup(
            "category_history",
            "{category_recovery_rate:.0%} of {denial_category} denials from {payer_id} were recovered",
            "other",
            "{action_rule}",
        ),
        ReasonGroup(
            "carc_history",
            "{carc_recovery_rate:.0%} of denials with CARC {top_carc} from {payer_id} were recovered",
            "other",
            "{action_rule}",
        ),
        ReasonGroup(
            "timing",
            "{deadline_days:.0f} days from the denial to the deadline ({deadline_rule})",
            "timely_filing",
            "Act before {deadline:%Y-%m-%d}",
        ),
    )
}

CATEGORICAL = (
    "payer_id",
    "plan_type",
    "billing_npi",
    "facility_id",
    "denial_category",
    "top_carc",
    "top_group",
    "recommended_action",
)
_CATEGORICAL_GROUP = {
    "payer_id": "payer_history",
    "plan_type": "payer_history",
    "billing_npi": "provider_history",
    "facility_id": "provider_history",
}
_SOURCE_FIRST_REMIT = "claims, first remit and its adjustments"

# name: (meaning, source, reason group)
_OWN_NUMERIC: dict[str, tuple[str, str, str]] = {
    "total_charge": ("billed amount of the claim", "claims", "denied_amount"),
    "denied_amount": ("denied amount on the first remit (DATA.md labels)", _SOURCE_FIRST_REMIT, "denied_amount"),
    "denied_share": ("denied amount / total charge", _SOURCE_FIRST_REMIT, "denied_amount"),
    "full_denial": ("whole claim refused: first remit status 4 or nothing paid", _SOURCE_FIRST_REMIT, "denied_amount"),
    "n_denial_adjustments": (
        "denial (non-routine) adjustments on the first remit",
        _SOURCE_FIRST_REMIT,
        "denial_codes",
    ),
    "has_rarc": ("any denial adjustment on the first remit carries a remark code", _SOURCE_FIRST_REMIT, "denial_codes"),
    "any_co": (
        "any denial adjustment with group code CO (contractual obligation)",
        _SOURCE_FIRST_REMIT,
        "denial_codes",
    ),
    "any_pr": (
        "any denial adjustment with group code PR (patient responsibility)",
        _SOURCE_FIRST_REMIT,
        "denial_codes",
    ),
    "any_oa": ("any denial adjustment with group code OA (other adjustment)", _SOURCE_FIRST_REMIT, "denial_codes"),
    "appeal_rights": (
        "1 appeal rights, 0 a remark says none, NaN not stated",
        "first remit's remark codes, code tables",
        "denial_codes",
    ),
    "deadline_days": (
        "days from the denial to the deadline of the recommended action (NaN: no payer deadline)",
        "payer rules, first remit date, service date",
        "timing",
    ),
    "service_to_denial_days": ("days from the date of service to the denial", "claims, first remit", "timing"),
    "prior_followups": (
        "follow-ups on this claim dated before the denial (earlier attempts)",
        "followups",
        "timing",
    ),
}
_HISTORY_GROUP = {"payer": "payer_history", "provider": "provider_history", "category": "category_history",
                  "carc": "carc_history"}  # fmt: skip

# Targets: recovered (0/1) and recovered_share (recovered / denied amount, clipped to [0, 1]).
_HIERARCHIES: tuple[tuple[str, tuple[tuple[str, ...], ...], str], ...] = (
    ("payer", ((), ("plan_type",), ("payer_id",)), "this payer"),
    ("provider", ((), ("billing_npi",)), "this billing provider"),
    ("category", ((), ("denial_category",), ("payer_id", "denial_category")), "this payer and denial category"),
    (
        "carc",
        ((), ("denial_category",), ("top_carc",), ("payer_id", "top_carc")),
        "this payer and top CARC",
    ),
)
RECOVERY_SPECS: tuple[AggregateSpec, ...] = tuple(
    spec
    for name, levels, whom in _HIERARCHIES
    for spec in (
        AggregateSpec(f"{name}_recovery", levels, "recovered", f"share of mature denials of {whom} recovered"),
        AggregateSpec(f"{name}_share", levels, "recovered_share", f"share of denied dollars of {whom} recovered"),
    )
)
# the share specs count the same events as the recovery specs: keep only their rates
_SPEC_SUFFIXES = {
    "recovered": (("rate", "smoothed, all history"), ("n", "volume, all history"),
                  ("rate_recent", "smoothed, last 90 days"), ("n_recent", "volume, last 90 days")),
    "recovered_share": (("rate", "smoothed, all history"), ("rate_recent", "smoothed, last 90 days")),
}  # fmt: skip


def _declare() -> tuple[FeatureDef, ...]:
    defs = [
        FeatureDef(
            c,
            f"{c} (level fixed at fit; unseen = NaN)",
            "payer rules" if c == "recommended_action" else _SOURCE_FIRST_REMIT,
            _AS_OF_OWN,
            _CATEGORICAL_GROUP.get(c, "denial_codes"),
            categorical=True,
        )
        for c in CATEGORICAL
    ]
    defs += [
        FeatureDef(name, meaning, source, _AS_OF_OWN, group) for name, (meaning, source, group) in _OWN_NUMERIC.items()
    ]
    for spec in RECOVERY_SPECS:
        hierarchy = spec.name.rsplit("_", 1)[0]
        for suffix, what in _SPEC_SUFFIXES[spec.target]:
            defs.append(
                FeatureDef(
                    f"{spec.name}_{suffix}",
                    f"{spec.meaning} ({what})",
                    "outcomes of other mature denials",
                    _AS_OF_HISTORY,
                    _HISTORY_GROUP[hierarchy],
                )
            )
    return tuple(defs)


FEATURES: tuple[FeatureDef, ...] = _declare()
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)


def denial_frame(
    tables: Mapping[str, pd.DataFrame],
    labels: pd.DataFrame,
    *,
    codes: CodeTables,
    rules: PayerRules,
    routine: frozenset[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """One row per initially denied original claim with the fields known the day its first remit arrived.

    Reads only the claim, the first remit and that remit's adjustments, follow-ups dated before that
    remit, and the payer rules (never a later remit, a later follow-up, or the recovery labels).
    Group-code flags, has_rarc, the adjustment count and the top CARC look at the denial adjustments as
    the label reads them (non-routine, amount > 0). The recommended action, its deadline
    and the rules that gave them (features/decisions/actions.py, deadlines.py) travel with each row, so the
    queue and the model see the same decision.
    """
    claims, remits, adj = tables["claims"], tables["remits"], tables["adjustments"]
    denied = labels[labels["initial_denial"].to_numpy(dtype=bool, na_value=False)]
    out = denied[["claim_id", "first_remit_id", "first_remit_date", "denied_amount", "denial_category"]]
    out = out.reset_index(drop=True)
    claim_cols = ["claim_id", "payer_id", "plan_type", "billing_npi", "facility_id", "total_charge", "service_from"]
    # the decision reads these when the history has them (a through date, the claim type, a second payer)
    claim_cols += [c for c in ("service_to", "claim_type", "secondary_payer_id") if c in claims.columns]
    out = out.merge(claims[claim_cols], on="claim_id", how="left", validate="one_to_one")
    first = remits.set_index("remit_id")
    status = out["first_remit_id"].map(first["status_code"])
    paid = out["first_remit_id"].map(first["paid_amount"]).astype("float64")

    # the label's denial adjustments (non-routine, amount > 0): a give-back never describes the denial
    denial = denial_adjustments(adj, out["first_remit_id"], codes=codes, routine=routine)
    group = denial["group_code"].astype("string").str.strip().str.upper()
    rarc = denial["remark_codes"].astype("string").str.strip().fillna("").ne("")
    per_remit = pd.DataFrame(
        {
            "remit_id": denial["remit_id"].to_numpy(),
            "n": 1.0,
            "rarc": rarc.to_numpy(dtype=float),
            "co": group.eq("CO").to_numpy(dtype=float, na_value=0.0),
            "pr": group.eq("PR").to_numpy(dtype=float, na_value=0.0),
            "oa": group.eq("OA").to_numpy(dtype=float, na_value=0.0),
        }
    ).groupby("remit_id", sort=False)
    counts, flags = per_remit["n"].sum(), per_remit[["rarc", "co", "pr", "oa"]].max()
    # the largest denial adjustment, ordered exactly as labels.py picks the denial category
    largest = largest_first(denial).set_index("remit_id")

    total = out["total_charge"].astype("float64")
    amount = out["denied_amount"].astype("float64")
    out["denied_share"] = np.where(total > 0, amount / total.where(total > 0), np.nan)
    out["full_denial"] = (status.eq("4") | paid.eq(0.0)).to_numpy(dtype=float, na_value=0.0)
    out["n_denial_adjustments"] = out["first_remit_id"].map(counts).fillna(0.0).astype("float64")
    out["has_rarc"] = out["first_remit_id"].map(flags["rarc"]).fillna(0.0).astype("float64")
    for g in ("co", "pr", "oa"):
        out[f"any_{g}"] = out["first_remit_id"].map(flags[g]).fillna(0.0).astype("float64")
    top_carc = out["first_remit_id"].map(largest["carc"]).astype("string").str.strip().str.upper()
    out["top_carc"] = top_carc.fillna(_NONE)
    out["top_group"] = out["first_remit_id"].map(largest["group_code"]).astype("string").str.upper().fillna(_NONE)
    out["plan_type"] = out["plan_type"].astype("string").fillna("unknown")
    out["denial_category"] = out["denial_category"].astype("string").fillna("other")
    out["denied_amount"] = amount
    out["total_charge"] = total

    decided = recommend_frame(out, adj, rules=rules, codes=codes, routine=routine)
    out["recommended_action"] = decided["action"].to_numpy()
    out["action_rule"] = decided["action_rule"].to_numpy()
    for column in ("action_group", "patient_amount", "payer_amount", "write_off_amount", "line_plan"):
        out[column] = decided[column].to_numpy()
    out["deadline"] = decided["deadline"].to_numpy()
    out["deadline_rule"] = decided["deadline_rule"].to_numpy()
    rights = decided["appeal_rights"].astype("Float64")
    out["appeal_rights"] = rights.to_numpy(dtype="float64", na_value=np.nan)
    remit_day = day_number(out["first_remit_date"])
    deadline = pd.Series(pd.to_datetime(out["deadline"]))
    due_day = day_number(deadline.fillna(out["first_remit_date"]))
    out["deadline_days"] = np.where(deadline.notna(), due_day - remit_day, np.nan)
    served = pd.to_datetime(out["service_from"])
    served_day = day_number(served.fillna(out["first_remit_date"]))
    out["service_to_denial_days"] = np.where(served.notna(), remit_day - served_day, np.nan)
    out["prior_followups"] = _prior_followups(tables.get("followups"), out)
    return out


def _prior_followups(followups: pd.DataFrame | None, denials: pd.DataFrame) -> np.ndarray:
    """Follow-ups on a denial's claim dated strictly before its first remit: attempts made before the denial."""
    if followups is None or not len(followups):
        return np.zeros(len(denials))
    rows = followups[member(followups["claim_id"], denials["claim_id"])]
    remit_date = rows["claim_id"].map(denials.set_index("claim_id")["first_remit_date"])
    counts = rows[pd.to_datetime(rows["action_date"]) < pd.to_datetime(remit_date)].groupby("claim_id").size()
    return denials["claim_id"].map(counts).fillna(0).to_numpy(dtype="float64")


def recovery_events(
    denials: pd.DataFrame, labels: pd.DataFrame, *, maturity_days: int = DEFAULT_MATURITY_DAYS
) -> pd.DataFrame:
    """Mature denials as outcome events, dated first_remit_date + maturity_days (`event_day`).

    Targets: `recovered` (0/1) and `recovered_share` = recovered_amount / denied_amount in [0, 1]
    (null when nothing was denied, so that event is skipped for the share)."""
    lab = labels.set_index("claim_id")
    mature = lab["mature"].to_numpy(dtype=bool, na_value=False) & lab["recovered"].notna().to_numpy()
    lab = lab[mature]
    events = denials[member(denials["claim_id"], lab.index)].reset_index(drop=True)
    rows = lab.loc[events["claim_id"]]
    recovered = rows["recovered"].to_numpy(dtype="float64", na_value=np.nan)
    amount = rows["recovered_amount"].to_numpy(dtype="float64", na_value=np.nan)
    denied = events["denied_amount"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(denied > 0, np.clip(amount / denied, 0.0, 1.0), np.nan)
    events["recovered"] = recovered
    events["recovered_share"] = share
    events["event_day"] = day_number(events["first_remit_date"]) + int(maturity_days)
    return events


class RecoveryFeatureBuilder:
    """Fitted feature state for the recovery model: category levels and recovery history aggregates."""

    def __init__(
        self,
        *,
        maturity_days: int = DEFAULT_MATURITY_DAYS,
        window_days: int = WINDOW_DAYS,
        prior_strength: float = 20.0,
    ) -> None:
        self.maturity_days = maturity_days
        self.window_days = window_days
        self.prior_strength = prior_strength

    @property
    def feature_names(self) -> list[str]:
        return list(FEATURE_NAMES)

    def fit(self, *, denials: pd.DataFrame, labels: pd.DataFrame) -> RecoveryFeatureBuilder:
        """`denials`: denial_frame(...) of the whole history; `labels`: compute_labels(...) of the same tables."""
        # levels come from every denial, never from which denials happen to be mature
        self.levels_ = {c: sorted(denials[c].dropna().astype(str).unique()) for c in CATEGORICAL}
        events = recovery_events(denials, labels, maturity_days=self.maturity_days)
        self.aggregates_ = HistoryAggregates(
            specs=RECOVERY_SPECS, window_days=self.window_days, prior_strength=self.prior_strength
        ).fit(events, day_column="event_day")
        self.as_of_day_: int | None = None
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "aggregates_"):
            raise RuntimeError("RecoveryFeatureBuilder is not fitted; call fit() or from_state() first")

    def freeze(self, *, as_of_day: int) -> RecoveryFeatureBuilder:
        """Compact the history for saving; every answer is then given as of that day."""
        self._check_fitted()
        self.aggregates_.freeze(as_of_day=as_of_day)
        self.as_of_day_ = int(as_of_day)
        return self

    def with_history_of(self, other: RecoveryFeatureBuilder) -> RecoveryFeatureBuilder:
        """This builder's category levels over `other`'s unfrozen recovery history: point-in-time features
        for judging this model on denials older than its own snapshot (see DenialFeatureBuilder's twin)."""
        self._check_fitted()
        other._check_fitted()
        if other.as_of_day_ is not None:
            raise ValueError("the history must be unfrozen (a fitted builder before freeze)")
        mine = (self.maturity_days, self.window_days, self.prior_strength)
        if (other.maturity_days, other.window_days, other.prior_strength) != mine:
            raise ValueError("the history was built with another maturity, window or prior strength than this model's")
        twin = copy.copy(self)
        twin.aggregates_ = other.aggregates_
        twin.as_of_day_ = None
        return twin

    def transform(self, *, denials: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """(X float32, feature names) for `denials` (a denial_frame), one row each, in order."""
        self._check_fitted()
        denials = denials.reset_index(drop=True)
        cols: dict[str, np.ndarray] = {}
        for c in CATEGORICAL:
            values = denials[c].astype("string").fillna("\x00").to_numpy(dtype=object)
            idx = pd.Index(self.levels_[c]).get_indexer(values)
            cols[c] = np.where(idx >= 0, idx, np.nan)
        for name in _OWN_NUMERIC:
            cols[name] = pd.to_numeric(denials[name]).to_numpy(dtype="float64", na_value=np.nan)
        hist = self.aggregates_.transform(denials, query_day=day_number(denials["first_remit_date"]))
        for name in hist.columns:
            cols[name] = hist[name].to_numpy()
        X = np.empty((len(denials), len(FEATURE_NAMES)), dtype=np.float32)
        for j, name in enumerate(FEATURE_NAMES):
            X[:, j] = cols[name]
        return X, list(FEATURE_NAMES)

    # ---- persistence: plain arrays and JSON, no pickled objects --------------------------------------
    def to_state(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "params": {
                "maturity_days": self.maturity_days,
                "window_days": self.window_days,
                "prior_strength": self.prior_strength,
                "as_of_day": self.as_of_day_,
            },
            "levels": self.levels_,
            "aggregates": self.aggregates_.to_state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> RecoveryFeatureBuilder:
        params = state["params"]
        self = cls(
            maturity_days=int(params["maturity_days"]),
            window_days=int(params["window_days"]),
            prior_strength=float(params["prior_strength"]),
        )
        self.as_of_day_ = None if params["as_of_day"] is None else int(params["as_of_day"])
        self.levels_ = {k: [str(v) for v in values] for k, values in state["levels"].items()}
        self.aggregates_ = HistoryAggregates.from_state(state["aggregates"])
        return self
