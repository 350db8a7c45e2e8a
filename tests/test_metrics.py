"Every metric of l2h.metrics against a brute-force implementation of its definition, and against scikit-learn."
import itertools, math, warnings
from collections import Counter
import ete3
import numpy as np
import pytest
import torch
from hypothesis import given, settings, assume, strategies as st
from scipy.cluster.hierarchy import linkage
from scipy.stats import rankdata
from sklearn import metrics as skm

import l2h.metrics as M
from l2h.core import logits_to_hierarchy
from l2h.hierarchy import Hierarchy
from l2h.hierarchy import from_linkage
from l2h.metrics import (cluster_acc, nmi, ari, leaf_purity, dendrogram_purity, level_scores, evaluate, lca_correlation,
                         clade_recall, clade_precision, robinson_foulds, compare_trees)
from l2h.baselines import mean_probabilities, agglomerative_hierarchy, weight_ward_hierarchy, LINKAGES


# ---------------------------------------------------------------- brute force, straight from the definitions

def brute_acc(y, a):
    "Best one-to-one matching, by trying every injective map from the smaller side to the larger."
    classes, clusters = sorted(set(y)), sorted(set(a))
    pairs = Counter(zip(y, a))
    if len(clusters) <= len(classes):
        best = max(sum(pairs[k, c] for c, k in zip(clusters, perm)) for perm in itertools.permutations(classes, len(clusters)))
    else:
        best = max(sum(pairs[k, c] for k, c in zip(classes, perm)) for perm in itertools.permutations(clusters, len(classes)))
    return best / len(y)


def brute_nmi(y, a):
    N = len(y)
    py, pa, pya = Counter(y), Counter(a), Counter(zip(y, a))
    mi = sum(n / N * math.log((n / N) / (py[k] / N * pa[c] / N)) for (k, c), n in pya.items())
    entropy = lambda p: -sum(n / N * math.log(n / N) for n in p.values())
    mean_h = (entropy(py) + entropy(pa)) / 2
    return max(mi, 0.) / mean_h


def brute_ari(y, a):
    "Hubert–Arabie ARI from pairs of samples, enumerated."
    both = same_y = same_a = total = 0
    for i, j in itertools.combinations(range(len(y)), 2):
        total += 1
        same_y += y[i] == y[j]; same_a += a[i] == a[j]; both += (y[i] == y[j]) and (a[i] == a[j])
    expected = same_y * same_a / total
    maximum = (same_y + same_a) / 2
    return 1. if maximum == expected else (both - expected) / (maximum - expected)


def brute_leaf_purity(y, a):
    return sum(Counter(y[i] for i in range(len(y)) if a[i] == c).most_common(1)[0][1] for c in set(a)) / len(y)


def ancestors(h: Hierarchy, c: int) -> list[int]:
    "Node ids from leaf c up to the root."
    parent = {int(child): h.n_clusters + t for t, pair in enumerate(h.children) for child in pair}
    path = [c]
    while path[-1] in parent: path.append(parent[path[-1]])
    return path


def leaves_under(h: Hierarchy, v: int) -> set:
    return {v} if v < h.n_clusters else set(h.merges[v - h.n_clusters][0] + h.merges[v - h.n_clusters][1])


def brute_lca(h: Hierarchy, c: int, d: int) -> int:
    up = set(ancestors(h, d))
    return next(v for v in ancestors(h, c) if v in up)


def brute_dendrogram_purity(h, clusters, labels):
    scores = []
    for i, j in itertools.combinations(range(len(labels)), 2):
        if labels[i] != labels[j]: continue
        under = leaves_under(h, brute_lca(h, clusters[i], clusters[j]))
        points = [k for k in range(len(labels)) if clusters[k] in under]
        scores.append(sum(labels[k] == labels[i] for k in points) / len(points))
    return sum(scores) / len(scores)


