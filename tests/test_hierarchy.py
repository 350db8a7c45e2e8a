"Conversions of `Hierarchy` against scipy, ete3 and sklearn; deep trees; saving; bad input."
import json
from pathlib import Path
import re
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.cluster import hierarchy as sch

import l2h
from l2h.hierarchy import Hierarchy, from_linkage


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
    ax = h.plot(layout='rect')
    assert len(ax.collections[0].get_segments()) == 3 * 4999
    assert len(h.plot().get_yticklabels()) == 40                     # 'auto': its top 40 clades
    assert len(h.plot(layout='circular').collections[0].get_paths()) == 3 * 4999
    import matplotlib.pyplot as plt
    plt.close('all')


def test_plot_labels_shrink_and_disappear():
    import matplotlib.pyplot as plt
    h = random_hierarchy(np.random.default_rng(0), 50)
    h.names = [f'class {c}' for c in range(50)]
    assert [t.get_text() for t in h.plot().get_yticklabels()][:1] == [f'class {h.leaf_order()[0]}']
    assert h.plot(layout='rect', max_labels=10).get_yticks().size == 0
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
                                             (json.dumps({'format': 'l2h.hierarchy', 'version': 1, 'n_clusters': 3,
                                                          'merges': [[[0], [1]], [[0], [2]]]}), 'not one of the groups')])
def test_load_refuses_bad_files(tmp_path, content, message):
    (tmp_path / 'bad.json').write_text(content)
    with pytest.raises(ValueError, match=message):
        Hierarchy.load(tmp_path / 'bad.json')


@pytest.mark.parametrize('Z,message', [(np.zeros(3), '2-D'), ([[0, 1.5, 1, 2]], 'integer node ids'),
                                      ([[0, 2, 1, 2]], 'does not exist yet'), ([[0, -1, 1, 2]], 'not negative')])
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


