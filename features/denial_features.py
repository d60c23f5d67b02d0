"""The one function that turns claims into denial-risk features, for training and serving alike.

Every feature is declared once (name, meaning, source, as-of rule, reason group) and every reason
group carries the phrase a biller reads and the preventive action: `features/denial_feature_defs.py`.
The outcome events the history counts are built in `features/denial_events.py`, the feature set and the
values reasons name in `features/denial_context.py`; this module re-exports their public names.
`DenialFeatureBuilder` holds the fitted state — category levels, point-in-time history aggregates, the
payer rules in force — so a saved model carries it and serving never refits anything.

Time: claim fields are the claim's own; history aggregates count only outcomes whose first remit is
strictly before the claim's submission (a frozen builder answers "as of its snapshot"); duplicate
suspicion looks only at claims submitted strictly earlier. Nothing reads the claim's own remits,
adjustments or follow-ups.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import yaml

from features.auth_evidence import SPEC as AUTH_EVIDENCE_SPEC
from features.auth_evidence import fit_auth_evidence, learned_auth_needed
from features.chunk_threads import map_in_order
from features.claim_fields import apply_payer_rules, claim_fields, day_number, line_rows, procedure_family
from features.columns import (
    Columns,
    Table,
    check_unique_ids,
    claim_chunks,
    claim_columns,
    claim_positions,
    index_in,
    lookup_codes,
    take_rows,
    text_array,
)
from features.contract.codes import CATEGORIES, CodeTables
from features.contract.payer_rule_model import RuleLibrary
from features.contract.payer_rules import PayerRules
from features.denial_context import FeatureSet, beside_text, modifier_text, reason_context
from features.denial_events import claim_key_columns, outcome_events
from features.denial_feature_defs import (
    CATEGORICAL,
    CLAIM_SPECS,
    FEATURE_NAMES,
    FEATURES,
    LINE_SPECS,
    MODIFIER_HABIT_SPEC,
    REASON_GROUPS,
)
from features.duplicate_index import DuplicateCounts, DuplicateIndex, duplicate_counts
from features.history import HistoryAggregates, event_columns
from features.learned_policies import (
    MODIFIER_EVIDENCE_SPECS,
    NO_MODIFIER,
    fit_coverage_evidence,
    fit_modifier_evidence,
    learned_modifier_missing,
    learned_not_covered,
)
from features.learned_policies import SPEC as COVERAGE_SPEC
from features.memory import release_unused_memory
from features.patient_keys import PatientKeyMismatch, key_fingerprint, patient_keys
from features.progress import Progress, silent
from features.text_codes import spread

__all__ = [
    "CATEGORICAL",
    "FEATURES",
    "FEATURE_NAMES",
    "REASON_GROUPS",
    "WINDOW_DAYS",
    "DenialFeatureBuilder",
    "FeatureSet",
    "outcome_events",
]

WINDOW_DAYS = 90


_CONTEXT_KEYS = ("claim_id", "patient_id", "service_from", "submitted_at", "frequency_code")


def _sent_columns(context_claims: Table, extra: Columns | None) -> Columns:
    """The duplicate-suspicion columns of every claim sent: the context claims plus `extra` (the scored claims
    missing from them, `_CONTEXT_KEYS` columns), their ids checked unique."""
    sent = claim_columns(context_claims, _CONTEXT_KEYS)
    if extra is not None:
        sent = {k: np.concatenate([v, extra[k]]) for k, v in sent.items()}
    check_unique_ids(sent["claim_id"], what="context_claims")
    return sent


def _context_line_keys(sent: Columns, sources: Sequence[Table], line_claims: Sequence[np.ndarray]) -> Columns:
    """Duplicate-suspicion keys of every line of the claims sent (`sent`: their claim columns), from the same line
    sources as the scored claims: `line_claims`, per source, each row's claim as a position in `sent` (-1: none).

    The claim columns are spread to their lines (`spread`), so the index keys them from the claims' codes rather
    than hashing each line's text again."""
    pos_parts, code_parts = [], []
    for frame, pos in zip(sources, line_claims, strict=True):
        keep = np.flatnonzero(pos >= 0)
        whole = len(keep) == len(frame)  # every line is of a claim sent (a batch of them): no copy
        pos_parts.append(pos if whole else pos[keep])
        codes = frame["procedure_code"]
        if not whole:
            codes = codes[keep] if isinstance(codes, np.ndarray) else codes.iloc[keep]
        code_parts.append(text_array(codes))
    pos = pos_parts[0] if len(pos_parts) == 1 else np.concatenate(pos_parts)
    out = {k: spread(sent[k], pos) for k in _CONTEXT_KEYS[1:]}
    # one source's codes keep their remembered factorization (a concatenation would be hashed again)
    out["procedure_code"] = code_parts[0] if len(code_parts) == 1 else np.concatenate(code_parts)
    return out