def ete3_clusters(tree) -> set:
    "Non-trivial clusters (leaf-name sets other than single leaves and all leaves) of an ete3 tree."
    everything = frozenset(tree.get_leaf_names())
    sets = {frozenset(n.get_leaf_names()) for n in tree.traverse()}
    return {s for s in sets if 1 < len(s) < len(everything)}


def brute_lca_sizes(h, reference_tree):
    "Number of leaves under the lca of every pair of leaves, in our tree and in the reference."
    ours = h.to_ete3()
    x, y = [], []
    for a, b in itertools.combinations(sorted(ours.get_leaf_names()), 2):
        x.append(len(ours.get_common_ancestor(a, b)))
        y.append(len(reference_tree.get_common_ancestor(a, b)))
    return np.array(x), np.array(y)


# ---------------------------------------------------------------- random inputs

def random_reference_newick(names, rng, max_children=4, unary=0.2) -> str:
    "A random multi-child tree over `names`, with some single-child nodes and named internal nodes."
    def build(leaves, depth):
        if len(leaves) == 1: return leaves[0]
        k = int(rng.integers(2, min(max_children, len(leaves)) + 1))
        cuts = np.sort(rng.choice(np.arange(1, len(leaves)), k - 1, replace=False))
        parts = np.split(np.array(leaves, dtype=object), cuts)
        text = '(' + ','.join(build(list(p), depth + 1) for p in parts) + f')n{depth}'
        return f'({text})u{depth}' if rng.random() < unary else text
    order = list(rng.permutation(names))
    return build(order, 0) + ';'


def random_hierarchy(K, rng, names=None) -> Hierarchy:
    return from_linkage(linkage(rng.normal(size=(K, 3)), str(rng.choice(['single', 'average', 'ward']))), names=names)


labelings = st.integers(2, 30).flatmap(lambda n: st.tuples(st.lists(st.integers(0, 4), min_size=n, max_size=n),
                                                           st.lists(st.integers(0, 5), min_size=n, max_size=n)))


# ---------------------------------------------------------------- leaf level

@settings(max_examples=200, deadline=None)
@given(labelings)
def test_leaf_scores_match_brute_force_and_sklearn(pair):
    y, a = map(np.array, pair)
    assume(len(set(y)) > 1)
    assert cluster_acc(y, a) == pytest.approx(brute_acc(y, a))
    assert nmi(y, a) == pytest.approx(brute_nmi(y, a), abs=1e-12)
    assert nmi(y, a) == pytest.approx(skm.normalized_mutual_info_score(y, a), abs=1e-12)
    assert ari(y, a) == pytest.approx(brute_ari(y, a), abs=1e-12)
    assert ari(y, a) == pytest.approx(skm.adjusted_rand_score(y, a), abs=1e-12)
    assert leaf_purity(y, a) == pytest.approx(brute_leaf_purity(y, a))


@settings(max_examples=50, deadline=None)
@given(labelings, st.randoms(use_true_random=False))
def test_leaf_scores_ignore_label_names(pair, rnd):
    y, a = map(np.array, pair)
    assume(len(set(y)) > 1)
    rename_y, rename_a = rnd.sample(range(100), 5), rnd.sample(range(100), 6)
    y2, a2 = np.array(rename_y)[y], np.array([f'c{rename_a[c]}' for c in a])
    for f in (cluster_acc, nmi, ari, leaf_purity): assert f(y2, a2) == pytest.approx(f(y, a), abs=1e-12)


def test_leaf_scores_at_scale_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 50, 100_000)
    a = np.where(rng.random(100_000) < 0.6, y, rng.integers(0, 80, 100_000))
    assert nmi(y, a) == pytest.approx(skm.normalized_mutual_info_score(y, a), abs=1e-10)
    assert ari(y, a) == pytest.approx(skm.adjusted_rand_score(y, a), abs=1e-10)
    table = skm.cluster.contingency_matrix(y, a)
    assert leaf_purity(y, a) == pytest.approx(table.max(0).sum() / len(y))