# Issue 11, D10: a cluster id is an integer — not a bool, not a float, not a string — in the constructor and in files.
@pytest.mark.parametrize('merges,n_clusters,message', [
    ([((0,), (1.5,))], None, 'merge 0 partner must be a sequence of cluster ids (integers), got (1.5,)'),
    ([((0,), (1.0,))], None, 'merge 0 partner must be a sequence of cluster ids (integers)'),
    ([((True,), (0,))], None, 'merge 0 group must be a sequence of cluster ids (integers)'),
    ([((0,), (1,)), ((0, True), (2,))], None, 'merge 1 group'),
    ([((0,), ('1',))], None, 'merge 0 partner'),
    ([((0,), '1')], None, 'merge 0 partner'),
    ([(0, 1)], None, 'merge 0 group must be a sequence'),
    ([((0,),)], None, 'merge 0 must be a pair (group, partner)'),
    (5, None, 'merges must be a list of (group, partner) pairs'),
    ([((0,), (1,))], 2.0, 'n_clusters must be an integer, got 2.0'),
    ([((0,), (1,))], True, 'n_clusters must be an integer, got True'),
])
def test_constructor_refuses_what_is_not_an_integer_id(merges, n_clusters, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        Hierarchy(merges, n_clusters)


def test_constructor_takes_numpy_integers_and_refuses_huge_ids():
    h = Hierarchy([(np.array([0]), (np.uint8(1),))], np.int32(2))
    assert h.merges == (((0,), (1,)),) and all(type(c) is int for c in h.merges[0][0] + h.merges[0][1])
    for big in (2**63, 2**70, -2**70):
        with pytest.raises(ValueError, match='outside 0..1'):
            Hierarchy([((0,), (big,))])


@pytest.mark.parametrize('stats,error,message', [
    (dict(counts=[1.5, 2]), TypeError, 'counts must be a list of integers'),
    (dict(counts=[True, 2]), TypeError, 'counts must be a list of integers'),
    (dict(counts=[1, 2**70]), TypeError, 'counts must be a list of integers'),
    (dict(counts=[1, -2]), ValueError, 'counts must be between 0 and'),
    (dict(counts=[1, 2, 3]), ValueError, 'one entry per cluster (2)'),
    (dict(cluster_scores=['1', '2']), TypeError, 'cluster_scores must be a list of real numbers'),
    (dict(cluster_scores=[0.5, np.nan]), ValueError, 'cluster_scores must be finite, got nan at 1'),
    (dict(merge_scores=[np.inf]), ValueError, 'merge_scores must be finite'),
    (dict(merge_affinities=[1j]), TypeError, 'merge_affinities must be a list of real numbers'),
    (dict(merge_affinities=[[1.0], [2.0, 3.0]]), TypeError, 'merge_affinities must be a list of real numbers'),
    (dict(names='ab'), TypeError, 'not one string'),
    (dict(names=5), TypeError, 'names must be a sequence of names'),
])
def test_constructor_refuses_bad_statistics(stats, error, message):
    with pytest.raises(error, match=re.escape(message)):
        Hierarchy([((0,), (1,))], **stats)


def test_leaf_names_refuse_one_string():
    with pytest.raises(TypeError, match='not one string'):
        chain(2).to_newick(names='ab')


def saved(tmp_path, layout=1, **change):
    "A valid hierarchy file of version `layout` with `change` applied to its JSON document (a value of `...` deletes the key)."
    h = Hierarchy([((1,), (0,)), ((2,), (0, 1))], names=['a', 'b', 'c'], counts=[3, 1, 4],
                  cluster_scores=[0.5, 0.25, 1.0], merge_scores=[0.5, 1.5], merge_affinities=[0.1, 0.2])
    path = tmp_path / 'h.json'
    h.save(path)
    doc = json.loads(path.read_text())
    if layout == 1:  # as l2h 0.1 wrote it: every merge's clusters
        del doc['children'], doc['sizes']
        doc.update(version=1, merges=[[list(g), list(p)] for g, p in h.merges])
    for k, v in change.items():
        if v is ...: del doc[k]
        else: doc[k] = v
    path.write_text(json.dumps(doc))
    return h, path


@pytest.mark.parametrize('change,message', [
    (dict(merges=...), "field 'merges' is missing"),
    (dict(n_clusters=...), "field 'n_clusters' is missing"),
    (dict(n_clusters=None), "field 'n_clusters' is missing"),
    (dict(version=...), "field 'version' is missing"),
    (dict(version=3), "field 'version': this l2h reads versions 1, 2, got 3"),
    (dict(version=True), "field 'version': this l2h reads versions 1, 2, got True"),
    (dict(version=1.0), "field 'version'"),
    (dict(n_clusters=3.7), "field 'n_clusters': n_clusters must be an integer, got 3.7"),
    (dict(n_clusters=3.0), "field 'n_clusters'"),
    (dict(n_clusters=True), "field 'n_clusters'"),
    (dict(n_clusters='3'), "field 'n_clusters'"),
    (dict(n_clusters=4), "field 'merges': a hierarchy over 4 clusters has 3 merges, got 2"),
    (dict(merges=[[[1], [0]], [[2], [1.5]]]), "field 'merges': merge 1 partner must be a sequence of cluster ids (integers), got [1.5]"),
    (dict(merges=[[[1], [0]], [[2], [0, True]]]), "field 'merges': merge 1 partner"),
    (dict(merges=[[[1], [0]], [[2], ['0', '1']]]), "field 'merges': merge 1 partner"),
    (dict(merges=[[[1], [0]], [[2], [0, 1e300]]]), "field 'merges': merge 1 partner"),
    (dict(merges=[[[1], [0]], [[2], [0, 10**30]]]), "field 'merges': merge 1: (0, 1000000000000000000000000000000) is empty or names a cluster outside 0..2"),
    (dict(merges=[[[1], [0]], [[2], [0]]]), "field 'merges': merge 1: (0,) is not one of the groups"),
    (dict(merges=[[[1], [0]], [2, [0, 1]]]), "field 'merges': merge 1 group must be a sequence"),
    (dict(merges=[[[1], [0]], [[2]]]), "field 'merges': merge 1 must be a pair"),
    (dict(merges={'a': 1}), "field 'merges'"),
    (dict(merges='[[1], [0]]'), "field 'merges'"),
    (dict(names='abc'), "field 'names': must be a list of strings, one per cluster, got 'abc'"),
    (dict(names=['a', 'b', 3]), "field 'names': must be a list of strings"),
    (dict(names=['a', 'b', None]), "field 'names': must be a list of strings"),
    (dict(names=['a', 'b']), "field 'names': names must give one name per cluster (3), got 2"),
    (dict(counts=[3, 1]), "field 'counts': counts must have one entry per cluster (3), got shape (2,)"),
    (dict(counts=[3, 1, 4.5]), "field 'counts': counts must be a list of integers"),
    (dict(counts=[3, 1, 4.0]), "field 'counts': counts must be a list of integers"),
    (dict(counts=[3, False, 4]), "field 'counts'"),
    (dict(counts=[3, -1, 4]), "field 'counts': counts must be between 0 and"),
    (dict(counts=3), "field 'counts'"),
    (dict(cluster_scores=[0.5, 0.25, float('nan')]), "field 'cluster_scores': cluster_scores must be finite, got nan at 2"),
    (dict(merge_scores=[0.5, float('inf')]), "field 'merge_scores': merge_scores must be finite, got inf at 1"),
    (dict(merge_affinities=[0.1, '0.2']), "field 'merge_affinities'"),
    (dict(merge_affinities=[0.1, True]), "field 'merge_affinities'"),
    (dict(merge_affinities=[0.1, 0.2, 0.3]), "field 'merge_affinities': merge_affinities must have one entry per merge (2)"),
])
def test_load_names_the_file_and_the_field(tmp_path, change, message):
    _, path = saved(tmp_path, **change)
    with pytest.raises(ValueError, match=re.escape(f'{path}: {message}')):
        Hierarchy.load(path)


@pytest.mark.parametrize('change,message', [
    (dict(children=...), "field 'children' is missing"),
    (dict(sizes=...), "field 'sizes' is missing"),
    (dict(children=[[1, 0], [2, 2.5]]), "field 'children': must be a list of [node, node] pairs of integers"),
    (dict(children=[[1, 0], [2]]), "field 'children': must be a list of [node, node] pairs"),
    (dict(children=[[1, 0], [2, True]]), "field 'children': must be a list of [node, node] pairs"),
    (dict(children='[[1, 0]]'), "field 'children': must be a list"),
    (dict(children=[[1, 0], [2, 4]]), "field 'children': children row 1 joins [2, 4], but only nodes 0..3 exist by then"),
    (dict(children=[[1, 0], [1, 3]]), "field 'children': children rows 0 and 1 both join node 1"),
    (dict(children=[[1, 0]]), "field 'children': children of a hierarchy over 3 clusters must have shape (2, 2)"),
    (dict(sizes=[2, 4]), "field 'sizes': does not match"),
    (dict(merges=[[[0], [1]], [[2], [0, 1]]]), None),  # version 2 reads children; other fields are ignored
])
def test_load_version_2_names_the_file_and_the_field(tmp_path, change, message):
    h, path = saved(tmp_path, layout=2, **change)
    if message is None: assert Hierarchy.load(path) == h
    else:
        with pytest.raises(ValueError, match=re.escape(f'{path}: {message}')):
            Hierarchy.load(path)


def test_a_caterpillar_saves_in_linear_space_and_time(tmp_path):
    "The shape that made merges.json O(K²): 3,000 levels deep, a few tens of KB, and read back equal."
    K = 3000
    Z = np.array([[0, 1]] + [[K + t - 1, t + 1] for t in range(1, K - 1)])
    h = Hierarchy.from_linkage(Z)
    h.save(tmp_path / 'h.json')
    assert (tmp_path / 'h.json').stat().st_size < 40 * K
    assert Hierarchy.load(tmp_path / 'h.json') == h and h.cut(2).sum() == 1


def test_load_keeps_optional_fields_optional(tmp_path):
    h, path = saved(tmp_path, names=..., counts=None, merge_scores=..., comment='extra fields are ignored')
    back = Hierarchy.load(path)
    assert back == h and back.names is None and back.counts is None and back.merge_scores is None
    np.testing.assert_array_equal(back.cluster_scores, h.cluster_scores)


@pytest.mark.parametrize('content,message', [
    (b'\xff\xfe{}', 'not an l2h hierarchy file: '),
    ('{"format": "l2h.hierarchy", "names": "caf\u00e9"}'.encode('latin-1'), 'not an l2h hierarchy file: '),
    (b'', 'not an l2h hierarchy file: Expecting value'),
    (b'{"format": "l2h.hierarchy", "version": 1, "n_clusters": 2, "merges": ' + b'[' * 100_000 + b']' * 100_000 + b'}',
     'not an l2h hierarchy file: JSON nested too deeply'),
    (b'{"format": "l2h.hierarchy", "version": 1, "n_clusters": ' + b'9' * 5000 + b'}', 'not an l2h hierarchy file: '),
])
def test_load_refuses_what_is_not_json(tmp_path, content, message):
    (tmp_path / 'h.json').write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'h.json'} is {message}")):
        Hierarchy.load(tmp_path / 'h.json')


