"""Appeal letters and corrected-claim checklists drafted from templates, which a team can replace.

A denial's first draft comes from the most specific template there is: one written for the denying CARC
(`appeal/carc-197.txt`), else one for the denial's category (`appeal/authorization.txt`), else
`appeal/default.txt`; checklists likewise under `checklist/`. A team keeps its own versions in a folder
(`CLAIMSIGHT_WORKSPACE_LETTERS`): a file there with the same name wins over the shipped one, and a new
`carc-NNN.txt` adds a case the package does not have. `claimsight workspace letters copy DIR` starts that
folder from the shipped files; `... letters check DIR` renders every template against sample facts.

Templates are plain text in Jinja2's syntax, rendered in a sandbox with strict undefined names: a team's
file cannot reach Python objects, and a misspelt field fails the check (and the start-up of the service)
with the file and line, instead of printing an empty gap in a letter sent to a payer. What a template may
use is `SAMPLE_FACTS`' keys; the evidence to attach comes from `evidence.yaml` (per category, CARC and
RARC), which a team's folder can extend or override entry by entry.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment

from features.contract.codes import CATEGORIES

PACKAGE_DIR = Path(__file__).resolve().parent / "templates"
EVIDENCE_FILE = "evidence.yaml"
# a draft kind (serving.workspace.schema.DRAFT_KINDS) -> the folder of its templates
FOLDERS: Mapping[str, str] = {"appeal_letter": "appeal", "corrected_claim_checklist": "checklist"}
_EVIDENCE_SECTIONS = ("categories", "carc", "rarc")


class TemplateProblem(ValueError):
    """A letter template or the evidence file breaks a rule; the message names the file (and line)."""


@dataclass(frozen=True)
class Code:
    code: str  # as shown: CO-197, N54
    short: str  # the table's short name, "" when the code is not in the table
    description: str  # the published meaning, "" when unknown


@dataclass(frozen=True)
class Adjustment:
    code: Code
    amount: str  # formatted money
    remarks: tuple[Code, ...] = ()


# Every name a template may use, with an example value: what `check` renders each template against.
SAMPLE_FACTS: Mapping[str, Any] = {
    "today": "March 4, 2026",
    "organisation": "Riverside Family Medicine",
    "signer": "Ana Diaz",
    "claim_id": "CLM-1002",
    "payer_id": "BCBS",
    "service_date": "2026-01-15",
    "billed": "$1,200.00",
    "paid": "$0.00",
    "denied": "$1,200.00",
    "patient_owes": "$0.00",
    "remit_date": "2026-02-10",
    "category": "authorization",
    "category_label": "Prior authorization",
    "recommended_action": "Appeal",
    "action_rule": "The authorization is on file: appeal with it attached.",
    "deadline": "2026-08-09",
    "deadline_rule": "BCBS: 180 days from the denial (payer_rules.yaml)",
    "days_left": 158,
    "adjustments": (
        Adjustment(
            Code("CO-197", "Authorization or notification absent", "Precertification/authorization absent."),
            "$1,200.00",
            (Code("N54", "Claim does not match the authorized services", "Claim information is inconsistent."),),
        ),
    ),
    "evidence": ("A copy of the authorization approval", "The medical record for the date of service"),
}


def _read_evidence(path: Path) -> dict[str, dict[str, list[str]]]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise TemplateProblem(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(loaded, dict):
        raise TemplateProblem(f"{path}: must be a mapping with sections {', '.join(_EVIDENCE_SECTIONS)}")
    unknown = sorted(set(loaded) - {*_EVIDENCE_SECTIONS, "source"})
    if unknown:
        raise TemplateProblem(f"{path}: unknown section {unknown[0]!r} (sections: {', '.join(_EVIDENCE_SECTIONS)})")
    out: dict[str, dict[str, list[str]]] = {}
    for section in _EVIDENCE_SECTIONS:
        entries = loaded.get(section) or {}
        if not isinstance(entries, dict):
            raise TemplateProblem(f"{path}: {section} must map a code to a list of documents")
        for key, documents in entries.items():
            if not isinstance(documents, list) or not all(isinstance(d, str) and d.strip() for d in documents):
                raise TemplateProblem(f"{path}: {section}.{key} must be a list of non-empty texts")
            if section == "categories" and key not in CATEGORIES:
                raise TemplateProblem(f"{path}: categories.{key} is not a category ({', '.join(CATEGORIES)})")
        out[section] = {str(k).strip().upper() if section != "categories" else str(k): v for k, v in entries.items()}
    return out


class LetterLibrary:
    """The templates and evidence lists, the team's folder first; loaded once when the workspace starts."""

    def __init__(self, team_dir: Path | None = None) -> None:
        self.team_dir = team_dir
        if team_dir is not None and not team_dir.is_dir():
            raise TemplateProblem(f"letter templates folder {team_dir} does not exist")
        folders = [str(p) for p in (team_dir, PACKAGE_DIR) if p is not None]
        self.env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(folders, encoding="utf-8"),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain text; the page escapes it when it shows the draft
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.evidence = _read_evidence(PACKAGE_DIR / EVIDENCE_FILE)
        if team_dir is not None and (team_dir / EVIDENCE_FILE).is_file():
            for section, entries in _read_evidence(team_dir / EVIDENCE_FILE).items():
                self.evidence[section].update(entries)

    def template_name(self, *, kind: str, carcs: Sequence[str], category: str) -> str:
        """The most specific template for the denial: the first of its CARCs with one, else its category's."""
        folder = FOLDERS.get(kind)
        if folder is None:
            raise ValueError(f"unknown draft kind {kind!r} (one of {', '.join(FOLDERS)})")
        names = [f"{folder}/carc-{c.strip().upper()}.txt" for c in carcs]
        names += [f"{folder}/{category}.txt", f"{folder}/default.txt"]
        available = set(self.env.list_templates(filter_func=lambda n: n.startswith(folder + "/")))
        return next(n for n in names if n in available or n == f"{folder}/default.txt")

    def evidence_for(self, *, category: str, carcs: Iterable[str], rarcs: Iterable[str]) -> tuple[str, ...]:
        """What to attach, most specific first (the remark codes name the missing piece), without repeats."""
        lists = [self.evidence["rarc"].get(r.strip().upper(), []) for r in rarcs]
        lists += [self.evidence["carc"].get(c.strip().upper(), []) for c in carcs]
        lists.append(self.evidence["categories"].get(category, []))
        documents: dict[str, str] = {}  # lower-cased -> as written, first wins
        for entry in (d.strip() for found in lists for d in found):
            documents.setdefault(entry.lower(), entry)
        return tuple(documents.values())

    def render(self, name: str, facts: Mapping[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(**facts)
        except jinja2.TemplateError as exc:
            raise TemplateProblem(_where(exc, name)) from None

    def check(self) -> list[str]:
        """Render every template against `SAMPLE_FACTS`; the names checked. Raises `TemplateProblem`."""
        names = [n for n in self.env.list_templates(extensions=["txt"]) if n.split("/")[0] in FOLDERS.values()]
        for folder in FOLDERS.values():
            if f"{folder}/default.txt" not in names:
                raise TemplateProblem(f"{folder}/default.txt is missing: every denial needs a template to start from")
        for name in names:
            if name.split("/", 1)[1].startswith("_"):  # a part other templates extend or include
                try:
                    self.env.get_template(name)  # compiles: a syntax error is named here
                except jinja2.TemplateError as exc:
                    raise TemplateProblem(_where(exc, name)) from None
                continue
            stem = name.split("/", 1)[1].removesuffix(".txt")
            if stem != "default" and stem not in CATEGORIES and not stem.startswith("carc-"):
                raise TemplateProblem(
                    f"{name}: a template is named default, a category ({', '.join(CATEGORIES)}) or carc-<CODE>"
                )
            text = self.render(name, SAMPLE_FACTS)
            if not text.strip():
                raise TemplateProblem(f"{name}: renders to nothing")
        return names


def _where(exc: jinja2.TemplateError, name: str) -> str:
    line = getattr(exc, "lineno", None)
    place = getattr(exc, "filename", None) or name
    return f"{place}{f' line {line}' if line else ''}: {exc.message or exc.__class__.__name__}"


def copy_templates(target: Path) -> list[Path]:
    """Copy the shipped templates and evidence list into `target` for a team to edit; never overwrites."""
    sources = sorted(p for p in PACKAGE_DIR.rglob("*") if p.is_file())
    clashes = [target / p.relative_to(PACKAGE_DIR) for p in sources if (target / p.relative_to(PACKAGE_DIR)).exists()]
    if clashes:
        raise TemplateProblem(f"{clashes[0]} exists; copy into an empty folder (nothing was copied)")
    written = []
    for source in sources:
        destination = target / source.relative_to(PACKAGE_DIR)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        written.append(destination)
    return written


def long_date(day: dt.date) -> str:
    """The date as a letter prints it: March 4, 2026."""
    return f"{day:%B} {day.day}, {day.year}"


__all__ = [
    "FOLDERS",
    "PACKAGE_DIR",
    "SAMPLE_FACTS",
    "Adjustment",
    "Code",
    "LetterLibrary",
    "TemplateProblem",
    "copy_templates",
    "long_date",
]
