"""Tree ensembles: TreeEnsembleClassifier, TreeEnsembleRegressor (ml opset 1, 3, 5) and TreeEnsemble (ml opset 5).

Every format is first turned into one flat `Forest` (built once per node): per node its feature,
threshold, comparison mode and the global indices of its two children, leaves pointing at
themselves. Evaluation walks all (sample, tree) pairs at once, one tree level per step, and
aggregates a dense leaf-weight matrix over the trees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..registry import kernel
from ._common import ML, as_float, as_rows, check_present, class_labels, floats_attr
from ._common import post_transform as transform_scores

LEAF = -1
LEQ, LT, GTE, GT, EQ, NEQ, MEMBER = range(7)
_MODE_NAMES = {"BRANCH_LEQ": LEQ, "BRANCH_LT": LT, "BRANCH_GTE": GTE, "BRANCH_GT": GT, "BRANCH_EQ": EQ,
               "BRANCH_NEQ": NEQ, "LEAF": LEAF}
_COMPARE: dict[int, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    LEQ: np.less_equal, LT: np.less, GTE: np.greater_equal, GT: np.greater, EQ: np.equal, NEQ: np.not_equal,
}
#: TreeEnsemble (ml opset 5) integer codes of aggregate_function and post_transform
_AGGREGATES = {0: "AVERAGE", 1: "SUM", 2: "MIN", 3: "MAX"}
_POST_TRANSFORMS = {0: "NONE", 1: "SOFTMAX", 2: "LOGISTIC", 3: "SOFTMAX_ZERO", 4: "PROBIT"}


@dataclass(frozen=True)
class Forest:
    """A tree ensemble as flat per-node arrays; leaves have mode LEAF and point at themselves.

    `leaf_node`, `leaf_target`, `leaf_weight` list the weight contributions (a leaf may have
    several, or none); `members[member_row[i]]` is the NaN-padded set of a MEMBER node.
    """

    feature: np.ndarray
    threshold: np.ndarray
    mode: np.ndarray
    true_next: np.ndarray
    false_next: np.ndarray
    missing_true: np.ndarray
    roots: np.ndarray
    leaf_node: np.ndarray
    leaf_target: np.ndarray
    leaf_weight: np.ndarray
    n_targets: int
    depth: int
    members: np.ndarray | None = None
    member_row: np.ndarray | None = None

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    def leaves(self, x: np.ndarray, op: str) -> np.ndarray:
        """[N, T] global index of the leaf each sample reaches in each tree."""
        n = x.shape[0]
        if n and len(self.feature) and self.feature.max(initial=-1) >= x.shape[1]:
            raise ValueError(f"{op}: the trees read feature {int(self.feature.max())} but the input has "
                             f"{x.shape[1]} features")
        x = x.astype(self.threshold.dtype, copy=False)
        sample = np.repeat(np.arange(n), self.n_trees)
        at = np.tile(self.roots, n)
        live = np.flatnonzero(self.mode[at] != LEAF)
        for _ in range(self.depth):
            if not live.size:
                break
            nodes = at[live]
            cond = self._decide(x[sample[live], self.feature[nodes]], nodes)
            nxt = np.where(cond, self.true_next[nodes], self.false_next[nodes])
            at[live] = nxt
            live = live[self.mode[nxt] != LEAF]
        return at.reshape(n, self.n_trees)

    def _decide(self, v: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Whether each (value, node) pair takes the true branch."""
        modes = self.mode[nodes]
        thr = self.threshold[nodes]
        present = np.unique(modes)
        if len(present) == 1 and present[0] != MEMBER:
            cond = _COMPARE[int(present[0])](v, thr)
        else:
            cond = np.zeros(len(nodes), dtype=bool)
            for code in present.tolist():
                m = modes == code
                if code == MEMBER:
                    sets = self.members[self.member_row[nodes[m]]]  # type: ignore[index]
                    cond[m] = (v[m, None] == sets).any(axis=1)
                else:
                    cond[m] = _COMPARE[code](v[m], thr[m])
        if self.missing_true.any():
            cond |= np.isnan(v) & self.missing_true[nodes]
        return cond

    def aggregate(self, leaves: np.ndarray, how: str, op: str) -> np.ndarray:
        """[N, n_targets] float64 aggregate of the reached leaves' weights (0 where none)."""
        n_nodes, k = len(self.mode), self.n_targets
        n = leaves.shape[0]
        if how in ("SUM", "AVERAGE"):
            table = np.zeros((n_nodes, k))
            np.add.at(table, (self.leaf_node, self.leaf_target), self.leaf_weight)
            out = np.zeros((n, k))
            for t in range(self.n_trees):
                out += table[leaves[:, t]]
            if how == "AVERAGE" and self.n_trees:
                out /= self.n_trees
            return out
        if how not in ("MIN", "MAX"):
            raise ValueError(f"{op}: unknown aggregate_function {how!r}; expected SUM, AVERAGE, MIN or MAX")
        pick = np.fmin if how == "MIN" else np.fmax
        table = np.full((n_nodes, k), np.nan)
        pick.at(table, (self.leaf_node, self.leaf_target), self.leaf_weight)
        out = np.full((n, k), np.nan)
        for t in range(self.n_trees):
            out = pick(out, table[leaves[:, t]])
        return np.nan_to_num(out, nan=0.0)


