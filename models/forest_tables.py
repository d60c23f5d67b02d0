"""A forest as tables of the leaves each (tree, feature) leaves possible: no branch taken per node.

The heads' trees are chains of up to 14 splits (15 leaves, mostly one long spine), so walking them node by
node costs 20 ns per tree and row here, most of it in mispredicted branches. The same answer comes without
branches (the QuickScorer idea, Lucchese et al., SIGIR 2015): number a tree's leaves left to right; a split
that sends the row right rules out its left subtree's leaves, a split that sends it left rules out nothing on
the way, and the leaf the row reaches is the leftmost leaf no split ruled out. Every split of a tree on one
feature depends only on where the row's value falls among that feature's thresholds (or which category it is),
so the AND of those splits' masks is read from one table per (tree, feature), indexed by that "slot". A row
costs one slot per feature (computed once for all trees) and about ten table reads per tree.

Sums are added in LightGBM's tree order in double precision, so the raw scores still equal LightGBM's to the
bit (tests/models/test_forest_predictor.py runs every case through both this and the node-by-node walk).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from features.compiled import compiled

if TYPE_CHECKING:
    from models.forest_predictor import ForestPredictor

ZERO = float(np.float32(1e-35))  # kZeroThreshold: a float32 widened to double, as LightGBM compares it
_ROWS = 512  # rows per block: a block's slots (features x rows) stay in the core's cache across all trees
_MAX_LEAVES = 64  # a leaf set must fit one machine word
_MAX_ENTRIES = 1 << 23  # 32 MiB of uint32 masks: beyond it (categories by the hundred thousand) walk the nodes
COUNT_EDGES = 256  # a numerical slot counts the thresholds below its value up to this many, else searches


@dataclass(frozen=True, eq=False)
class ForestTables:
    """Per used feature its slots; per (tree, feature) pair a table of leaf masks indexed by slot.

    Numerical feature with L distinct thresholds: slot = how many thresholds lie below the value (0..L), NaN
    its own slot L + 1. Categorical feature whose bitsets cover L codes: slot = the code (0..L-1), anything a
    bitset cannot hold (NaN, negative, beyond L) slot L."""

    features: np.ndarray  # int64 per used feature: its column in X
    categorical: np.ndarray  # bool per used feature
    edges: np.ndarray  # float64: each numerical feature's distinct thresholds, ascending, one run per feature
    edge_start: np.ndarray  # int64 per used feature: where its run starts
    slot_count: np.ndarray  # int64 per used feature: L above
    pair_start: np.ndarray  # int64 per tree + 1: its pairs are pair_start[t]:pair_start[t + 1]
    pair_feature: np.ndarray  # int64 per pair: index into `features`
    pair_offset: np.ndarray  # uint64 per pair: where its table starts in `masks`
    masks: np.ndarray  # uint32 or uint64: per pair, per slot, the leaves (bit = in-order position) still possible
    leaf_start: np.ndarray  # int64 per tree + 1
    leaf_value: np.ndarray  # float64 per leaf, each tree's in order left to right
    tree_class: np.ndarray  # int64 per tree: the output column it adds to
    slot_dtype: Any  # uint16 where every feature's slots fit, else uint32

    @classmethod
    def from_forest(cls, forest: ForestPredictor) -> ForestTables | None:
        """The tables of `forest`, or None where a tree has more leaves than a word holds or the tables would be
        too large: the node-by-node walk serves those."""
        trees = _trees(forest)
        if trees is None:
            return None
        node_tree, node_lo, node_count, leaf_start, leaf_value = trees
        used, inverse = np.unique(forest.feature, return_inverse=True)
        categorical = np.zeros(len(used), dtype=bool)
        runs: list[np.ndarray] = []
        slot_count = np.zeros(len(used), dtype=np.int64)
        for i in range(len(used)):
            on = inverse == i
            if forest.categorical[on].any():
                categorical[i] = True
                slot_count[i] = int(forest.cat_len[on].max()) * 32
                runs.append(np.zeros(0))
                continue
            edges = np.unique(forest.threshold[on])
            if forest.zero_missing[on].any():
                # values within LightGBM's zero threshold get slots of their own
                edges = np.unique(np.r_[edges, np.nextafter(-ZERO, -np.inf), ZERO])
            runs.append(edges)
            slot_count[i] = len(edges)
        edge_start = np.zeros(len(used) + 1, dtype=np.int64)
        edge_start[1:] = np.cumsum([len(r) for r in runs])
        pair_key = node_tree * len(used) + inverse  # pairs in tree order, features ascending within a tree
        keys, node_pair = np.unique(pair_key, return_inverse=True)
        pair_tree, pair_feature = keys // len(used), keys % len(used)
        sizes = slot_count[pair_feature] + 2
        if sizes.sum() > _MAX_ENTRIES:
            return None
        pair_offset = np.zeros(len(keys), dtype=np.uint64)
        pair_offset[1:] = np.cumsum(sizes)[:-1]
        n_trees = len(forest.roots)
        pair_start = np.searchsorted(pair_tree, np.arange(n_trees + 1)).astype(np.int64)
        mask_type = np.uint32 if np.diff(leaf_start).max(initial=1) <= 32 else np.uint64
        masks = np.full(int(sizes.sum()), np.iinfo(mask_type).max, dtype=mask_type)
        for node in range(len(forest.feature)):
            f = inverse[node]
            goes_left = _goes_left(forest, node, slots=int(slot_count[f]), categorical=bool(categorical[f]),
                                   edges=runs[f])  # fmt: skip
            left_leaves = ((1 << int(node_count[node])) - 1) << int(node_lo[node])
            start = int(pair_offset[node_pair[node]])
            table = masks[start : start + len(goes_left)]
            table[~goes_left] &= mask_type(~left_leaves & int(np.iinfo(mask_type).max))
        return cls(
            features=used.astype(np.int64),
            categorical=categorical,
            edges=np.concatenate(runs) if runs else np.zeros(0),
            edge_start=edge_start[:-1],
            slot_count=slot_count,
            pair_start=pair_start,
            pair_feature=pair_feature.astype(np.int64),
            pair_offset=pair_offset,
            masks=masks,
            leaf_start=leaf_start,
            leaf_value=leaf_value,
            tree_class=forest.tree_class.astype(np.int64),
            slot_dtype=np.uint16 if slot_count.max(initial=0) + 2 <= np.iinfo(np.uint16).max else np.uint32,
        )

    def add_scores(self, X: np.ndarray, out: np.ndarray, *, count_edges: int = COUNT_EDGES) -> None:
        """Add every tree's output to `out` ([rows, classes]), row by row in tree order."""
        rows = min(_ROWS, max(1, len(X)))
        scratch = (
            np.empty((len(self.features), rows), dtype=self.slot_dtype),
            np.empty(rows, dtype=np.float64),
            np.empty(rows, dtype=np.int64),
            np.empty(rows, dtype=self.masks.dtype),
        )
        full = self.masks.dtype.type(np.iinfo(self.masks.dtype).max)
        _eliminate(X, self.features, self.categorical, self.edges, self.edge_start, self.slot_count, count_edges,
                   self.pair_start, self.pair_feature, self.pair_offset, self.masks, self.leaf_start, self.tree_class,
                   self.leaf_value, full, *scratch, out)  # fmt: skip


