"""Learned edits as files a team reviews: the export (``learned_edits.yaml`` in the payer_rules.yaml override
format, ``learned_edits.csv``), accepting an export into ``<data_dir>/payer_rules.yaml``, and the decisions
remembered in ``<data_dir>/edit_decisions.yaml``.

**The export is an override file.** Loaded on top of the team's rules (``load_payer_rules(extra_file=...)``)
it gives exactly the rules with the edits in force. Because a more specific layer replaces a whole field,
each payer's list or mapping repeats what is in force for it today (commented "in force") before the
learned entries, each learned entry carrying its evidence as a YAML comment and its edit id. A payer's
``plan_type`` is written (the plan type on most of its claims) only so that accepting can resolve what
is in force; accepting never writes it into the team's file.

**Accepting** reads the export (the team may have deleted entries), works out which of its entries are not
in force yet (those are the edits, named by the ids the export gives them: ``features.prevention.edits.edit_id``),
keeps those selected (``only``), and merges them into the team's file payer by payer, field by field: the
team's other fields and payers stay as they are; a field the team had not set at payer level starts from
the value in force (so the payer's inherited list is kept, not replaced). The file is rewritten by
``dump_payer_rules`` (validated before it replaces the old one); its YAML comments are not kept.

**Decisions** (``edit_decisions.yaml``: ``decisions: {id: {decision: accepted|rejected, date: YYYY-MM-DD}}``, and
``by: USERNAME`` when made in the workspace, which is its record of who decided):
``claimsight edits`` leaves both out of the next export (an accepted one is in force anyway; a rejected
one is the team's call), and shows their status in the CSV.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from features.contract.atomic_files import write_text_atomic
from features.contract.payer_rule_files import (
    SHIPPED_FILE_NAME,
    PayerRulesError,
    dump_payer_rules,
    load_overrides,
    overrides_text,
)
from features.contract.payer_rule_model import PayerEntry, RuleOverrides
from features.contract.payer_rules import PayerRules, ResolvedRule, load_payer_rules
from features.prevention.edits import EDIT_COLUMNS, KINDS, edit_id

__all__ = [
    "DECISIONS_FILE",
    "EDITS_CSV",
    "EDITS_YAML",
    "Accepted",
    "EditFileError",
    "accept_edits",
    "export_edits",
    "load_decisions",
    "proposed_edits",
    "record_decisions",
]

EDITS_YAML = "learned_edits.yaml"
EDITS_CSV = "learned_edits.csv"
DECISIONS_FILE = "edit_decisions.yaml"
DECISIONS = ("accepted", "rejected")


class EditFileError(ValueError):
    """An edits or decisions file is unusable; the message names the file and the problem, never a value."""


# ---- the export -------------------------------------------------------------------------------------------------
def _q(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _evidence(row: Mapping[str, Any]) -> str:
    unit = "claims" if row["unit"] == "claim" else "lines"
    kind, detail = row["kind"], str(row["detail"])
    if kind == "auth":
        what = f"{unit} without an authorization number"
    elif kind == "modifier":
        what = f"{unit} without {detail}"
    elif kind == "pair":
        what = f"{unit} billed with {detail}"
    elif kind == "dx":
        what = f"{unit} pointing at {detail}*"
    else:
        what = f"{unit} submitted {int(detail) + 1}+ days after service"
    return (
        f"{row['edit_id']}: {row['denied']} of {row['seen']} {what} denied ({row['denial_rate']:.0%}; "
        f"rest {row['reference_rate']:.1%} of {row['reference_seen']}), {row['carcs']}, "
        f"{row['first_seen']}..{row['last_seen']}, q={row['q_value']:.1e}"
    )


def export_edits(edits: pd.DataFrame, *, rules: PayerRules, out_dir: Path) -> tuple[Path, Path]:
    """Write learned_edits.yaml (the new edits, as an override file with evidence comments) and
    learned_edits.csv (every row of `edits`, with its status). Returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    new = edits[edits["status"] == "new"]
    as_of = str(edits["as_of"].iloc[0]) if len(edits) else ""
    lines = [
        "# ClaimSight learned edits" + (f", from first remits up to {as_of}" if as_of else ""),
        "# Review, delete what you disagree with, then: claimsight edits accept THIS_FILE --data DIR",
        "# (or reject ids: claimsight edits reject ID ... --data DIR). Each list repeats what is in force for",
        "# the payer today (a payer's list replaces the inherited one); the learned entries carry their evidence.",
        "version: 1",
        "payers:" if len(new) else "payers: {}",
    ]
    for payer, group in new.groupby("payer_id", sort=True):
        plan = str(group["plan_type"].iloc[0])
        resolved = rules.lookup(payer_id=str(payer), plan_type=plan)
        lines.append(f"  {_q(str(payer))}:")
        if resolved.plan_type is not None:
            lines.append(f"    plan_type: {resolved.plan_type}  # on most of its claims (resolves what is in force)")
        rows: dict[str, list[dict[str, Any]]] = {
            k: [{str(c): v for c, v in r.items()} for r in group[group["kind"] == k].to_dict("records")] for k in KINDS
        }
        if rows["auth"]:
            lines.append("    auth_required:")
            src = resolved.source.get("auth_required", "default")
            lines += [f"      - {_q(c)}  # in force ({src})" for c in resolved.auth_required]
            lines += [f"      - {_q(r['procedure_code'])}  # {_evidence(r)}" for r in rows["auth"]]
        if rows["modifier"]:
            lines.append("    modifier_required:")
            current = {k: list(v) for k, v in resolved.modifier_required.items()}
            learned: dict[str, list[dict[str, Any]]] = {}
            for r in rows["modifier"]:
                learned.setdefault(str(r["procedure_code"]), []).append(r)
            for code in sorted(set(current) | set(learned)):
                lines.append(f"      {_q(code)}:")
                lines += [f"        - {_q(m)}  # in force" for m in current.get(code, [])]
                lines += [f"        - {_q(r['detail'])}  # {_evidence(r)}" for r in learned.get(code, [])]
        if rows["pair"]:
            lines.append("    denied_together:")
            lines += [f"      - [{_q(a)}, {_q(b)}]  # in force" for a, b in resolved.denied_together]
            lines += [f"      - [{_q(r['detail'])}, {_q(r['procedure_code'])}]  # {_evidence(r)}" for r in rows["pair"]]
        if rows["dx"]:
            lines.append("    dx_not_supporting:")
            current = {k: list(v) for k, v in resolved.dx_not_supporting.items()}
            learned = {}
            for r in rows["dx"]:
                learned.setdefault(str(r["procedure_code"]), []).append(r)
            for code in sorted(set(current) | set(learned)):
                lines.append(f"      {_q(code)}:")
                lines += [f"        - {_q(d)}  # in force" for d in current.get(code, [])]
                lines += [f"        - {_q(r['detail'])}  # {_evidence(r)}" for r in learned.get(code, [])]
        for r in rows["filing"]:
            lines.append(
                f"    timely_filing_days: {int(r['detail'])}  # {_evidence(r)}; in force: {r['rule_in_force']}"
            )
    text = "\n".join(lines) + "\n"
    yaml_path = out_dir / EDITS_YAML
    try:
        RuleOverrides.model_validate(yaml.safe_load(text))  # the export always loads
    except Exception as exc:  # pragma: no cover - a bug in the writer, never the team's data
        raise EditFileError(f"{yaml_path}: the export does not validate ({type(exc).__name__})") from None
    write_text_atomic(yaml_path, text)
    csv_path = out_dir / EDITS_CSV
    edits.reindex(columns=list(EDIT_COLUMNS)).to_csv(csv_path, index=False)
    return yaml_path, csv_path