def _forest(feature, threshold, mode, true_next, false_next, missing_true, roots, leaf_node, leaf_target,
            leaf_weight, n_targets, op, members=None, member_row=None) -> Forest:
    """Check the structure (children in range, no cycle) and measure the depth."""
    n = len(mode)
    is_leaf = mode == LEAF
    for name, nxt in (("true", true_next), ("false", false_next)):
        bad = ~is_leaf & ((nxt < 0) | (nxt >= n))
        if bad.any():
            raise ValueError(f"{op}: node {int(np.flatnonzero(bad)[0])} has a {name} child out of range")
    idx = np.arange(n)
    true_next = np.where(is_leaf, idx, true_next).astype(np.int64)
    false_next = np.where(is_leaf, idx, false_next).astype(np.int64)
    if len(leaf_target) and (leaf_target.min() < 0 or leaf_target.max() >= n_targets):
        raise ValueError(f"{op}: a leaf weight targets index {int(leaf_target.max())}, outside [0, {n_targets})")
    depth, frontier = 0, np.unique(roots)
    while True:
        frontier = frontier[~is_leaf[frontier]]
        if not frontier.size:
            break
        depth += 1
        if depth > n:
            raise ValueError(f"{op}: the trees have a cycle")
        frontier = np.unique(np.concatenate([true_next[frontier], false_next[frontier]]))
    return Forest(np.asarray(feature, np.int64), threshold, np.asarray(mode, np.int8), true_next, false_next,
                  np.asarray(missing_true, bool), np.asarray(roots, np.int64), np.asarray(leaf_node, np.int64),
                  np.asarray(leaf_target, np.int64), np.asarray(leaf_weight, np.float64), int(n_targets), depth,
                  members, member_row)


def _per_node(values: Sequence | None, n: int, name: str, op: str, default=0) -> np.ndarray:
    if values is None or len(values) == 0:
        return np.full(n, default)
    if len(values) != n:
        raise ValueError(f"{op}: {name} has {len(values)} entries, expected one per node ({n})")
    return np.asarray(values)


