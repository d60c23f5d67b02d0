"""RecoveryModel: if a denial is worked, will money come back, and how much of the denied amount?

Three LightGBM heads share the recovery feature matrix (features/recovery_features.py):
- a propensity head P(worked | X) on every mature denial of the learn part: which denials the team
  chose to work with the payer (a follow-up row with a payer action, or a replacement/void claim chaining
  back to the original; a write-off or a bill to the patient is not work with the payer);
- the recovery head P(recovered | worked, X) on worked denials only, optionally inverse-propensity
  weighted (1 / clip(P(worked), 0.05, 1)) so the worked rows stand in for the whole population of
  denials the model will score, then calibrated on the worked rows of a later time slice;
- the amount head E[recovered_share | recovered, X] (cross-entropy on recovered / denied in [0, 1])
  on worked and recovered denials.

expected_recovery = p_recover x share_if_recovered x denied_amount. Unworked denials are not negatives
for the recovery head: nobody asked, so nothing can be learned about whether asking would have paid.
The fitted feature builder travels inside the model, so scoring never refits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features import recovery_features
from features.contract.codes import FOLLOWUP_ACTIONS
from features.contract.frames import member
from features.contract.labels import chain_roots
from features.contract.schema import PAYER_TEAM_ACTIONS
from features.decisions.actions import PAYER_WORK
from features.recovery_features import CATEGORICAL, FEATURE_NAMES, RecoveryFeatureBuilder
from models.base import BoostedModel
from models.boosting import deterministic_params
from models.calibration import fit_calibrator
from models.reasons import ReasonBook, group_contributions, reasons_frame, top_reasons

_MIN_PROPENSITY = 0.05
# actions that can bring the payer's money, in the order of the action vocabulary
PAYER_ACTIONS = tuple(a for a in FOLLOWUP_ACTIONS if a in PAYER_WORK)
_HEADS = ("propensity", "recovery", "amount")
RECOVERY_REASONS = ReasonBook(features=recovery_features.FEATURES, groups=recovery_features.REASON_GROUPS)
SCORE_COLUMNS = (
    "claim_id",
    "payer_id",
    "denial_category",
    "denied_amount",
    "p_recover",
    "share_if_recovered",
    "expected_recovery",
    "recommended_action",
    "action_rule",
    "action_group",
    "line_plan",
    "patient_amount",
    "payer_amount",
    "write_off_amount",
    "deadline",
    "deadline_rule",
)


def worked_mask(
    tables: Mapping[str, pd.DataFrame], denials: pd.DataFrame, *, links: pd.Series | None = None
) -> np.ndarray:
    """Per denial (a denial_frame row): was the payer asked again? Yes when a follow-up row with a payer
    action (PAYER_TEAM_ACTIONS) names its claim or any claim chaining back to it, or when a replacement/void
    claim (frequency 7/8) chains back to it. A denial only written off or billed to the patient was not
    worked: nobody asked the payer, so it says nothing about whether asking would have paid.

    `links` (features.contract.resubmissions.new_claim_links) adds the new claims sent after MA130/N142
    denials: sending one is working the denial the way its remark asks, even with no follow-up row."""
    claims = tables["claims"]
    root = chain_roots(claims, links=links)
    followups = tables.get("followups")
    resubmitted = claims["frequency_code"].isin(["7", "8"]).to_numpy(dtype=bool, na_value=False)
    if links is not None:
        resubmitted = resubmitted | member(claims["claim_id"], links.index)
    touched = [root[resubmitted]]
    if followups is not None and len(followups):
        ids = followups.loc[followups["action"].isin(PAYER_TEAM_ACTIONS).to_numpy(dtype=bool), "claim_id"]
        ids = ids.astype("string")
        # a follow-up on a claim outside this history still names its own claim
        touched.append(ids.map(root).fillna(ids))
    worked_roots = pd.concat([s.astype("string") for s in touched]).dropna().unique()
    return np.asarray(member(denials["claim_id"].astype("string"), pd.Index(worked_roots)), dtype=bool)


@dataclass(kw_only=True, eq=False)
class RecoveryModel(BoostedModel):
    feature_names = FEATURE_NAMES
    categorical = CATEGORICAL
    heads = _HEADS
    builder_class = RecoveryFeatureBuilder

    n_estimators: int = 600
    min_child_samples: int = 50
    propensity_weighting: bool = True

    # ---- training ----------------------------------------------------------------------------------
    def _lgb_params(self, **extra: Any) -> dict[str, Any]:
        return deterministic_params(
            seed=self.seed, n_jobs=self.n_jobs, num_leaves=self.num_leaves, learning_rate=self.learning_rate,
            min_data_in_leaf=self.min_child_samples, min_data_per_group=self.min_child_samples, lambda_l2=1.0,
            **extra,
        )  # fmt: skip

    def fit(
        self,
        *,
        builder: RecoveryFeatureBuilder,
        X: np.ndarray,
        recovered: np.ndarray,
        recovered_share: np.ndarray,
        worked: np.ndarray,
        calibrate_rows: np.ndarray,
    ) -> RecoveryModel:
        """Rows are mature denials in time order; `calibrate_rows` marks the later calibration slice."""
        X = np.asarray(X, dtype=np.float32)
        recovered = np.asarray(recovered, dtype=float)
        share = np.asarray(recovered_share, dtype=float)
        worked = np.asarray(worked, dtype=bool)
        cal = np.asarray(calibrate_rows, dtype=bool)
        if not (len(X) == len(recovered) == len(share) == len(worked) == len(cal)):
            raise ValueError("X, recovered, recovered_share, worked and calibrate_rows must have one row per denial")
        learn = ~cal
        self.builder_ = builder

        # (1) who gets worked: every denial of the learn part
        self.propensity_ = self._train(
            X[learn], worked[learn].astype(float), self._lgb_params(objective="binary", metric="binary_logloss")
        )
        # (2) recovery if worked, reweighted toward all denials
        rec_rows = learn & worked
        weight = None
        if self.propensity_weighting:
            p_worked = np.asarray(self.propensity_.predict(X[rec_rows]))
            weight = 1.0 / np.clip(p_worked, _MIN_PROPENSITY, 1.0)
        self.recovery_ = self._train(
            X[rec_rows], recovered[rec_rows], self._lgb_params(objective="binary", metric="binary_logloss"), weight
        )
        # (3) calibrate on the worked rows of the later slice
        cal_rows = cal & worked
        raw = np.asarray(self.recovery_.predict(X[cal_rows]))
        self.calibrator_ = fit_calibrator(raw, recovered[cal_rows], method=self.calibration)
        # (4) share of the denied amount that comes back, given it does
        amt_rows = rec_rows & (recovered > 0) & np.isfinite(share)
        self.amount_ = self._train(
            X[amt_rows],
            np.clip(share[amt_rows], 0.0, 1.0),
            self._lgb_params(objective="cross_entropy", metric="cross_entropy"),
        )
        self.metadata_: dict[str, Any] = {
            "rows": {
                "learn": int(learn.sum()),
                "learn_worked": int(rec_rows.sum()),
                "learn_recovered": int(amt_rows.sum()),
                "calibrate_worked": int(cal_rows.sum()),
            },
            "best_iteration": {h: int(getattr(self, f"{h}_").best_iteration) for h in _HEADS},
        }
        return self

    # ---- scoring -----------------------------------------------------------------------------------
    def features(self, *, denials: pd.DataFrame) -> np.ndarray:
        return self.builder_.transform(denials=denials)[0]

    def predict(self, X: np.ndarray) -> pd.DataFrame:
        """p_recover (calibrated P(recovered | worked)), share_if_recovered, and p_worked per row."""
        raw = np.asarray(self.recovery_.predict(X))
        return pd.DataFrame(
            {
                "p_recover": np.clip(self.calibrator_(raw), 0.0, 1.0),
                "share_if_recovered": np.clip(np.asarray(self.amount_.predict(X)), 0.0, 1.0),
                "p_worked": np.asarray(self.propensity_.predict(X)),
            }
        )

    def expected_recovery(self, X: np.ndarray, denied_amount: np.ndarray) -> np.ndarray:
        """Expected dollars back if the denial is worked: p_recover x share_if_recovered x denied_amount."""
        return expected_dollars(self.predict(X), denied_amount)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """TreeSHAP of the recovery head (log-odds of recovery), [n, features + 1]: LightGBM's pred_contrib."""
        return self.head_contributions("recovery", np.asarray(X, dtype=np.float32))

    def score(self, denials: pd.DataFrame, *, explain: bool = True, top: int = 3) -> pd.DataFrame:
        """One row per denial (a denial_frame row): recovery odds, dollars, the recommended action and its
        deadline with the rules that gave them, and the reasons that make recovery likely.

        Expected recovery is zero for bill_patient and write_off: those actions bring nothing back from the
        payer, whatever the history of similar denials says."""
        denials = denials.reset_index(drop=True)
        X = self.features(denials=denials)
        pred = self.predict(X)
        pays = denials["recommended_action"].isin(PAYER_ACTIONS).to_numpy()
        out = denials.reindex(columns=list(SCORE_COLUMNS)).copy()
        out["p_recover"] = pred["p_recover"].to_numpy()
        out["share_if_recovered"] = pred["share_if_recovered"].to_numpy()
        out["expected_recovery"] = np.where(pays, expected_dollars(pred, denials["denied_amount"]), 0.0)
        if explain and len(denials):
            grouped = group_contributions(self.contributions(X), book=RECOVERY_REASONS)
            reasons = top_reasons(
                grouped,
                features=pd.DataFrame(X, columns=list(FEATURE_NAMES)),
                context=denials,
                preventive_action={},
                top=top,
                book=RECOVERY_REASONS,
            )
            out = pd.concat([out, reasons_frame(reasons, index=out.index, top=top)], axis=1)
        return out


def expected_dollars(pred: pd.DataFrame, denied_amount: np.ndarray | pd.Series) -> np.ndarray:
    """p_recover x share_if_recovered x denied amount (negative amounts count as none), from `predict` output."""
    amount = np.clip(np.asarray(denied_amount, dtype=float), 0.0, None)
    return np.asarray(pred["p_recover"].to_numpy() * pred["share_if_recovered"].to_numpy() * amount)
