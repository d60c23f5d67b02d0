"""Payer rules: filing and appeal deadlines, prior-authorization lists and CARC/RARC guardrails.

Why this exists: deadlines in the appeal queue, the "authorization required but missing" feature and
the recommended next step for a denial all depend on who the payer is, and every billing team's payer
mix and contracts differ. So the rules are data, not code: a shipped YAML library with typical US
values by plan type, which a team overrides per payer (or per plan type) in its own file. A payer with
no entry falls back to its plan type, then to conservative defaults, and every resolved value records
where it came from (``ResolvedRule.source``) so a response can say which rule it used.

The schema and its validation: ``features.contract.payer_rule_model``; reading, merging and writing the
files (which layer wins): ``features.contract.payer_rule_files``. This module resolves rules, and
re-exports the public names of both so that imports from here keep working.

Resolution for a (payer_id, plan_type) pair is field by field: the payer entry, else the plan type (the
explicit argument if it is a known plan type, else the payer entry's ``plan_type``), else the defaults.
Unknown payers and unknown or missing plan types are not errors; they fall through.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.contract.payer_rule_files import (
    PayerRulesError,
    dump_payer_rules,
    load_rule_library,
    merge_rule_libraries,
)
from features.contract.payer_rule_model import (
    APPEAL_LEVELS,
    RULE_FIELDS,
    Guardrail,
    PayerEntry,
    RuleDefaults,
    RuleFields,
    RuleLibrary,
    RuleOverrides,
    parse_code_spec,
)
from features.contract.schema import PLAN_TYPES

__all__ = [
    "APPEAL_LEVELS",
    "PLAN_TYPES",
    "RULE_FIELDS",
    "Guardrail",
    "PayerEntry",
    "PayerRules",
    "PayerRulesError",
    "ResolvedGroups",
    "ResolvedRule",
    "RuleDefaults",
    "RuleFields",
    "RuleLibrary",
    "RuleOverrides",
    "codes_in",
    "dump_payer_rules",
    "load_payer_rules",
    "load_rule_library",
    "merge_rule_libraries",
]


# --------------------------------------------------------------------------------------------------
# Code matching
# --------------------------------------------------------------------------------------------------


def _range_mask(
    codes: npt.NDArray[np.str_], ranges: Iterable[tuple[str, str]], *, order: npt.NDArray[np.intp] | None = None
) -> npt.NDArray[np.bool_]:
    """Codes (normalised) inside any inclusive range: same length and between the bounds as text, so HCPCS
    letters compare the way CPT digits do.

    The codes are sorted (`order`: their argsort, when the caller matches them against many lists) and each
    range is two binary searches: a payer's authorization list holds dozens of ranges, and comparing every code
    with every bound cost most of the rule work per claim batch."""
    mask = np.zeros(codes.shape, dtype=bool)
    if codes.size == 0:
        return mask
    if order is None:
        order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    lengths = np.char.str_len(ordered)
    for lo, hi in ranges:
        start, stop = np.searchsorted(ordered, lo, side="left"), np.searchsorted(ordered, hi, side="right")
        if start < stop:  # lo <= code <= hi as text; of those, the codes as long as the bound
            mask[order[start:stop][lengths[start:stop] == len(lo)]] = True
    return mask


def codes_in(codes: pd.Series, specs: Iterable[str]) -> npt.NDArray[np.bool_]:
    """Which codes fall in any of `specs` (codes or inclusive ranges 'A-B', as written in payer_rules.yaml)."""
    positions, uniques = pd.factorize(codes)
    normalised = np.array([_normalise_code(c) for c in uniques], dtype=np.str_)
    inside = np.append(_range_mask(normalised, [parse_code_spec(s) for s in specs]), False)  # -1: missing
    return inside[positions]


# --------------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------------


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _normalise_payer(value: object) -> str | None:
    if _is_missing(value):
        return None
    text = str(value).strip()
    return text or None


def _normalise_plan_type(value: object) -> str | None:
    """A known plan type, or None (missing and unrecognised values both mean "not known")."""
    if _is_missing(value):
        return None
    text = str(value).strip().lower()
    return text if text in PLAN_TYPES else None


def _normalise_code(value: object) -> str:
    return "" if _is_missing(value) else str(value).strip().upper()


def _remark_set(remark_codes: object) -> frozenset[str]:
    if not isinstance(remark_codes, str):
        return frozenset()
    return frozenset(c.strip().upper() for c in remark_codes.split("|") if c.strip())


@dataclass(frozen=True)
class ResolvedRule:
    """The rule values that apply to one (payer_id, plan_type), with where each came from.

    ``source`` maps each field name (and ``appeal_window_days.<level>`` per level) to ``"payer:<id>"``,
    ``"plan_type:<name>"`` or ``"default"``; for ``appeal_window_days`` as a whole it is the most specific
    layer that set any level. ``plan_type`` is the plan type used, or None when none was known.
    Shared and cached: treat it (including ``appeal_window_days``) as read-only.
    """

    payer_id: str | None
    plan_type: str | None
    timely_filing_days: int
    corrected_claim_window_days: int
    reopening_window_days: int
    other_payer_filing_days: int
    appeal_window_days: dict[int, int]
    appeal_clock: str
    processed_claim_fix: str
    institutional_filing_date: str
    referral_required: bool
    auth_required: tuple[str, ...]
    deadline_buffer_days: int
    guardrails: tuple[Guardrail, ...]
    source: dict[str, str]
    # pre-submission edits (payer_rule_model's docstring): empty unless a rule file writes them
    modifier_required: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    denied_together: tuple[tuple[str, str], ...] = ()
    dx_not_supporting: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    code_terminated: Mapping[str, dt.date] = field(default_factory=dict)  # the code set's deletions
    _ranges: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ranges", tuple(parse_code_spec(s) for s in self.auth_required))

    def requires_auth(self, procedure_code: str | None) -> bool:
        code = _normalise_code(procedure_code)
        return any(len(code) == len(lo) and lo <= code <= hi for lo, hi in self._ranges)

    def auth_mask(
        self, codes: npt.NDArray[np.str_], *, order: npt.NDArray[np.intp] | None = None
    ) -> npt.NDArray[np.bool_]:
        """``requires_auth`` for an array of already-normalised codes (`order`: their argsort, if known)."""
        return _range_mask(codes, self._ranges, order=order)

    def guardrail_for(self, *, group_code: str, carc: str, remark_codes: str | None) -> Guardrail | None:
        """The first guardrail (payer's own first) matching this adjustment, or None."""
        group = _normalise_code(group_code)
        reason = _normalise_code(carc)
        remarks = _remark_set(remark_codes)
        for guardrail in self.guardrails:
            if guardrail.matches(group_code=group, carc=reason, remark_codes=remarks):
                return guardrail
        return None


# (group index per row, the resolved rule of each group): `PayerRules.resolve_groups`
ResolvedGroups = tuple[npt.NDArray[np.intp], list[ResolvedRule]]


class PayerRules:
    """Resolves rules per (payer_id, plan_type), cached, with vectorised helpers for claim frames."""

    def __init__(self, library: RuleLibrary) -> None:
        self._library = library
        self._cache: dict[tuple[str | None, str | None], ResolvedRule] = {}

    @property
    def library(self) -> RuleLibrary:
        return self._library

    def lookup(self, *, payer_id: str | None, plan_type: str | None) -> ResolvedRule:
        return self._lookup(payer_id, plan_type)

    def _lookup(self, payer_id: object, plan_type: object) -> ResolvedRule:
        key = (_normalise_payer(payer_id), _normalise_plan_type(plan_type))
        rule = self._cache.get(key)
        if rule is None:
            rule = self._resolve(*key)
            self._cache[key] = rule
        return rule

    def _resolve(self, payer_id: str | None, plan_type: str | None) -> ResolvedRule:
        lib = self._library
        entry = lib.payers.get(payer_id) if payer_id is not None else None
        effective_plan = plan_type if plan_type is not None else (entry.plan_type if entry else None)

        layers: list[tuple[str, RuleFields | RuleDefaults]] = []
        if entry is not None:
            layers.append((f"payer:{payer_id}", entry))
        if effective_plan is not None and effective_plan in lib.plan_types:
            layers.append((f"plan_type:{effective_plan}", lib.plan_types[effective_plan]))
        layers.append(("default", lib.defaults))

        values: dict[str, Any] = {}
        source: dict[str, str] = {}
        for name in RULE_FIELDS:
            if name == "appeal_window_days":
                continue
            for label, layer in layers:
                value = getattr(layer, name)
                if value is not None:
                    values[name] = value
                    source[name] = label
                    break

        appeal: dict[int, int] = {}
        most_specific = len(layers) - 1
        levels = sorted({lvl for _, layer in layers for lvl in (layer.appeal_window_days or {})})
        for level in levels:
            for rank, (label, layer) in enumerate(layers):
                windows = layer.appeal_window_days
                if windows and level in windows:
                    appeal[level] = windows[level]
                    source[f"appeal_window_days.{level}"] = label
                    most_specific = min(most_specific, rank)
                    break
        source["appeal_window_days"] = layers[most_specific][0]

        own_guardrails = entry.guardrails if entry is not None else ()
        source["guardrails"] = f"payer:{payer_id}" if own_guardrails else "default"
        own_names = {g.name for g in own_guardrails}
        guardrails = own_guardrails + tuple(g for g in lib.guardrails if g.name not in own_names)
        guardrails = tuple(g for g in guardrails if g.applies_to(effective_plan))

        return ResolvedRule(
            payer_id=payer_id,
            plan_type=effective_plan,
            timely_filing_days=values["timely_filing_days"],
            corrected_claim_window_days=values["corrected_claim_window_days"],
            reopening_window_days=values["reopening_window_days"],
            other_payer_filing_days=values["other_payer_filing_days"],
            appeal_window_days=appeal,
            appeal_clock=values["appeal_clock"],
            processed_claim_fix=values["processed_claim_fix"],
            institutional_filing_date=values["institutional_filing_date"],
            referral_required=values["referral_required"],
            auth_required=tuple(values["auth_required"]),
            deadline_buffer_days=values["deadline_buffer_days"],
            guardrails=guardrails,
            source=source,
            modifier_required=values["modifier_required"],
            denied_together=tuple(tuple(p) for p in values["denied_together"]),
            dx_not_supporting=values["dx_not_supporting"],
            code_terminated=values["code_terminated"],
        )

    # -- vectorised helpers: loop over unique (payer, plan type) pairs, never over rows ---------------

    def resolve_groups(self, payer_ids: pd.Series, plan_types: pd.Series) -> ResolvedGroups:
        """(group index per row, the resolved rule of each group): one lookup per distinct (payer, plan)."""
        if len(payer_ids) != len(plan_types):
            raise ValueError("payer_ids and plan_types must have the same length")
        p_codes, p_uniques = pd.factorize(payer_ids)
        t_codes, t_uniques = pd.factorize(plan_types)
        width = len(t_uniques) + 1
        combined = (np.asarray(p_codes, dtype=np.int64) + 1) * width + (np.asarray(t_codes, dtype=np.int64) + 1)
        group_codes, group_keys = pd.factorize(combined)
        rules: list[ResolvedRule] = []
        for key in np.asarray(group_keys, dtype=np.int64).tolist():
            p, t = divmod(int(key), width)
            payer = p_uniques[p - 1] if p else None
            plan = t_uniques[t - 1] if t else None
            rules.append(self._lookup(payer, plan))
        return np.asarray(group_codes, dtype=np.intp), rules

    def timely_filing_days(
        self, payer_ids: pd.Series, plan_types: pd.Series, *, resolved: ResolvedGroups | None = None
    ) -> npt.NDArray[np.int64]:
        """Per row timely filing limit (days), positional; equal to ``lookup`` row by row. `resolved`: these rows'
        `resolve_groups`, when the caller has them."""
        groups, rules = resolved or self.resolve_groups(payer_ids, plan_types)
        per_group = np.array([r.timely_filing_days for r in rules], dtype=np.int64)
        return per_group[groups]

    def referral_required(
        self, payer_ids: pd.Series, plan_types: pd.Series, *, resolved: ResolvedGroups | None = None
    ) -> npt.NDArray[np.bool_]:
        """Per row: does the claim's payer ask for a referral number (REF*9F)? Positional."""
        groups, rules = resolved or self.resolve_groups(payer_ids, plan_types)
        return np.array([r.referral_required for r in rules], dtype=bool)[groups]

    def auth_required(
        self,
        payer_ids: pd.Series,
        plan_types: pd.Series,
        procedure_codes: pd.Series,
        *,
        resolved: ResolvedGroups | None = None,
    ) -> npt.NDArray[np.bool_]:
        """Per row: does this procedure need prior authorization under its payer's rules? Positional.

        Codes are matched once per distinct authorization list against the distinct codes present, then
        gathered back to rows; a missing code is never flagged.
        """
        if len(procedure_codes) != len(payer_ids):
            raise ValueError("procedure_codes must have the same length as payer_ids")
        groups, rules = resolved or self.resolve_groups(payer_ids, plan_types)
        c_codes, c_uniques = pd.factorize(procedure_codes)
        codes = np.array([_normalise_code(c) for c in c_uniques], dtype=np.str_)
        if codes.size == 0:
            codes = np.array([], dtype="<U1")
        order = np.argsort(codes, kind="stable")  # sorted once for every authorization list
        masks: list[npt.NDArray[np.bool_]] = []
        mask_of: dict[tuple[str, ...], int] = {}
        group_mask = np.empty(len(rules), dtype=np.intp)
        for i, rule in enumerate(rules):
            idx = mask_of.get(rule.auth_required)
            if idx is None:
                idx = mask_of[rule.auth_required] = len(masks)
                # the extra trailing False column is where missing codes (factorize code -1) land
                masks.append(np.append(rule.auth_mask(codes, order=order), False))
            group_mask[i] = idx
        if not masks:
            return np.zeros(len(payer_ids), dtype=bool)
        table = np.vstack(masks)
        return table[group_mask[groups], np.asarray(c_codes, dtype=np.intp)]

    def edit_flags(
        self,
        *,
        payer_ids: pd.Series,
        plan_types: pd.Series,
        procedure_codes: npt.NDArray[Any],
        modifier_keys: npt.NDArray[Any],
        line_dx: npt.NDArray[Any],
        claim_pos: npt.NDArray[np.intp],
        n_claims: int,
        service_days: npt.NDArray[np.int64] | None = None,
        resolved: ResolvedGroups | None = None,
    ) -> dict[str, npt.NDArray[np.bool_]]:
        """Per line, which written pre-submission edit it breaks (positional; all False without edits):

        - ``modifier_missing``: its code is in ``modifier_required`` and it carries none of the listed
          modifiers (`modifier_keys` as `features.claim_fields.modifier_keys` writes them: '26|RT', '-');
        - ``pair_bundled``: it is B of a ``denied_together`` pair [A, B] and its claim (`claim_pos`) has an A line;
        - ``dx_unsupported``: its code is in ``dx_not_supporting`` and its diagnosis (`line_dx`, no dots)
          starts with a listed prefix;
        - ``code_terminated``: its code is in ``code_terminated`` and its claim's first date of service
          (`service_days`, days since 1970-01-01) is on or after the termination date (never without dates).

        Only the (payer, plan type) groups whose rule sets an edit are looked at, so a library without
        edits costs one resolution per group. The code set's deletions usually come from one layer (the
        defaults) for every group: the groups sharing a deletion list are checked together."""
        n = len(payer_ids)
        out = {
            k: np.zeros(n, dtype=bool)
            for k in ("modifier_missing", "pair_bundled", "dx_unsupported", "code_terminated")
        }
        groups, rules = resolved or self.resolve_groups(payer_ids, plan_types)
        active = [
            i
            for i, r in enumerate(rules)
            if r.modifier_required or r.denied_together or r.dx_not_supporting or r.code_terminated
        ]
        if not active:
            return out
        found, distinct = pd.factorize(np.asarray(procedure_codes, dtype=object))  # each distinct code once
        codes = np.array([*(_normalise_code(c) for c in distinct), ""], dtype=object)[found]  # -1: missing -> ""
        sharing: dict[int, tuple[Mapping[str, dt.date], list[int]]] = {}  # id of a deletion list -> its groups
        for i in active:
            rule = rules[i]
            if rule.code_terminated and service_days is not None:
                sharing.setdefault(id(rule.code_terminated), (rule.code_terminated, []))[1].append(i)
            if not (rule.modifier_required or rule.denied_together or rule.dx_not_supporting):
                continue
            in_group = groups == i
            for code, mods in rule.modifier_required.items():
                at = np.flatnonzero(in_group & (codes == code))
                wanted = set(mods)
                carries = [bool(wanted & set(str(k).split("|"))) for k in modifier_keys[at]]
                out["modifier_missing"][at[~np.array(carries, dtype=bool)]] = True
            for first, second in rule.denied_together:
                has_first = np.zeros(n_claims, dtype=bool)
                has_first[claim_pos[codes == first]] = True  # any A line of the claim
                out["pair_bundled"] |= in_group & (codes == second) & has_first[claim_pos]
            for code, prefixes in rule.dx_not_supporting.items():
                at = np.flatnonzero(in_group & (codes == code))
                dx = [_normalise_code(d).replace(".", "") for d in line_dx[at]]
                hit = np.array([any(d.startswith(p) for p in prefixes) if d else False for d in dx], dtype=bool)
                out["dx_unsupported"][at[hit]] = True
        for terminated, members in sharing.values():
            assert service_days is not None
            in_groups = np.zeros(len(rules), dtype=bool)
            in_groups[members] = True
            _flag_terminated(out["code_terminated"], terminated, in_groups[groups], codes, service_days)
        return out


_EPOCH = dt.date(1970, 1, 1)


def _flag_terminated(
    out: npt.NDArray[np.bool_],
    terminated: Mapping[str, dt.date],
    in_group: npt.NDArray[np.bool_],
    codes: npt.NDArray[Any],
    service_days: npt.NDArray[np.int64],
) -> None:
    """Mark the group's lines of a deleted code whose date of service is on or after its termination."""
    listed = pd.Index(list(terminated), dtype=object)
    cut = np.array([(d - _EPOCH).days for d in terminated.values()], dtype=np.int64)
    at = np.flatnonzero(in_group)
    which = listed.get_indexer(pd.Index(codes[at], dtype=object))
    found = which >= 0
    at, which = at[found], which[found]
    out[at[np.asarray(service_days)[at] >= cut[which]]] = True


def load_payer_rules(*, data_dir: Path | None = None, extra_file: Path | None = None) -> PayerRules:
    """Shipped defaults, then ``data_dir/payer_rules.yaml`` if present, then ``extra_file``."""
    return PayerRules(load_rule_library(data_dir=data_dir, extra_file=extra_file))
