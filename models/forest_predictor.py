"""A LightGBM booster's trees as flat arrays, scored by compiled loops: the same scores, several times faster.

Scoring must keep up with a nightly batch of every open claim (the scale issue asks 70,000 claims/s for the
model on two cores). LightGBM's own predictor scored both denial heads at 43k claims/s on this machine: about
1,100 trees of 15 leaves, a third of the nodes visited categorical splits. The same trees walked tree by tree
over blocks of rows, from flat arrays compiled by numba (already here for shap), scored 87k claims/s in the
1M bench; read from leaf tables instead of walked (models/forest_tables.py, where the trees fit them) they score
about three times faster again. Each row's tree outputs are added in LightGBM's order in double precision, so
the raw scores equal LightGBM's to the bit (tests/models/test_forest_predictor.py); nothing is fitted here, the
arrays are read from the booster's own text model.

Threads are plain Python threads over row ranges (the kernels release the GIL), not numba's threading layer,
whose default layer is not safe to enter from two threads at once: API requests may score concurrently.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from features.compiled import compiled
from models.forest_tables import ZERO, ForestTables

if TYPE_CHECKING:
    from models.forest_shap import ForestShap

# LightGBM's decision_type bits (include/LightGBM/tree.h): categorical, default left, missing type in bits 2-3
_CATEGORICAL = 1
_DEFAULT_LEFT = 2
_MISSING_ZERO = 1
_BLOCK = 2048


@dataclass(frozen=True, eq=False)
class ForestPredictor:
    """Every tree of a booster in flat arrays. Child codes: >= 0 another node, < 0 leaf ~code."""

    num_class: int
    n_features: int
    objective: str
    sigmoid: float
    roots: np.ndarray  # int32 per tree: its first node, or ~leaf for a one-leaf tree
    tree_class: np.ndarray  # int32 per tree: the output column it adds to
    feature: np.ndarray  # int32 per node
    threshold: np.ndarray  # float64 per node (numerical) or start of its bitset in `cat_bits` (categorical)
    categorical: np.ndarray  # bool per node
    zero_missing: np.ndarray  # bool per node: LightGBM's missing type "zero" (values within 1e-35 of 0 are missing)
    special_left: np.ndarray  # bool per node: where a missing value goes (NaN, or zero for zero_missing)
    left: np.ndarray  # int32 per node
    right: np.ndarray  # int32 per node
    cat_len: np.ndarray  # int32 per node: words in its bitset (0 for numerical)
    cat_bits: np.ndarray  # int64: each 32-bit word of the bitsets (wider words shifted faster here)
    leaf_value: np.ndarray  # float64 per leaf
    node_count: np.ndarray  # float64 per node: training rows that reached it (LightGBM's internal_count)
    leaf_count: np.ndarray  # float64 per leaf: training rows that ended there (leaf_count)
    tables: ForestTables | None = None  # the same trees as leaf tables, where they fit (models/forest_tables.py)

    @classmethod
    def from_booster(cls, booster: Any) -> ForestPredictor:
        return cls.from_model_text(booster.model_to_string())

    @classmethod
    def from_model_text(cls, text: str) -> ForestPredictor:
        header, trees = _parse(text)
        if "average_output" in header or any(t.get("is_linear", "0") != "0" for t in trees):
            raise ValueError("random-forest averaging and linear trees are not supported: use Booster.predict")
        num_class = int(header["num_tree_per_iteration"])
        objective = header.get("objective", "regression").split()
        sigmoid = 1.0
        for part in objective[1:]:
            if part.startswith("sigmoid:"):
                sigmoid = float(part.split(":", 1)[1])
        cols: dict[str, list[np.ndarray]] = {k: [] for k in _NODE_DTYPES}
        roots, leaf_values, bits, node_counts, leaf_counts = [], [], [], [], []
        nodes = leaves = words = 0
        for tree in trees:
            n_leaves = int(tree["num_leaves"])
            if n_leaves <= 1:
                roots.append(~leaves)
                leaf_values.append(np.array([float(tree["leaf_value"])], dtype=np.float64))
                leaf_counts.append(np.array([float(tree.get("leaf_count", "0"))]))
                leaves += 1
                continue
            dt = _ints(tree["decision_type"]).astype(np.int16)
            left, right = _ints(tree["left_child"]), _ints(tree["right_child"])
            threshold = _floats(tree["threshold"])
            is_cat = (dt & _CATEGORICAL) > 0
            cat_len = np.zeros(len(dt), dtype=np.int32)
            if is_cat.any():
                bounds = _ints(tree["cat_boundaries"])
                tree_bits = _ints(tree["cat_threshold"]).astype(np.uint32)
                idx = threshold[is_cat].astype(np.int64)
                cat_len[is_cat] = bounds[idx + 1] - bounds[idx]
                threshold = threshold.copy()
                threshold[is_cat] = bounds[idx] + words
                bits.append(tree_bits)
                words += len(tree_bits)
            cols["feature"].append(_ints(tree["split_feature"]))
            cols["threshold"].append(threshold)
            missing, default_left = (dt >> 2) & 3, (dt & _DEFAULT_LEFT) > 0
            cols["categorical"].append(is_cat)
            cols["zero_missing"].append(missing == _MISSING_ZERO)
            # missing type none: NaN is read as 0.0 and compared like any value
            cols["special_left"].append(np.where(missing == 0, threshold >= 0.0, default_left))
            cols["left"].append(np.where(left >= 0, left + nodes, left - leaves))
            cols["right"].append(np.where(right >= 0, right + nodes, right - leaves))
            cols["cat_len"].append(cat_len)
            leaf_values.append(_floats(tree["leaf_value"]))
            node_counts.append(_floats(tree["internal_count"]))
            leaf_counts.append(_floats(tree["leaf_count"]))
            roots.append(nodes)
            nodes += len(dt)
            leaves += n_leaves
        arrays: dict[str, Any] = {
            k: np.concatenate(v).astype(_NODE_DTYPES[k]) if v else np.zeros(0, _NODE_DTYPES[k]) for k, v in cols.items()
        }
        forest = cls(
            num_class=num_class,
            n_features=int(header["max_feature_idx"]) + 1,
            objective=objective[0] if objective else "regression",
            sigmoid=sigmoid,
            roots=np.asarray(roots, dtype=np.int32),
            tree_class=(np.arange(len(trees)) % num_class).astype(np.int32),
            cat_bits=np.concatenate(bits).astype(np.int64) if bits else np.zeros(1, np.int64),
            leaf_value=np.concatenate(leaf_values) if leaf_values else np.zeros(0),
            node_count=np.concatenate(node_counts) if node_counts else np.zeros(0),
            leaf_count=np.concatenate(leaf_counts) if leaf_counts else np.zeros(0),
            **arrays,
        )
        return replace(forest, tables=ForestTables.from_forest(forest))

    def raw_scores(self, X: np.ndarray, *, threads: int | None = None) -> np.ndarray:
        """[n, num_class] sums of tree outputs, as LightGBM's raw_score=True gives them."""
        X = self._matrix(X)
        out = np.zeros((len(X), self.num_class), dtype=np.float64)
        args = (self.roots, self.tree_class, self.feature, self.threshold, self.categorical, self.zero_missing,
                self.special_left, self.left, self.right, self.cat_len, self.cat_bits, self.leaf_value)  # fmt: skip
        tables = self.tables

        def add(lo: int, hi: int) -> None:
            if tables is not None:
                tables.add_scores(X[lo:hi], out[lo:hi])
            else:
                _walk(X[lo:hi], *args, out[lo:hi])

        over_row_ranges(add, rows=len(X), threads=_thread_count(len(X), threads))
        return out

    def contributions(self, X: np.ndarray, *, threads: int | None = None) -> np.ndarray:
        """What `Booster.predict(X, pred_contrib=True)` returns: TreeSHAP per feature and the bias, per class
        (models/forest_shap.py: the same values up to rounding, several times faster)."""
        X = self._matrix(X)
        return self.shap_paths.contributions(X, self, threads=_thread_count(len(X), threads, block=256))

    @property
    def shap_paths(self) -> ForestShap:
        """The leaves' root paths TreeSHAP reads: built on first use (scoring alone never needs them)."""
        paths: ForestShap | None = self.__dict__.get("_shap_paths")
        if paths is None:
            from models.forest_shap import ForestShap  # it reads this module's node rule: imported when first asked

            paths = ForestShap.from_forest(self)
            object.__setattr__(self, "_shap_paths", paths)  # a cache of the frozen trees, not a change to them
        return paths

    def _matrix(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            # the compiled loops read X[i, feature] unchecked: a narrower matrix must never reach them
            raise ValueError(f"expected a matrix of {self.n_features} feature columns, got shape {X.shape}")
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        return X

    def predict(self, X: np.ndarray, *, threads: int | None = None) -> np.ndarray:
        """What `Booster.predict` returns for binary and multiclass boosters (other objectives: `raw_scores`)."""
        raw = self.raw_scores(X, threads=threads)
        if self.objective == "binary":
            return 1.0 / (1.0 + np.exp(-self.sigmoid * raw[:, 0]))
        if self.objective in ("multiclass", "softmax"):
            e = np.exp(raw - raw.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        raise ValueError(f"objective {self.objective!r}: its output transform is not implemented, use raw_scores")


_NODE_DTYPES: dict[str, Any] = {
    "feature": np.int32,
    "threshold": np.float64,
    "categorical": np.bool_,
    "zero_missing": np.bool_,
    "special_left": np.bool_,
    "left": np.int32,
    "right": np.int32,
    "cat_len": np.int32,
}


def _thread_count(n_rows: int, threads: int | None, *, block: int = _BLOCK) -> int:
    """`threads` (default: every core), but no more than there are blocks of `block` rows to share."""
    if threads is None:
        threads = os.cpu_count() or 1
    return max(1, min(threads, math.ceil(n_rows / block)))


def over_row_ranges(fn: Callable[[int, int], None], *, rows: int, threads: int) -> None:
    """fn(lo, hi) over `threads` equal ranges of rows, side by side (the compiled kernels release the GIL)."""
    if threads <= 1:
        fn(0, rows)
        return
    edges = np.linspace(0, rows, threads + 1).astype(np.int64)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda i: fn(int(edges[i]), int(edges[i + 1])), range(threads)))


