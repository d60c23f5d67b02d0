"""Payer adjudication: first remits, contractual and patient-share adjustments, denials, reversals.

Paid lines carry the routine adjustments a real 835 does (CO-45 contractual, PR-1/2/3 patient share,
CO-253 sequestration for Medicare); denied claims carry the CARC/RARC of their sampled cause, either as
a full denial (status 4, claim- or line-level CAS, sometimes no CAS at all) or, for line-level causes, a
partial denial that pays the clean lines. Paid Medicare professional lines carry the clinician's MIPS
payment adjustment (CO-237 penalty or CO-144 incentive, N807). A few claims are first held for review
(OA-133 on every line, nothing paid) and settled weeks later: the hold is reversed and the final adjudication
follows. Claims whose remit would arrive after the history end are left without one: they are the pending
claims a model scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic.books import ClaimBook, LineBook, copy_claims, expand
from synthetic.code_catalog import FAM, ProcedureCatalog
from synthetic.entities import PLAN, Payers, Providers
from synthetic.hazards import REASONS, Hazards, R
from synthetic.ledger import CARC, GROUP, GROUPS, MA130_RARC, RARC, STATUS, Ledger
from synthetic.timeline import Timeline

PARTIAL_DENIAL_RATE = 0.85
NO_CAS_RATE = 0.05
# MIPS (Medicare's quality program) adjusts what Medicare pays a clinician's professional claims in a payment
# year by that clinician's score: low-volume clinicians are exempt, most others earn a small incentive, a
# few (more of them among the sloppier) take a penalty of up to 9%.
MIPS_EXEMPT_SHARE = 0.45
MIPS_PENALTY_SHARE = 0.15
MIPS_PENALTY = (0.01, 0.09)
MIPS_INCENTIVE = (0.001, 0.025)
# Prepayment review: a payer holds a claim's lines for review (OA-133) and settles them 20-75 days later
# with a reversal of the hold and the final adjudication. Documentation-heavy and large claims are held more.
PEND_BASE = 0.002
PEND_DOCUMENTED = 0.03
PEND_LARGE = 0.01
PEND_LARGE_CHARGE = 5_000.0


@dataclass
class LinePay:
    """What each line would be paid if adjudicated clean."""

    allowed: np.ndarray
    deductible: np.ndarray
    copay: np.ndarray
    coinsurance: np.ndarray
    sequestration: np.ndarray
    mips: np.ndarray  # MIPS payment adjustment: > 0 a penalty (CO-237), < 0 an incentive (CO-144), both N807
    paid: np.ndarray

    @property
    def patient(self) -> np.ndarray:
        return self.deductible + self.copay + self.coinsurance


@dataclass
class FirstRemits:
    remit: np.ndarray  # ledger index per claim, -1 if pending (after history end)
    day: np.ndarray
    denied_amount: np.ndarray
    full_denial: np.ndarray
    denied_line: np.ndarray  # per line: denied on the first remit
    ma130: np.ndarray  # per claim: the denial carried MA130 (unprocessable: fix it and send a new claim)
    pended: np.ndarray  # per claim: held for review (OA-133) before this adjudication


def price_lines(
    rng: np.random.Generator,
    *,
    claims: ClaimBook,
    lines: LineBook,
    payers: Payers,
    providers: Providers,
    procedures: ProcedureCatalog,
    timeline: Timeline,
) -> LinePay:
    n, n_lines = len(claims), len(lines)
    lc = lines.claim
    payer = claims.payer[lc]
    allowed = np.round(
        np.minimum(lines.charge, lines.charge * payers.allowed_ratio[payer] * rng.lognormal(0.0, 0.08, n_lines)), 2
    )
    cal = timeline.calendar_month_of(claims.service_from)
    p_ded = np.select([cal == 1, cal == 2, cal == 3, cal == 4], [0.40, 0.30, 0.22, 0.15], 0.08)
    p_ded = np.where(np.isin(payers.plan[claims.payer], [PLAN["medicaid"], PLAN["managed_medicaid"]]), 0.0, p_ded)
    ded_claim = np.where(rng.random(n) < p_ded, np.round(rng.uniform(20, 1500, n), 2), 0.0)
    first = lines.line_number == 1
    deductible = np.where(first, np.minimum(allowed, ded_claim[lc]), 0.0)
    is_em = procedures.family[lines.code] == FAM["em"]
    em_idx = np.flatnonzero(is_em)
    _, first_em = np.unique(lc[em_idx], return_index=True)
    copay_line = np.zeros(n_lines, dtype=bool)
    copay_line[em_idx[first_em]] = True
    copay_line &= rng.random(n_lines) < 0.8
    copay = np.where(copay_line, np.minimum(payers.copay[payer], allowed - deductible), 0.0)
    coins = np.round(payers.coinsurance[payer] * (allowed - deductible - copay), 2)
    rest = allowed - deductible - copay - coins
    medicare = np.isin(payers.plan[payer], [PLAN["medicare"], PLAN["medicare_advantage"]])
    seq = np.where(medicare, np.round(0.02 * rest, 2), 0.0)
    # drawn last, so every amount above is what it was before MIPS existed
    rate = _mips_rates(rng, providers, timeline)
    year = _year_index(claims.service_from[lc], timeline)
    part_b = (payers.plan[payer] == PLAN["medicare"]) & ~claims.institutional[lc]
    mips = np.where(part_b, np.round(rate[claims.provider[lc], year] * rest, 2), 0.0)
    paid = np.round(rest - seq - mips, 2)
    return LinePay(
        allowed=allowed,
        deductible=np.round(deductible, 2),
        copay=np.round(copay, 2),
        coinsurance=coins,
        sequestration=seq,
        mips=mips,
        paid=paid,
    )


def _year_index(days: np.ndarray, timeline: Timeline) -> np.ndarray:
    years = np.asarray(days, dtype="datetime64[D]").astype("datetime64[Y]").astype(np.int64)
    return years - np.datetime64(timeline.start, "D").astype("datetime64[Y]").astype(np.int64)


def _mips_rates(rng: np.random.Generator, providers: Providers, timeline: Timeline) -> np.ndarray:
    """[clinician, payment year] MIPS adjustment as a share of Medicare's payment (> 0 penalty, < 0 incentive)."""
    n, years = len(providers.npi), int(_year_index(np.array([timeline.end]), timeline)[0]) + 1
    exempt = rng.random((n, years)) < MIPS_EXEMPT_SHARE
    penalty = rng.random((n, years)) < np.clip(MIPS_PENALTY_SHARE * providers.propensity[:, None] ** 2, 0, 0.6)
    size = np.where(penalty, rng.uniform(*MIPS_PENALTY, (n, years)), -rng.uniform(*MIPS_INCENTIVE, (n, years)))
    return np.where(exempt, 0.0, size)


