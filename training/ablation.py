"""Which feature families earn their place: the denial-risk model trained again without one family at a time.

Issue 16 asks for features that find the payer's structure instead of assuming our generator's, measured
family by family on two worlds built differently: keep what helps on both, remove what helps on neither. A
family is left out by blanking its columns (NaN in every row of every slice): LightGBM then never splits on
them, which is the model trained without them, while the feature pipeline, the split, the seed and every
other column stay exactly as in the full run. The features are built once; each family costs one fit.

Families: each history aggregate family (`LINE_SPECS`, `CLAIM_SPECS`; the per-category payer rates together),
then the claim's own fields grouped by the reason group they feed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract.run_options import RunOptions
from features.denial_feature_defs import CLAIM_SPECS, CLAIM_SUFFIXES, FEATURE_NAMES, FEATURES, LINE_SPECS, LINE_SUFFIXES
from models.denial_risk import DenialRiskModel, TrainingSlice
from training import evaluation as ev
from training.denial_job import build_dataset, oracle_metrics, training_slice

FULL = "(none: the full model)"


@dataclass(frozen=True)
class Family:
    name: str
    features: tuple[str, ...]


def feature_families() -> tuple[Family, ...]:
    """Every feature in exactly one family (checked by the tests)."""
    families: list[Family] = [
        Family(spec.name, tuple(f"{spec.name}_{s}" for s in LINE_SUFFIXES)) for spec in LINE_SPECS
    ]
    payer_cat: list[str] = []
    for spec in CLAIM_SPECS:
        names = tuple(f"{spec.name}_{s}" for s in CLAIM_SUFFIXES)
        if spec.name.startswith("payer_cat_"):
            payer_cat += names
        else:
            families.append(Family(spec.name, names))
    families.append(Family("payer_cat", tuple(payer_cat)))
    taken = {f for family in families for f in family.features}
    by_group: dict[str, list[str]] = {}
    for feature in FEATURES:
        if feature.name not in taken:
            by_group.setdefault(feature.group, []).append(feature.name)
    families += [Family(f"fields:{group}", tuple(names)) for group, names in by_group.items()]
    return tuple(families)


def _union(name: str, known: dict[str, Family]) -> Family:
    """`a+b`: families a and b left out together (e.g. every new family at once: the model before them)."""
    features = [f for part in name.split("+") for f in known[part].features]
    return Family(name, tuple(dict.fromkeys(features)))


def _without(part: TrainingSlice, columns: np.ndarray) -> TrainingSlice:
    X = part.features.X.copy()
    X[:, columns] = np.nan
    return replace(part, features=replace(part.features, X=X))


def run_ablation(
    data_dir: Path,
    *,
    options: RunOptions,
    families: Sequence[str] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> pd.DataFrame:
    """One row for the full model, then one per family left out (`families`: their names, `a+b` for several at
    once; default every family), each
    with the evaluation months' AUC, its change from the full model, ECE, recall at 95% precision, the category
    head's top-1 and top-3 accuracy on denied claims and, on synthetic data, the gap to the knowable oracle."""
    known = {f.name: f for f in feature_families()}
    unknown = [part for name in families or () for part in name.split("+") if part not in known]
    if unknown:
        raise ValueError(f"unknown feature family {unknown[0]!r}; the families are: {', '.join(known)}")
    chosen = [_union(name, known) for name in families] if families else list(known.values())
    t0 = time.perf_counter()
    say("building the features once")
    ds = build_dataset(data_dir, options=options)
    learn, cal, evl = (training_slice(ds, role) for role in ("learn", "calibrate", "evaluate"))
    y = evl.denied.astype(float)
    oracle = oracle_metrics(data_dir, evl.features.claim_ids, y)
    rows = []
    runs: list[Family | None] = [None, *chosen]
    for done, family in enumerate(runs):
        name = FULL if family is None else family.name
        elapsed = time.perf_counter() - t0
        eta = f", about {elapsed / done * (len(runs) - done):.0f} s left" if done else ""
        say(f"{done + 1}/{len(runs)}: without {name} ({elapsed:.0f} s{eta})")
        parts: tuple[TrainingSlice, ...] = (learn, cal, evl)
        if family is not None:
            columns = np.array([FEATURE_NAMES.index(f) for f in family.features])
            parts = tuple(_without(p, columns) for p in parts)
        model = DenialRiskModel(seed=options.seed).fit(builder=ds.builder, learn=parts[0], calibrate=parts[1])
        p = model.predict_proba(parts[2].features.X)
        metrics = ev.score_metrics(y, p)
        metrics.update(ev.category_accuracy(evl.category, evl.denied, model.predict_categories(parts[2].features.X)))
        row = {
            "without": name,
            "features": 0 if family is None else len(family.features),
            "roc_auc": metrics["roc_auc"],
            "ece": metrics["ece"],
            "recall_at_95_precision": metrics["recall_at_95_precision"],
            "category_top1": metrics.get("category_head_accuracy", np.nan),
            "category_top3": metrics.get("category_top3_accuracy", np.nan),
        }
        if "oracle_knowable_auc" in oracle:
            row["oracle_knowable_gap"] = oracle["oracle_knowable_auc"] - metrics["roc_auc"]
        rows.append(row)
    table = pd.DataFrame(rows)
    table.insert(3, "auc_change", table["roc_auc"] - table["roc_auc"].iloc[0])
    return table
