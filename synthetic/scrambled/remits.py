"""First adjudication: what each product pays on a clean line, and the 835 a denial comes back as.

Paid lines carry the routine adjustments a real 835 does (CO-45 contractual, PR-1/2/3 deductible,
coinsurance and copay, CO-253 sequestration for Medicare products). A denial carries the CARC/RARC of its
cause from ``DENIAL_CODES``, whose CARCs (refined by their RARCs) map to that cause in the shipped code
table: a claim-level cause denies the whole claim (status 4, one claim-level CAS row, or one per line for
products that itemise); a line-level cause denies the lines whose part fired, and pays the others (a
partial denial) unless every line fired. Remits dated after the history end are not emitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic.ledger import Ledger
from synthetic.scrambled.claims import Claims, Lines
from synthetic.scrambled.hazards import LINE_CAUSES, C, Outcome
from synthetic.scrambled.market import Products
from synthetic.timeline import Timeline

STATUS_CODES: tuple[str, ...] = ("1", "4")
GROUPS: tuple[str, ...] = ("CO", "PR", "OA")
# cause -> ((carc, rarc, weight), ...), ((group, weight), ...)
DENIAL_CODES: dict[str, tuple[tuple[tuple[str, str, float], ...], tuple[tuple[str, float], ...]]] = {
    "eligibility": ((("27", "", 0.55), ("27", "N30", 0.2), ("26", "", 0.1), ("31", "", 0.15)), (("CO", 1.0),)),
    "coordination_of_benefits": ((("22", "", 0.5), ("22", "MA04", 0.3), ("109", "", 0.2)), (("CO", 0.8), ("OA", 0.2))),
    "duplicate": ((("18", "", 0.8), ("18", "N111", 0.2)), (("OA", 0.6), ("CO", 0.4))),
    "timely_filing": ((("29", "", 1.0),), (("CO", 1.0),)),
    "missing_information": (
        (("16", "M51", 0.35), ("16", "N290", 0.25), ("16", "N382", 0.25), ("252", "N706", 0.15)),
        (("CO", 1.0),),
    ),
    "coding": ((("4", "N519", 0.4), ("4", "", 0.3), ("182", "", 0.3)), (("CO", 1.0),)),
    "authorization": ((("197", "", 0.8), ("197", "M62", 0.2)), (("CO", 1.0),)),  # no authorization obtained
    "non_covered": ((("96", "", 0.45), ("204", "", 0.35), ("96", "N216", 0.2)), (("CO", 0.75), ("PR", 0.25))),
    "medical_necessity": ((("50", "N115", 0.45), ("50", "", 0.35), ("167", "", 0.2)), (("CO", 1.0),)),  # N115: an LCD
    "other": ((("A1", "", 1.0),), (("CO", 1.0),)),
}
AUTH_MISMATCH_CODES: tuple[tuple[str, str, float], ...] = (("198", "N54", 0.7), ("198", "", 0.3))
_ROUTINE = ("45", "1", "2", "3", "253")
CARCS: tuple[str, ...] = tuple(
    dict.fromkeys(
        list(_ROUTINE)
        + [c for codes, _ in DENIAL_CODES.values() for c, _, _ in codes]
        + [c for c, _, _ in AUTH_MISMATCH_CODES]
    )
)
RARCS: tuple[str, ...] = tuple(
    dict.fromkeys([r for codes, _ in DENIAL_CODES.values() for _, r, _ in codes if r] + ["N54"])
)
CARC = {c: i for i, c in enumerate(CARCS)}
RARC = {r: i for i, r in enumerate(RARCS)}
GROUP = {g: i for i, g in enumerate(GROUPS)}
STATUS = {s: i for i, s in enumerate(STATUS_CODES)}


@dataclass
class LinePay:
    """What each line would be paid if adjudicated clean, and its patient share."""

    allowed: np.ndarray
    deductible: np.ndarray
    coinsurance: np.ndarray
    copay: np.ndarray
    sequestration: np.ndarray
    paid: np.ndarray


@dataclass
class FirstRemits:
    remit: np.ndarray  # ledger index per claim, -1 if after the history end
    day: np.ndarray  # per claim: remit day (may lie after the history end)
    denied_line: np.ndarray  # per line
    denied_amount: np.ndarray  # per claim
    full: np.ndarray  # per claim: status 4
    group: np.ndarray  # per claim: group code of the denial's adjustments (-1 not denied)
    carc: np.ndarray  # per claim: CARC of the denial's (first) adjustment
    rarc: np.ndarray  # per claim: RARC of the denial's (first) adjustment, -1 none


def price_lines(
    rng: np.random.Generator, *, claims: Claims, lines: Lines, products: Products, timeline: Timeline
) -> LinePay:
    lc = lines.claim
    product = claims.product[lc]
    plan = np.asarray(products.plan)[product]
    allowed = np.round(
        np.minimum(lines.charge, lines.charge * products.allowed_ratio[product] * rng.lognormal(0, 0.06, len(lc))), 2
    )
    cal = timeline.calendar_month_of(claims.service_from)
    p_ded = np.select([cal == 1, cal == 2, cal == 3], [0.35, 0.25, 0.18], 0.07)[lc]
    medicaid_like = np.isin(plan, ["medicaid", "managed_medicaid"])
    first = lines.line_number == 1
    deductible = np.where(first & ~medicaid_like & (rng.random(len(lc)) < p_ded), rng.uniform(25, 1200, len(lc)), 0.0)
    deductible = np.round(np.minimum(deductible, allowed), 2)
    copay_ok = first & np.isin(plan, ["commercial", "medicare_advantage"]) & (rng.random(len(lc)) < 0.5)
    copay = np.round(
        np.where(copay_ok, np.minimum(rng.choice([20.0, 30.0, 40.0, 50.0], len(lc)), allowed - deductible), 0.0), 2
    )
    coins = np.round(products.coinsurance[product] * (allowed - deductible - copay), 2)
    rest = allowed - deductible - copay - coins
    seq = np.where(np.isin(plan, ["medicare", "medicare_advantage"]), np.round(0.02 * rest, 2), 0.0)
    return LinePay(
        allowed=allowed,
        deductible=deductible,
        coinsurance=coins,
        copay=copay,
        sequestration=seq,
        paid=np.round(rest - seq, 2),
    )


def pick_codes(
    rng: np.random.Generator, cause: np.ndarray, *, mismatch: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group, carc, rarc) vocabulary indices for rows with the given causes; ``mismatch`` rows of the
    authorization cause use the mismatch codes (198/15 with N54)."""
    n = len(cause)
    group = np.full(n, GROUP["CO"], dtype=np.int64)
    carc = np.zeros(n, dtype=np.int64)
    rarc = np.full(n, -1, dtype=np.int64)
    u_code, u_group = rng.random(n), rng.random(n)
    is_mismatch = np.zeros(n, dtype=bool) if mismatch is None else mismatch & (cause == C["authorization"])
    plans = [((cause == C[name]) & ~is_mismatch, codes, groups) for name, (codes, groups) in DENIAL_CODES.items()]
    plans.append((is_mismatch, AUTH_MISMATCH_CODES, DENIAL_CODES["authorization"][1]))
    for m, table, groups in plans:
        if not m.any():
            continue
        w = np.cumsum([x[2] for x in table])
        pick = np.minimum(np.searchsorted(w / w[-1], u_code[m], side="right"), len(table) - 1)
        carc[m] = np.array([CARC[x[0]] for x in table])[pick]
        rarc[m] = np.array([RARC[x[1]] if x[1] else -1 for x in table])[pick]
        gw = np.cumsum([g[1] for g in groups])
        gpick = np.minimum(np.searchsorted(gw / gw[-1], u_group[m], side="right"), len(groups) - 1)
        group[m] = np.array([GROUP[g[0]] for g in groups])[gpick]
    return group, carc, rarc


