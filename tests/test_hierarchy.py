"Conversions of `Hierarchy` against scipy, ete3 and sklearn; deep trees; saving; bad input."
import json
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.cluster import hierarchy as sch

import l2h
from l2h.hierarchy import Hierarchy


def random_hierarchy(rng, K):
    "A hierarchy made by joining random pairs of groups, in random orientation."
    groups, merges = [(c,) for c in range(K)], []
    while len(groups) > 1:
        i, j = rng.choice(len(groups), 2, replace=False)
        merges.append((groups[i], groups[j]))
        groups = [g for k, g in enumerate(groups) if k not in (i, j)] + [groups[i] + groups[j]]
    return Hierarchy(merges)


def chain(K):
    "The deepest tree: one cluster joins the rest at every step."
    return Hierarchy([((t + 1,), tuple(range(t + 1))) for t in range(K - 1)])


hierarchies = st.builds(lambda seed, K: random_hierarchy(np.random.default_rng(seed), K),
                        st.integers(0, 2**32 - 1), st.integers(2, 40))


@settings(max_examples=60, deadline=None)
@given(hierarchies)
def test_linkage_is_valid_and_round_trips(h):
    Z = h.to_linkage()
    assert Z.dtype == np.float64 and Z.shape == (h.n_clusters - 1, 4)
    assert sch.is_valid_linkage(Z) and sch.is_monotonic(Z)
    assert Hierarchy.from_linkage(Z) == h
    np.testing.assert_array_equal(Z[:, 3], [len(g) + len(p) for g, p in h.merges])


@settings(max_examples=60, deadline=None)
@given(hierarchies)
def test_leaf_order_is_scipys_dendrogram_order(h):
    assert h.leaf_order().tolist() == sch.dendrogram(h.to_linkage(), no_plot=True)['leaves']


@settings(max_examples=60, deadline=None)
@given(hierarchies, st.data())
def test_cut_is_scipys_fcluster(h, data):
    n = data.draw(st.integers(1, h.n_clusters))
    ours, theirs = h.cut(n), sch.fcluster(h.to_linkage(), n, 'maxclust')
    assert len(set(ours)) == n
    assert len(set(zip(ours, theirs))) == n  # the same partition
    assert ours[0] == 0 and all(ours[c] <= max(ours[:c], default=-1) + 1 for c in range(h.n_clusters))


@settings(max_examples=40, deadline=None)
@given(hierarchies)
def test_newick_and_ete3_have_our_clades(h):
    from ete3 import Tree
    h.names = [f"c {c} (a,b):" for c in range(h.n_clusters)]  # Newick's reserved characters must survive
    for tree in (Tree(h.to_newick(), format=9, quoted_node_names=True), h.to_ete3()):
        clades = {frozenset(int(n.split()[1]) for n in node.get_leaf_names())
                  for node in tree.traverse() if not node.is_leaf()}
        assert clades == set(h.clades())


def test_newick_doubles_quotes_in_names():
    h = chain(2)
    h.names = ["o'clock", 'plain']
    assert h.to_newick() == "(plain,'o''clock');"


def test_sklearn_children_convert_back():
    from sklearn.cluster import AgglomerativeClustering
    X = np.random.default_rng(0).normal(size=(30, 4))
    model = AgglomerativeClustering(linkage='average', compute_full_tree=True).fit(X)
    h = Hierarchy.from_linkage(model.children_)
    np.testing.assert_array_equal(h.to_sklearn_children(), model.children_)


def test_deep_trees_work_everywhere(tmp_path):
    h = chain(5000)
    assert h.to_newick().count('(') == 4999
    assert len(h.to_ete3().get_leaves()) == 5000
    assert h.cut(2).sum() == 1 and h.leaf_order()[0] == 4999
    h.save(tmp_path / 'deep.json')
    assert Hierarchy.load(tmp_path / 'deep.json') == h
    ax = h.plot()
    assert len(ax.collections[0].get_segments()) == 3 * 4999
    import matplotlib.pyplot as plt
    plt.close('all')


def test_plot_labels_shrink_and_disappear():
    import matplotlib.pyplot as plt
    h = random_hierarchy(np.random.default_rng(0), 50)
    h.names = [f'class {c}' for c in range(50)]
    assert [t.get_text() for t in h.plot().get_yticklabels()][:1] == [f'class {h.leaf_order()[0]}']
    assert h.plot(max_labels=10).get_yticks().size == 0
    plt.close('all')


def test_custom_heights():
    h = random_hierarchy(np.random.default_rng(1), 6)
    heights = np.array([len(g) + len(p) for g, p in h.merges], float)
    Z = h.to_linkage(heights)
    assert sch.is_monotonic(Z) and Z[:, 2].tolist() == heights.tolist()
    with pytest.raises(ValueError, match='must not decrease towards the root'):
        h.to_linkage(heights[::-1])
    with pytest.raises(ValueError, match='finite'):
        h.to_linkage([1, 2, np.nan, 4, 5])


def test_save_is_atomic(tmp_path, monkeypatch):
    h, other = random_hierarchy(np.random.default_rng(2), 8), random_hierarchy(np.random.default_rng(3), 8)
    path = tmp_path / 'h.json'
    h.save(path)
    def broken_replace(src, dst): raise OSError('disk full')
    monkeypatch.setattr(os, 'replace', broken_replace)
    with pytest.raises(OSError, match='disk full'):
        other.save(path)
    assert os.listdir(tmp_path) == ['h.json'] and Hierarchy.load(path) == h


@pytest.mark.parametrize('content,message', [('not json', 'not an l2h hierarchy file'),
                                             ('[1, 2]', 'not an l2h hierarchy file'),
                                             (json.dumps({'format': 'l2h.hierarchy', 'n_clusters': 3,
                                                          'merges': [[[0], [1]], [[0], [2]]]}), 'not one of the groups')])
def test_load_refuses_bad_files(tmp_path, content, message):
    (tmp_path / 'bad.json').write_text(content)
    with pytest.raises(ValueError, match=message):
        Hierarchy.load(tmp_path / 'bad.json')


@pytest.mark.parametrize('Z,message', [(np.zeros(3), '2-D'), ([[0, 1.5, 1, 2]], 'integer node ids'),
                                      ([[0, 2, 1, 2]], 'does not exist yet'), ([[0, -1, 1, 2]], 'non-negative')])
def test_from_linkage_refuses_bad_linkages(Z, message):
    with pytest.raises(ValueError, match=message):
        Hierarchy.from_linkage(Z)


def test_cut_and_predict_refuse_bad_arguments():
    h = chain(4)
    for n in (0, 5, 2.5, True, '2'):
        with pytest.raises(ValueError, match='between 1 and 4'):
            h.cut(n)
    with pytest.raises(ValueError, match='0..3'):
        h.predict(np.array([0, 4]), 2)
    with pytest.raises(ValueError, match='one name per cluster'):
        h.names = ['a']


def test_fitted_hierarchy_keeps_its_statistics(tmp_path):
    L = np.random.default_rng(5).normal(size=(300, 7))
    h = l2h.logits_to_hierarchy(L)
    h.save(tmp_path / 'h.json')
    back = Hierarchy.load(tmp_path / 'h.json')
    for k in ('counts', 'cluster_scores', 'merge_scores', 'merge_affinities'):
        np.testing.assert_array_equal(getattr(back, k), getattr(h, k))
    assert back.counts.sum() == 300
    assert l2h.predict(h, l2h.assignments(L), 1).tolist() == [0] * 300
