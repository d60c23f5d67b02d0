"""What the billing team does after a denial, and what the payer does next.

Bigger denials are worked more often; the action follows the cause (correct and resubmit, appeal,
call, bill the patient, write off). Work that starts after the payer's appeal or corrected-claim window
rarely succeeds. Successful appeals bring a later payment on the same claim; corrected claims are new
frequency-7 submissions with their own remits, except after an MA130 rejection (the claim was never
processable), whose fix is a new frequency-1 claim for the same service. Medicare records not received
(CO-50 M127) go back as a redetermination with the records. This is where the recovery model's labels come from, and
the truth table records the probability of recovery had each denial been worked promptly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic.adjudication import (
    FirstRemits,
    LinePay,
    choose_codes,
    paid_status,
    post_payment_rows,
    remit_lag,
)
from synthetic.books import ClaimBook, LineBook, copy_claims, expand
from synthetic.entities import Payers
from synthetic.hazards import CAUSES, C, Hazards, R
from synthetic.ledger import CARC, GROUP, RARC, STATUS, Ledger
from synthetic.timeline import Timeline

ACTIONS: tuple[str, ...] = ("corrected_claim", "appeal", "reconsideration", "payer_call", "write_off", "bill_patient")
OUTCOMES: tuple[str, ...] = ("overturned", "partial", "upheld", "pending", "no_response")
A = {a: i for i, a in enumerate(ACTIONS)}
OUT = {o: i for i, o in enumerate(OUTCOMES)}

# per cause: (logit base of being worked, action mix, P(success | worked promptly) per action)
_POLICY: dict[str, tuple[float, dict[str, float], dict[str, float]]] = {
    "eligibility": (0.3, {"corrected_claim": 0.7, "bill_patient": 0.3}, {"corrected_claim": 0.75}),
    "coordination_of_benefits": (0.6, {"corrected_claim": 1.0}, {"corrected_claim": 0.80}),
    "authorization": (0.2, {"appeal": 0.6, "reconsideration": 0.4}, {"appeal": 0.45, "reconsideration": 0.35}),
    "coding": (0.8, {"corrected_claim": 0.85, "appeal": 0.15}, {"corrected_claim": 0.85, "appeal": 0.40}),
    "medical_necessity": (0.0, {"appeal": 0.8, "reconsideration": 0.2}, {"appeal": 0.45, "reconsideration": 0.30}),
    "timely_filing": (-1.0, {"appeal": 0.8, "write_off": 0.2}, {"appeal": 0.12}),
    "duplicate": (-0.3, {"payer_call": 0.9, "write_off": 0.1}, {"payer_call": 0.12}),
    "missing_information": (0.8, {"corrected_claim": 1.0}, {"corrected_claim": 0.88}),
    "non_covered": (-0.2, {"bill_patient": 0.65, "write_off": 0.25, "appeal": 0.10}, {"appeal": 0.15}),
    "other": (
        -0.5,
        {"reconsideration": 0.5, "appeal": 0.3, "payer_call": 0.2},
        {"reconsideration": 0.40, "appeal": 0.40, "payer_call": 0.35},
    ),
}
LATE_FACTOR = 0.08
PARTIAL_SHARE = 0.25
ESCALATE = 0.4
# Medicare records not received (CO-50 M127): the team sends the records as a redetermination (Medicare's
# first appeal level), which mostly succeeds because the records exist.
RECORDS_ACTIONS = {"appeal": 0.75, "reconsideration": 0.25}
RECORDS_SUCCESS = 0.8  # P(the records exist and support the service)
# An unprocessable claim (MA130) never entered the payer's system, so its fix is a NEW claim (frequency 1);
# now and then the team sends a replacement instead, which the payer rejects with CO-16 N142.
MA130_REPLACEMENT_SLIP = 0.1


@dataclass
class FollowupResult:
    rows: dict[str, np.ndarray]  # claim, action, action_day, level (-1 none), outcome (-1 none), outcome_day (-1)
    replacements: ClaimBook  # replacements (frequency 7) and new claims sent after MA130 (frequency 1)
    replacement_lines: LineBook
    truth: dict[str, np.ndarray]  # claim, p_recover_if_worked, expected_recovered_amount, worked, cause
    resubmitted: dict[str, np.ndarray]  # the new claims: claim (index), p_denial, denied, cause


def _pick(rng: np.random.Generator, n: int, options: dict[str, float]) -> np.ndarray:
    names = list(options)
    w = np.cumsum([options[k] for k in names])
    idx = np.minimum(np.searchsorted(w / w[-1], rng.random(n), side="right"), len(names) - 1)
    return np.array([A[k] for k in names])[idx]


def work_denials(
    rng: np.random.Generator,
    *,
    ledger: Ledger,
    claims: ClaimBook,
    lines: LineBook,
    hazards: Hazards,
    first: FirstRemits,
    pay: LinePay,
    payers: Payers,
    timeline: Timeline,
    first_index: int,
    line_offset: int,
    situations: np.random.Generator,
) -> FollowupResult:
    """``situations`` draws what was added later (redetermination levels, MA130 slips): ``rng``'s stream stays."""
    end = timeline.end
    lc = lines.claim
    d = np.flatnonzero(hazards.denied & (first.remit >= 0) & (claims.frequency == 1))
    cause = hazards.cause[d]
    amount = first.denied_amount[d]
    payer = claims.payer[d]
    n = len(d)

    action = np.full(n, A["write_off"], dtype=np.int64)
    base = np.zeros(n)
    p_success = np.zeros(n)
    for c_idx, c_name in enumerate(CAUSES):
        m = cause == c_idx
        logit_base, mix, success = _POLICY[c_name]
        base[m] = logit_base
        action[m] = _pick(rng, int(m.sum()), mix)
        for a_name, p in success.items():
            p_success[m & (action == A[a_name])] = p
    reason = np.where(hazards.claim_reason[d] >= 0, hazards.claim_reason[d], _first_line_reason(hazards, lines, d))
    records = reason == R["records_not_received"]
    action[records] = _pick(situations, int(records.sum()), RECORDS_ACTIONS)
    p_success[records] = RECORDS_SUCCESS
    ma130 = first.ma130[d] & (action == A["corrected_claim"])
    slip = ma130 & (situations.random(n) < MA130_REPLACEMENT_SLIP)
    new_claim = ma130 & ~slip
    log_amount = np.log(np.maximum(amount, 1.0)) - np.log(200.0)
    p_worked = 1.0 / (1.0 + np.exp(-(base + 0.6 * log_amount)))
    decided = rng.random(n) < p_worked
    delay = np.where(rng.random(n) < 0.12, rng.exponential(100.0, n), rng.exponential(20.0, n))
    delay = 1 + np.round(delay).astype(np.int64)
    action_day = first.day[d] + delay
    window = np.select(
        [action == A["corrected_claim"], np.isin(action, [A["appeal"], A["reconsideration"]])],
        [payers.corrected_window_days[payer], payers.appeal_window_days[payer, 0]],
        365,
    )
    late = delay > window
    p_prompt = np.clip(p_success * np.sqrt(payers.appeal_generosity[payer]) * (1 + 0.05 * log_amount), 0, 0.97)
    p_prompt[records] = RECORDS_SUCCESS  # the records decide it, not the payer's generosity
    p1 = np.where(late, p_prompt * LATE_FACTOR, p_prompt)
    success = rng.random(n) < p1
    partial = success & (rng.random(n) < PARTIAL_SHARE)
    fraction = np.where(partial, rng.uniform(0.4, 0.9, n), 1.0)
    worked = decided & (action_day <= end)

    # value recovered on success: a replacement is paid in full; an appeal pays the denied lines
    denied_value = np.bincount(lc, weights=np.where(first.denied_line, pay.paid, 0.0), minlength=len(claims))[d]
    full_value = np.bincount(lc, weights=pay.paid, minlength=len(claims))[d]
    value = np.where(action == A["corrected_claim"], full_value, denied_value)
    appeal_like = np.isin(action, [A["appeal"], A["reconsideration"]])
    p2_prompt = 0.6 * p_prompt
    p_total = p_prompt + np.where(appeal_like, (1 - p_prompt) * 0.75 * ESCALATE * p2_prompt, 0.0)
    p_total = np.where(np.isin(action, [A["write_off"], A["bill_patient"]]), 0.0, p_total)
    p_total = np.where(ma130, (1 - MA130_REPLACEMENT_SLIP) * p_total, p_total)
    truth = {
        "claim": d,
        "p_recover_if_worked": p_total,
        "expected_recovered_amount": np.round(p_total * value * (1 - PARTIAL_SHARE * 0.35), 2),
        "worked": worked,
        "cause": cause,
    }

    rows: list[dict[str, np.ndarray]] = []
    _, res_carc, res_rarc = choose_codes(rng, reason)

    # --- appeals, reconsiderations, payer calls: answered on the same claim ------------------------
    talk = worked & np.isin(action, [A["appeal"], A["reconsideration"], A["payer_call"]])
    response = np.where(
        action == A["payer_call"],
        rng.integers(0, 6, n),
        np.round(payers.response_days[payer] * rng.gamma(4.0, 0.25, n)).astype(np.int64),
    )
    outcome_day = action_day + response
    no_response = ~success & (rng.random(n) < 0.25) & (action != A["payer_call"])
    outcome = np.select(
        [success & ~partial, success & partial, no_response],
        [OUT["overturned"], OUT["partial"], OUT["no_response"]],
        OUT["upheld"],
    )
    answered = outcome_day <= end
    outcome = np.where(answered, outcome, OUT["pending"])
    level = np.where(appeal_like, 1, -1)
    t = np.flatnonzero(talk)
    rows.append(
        {
            "claim": d[t],
            "action": action[t],
            "action_day": action_day[t],
            "level": level[t],
            "outcome": outcome[t],
            "outcome_day": np.where(answered[t], outcome_day[t], -1),
        }
    )
    paid_back = t[success[t] & answered[t]]
    _recovery_remits(
        rng,
        ledger=ledger,
        claims=claims,
        lines=lines,
        first=first,
        pay=pay,
        d=d,
        sel=paid_back,
        day=outcome_day[paid_back],
        fraction=fraction[paid_back],
        res_carc=res_carc[paid_back],
        res_rarc=res_rarc[paid_back],
    )

    # level 2 after an upheld level-1 appeal
    esc = t[appeal_like[t] & (outcome[t] == OUT["upheld"]) & (rng.random(len(t)) < ESCALATE)]
    delay2 = 1 + np.round(rng.exponential(15.0, len(esc))).astype(np.int64)
    day2 = outcome_day[esc] + delay2
    late2 = delay2 > payers.appeal_window_days[payer[esc], 1]
    p2 = np.where(late2, p2_prompt[esc] * LATE_FACTOR, p2_prompt[esc])
    ok2 = rng.random(len(esc)) < p2
    part2 = ok2 & (rng.random(len(esc)) < PARTIAL_SHARE)
    frac2 = np.where(part2, rng.uniform(0.4, 0.9, len(esc)), 1.0)
    out_day2 = day2 + np.round(payers.response_days[payer[esc]] * rng.gamma(4.0, 0.25, len(esc))).astype(np.int64)
    ans2 = out_day2 <= end
    out2 = np.select(
        [~ans2, ok2 & ~part2, ok2 & part2], [OUT["pending"], OUT["overturned"], OUT["partial"]], OUT["upheld"]
    )
    in_time = day2 <= end
    e = esc[in_time]
    rows.append(
        {
            "claim": d[e],
            "action": np.full(len(e), A["appeal"]),
            "action_day": day2[in_time],
            "level": np.full(len(e), 2),
            "outcome": out2[in_time],
            "outcome_day": np.where(ans2[in_time], out_day2[in_time], -1),
        }
    )
    paid2 = in_time & ok2 & ans2
    _recovery_remits(
        rng,
        ledger=ledger,
        claims=claims,
        lines=lines,
        first=first,
        pay=pay,
        d=d,
        sel=esc[paid2],
        day=out_day2[paid2],
        fraction=frac2[paid2],
        res_carc=res_carc[esc[paid2]],
        res_rarc=res_rarc[esc[paid2]],
    )

    # --- write-offs and patient billing: no payer outcome ---------------------------------------------
    w = np.flatnonzero(worked & np.isin(action, [A["write_off"], A["bill_patient"]]))
    rows.append(
        {
            "claim": d[w],
            "action": action[w],
            "action_day": action_day[w],
            "level": np.full(len(w), -1),
            "outcome": np.full(len(w), -1),
            "outcome_day": np.full(len(w), -1),
        }
    )

    # --- corrected claims: replacement submissions with their own remits ----------------------------------
    # (after MA130 a new original claim for the same service instead: nothing to replace)
    k = np.flatnonzero(worked & (action == A["corrected_claim"]))
    src = d[k]
    fresh = new_claim[k]
    slipped = slip[k]
    ok_k = success[k] & ~slipped
    repl, repl_lines = copy_claims(claims, lines, src, first_index=first_index, line_offset=line_offset)
    repl.frequency = np.where(fresh, 1, 7).astype(np.int64)
    repl.original = np.where(fresh, -1, src)
    repl.duplicate_of = np.full(len(k), -1, dtype=np.int64)
    repl.submitted = action_day[k]
    repl.verified = np.ones(len(k), dtype=bool)
    repl.rendering_missing = np.zeros(len(k), dtype=bool)
    repl.has_referral = repl.has_referral | repl.referral_required
    repl_lines.mod_present = np.ones(len(repl_lines), dtype=bool)
    repl_lines.mod_bad = np.full(len(repl_lines), -1, dtype=np.int64)
    r_day = action_day[k] + remit_lag(rng, payers, payer[k])
    r_emitted = r_day <= end
    r_outcome = np.select(
        [~r_emitted, ok_k & ~partial[k], ok_k & partial[k]],
        [OUT["pending"], OUT["overturned"], OUT["partial"]],
        OUT["upheld"],
    )
    rows.append(
        {
            "claim": src,
            "action": action[k],
            "action_day": action_day[k],
            "level": np.full(len(k), -1),
            "outcome": r_outcome,
            "outcome_day": np.where(r_emitted, r_day, -1),
        }
    )
    new_ids = first_index + np.arange(len(k))
    src_line = expand(claims.line_start[src], claims.n_lines[src])
    l_owner = np.repeat(np.arange(len(k)), claims.n_lines[src])
    ok = r_emitted & ok_k
    l_frac = fraction[k][l_owner]
    paid_amt = np.bincount(l_owner, weights=pay.paid[src_line] * l_frac, minlength=len(k))
    pr_amt = np.bincount(l_owner, weights=pay.patient[src_line], minlength=len(k))
    charge = np.bincount(l_owner, weights=lines.charge[src_line], minlength=len(k))
    status = np.where(ok, paid_status(rng, repl.secondary), STATUS["4"])
    em = np.flatnonzero(r_emitted)
    remit = np.full(len(k), -1, dtype=np.int64)
    remit[em] = ledger.add_remits(
        claim=new_ids[em],
        day=r_day[em],
        status=status[em],
        paid=np.where(ok, paid_amt, 0.0)[em],
        patient_resp=np.where(ok, pr_amt, 0.0)[em],
    )
    pl = np.flatnonzero(ok[l_owner])
    post_payment_rows(
        ledger,
        remit=remit[l_owner[pl]],
        claim=new_ids[l_owner[pl]],
        line_number=lines.line_number[src_line[pl]],
        charge=lines.charge[src_line[pl]],
        pay=pay,
        idx=src_line[pl],
        fraction=l_frac[pl],
        residual_carc=res_carc[k][l_owner[pl]],
        residual_rarc=res_rarc[k][l_owner[pl]],
    )
    fail = np.flatnonzero(r_emitted & ~ok_k)
    late_k = late[k][fail]
    slip_k = slipped[fail]
    ledger.add_adjustments(
        remit=remit[fail],
        claim=new_ids[fail],
        line_number=np.zeros(len(fail), dtype=np.int64),
        group=np.full(len(fail), GROUP["CO"]),
        carc=np.select([slip_k, late_k], [CARC["16"], CARC["29"]], res_carc[k][fail]),
        rarc=np.select([slip_k, late_k], [RARC["N142"], -1], res_rarc[k][fail]),
        amount=charge[fail],
    )

    out = {key: np.concatenate([r[key] for r in rows]).astype(np.int64) for key in rows[0]}
    f = np.flatnonzero(fresh)
    resubmitted = {
        "claim": new_ids[f],
        "p_denial": 1.0 - p1[k][f],
        "denied": ~success[k][f],
        # a fix sent after the window is refused for lateness (CO-29), else for the original reason
        "cause": np.where(late[k][f], C["timely_filing"], cause[k][f]),
    }
    return FollowupResult(
        rows=out, replacements=repl, replacement_lines=repl_lines, truth=truth, resubmitted=resubmitted
    )