def legacy_forest(op: str, nodes_treeids, nodes_nodeids, nodes_featureids, nodes_modes, nodes_values,
                  nodes_values_as_tensor, nodes_truenodeids, nodes_falsenodeids, nodes_missing_value_tracks_true,
                  w_treeids, w_nodeids, w_ids, w_weights, w_weights_as_tensor, n_targets: int,
                  weights_name: str) -> Forest:
    """A Forest from the (treeid, nodeid)-keyed attributes of TreeEnsembleClassifier/Regressor."""
    tree = np.asarray(check_present(nodes_treeids, "nodes_treeids", op), np.int64)
    node = np.asarray(check_present(nodes_nodeids, "nodes_nodeids", op), np.int64)
    n = len(tree)
    if len(node) != n:
        raise ValueError(f"{op}: nodes_treeids and nodes_nodeids have different lengths ({n}, {len(node)})")
    modes_s = check_present(nodes_modes, "nodes_modes", op)
    try:
        mode = np.asarray([_MODE_NAMES[m] for m in _per_node(modes_s, n, "nodes_modes", op)], np.int8)
    except KeyError as exc:
        raise ValueError(f"{op}: unknown node mode {exc.args[0]!r}") from None
    thr = floats_attr(nodes_values, nodes_values_as_tensor, "nodes_values", op)
    thr = np.zeros(n, np.float32) if thr is None else _per_node(thr, n, "nodes_values", op)
    if thr.dtype != np.float64:
        thr = thr.astype(np.float32)
    span = int(node.max(initial=0)) + 1
    keys = tree * span + node
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    if len(sorted_keys) > 1 and (np.diff(sorted_keys) == 0).any():
        raise ValueError(f"{op}: a (treeid, nodeid) pair appears twice")

    def locate(t: np.ndarray, ids: np.ndarray, what: str, check: np.ndarray | None = None) -> np.ndarray:
        k = t * span + ids
        pos = np.clip(np.searchsorted(sorted_keys, k), 0, max(n - 1, 0))
        found = (sorted_keys[pos] == k) & (ids >= 0) & (ids < span) if n else np.zeros(len(k), bool)
        missing = ~found if check is None else (~found & check)
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise ValueError(f"{op}: {what} refers to node {int(ids[i])} of tree {int(t[i])}, which does not exist")
        return order[pos] if n else pos

    branch = mode != LEAF
    t_ids = _per_node(nodes_truenodeids, n, "nodes_truenodeids", op).astype(np.int64)
    f_ids = _per_node(nodes_falsenodeids, n, "nodes_falsenodeids", op).astype(np.int64)
    true_next = locate(tree, t_ids, "nodes_truenodeids", branch)
    false_next = locate(tree, f_ids, "nodes_falsenodeids", branch)
    children = np.concatenate([true_next[branch], false_next[branch]])
    is_root = np.ones(n, bool)
    is_root[children] = False
    tree_ids, first = np.unique(tree[is_root], return_index=True)
    if len(tree_ids) != len(np.unique(tree)):
        raise ValueError(f"{op}: a tree has no root (every node is some node's child)")
    roots = np.flatnonzero(is_root)[first]
    missing_true = _per_node(nodes_missing_value_tracks_true, n, "nodes_missing_value_tracks_true", op)

    w_tree = np.asarray(w_treeids if w_treeids is not None else [], np.int64)
    w_node = np.asarray(w_nodeids if w_nodeids is not None else [], np.int64)
    w_target = np.asarray(w_ids if w_ids is not None else [], np.int64)
    weight = floats_attr(w_weights, w_weights_as_tensor, weights_name, op)
    weight = np.zeros(0) if weight is None else weight
    if not len(w_tree) == len(w_node) == len(w_target) == len(weight):
        raise ValueError(f"{op}: the {weights_name.split('_')[0]}_treeids/nodeids/ids/weights attributes have "
                         f"different lengths")
    leaf_node = locate(w_tree, w_node, f"{weights_name.split('_')[0]}_nodeids")
    return _forest(np.asarray(_per_node(nodes_featureids, n, "nodes_featureids", op), np.int64), thr, mode,
                   true_next, false_next, missing_true != 0, roots, leaf_node, w_target, weight, n_targets, op)