def _trees(
    forest: ForestPredictor,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Per node its tree and the in-order positions of its left subtree's leaves (first, count); per tree where
    its leaves start; the leaf values in order. None where a tree has more than `_MAX_LEAVES` leaves."""
    n_nodes = len(forest.feature)
    node_tree = np.zeros(n_nodes, dtype=np.int64)
    node_lo = np.zeros(n_nodes, dtype=np.int64)
    node_count = np.zeros(n_nodes, dtype=np.int64)
    leaf_start = np.zeros(len(forest.roots) + 1, dtype=np.int64)
    order: list[int] = []
    for t, root in enumerate(forest.roots):
        first = len(order)
        stack: list[tuple[int, bool]] = [(int(root), False)]
        while stack:  # in-order: left subtree, then the node's own bookkeeping, then the right subtree
            node, left_done = stack.pop()
            if node < 0:
                order.append(~node)
                continue
            if left_done:
                node_count[node] = len(order) - first - node_lo[node]
                stack.append((int(forest.right[node]), False))
                continue
            node_tree[node] = t
            node_lo[node] = len(order) - first
            stack.append((node, True))
            stack.append((int(forest.left[node]), False))
        if len(order) - first > _MAX_LEAVES:
            return None
        leaf_start[t + 1] = len(order)
    leaf_value = forest.leaf_value[np.asarray(order, dtype=np.int64)] if order else np.zeros(0)
    return node_tree, node_lo, node_count, leaf_start, leaf_value.astype(np.float64)


def _goes_left(forest: ForestPredictor, node: int, *, slots: int, categorical: bool, edges: np.ndarray) -> np.ndarray:
    """Per slot of the node's feature (the last one the missing/other slot): does the node send it left? The
    rules of forest_predictor._walk, which are LightGBM's."""
    if categorical:
        code = np.arange(slots)
        word = code >> 5
        inside = word < forest.cat_len[node]
        bits = forest.cat_bits[int(forest.threshold[node]) + np.minimum(word, max(int(forest.cat_len[node]) - 1, 0))]
        return np.r_[inside & (((bits >> (code & 31)) & 1) == 1), False]
    position = int(np.searchsorted(edges, forest.threshold[node]))
    left = np.arange(slots + 1) <= position  # a value with `position` or fewer thresholds below it is <= this one
    if forest.zero_missing[node]:
        # slots holding only values in [-ZERO, ZERO]: those after the edge just below -ZERO, up to ZERO's
        lo, hi = np.searchsorted(edges, [np.nextafter(-ZERO, -np.inf), ZERO])
        left[lo + 1 : hi + 1] = forest.special_left[node]
    return np.r_[left, forest.special_left[node]]


@compiled
def _eliminate(X, features, categorical, edges, edge_start, slot_count, count_edges, pair_start, pair_feature,
               pair_offset, masks, leaf_start, tree_class, leaf_value, full, slots, column, below, leaves,
               out):  # fmt: skip  # pragma: no cover - compiled
    """Block by block: every feature's slots for the block's rows, then tree by tree two tables at a time
    (loops over a block's rows with no branch, which the compiler unrolls)."""
    n_rows = X.shape[0]
    rows = slots.shape[1]
    for b0 in range(0, n_rows, rows):
        nb = min(b0 + rows, n_rows) - b0
        for f in range(features.shape[0]):
            j = features[f]
            for i in range(nb):
                v = np.float64(X[b0 + i, j])
                column[i] = 0.0 if (v >= -ZERO) & (v <= ZERO) else v  # as LightGBM's dense-row reader does
            n_slots = slot_count[f]
            slot = slots[f]
            if categorical[f]:
                for i in range(nb):
                    v = column[i]
                    # C++'s int cast truncates toward zero; NaN fails both comparisons
                    code = np.int64(v) if (v > -1.0) & (v < 2147483648.0) else n_slots
                    slot[i] = code if code < n_slots else n_slots
                continue
            e0 = edge_start[f]
            if n_slots <= count_edges:
                for i in range(nb):
                    below[i] = 0
                for k in range(n_slots):
                    edge = edges[e0 + k]
                    for i in range(nb):
                        below[i] += column[i] > edge
            else:
                for i in range(nb):
                    v = column[i]
                    lo, size = 0, n_slots
                    while size > 0:
                        half = size >> 1
                        if edges[e0 + lo + half] < v:
                            lo += half + 1
                            size -= half + 1
                        else:
                            size = half
                    below[i] = lo
            for i in range(nb):
                slot[i] = n_slots + 1 if np.isnan(column[i]) else below[i]
        for t in range(tree_class.shape[0]):
            p, p1 = pair_start[t], pair_start[t + 1]
            if p + 1 < p1:
                t1, s1 = masks[pair_offset[p] :], slots[pair_feature[p]]
                t2, s2 = masks[pair_offset[p + 1] :], slots[pair_feature[p + 1]]
                for i in range(nb):
                    leaves[i] = t1[s1[i]] & t2[s2[i]]
                p += 2
            else:
                for i in range(nb):
                    leaves[i] = full
            while p + 1 < p1:
                t1, s1 = masks[pair_offset[p] :], slots[pair_feature[p]]
                t2, s2 = masks[pair_offset[p + 1] :], slots[pair_feature[p + 1]]
                for i in range(nb):
                    leaves[i] &= t1[s1[i]] & t2[s2[i]]
                p += 2
            if p < p1:
                t1, s1 = masks[pair_offset[p] :], slots[pair_feature[p]]
                for i in range(nb):
                    leaves[i] &= t1[s1[i]]
            values, k = leaf_value[leaf_start[t] :], tree_class[t]
            for i in range(nb):
                out[b0 + i, k] += values[trailing_zeros(leaves[i])]  # type: ignore[call-arg]  # numba intrinsic
