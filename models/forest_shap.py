"""LightGBM's TreeSHAP (`pred_contrib`) leaf by leaf, compiled: the same values, several times faster.

Reasons are read for every flagged claim of a nightly batch, and LightGBM's recursive TreeSHAP took 0.4-0.8 ms
per claim for the denial head's 337 trees here: the scale issue asks 2,500 flagged claims/s on two cores.
Path-dependent TreeSHAP sums, over the leaves of each tree, a closed form of the leaf's root path (Lundberg et
al. 2020; the per-path form of GPUTreeShap, Mitchell et al. 2022): with the path's m distinct features, each
with z = the share of training rows its splits pass on the path (the product, where a feature splits twice) and
o = whether the row itself follows all of them,

    phi_i += v * (o_i - z_i) * sum over S of the path's other features of |S|!(m-|S|-1)!/m! * prod_S o * prod_rest z

A row's o are 0 or 1, so a leaf's shares depend on the row only through which of its features it follows: a pattern
of m bits. The paths through a node share its root path, so the node's feature has one place among the distinct
features of every path through it: one pass over a tree's nodes from the root, clearing that bit on the side the row
does not take, gives every leaf's pattern, in about half the time of reading each leaf's whole path (several times
as many node visits: 25,935 against 4,718 per row for the 1M binary head). For paths of up to MEMO_FEATURES features
every pattern's shares are worked out once when the paths are read (about 10 MB for the denial head); a row then
reads them. Longer paths are worked out per row: the Shapley weight is the Beta integral |S|!(m-|S|-1)!/m! = int_0^1
s^|S| (1-s)^(m-|S|-1) ds, so each sum is the integral of a polynomial of degree m - 1, exact with (m + 1) // 2
Gauss-Legendre points (the idea of Linear TreeSHAP, Yu et al. 2022). The values equal LightGBM's up to rounding
(within 1e-12 in the tests), the bias column exactly (each tree's expected value, added in LightGBM's order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.compiled import compiled
from models.forest_predictor import ForestPredictor, goes_left, over_row_ranges
from models.forest_tables import ZERO

MEMO_FEATURES = 8  # leaves of up to this many distinct path features keep every pattern's shares
MEMO_BYTES = 64 << 20  # at most this much of them (the denial head's 337 trees: about 10 MB)
_MOST_FEATURES = 62


@dataclass(frozen=True, eq=False)
class ForestShap:
    """Each leaf's root path as flat arrays: its distinct features with their z; and each node's place among the
    distinct features of the paths through it, to tell per row, one node at a time from the root, which of its
    leaves' features the row follows."""

    num_class: int
    n_features: int
    expected: np.ndarray  # float64 per tree: LightGBM's ExpectedValue
    tree_class: np.ndarray  # int64 per tree
    node_start: np.ndarray  # int64 per tree + 1: its nodes, contiguous in the forest's node arrays
    leaf_start: np.ndarray  # int64 per tree + 1: its leaves (in `leaf_value`)
    leaf_value: np.ndarray  # float64 per leaf
    unique_start: np.ndarray  # int64 per leaf + 1: its distinct path features in unique_feature / unique_zero
    unique_feature: np.ndarray  # int64
    unique_zero: np.ndarray  # float64: z of that feature on that path
    visit: np.ndarray  # int64 per node: per tree, its nodes (relative to its first) parents first
    node_slot: np.ndarray  # int64 per node: which of the distinct features of its root path (and so of every path
    # through it) the node splits on: the bit of the leaves' patterns it decides
    left_to: np.ndarray  # int64 per node: its left child relative to its tree's first node, or ~ the leaf's place
    right_to: np.ndarray  # among its tree's leaves here
    memo_start: np.ndarray  # int64 per leaf: where its shares for every pattern start in `memo` (-1: none)
    memo: np.ndarray  # float64: per memoised leaf, 2^m patterns x m shares
    points: np.ndarray  # float64 [q + 1, q]: Gauss-Legendre points of the q-point rule on [0, 1]
    point_weights: np.ndarray  # float64 [q + 1, q]: their weights

    @classmethod
    def from_forest(cls, forest: ForestPredictor) -> ForestShap:
        n_trees = len(forest.roots)
        leaf_start = np.zeros(n_trees + 1, dtype=np.int64)
        expected = np.zeros(n_trees)
        leaf_value: list[float] = []
        unique_start: list[int] = [0]
        unique_feature: list[int] = []
        unique_zero: list[float] = []
        node_slot = np.full(len(forest.feature), -1, dtype=np.int64)
        left_to = np.zeros(len(forest.feature), dtype=np.int64)
        right_to = np.zeros(len(forest.feature), dtype=np.int64)
        visit = np.zeros(len(forest.feature), dtype=np.int64)
        for t, root in enumerate(forest.roots):
            if root < 0:  # one leaf: its value is the tree's expected value, and it explains nothing
                expected[t] = forest.leaf_value[~root]
                leaf_start[t + 1] = leaf_start[t]
                continue
            first = int(root)
            stack: list[tuple[int, list[tuple[int, bool]]]] = [(first, [])]
            leaves: list[tuple[int, list[tuple[int, bool]]]] = []
            order: list[int] = []  # its nodes as taken from the stack: each after its parent
            while stack:
                node, path = stack.pop()
                if node < 0:
                    leaves.append((~node, path))
                    continue
                order.append(node - first)
                stack.append((int(forest.right[node]), [*path, (node, False)]))
                stack.append((int(forest.left[node]), [*path, (node, True)]))
            # LightGBM: sum over its leaves, in leaf order, of leaf_count / internal_count[root] * value
            total = forest.node_count[first]
            expected[t] = sum((forest.leaf_count[leaf] / total) * forest.leaf_value[leaf] for leaf, _ in sorted(leaves))
            place = {leaf: k for k, (leaf, _) in enumerate(leaves)}
            for leaf, path in leaves:
                leaf_value.append(float(forest.leaf_value[leaf]))
                distinct: dict[int, int] = {}
                zeros: list[float] = []
                for depth, (node, left) in enumerate(path):
                    child = path[depth + 1][0] if depth + 1 < len(path) else ~leaf
                    rows = forest.node_count[child] if child >= 0 else forest.leaf_count[~child]
                    z = rows / forest.node_count[node]
                    f = int(forest.feature[node])
                    if f not in distinct:
                        distinct[f] = len(zeros)
                        zeros.append(1.0)
                    zeros[distinct[f]] *= z  # LightGBM multiplies a feature's repeated splits' shares in path order
                    # the paths through a node share its root path: the node's feature has one place in all of them
                    node_slot[node] = distinct[f]
                    (left_to if left else right_to)[node] = child - first if child >= 0 else ~place[~child]
                unique_feature.extend(distinct)
                unique_zero.extend(zeros)
                unique_start.append(len(unique_zero))
            visit[first : first + len(order)] = order
            leaf_start[t + 1] = len(leaf_value)
        longest = int(np.diff(np.asarray(unique_start)).max(initial=0))
        if longest > _MOST_FEATURES:
            # a row's pattern of followed features is one int64
            raise ValueError(f"a path splits on {longest} distinct features, more than {_MOST_FEATURES}: "
                             "use Booster.predict(pred_contrib=True)")  # fmt: skip
        rules = _gauss_legendre(longest)
        memo_start, memo = _memo(
            np.diff(np.asarray(unique_start, dtype=np.int64)),
            leaf_value=np.asarray(leaf_value, dtype=np.float64),
            unique_start=np.asarray(unique_start, dtype=np.int64),
            unique_zero=np.asarray(unique_zero, dtype=np.float64),
            **rules,
        )
        return cls(
            num_class=forest.num_class,
            n_features=forest.n_features,
            expected=expected,
            tree_class=forest.tree_class.astype(np.int64),
            node_start=_node_start(forest),
            leaf_start=leaf_start,
            leaf_value=np.asarray(leaf_value, dtype=np.float64),
            unique_start=np.asarray(unique_start, dtype=np.int64),
            unique_feature=np.asarray(unique_feature, dtype=np.int64),
            unique_zero=np.asarray(unique_zero, dtype=np.float64),
            visit=visit,
            node_slot=node_slot,
            left_to=left_to,
            right_to=right_to,
            memo_start=memo_start,
            memo=memo,
            **rules,
        )

    def contributions(self, X: np.ndarray, forest: ForestPredictor, *, threads: int) -> np.ndarray:
        """[n, num_class * (n_features + 1)]: per class, each feature's contribution and then the bias, as
        LightGBM's `predict(pred_contrib=True)` lays them out. `forest`: the predictor these paths were read
        from (its node arrays decide the row's way at each node)."""
        out = np.zeros((len(X), self.num_class * (self.n_features + 1)))
        args = (forest.feature, forest.threshold, forest.categorical, forest.zero_missing, forest.special_left,
                forest.cat_len, forest.cat_bits, self.expected, self.tree_class, self.node_start, self.leaf_start,
                self.leaf_value, self.unique_start, self.unique_feature, self.unique_zero, self.visit,
                self.node_slot, self.left_to, self.right_to, self.memo_start, self.memo, self.points,
                self.point_weights)  # fmt: skip

        def part(lo: int, hi: int) -> None:
            _tree_shap(X[lo:hi], *args, out[lo:hi])

        over_row_ranges(part, rows=len(X), threads=threads)
        return out


