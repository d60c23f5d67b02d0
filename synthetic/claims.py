"""Claim and line generation: what the practice submits, including its habits and mistakes.

Every later denial must trace back to something here: a missing modifier, a code its payer wants
authorized, an unsupported diagnosis, a late submission, a stale payer on file, a re-sent duplicate.
Those mistakes are drawn from provider, facility and patient propensities, so they cluster the way they
do in real billing offices. Original claims (plus ~1.5% duplicates re-sent by the practice) only;
replacements and voids are created later by the follow-up stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic.books import MOD, ClaimBook, LineBook, concat, copy_claims, reorder
from synthetic.code_catalog import FAM, SUBFAMILIES, DiagnosisCatalog, ProcedureCatalog, sample_cdf
from synthetic.entities import (
    CERTIFIED_FAMILIES,
    FAMILY_MIX,
    NEEDS_REFERRAL,
    PLAN,
    POS_CODES,
    SPECIALTIES,
    Facilities,
    Patients,
    Payers,
    Providers,
    pos_table,
)
from synthetic.hidden import AUTH_MISMATCH_RATE, p_cob_wrong, p_generic_missing, p_stale, season_factor
from synthetic.rules import Drift, true_auth_required
from synthetic.timeline import Timeline

LINE_COUNT_P = np.array([0.38, 0.25, 0.17, 0.10, 0.06, 0.04])
DUPLICATE_RATE = 0.015
ABN_RATE = 0.55  # Medicare lines the practice knows are not covered: an ABN was signed (GA)
ABN_COVERED_RATE = 0.005  # other Medicare lines with an ABN signed just in case
REVENUE_CODES: tuple[str, ...] = tuple(sorted({s.revenue_code for s in SUBFAMILIES} | {"0450"}))
POS = {p: i for i, p in enumerate(POS_CODES)}


@dataclass(frozen=True)
class World0:
    """Entities the claim stage draws from."""

    payers: Payers
    providers: Providers
    facilities: Facilities
    patients: Patients
    procedures: ProcedureCatalog
    diagnoses: DiagnosisCatalog
    timeline: Timeline
    drift: Drift


class CodeSampler:
    """Zipf popularity of procedure codes within (specialty, family): shared global taste plus noise."""

    def __init__(self, rng: np.random.Generator, procedures: ProcedureCatalog) -> None:
        self.members: dict[tuple[int, int], np.ndarray] = {}
        self.cdfs: dict[tuple[int, int], np.ndarray] = {}
        for s in range(len(SPECIALTIES)):
            for f in range(FAMILY_MIX.shape[1]):
                members = np.flatnonzero(procedures.family == f)
                score = procedures.popularity[members] + rng.normal(0.0, 0.8, len(members))
                rank = np.empty(len(members), dtype=np.int64)
                rank[np.argsort(-score, kind="stable")] = np.arange(len(members))
                weight = 1.0 / (rank + 1.0) ** 1.1
                self.members[(s, f)] = members
                c = np.cumsum(weight)
                self.cdfs[(s, f)] = c / c[-1]

    def sample(self, rng: np.random.Generator, specialty: np.ndarray, family: np.ndarray) -> np.ndarray:
        out = np.empty(len(specialty), dtype=np.int64)
        key = specialty * 100 + family
        order = np.argsort(key, kind="stable")
        keys, starts = np.unique(key[order], return_index=True)
        ends = np.append(starts[1:], len(order))
        for k, a, b in zip(keys.tolist(), starts.tolist(), ends.tolist(), strict=True):
            s, f = divmod(k, 100)
            idx = order[a:b]
            out[idx] = self.members[(s, f)][sample_cdf(rng, self.cdfs[(s, f)], b - a)]
        return out


def _sample_months(rng: np.random.Generator, timeline: Timeline, n: int) -> np.ndarray:
    m = np.arange(timeline.months)
    weight = np.exp(0.01 * m) * (1.0 + 0.07 * np.cos(2 * np.pi * (timeline.calendar_month - 1) / 12.0))
    c = np.cumsum(weight)
    return sample_cdf(rng, c / c[-1], n)


def _gumbel_top_k(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    keys = np.where(weights > 0, np.log(np.maximum(weights, 1e-300)) + rng.gumbel(size=len(weights)), -np.inf)
    return np.sort(np.argpartition(-keys, k - 1)[:k]) if k > 0 else np.zeros(0, dtype=np.int64)


def generate_claims(
    rng: np.random.Generator, *, world: World0, n_claims: int, situations: np.random.Generator
) -> tuple[ClaimBook, LineBook]:
    """``n_claims`` original claims (frequency 1), of which ~1.5% are practice re-sends (duplicates).

    ``situations`` draws what was added later (advance beneficiary notices), so ``rng``'s stream is unchanged."""
    n_dup = int(round(DUPLICATE_RATE * n_claims)) if n_claims >= 200 else 0
    n = n_claims - n_dup
    tl, payers, prov, fac, pat = world.timeline, world.payers, world.providers, world.facilities, world.patients
    procs = world.procedures

    # --- who and when -----------------------------------------------------------------------------------
    patient = sample_cdf(rng, _cdf(pat.visit_weight), n)
    provider = sample_cdf(rng, _cdf(prov.volume), n)
    payer = pat.payer[patient]
    secondary = pat.secondary[patient]
    spec = prov.specialty[provider]
    facility = np.where(rng.random(n) < 0.85, prov.facility[provider], prov.facility_alt[provider])
    hospital = fac.hospital[facility]
    pos = np.empty(n, dtype=np.int64)
    for is_hosp in (False, True):
        table = np.cumsum(pos_table(is_hosp), axis=1)
        m = hospital == is_hosp
        u = rng.random(int(m.sum()))
        pos[m] = np.minimum((u[:, None] > table[spec[m]]).sum(axis=1), len(POS_CODES) - 1)
    institutional = hospital & np.isin(pos, [POS["21"], POS["22"], POS["23"]]) & (rng.random(n) < 0.5)
    length_of_stay = np.where(pos == POS["21"], rng.integers(1, 7, n), 0)

    month = _sample_months(rng, tl, n)
    month_len = tl.month_starts[month + 1] - tl.month_starts[month]
    service_from = tl.month_starts[month] + (rng.random(n) * month_len).astype(np.int64)
    lag = np.round(np.exp(prov.lag_log_median[provider] + 0.8 * rng.standard_normal(n))).astype(np.int64)
    tail = rng.random(n) < prov.p_lag_tail[provider]
    lag = lag + np.where(tail, rng.integers(30, 330, n), 0)
    span = tl.end - tl.start
    lag = np.minimum(lag, np.maximum(span - length_of_stay - 1, 0))
    # A claim must leave the practice within history: late ones get an earlier service date, same lag.
    late = service_from + length_of_stay + lag > tl.end
    room = tl.end - lag - length_of_stay - tl.start + 1
    service_from = np.where(late, tl.start + (rng.random(n) * np.maximum(room, 1)).astype(np.int64), service_from)
    service_to = service_from + length_of_stay
    submitted = service_to + lag
    month = tl.month_index(service_from)
    cal_month = tl.calendar_month[month]

    # --- lines ----------------------------------------------------------------------------------------
    n_lines = rng.choice(np.arange(1, 7), size=n, p=LINE_COUNT_P)
    line_start = np.cumsum(n_lines) - n_lines
    n_total = int(n_lines.sum())
    l_claim = np.repeat(np.arange(n), n_lines)
    line_number = np.arange(n_total) - np.repeat(line_start, n_lines) + 1
    l_spec = spec[l_claim]
    l_prov = provider[l_claim]
    l_payer = payer[l_claim]
    fam_cum = np.cumsum(FAMILY_MIX, axis=1)
    u = rng.random(n_total)
    family = np.minimum((u[:, None] > fam_cum[l_spec]).sum(axis=1), FAMILY_MIX.shape[1] - 1)
    sampler = CodeSampler(rng, procs)
    code = sampler.sample(rng, l_spec, family)
    # The practice mostly knows what a payer will not cover and which codes were retired: it re-picks them.
    l_day = service_from[l_claim]
    avoid = payers.noncovered_subfamilies[l_payer, procs.subfamily[code]] | (l_day >= procs.retired_day[code])
    avoid &= rng.random(n_total) < 0.85
    code[avoid] = sampler.sample(rng, l_spec[avoid], family[avoid])
    # Unbundling habit: bill the bundled partner of the first line as the second line.
    second = np.flatnonzero(line_number == 2)
    first_code = code[second - 1]
    unbundle = (procs.bundle_partner[first_code] >= 0) & (rng.random(len(second)) < prov.p_unbundle[l_prov[second]])
    code[second[unbundle]] = procs.bundle_partner[first_code[unbundle]]
    family = procs.family[code]
    subfam = procs.subfamily[code]

    max_units = procs.max_units[code]
    units = np.where(max_units > 1, 1 + (rng.random(n_total) * max_units).astype(np.int64), 1)
    over_units = rng.random(n_total) < prov.p_over_units[l_prov]
    units = np.where(over_units, max_units + rng.integers(1, 4, n_total), units)
    charge = np.round(
        procs.base_charge[code] * units * prov.charge_factor[l_prov] * rng.lognormal(0.0, 0.05, n_total), 2
    )

    # --- diagnoses: each of the first four lines brings one; the provider's habit decides if it fits --
    dx = np.full((n, 4), -1, dtype=np.int64)
    first4 = np.flatnonzero(line_number <= 4)
    mismatch = rng.random(len(first4)) < prov.p_dx_mismatch[l_prov[first4]]
    picked = np.empty(len(first4), dtype=np.int64)
    for f in range(FAMILY_MIX.shape[1]):
        for bad in (False, True):
            m = (family[first4] == f) & (mismatch == bad)
            cdf = world.diagnoses.unsupported_cdf[f] if bad else world.diagnoses.supported_cdf[f]
            picked[m] = sample_cdf(rng, cdf, int(m.sum()))
    dx[l_claim[first4], line_number[first4] - 1] = picked
    generic = _cdf(world.diagnoses.weight)
    one_line = n_lines == 1
    extra = one_line & (rng.random(n) < 0.45)
    dx[extra, 1] = sample_cdf(rng, generic, int(extra.sum()))
    # Two lines for the same diagnosis share it: a clash is redrawn from the same family's distribution.
    l_fam_slot = np.full((n, 4), -1, dtype=np.int64)
    l_fam_slot[l_claim[first4], line_number[first4] - 1] = family[first4]
    for _ in range(3):
        for j in range(1, 4):
            clash = (dx[:, j] >= 0) & (dx[:, [j]] == dx[:, :j]).any(axis=1)
            for f in np.unique(l_fam_slot[clash, j]).tolist():
                m = clash & (l_fam_slot[:, j] == f)
                cdf = world.diagnoses.supported_cdf[f] if f >= 0 else generic
                dx[m, j] = sample_cdf(rng, cdf, int(m.sum()))
    # Lines 5-6 point at the first diagnosis that supports them (else the slot they wrap to).
    dx_slot = (line_number - 1) % 4
    late_line = np.flatnonzero(line_number > 4)
    slot_dx = dx[l_claim[late_line]]
    ok = (slot_dx >= 0) & world.diagnoses.supports[
        family[late_line][:, None], world.diagnoses.chapter[np.maximum(slot_dx, 0)]
    ]
    dx_slot[late_line] = np.where(ok.any(axis=1), np.argmax(ok, axis=1), dx_slot[late_line])
    line_dx = dx[l_claim, dx_slot]
    unsupported = ~world.diagnoses.supports[family, world.diagnoses.chapter[line_dx]]

    # --- modifiers ------------------------------------------------------------------------------------
    is_proc = np.isin(family, [FAM["surgery"], FAM["medicine"]])
    claim_has_proc = np.bincount(l_claim, weights=is_proc, minlength=n) > 0
    mod_req = np.full(n_total, -1, dtype=np.int64)
    mod_req[(family == FAM["pt"]) & payers.requires_gp[l_payer]] = MOD["GP"]
    mod_req[(family == FAM["em"]) & claim_has_proc[l_claim]] = MOD["25"]
    bilat = procs.bilateral[code]
    mod_req[bilat] = np.array([MOD["50"], MOD["RT"], MOD["LT"]])[rng.integers(0, 3, int(bilat.sum()))]
    mod_present = rng.random(n_total) >= prov.p_missing_modifier[l_prov]
    l_pos = pos[l_claim]
    mod_extra = np.full(n_total, -1, dtype=np.int64)
    mod_extra[
        (family == FAM["imaging"]) & np.isin(l_pos, [POS["21"], POS["22"], POS["23"]]) & (rng.random(n_total) < 0.6)
    ] = MOD["26"]
    mod_extra[(family == FAM["surgery"]) & (line_number > 1) & (rng.random(n_total) < 0.08)] = MOD["59"]
    mod_extra[(family == FAM["em"]) & (l_pos == POS["02"]) & (rng.random(n_total) < 0.92)] = MOD["95"]
    bad = rng.random(n_total) < prov.p_bad_modifier[l_prov]
    mod_bad = np.where(bad, np.where(family == FAM["pt"], MOD["TC"], MOD["GP"]), -1)
    mod_bad = np.where(bad & (mod_req == MOD["GP"]), MOD["TC"], mod_bad)

    rev_lookup = np.array([REVENUE_CODES.index(s.revenue_code) for s in SUBFAMILIES])
    revenue = np.where(institutional[l_claim], rev_lookup[subfam], -1)
    revenue = np.where(
        institutional[l_claim] & (family == FAM["em"]) & (l_pos == POS["23"]), REVENUE_CODES.index("0450"), revenue
    )

    # --- authorization and referrals --------------------------------------------------------------------
    auth_true = true_auth_required(payers=payers, drift=world.drift, payer=l_payer, subfamily=subfam, service_day=l_day)
    known = payers.auth_subfamilies[l_payer, subfam]  # the team's (pre-drift) knowledge
    obtained = (known & (rng.random(n_total) < prov.auth_diligence[l_prov])) | (
        auth_true & ~known & (rng.random(n_total) < 0.05)
    )
    auth_mismatch = obtained & (rng.random(n_total) < AUTH_MISMATCH_RATE)
    has_auth = (np.bincount(l_claim, weights=obtained, minlength=n) > 0) | (rng.random(n) < 0.01)
    # A referral number is only ever asked for (and so only ever written) on a plan that requires referrals;
    # there a specialist claim needs one, and a primary-care claim sometimes carries one anyway.
    plan_wants_referral = payers.referral_required[payer]
    referral_required = plan_wants_referral & NEEDS_REFERRAL[spec]
    has_referral = np.where(
        referral_required,
        rng.random(n) < prov.referral_diligence[provider],
        plan_wants_referral & (rng.random(n) < 0.04),
    )
    attach_missing = procs.needs_attachment[code] & (rng.random(n_total) >= prov.attach_diligence[l_prov])

    # --- eligibility, coordination of benefits, data quality --------------------------------------------
    verified = rng.random(n) < fac.verify_rate[facility]
    # hidden flags: their probabilities live in hidden.py, shared with the knowable oracle
    stale = rng.random(n) < p_stale(pat.lapse_propensity[patient], season_factor(cal_month))
    medicare_primary = np.isin(payers.plan[payer], [PLAN["medicare"], PLAN["medicare_advantage"]])
    cob_wrong = (secondary >= 0) & (rng.random(n) < p_cob_wrong(fac.p_cob_error[facility], medicare_primary))
    # A group claim must name its rendering clinician; a solo clinician billing under their own NPI sends no
    # rendering loop at all, so only group claims can leave it out by mistake.
    rendering_missing = (rng.random(n) < prov.p_missing_npi[provider]) & ~prov.solo[provider]
    generic_missing = rng.random(n) < p_generic_missing(prov.propensity[provider])

    claims = ClaimBook(
        patient=patient,
        payer=payer,
        secondary=secondary,
        provider=provider,
        facility=facility,
        pos=pos,
        institutional=institutional,
        service_from=service_from,
        service_to=service_to,
        submitted=submitted,
        dx=dx,
        has_auth=has_auth,
        auth_number=rng.integers(10**8, 10**9, n),
        referral_required=referral_required,
        has_referral=has_referral,
        referral_number=rng.integers(10**7, 10**8, n),
        verified=verified,
        rendering_missing=rendering_missing,
        frequency=np.ones(n, dtype=np.int64),
        original=np.full(n, -1, dtype=np.int64),
        duplicate_of=np.full(n, -1, dtype=np.int64),
        stale=stale,
        cob_wrong=cob_wrong,
        generic_missing=generic_missing,
        line_start=line_start,
        n_lines=n_lines,
    )
    # Medicare: the practice has the patient sign an advance beneficiary notice (modifier GA) for a service it
    # expects Medicare not to cover, most of the time; now and then for a covered one, to be safe.
    l_medicare = payers.plan[l_payer] == PLAN["medicare"]
    l_noncovered = payers.noncovered_subfamilies[l_payer, subfam]
    abn = l_medicare & (
        (l_noncovered & (situations.random(n_total) < ABN_RATE)) | (situations.random(n_total) < ABN_COVERED_RATE)
    )
    certified_family = np.isin(family, [FAM[f] for f in CERTIFIED_FAMILIES])
    uncertified = certified_family & (l_day >= prov.cert_lapse_start[l_prov]) & (l_day < prov.cert_lapse_end[l_prov])
    lines = LineBook(
        claim=l_claim,
        line_number=line_number,
        code=code,
        units=units,
        charge=charge,
        dx_slot=dx_slot,
        mod_req=mod_req,
        mod_present=mod_present,
        mod_extra=mod_extra,
        mod_bad=mod_bad,
        revenue=revenue,
        auth_true=auth_true,
        auth_obtained=obtained,
        auth_mismatch=auth_mismatch,
        attach_missing=attach_missing,
        unsupported=unsupported,
        over_units=over_units,
        bundled=np.zeros(n_total, dtype=bool),
        retired=l_day >= procs.retired_day[code],
        noncovered=l_noncovered,
        abn=abn,
        uncertified=uncertified,
    )
    lines.bundled = _bundled(claims=l_claim, code=code, partner=procs.bundle_partner)
    claims, lines = _add_duplicates(rng, claims=claims, lines=lines, providers=prov, n_dup=n_dup, end=tl.end)
    order = np.lexsort((np.arange(len(claims)), claims.submitted))
    return reorder(claims, lines, order)


