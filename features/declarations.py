"""How a feature, a reason group and a family of history features are declared, shared by every model's
feature module.

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


@dataclass(frozen=True)
class AggregateSpec:
    """One family of history features: a key hierarchy (coarsest first; () = global) and a 0..1 target."""

    name: str
    levels: tuple[tuple[str, ...], ...]
    target: str
    meaning: str = ""

    def __post_init__(self) -> None:
        levels = tuple(tuple(str(c) for c in level) for level in self.levels)
        object.__setattr__(self, "levels", levels)
        if not self.name or not isinstance(self.name, str):
            raise ValueError("AggregateSpec.name must be a non-empty string")
        if not levels:
            raise ValueError(f"AggregateSpec {self.name!r}: levels must not be empty")
        if () in levels[1:]:
            raise ValueError(f"AggregateSpec {self.name!r}: the global level () may only come first")
        if len(set(levels)) != len(levels):
            raise ValueError(f"AggregateSpec {self.name!r}: duplicate levels")
        if any(len(set(level)) != len(level) for level in levels):
            raise ValueError(f"AggregateSpec {self.name!r}: a level repeats a column")
        if not self.target:
            raise ValueError(f"AggregateSpec {self.name!r}: target must be a non-empty column name")