def _node_start(forest: ForestPredictor) -> np.ndarray:
    """Per tree + 1: where its nodes start (a tree's nodes are contiguous, in tree order, from its root; a
    one-leaf tree has none: it starts where the next does)."""
    start = np.empty(len(forest.roots) + 1, dtype=np.int64)
    start[-1] = len(forest.feature)
    for t in range(len(forest.roots) - 1, -1, -1):
        start[t] = forest.roots[t] if forest.roots[t] >= 0 else start[t + 1]
    return start


def _memo(
    distinct: np.ndarray,
    *,
    leaf_value: np.ndarray,
    unique_start: np.ndarray,
    unique_zero: np.ndarray,
    points: np.ndarray,
    point_weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each pattern's shares, worked out once, for leaves of up to MEMO_FEATURES distinct features, shortest
    paths first while they fit MEMO_BYTES: a row then reads a leaf's m shares instead of working them out."""
    size = distinct * (np.int64(1) << np.minimum(distinct, 62))
    memo_start = np.full(len(distinct), -1, dtype=np.int64)
    room = MEMO_BYTES // 8
    for leaf in np.argsort(distinct, kind="stable"):
        if distinct[leaf] > MEMO_FEATURES or size[leaf] > room:
            break
        memo_start[leaf] = MEMO_BYTES // 8 - room
        room -= size[leaf]
    memo = np.zeros(MEMO_BYTES // 8 - room)
    _memo_fill(leaf_value, unique_start, unique_zero, memo_start, points, point_weights, memo)
    return memo_start, memo


def _gauss_legendre(longest: int) -> dict[str, np.ndarray]:
    """The q-point Gauss-Legendre rules on [0, 1] for q up to (longest + 1) // 2: row q holds rule q. A rule of q
    points integrates polynomials of degree 2q - 1 exactly."""
    most = max(1, (longest + 1) // 2)
    points, weights = np.zeros((most + 1, most)), np.zeros((most + 1, most))
    for q in range(1, most + 1):
        x, w = np.polynomial.legendre.leggauss(q)
        points[q, :q], weights[q, :q] = (x + 1) / 2, w / 2
    return {"points": points, "point_weights": weights}


@compiled
def _leaf_shares(m, pattern, z, v, points, point_weights, z_followed, prefix, each,
                 shares):  # fmt: skip  # pragma: no cover - compiled
    """shares[u], u < m: what a leaf of value v adds to its path's u-th distinct feature (share z[u]) for a row that
    follows the features whose bits are set in `pattern`. The Shapley sums are integrals over s in [0, 1] of
    (1 - s)^(unfollowed) * prod over followed (s + (1 - s) z), exact with Gauss-Legendre at (m + 1) // 2 points
    (the integrands are of degree m - 1)."""
    n_followed = 0
    z_rest = 1.0
    for u in range(m):
        if (pattern >> u) & 1:
            z_followed[n_followed] = z[u]
            n_followed += 1
        else:
            z_rest *= z[u]
    n_rest = m - n_followed
    n_points = (m + 1) // 2
    rest_sum = 0.0
    for j in range(n_followed):
        each[j] = 0.0
    for q in range(n_points):
        at, weight = points[n_points, q], point_weights[n_points, q]
        prefix[0] = 1.0
        for j in range(n_followed):
            prefix[j + 1] = prefix[j] * (at + (1.0 - at) * z_followed[j])
        lead = weight
        if n_rest:
            for _ in range(n_rest - 1):
                lead *= 1.0 - at
            rest_sum += lead * prefix[n_followed]
            lead *= 1.0 - at
        suffix = lead
        for j in range(n_followed - 1, -1, -1):
            each[j] += prefix[j] * suffix
            suffix *= at + (1.0 - at) * z_followed[j]
    j = 0
    for u in range(m):
        if (pattern >> u) & 1:
            shares[u] = v * (1.0 - z[u]) * z_rest * each[j]
            j += 1
        else:
            shares[u] = -v * z_rest * rest_sum


@compiled
def _memo_fill(leaf_value, unique_start, unique_zero, memo_start, points, point_weights,
               memo):  # fmt: skip  # pragma: no cover - compiled
    """Every pattern's shares of every leaf that has a memo: memo[memo_start[leaf] + pattern * m + u]."""
    longest = points.shape[0] * 2 + 1
    z_followed, prefix, each = np.empty(longest), np.empty(longest + 1), np.empty(longest)
    for leaf in range(leaf_value.shape[0]):
        if memo_start[leaf] < 0:
            continue
        u0 = unique_start[leaf]
        m = unique_start[leaf + 1] - u0
        z = unique_zero[u0 : u0 + m]
        for pattern in range(1 << m):
            o = memo_start[leaf] + pattern * m
            _leaf_shares(m, pattern, z, leaf_value[leaf], points, point_weights, z_followed, prefix, each,
                         memo[o : o + m])  # fmt: skip


@compiled
def _tree_shap(X, feature, threshold, categorical, zero_missing, special_left, cat_len, cat_bits, expected,
               tree_class, node_start, leaf_start, leaf_value, unique_start, unique_feature, unique_zero, visit,
               node_slot, left_to, right_to, memo_start, memo, points, point_weights,
               out):  # fmt: skip  # pragma: no cover - compiled
    """Row by row, tree by tree: from the root down, which of its leaves' features the row follows (a node the row
    leaves the other way clears its feature's bit in every pattern below that side); then each leaf's shares, read
    from its memo by its pattern, or worked out."""
    n_rows, n_features = X.shape
    longest = points.shape[0] * 2 + 1
    most_nodes, most_leaves = 1, 1
    for t in range(expected.shape[0]):
        most_nodes = max(most_nodes, node_start[t + 1] - node_start[t])
        most_leaves = max(most_leaves, leaf_start[t + 1] - leaf_start[t])
    node_pattern = np.empty(most_nodes, dtype=np.int64)
    leaf_pattern = np.empty(most_leaves, dtype=np.int64)
    z_followed, prefix, each, shares = np.empty(longest), np.empty(longest + 1), np.empty(longest), np.empty(longest)
    for i in range(n_rows):
        for t in range(expected.shape[0]):
            base = tree_class[t] * (n_features + 1)
            out[i, base + n_features] += expected[t]
            n0 = node_start[t]
            node_pattern[0] = -1  # the root: every bit set
            for k in range(n0, node_start[t + 1]):
                n = n0 + visit[k]
                v = np.float64(X[i, feature[n]])
                if categorical[n]:
                    left = goes_left(v, n, threshold, categorical, zero_missing, special_left, cat_len, cat_bits)
                else:  # goes_left's numerical rule without a branch: the way is data, not predictable
                    near_zero = (v >= -ZERO) & (v <= ZERO)
                    special = np.isnan(v) | (zero_missing[n] & near_zero)
                    left = special_left[n] if special else (0.0 if near_zero else v) <= threshold[n]
                pattern = node_pattern[n - n0]
                bit = np.int64(1) << node_slot[n]
                to_left = pattern & ~(np.int64(not left) * bit)
                to_right = pattern & ~(np.int64(left) * bit)
                child = left_to[n]
                if child >= 0:
                    node_pattern[child] = to_left
                else:
                    leaf_pattern[~child] = to_left
                child = right_to[n]
                if child >= 0:
                    node_pattern[child] = to_right
                else:
                    leaf_pattern[~child] = to_right
            l0 = leaf_start[t]
            for leaf in range(l0, leaf_start[t + 1]):
                u0 = unique_start[leaf]
                m = unique_start[leaf + 1] - u0
                pattern = leaf_pattern[leaf - l0] & ((np.int64(1) << m) - 1)  # bit u: the row follows the u-th feature
                if memo_start[leaf] >= 0:
                    o = memo_start[leaf] + pattern * m
                    for u in range(m):
                        out[i, base + unique_feature[u0 + u]] += memo[o + u]
                else:
                    _leaf_shares(m, pattern, unique_zero[u0 : u0 + m], leaf_value[leaf], points, point_weights,
                                 z_followed, prefix, each, shares)  # fmt: skip
                    for u in range(m):
                        out[i, base + unique_feature[u0 + u]] += shares[u]