def _cdf(weights: np.ndarray) -> np.ndarray:
    c = np.cumsum(weights, dtype=np.float64)
    return c / c[-1]


def _bundled(*, claims: np.ndarray, code: np.ndarray, partner: np.ndarray) -> np.ndarray:
    """Lines whose bundling partner was billed on an earlier line of the same claim."""
    group = np.where(partner[code] >= 0, np.minimum(code, partner[code]), -1)
    key = claims * (len(partner) + 1) + group
    order = np.lexsort((np.arange(len(key)), key))
    sorted_key = key[order]
    sorted_code = code[order]
    same = np.zeros(len(key), dtype=bool)
    same[1:] = (sorted_key[1:] == sorted_key[:-1]) & (sorted_code[1:] != sorted_code[:-1])
    out = np.zeros(len(key), dtype=bool)
    out[order] = same & (group[order] >= 0)
    return out


def _add_duplicates(
    rng: np.random.Generator, *, claims: ClaimBook, lines: LineBook, providers: Providers, n_dup: int, end: int
) -> tuple[ClaimBook, LineBook]:
    """The practice re-sends some claims as new frequency-1 claims (same service), 7-60 days later."""
    if n_dup == 0:
        return claims, lines
    eligible = claims.submitted <= end - 60
    weights = providers.resend_propensity[claims.provider] * eligible
    src = _gumbel_top_k(rng, weights, min(n_dup, int(eligible.sum())))
    dup, dup_lines = copy_claims(claims, lines, src, first_index=len(claims))
    dup.submitted = dup.submitted + rng.integers(7, 61, len(src))
    dup.duplicate_of = src
    return concat([claims, dup]), concat([lines, dup_lines])
