"""The team works denials: corrected claims, appeals, calls, write-offs, and what comes back.

Which action a denial gets follows its cause (a fixable claim-level error -> a corrected claim, frequency 7;
a clinical or authorization denial -> an appeal; a filing-limit denial -> a reconsideration with proof of
timely filing; eligibility and duplicates -> a call to the payer; a patient-responsibility non-coverage ->
bill the patient). Whether it is worked at all depends on its amount.

Recovery truth: a worked denial is recovered with

    p_recover_if_worked = sigmoid(BASE[cause] + product effect + (product's payer x CARC) effect
                                  + (CARC x RARC) effect + AMOUNT_SLOPE * log(denied / 300)
                                  - DELAY_SLOPE * days from denial to work),

so the payer, the codes on the remit, the amount and the timing all carry signal. A recovered denial is paid
in full with probability 1 - PARTIAL_SHARE, else half of it, so expected_recovered_amount =
p * recoverable * (1 - PARTIAL_SHARE / 2), where recoverable is what the denied lines pay when clean.
Payments come back as a later remit on the same claim (appeal, reconsideration, call) or as the remit of
the replacement claim (corrected claim), dated the action's outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic.ledger import Ledger
from synthetic.scrambled.claims import Claims, Lines, expand, subset
from synthetic.scrambled.hazards import CAUSES, C
from synthetic.scrambled.market import Products
from synthetic.scrambled.remits import (
    CARCS,
    GROUP,
    RARCS,
    STATUS,
    FirstRemits,
    LinePay,
    post_paid_lines,
    remit_day,
)
from synthetic.timeline import Timeline

ACTIONS: tuple[str, ...] = ("corrected_claim", "appeal", "reconsideration", "payer_call", "write_off", "bill_patient")
A = {a: i for i, a in enumerate(ACTIONS)}
OUTCOMES: tuple[str, ...] = ("overturned", "partial", "upheld", "pending", "no_response")
OUT = {o: i for i, o in enumerate(OUTCOMES)}
ACTION_OF_CAUSE: dict[str, str] = {
    "eligibility": "payer_call",
    "coordination_of_benefits": "corrected_claim",
    "duplicate": "payer_call",
    "timely_filing": "reconsideration",
    "missing_information": "corrected_claim",
    "coding": "corrected_claim",
    "authorization": "appeal",
    "non_covered": "appeal",
    "medical_necessity": "appeal",
    "other": "reconsideration",
}
BASE: dict[str, float] = {
    "eligibility": -1.6,
    "coordination_of_benefits": 1.2,
    "duplicate": -4.0,
    "timely_filing": -1.8,
    "missing_information": 1.6,
    "coding": 1.1,
    "authorization": 0.0,
    "non_covered": -1.4,
    "medical_necessity": -0.3,
    "other": -0.5,
}
AMOUNT_SLOPE = 0.25
DELAY_SLOPE = 0.015
PARTIAL_SHARE = 0.2
NO_RESPONSE_SHARE = 0.15


@dataclass
class FollowupResult:
    rows: dict[str, np.ndarray]  # claim, action, action_day, level, outcome, outcome_day (-1 none)
    replacements: Claims
    replacement_lines: Lines
    replacement_of: np.ndarray  # original claim index of each replacement
    truth: dict[str, np.ndarray]  # claim, p_recover_if_worked, expected_recovered_amount, worked, cause


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def work_denials(
    rng: np.random.Generator,
    *,
    ledger: Ledger,
    claims: Claims,
    lines: Lines,
    cause: np.ndarray,
    denied: np.ndarray,
    first: FirstRemits,
    pay: LinePay,
    products: Products,
    timeline: Timeline,
) -> FollowupResult:
    lc = lines.claim
    d = np.flatnonzero(denied & (first.remit >= 0))
    k = len(d)
    cause_d = cause[d]
    amount = first.denied_amount[d]
    recoverable = np.bincount(lc, weights=np.where(first.denied_line, pay.paid, 0.0), minlength=len(claims))[d]
    product = claims.product[d]
    payer = products.payer[product]

    # structure the recovery model can learn: effects per (payer, CARC) and per (CARC, RARC), drawn once
    payer_carc = rng.normal(0.0, 0.6, (len(products.payer_ids), len(CARCS)))
    carc_rarc = rng.normal(0.0, 0.5, (len(CARCS), len(RARCS) + 1))
    delay = 2 + np.round(rng.gamma(2.0, 12.0, k)).astype(np.int64)
    logit = (
        np.array([BASE[c] for c in CAUSES])[cause_d]
        + products.appeal_effect[product]
        + payer_carc[payer, first.carc[d]]
        + carc_rarc[first.carc[d], first.rarc[d]]  # rarc -1 -> the last column, "no remark"
        + AMOUNT_SLOPE * np.log(np.maximum(amount, 1.0) / 300.0)
        - DELAY_SLOPE * delay
    )
    p_recover = _sigmoid(logit)
    patient_bill = (cause_d == C["non_covered"]) & (first.group[d] == GROUP["PR"])
    worked = ~patient_bill & (rng.random(k) < _sigmoid(0.4 + 0.5 * np.log(np.maximum(amount, 1.0) / 300.0)))
    recovered = worked & (rng.random(k) < p_recover)
    partial = recovered & (rng.random(k) < PARTIAL_SHARE)
    fraction = np.where(partial, 0.5, 1.0)
    expected = p_recover * recoverable * (1.0 - PARTIAL_SHARE / 2.0)

    action = np.array([A[ACTION_OF_CAUSE[c]] for c in CAUSES])[cause_d]
    action_day = first.day[d] + delay
    resolve = np.where(action == A["corrected_claim"], 0, rng.integers(20, 61, k))
    outcome_day = action_day + resolve  # corrected claims: set from the replacement's remit below
    outcome = np.where(recovered, np.where(partial, OUT["partial"], OUT["overturned"]), OUT["upheld"])
    silent = ~recovered & (action != A["corrected_claim"]) & (rng.random(k) < NO_RESPONSE_SHARE)
    outcome = np.where(silent, OUT["no_response"], outcome)

    # corrected claims: a replacement (frequency 7) of the whole claim, paid if recovered, denied again if not
    corr = np.flatnonzero(worked & (action == A["corrected_claim"]) & (action_day <= timeline.end))
    src = d[corr]
    repl = subset(claims, src)
    repl_lines = subset(lines, expand(claims.line_start[src], claims.n_lines[src]))
    first_index = len(claims)
    repl_lines.claim = first_index + np.repeat(np.arange(len(src)), repl.n_lines)
    repl.line_start = len(lines) + np.cumsum(repl.n_lines) - repl.n_lines
    repl.submitted = action_day[corr]
    repl.duplicate_of = np.full(len(src), -1, dtype=np.int64)
    r_day = remit_day(rng, products=products, product=repl.product, sent=repl.submitted)
    outcome_day[corr] = r_day
    _post_replacement_remits(
        ledger,
        src=src,
        first_index=first_index,
        day=r_day,
        recovered=recovered[corr],
        fraction=fraction[corr],
        claims=claims,
        lines=lines,
        first=first,
        pay=pay,
        end=timeline.end,
    )
    # appeals, reconsiderations and calls that succeed: a later remit on the same claim
    later = np.flatnonzero(recovered & (action != A["corrected_claim"]) & (outcome_day <= timeline.end))
    _post_later_payments(
        ledger, claim=d[later], day=outcome_day[later], fraction=fraction[later], lines=lines, first=first, pay=pay
    )

    pending = outcome_day > timeline.end
    outcome = np.where(pending, OUT["pending"], outcome)
    outcome_day = np.where(pending, -1, outcome_day)
    level = np.where(action == A["appeal"], 1, -1)
    # unworked denials: some are written off after months, patient-liable ones are billed to the patient
    idle = np.flatnonzero(~worked)
    idle_day = first.day[d[idle]] + np.where(
        patient_bill[idle], rng.integers(5, 21, len(idle)), rng.integers(60, 181, len(idle))
    )
    idle_action = np.where(patient_bill[idle], A["bill_patient"], A["write_off"])
    act_idle = patient_bill[idle] | (rng.random(len(idle)) < 0.6)
    idle = idle[act_idle]
    idle_day, idle_action = idle_day[act_idle], idle_action[act_idle]
    # lost causes written off after an upheld decision
    lost = np.flatnonzero(worked & (outcome == OUT["upheld"]) & (rng.random(k) < 0.5))
    lost_day = outcome_day[lost] + rng.integers(5, 31, len(lost))
    w = worked
    rows = {
        "claim": np.concatenate([d[w], d[idle], d[lost]]),
        "action": np.concatenate([action[w], idle_action, np.full(len(lost), A["write_off"])]),
        "action_day": np.concatenate([action_day[w], idle_day, lost_day]),
        "level": np.concatenate([level[w], np.full(len(idle) + len(lost), -1)]),
        "outcome": np.concatenate([outcome[w], np.full(len(idle) + len(lost), -1)]),
        "outcome_day": np.concatenate([outcome_day[w], np.full(len(idle) + len(lost), -1)]),
    }
    return FollowupResult(
        rows=rows,
        replacements=repl,
        replacement_lines=repl_lines,
        replacement_of=src,
        truth={
            "claim": d,
            "p_recover_if_worked": np.round(p_recover, 6),
            "expected_recovered_amount": np.round(expected, 2),
            "worked": worked,
            "cause": cause_d,
        },
    )


def _post_replacement_remits(
    ledger: Ledger,
    *,
    src: np.ndarray,
    first_index: int,
    day: np.ndarray,
    recovered: np.ndarray,
    fraction: np.ndarray,
    claims: Claims,
    lines: Lines,
    first: FirstRemits,
    pay: LinePay,
    end: int,
) -> None:
    """Remits of the replacement claims: paid lines as on a clean claim (times ``fraction``), or the same
    denial again (status 4, the original's codes at claim level)."""
    ok = np.flatnonzero(day <= end)
    new_ids = first_index + ok
    line_idx = expand(claims.line_start[src[ok]], claims.n_lines[src[ok]])
    owner = np.repeat(np.arange(len(ok)), claims.n_lines[src[ok]])
    got = recovered[ok]
    paid = np.bincount(owner, weights=pay.paid[line_idx], minlength=len(ok)) * fraction[ok]
    pr = np.bincount(owner, weights=(pay.deductible + pay.coinsurance + pay.copay)[line_idx], minlength=len(ok))
    remit = ledger.add_remits(
        claim=new_ids,
        day=day[ok],
        status=np.where(got, STATUS["1"], STATUS["4"]),
        paid=np.where(got, paid, 0.0),
        patient_resp=np.where(got, pr, 0.0),
    )
    paid_line = np.flatnonzero(got[owner])
    post_paid_lines(
        ledger,
        remit=remit[owner[paid_line]],
        claim=new_ids[owner[paid_line]],
        lines=lines,
        pay=pay,
        idx=line_idx[paid_line],
    )
    half = np.flatnonzero(got & (fraction[ok] < 1.0))
    _denial_rows(ledger, remit=remit[half], claim=new_ids[half], src=src[ok][half], amount=paid[half], first=first)
    again = np.flatnonzero(~got)
    charge = np.bincount(owner, weights=lines.charge[line_idx], minlength=len(ok))
    _denial_rows(
        ledger, remit=remit[again], claim=new_ids[again], src=src[ok][again], amount=charge[again], first=first
    )


def _post_later_payments(
    ledger: Ledger,
    *,
    claim: np.ndarray,
    day: np.ndarray,
    fraction: np.ndarray,
    lines: Lines,
    first: FirstRemits,
    pay: LinePay,
) -> None:
    """A later remit on the denied claim itself paying its denied lines (times ``fraction``)."""
    line_idx = expand(lines_start(lines, claim), lines_count(lines, claim))
    line_idx = line_idx[first.denied_line[line_idx]]
    owner = np.searchsorted(claim, lines.claim[line_idx])  # ``claim`` is sorted and unique
    full_paid = np.bincount(owner, weights=pay.paid[line_idx], minlength=len(claim))
    paid = np.round(full_paid * fraction, 2)
    pr = np.bincount(owner, weights=(pay.deductible + pay.coinsurance + pay.copay)[line_idx], minlength=len(claim))
    remit = ledger.add_remits(claim=claim, day=day, status=STATUS["1"], paid=paid, patient_resp=pr)
    post_paid_lines(ledger, remit=remit[owner], claim=claim[owner], lines=lines, pay=pay, idx=line_idx)
    half = np.flatnonzero(fraction < 1.0)
    _denial_rows(
        ledger, remit=remit[half], claim=claim[half], src=claim[half], amount=full_paid[half] - paid[half], first=first
    )


def _denial_rows(
    ledger: Ledger, *, remit: np.ndarray, claim: np.ndarray, src: np.ndarray, amount: np.ndarray, first: FirstRemits
) -> None:
    """One claim-level adjustment with the original denial's codes (the part still not paid)."""
    ledger.add_adjustments(
        remit=remit,
        claim=claim,
        line_number=np.zeros(len(claim), dtype=np.int64),
        group=first.group[src],
        carc=first.carc[src],
        rarc=first.rarc[src],
        amount=amount,
    )


def lines_start(lines: Lines, claim: np.ndarray) -> np.ndarray:
    return np.searchsorted(lines.claim, claim, side="left")


def lines_count(lines: Lines, claim: np.ndarray) -> np.ndarray:
    return np.searchsorted(lines.claim, claim, side="right") - lines_start(lines, claim)
