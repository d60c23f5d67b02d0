"""How a feature and a reason group are declared, shared by every model's feature module.

A feature is data (name, meaning, source, as-of rule, reason group), so documentation, the model card
and the SHAP reason text all read one declaration instead of drifting copies.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReasonGroup:
    name: str
    phrase: str  # str.format template over the row's feature values and context columns
    category: str  # root-cause category whose preventive action applies
    action: str | None = None  # overrides the category's preventive action when more specific


@dataclass(frozen=True)
class FeatureDef:
    name: str
    meaning: str
    source: str
    as_of: str
    group: str
    categorical: bool = False