def _add_modifier_habit(
    cols: dict[str, np.ndarray], rows: Mapping[str, np.ndarray], line_hist: Mapping[str, np.ndarray], *, n: int
) -> np.ndarray:
    """`modifier_habit_missing` (and `_recent`): over each claim's lines sent without a modifier, the highest
    share of their code's earlier lines that carried one (0 when none is bare). Returns the line it names per
    claim (-1: none), for the reason text."""
    name = MODIFIER_HABIT_SPEC.name
    bare = np.asarray(rows["modifier_key"] == NO_MODIFIER, dtype=bool)
    row_pos = rows["claim_pos"]
    share = np.where(bare, line_hist[f"{name}_rate"], 0.0)
    pointer = np.full(n, -1, dtype=np.int64)
    for suffix, values in (("", share), ("_recent", np.where(bare, line_hist[f"{name}_rate_recent"], 0.0))):
        top = np.zeros(n)
        np.maximum.at(top, row_pos, values)
        cols[f"{name}_missing{suffix}"] = top
    # rows are sorted by claim, then line: the first bare line holding its claim's top share
    hit = np.flatnonzero(bare & (share > 0) & (share == cols[f"{name}_missing"][row_pos]))
    claims_hit, first = np.unique(row_pos[hit], return_index=True)
    pointer[claims_hit] = hit[first]
    return pointer