# ---- accepting --------------------------------------------------------------------------------------------------
def proposed_edits(payer: str, entry: PayerEntry, resolved: ResolvedRule) -> list[tuple[str, str, Any]]:
    """(edit id, field, value) for each entry of an export's payer entry that is not in force for it."""
    out: list[tuple[str, str, Any]] = []
    for spec in entry.auth_required or ():
        covered = spec in resolved.auth_required or ("-" not in spec and resolved.requires_auth(spec))
        if not covered:
            out.append((edit_id("auth", payer, spec), "auth_required", spec))
    for code, mods in (entry.modifier_required or {}).items():
        for m in mods:
            if m not in resolved.modifier_required.get(code, ()):
                out.append((edit_id("modifier", payer, code, m), "modifier_required", (code, m)))
    for a, b in entry.denied_together or ():
        if (a, b) not in resolved.denied_together:
            out.append((edit_id("pair", payer, b, a), "denied_together", (a, b)))
    for code, prefixes in (entry.dx_not_supporting or {}).items():
        for d in prefixes:
            if d not in resolved.dx_not_supporting.get(code, ()):
                out.append((edit_id("dx", payer, code, d), "dx_not_supporting", (code, d)))
    days = entry.timely_filing_days
    if days is not None and days != resolved.timely_filing_days:
        out.append((edit_id("filing", payer), "timely_filing_days", days))
    return out


@dataclass(frozen=True)
class Accepted:
    ids: tuple[str, ...]  # the edits merged
    offered: int  # edits the export proposes that are not in force (the rest of its entries already are)
    diff: str  # unified diff of the team's payer_rules.yaml (normalised text), empty when nothing changed
    path: Path


def _apply(team: PayerEntry | None, resolved: ResolvedRule, chosen: list[tuple[str, str, Any]]) -> PayerEntry:
    fields: dict[str, Any] = team.model_dump(exclude_none=True, exclude_defaults=True) if team is not None else {}
    for _, field, value in chosen:
        if field == "auth_required":
            current = list(fields.get(field, resolved.auth_required))
            fields[field] = [*current, value] if value not in current else current
        elif field in ("modifier_required", "dx_not_supporting"):
            current_map = {k: list(v) for k, v in fields.get(field, getattr(resolved, field)).items()}
            code, item = value
            items = current_map.setdefault(code, [])
            if item not in items:
                items.append(item)
            fields[field] = current_map
        elif field == "denied_together":
            pairs = [tuple(p) for p in fields.get(field, resolved.denied_together)]
            fields[field] = [list(p) for p in ([*pairs, value] if value not in pairs else pairs)]
        elif field == "timely_filing_days":
            fields[field] = value
    return PayerEntry.model_validate(fields)