def _first_line_reason(hazards: Hazards, lines: LineBook, d: np.ndarray) -> np.ndarray:
    out = np.full(len(hazards.denied), -1, dtype=np.int64)
    off = np.flatnonzero(hazards.line_reason >= 0)
    uniq, pos = np.unique(lines.claim[off], return_index=True)
    out[uniq] = hazards.line_reason[off[pos]]
    return np.maximum(out[d], 0)


def _recovery_remits(
    rng: np.random.Generator,
    *,
    ledger: Ledger,
    claims: ClaimBook,
    lines: LineBook,
    first: FirstRemits,
    pay: LinePay,
    d: np.ndarray,
    sel: np.ndarray,
    day: np.ndarray,
    fraction: np.ndarray,
    res_carc: np.ndarray,
    res_rarc: np.ndarray,
) -> None:
    """A later payment on the denied claim itself, for its denied lines (status 1)."""
    if len(sel) == 0:
        return
    claim = d[sel]
    line_idx = expand(claims.line_start[claim], claims.n_lines[claim])
    owner = np.repeat(np.arange(len(sel)), claims.n_lines[claim])
    keep = first.denied_line[line_idx]
    line_idx, owner = line_idx[keep], owner[keep]
    paid = np.bincount(owner, weights=pay.paid[line_idx] * fraction[owner], minlength=len(sel))
    pr = np.bincount(owner, weights=pay.patient[line_idx], minlength=len(sel))
    remit = ledger.add_remits(claim=claim, day=day, status=STATUS["1"], paid=paid, patient_resp=pr)
    post_payment_rows(
        ledger,
        remit=remit[owner],
        claim=claim[owner],
        line_number=lines.line_number[line_idx],
        charge=lines.charge[line_idx],
        pay=pay,
        idx=line_idx,
        fraction=fraction[owner],
        residual_carc=res_carc[owner],
        residual_rarc=res_rarc[owner],
    )