def post_payment_rows(
    ledger: Ledger,
    *,
    remit: np.ndarray,
    claim: np.ndarray,
    line_number: np.ndarray,
    charge: np.ndarray,
    pay: LinePay,
    idx: np.ndarray,
    fraction: np.ndarray | None = None,
    residual_carc: np.ndarray | None = None,
    residual_rarc: np.ndarray | None = None,
) -> None:
    """Line-level CAS for paid lines ``idx`` (into ``pay``); a fraction < 1 leaves a denial residual."""
    parts = [
        (GROUP["CO"], CARC["45"], charge - pay.allowed[idx]),
        (GROUP["PR"], CARC["1"], pay.deductible[idx]),
        (GROUP["PR"], CARC["2"], pay.coinsurance[idx]),
        (GROUP["PR"], CARC["3"], pay.copay[idx]),
        (GROUP["CO"], CARC["253"], pay.sequestration[idx]),
    ]
    mips = pay.mips[idx]
    parts += [(GROUP["CO"], CARC["237"], np.maximum(mips, 0.0)), (GROUP["CO"], CARC["144"], np.minimum(mips, 0.0))]
    for group, carc, amount in parts:
        m = np.abs(amount) > 0.004
        mips_row = carc in (CARC["237"], CARC["144"])
        ledger.add_adjustments(
            remit=remit[m],
            claim=claim[m],
            line_number=line_number[m],
            group=np.full(m.sum(), group),
            carc=np.full(m.sum(), carc),
            rarc=np.full(m.sum(), RARC["N807"] if mips_row else -1),
            amount=amount[m],
        )
    if fraction is not None and residual_carc is not None and residual_rarc is not None:
        residual = np.round(pay.paid[idx] * (1.0 - fraction), 2)
        m = residual > 0.004
        ledger.add_adjustments(
            remit=remit[m],
            claim=claim[m],
            line_number=line_number[m],
            group=np.full(m.sum(), GROUP["CO"]),
            carc=residual_carc[m],
            rarc=residual_rarc[m],
            amount=residual[m],
        )