def test_load_names_a_folder_and_a_missing_file(tmp_path):
    with pytest.raises(IsADirectoryError, match=re.escape(f'{tmp_path} is a folder, not an l2h hierarchy file')):
        Hierarchy.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        Hierarchy.load(tmp_path / 'none.json')


WRONG = [None, True, False, 0, -1, 1.5, 2.0, float('nan'), float('inf'), 10**30, '', 'x', '1', [], [None], [True],
         [1.5], ['a'], [[]], [[1.5]], [[[0], [1]]], {}, {'0': 1}, [[[1], [0]], [[2], [0, 1]], [[0], [1]]]]


def test_load_fuzz_only_ever_returns_the_hierarchy_or_raises_valueerror(tmp_path):
    "Every mutation of a valid file loads as what the mutated file says (optional fields dropped) or raises ValueError."
    h, path = saved(tmp_path)
    good = path.read_bytes()
    doc = json.loads(good)
    mutations = [{k: v for k, v in doc.items() if k != key} for key in doc]
    mutations += [{**doc, key: value} for key in doc for value in WRONG]
    # every entry of every list, and every id of every group, replaced by each wrong value
    for key in ('names', 'counts', 'cluster_scores', 'merge_scores', 'merge_affinities'):
        mutations += [{**doc, key: doc[key][:i] + [value] + doc[key][i + 1:]} for i in range(len(doc[key])) for value in WRONG]
    for t, pair in enumerate(doc['merges']):
        for side, group in enumerate(pair):
            for i in range(len(group)):
                for value in WRONG:
                    merges = json.loads(json.dumps(doc['merges']))
                    merges[t][side][i] = value
                    mutations.append({**doc, 'merges': merges})
    cases = [(json.dumps(m).encode(), m) for m in mutations]
    cases += [(good[:i], None) for i in range(0, len(good), 7)]
    cases += [(good[:i] + b'\xff' + good[i + 1:], None) for i in range(0, len(good), 11)]
    outcomes = {'loaded': 0, 'refused': 0}
    for content, says in cases:
        path.write_bytes(content)
        try: back = Hierarchy.load(path)
        except ValueError as e:
            assert str(e).startswith(str(path)) and '\n' not in str(e), str(e)
            outcomes['refused'] += 1
            continue
        assert says is not None, content
        assert back.n_clusters == says['n_clusters'] == 3 and [[list(g), list(p)] for g, p in back.merges] == says['merges']
        assert back.names == says.get('names')
        for k in ('counts', 'cluster_scores', 'merge_scores', 'merge_affinities'):
            assert (getattr(back, k) is None) == (says.get(k) is None)
            if says.get(k) is not None: assert getattr(back, k).tolist() == says[k]
        outcomes['loaded'] += 1
    assert outcomes['loaded'] >= 20 and outcomes['refused'] > 600, outcomes


