"""Original claims and their lines, drawn from patients' coverage and clinicians' habits (integer arrays).

Every field a payer later judges is set here, together with the hidden per-claim and per-line flags a
model cannot see (each an independent Bernoulli of a known probability, so the knowable oracle can
integrate it out exactly; see ``hazards.py``): wrong payer order, a missing/invalid field, an invalid
code/modifier combination, an authorization that does not match the service. A patient's lapse is not a
per-claim flag: it is the patient's (``people.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TypeVar

import numpy as np

from synthetic.scrambled.catalog import Catalog
from synthetic.scrambled.market import REQUIRED_MODIFIER, PolicyChange, Products
from synthetic.scrambled.people import Clinicians, Patients
from synthetic.timeline import Timeline

AUTH_MISMATCH_RATE = 0.06  # of obtained authorizations, the share that does not match the service
UNNEEDED_AUTH_RATE = 0.03  # claims that carry an authorization number no rule asked for
MODIFIERS: tuple[str, ...] = ("25", "59", "RT", "LT", "26", "TC", "GP", "95")
# what a line can carry: the harmless modifiers drawn at random, then the one a policy change requires
LINE_MODIFIERS: tuple[str, ...] = (*MODIFIERS, REQUIRED_MODIFIER)
POLICY_MODIFIER = len(MODIFIERS)  # index of REQUIRED_MODIFIER in LINE_MODIFIERS
COMPLY_PER_MONTH = 0.1  # after a modifier becomes required, the share of lines that carry it grows by this a month
COMPLY_MAX = 0.75  # ... up to this: some clinicians never hear of the bulletin


@dataclass
class Claims:
    patient: np.ndarray
    clinician: np.ndarray
    product: np.ndarray  # payer x plan the claim is sent to
    secondary: np.ndarray  # product index, -1 none
    service_from: np.ndarray
    service_to: np.ndarray
    submitted: np.ndarray
    verified: np.ndarray  # eligibility verified before submission (visible)
    has_auth: np.ndarray  # an authorization number is on the claim (visible)
    dx: np.ndarray  # [n, 4] diagnosis indices, -1 empty
    duplicate_of: np.ndarray  # the claim this one re-sends, -1 none (visible through history)
    lapsed: np.ndarray  # the patient's coverage with this product had lapsed on the service date (latent)
    cob_wrong: np.ndarray  # hidden flag
    info_error: np.ndarray  # hidden flag
    code_error: np.ndarray  # hidden flag
    line_start: np.ndarray
    n_lines: np.ndarray

    def __len__(self) -> int:
        return len(self.patient)


@dataclass
class Lines:
    claim: np.ndarray
    line_number: np.ndarray
    code: np.ndarray
    units: np.ndarray
    charge: np.ndarray
    dx_slot: np.ndarray  # 0-based pointer into the claim's diagnoses
    modifier: np.ndarray  # harmless modifier index, -1 none
    auth_needed: np.ndarray  # the product's true rules require authorization on the service date
    auth_mismatch: np.ndarray  # hidden flag: the authorization on file does not cover this service

    def __len__(self) -> int:
        return len(self.claim)


T = TypeVar("T", Claims, Lines)


def subset(book: T, idx: np.ndarray) -> T:
    return replace(book, **{f.name: getattr(book, f.name)[idx] for f in fields(book)})


def concat(books: list[T]) -> T:
    first = books[0]
    return replace(first, **{f.name: np.concatenate([getattr(b, f.name) for b in books]) for f in fields(first)})


def expand(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ranges [starts[i], starts[i] + counts[i]) (vectorised)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(np.asarray(starts, dtype=np.int64), counts) + (np.arange(total) - offsets)


def _draw(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    cum = np.cumsum(weights)
    return np.minimum(np.searchsorted(cum, rng.random(size) * cum[-1], side="right"), len(weights) - 1)


def _candidates(
    rng: np.random.Generator, *, m: int, clinicians: Clinicians, patients: Patients, timeline: Timeline
) -> dict[str, np.ndarray]:
    clinician = _draw(rng, clinicians.volume, m)
    patient = _draw(rng, patients.visits, m)
    service_from = rng.integers(timeline.start, timeline.end + 1, m)
    service_to = service_from + np.where(rng.random(m) < 0.05, rng.integers(1, 4, m), 0)
    lag = np.exp(rng.normal(clinicians.lag_log_mean[clinician], 0.5))
    held = rng.random(m) < clinicians.hold_rate[clinician]
    lag = lag + np.where(held, rng.uniform(60, 420, m), 0.0)
    submitted = service_to + np.maximum(1, np.round(lag)).astype(np.int64)
    return {
        "clinician": clinician,
        "patient": patient,
        "service_from": service_from,
        "service_to": service_to,
        "submitted": submitted,
    }


def generate_claims(
    rng: np.random.Generator,
    *,
    n_claims: int,
    catalog: Catalog,
    products: Products,
    clinicians: Clinicians,
    patients: Patients,
    timeline: Timeline,
) -> tuple[Claims, Lines]:
    """``n_claims`` original claims sent within history (re-sent duplicates included), in submission order."""
    m = int(n_claims * 1.25) + 100
    cand = _candidates(rng, m=m, clinicians=clinicians, patients=patients, timeline=timeline)
    keep = np.flatnonzero(cand["submitted"] <= timeline.end)
    if len(keep) < n_claims:  # extreme short histories: take more draws until enough claims land in history
        more = _candidates(rng, m=4 * m, clinicians=clinicians, patients=patients, timeline=timeline)
        cand = {k: np.concatenate([cand[k], more[k]]) for k in cand}
        keep = np.flatnonzero(cand["submitted"] <= timeline.end)
        if len(keep) < n_claims:
            raise ValueError(f"too few claims are sent within {timeline.months} months; use a longer history")
    # Some claims are sent again 2-8 weeks later (the clinician's habit); counting those copies, take just
    # enough candidates that the originals total n_claims.
    clin_all = cand["clinician"][keep]
    resend_day = cand["submitted"][keep] + rng.integers(14, 57, len(keep))
    resent = (rng.random(len(keep)) < clinicians.duplicate_rate[clin_all]) & (resend_day <= timeline.end)
    total = np.arange(1, len(keep) + 1) + np.cumsum(resent)
    last = int(np.searchsorted(total, n_claims))  # first candidate at which the total reaches n_claims
    resent[last] &= total[last] == n_claims  # its own copy would be one too many
    base = keep[: last + 1]
    c = {k: v[base] for k, v in cand.items()}
    n = len(base)
    clin, pat = c["clinician"], c["patient"]
    verified = rng.random(n) < clinicians.verify_rate[clin]
    lapse, switch = patients.lapse_day[pat], patients.switch_day[pat]
    switched = (c["service_from"] >= switch) | (verified & (c["service_from"] >= lapse))
    product = np.where(switched, patients.new[pat], patients.home[pat])
    lapsed = ~switched & (c["service_from"] >= lapse)
    secondary = np.where(switched, -1, patients.secondary[pat])

    # lines: codes from the clinician's repertoire (Zipf within it), one pointed diagnosis each
    n_lines = 1 + np.minimum(rng.poisson(0.7, n), 3)
    line_start = np.cumsum(n_lines) - n_lines
    lc = np.repeat(np.arange(n), n_lines)
    n_l = len(lc)
    rep_w = 1.0 / np.arange(1, clinicians.repertoire.shape[1] + 1) ** 1.1
    code = clinicians.repertoire[clin[lc], _draw(rng, rep_w, n_l)]
    from_list = rng.random(n_l) < clinicians.dx_accuracy[clin[lc]]
    list_len = np.diff(catalog.support_start)[code]
    on_list = catalog.support_dx[catalog.support_start[code] + (rng.random(n_l) * list_len).astype(np.int64)]
    anywhere = _draw(rng, catalog.dx_popularity, n_l)
    line_dx = np.where(from_list, on_list, anywhere)
    line_number = np.arange(n_l) - np.repeat(line_start, n_lines) + 1
    dx = np.full((n, 4), -1, dtype=np.int64)
    dx[lc, line_number - 1] = line_dx
    extra = (n_lines < 4) & (rng.random(n) < 0.4)
    dx[np.flatnonzero(extra), n_lines[extra]] = _draw(rng, catalog.dx_popularity, int(extra.sum()))
    units = 1 + np.where(rng.random(n_l) < 0.1, rng.integers(1, 3, n_l), 0)
    charge = np.round(catalog.charge[code] * units * rng.lognormal(0.0, 0.1, n_l), 2)
    modifier = np.where(rng.random(n_l) < 0.08, rng.integers(0, len(MODIFIERS), n_l), -1)

    auth_needed = products.auth_groups[product[lc], catalog.group[code]]
    needs_any = np.bincount(lc, weights=auth_needed, minlength=n) > 0
    obtained = np.where(needs_any, rng.random(n) < clinicians.auth_diligence[clin], rng.random(n) < UNNEEDED_AUTH_RATE)
    auth_mismatch = auth_needed & obtained[lc] & (rng.random(n_l) < AUTH_MISMATCH_RATE)
    cob_wrong = (secondary >= 0) & (rng.random(n) < products.cob_error_rate[product])
    claims = Claims(
        patient=pat,
        clinician=clin,
        product=product,
        secondary=secondary,
        service_from=c["service_from"],
        service_to=c["service_to"],
        submitted=c["submitted"],
        verified=verified,
        has_auth=obtained,
        dx=dx,
        duplicate_of=np.full(n, -1, dtype=np.int64),
        lapsed=lapsed,
        cob_wrong=cob_wrong,
        info_error=rng.random(n) < clinicians.info_error_rate[clin],
        code_error=rng.random(n) < clinicians.code_error_rate[clin],
        line_start=line_start,
        n_lines=n_lines,
    )
    lines = Lines(
        claim=lc,
        line_number=line_number,
        code=code,
        units=units,
        charge=charge,
        dx_slot=line_number - 1,
        modifier=modifier,
        auth_needed=auth_needed,
        auth_mismatch=auth_mismatch,
    )
    claims, lines = _with_duplicates(claims=claims, lines=lines, src=np.flatnonzero(resent[:n]), day=resend_day[:n])
    order = np.lexsort((np.arange(len(claims)), claims.service_from, claims.submitted))
    return reorder(claims, lines, order)


def _with_duplicates(*, claims: Claims, lines: Lines, src: np.ndarray, day: np.ndarray) -> tuple[Claims, Lines]:
    """Claims ``src`` sent again, unchanged, on ``day[src]``: the copies are appended (duplicate_of set)."""
    copies = subset(claims, src)
    copy_lines = subset(lines, expand(claims.line_start[src], claims.n_lines[src]))
    copies.submitted = day[src]
    copies.duplicate_of = src
    copy_lines.claim = len(claims) + np.repeat(np.arange(len(src)), copies.n_lines)
    copies.line_start = len(lines) + np.cumsum(copies.n_lines) - copies.n_lines
    return concat([claims, copies]), concat([lines, copy_lines])


def reorder(claims: Claims, lines: Lines, order: np.ndarray) -> tuple[Claims, Lines]:
    """Renumber claims so that new claim i is old claim order[i]; lines follow their claims."""
    new_claims = subset(claims, order)
    new_lines = subset(lines, expand(claims.line_start[order], claims.n_lines[order]))
    new_lines.claim = np.repeat(np.arange(len(order)), claims.n_lines[order])
    new_claims.line_start = np.cumsum(new_claims.n_lines) - new_claims.n_lines
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    ref = new_claims.duplicate_of
    new_claims.duplicate_of = np.where(ref >= 0, inverse[np.maximum(ref, 0)], -1)
    return new_claims, new_lines


def comply_with_policy(rng: np.random.Generator, *, claims: Claims, lines: Lines, policy: PolicyChange) -> Lines:
    """After a payer starts requiring a modifier, the practice learns of it from its denials: the share of the
    policy's lines sent with the modifier grows month by month after the change (by submission date)."""
    if policy.kind != "requires_modifier":
        return lines
    lc = lines.claim
    product = claims.product[lc]
    applies = policy.applies(product=product, code=lines.code, service_day=claims.service_from[lc])
    months = np.maximum(claims.submitted[lc] - policy.effective_day, 0) / 30.4
    comply = applies & (rng.random(len(lc)) < np.minimum(COMPLY_PER_MONTH * months, COMPLY_MAX))
    return replace(lines, modifier=np.where(comply, POLICY_MODIFIER, lines.modifier))