def post_paid_lines(
    ledger: Ledger, *, remit: np.ndarray, claim: np.ndarray, lines: Lines, pay: LinePay, idx: np.ndarray
) -> None:
    """Routine line-level CAS rows of paid lines ``idx``."""
    parts = (
        (GROUP["CO"], CARC["45"], lines.charge[idx] - pay.allowed[idx]),
        (GROUP["PR"], CARC["1"], pay.deductible[idx]),
        (GROUP["PR"], CARC["2"], pay.coinsurance[idx]),
        (GROUP["PR"], CARC["3"], pay.copay[idx]),
        (GROUP["CO"], CARC["253"], pay.sequestration[idx]),
    )
    for group, carc, amount in parts:
        m = amount > 0.004
        k = int(m.sum())
        ledger.add_adjustments(
            remit=remit[m],
            claim=claim[m],
            line_number=lines.line_number[idx][m],
            group=np.full(k, group),
            carc=np.full(k, carc),
            rarc=np.full(k, -1),
            amount=amount[m],
        )


def remit_day(rng: np.random.Generator, *, products: Products, product: np.ndarray, sent: np.ndarray) -> np.ndarray:
    lag = np.maximum(3, np.round(products.remit_lag_days[product] * rng.gamma(4.0, 0.25, len(product))))
    return sent + lag.astype(np.int64)