# Issue 11, D11: every bad linkage is one ValueError that names the row or the problem.
@pytest.mark.parametrize('Z,message', [
    (np.array([[0, 2**63, 1, 2]], dtype=np.uint64), 'linkage row 0 joins node 9223372036854775808, which does not exist yet'),
    ([[0, 2**63, 1, 2]], 'linkage row 0 joins node 9.223372036854776e+18, which does not exist yet'),
    (np.array([[0, 2.0**63, 1, 2]]), 'linkage row 0 joins node 9.223372036854776e+18, which does not exist yet'),
    ([[0, 1, 1, 2], [2, 2.0**53 + 2, 1, 3]], 'linkage row 1 joins node'),
    ([[0, 1, 1, 2], [2, 2**70, 1, 3]], 'a linkage must hold integers or floats, got dtype object'),
    (np.array([[0, 1, 1, 2]], dtype=object), 'a linkage must hold integers or floats, got dtype object'),
    ([['0', '1', '1', '2']], 'a linkage must hold integers or floats, got dtype <U1'),
    (np.array([[0, 1, 1, 2]], dtype=complex), 'a linkage must hold integers or floats, got dtype complex128'),
    (np.array([[True, False]]), 'a linkage must hold integers or floats, got dtype bool'),
    ([[0, 1, 1, 2], [2, 3]], 'a linkage must be a 2-D array of numbers'),
    ([[0, 1, 1, 2], [2, np.nan, 1, 3]], 'linkage row 1 must join integer node ids, got [2.0, nan]'),
    ([[0, 1, 1, 2], [2, np.inf, 1, 3]], 'linkage row 1 must join integer node ids'),
    ([[0, 1, 1, 2], [2, 2.5, 1, 3]], 'linkage row 1 must join integer node ids, got [2.0, 2.5]'),
    ([[0, 1, 1, 2], [-1, 3, 1, 3]], 'linkage row 1 joins node -1; node ids are not negative'),
    ([[0, 1, 1, 2], [2, 4, 1, 3]], 'linkage row 1 joins node 4, which does not exist yet (rows before it made nodes up to 3)'),
    ([[0, 1, 1, 2], [1, 2, 1, 3]], 'linkage row 1 joins node 1, which row 0 already joined'),
    ([[0, 0, 1, 2]], 'linkage row 0 joins node 0 with itself'),
    ([[0, 1, 1, 2], [2, 3, 1, 4]], 'linkage row 1 says its node holds 4 clusters, but it holds 3'),
    ([[0, 1, 1, 2], [2, 3, 1, 2.5]], 'linkage row 1 says its node holds 2.5 clusters, but it holds 3'),
    ([[0, 1, 1, np.nan]], 'linkage row 0 says its node holds nan clusters'),
    (np.zeros((0, 4)), '2-D array of shape (K-1, 4), got shape (0, 4)'),
    (np.zeros((2, 1)), 'got shape (2, 1)'),
    (np.zeros((1, 2, 2)), 'got shape (1, 2, 2)'),
    ('01', 'a linkage must hold integers or floats'),
])
def test_from_linkage_names_the_bad_row(Z, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Hierarchy.from_linkage(Z)


def test_from_linkage_takes_integer_and_narrow_columns():
    Z = np.array([[1, 0], [2, 3]], dtype=np.uint8)
    assert from_linkage(Z) == Hierarchy([((1,), (0,)), ((2,), (1, 0))])
    assert from_linkage(Z[:, :2].astype(np.float32)) == from_linkage(Z)


# Issue 11, D7: names are text — `$`, backslashes, newlines and tabs are drawn as written.
@pytest.mark.parametrize('orientation', ['left', 'top'])
def test_plot_draws_names_literally(tmp_path, orientation):
    import matplotlib.pyplot as plt
    names = ['$5 bill', 'a $x$ b', r'$\frac$ x', '$10 and $20', 'tab\there', 'two\nlines', '%_&^{}#', '']
    h = random_hierarchy(np.random.default_rng(7), len(names))
    h.names = names
    ticklabels = lambda ax: ax.get_xticklabels() if orientation == 'top' else ax.get_yticklabels()
    with plt.rc_context({'text.usetex': True}):  # names are not TeX either (not drawn: that would need LaTeX)
        assert not any(t.get_usetex() for t in ticklabels(h.plot(orientation=orientation)))
    ax = h.plot(orientation=orientation)
    labels = ticklabels(ax)
    assert [t.get_text() for t in labels] == [names[c] for c in h.leaf_order()]
    assert not any(t.get_parse_math() for t in labels)
    import warnings
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', 'Glyph 9', UserWarning)  # a tab has no glyph in DejaVu Sans: drawn as a box
        ax.figure.savefig(tmp_path / 'tree.png')
    assert (tmp_path / 'tree.png').stat().st_size > 1000
    plt.close('all')


def _random_children(K, seed=0):
    "A random tree over K clusters, built as children (fast at K = 21,841): two random groups joined at each step."
    rng, alive, children = np.random.default_rng(seed), list(range(K)), []
    for t in range(K - 1):
        for i in sorted(rng.choice(len(alive), 2, replace=False))[::-1]:
            alive[i], alive[-1] = alive[-1], alive[i]
            children.append(alive.pop())
        alive.append(K + t)
    return Hierarchy(children=np.array(children).reshape(-1, 2), n_clusters=K)


def _saved(ax, name):
    "Save a sample figure into _screenshots/ to look at; seconds it took."
    import time
    shots = Path(__file__).resolve().parents[1] / '_screenshots'
    shots.mkdir(exist_ok=True)
    start = time.perf_counter()
    ax.figure.savefig(shots / f'{name}.png', dpi=150, bbox_inches='tight')
    return time.perf_counter() - start


def test_plot_names_every_one_of_1000_classes_legibly():
    "ImageNet's 1,000 names round a circle at 6 pt, each drawn once, neighbours at least a line apart; in seconds."
    import time, matplotlib.pyplot as plt
    names = [l.split('\t')[1].strip() for l in (Path(l2h.__file__).parent / 'data/imagenet1k_classes.tsv').open()][1:]
    h = _random_children(1000)
    start = time.perf_counter()
    ax = h.plot(names, groups=12)
    drawn = time.perf_counter() - start
    texts = [t for t in ax.texts if t.get_text() in set(names)]
    assert sorted(t.get_text() for t in texts) == sorted(names)
    assert min(t.get_fontsize() for t in texts) >= 6
    anchors = ax.transData.transform([t.get_position() for t in texts]) / ax.figure.dpi * 72   # points
    gaps = np.linalg.norm(np.diff(anchors, axis=0), axis=1)
    assert gaps.min() >= 6, f'neighbouring names {gaps.min():.1f} pt apart'
    saved = _saved(ax, 'figure-k1000-circular')
    print(f'K = 1000, circular: plot {drawn:.1f} s, PNG {saved:.1f} s')
    assert drawn + saved < 60
    plt.close('all')


def test_plot_of_21841_clusters_shows_its_top_clades_quickly():
    import time, matplotlib.pyplot as plt
    h = _random_children(21841)
    h.names = [f'class {c}' for c in range(h.n_clusters)]
    start = time.perf_counter()
    ax = h.plot(groups=8)
    drawn = time.perf_counter() - start
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 40 and all(re.fullmatch(r'class \d+( \+\d+)?', l) for l in labels), labels[:3]
    assert sum(int(l.split('+')[1]) + 1 if '+' in l else 1 for l in labels) == 21841
    assert ax.get_xlabel() == 'depth (merges below)' and all(x % 1 == 0 for x in ax.get_xticks())
    saved = _saved(ax, 'figure-k21841-clades')
    print(f'K = 21841, top 40 clades: plot {drawn:.1f} s, PNG {saved:.1f} s')
    assert drawn + saved < 20
    plt.close('all')
