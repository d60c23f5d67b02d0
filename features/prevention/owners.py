"""Who owns the fix of a denial pattern, and what the fix is, as data a team can change.

The shipped map (`features/contract/data/prevention_owners.yaml`, ClaimSight's guidance; its `source:`
says where it comes from) routes every root-cause category to a team with the upstream fix in that team's
words. A team's `<data_dir>/prevention_owners.yaml` has the same schema, every section optional:

- `teams`: team id -> label; adds teams (or relabels one).
- `categories`: category -> {team, fix}; replaces the shipped entry's fields it gives.
- `payers`: payer_id -> category -> {team, fix}: that payer's denials of that category.
- `codes`: a procedure code, a range `97110-97546`, or a procedure group id -> category -> {team, fix}.

Resolution for a pattern, most specific first, field by field (`team` and `fix` separately): the payer
entry, then a code entry (the pattern's leading code, then a range holding it, then its procedure group),
then the category entry. A team's file beats the shipped file at the same level. Every name is checked when
the file is loaded: an unknown category or team, or an unknown key, is an error naming the file and key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from features.contract.codes import CATEGORIES

FILE_NAME = "prevention_owners.yaml"
_SECTIONS = ("source", "teams", "categories", "payers", "codes")
_FIELDS = ("team", "fix")
_RANGE = re.compile(r"^([A-Z0-9]{5})-([A-Z0-9]{5})$")


class OwnersFileError(ValueError):
    """An owners file breaks a rule; the message names the file and the key."""


@dataclass(frozen=True)
class Owner:
    team: str
    team_label: str
    fix: str
    rule: str  # which entry decided: "category", "payer", "code 97110-97546", "group physical_medicine"


@dataclass(frozen=True)
class OwnersMap:
    source: str
    teams: Mapping[str, str]
    categories: Mapping[str, Mapping[str, str]]
    payers: Mapping[str, Mapping[str, Mapping[str, str]]]
    codes: Mapping[str, Mapping[str, Mapping[str, str]]]

    def resolve(self, *, category: str, payer_id: str | None = None, code: str | None = None,
                group: str | None = None) -> Owner:  # fmt: skip
        """The owning team and fix of a pattern of `category` (payer, leading code, group when it has them)."""
        levels: list[tuple[str, Mapping[str, str]]] = []
        if payer_id is not None and category in self.payers.get(payer_id, {}):
            levels.append((f"payer {payer_id}", self.payers[payer_id][category]))
        for key in self._code_keys(code, group):
            if category in self.codes[key]:
                levels.append((f"code {key}", self.codes[key][category]))
        levels.append(("category", self.categories[category]))
        team = next((rule, e["team"]) for rule, e in levels if "team" in e)
        fix = next(e["fix"] for _, e in levels if "fix" in e)
        return Owner(team=team[1], team_label=self.teams[team[1]], fix=fix, rule=team[0])

    def _code_keys(self, code: str | None, group: str | None) -> list[str]:
        keys = [code] if code is not None and code in self.codes else []
        if code is not None:
            for key in self.codes:
                m = _RANGE.match(key)
                if m and len(code) == 5 and m.group(1) <= code <= m.group(2) and code[0].isdigit() == key[0].isdigit():
                    keys.append(key)
        if group is not None and group in self.codes:
            keys.append(group)
        return keys


def load_owners(*, data_dir: Path | None = None) -> OwnersMap:
    """The shipped map, with `<data_dir>/prevention_owners.yaml` over it when that file exists."""
    shipped_path = files("features.contract") / "data" / FILE_NAME
    shipped = _parse(shipped_path.read_text(encoding="utf-8"), name=f"shipped {FILE_NAME}")
    layers, names = [shipped], [f"shipped {FILE_NAME}"]
    if data_dir is not None and (data_dir / FILE_NAME).is_file():
        path = data_dir / FILE_NAME
        layers.append(_parse(path.read_text(encoding="utf-8"), name=str(path)))
        names.append(str(path))
    return _merge(layers, names=names)


def owners_from_text(text: str, *, name: str = FILE_NAME) -> OwnersMap:
    """The shipped map with one team file's text over it (tests, and a file held elsewhere)."""
    shipped = _parse((files("features.contract") / "data" / FILE_NAME).read_text(encoding="utf-8"), name="shipped")
    return _merge([shipped, _parse(text, name=name)], names=[f"shipped {FILE_NAME}", name])