# ---- TreeEnsembleRegressor ----


def _register_ml_versions(op: str, fn: Callable[..., Any], **options: Any) -> None:
    """Register the factory kernel `fn` for ai.onnx.ml 3 on, and for versions 1-2 with the attributes they
    have: all of ml 3's but the `*_as_tensor` forms ml 3 added (the same function serves both)."""
    kernel(op, 3, domain=ML, factory=True, **options)(fn)
    legacy = {name: d for name, d in (fn.__kwdefaults__ or {}).items() if not name.endswith("_as_tensor")}
    kernel(op, 1, until=2, domain=ML, factory=True, attributes=legacy, **options)(fn)


def TreeEnsembleRegressor(*, aggregate_function: str = "SUM", base_values=None, base_values_as_tensor=None,
                       n_targets: int | None = None, nodes_falsenodeids=None, nodes_featureids=None,
                       nodes_hitrates=None, nodes_hitrates_as_tensor=None, nodes_missing_value_tracks_true=None,
                       nodes_modes=None, nodes_nodeids=None, nodes_treeids=None, nodes_truenodeids=None,
                       nodes_values=None, nodes_values_as_tensor=None, post_transform: str = "NONE",
                       target_ids=None, target_nodeids=None, target_treeids=None, target_weights=None,
                       target_weights_as_tensor=None):
    """Sum (or average, min, max) of the leaf weights per target, plus base_values; float32 output."""
    op = "TreeEnsembleRegressor"
    if n_targets is None:
        n_targets = int(max(target_ids)) + 1 if target_ids else 1
    forest = legacy_forest(op, nodes_treeids, nodes_nodeids, nodes_featureids, nodes_modes, nodes_values,
                           nodes_values_as_tensor, nodes_truenodeids, nodes_falsenodeids,
                           nodes_missing_value_tracks_true, target_treeids, target_nodeids, target_ids,
                           target_weights, target_weights_as_tensor, n_targets, "target_weights")
    base = floats_attr(base_values, base_values_as_tensor, "base_values", op)
    if base is not None and len(base) not in (0, n_targets):
        raise ValueError(f"{op}: base_values has {len(base)} values, expected n_targets={n_targets}")

    def run(x: np.ndarray) -> np.ndarray:
        x = as_rows(x, op)
        y = forest.aggregate(forest.leaves(x, op), aggregate_function, op)
        if base is not None and len(base):
            y += base.astype(np.float64)
        return transform_scores(y.astype(np.float32), post_transform, op)

    return run



_register_ml_versions("TreeEnsembleRegressor", TreeEnsembleRegressor)


# ---- TreeEnsembleClassifier ----