class DenialFeatureBuilder:
    """Fitted feature state for the denial-risk model: category levels, history aggregates, payer rules."""

    def __init__(self, *, window_days: int = WINDOW_DAYS, prior_strength: float = 20.0) -> None:
        self.window_days = window_days
        self.prior_strength = prior_strength
        self._level_lookups: dict[str, tuple[list[str], dict[str, int]]] = {}

    def fit(
        self,
        *,
        tables: Mapping[str, pd.DataFrame],
        labels: pd.DataFrame,
        rules: PayerRules,
        codes: CodeTables,
        routine: frozenset[tuple[str, str]] | None = None,
        chunk_claims: int | None = None,
        threads: int = 1,
    ) -> DenialFeatureBuilder:
        """`chunk_claims`: build the line outcome events that many claims at a time (the same history, in less
        memory), `threads` chunks side by side."""
        line_specs = (*LINE_SPECS, MODIFIER_HABIT_SPEC, AUTH_EVIDENCE_SPEC, COVERAGE_SPEC, *MODIFIER_EVIDENCE_SPECS)
        line_events, claim_events = outcome_events(
            tables,
            labels,
            codes=codes,
            rules=rules,
            routine=routine,
            chunk_claims=chunk_claims,
            threads=threads,
            columns={*event_columns(line_specs), *event_columns(CLAIM_SPECS)},
        )
        # category levels come from every claim sent, never from which claims happen to have outcomes
        claims = tables["claims"]
        self.levels_ = {
            c: sorted(claims[c].dropna().astype(str).unique()) for c in CATEGORICAL if c != "principal_family"
        }
        families = procedure_family(pd.Series(tables["claim_lines"]["procedure_code"].unique()))
        self.levels_["principal_family"] = sorted(families.dropna().astype(str).unique())
        self.line_aggregates_ = HistoryAggregates(
            specs=(*LINE_SPECS, MODIFIER_HABIT_SPEC), window_days=self.window_days, prior_strength=self.prior_strength
        ).fit(line_events)
        self.claim_aggregates_ = HistoryAggregates(
            specs=CLAIM_SPECS, window_days=self.window_days, prior_strength=self.prior_strength
        ).fit(claim_events)
        self.auth_evidence_: HistoryAggregates | None = fit_auth_evidence(line_events)
        self.coverage_evidence_: HistoryAggregates | None = fit_coverage_evidence(line_events)
        self.modifier_evidence_: HistoryAggregates | None = fit_modifier_evidence(line_events)
        self.rules_ = rules
        self.patient_key_fingerprint_ = key_fingerprint()
        self.category_labels_ = {c: codes.label(c) for c in CATEGORIES}
        self.category_actions_ = {c: codes.preventive_action(c) for c in CATEGORIES}
        self.as_of_day_: int | None = None
        return self

    def freeze(self, *, as_of_day: int) -> DenialFeatureBuilder:
        """Compact the history for saving; every answer is then given as of that day."""
        self.line_aggregates_.freeze(as_of_day=as_of_day)
        self.claim_aggregates_.freeze(as_of_day=as_of_day)
        for evidence in self._evidence():
            evidence.freeze(as_of_day=as_of_day)
        self.as_of_day_ = as_of_day
        return self

    def with_history_of(self, other: DenialFeatureBuilder) -> DenialFeatureBuilder:
        """This builder's coding (category levels, payer rules, phrases) over `other`'s unfrozen outcome history.

        For judging a model on claims older than its own snapshot (the retraining gate): a frozen snapshot
        answers every query as of its own day, which for an older claim counts outcomes that came after it,
        its own among them, and flatters the model. Over an unfrozen history the features are point-in-time
        again: what this model would have seen at each claim's submission. Never for serving."""
        if other.as_of_day_ is not None:
            raise ValueError("the history must be unfrozen (a fitted builder before freeze)")
        if (other.window_days, other.prior_strength) != (self.window_days, self.prior_strength):
            raise ValueError("the history was built with another window or prior strength than this model's")
        twin = copy.copy(self)
        twin._level_lookups = {}
        twin.line_aggregates_ = other.line_aggregates_
        twin.claim_aggregates_ = other.claim_aggregates_
        twin.auth_evidence_ = None if self.auth_evidence_ is None else other.auth_evidence_
        twin.coverage_evidence_ = None if self.coverage_evidence_ is None else other.coverage_evidence_
        twin.modifier_evidence_ = None if self.modifier_evidence_ is None else other.modifier_evidence_
        twin.as_of_day_ = None
        return twin

    def transform(
        self,
        *,
        claims: Table,
        lines: Table,
        context_claims: pd.DataFrame | None = None,
        context_lines: pd.DataFrame | None = None,
        rows: np.ndarray | None = None,
        chunk_claims: int | None = None,
        threads: int = 1,
        each_part: Callable[[int, np.ndarray], None] | None = None,
        reasons: bool = True,
        progress: Progress = silent,
    ) -> FeatureSet:
        """Features for `claims` (one row each, in order). Context = every claim the team has sent,
        for duplicate suspicion (default: the claims themselves).

        `rows`: features for these positions of `claims` only, in this order, with every claim of `claims` as the
        context (no `context_claims`). A training set is a time-ordered subset of the claims sent: taking it by
        position spares a sorted copy of the claims table (2.6 GiB at ten million claims).

        `reasons=False`: the matrix alone, without the values reason phrases read (a training set needs no
        explanations; at a million claims those values hold more memory than the matrix).

        `chunk_claims`: build the features that many claims at a time (the same values as all at once). Each
        line-level history answer is an array over every line; in chunks only one chunk's are alive at once.
        `threads`: chunks built side by side (`map_in_order`; the same values). They share the `chunk_claims`
        budget (each takes chunk_claims / threads claims), so the memory stays that of one chunk of chunk_claims
        (a chunk's working arrays are about 0.75 GiB per 100,000 claims).

        `each_part(start, X_part)`: called on the caller's thread with each chunk's first position and rows of the
        matrix, in order, as soon as they are filled (the next chunks are being built meanwhile: a batch scores
        them there); once with the whole matrix when it is built at once.

        A claim's lines are taken from `context_lines` when given (from `lines` only for claims missing
        from the context). Scoring one claim with itself as context is the serving call: it reads each
        input column once and never builds a DataFrame (whose fixed costs would dominate a single claim)."""
        if key_fingerprint() != self.patient_key_fingerprint_:
            raise PatientKeyMismatch(
                "this model's patient history was keyed with another patient key: set CLAIMSIGHT_PATIENT_KEY "
                "to the key it was trained with"
            )
        if rows is not None and context_claims is not None and context_claims is not claims:
            raise ValueError("rows are positions in claims, which are then the context: give no context_claims")
        positions = None if rows is None else np.asarray(rows, dtype=np.int64)

        def scored(part: slice) -> Table:
            """The scored claims of this run of `ids`."""
            return take_rows(claims, part if positions is None else positions[part])

        def every(name: str) -> pd.Series | np.ndarray:
            """A column of the scored claims, in order."""
            values = claims[name]
            if positions is None:
                return values
            return values[positions] if isinstance(values, np.ndarray) else values.iloc[positions]

        ids = every("claim_id")  # as given: Arrow looks ids up and counts them without a Python string each
        check_unique_ids(ids, what="claims")
        n = len(ids)
        extra: np.ndarray | None = None  # scored claims missing from the context (None: the claims are the context)
        if context_claims is None or context_claims is claims:
            sources = [lines if context_lines is None or context_claims is None else context_lines]
        else:
            at = index_in(context_claims["claim_id"], ids)
            extra = np.ones(n, dtype=bool)
            extra[at[at >= 0]] = False
            if context_lines is None:
                sources = [lines]
            elif extra.any():  # their lines are in `lines`
                sources = [context_lines, lines]
            else:
                sources = [context_lines]
        sent: Table = claims if context_claims is None or extra is None else context_claims  # every claim sent
        if threads < 1:
            raise ValueError(f"threads: must be at least 1, got {threads}")
        if chunk_claims is not None:
            chunk_claims = max(1, math.ceil(chunk_claims / threads))  # `threads` chunks in flight share the budget
        if chunk_claims is None or n <= chunk_claims:
            c = claim_columns(claims if positions is None else scored(slice(None)))
            line_cols = line_rows(c, sources)
            # one question of the context: keyed together with it (the context is the claims themselves when
            # extra is None and every claim is scored: its lines are these lines)
            if extra is not None or positions is not None:
                sent_cols = _sent_columns(sent, None if extra is None else {k: c[k][extra] for k in _CONTEXT_KEYS})
                context = _context_line_keys(sent_cols, sources, claim_positions(sources, sent_cols["claim_id"]))
            else:
                context = line_cols
            whole = self._features(c, line_cols, duplicates=partial(duplicate_counts, context=context), reasons=reasons)
            if each_part is not None:
                each_part(0, whole.X)
            return whole
        # every chunk asks the same history of sent lines: keyed once; each chunk's claim columns are read
        # when its turn comes (all of them at once would hold every claim's text as Python strings)
        in_ids: list[np.ndarray] | None = None  # per source, each line's claim as a position in `ids`
        if extra is None:
            # the claims sent are the scored claims, or hold them (`rows`): each line's claim is looked up once, for
            # the duplicate keys and for the chunks, and each claim column read once for both
            if positions is not None:
                check_unique_ids(sent["claim_id"], what="context_claims")
            sent_cols = claim_columns(sent, _CONTEXT_KEYS[1:])
            in_sent = claim_positions(sources, sent["claim_id"])
            if positions is None:
                in_ids, patients = in_sent, sent_cols["patient_id"]
            else:
                to_ids = np.full(len(sent_cols["patient_id"]) + 1, -1, dtype=np.int64)  # the last: where -1 lands
                to_ids[positions] = np.arange(n)
                in_ids, patients = [to_ids[at] for at in in_sent], spread(sent_cols["patient_id"], positions)
        else:
            unsent = claim_columns(take_rows(claims, np.flatnonzero(extra)), _CONTEXT_KEYS)
            sent_cols = _sent_columns(sent, unsent)
            in_sent, patients = claim_positions(sources, sent_cols["claim_id"]), text_array(every("patient_id"))
        # the index is built beside the patients' hashing and the chunks' rows (ten million claims: 8 s of its keys
        # and index, after 9 s of lookups shared with the chunks); its sorts hold no GIL
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="duplicates") as beside:
            index = beside.submit(lambda: DuplicateIndex(_context_line_keys(sent_cols, sources, in_sent)))
            # a patient's claims fall in many chunks: each patient is hashed once for the batch, not once per chunk
            patient_key = patient_keys(patients)
            chunks = claim_chunks(ids, sources, size=chunk_claims, line_claims=in_ids)
            duplicates = index.result().counts
        # the matrix is filled a chunk at a time: never every chunk's matrix beside the whole one
        X = np.empty((n, len(FEATURE_NAMES)), dtype=np.float32)

        def build(start: int, part_sources: list[Table]) -> FeatureSet:
            part = claim_columns(scored(slice(start, start + chunk_claims)))
            part["patient_key"] = spread(patient_key, np.arange(start, min(start + chunk_claims, n)))
            fs = self._features(part, line_rows(part, part_sources), duplicates=duplicates, reasons=reasons)
            X[start : start + len(fs.X)] = fs.X
            return replace(fs, X=X[start : start + len(fs.X)])

        parts: list[FeatureSet] = []
        progress("features", 0, n)
        for fs in map_in_order(build, chunks, threads=threads):
            if each_part is not None:
                each_part(len(parts) * chunk_claims, fs.X)
            parts.append(fs)
            del fs
            release_unused_memory(malloc=False)  # the chunk's Arrow buffers; its arrays' pages serve the next chunk
            progress("features", min(len(parts) * chunk_claims, n), n)
        return FeatureSet.concat(parts, X=X)

    def _features(self, c: Columns, rows: Columns, *, duplicates: DuplicateCounts, reasons: bool) -> FeatureSet:
        """Features of claims `c` from their lines `rows` (`line_rows`)."""
        n = len(c["claim_id"])
        apply_payer_rules(c, rows, self.rules_)
        self._add_learned_auth(rows)
        self._add_learned_policy(
            rows,
            evidence=self.coverage_evidence_,
            learn=learned_not_covered,
            flag="noncovered_learned",
            prefix="coverage",
        )
        self._add_learned_policy(
            rows,
            evidence=self.modifier_evidence_,
            learn=learned_modifier_missing,
            flag="modifier_learned",
            prefix="modifier",
        )
        own = claim_fields(c, rows, duplicates=duplicates)
        claim_ids = pd.Index(c["claim_id"], dtype="str", name="claim_id")

        cols: dict[str, np.ndarray] = {}
        pointers: dict[str, np.ndarray] = {}
        # categorical codes: position in the fitted levels, NaN when unseen
        row_pos = rows["claim_pos"]  # each line's claim position; rows are sorted by claim, then line
        first_line = np.flatnonzero(np.r_[True, row_pos[1:] != row_pos[:-1]]) if len(row_pos) else row_pos
        principal = np.full(n, None, dtype=object)
        principal[row_pos[first_line]] = rows["proc_family"][first_line]
        for name in CATEGORICAL:
            cols[name] = lookup_codes(principal if name == "principal_family" else c[name], self._level_index(name))

        # line-level history: the worst line per claim (highest smoothed rate), and which line it was
        line_hist = self.line_aggregates_.transform_arrays(rows, query_day=day_number(rows["submitted_at"]))
        _carry_learned_modifier(line_hist, rows)
        by_claim = np.argsort(row_pos, kind="stable")
        sorted_pos = row_pos[by_claim]
        starts = np.flatnonzero(np.r_[True, sorted_pos[1:] != sorted_pos[:-1]]) if len(sorted_pos) else sorted_pos
        claim_at = sorted_pos[starts]
        counts = np.diff(np.r_[starts, len(sorted_pos)])
        has_lines = np.zeros(n, dtype=bool)
        has_lines[claim_at] = True
        # every line spec at once, one row each: the same elementwise work as spec by spec, in a few numpy
        # calls instead of a few per spec (which for one claim is most of the cost)
        names = [spec.name for spec in LINE_SPECS]
        n_rows = len(row_pos)
        rate = np.stack([line_hist[f"{name}_rate"] for name in names]) if n_rows else np.zeros((len(names), 0))
        pointer = np.full((len(names), n), -1, dtype=np.int64)
        if len(starts):
            sorted_rate = rate[:, by_claim]
            top = np.repeat(np.maximum.reduceat(sorted_rate, starts, axis=1), counts, axis=1)
            first_max = np.minimum.reduceat(np.where(sorted_rate == top, np.arange(n_rows), n_rows), starts, axis=1)
            pointer[:, claim_at] = by_claim[first_max]
        chosen = pointer >= 0
        for suffix in ("rate", "n", "n_recent"):
            if not n_rows:  # no lines at all: nothing to point at
                picked = np.full((len(names), n), np.nan)
            else:
                values = rate if suffix == "rate" else np.stack([line_hist[f"{name}_{suffix}"] for name in names])
                picked = np.where(chosen, np.take_along_axis(values, np.maximum(pointer, 0), axis=1), np.nan)
            cols.update({f"{name}_{suffix}": picked[k] for k, name in enumerate(names)})
        # chance that at least one line is denied, if lines were independent at these rates
        log_keep_rate = np.log1p(-np.clip(rate, 0.0, 0.999))
        any_denied = -np.expm1(np.stack([np.bincount(row_pos, weights=w, minlength=n) for w in log_keep_rate]))
        recent = np.full((len(names), n), np.nan)
        if len(starts):
            sorted_recent = np.stack([line_hist[f"{name}_rate_recent"] for name in names])[:, by_claim]
            recent[:, claim_at] = np.maximum.reduceat(sorted_recent, starts, axis=1)
        for k, name in enumerate(names):
            pointers[name] = pointer[k]
            cols[f"{name}_any"] = np.where(has_lines, any_denied[k], np.nan)
            cols[f"{name}_rate_recent"] = recent[k]
        pointers[MODIFIER_HABIT_SPEC.name] = _add_modifier_habit(cols, rows, line_hist, n=n)

        # claim-level history
        cols.update(
            self.claim_aggregates_.transform_arrays(claim_key_columns(c), query_day=day_number(c["submitted_at"]))
        )
        cols.update(own)
        # filled feature by feature in a feature-major buffer, then transposed once: each column written straight
        # into the row-major matrix touched every cache line of it once per feature (three times slower)
        by_feature = np.empty((len(FEATURE_NAMES), n), dtype=np.float32)
        for j, name in enumerate(FEATURE_NAMES):
            by_feature[j] = cols[name]
        X = np.ascontiguousarray(by_feature.T)
        if not reasons:
            return FeatureSet(X=X, context={}, claim_ids=claim_ids)
        line_values = {
            "line_number": rows["line_number"],
            "procedure_code": rows["procedure_code"],
            "modifier_text": modifier_text(rows["modifier_key"]),
            "line_dx": rows["line_dx"],
            "units": rows["units"],
            "prev_code": rows["prev_code"],
            "beside_text": beside_text(rows["other_sections"]),
            "modifier_learned": rows["modifier_learned"],  # which lines the learned rule raised (reasons read it)
        }
        context = reason_context(
            c, rows, cols, category_labels=self.category_labels_, category_actions=self.category_actions_
        )
        return FeatureSet(X=X, context=context, claim_ids=claim_ids, lines=line_values, pointers=pointers)

    def _level_index(self, name: str) -> dict[str, int]:
        """Fitted category levels of one column as a dict (level -> code), built once per level list."""
        levels = self.levels_[name]
        hit = self._level_lookups.get(name)
        if hit is None or hit[0] is not levels:
            hit = (levels, {v: i for i, v in enumerate(levels)})
            self._level_lookups[name] = hit
        return hit[1]

    def prepare(self) -> DenialFeatureBuilder:
        """Build every lookup the first request would otherwise build (serving calls this at load)."""
        for name in CATEGORICAL:
            self._level_index(name)
        self.line_aggregates_.prepare()
        self.claim_aggregates_.prepare()
        for evidence in self._evidence():
            evidence.prepare()
        return self

    def _evidence(self) -> list[HistoryAggregates]:
        """The learned-policy histories this builder has (a model saved before one existed lacks it)."""
        found = (self.auth_evidence_, self.coverage_evidence_, self.modifier_evidence_)
        return [e for e in found if e is not None]

    def _add_learned_auth(self, rows: dict[str, np.ndarray]) -> None:
        """Widen each line's `auth_needed` (payer rules) with the requirements the payer's recent denials show."""
        n = len(rows["claim_pos"])
        rows["auth_learned"] = np.zeros(n, dtype=bool)
        rows["auth_evidence_lines"] = np.zeros(n)
        rows["auth_evidence_rate"] = np.zeros(n)
        if self.auth_evidence_ is None or not n:  # a model saved before learned requirements existed
            return
        learned, lines, rate = learned_auth_needed(
            self.auth_evidence_, rows, query_day=day_number(rows["submitted_at"])
        )
        rows["auth_learned"] = learned & ~rows["auth_needed"]
        rows["auth_evidence_lines"], rows["auth_evidence_rate"] = lines, rate
        rows["auth_needed"] = rows["auth_needed"] | learned

    @staticmethod
    def _add_learned_policy(
        rows: dict[str, np.ndarray],
        *,
        evidence: HistoryAggregates | None,
        learn: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]],
        flag: str,
        prefix: str,
    ) -> None:
        """Mark each line a learned policy flags (features/learned_policies.py: coverage withdrawn, a modifier now
        required) as `flag`, with its evidence as `{prefix}_evidence_lines` and `_rate`: no rule file field says so."""
        n = len(rows["claim_pos"])
        rows[flag] = np.zeros(n, dtype=bool)
        rows[f"{prefix}_evidence_lines"] = np.zeros(n)
        rows[f"{prefix}_evidence_rate"] = np.zeros(n)
        if evidence is None or not n:  # a model saved before this learned policy existed
            return
        learned, lines, rate = learn(evidence, rows, query_day=day_number(rows["submitted_at"]))
        rows[flag], rows[f"{prefix}_evidence_lines"], rows[f"{prefix}_evidence_rate"] = learned, lines, rate

    # ---- persistence: plain arrays and JSON, no pickled objects --------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "params": {
                "window_days": self.window_days,
                "prior_strength": self.prior_strength,
                "as_of_day": self.as_of_day_,
            },
            "levels": self.levels_,
            # YAML keeps the integer appeal levels that JSON would turn into strings
            "rules_yaml": yaml.safe_dump(self.rules_.library.model_dump(mode="python"), sort_keys=True),
            "category_labels": self.category_labels_,
            "category_actions": self.category_actions_,
            "patient_key_fingerprint": self.patient_key_fingerprint_,
            "line_aggregates": self.line_aggregates_.to_state(),
            "claim_aggregates": self.claim_aggregates_.to_state(),
            **({} if self.auth_evidence_ is None else {"auth_evidence": self.auth_evidence_.to_state()}),
            **({} if self.coverage_evidence_ is None else {"coverage_evidence": self.coverage_evidence_.to_state()}),
            **({} if self.modifier_evidence_ is None else {"modifier_evidence": self.modifier_evidence_.to_state()}),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> DenialFeatureBuilder:
        params = state["params"]
        self = cls(window_days=params["window_days"], prior_strength=params["prior_strength"])
        self.as_of_day_ = params["as_of_day"]
        self.levels_ = {k: list(v) for k, v in state["levels"].items()}
        self.rules_ = PayerRules(RuleLibrary.model_validate(yaml.safe_load(state["rules_yaml"])))
        self.category_labels_ = dict(state["category_labels"])
        self.category_actions_ = dict(state["category_actions"])
        self.patient_key_fingerprint_ = str(state["patient_key_fingerprint"])
        self.line_aggregates_ = HistoryAggregates.from_state(state["line_aggregates"])
        self.claim_aggregates_ = HistoryAggregates.from_state(state["claim_aggregates"])
        evidence = state.get("auth_evidence")
        self.auth_evidence_ = None if evidence is None else HistoryAggregates.from_state(evidence)
        coverage = state.get("coverage_evidence")
        self.coverage_evidence_ = None if coverage is None else HistoryAggregates.from_state(coverage)
        modifier = state.get("modifier_evidence")
        self.modifier_evidence_ = None if modifier is None else HistoryAggregates.from_state(modifier)
        return self.prepare()  # a loaded builder serves requests: build its lookups now, not on the first one


def _carry_learned_modifier(line_hist: dict[str, np.ndarray], rows: Mapping[str, np.ndarray]) -> None:
    """A modifier requirement learned from the plan's recent remits speaks through `plan_proc`, the plan's denial
    rate for the code, as a learned authorization requirement speaks through `auth_needed`.

    The evidence is a finer level of that rate (this plan, this code sent without a modifier, the last 90 days,
    coding denials only: a lower bound of all denials), so where it holds (features/learned_policies.py) it is the
    rate in force for this line. A feature of its own fires on too few mature training rows after a change for
    the trees to learn its cost; the plan's rate for a code is one of the model's strongest features in both
    worlds."""
    flagged = rows["modifier_learned"]
    if not flagged.any():
        return
    for suffix in ("rate", "rate_recent"):
        name = f"plan_proc_{suffix}"
        raised = np.maximum(line_hist[name], rows["modifier_evidence_rate"])
        line_hist[name] = np.where(flagged, raised, line_hist[name])