def _parse(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    header: dict[str, str] = {}
    trees: list[dict[str, str]] = []
    current = header
    for line in text.splitlines():
        if line.startswith("Tree="):
            current = {}
            trees.append(current)
        elif line.startswith("end of trees"):
            break
        elif "=" in line:
            key, value = line.split("=", 1)
            current[key] = value
    return header, trees


def _ints(s: str) -> np.ndarray:
    return np.array(s.split(), dtype=np.int64)


def _floats(s: str) -> np.ndarray:
    return np.array(s.split(), dtype=np.float64)


@compiled
def goes_left(v, n, threshold, categorical, zero_missing, special_left, cat_len,
              cat_bits):  # fmt: skip  # pragma: no cover - compiled
    """Does node `n` send the value `v` (a float32 widened to double, as LightGBM reads it) left? LightGBM's
    Decision: categorical splits test the value's integer code in the node's bitset; numerical ones send NaN (and,
    for missing type zero, values within 1e-35 of 0) their learned way and compare the rest with the threshold,
    values within 1e-35 of 0 as 0.0 (LightGBM's dense-row reader drops them)."""
    if categorical[n]:
        if -1.0 < v < 2147483648.0:  # C++'s int cast truncates toward zero; NaN fails both
            c = np.int64(v)
            word = c >> 5
            if word < cat_len[n]:
                return ((cat_bits[np.int64(threshold[n]) + word] >> (c & 31)) & 1) == 1
        return False
    if np.isnan(v) or (zero_missing[n] and -ZERO <= v <= ZERO):
        return special_left[n]
    # LightGBM's predictor reads a value within 1e-35 of 0 as 0.0 (a threshold may lie between the two)
    return (0.0 if -ZERO <= v <= ZERO else v) <= threshold[n]


@compiled
def _walk(X, roots, tree_class, feature, threshold, categorical, zero_missing, special_left, left, right, cat_len,
          cat_bits, leaf_value, out):  # fmt: skip  # pragma: no cover - compiled
    """Tree by tree over blocks of rows: one tree's few nodes stay in cache and the branch predictor learns
    its shape (blocks of 2,048 rows ran twice as fast as row by row here). Each row still adds its trees'
    outputs in LightGBM's order, so the sums are LightGBM's to the bit."""
    n_rows = X.shape[0]
    for b0 in range(0, n_rows, _BLOCK):
        b1 = min(b0 + _BLOCK, n_rows)
        for t in range(roots.shape[0]):
            k = tree_class[t]
            root = roots[t]
            for i in range(b0, b1):
                n = root
                while n >= 0:
                    go_left = goes_left(np.float64(X[i, feature[n]]), n, threshold, categorical, zero_missing,
                                        special_left, cat_len, cat_bits)  # fmt: skip
                    n = left[n] if go_left else right[n]
                out[i, k] += leaf_value[~n]