def TreeEnsembleClassifier(*, base_values=None, base_values_as_tensor=None, class_ids=None, class_nodeids=None,
                        class_treeids=None, class_weights=None, class_weights_as_tensor=None,
                        classlabels_int64s=None, classlabels_strings=None, nodes_falsenodeids=None,
                        nodes_featureids=None, nodes_hitrates=None, nodes_hitrates_as_tensor=None,
                        nodes_missing_value_tracks_true=None, nodes_modes=None, nodes_nodeids=None,
                        nodes_treeids=None, nodes_truenodeids=None, nodes_values=None, nodes_values_as_tensor=None,
                        post_transform: str = "NONE"):
    """Per-class sums of leaf weights plus base_values, post-transformed: (labels, scores).

    With two labels and weights for one class only it is a binary classifier: scores become
    [1 - s, s] (positive weights, no transform) or [-s, s] before the post_transform."""
    op = "TreeEnsembleClassifier"
    labels = class_labels(classlabels_int64s, classlabels_strings, op)
    if labels is None or not len(labels):
        raise ValueError(f"{op}: classlabels_int64s or classlabels_strings is required")
    if len(labels) == 1:  # one label: a binary classifier whose negative class is 0 (or "")
        labels = np.asarray([0 if labels.dtype != object else "", labels[0]], dtype=labels.dtype)
    k = len(labels)
    ids = np.asarray(class_ids if class_ids is not None else [], np.int64)
    forest = legacy_forest(op, nodes_treeids, nodes_nodeids, nodes_featureids, nodes_modes, nodes_values,
                           nodes_values_as_tensor, nodes_truenodeids, nodes_falsenodeids,
                           nodes_missing_value_tracks_true, class_treeids, class_nodeids, class_ids,
                           class_weights, class_weights_as_tensor, k, "class_weights")
    base = floats_attr(base_values, base_values_as_tensor, "base_values", op)
    base = None if base is None or not len(base) else base.astype(np.float64)
    binary = k == 2 and len(np.unique(ids)) == 1
    positive = bool((forest.leaf_weight >= 0).all())

    def run(x: np.ndarray):
        x = as_rows(x, op)
        scores = forest.aggregate(forest.leaves(x, op), "SUM", op)
        if binary:
            s = scores[:, int(ids[0])]
            if base is not None:
                s = s + base[int(ids[0]) if len(base) > 1 else 0]
            if positive and post_transform == "NONE":
                z = np.stack([1 - s, s], axis=1)
                win = s > 0.5
            else:
                z = np.stack([-s, s], axis=1)
                win = s > 0
            y = labels[win.astype(np.int64)]
        else:
            if base is not None:
                scores = scores + base
            z = scores
            y = labels[np.argmax(scores, axis=1)] if len(scores) else labels[:0]
        return y.astype(labels.dtype, copy=False), transform_scores(z.astype(np.float32), post_transform, op)

    return run


_register_ml_versions("TreeEnsembleClassifier", TreeEnsembleClassifier, multi_output=True)


# ---- TreeEnsemble (ml opset 5) ----


