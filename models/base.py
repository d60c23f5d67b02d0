"""What every ClaimSight model shares: sklearn's parameter contract, LightGBM heads, and one file layout.

A model is a few LightGBM boosters ("heads") over one feature matrix, the fitted feature builder that makes
that matrix (category levels and point-in-time history travel inside the model, so serving never refits),
usually a calibrator, and metadata. Saving writes each head as `<head>.txt`, the builder's state as
`features.npz/json` (no pickle) and everything else as `model.json`; loading refuses a directory written for
another feature list, because a model scored on columns it was not trained on answers silently wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

import lightgbm as lgb
import numpy as np

from models.boosting import train_time_ordered, train_time_ordered_on_cluster
from models.calibration import Calibrator
from models.forest_predictor import ForestPredictor
from models.state_files import load_state, save_state

FORMAT_VERSION = 1


class FeatureBuilder(Protocol):
    """The fitted feature function a model carries: its state is plain arrays and JSON."""

    def to_state(self) -> dict[str, Any]: ...

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Any: ...


@dataclass(kw_only=True, eq=False)
class BoostedModel:
    """Base of every model kind, with the parameters every kind has. A kind is a `@dataclass(kw_only=True,
    eq=False)` subclass that names its features, heads and builder class and adds (or re-defaults) its own
    parameters: the generated `__init__` stores keyword parameters only (sklearn's contract), learned state
    ends in `_`, `fit` returns `self`."""

    feature_names: ClassVar[Sequence[str]]
    categorical: ClassVar[Sequence[str]] = ()
    heads: ClassVar[Sequence[str]]
    builder_class: ClassVar[type[FeatureBuilder]]

    num_leaves: int = 15
    learning_rate: float = 0.1
    n_estimators: int = 1000
    min_child_samples: int = 100
    # rounds without a lower validation loss before a head stops: 20 grew the same 1M-claim model as 40, and at ten
    # million claims a binary head of 378 trees instead of 594, AUC 0.9232 against 0.9231 (README, fourteenth session)
    early_stopping_rounds: int = 20
    valid_fraction: float = 0.15
    calibration: str = "auto"
    seed: int = 7
    n_jobs: int = 2

    if TYPE_CHECKING:  # learned state, set by fit or load (not parameters; absent until then)
        builder_: Any = field(init=False)
        calibrator_: Calibrator = field(init=False)
        metadata_: dict[str, Any] = field(init=False)

    def get_params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def _train(
        self,
        X: np.ndarray,
        y: np.ndarray,
        params: dict[str, Any],
        weight: np.ndarray | None = None,
        *,
        client: Any = None,
    ) -> lgb.Booster:
        """One head on the rows in time order; with a Dask `client`, LightGBM's data-parallel fit on its cluster."""
        names = list(self.feature_names)
        if client is not None:
            if weight is not None:
                raise ValueError("a head with row weights is trained in one process")
            return train_time_ordered_on_cluster(
                X, y, params, client=client, feature_names=names,
                categorical=[names.index(c) for c in self.categorical], n_estimators=self.n_estimators,
                early_stopping_rounds=self.early_stopping_rounds, valid_fraction=self.valid_fraction,
            )  # fmt: skip
        return train_time_ordered(
            X, y, params, feature_names=names, categorical=[names.index(c) for c in self.categorical],
            n_estimators=self.n_estimators, early_stopping_rounds=self.early_stopping_rounds,
            valid_fraction=self.valid_fraction, weight=weight,
        )  # fmt: skip

    def _meta_extra(self) -> dict[str, Any]:
        """Entries a kind adds to model.json beside the shared ones (checked again on load by the kind)."""
        return {}

    # ---- persistence -------------------------------------------------------------------------------
    def save(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        for head in self.heads:
            (path / f"{head}.txt").write_text(getattr(self, f"{head}_").model_to_string())
        save_state(self.builder_.to_state(), path, name="features")
        meta: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "feature_names": list(self.feature_names),
            **self._meta_extra(),
            "metadata": self.metadata_,
        }
        calibrator: Calibrator | None = getattr(self, "calibrator_", None)
        if calibrator is not None:
            meta["calibrator"] = calibrator.to_state()
        (path / "model.json").write_text(json.dumps(meta, sort_keys=True, indent=1, default=jsonable) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> Self:
        meta = json.loads((path / "model.json").read_text())
        if meta["format_version"] != FORMAT_VERSION or meta["feature_names"] != list(cls.feature_names):
            raise ValueError(f"{path}: model format or feature list does not match this version of ClaimSight")
        self = cls(**meta["params"])
        for head in cls.heads:
            setattr(self, f"{head}_", lgb.Booster(model_str=(path / f"{head}.txt").read_text()))
        self.builder_ = cls.builder_class.from_state(load_state(path, name="features"))
        if "calibrator" in meta:
            self.calibrator_ = Calibrator.from_state(meta["calibrator"])
        self.metadata_ = meta["metadata"]
        return self

    def predict_head(self, head: str, X: np.ndarray) -> np.ndarray:
        """What the head's `Booster.predict(X)` returns, scored by `ForestPredictor` (several times faster)."""
        return self.forest(head).predict(X)

    def head_contributions(self, head: str, X: np.ndarray, *, threads: int | None = None) -> np.ndarray:
        """What the head's `Booster.predict(X, pred_contrib=True)` returns (TreeSHAP per feature, then the bias),
        from `ForestPredictor.contributions`: the same values up to rounding, several times faster."""
        return self.forest(head).contributions(X, threads=threads)

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the heads' flat trees: a copy sent to another process (a Dask worker) reads its own from
        the boosters rather than carry megabytes of tables over the wire."""
        return {k: v for k, v in self.__dict__.items() if k != "_forests"}

    def forest(self, head: str) -> ForestPredictor:
        """The head's trees as flat arrays: read from the booster on first use, read again if it is replaced."""
        booster = getattr(self, f"{head}_")
        forests: dict[str, tuple[lgb.Booster, ForestPredictor]] = self.__dict__.setdefault("_forests", {})
        hit = forests.get(head)
        if hit is None or hit[0] is not booster:
            hit = forests[head] = (booster, ForestPredictor.from_booster(booster))
        return hit[1]

    def check_loaded(self) -> None:
        """Every head answers a finite number for one all-missing row: the least a loaded model must do
        before it may serve (kinds with a route add a warm-up through that route on top)."""
        row = np.full((1, len(self.feature_names)), np.nan, dtype=np.float32)
        for head in self.heads:
            out = np.asarray(getattr(self, f"{head}_").predict(row, num_threads=1), dtype=float)
            if out.size == 0 or not np.isfinite(out).all():
                raise ValueError(f"head {head!r} gives no finite answer")


def jsonable(obj: object) -> object:
    """numpy scalars and arrays as plain JSON values (model.json stays readable without numpy)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
