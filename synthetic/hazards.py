"""Denial causes as hazards computed from claim fields and hidden propensities.

Each root cause has a hazard per claim built from the claim's own fields (and its lines'), scaled by the
payer's strictness for that cause and the provider's or facility's propensity. A claim is denied with
p = 1 - prod(1 - hazard) and the cause is drawn in proportion to the hazards, so every denial has a
cause that sits in the data. The reason table says which CARC/RARC each cause emits; its CARCs belong
to that cause's category in the shipped code table (``features/contract/codes.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.contract.codes import CATEGORIES
from synthetic.books import ClaimBook, LineBook
from synthetic.code_catalog import FAM, SUB, ProcedureCatalog
from synthetic.entities import PLAN, Facilities, Payers, Providers

CAUSES: tuple[str, ...] = CATEGORIES  # the generator's causes are exactly the root-cause categories
C = {name: i for i, name in enumerate(CAUSES)}
LINE_CAUSES = (C["authorization"], C["coding"], C["medical_necessity"], C["missing_information"], C["non_covered"])


@dataclass(frozen=True)
class Reason:
    name: str
    cause: str
    carcs: tuple[tuple[str, str, float], ...]  # (carc, remark codes, weight)
    groups: tuple[tuple[str, float], ...] = (("CO", 1.0),)


REASONS: tuple[Reason, ...] = (
    Reason(
        "eligibility_lapse",
        "eligibility",
        (("27", "", 0.45), ("27", "N30", 0.15), ("26", "", 0.10), ("31", "", 0.12), ("200", "", 0.18)),
    ),
    Reason(
        "cob_order",
        "coordination_of_benefits",
        (("22", "", 0.4), ("22", "MA04", 0.35), ("109", "", 0.25)),
        (("CO", 0.8), ("OA", 0.2)),
    ),
    Reason("auth_missing", "authorization", (("197", "", 0.6), ("15", "", 0.25), ("197", "M62", 0.15))),
    Reason("auth_mismatch", "authorization", (("198", "N54", 0.5), ("15", "N54", 0.3), ("198", "", 0.2))),
    Reason("coding_modifier", "coding", (("4", "", 0.8), ("4", "N657", 0.2))),
    Reason("coding_bundled", "coding", (("97", "", 0.5), ("97", "M15", 0.2), ("236", "", 0.3))),
    Reason("coding_retired", "coding", (("181", "", 0.7), ("181", "N56", 0.3))),
    Reason("coding_bad_modifier", "coding", (("182", "", 0.4), ("4", "N519", 0.3), ("236", "N519", 0.3))),
    Reason(
        "necessity_diagnosis",
        "medical_necessity",
        (("50", "", 0.4), ("50", "N386", 0.15), ("50", "N115", 0.15), ("167", "", 0.3)),
    ),
    Reason("necessity_units", "medical_necessity", (("151", "", 0.8), ("151", "N115", 0.2))),
    Reason("timely_filing", "timely_filing", (("29", "", 1.0),)),
    Reason("duplicate", "duplicate", (("18", "", 0.8), ("18", "N111", 0.2)), (("CO", 0.5), ("OA", 0.5))),
    Reason("missing_rendering", "missing_information", (("16", "N290", 0.8), ("16", "MA130|N290", 0.2))),
    Reason("missing_referral", "missing_information", (("16", "N286", 0.7), ("16", "MA130", 0.3))),
    Reason("missing_attachment", "missing_information", (("252", "", 0.6), ("252", "N706", 0.2), ("16", "N350", 0.2))),
    Reason("missing_other", "missing_information", (("16", "M51", 0.4), ("16", "MA130", 0.3), ("16", "N211", 0.3))),
    Reason(
        "noncovered_plan",
        "non_covered",
        (("96", "", 0.45), ("204", "", 0.35), ("96", "N216", 0.2)),
        (("CO", 0.7), ("PR", 0.3)),
    ),
    Reason("noncovered_preventive", "non_covered", (("49", "", 0.8), ("49", "N425", 0.2)), (("CO", 0.6), ("PR", 0.4))),
    Reason("other", "other", (("A1", "", 0.6), ("147", "", 0.4)), (("CO", 0.7), ("OA", 0.3))),
    # Medicare asked for the medical records (an additional documentation request) and none came back.
    Reason("records_not_received", "missing_information", (("50", "M127", 1.0),)),
    # Medicare: a non-covered service is the patient's to pay only with a signed advance beneficiary notice
    # (modifier GA on the line); without one the provider is liable.
    Reason("noncovered_no_abn", "non_covered", (("96", "", 1.0),), (("CO", 1.0),)),
    Reason("noncovered_abn", "non_covered", (("96", "", 1.0),), (("PR", 1.0),)),
    Reason("provider_not_certified", "non_covered", (("B7", "", 1.0),)),
)
R = {r.name: i for i, r in enumerate(REASONS)}
CAP = 0.97
# Medicare's prepayment review: the share of claims with documentation-heavy services (surgery, therapy,
# equipment, unlisted codes) that get an additional documentation request, times the chance the practice
# does not answer it (1 - its attachment diligence).
RECORDS_REQUEST_RATE = 0.12
_REVIEWED_FAMILIES = ("surgery", "pt", "dme")


@dataclass
class Hazards:
    hazard: np.ndarray  # [claims, causes]
    p_denial: np.ndarray
    denied: np.ndarray
    cause: np.ndarray  # sampled cause if denied, else highest-hazard cause
    claim_reason: np.ndarray  # reason index for a claim-level denial, -1 otherwise
    line_reason: np.ndarray  # reason index for each offending line of a line-level denial, -1 otherwise
    line_origin: np.ndarray  # bool per claim: the denial is about specific lines


def _line_component(parts: list[tuple[np.ndarray, str]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Max hazard over components and the reason of the max, per line."""
    h = np.zeros(n)
    reason = np.full(n, -1, dtype=np.int64)
    for value, name in parts:
        better = value > h
        h = np.where(better, value, h)
        reason = np.where(better, R[name], reason)
    return h, reason