def test_contingency_sparse_path_matches_dense():
    rng = np.random.default_rng(1)
    y, a = rng.integers(0, 3000, 5000), rng.integers(0, 3000, 5000)   # 9M cells for 5000 samples: the sorted path
    assert nmi(y, a) == pytest.approx(skm.normalized_mutual_info_score(y, a), abs=1e-10)
    assert ari(y, a) == pytest.approx(skm.adjusted_rand_score(y, a), abs=1e-10)


def test_acc_with_different_numbers_of_clusters_and_classes():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert cluster_acc(y, [0, 0, 0, 0, 1, 1]) == pytest.approx(4 / 6)
    assert cluster_acc(y, [0, 1, 2, 3, 4, 5]) == pytest.approx(3 / 6)
    assert cluster_acc([0, 1, 0, 1], [5, 5, 5, 5]) == 0.5


def test_torch_and_string_labels():
    y, a = torch.tensor([0, 0, 1, 1]), torch.tensor([3, 3, 3, 1])
    assert cluster_acc(y, a) == 0.75
    assert nmi(['a', 'a', 'b', 'b'], ['x', 'x', 'y', 'y']) == pytest.approx(1.)


@pytest.mark.parametrize('f', [cluster_acc, nmi, ari, leaf_purity])
def test_leaf_scores_refuse_bad_input(f):
    with pytest.raises(ValueError, match='must have the same length, got 3 and 2'): f([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match='labels_true has a single class'): f([1, 1, 1], [0, 1, 2])
    with pytest.raises(ValueError, match='labels_true is empty'): f([], [])
    with pytest.raises(ValueError, match='labels_pred contains NaN or None'): f([0, 1], [0., np.nan])
    with pytest.raises(ValueError, match='labels_true contains NaN or None'): f(np.array([0, None], dtype=object), [0, 1])
    with pytest.raises(ValueError, match='1-D'): f([[0, 1]], [[0, 1]])


def test_leaf_purity_takes_the_truth_first_like_sklearn():
    "It used to take (clusters, labels): a call in scikit-learn's order scored the classes' purity in the clusters."
    labels_true, labels_pred = [0, 0, 1, 1], [0, 1, 2, 3]   # 2 classes, 4 pure clusters
    assert leaf_purity(labels_true, labels_pred) == 1.
    assert leaf_purity(labels_true=labels_true, labels_pred=labels_pred) == 1.
    assert leaf_purity(labels_pred, labels_true) == 0.5      # swapped: each of 2 "classes" is split over 2 groups
    table = skm.cluster.contingency_matrix(labels_true, labels_pred)   # rows: classes, columns: clusters
    assert leaf_purity(labels_true, labels_pred) == table.max(0).sum() / len(labels_true)


# ---------------------------------------------------------------- dendrogram purity

@settings(max_examples=100, deadline=None)
@given(st.integers(2, 7), st.integers(2, 25), st.integers(2, 4), st.integers(0, 2**32 - 1))
def test_dendrogram_purity_matches_brute_force(K, N, n_labels, seed):
    rng = np.random.default_rng(seed)
    h = random_hierarchy(K, rng)
    clusters, labels = rng.integers(0, K, N), rng.integers(0, n_labels, N)
    assume(len(set(labels)) > 1 and len(set(labels)) < N)
    expected = brute_dendrogram_purity(h, clusters.tolist(), labels.tolist())
    assert dendrogram_purity(h, clusters, labels) == pytest.approx(expected, abs=1e-12)
    assert dendrogram_purity(h.to_linkage(), clusters, labels) == pytest.approx(expected, abs=1e-12)


def test_dendrogram_purity_label_blocks(monkeypatch):
    rng = np.random.default_rng(3)
    h = random_hierarchy(40, rng)
    clusters, labels = rng.integers(0, 40, 3000), rng.integers(0, 300, 3000)
    whole = dendrogram_purity(h, clusters, labels)
    monkeypatch.setattr(M, '_TABLE_BUDGET', 79 * 7)   # 7 labels per block, 43 blocks
    assert dendrogram_purity(h, clusters, labels) == pytest.approx(whole, abs=1e-12)


def test_dendrogram_purity_extremes():
    rng = np.random.default_rng(4)
    h = random_hierarchy(10, rng)
    clusters = rng.integers(0, 10, 500)
    assert dendrogram_purity(h, clusters, clusters) == pytest.approx(1.)      # one label per cluster
    assert dendrogram_purity(h, clusters, h.cut(3)[clusters]) == pytest.approx(1.)  # labels that are a cut of the tree
    # every cluster holds every label equally, so purity is each label's share everywhere
    clusters, labels = np.repeat(np.arange(10), 4), np.tile(np.arange(4), 10)
    assert dendrogram_purity(h, clusters, labels) == pytest.approx(0.25)


def test_dendrogram_purity_with_empty_clusters():
    h = Hierarchy([((0,), (1,)), ((0, 1), (2,)), ((0, 1, 2), (3,))])
    clusters, labels = np.array([0, 0, 3, 3, 3]), np.array([0, 1, 0, 1, 1])
    assert dendrogram_purity(h, clusters, labels) == pytest.approx(
        brute_dendrogram_purity(h, clusters.tolist(), labels.tolist()))


def test_dendrogram_purity_refuses_bad_input():
    h = Hierarchy([((0,), (1,)), ((0, 1), (2,))])
    with pytest.raises(ValueError, match='clusters and labels must have the same length, got 3 and 2'): dendrogram_purity(h, [0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match='labels has a single class'): dendrogram_purity(h, [0, 1, 2], [0, 0, 0])
    with pytest.raises(ValueError, match='no two samples share a label'): dendrogram_purity(h, [0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match='cluster ids in 0..2, got values 0..3'): dendrogram_purity(h, [0, 3], [0, 0])
    with pytest.raises(ValueError, match='integer cluster ids'): dendrogram_purity(h, [0., 1.], [0, 0])
    with pytest.raises(ValueError, match='clusters is empty'): dendrogram_purity(h, np.array([], int), [])
    with pytest.raises(ValueError, match='labels contains NaN'): dendrogram_purity(h, [0, 1], [0., np.nan])
    with pytest.raises(ValueError, match='linkage'): dendrogram_purity(np.zeros(3), [0, 1], [0, 0])


# ---------------------------------------------------------------- per level and evaluate

def test_level_scores_cut_the_tree_at_each_level():
    rng = np.random.default_rng(5)
    h = random_hierarchy(12, rng)
    clusters = rng.integers(0, 12, 400)
    coarse, mid = rng.integers(0, 3, 400), rng.integers(0, 6, 400)
    table = level_scores(h, clusters, {'coarse': coarse, 'mid': mid})
    for name, y, n in (('coarse', coarse, 3), ('mid', mid, 6)):
        groups = h.predict(clusters, n)
        row = table[name]
        assert (row['classes'], row['groups']) == (n, n)
        assert row['acc'] == pytest.approx(cluster_acc(y, groups))
        assert row['nmi'] == pytest.approx(skm.normalized_mutual_info_score(y, groups))
        assert row['ari'] == pytest.approx(skm.adjusted_rand_score(y, groups))
        assert row['purity'] == pytest.approx(leaf_purity(y, groups))
        assert row['dendrogram_purity'] == pytest.approx(dendrogram_purity(h, clusters, y))


def test_evaluate_leaves_row_and_printing():
    rng = np.random.default_rng(6)
    L = rng.normal(size=(300, 8)) + 2 * np.eye(8)[rng.integers(0, 8, 300)]
    h, clusters = logits_to_hierarchy(L), L.argmax(1)
    y = rng.integers(0, 5, 300)
    table = evaluate(h, clusters, y, {'pairs': y // 2})
    assert list(table) == ['leaves', 'pairs']
    assert table['leaves']['groups'] == 8
    assert table['leaves']['acc'] == pytest.approx(cluster_acc(y, clusters))
    assert table['leaves']['nmi'] == pytest.approx(skm.normalized_mutual_info_score(y, clusters))
    assert table['leaves']['purity'] == pytest.approx(leaf_purity(y, clusters))
    assert table['leaves']['dendrogram_purity'] == pytest.approx(dendrogram_purity(h, clusters, y))
    lines = repr(table).splitlines()
    assert len(lines) == 3 and lines[0].split() == list(table['leaves'])
    assert list(evaluate(h, clusters, y)) == ['leaves']


def test_evaluate_refuses_bad_levels():
    h = Hierarchy([((0,), (1,)), ((0, 1), (2,))])
    clusters, y = np.array([0, 1, 2, 2]), np.array([0, 1, 1, 0])
    with pytest.raises(ValueError, match='4 classes, more than the tree'): evaluate(h, clusters, y, {'fine': [0, 1, 2, 3]})
    with pytest.raises(ValueError, match='coarse has a single class'): evaluate(h, clusters, y, {'coarse': [0, 0, 0, 0]})
    with pytest.raises(ValueError, match='clusters and coarse must have the same length'): evaluate(h, clusters, y, {'coarse': [0, 1]})
    with pytest.raises(ValueError, match="'leaves' names the row"): evaluate(h, clusters, y, {'leaves': y})
    with pytest.raises(TypeError, match='level_labels must map'): evaluate(h, clusters, y, [y])


# ---------------------------------------------------------------- tree against tree

@settings(max_examples=60, deadline=None)
@given(st.integers(3, 14), st.integers(0, 2**32 - 1))
def test_tree_comparisons_match_brute_force(K, seed):
    rng = np.random.default_rng(seed)
    names = [f'leaf{c}' for c in range(K)]
    h = random_hierarchy(K, rng, names=names)
    newick = random_reference_newick(names, rng)
    ref = ete3.Tree(newick, format=1)
    ours, theirs = ete3_clusters(h.to_ete3()), ete3_clusters(ref)
    if theirs:
        assert clade_recall(h, newick) == pytest.approx(len(ours & theirs) / len(theirs))
        assert clade_recall(h, ref) == pytest.approx(len(ours & theirs) / len(theirs))
    assert clade_precision(h, newick) == pytest.approx(len(ours & theirs) / len(ours))
    assert robinson_foulds(h, ref) == pytest.approx(len(ours ^ theirs) / (len(ours) + len(theirs)))
    x, y = brute_lca_sizes(h, ref)
    if y.min() == y.max():
        with pytest.raises(ValueError, match='same lca size in the reference'): lca_correlation(h, newick)
    else:
        spearman = np.corrcoef(rankdata(x), rankdata(y))[0, 1]
        assert lca_correlation(h, newick) == pytest.approx(spearman, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 20), st.integers(0, 2**32 - 1))
def test_tree_comparisons_between_hierarchies_are_symmetric(K, seed):
    rng = np.random.default_rng(seed)
    a, b = random_hierarchy(K, rng), random_hierarchy(K, rng)
    assert clade_recall(a, b) == pytest.approx(clade_precision(b, a))
    assert robinson_foulds(a, b) == pytest.approx(robinson_foulds(b, a))
    r, p = clade_recall(a, b), clade_precision(a, b)
    assert robinson_foulds(a, b) == pytest.approx(1 - (2 * p * r / (p + r) if p + r else 0.))
    assert lca_correlation(a, a) == pytest.approx(1.)
    assert clade_recall(a, a) == 1. and robinson_foulds(a, a) == 0.


def test_leaves_are_matched_by_name_not_position():
    h = Hierarchy([((0,), (1,)), ((2,), (3,)), ((0, 1), (2, 3))], names=['a', 'b', 'c', 'd'])
    same_tree = Hierarchy([((3,), (2,)), ((1,), (0,)), ((3, 2), (1, 0))], names=['a', 'b', 'c', 'd'][::-1])
    assert clade_recall(h, same_tree) == 1. and robinson_foulds(h, same_tree) == 0.
    assert lca_correlation(h, same_tree) == pytest.approx(1.)
    assert clade_recall(h, '((d,c),(a,b));') == 1.
    # a hierarchy without names is matched by its cluster ids as strings
    assert clade_recall(Hierarchy(h.merges), '((0,1),(3,2));') == 1.


def test_multi_child_reference_and_rf_floor():
    names = [str(c) for c in range(9)]
    reference = '((0,1,2),(3,4,5),(6,7,8));'
    h = Hierarchy([((0,), (1,)), ((0, 1), (2,)), ((3,), (4,)), ((3, 4), (5,)), ((6,), (7,)), ((6, 7), (8,)),
                   ((0, 1, 2), (3, 4, 5)), ((0, 1, 2, 3, 4, 5), (6, 7, 8))])
    row = compare_trees(h, reference)['reference']
    assert row['clade_recall'] == 1.
    assert row['clade_precision'] == pytest.approx(3 / 7)
    assert row['robinson_foulds'] == pytest.approx(row['rf_floor']) == pytest.approx(4 / 10)
    assert row['reference_clades'] == 3 and row['leaves'] == 9


def test_deep_trees():
    K = 1500
    chain = Hierarchy([((t + 1,), tuple(range(t + 1))) for t in range(K - 1)])
    other = Hierarchy([((t,), tuple(range(t + 1, K))) for t in range(K - 2, -1, -1)])
    assert robinson_foulds(chain, chain) == 0.
    assert lca_correlation(chain, chain) == pytest.approx(1.)
    assert clade_recall(chain, other) == pytest.approx(0.)


def test_reference_is_not_changed():
    ref = ete3.Tree('(a,b,(c,d));')
    before = ref.write(format=9)
    h = Hierarchy([((0,), (1,)), ((2,), (3,)), ((0, 1), (2, 3))], names=list('abcd'))
    robinson_foulds(h, ref)
    assert ref.up is None and ref.write(format=9) == before


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 14), st.integers(0, 2**32 - 1))
def test_robinson_foulds_is_ete3s_rooted_distance(K, seed):
    "Computed from clade sets, without ete3, it is ete3's rooted RF, normalised as ete3 does."
    rng = np.random.default_rng(seed)
    names = [f'leaf{c}' for c in range(K)]
    h = random_hierarchy(K, rng, names=names)
    newick = random_reference_newick(names, rng)
    ref = ete3.Tree(newick, format=1)
    rooted = ete3.Tree()   # ete3 refuses a rooted comparison with a root of more than two children
    rooted.add_child(ref.copy())
    rf, rf_max = h.to_ete3().robinson_foulds(rooted, unrooted_trees=False)[:2]   # rf_max > 0: ours has K - 2 clades
    assert robinson_foulds(h, newick) == robinson_foulds(h, ref) == pytest.approx(rf / rf_max)


def test_tree_comparisons_refuse_bad_input():
    h = Hierarchy([((0,), (1,)), ((2,), (3,)), ((0, 1), (2, 3))], names=list('abcd'))
    for f in (lca_correlation, clade_recall, clade_precision, robinson_foulds):
        with pytest.raises(ValueError, match=r"1 \(e.g. 'd'\) of the hierarchy's leaf names are missing from the reference, 1 \(e.g. 'e'\)"):
            f(h, '((a,b),(c,e));')
        with pytest.raises(ValueError, match="the reference has 'a' more than once"): f(h, '((a,b),(c,d,a));')
        with pytest.raises(ValueError, match='missing from the reference'): f(h, '((a,b),c);')
        with pytest.raises(ValueError, match='not a Newick tree'): f(h, '((a,b),(c,d)')
    with pytest.raises(ValueError, match='same lca size in the reference'): lca_correlation(h, '(a,b,c,d);')
    with pytest.raises(ValueError, match='the reference has no clade between'): clade_recall(h, '(a,b,c,d);')
    with pytest.raises(ValueError, match='the hierarchy has no clade between'):
        clade_precision(Hierarchy([((0,), (1,))]), '(0,1);')
    with pytest.raises(ValueError, match="the hierarchy has 'x' more than once"):
        clade_recall(Hierarchy(h.merges, names=list('xxyz')), '((x,x),(y,z));')


# ---------------------------------------------------------------- baselines

def softmax(L):
    e = np.exp(L - L.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def brute_mean_probabilities(L):
    P, a = softmax(L.astype(np.float64)), L.argmax(1)
    return np.array([P[a == c].mean(0) if (a == c).any() else np.zeros(L.shape[1]) for c in range(L.shape[1])])


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 8), st.integers(1, 60), st.integers(1, 7), st.integers(0, 2**32 - 1))
def test_mean_probabilities_match_brute_force(K, N, chunk, seed):
    L = np.random.default_rng(seed).normal(size=(N, K)) * 3
    means, counts = mean_probabilities(L, chunk_rows=chunk)
    np.testing.assert_allclose(means, brute_mean_probabilities(L), atol=1e-12)
    np.testing.assert_array_equal(counts, np.bincount(L.argmax(1), minlength=K))


def test_mean_probabilities_accept_torch_and_memmap(tmp_path):
    L = np.random.default_rng(7).normal(size=(500, 6)).astype(np.float32)
    expected = brute_mean_probabilities(L)
    np.testing.assert_allclose(mean_probabilities(torch.from_numpy(L))[0], expected, atol=1e-6)
    np.save(tmp_path / 'L.npy', L)
    np.testing.assert_allclose(mean_probabilities(np.load(tmp_path / 'L.npy', mmap_mode='r'), chunk_rows=64)[0], expected, atol=1e-6)
    with pytest.raises(ValueError, match='2-D'): mean_probabilities(L[0])


@pytest.mark.parametrize('method', LINKAGES)
def test_agglomerative_equals_scipy_on_the_mean_vectors(method):
    rng = np.random.default_rng(8)
    L = rng.normal(size=(400, 10)) + 3 * np.eye(10)[rng.integers(0, 10, 400)]
    expected = from_linkage(linkage(brute_mean_probabilities(L), method=method))
    assert agglomerative_hierarchy(L, method, chunk_rows=33) == expected


def test_agglomerative_hosts_empty_clusters():
    rng = np.random.default_rng(9)
    L = rng.normal(size=(200, 6))
    L[:, 5] -= 10                                             # cluster 5 is nobody's argmax
    rows = L.argmax(1) == 2
    L[rows, 5] = L[rows, 2] - 0.5                             # but cluster 2's samples lean on it
    with pytest.warns(UserWarning, match=r'1 of 6 clusters have no sample assigned: 5 \(→ 2\)'):
        h = agglomerative_hierarchy(L, 'average')
    assert set(h.merges[0][0] + h.merges[0][1]) == {2, 5}
    assert h.n_clusters == 6


def test_weight_ward_equals_scipy():
    W = np.random.default_rng(10).normal(size=(12, 5))
    assert weight_ward_hierarchy(torch.from_numpy(W)) == from_linkage(linkage(W, 'ward'))
    with pytest.raises(ValueError, match='at least 2 rows'): weight_ward_hierarchy(W[:1])
    with pytest.raises(ValueError, match='NaN'): weight_ward_hierarchy(np.full((3, 2), np.nan))


def test_clade_scores_of_a_caterpillar_at_imagenet_21k_size():
    "Clades are compared by keys built bottom-up: a 21,841-deep tree costs O(K), where leaf sets would be K²/2 ids."
    K = 21841
    deep = Hierarchy(children=[[0, 1]] + [[K + t - 1, t + 1] for t in range(1, K - 1)])
    swapped = Hierarchy(children=[[0, 2]] + [[K, 1]] + [[K + t - 1, t + 1] for t in range(2, K - 1)])  # one clade differs
    assert clade_recall(deep, deep) == 1 and robinson_foulds(deep, deep.to_newick()) == 0
    assert robinson_foulds(deep, swapped) == pytest.approx(2 / (2 * (K - 2)))