def _parse(text: str, *, name: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OwnersFileError(f"{name}: not valid YAML ({type(exc).__name__})") from None
    loaded = {} if loaded is None else loaded
    if not isinstance(loaded, dict):
        raise OwnersFileError(f"{name}: the file must be a mapping of sections {list(_SECTIONS)}")
    for key in loaded:
        if key not in _SECTIONS:
            raise OwnersFileError(f"{name}: key {key!r}: unknown section; expected {list(_SECTIONS)}")
    if "source" in loaded and not isinstance(loaded["source"], str):
        raise OwnersFileError(f"{name}: key 'source': must be text")
    teams = _mapping(loaded.get("teams"), where=f"{name}: key 'teams'")
    for team, label in teams.items():
        if not isinstance(label, str) or not label.strip():
            raise OwnersFileError(f"{name}: key 'teams.{team}': the label must be non-empty text")
    out: dict[str, Any] = {"source": loaded.get("source"), "teams": {str(k): v for k, v in teams.items()}}
    out["categories"] = _entries(loaded.get("categories"), where=f"{name}: key 'categories'")
    for section in ("payers", "codes"):
        block = _mapping(loaded.get(section), where=f"{name}: key {section!r}")
        out[section] = {str(k): _entries(v, where=f"{name}: key '{section}.{k}'") for k, v in block.items()}
    if "codes" in loaded:
        for key in out["codes"]:
            if not (_RANGE.match(key) or re.fullmatch(r"[A-Z0-9]{5}", key) or re.fullmatch(r"[a-z_][a-z0-9_]*", key)):
                raise OwnersFileError(
                    f"{name}: key 'codes.{key}': not a code, a range like 97110-97546, or a procedure group id"
                )
    return out


def _mapping(value: object, *, where: str) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise OwnersFileError(f"{where}: must be a mapping")
    return value


def _entries(value: object, *, where: str) -> dict[str, dict[str, str]]:
    """category -> {team, fix}; categories and fields are checked here, teams after merging."""
    out: dict[str, dict[str, str]] = {}
    for category, entry in _mapping(value, where=where).items():
        key = f"{where[:-1]}.{category}'"
        if category not in CATEGORIES:
            raise OwnersFileError(f"{key}: unknown category; expected one of {list(CATEGORIES)}")
        if not isinstance(entry, dict) or not entry:
            raise OwnersFileError(f"{key}: must be a mapping with team and/or fix")
        for field, text in entry.items():
            if field not in _FIELDS:
                raise OwnersFileError(f"{key}: unknown field {field!r}; expected team and/or fix")
            if not isinstance(text, str) or not text.strip():
                raise OwnersFileError(f"{key[:-1]}.{field}': must be non-empty text")
        out[str(category)] = {str(f): str(t).strip() for f, t in entry.items()}
    return out


def _merge(layers: list[dict[str, Any]], *, names: list[str]) -> OwnersMap:
    teams: dict[str, str] = {}
    categories: dict[str, dict[str, str]] = {}
    payers: dict[str, dict[str, dict[str, str]]] = {}
    codes: dict[str, dict[str, dict[str, str]]] = {}
    for layer in layers:
        teams.update(layer["teams"])
        for category, entry in layer["categories"].items():
            categories[category] = {**categories.get(category, {}), **entry}
        for target, section in ((payers, "payers"), (codes, "codes")):
            for key, entries in layer[section].items():
                for category, entry in entries.items():
                    target.setdefault(key, {})[category] = {**target.get(key, {}).get(category, {}), **entry}
    for layer, name in zip(layers, names, strict=True):
        for where, entry in _all_entries(layer):
            if "team" in entry and entry["team"] not in teams:
                raise OwnersFileError(f"{name}: key '{where}.team': unknown team {entry['team']!r}; "
                                      f"expected one of {sorted(teams)} or add it under teams")  # fmt: skip
    shipped = layers[0]
    for category in CATEGORIES:
        missing = [f for f in _FIELDS if f not in categories.get(category, {})]
        if missing:
            raise OwnersFileError(f"{names[0]}: key 'categories.{category}': needs {' and '.join(missing)}")
    if not shipped.get("source"):
        raise OwnersFileError(f"{names[0]}: key 'source': say where the guidance comes from")
    return OwnersMap(source=str(shipped["source"]), teams=teams, categories=categories, payers=payers, codes=codes)


def _all_entries(layer: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    found = [(f"categories.{c}", e) for c, e in layer["categories"].items()]
    for section in ("payers", "codes"):
        for key, entries in layer[section].items():
            found += [(f"{section}.{key}.{c}", e) for c, e in entries.items()]
    return found