def accept_edits(
    *,
    edits_file: Path,
    data_dir: Path,
    only: Iterable[str] | None = None,
    day: pd.Timestamp,
    by: str | None = None,
) -> Accepted:
    """Merge the export's edits (those in `only`, default all) into ``data_dir/payer_rules.yaml`` and record them
    as accepted on `day` (by `by`, a workspace username). An id in `only` that the export does not propose is an
    error, as is an unreadable decisions file (nothing is written)."""
    try:
        proposed = load_overrides(Path(edits_file))
    except PayerRulesError as exc:
        raise EditFileError(str(exc)) from None
    load_decisions(data_dir=data_dir)  # refused before payer_rules.yaml is touched, not after
    team_path = Path(data_dir) / SHIPPED_FILE_NAME
    team = load_overrides(team_path) if team_path.is_file() else RuleOverrides()
    rules = load_payer_rules(data_dir=data_dir)
    wanted = None if only is None else list(dict.fromkeys(only))
    payers = dict(team.payers)
    chosen_ids: list[str] = []
    offered: set[str] = set()
    for payer, entry in proposed.payers.items():
        mine = team.payers.get(payer)
        plan = entry.plan_type or (mine.plan_type if mine is not None else None)
        resolved = rules.lookup(payer_id=payer, plan_type=plan)
        edits = proposed_edits(payer, entry, resolved)
        offered.update(i for i, _, _ in edits)
        chosen = [e for e in edits if wanted is None or e[0] in wanted]
        if chosen:
            payers[payer] = _apply(mine, resolved, chosen)
            chosen_ids += [i for i, _, _ in chosen]
    missing = [i for i in (wanted or []) if i not in offered]
    if missing:
        raise EditFileError(
            f"{edits_file}: {len(missing)} of the ids given are not proposed by this file: {missing[0]}"
        )
    updated = team.model_copy(update={"payers": payers})
    before = overrides_text(team) if team_path.is_file() else ""
    after = overrides_text(updated)
    diff = ""
    if chosen_ids:
        dump_payer_rules(updated, team_path)
        diff = "".join(
            difflib.unified_diff(
                before.splitlines(keepends=True), after.splitlines(keepends=True), str(team_path), str(team_path)
            )
        )
        record_decisions(data_dir=data_dir, ids=chosen_ids, decision="accepted", day=day, by=by)
    return Accepted(ids=tuple(chosen_ids), offered=len(offered), diff=diff, path=team_path)


# ---- decisions --------------------------------------------------------------------------------------------------
def _check_id(ident: str) -> None:
    kind, _, rest = ident.partition(":")
    if kind not in KINDS or not rest:
        raise EditFileError(f"not an edit id (expected KIND:PAYER..., KIND one of {', '.join(KINDS)})")


def load_decisions(*, data_dir: Path) -> dict[str, dict[str, str]]:
    """id -> {decision, date[, by]} from ``data_dir/edit_decisions.yaml`` (empty when the file does not exist)."""
    path = Path(data_dir) / DECISIONS_FILE
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError, ValueError):  # ValueError: a date like 2024-13-01
        raise EditFileError(f"{path}: unreadable YAML (or an impossible date)") from None
    decisions = data.get("decisions", {}) if isinstance(data, dict) else None
    if not isinstance(decisions, dict):
        raise EditFileError(f"{path}: expected 'decisions: {{id: {{decision, date}}}}'")
    out: dict[str, dict[str, str]] = {}
    for ident, entry in decisions.items():
        if not isinstance(entry, dict) or entry.get("decision") not in DECISIONS:
            raise EditFileError(f"{path}: decisions.{ident}: decision must be accepted or rejected")
        out[str(ident)] = {"decision": str(entry["decision"]), "date": str(entry.get("date", ""))}
        if entry.get("by"):
            out[str(ident)]["by"] = str(entry["by"])
    return out


def record_decisions(
    *, data_dir: Path, ids: Iterable[str], decision: str, day: pd.Timestamp, by: str | None = None
) -> Path:
    """Remember `decision` for each id (a later decision on the same id replaces the earlier one); `by`: the
    workspace username that decided (the command line records none)."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}")
    ids = list(ids)
    for ident in ids:
        _check_id(ident)
    decisions = load_decisions(data_dir=data_dir)
    for ident in ids:
        decisions[ident] = {
            "decision": decision,
            "date": pd.Timestamp(day).date().isoformat(),
            **({"by": by} if by else {}),
        }
    path = Path(data_dir) / DECISIONS_FILE
    text = "# ClaimSight: learned edits the team accepted or rejected (claimsight edits accept / reject)\n"
    text += yaml.safe_dump({"version": 1, "decisions": dict(sorted(decisions.items()))}, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    return path