@kernel("TreeEnsemble", 5, domain=ML, factory=True)
def TreeEnsemble(*, aggregate_function: int = 1, leaf_targetids=None, leaf_weights=None, membership_values=None,
                 n_targets: int | None = None, nodes_falseleafs=None, nodes_falsenodeids=None, nodes_featureids=None,
                 nodes_hitrates=None, nodes_missing_value_tracks_true=None, nodes_modes=None, nodes_splits=None,
                 nodes_trueleafs=None, nodes_truenodeids=None, post_transform: int = 0, tree_roots=None):
    """Nodes and leaves in separate arrays; children index one or the other by nodes_*leafs.

    Mode 6 (MEMBER) tests set membership: `membership_values` holds the sets of the MEMBER
    nodes in node order, each ended by a NaN. The output has X's float dtype."""
    op = "TreeEnsemble"
    splits = np.asarray(check_present(nodes_splits, "nodes_splits", op)).reshape(-1)
    n = len(splits)
    modes = np.asarray(check_present(nodes_modes, "nodes_modes", op)).reshape(-1).astype(np.int64)
    if len(modes) != n or ((modes < 0) | (modes > MEMBER)).any():
        raise ValueError(f"{op}: nodes_modes must hold one mode in 0..6 per node ({n} nodes)")
    weights = np.asarray(check_present(leaf_weights, "leaf_weights", op)).reshape(-1)
    n_leaves = len(weights)
    targets = np.asarray(check_present(leaf_targetids, "leaf_targetids", op), np.int64)
    if len(targets) != n_leaves:
        raise ValueError(f"{op}: leaf_targetids has {len(targets)} entries but leaf_weights {n_leaves}")
    if n_targets is None:
        n_targets = int(targets.max()) + 1 if n_leaves else 1
    agg = _AGGREGATES.get(aggregate_function)
    post = _POST_TRANSFORMS.get(post_transform)
    if agg is None or post is None:
        raise ValueError(f"{op}: aggregate_function must be 0..3 and post_transform 0..4, got "
                         f"{aggregate_function} and {post_transform}")
    t_leaf = _per_node(check_present(nodes_trueleafs, "nodes_trueleafs", op), n, "nodes_trueleafs", op) != 0
    f_leaf = _per_node(check_present(nodes_falseleafs, "nodes_falseleafs", op), n, "nodes_falseleafs", op) != 0
    t_ids = _per_node(check_present(nodes_truenodeids, "nodes_truenodeids", op), n, "nodes_truenodeids", op)
    f_ids = _per_node(check_present(nodes_falsenodeids, "nodes_falsenodeids", op), n, "nodes_falsenodeids", op)
    for name, leaf, ids in (("true", t_leaf, t_ids), ("false", f_leaf, f_ids)):
        bad = (ids < 0) | (ids >= np.where(leaf, n_leaves, n))
        if bad.any():
            raise ValueError(f"{op}: node {int(np.flatnonzero(bad)[0])} has a {name} child out of range")
    true_next = np.where(t_leaf, n + t_ids, t_ids)
    false_next = np.where(f_leaf, n + f_ids, f_ids)
    roots = np.asarray(check_present(tree_roots, "tree_roots", op), np.int64)
    if ((roots < 0) | (roots >= n)).any():
        raise ValueError(f"{op}: tree_roots must index nodes (0..{n - 1})")
    single = t_leaf[roots] & f_leaf[roots] & (t_ids[roots] == f_ids[roots])
    roots = np.where(single, n + t_ids[roots], roots)  # a tree that is one leaf

    mode = np.concatenate([modes, np.full(n_leaves, LEAF)])
    members = member_row = None
    is_member = modes == MEMBER
    if is_member.any():
        if membership_values is None:
            raise ValueError(f"{op}: MEMBER nodes need membership_values")
        flat = np.asarray(membership_values, np.float64).reshape(-1)
        ends = np.flatnonzero(np.isnan(flat))
        if len(ends) != int(is_member.sum()):
            raise ValueError(f"{op}: membership_values has {len(ends)} NaN-terminated sets but there are "
                             f"{int(is_member.sum())} MEMBER nodes")
        starts = np.concatenate([[0], ends[:-1] + 1])
        width = max(int((ends - starts).max(initial=0)), 1)
        members = np.full((len(ends), width), np.nan)
        for r, (s, e) in enumerate(zip(starts, ends)):
            members[r, : e - s] = flat[s:e]
        member_row = np.full(n + n_leaves, -1)
        member_row[np.flatnonzero(is_member)] = np.arange(len(ends))
    missing = _per_node(nodes_missing_value_tracks_true, n, "nodes_missing_value_tracks_true", op) != 0
    thr = splits if splits.dtype == np.float64 else splits.astype(np.float32)
    if members is not None:
        thr = thr.astype(np.float64)
    forest = _forest(np.concatenate([_per_node(check_present(nodes_featureids, "nodes_featureids", op), n,
                                                "nodes_featureids", op), np.zeros(n_leaves, np.int64)]),
                     np.concatenate([thr, np.zeros(n_leaves, thr.dtype)]), mode,
                     np.concatenate([true_next, np.zeros(n_leaves, np.int64)]),
                     np.concatenate([false_next, np.zeros(n_leaves, np.int64)]),
                     np.concatenate([missing, np.zeros(n_leaves, bool)]), roots, n + np.arange(n_leaves),
                     targets, weights.astype(np.float64), n_targets, op, members, member_row)

    def run(x: np.ndarray) -> np.ndarray:
        out_dtype = x.dtype if x.dtype in (np.float16, np.float32, np.float64) else np.dtype(np.float32)
        x = as_float(x, op)
        rows = x.reshape(1, -1) if x.ndim == 1 else x.reshape(x.shape[0], -1)
        y = forest.aggregate(forest.leaves(rows, op), agg, op)
        return transform_scores(y, post, op).astype(out_dtype)

    return run