def choose_codes(rng: np.random.Generator, reason: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group, carc, rarc) vocabulary indices for rows with the given reason indices."""
    group = np.full(len(reason), GROUP["CO"], dtype=np.int64)
    carc = np.zeros(len(reason), dtype=np.int64)
    rarc = np.full(len(reason), -1, dtype=np.int64)
    u_code = rng.random(len(reason))
    u_group = rng.random(len(reason))
    for r_idx, r in enumerate(REASONS):
        m = reason == r_idx
        if not m.any():
            continue
        w = np.cumsum([x[2] for x in r.carcs])
        pick = np.minimum(np.searchsorted(w / w[-1], u_code[m], side="right"), len(r.carcs) - 1)
        carc[m] = np.array([CARC[x[0]] for x in r.carcs])[pick]
        rarc[m] = np.array([RARC[x[1]] if x[1] else -1 for x in r.carcs])[pick]
        gw = np.cumsum([g[1] for g in r.groups])
        gpick = np.minimum(np.searchsorted(gw / gw[-1], u_group[m], side="right"), len(r.groups) - 1)
        group[m] = np.array([GROUPS.index(g[0]) for g in r.groups])[gpick]
    return group, carc, rarc


def remit_lag(rng: np.random.Generator, payers: Payers, payer: np.ndarray) -> np.ndarray:
    return np.maximum(3, np.round(payers.remit_lag_days[payer] * rng.gamma(4.0, 0.25, len(payer)))).astype(np.int64)


def paid_status(rng: np.random.Generator, secondary: np.ndarray) -> np.ndarray:
    u = rng.random(len(secondary))
    has = secondary >= 0
    return np.select([has & (u < 0.2), has & (u < 0.24)], [STATUS["2"], STATUS["3"]], STATUS["1"])


def adjudicate_first(
    rng: np.random.Generator,
    *,
    ledger: Ledger,
    claims: ClaimBook,
    lines: LineBook,
    hazards: Hazards,
    pay: LinePay,
    payers: Payers,
    procedures: ProcedureCatalog,
    timeline: Timeline,
    situations: np.random.Generator,
) -> FirstRemits:
    """First adjudication of every claim; ``situations`` draws the review holds (so ``rng``'s stream is unchanged)."""
    n = len(claims)
    lc = lines.claim
    day = claims.submitted + remit_lag(rng, payers, claims.payer)
    total_charge = np.bincount(lc, weights=lines.charge, minlength=n)
    hold_day = day
    pended, day = _review_holds(
        situations, claims=claims, lines=lines, payers=payers, procedures=procedures, total_charge=total_charge, day=day
    )
    emitted = day <= timeline.end
    offending = hazards.line_reason >= 0
    n_off = np.bincount(lc, weights=offending, minlength=n)
    partial = hazards.denied & hazards.line_origin & (n_off < claims.n_lines) & (rng.random(n) < PARTIAL_DENIAL_RATE)
    full = hazards.denied & ~partial
    denied_line = np.where(partial[lc], offending, full[lc])

    # reason per denied line: its own, else the claim's (claim-level cause) or the claim's first offending line
    first_off = np.full(n, -1, dtype=np.int64)
    off_idx = np.flatnonzero(offending)
    uniq, pos = np.unique(lc[off_idx], return_index=True)
    first_off[uniq] = hazards.line_reason[off_idx[pos]]
    claim_reason = np.where(hazards.claim_reason >= 0, hazards.claim_reason, first_off)
    line_reason = np.where(offending, hazards.line_reason, claim_reason[lc])
    # Medicare's non-coverage liability is per line: each line denied for it answers to its own ABN (GA)
    liability = np.isin(line_reason, [R["noncovered_abn"], R["noncovered_no_abn"]])
    line_reason = np.where(liability, np.where(lines.abn, R["noncovered_abn"], R["noncovered_no_abn"]), line_reason)

    em = np.flatnonzero(emitted)
    status = np.where(full, STATUS["4"], paid_status(rng, claims.secondary))
    paid_line = np.where(denied_line, 0.0, pay.paid)
    pr_line = np.where(denied_line, 0.0, pay.patient)
    paid = np.bincount(lc, weights=paid_line, minlength=n)
    pr = np.bincount(lc, weights=pr_line, minlength=n)

    # CAS layout for full denials: per line (payer style), one claim-level row, or none at all
    no_cas = full & (rng.random(n) < NO_CAS_RATE)
    per_line = full & ~no_cas & payers.line_level_cas[claims.payer]
    claim_level = full & ~no_cas & ~per_line
    l_group, l_carc, l_rarc = choose_codes(rng, line_reason)
    c_group, c_carc, c_rarc = choose_codes(rng, claim_reason)
    # PR-group denials are the patient's to pay
    pr_denied_line = denied_line & (per_line[lc] | partial[lc]) & (l_group == GROUP["PR"])
    pr = pr + np.bincount(lc, weights=np.where(pr_denied_line, lines.charge, 0.0), minlength=n)
    pr = pr + np.where(claim_level & (c_group == GROUP["PR"]), total_charge, 0.0)

    _post_holds(ledger, claims=claims, lines=lines, pended=pended, hold_day=hold_day, day=day, end=timeline.end)
    remit_idx = np.full(n, -1, dtype=np.int64)
    remit_idx[em] = ledger.add_remits(claim=em, day=day[em], status=status[em], paid=paid[em], patient_resp=pr[em])
    l_em = emitted[lc]
    l_remit = remit_idx[lc]
    # paid lines
    paid_lines = np.flatnonzero(l_em & ~denied_line)
    post_payment_rows(
        ledger,
        remit=l_remit[paid_lines],
        claim=lc[paid_lines],
        line_number=lines.line_number[paid_lines],
        charge=lines.charge[paid_lines],
        pay=pay,
        idx=paid_lines,
    )
    # denied lines (partial denials and itemised full denials)
    dl = np.flatnonzero(l_em & denied_line & (partial[lc] | per_line[lc]))
    ledger.add_adjustments(
        remit=l_remit[dl],
        claim=lc[dl],
        line_number=lines.line_number[dl],
        group=l_group[dl],
        carc=l_carc[dl],
        rarc=l_rarc[dl],
        amount=lines.charge[dl],
    )
    cl = np.flatnonzero(emitted & claim_level)
    ledger.add_adjustments(
        remit=remit_idx[cl],
        claim=cl,
        line_number=np.zeros(len(cl), dtype=np.int64),
        group=c_group[cl],
        carc=c_carc[cl],
        rarc=c_rarc[cl],
        amount=total_charge[cl],
    )
    denied_amount = np.bincount(lc, weights=np.where(denied_line, lines.charge, 0.0), minlength=n)
    itemised = denied_line & (partial[lc] | per_line[lc])
    itemised_ma130 = (itemised & MA130_RARC[l_rarc]).astype(np.float64)
    ma130 = (claim_level & MA130_RARC[c_rarc]) | (np.bincount(lc, weights=itemised_ma130, minlength=n) > 0)
    return FirstRemits(
        remit=remit_idx,
        day=day,
        denied_amount=np.round(denied_amount, 2),
        full_denial=full,
        denied_line=denied_line,
        ma130=ma130,
        pended=pended,
    )


def _review_holds(
    rng: np.random.Generator,
    *,
    claims: ClaimBook,
    lines: LineBook,
    payers: Payers,
    procedures: ProcedureCatalog,
    total_charge: np.ndarray,
    day: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Claims a payer holds for prepayment review, and the day each claim is finally adjudicated."""
    n = len(claims)
    documented_line = procedures.needs_attachment[lines.code] | (procedures.family[lines.code] == FAM["surgery"])
    documented = np.bincount(lines.claim, weights=documented_line, minlength=n) > 0
    p_hold = (
        PEND_BASE + PEND_DOCUMENTED * documented + PEND_LARGE * (total_charge > PEND_LARGE_CHARGE)
    ) * payers.propensity[claims.payer]
    pended = (rng.random(n) < p_hold) & (claims.frequency == 1)
    review = rng.integers(20, 76, n)
    return pended, np.where(pended, day + review, day)


def _post_holds(
    ledger: Ledger,
    *,
    claims: ClaimBook,
    lines: LineBook,
    pended: np.ndarray,
    hold_day: np.ndarray,
    day: np.ndarray,
    end: int,
) -> None:
    """The hold (status 1, nothing paid, OA-133 on every line) and, once settled, its reversal (status 22)
    on the day of the final adjudication, posted before it (X12: a 133 is reversed when the line is final)."""
    for sign, when, status in ((1.0, hold_day, STATUS["1"]), (-1.0, day, STATUS["22"])):
        c = np.flatnonzero(pended & (when <= end))
        if not len(c):
            continue
        remit = ledger.add_remits(
            claim=c, day=when[c], status=status, paid=np.zeros(len(c)), patient_resp=np.zeros(len(c))
        )
        line_idx = expand(claims.line_start[c], claims.n_lines[c])
        owner = np.repeat(np.arange(len(c)), claims.n_lines[c])
        ledger.add_adjustments(
            remit=remit[owner],
            claim=c[owner],
            line_number=lines.line_number[line_idx],
            group=np.full(len(line_idx), GROUP["OA"]),
            carc=np.full(len(line_idx), CARC["133"]),
            rarc=np.full(len(line_idx), -1),
            amount=sign * lines.charge[line_idx],
        )


def reversals(
    rng: np.random.Generator,
    *,
    ledger: Ledger,
    claims: ClaimBook,
    first: FirstRemits,
    hazards: Hazards,
    timeline: Timeline,
    rate: float = 0.004,
) -> None:
    """A few paid claims are reversed (status 22, negative amounts) and re-adjudicated shortly after."""
    remits = ledger.remits()
    candidates = np.flatnonzero((first.remit >= 0) & ~hazards.denied)
    pick = candidates[rng.random(len(candidates)) < rate]
    rev_day = first.day[pick] + rng.integers(20, 150, len(pick))
    keep = rev_day <= timeline.end
    pick, rev_day = pick[keep], rev_day[keep]
    src = first.remit[pick]
    paid, pr = remits["paid"][src], remits["patient_resp"][src]
    rev = ledger.add_remits(claim=pick, day=rev_day, status=STATUS["22"], paid=-paid, patient_resp=-pr)
    again_day = rev_day + rng.integers(0, 4, len(pick))
    ok = again_day <= timeline.end
    again = np.full(len(pick), -1, dtype=np.int64)
    again[ok] = ledger.add_remits(
        claim=pick[ok], day=again_day[ok], status=remits["status"][src[ok]], paid=paid[ok], patient_resp=pr[ok]
    )
    adjs = ledger.adjustments()
    lookup_rev = np.full(ledger.n_remits, -1, dtype=np.int64)
    lookup_rev[src] = rev
    lookup_again = np.full(ledger.n_remits, -1, dtype=np.int64)
    lookup_again[src] = again
    rows = np.flatnonzero(np.isin(adjs["remit"], src))
    for target, sign in ((lookup_rev, -1.0), (lookup_again, 1.0)):
        r = rows[target[adjs["remit"][rows]] >= 0]
        ledger.add_adjustments(
            remit=target[adjs["remit"][r]],
            claim=adjs["claim"][r],
            line_number=adjs["line_number"][r],
            group=adjs["group"][r],
            carc=adjs["carc"][r],
            rarc=adjs["rarc"][r],
            amount=sign * adjs["amount"][r],
        )


def void_claims(
    rng: np.random.Generator,
    *,
    ledger: Ledger,
    claims: ClaimBook,
    lines: LineBook,
    first: FirstRemits,
    hazards: Hazards,
    payers: Payers,
    timeline: Timeline,
    first_index: int,
    line_offset: int,
    rate: float = 0.001,
) -> tuple[ClaimBook, LineBook]:
    """Voids (frequency 8) of a few paid claims billed in error; the payer takes the payment back."""
    remits = ledger.remits()
    candidates = np.flatnonzero((first.remit >= 0) & ~hazards.denied & (claims.frequency == 1))
    pick = candidates[rng.random(len(candidates)) < rate]
    submitted = first.day[pick] + rng.integers(5, 60, len(pick))
    keep = submitted <= timeline.end
    pick, submitted = pick[keep], submitted[keep]
    voids, void_lines = copy_claims(claims, lines, pick, first_index=first_index, line_offset=line_offset)
    voids.frequency = np.full(len(pick), 8, dtype=np.int64)
    voids.original = pick
    voids.duplicate_of = np.full(len(pick), -1, dtype=np.int64)
    voids.submitted = submitted
    day = submitted + remit_lag(rng, payers, voids.payer)
    ok = day <= timeline.end
    src = first.remit[pick[ok]]
    ledger.add_remits(
        claim=first_index + np.flatnonzero(ok),
        day=day[ok],
        status=STATUS["22"],
        paid=-remits["paid"][src],
        patient_resp=-remits["patient_resp"][src],
    )
    return voids, void_lines