def adjudicate_first(
    rng: np.random.Generator,
    *,
    ledger: Ledger,
    claims: Claims,
    lines: Lines,
    outcome: Outcome,
    pay: LinePay,
    products: Products,
    timeline: Timeline,
) -> FirstRemits:
    n, lc = len(claims), lines.claim
    day = remit_day(rng, products=products, product=claims.product, sent=claims.submitted)
    emitted = day <= timeline.end
    n_fired = np.bincount(lc, weights=outcome.line_fired, minlength=n)
    # a line cause, or a coding denial whose lines lacked a required modifier: the payer denies those lines
    own_lines = np.isin(outcome.cause, LINE_CAUSES) | ((outcome.cause == C["coding"]) & (n_fired > 0))
    line_cause = own_lines & outcome.denied
    full = outcome.denied & (~line_cause | (n_fired == claims.n_lines))
    denied_line = np.where(full[lc], True, outcome.line_fired & line_cause[lc])
    denied_line &= outcome.denied[lc]
    total = np.bincount(lc, weights=lines.charge, minlength=n)

    # the denial's codes: one draw per claim (claim-level rows) and one per line (itemised rows)
    mismatch_line = lines.auth_mismatch & ~outcome.auth_kind_missing
    c_group, c_carc, c_rarc = pick_codes(rng, outcome.cause)
    l_group, l_carc, l_rarc = pick_codes(rng, outcome.cause[lc], mismatch=mismatch_line)
    itemised = line_cause | products.line_level_cas[claims.product]  # per claim: CAS per denied line
    pr_line = np.where(denied_line, 0.0, pay.deductible + pay.coinsurance + pay.copay)
    paid = np.bincount(lc, weights=np.where(denied_line, 0.0, pay.paid), minlength=n)
    pr = np.bincount(lc, weights=pr_line, minlength=n)
    patient_denied = np.where(itemised[lc] & denied_line & (l_group == GROUP["PR"]), lines.charge, 0.0)
    pr += np.bincount(lc, weights=patient_denied, minlength=n)
    pr += np.where(outcome.denied & ~itemised & (c_group == GROUP["PR"]), total, 0.0)
    status = np.where(full, STATUS["4"], STATUS["1"])  # every claim here is sent to its primary payer

    em = np.flatnonzero(emitted)
    remit = np.full(n, -1, dtype=np.int64)
    remit[em] = ledger.add_remits(claim=em, day=day[em], status=status[em], paid=paid[em], patient_resp=pr[em])
    l_em, l_remit = emitted[lc], remit[lc]
    ok = np.flatnonzero(l_em & ~denied_line)
    post_paid_lines(ledger, remit=l_remit[ok], claim=lc[ok], lines=lines, pay=pay, idx=ok)
    dl = np.flatnonzero(l_em & denied_line & itemised[lc])
    ledger.add_adjustments(
        remit=l_remit[dl],
        claim=lc[dl],
        line_number=lines.line_number[dl],
        group=l_group[dl],
        carc=l_carc[dl],
        rarc=l_rarc[dl],
        amount=lines.charge[dl],
    )
    cl = np.flatnonzero(emitted & outcome.denied & ~itemised)
    ledger.add_adjustments(
        remit=remit[cl],
        claim=cl,
        line_number=np.zeros(len(cl), dtype=np.int64),
        group=c_group[cl],
        carc=c_carc[cl],
        rarc=c_rarc[cl],
        amount=total[cl],
    )
    # the codes that describe each claim's denial: its claim-level row, or its first denied line's
    first_line = np.full(n, -1, dtype=np.int64)
    dl_all = np.flatnonzero(denied_line)
    uniq, pos = np.unique(lc[dl_all], return_index=True)
    first_line[uniq] = dl_all[pos]
    fl = np.maximum(first_line, 0)
    group = np.where(outcome.denied, np.where(itemised, l_group[fl], c_group), -1)
    return FirstRemits(
        remit=remit,
        day=day,
        denied_line=denied_line,
        denied_amount=np.round(np.bincount(lc, weights=np.where(denied_line, lines.charge, 0.0), minlength=n), 2),
        full=full,
        group=group,
        carc=np.where(outcome.denied, np.where(itemised, l_carc[fl], c_carc), -1),
        rarc=np.where(outcome.denied, np.where(itemised, l_rarc[fl], c_rarc), -1),
    )