def hazard_components(
    *,
    claims: ClaimBook,
    lines: LineBook,
    payers: Payers,
    providers: Providers,
    facilities: Facilities,
    procedures: ProcedureCatalog,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Capped claim-level and line-level hazards per cause, and the reason of each (claim_h, claim_r, line_h, line_r).

    Pure function of the books (hidden flags included), so the knowable oracle can evaluate it with the
    hidden flags set to False and to True and take the expectation (see ``knowable.py``).
    """
    n, n_lines = len(claims), len(lines)
    strict = payers.strictness[claims.payer]  # [n, causes]
    prov_p = providers.propensity[claims.provider]
    fac_p = facilities.propensity[claims.facility]
    lc = lines.claim

    # claim-level components
    claim_h = np.zeros((n, len(CAUSES)))
    claim_r = np.full((n, len(CAUSES)), -1, dtype=np.int64)

    def claim_part(cause: str, value: np.ndarray, reason: str) -> None:
        c = C[cause]
        better = value > claim_h[:, c]
        claim_h[:, c] = np.where(better, value, claim_h[:, c])
        claim_r[:, c] = np.where(better, R[reason], claim_r[:, c])

    elig = claims.stale * np.where(claims.verified, 0.10, 0.80) + 0.002
    claim_part("eligibility", elig * strict[:, C["eligibility"]] * fac_p, "eligibility_lapse")
    cob = claims.cob_wrong * 0.85 + (claims.secondary >= 0) * 0.004
    claim_part("coordination_of_benefits", cob * strict[:, C["coordination_of_benefits"]] * fac_p, "cob_order")
    late = (claims.submitted - claims.service_to) > payers.timely_filing_days[claims.payer]
    claim_part("timely_filing", late * 0.95 * np.minimum(strict[:, C["timely_filing"]], 1.05), "timely_filing")
    claim_part("duplicate", (claims.duplicate_of >= 0) * 0.88 * np.minimum(strict[:, C["duplicate"]], 1.1), "duplicate")
    mi = strict[:, C["missing_information"]] * prov_p
    claim_part("missing_information", claims.rendering_missing * 0.85 * mi, "missing_rendering")
    claim_part("missing_information", (claims.referral_required & ~claims.has_referral) * 0.7 * mi, "missing_referral")
    claim_part("missing_information", claims.generic_missing * 0.8 * mi, "missing_other")
    medicare = payers.plan[claims.payer] == PLAN["medicare"]
    reviewed_line = (
        np.isin(procedures.family[lines.code], [FAM[f] for f in _REVIEWED_FAMILIES])
        | (procedures.needs_attachment[lines.code])
    )
    reviewed = medicare & (np.bincount(lc, weights=reviewed_line, minlength=n) > 0)
    no_answer = 1.0 - providers.attach_diligence[claims.provider]
    claim_part("missing_information", reviewed * RECORDS_REQUEST_RATE * no_answer * mi, "records_not_received")
    claim_part("other", np.full(n, 0.003) * strict[:, C["other"]], "other")

    # line-level components
    ls = strict[lc]
    lp = prov_p[lc]
    lf = fac_p[lc]
    line_h = np.zeros((n_lines, len(CAUSES)))
    line_r = np.full((n_lines, len(CAUSES)), -1, dtype=np.int64)
    auth_missing = lines.auth_true & ~lines.auth_obtained
    auth_bad = lines.auth_true & lines.auth_obtained & lines.auth_mismatch
    a = ls[:, C["authorization"]] * lf
    h, r = _line_component([(auth_missing * 0.85 * a, "auth_missing"), (auth_bad * 0.8 * a, "auth_mismatch")], n_lines)
    line_h[:, C["authorization"]], line_r[:, C["authorization"]] = h, r
    cd = ls[:, C["coding"]] * lp
    missing_mod = (lines.mod_req >= 0) & ~lines.mod_present
    h, r = _line_component(
        [
            (missing_mod * 0.75 * cd, "coding_modifier"),
            (lines.bundled * 0.85 * cd, "coding_bundled"),
            (lines.retired * 0.9 * cd, "coding_retired"),
            ((lines.mod_bad >= 0) * 0.7 * cd, "coding_bad_modifier"),
        ],
        n_lines,
    )
    line_h[:, C["coding"]], line_r[:, C["coding"]] = h, r
    mn = ls[:, C["medical_necessity"]] * lp
    h, r = _line_component(
        [(lines.unsupported * 0.55 * mn, "necessity_diagnosis"), (lines.over_units * 0.65 * mn, "necessity_units")],
        n_lines,
    )
    line_h[:, C["medical_necessity"]], line_r[:, C["medical_necessity"]] = h, r
    h, r = _line_component(
        [(lines.attach_missing * 0.6 * ls[:, C["missing_information"]] * lp, "missing_attachment")], n_lines
    )
    line_h[:, C["missing_information"]], line_r[:, C["missing_information"]] = h, r
    preventive = procedures.subfamily[lines.code] == SUB["em_preventive"]
    nc_strict = np.minimum(ls[:, C["non_covered"]], 1.08)
    nc = lines.noncovered * 0.9 * nc_strict
    nc_reason = np.where(preventive, R["noncovered_preventive"], R["noncovered_plan"])
    medicare_line = medicare[lc]
    nc_reason = np.where(medicare_line, np.where(lines.abn, R["noncovered_abn"], R["noncovered_no_abn"]), nc_reason)
    cert = lines.uncertified * 0.9 * nc_strict
    line_h[:, C["non_covered"]] = np.maximum(nc, cert)
    line_r[:, C["non_covered"]] = np.where(cert > nc, R["provider_not_certified"], nc_reason)
    np.minimum(claim_h, CAP, out=claim_h)
    np.minimum(line_h, CAP, out=line_h)
    return claim_h, claim_r, line_h, line_r


def combine(claim_h: np.ndarray, line_h: np.ndarray, line_claim: np.ndarray) -> np.ndarray:
    """Per-cause hazard of each claim: H = 1 - (1 - claim) * prod over its lines (1 - line)."""
    n = len(claim_h)
    log_keep = np.zeros((n, len(CAUSES)))
    for c in LINE_CAUSES:
        log_keep[:, c] = np.bincount(line_claim, weights=np.log1p(-line_h[:, c]), minlength=n)
    return 1.0 - (1.0 - claim_h) * np.exp(log_keep)


def p_denial_of(hazard: np.ndarray) -> np.ndarray:
    return 1.0 - np.prod(1.0 - hazard, axis=1)


def compute_hazards(
    rng: np.random.Generator,
    *,
    claims: ClaimBook,
    lines: LineBook,
    payers: Payers,
    providers: Providers,
    facilities: Facilities,
    procedures: ProcedureCatalog,
) -> Hazards:
    n, n_lines = len(claims), len(lines)
    lc = lines.claim
    claim_h, claim_r, line_h, line_r = hazard_components(
        claims=claims, lines=lines, payers=payers, providers=providers, facilities=facilities, procedures=procedures
    )
    hazard = combine(claim_h, line_h, lc)
    p_denial = p_denial_of(hazard)
    denied = rng.random(n) < p_denial
    cum = np.cumsum(hazard, axis=1)
    u = rng.random(n) * cum[:, -1]
    sampled = np.minimum((u[:, None] > cum).sum(axis=1), len(CAUSES) - 1)
    cause = np.where(denied, sampled, np.argmax(hazard, axis=1))

    # where the denial sits: the claim-level component, or the line(s) with the top line hazard
    line_max = np.maximum.reduceat(line_h, claims.line_start, axis=0)  # [n, causes]
    rows = np.arange(n)
    top_line = line_max[rows, cause]
    line_origin = denied & (top_line > claim_h[rows, cause])
    claim_reason = np.where(denied & ~line_origin, claim_r[rows, cause], -1)
    l_cause = cause[lc]
    l_h = line_h[np.arange(n_lines), l_cause]
    offending = line_origin[lc] & (l_h > 0) & (l_h >= 0.5 * top_line[lc])
    line_reason = np.where(offending, line_r[np.arange(n_lines), l_cause], -1)
    return Hazards(
        hazard=hazard,
        p_denial=p_denial,
        denied=denied,
        cause=cause,
        claim_reason=claim_reason,
        line_reason=line_reason,
        line_origin=line_origin,
    )
