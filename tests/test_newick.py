"""Newick in and out for any class name: our writer and reader round-trip, `l2h build` output compares with itself, a tree
re-written by DendroPy is the same tree, comments, lengths and labels are read, bad text is one clear error, and deep
trees read fast."""
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.cluster.hierarchy import linkage

from l2h.hierarchy import Hierarchy, from_linkage
from l2h.metrics import compare_trees, robinson_foulds, lca_correlation, clade_recall
from l2h.newick import NewickTree, newick_name, parse_newick
from l2h.wordnet import imagenet_class_names

TRICKY = ["jack-o'-lantern", "it''s", "'", "''", 'a_b', '_', '__init__', ' padded ', 'trailing ', ' leading', 'tiger cat',
          'x(y),z:[w];', '[comment]', 'a]b', 'a[b', '(', ')', ',', ':', ';', 'tab\there', 'new\nline', 'cr\rlf', '',
          '0.5', '1e-3', '-', 'Ærø Å', 'naïve café', '猫', 'Ελληνικά_λέξη', 'emoji 🐈', 'nbsp\xa0name', '"double"', 'v\vtab']


# DendroPy 5 cannot read a quoted label that is a lone ( ) , : or ; (valid Newick), and writes '\r' and '\v' unquoted
DENDROPY_READS = [n for n in TRICKY if n not in {'(', ')', ',', ':', ';'} and '\r' not in n and '\v' not in n]


def leaf_names_of(tree: NewickTree) -> list[str]:
    return [tree.name[v] for v in tree.leaves()]


def random_hierarchy(names, seed=0) -> Hierarchy:
    rng = np.random.default_rng(seed)
    return from_linkage(linkage(rng.normal(size=(len(names), 3)), 'average'), names=names)


# ---------------------------------------------------------------- names round-trip

def test_every_imagenet_class_name_round_trips():
    names = imagenet_class_names()
    assert any("'" in n for n in names) and any(' ' in n for n in names)   # what ete3 and bare labels got wrong
    h = random_hierarchy(names)
    tree = parse_newick(h.to_newick())
    assert leaf_names_of(tree) == [names[c] for c in h.leaf_order()]
    assert tree.parent[0] == -1 and all(p < v for v, p in enumerate(tree.parent) if v)


def test_tricky_names_round_trip():
    h = random_hierarchy(TRICKY, seed=1)
    assert leaf_names_of(parse_newick(h.to_newick())) == [TRICKY[c] for c in h.leaf_order()]
    for name in TRICKY: assert leaf_names_of(parse_newick(f'({newick_name(name)},x);'))[0] == name


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=2, max_size=12, unique=True))
def test_any_names_round_trip(names):
    h = random_hierarchy(names)
    assert leaf_names_of(parse_newick(h.to_newick())) == [names[c] for c in h.leaf_order()]


def test_underscores_and_blanks_follow_the_standard():
    assert newick_name('a_b') == "'a_b'" and newick_name('a b') == "'a b'" and newick_name(' a') == "' a'"
    assert leaf_names_of(parse_newick("(a_b,'a_b',__,'c d');")) == ['a b', 'a_b', '  ', 'c d']


# ---------------------------------------------------------------- what `l2h build` writes compares with itself

def test_build_output_compares_with_its_own_hierarchy(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 8, 2000)
    L = rng.normal(size=(2000, 8)) + 4 * np.eye(8)[y] + 2 * np.eye(8)[y ^ 1]
    np.save(tmp_path / 'L.npy', L.astype(np.float32))
    names = ["jack-o'-lantern", 'a_b', "potter's wheel", 'tiger cat', 'x(y),z', 'semi;colon', 'Ærø', '[bracket]']
    (tmp_path / 'names.txt').write_text('\n'.join(names) + '\n', encoding='utf-8')
    r = subprocess.run([sys.executable, '-m', 'l2h.cli', 'build', tmp_path / 'L.npy', '--names', tmp_path / 'names.txt',
                        '--out', tmp_path / 'out'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    h = Hierarchy.load(tmp_path / 'out' / 'merges.json')
    text = (tmp_path / 'out' / 'tree.nwk').read_text(encoding='utf-8')
    assert "'jack-o''-lantern'" in text and "'a_b'" in text
    row = compare_trees(h, text)['reference']
    assert row['robinson_foulds'] == 0. and row['lca_correlation'] == pytest.approx(1.)
    assert row['clade_recall'] == 1. and row['clade_precision'] == 1.


# ---------------------------------------------------------------- a tree re-written by DendroPy

@pytest.mark.parametrize('names', [imagenet_class_names(), DENDROPY_READS], ids=['imagenet', 'tricky'])
def test_a_tree_rewritten_by_dendropy_is_the_same_tree(names):
    dendropy = pytest.importorskip('dendropy', reason='DendroPy is a dev requirement: pip install -e ".[dev]"')
    h = random_hierarchy(names, seed=2)
    ours = h.to_newick()
    theirs = dendropy.Tree.get(data=ours, schema='newick', rooting='force-rooted',
                               case_sensitive_taxon_labels=True).as_string(schema='newick')   # 'Cardigan' and 'cardigan'
    assert theirs != ours and theirs.startswith('[&R] ')       # DendroPy quotes its own way and adds a comment
    if 'tiger cat' in names: assert 'tiger_cat' in theirs    # a blank written as '_', as the standard allows
    assert robinson_foulds(h, theirs) == 0.
    assert lca_correlation(h, theirs) == pytest.approx(1.)
    assert leaf_names_of(parse_newick(theirs)) == leaf_names_of(parse_newick(ours))


# ---------------------------------------------------------------- comments, lengths, labels

def test_lengths_labels_and_comments():
    t = parse_newick("""[&R]
        ( 'a b' : 1.5e+2 [after length] , b_c:-.5,
          (d:1E-3, e:7)'inner node'[&&NHX:S=x]:0.25 ,(f)0.95
        ) root : 0 ;  \n""")
    assert t.name == ['root', 'a b', 'b c', 'inner node', 'd', 'e', '0.95', 'f']
    assert t.parent == [-1, 0, 0, 0, 3, 3, 0, 6]
    assert t.length == [0., 150., -0.5, 0.25, 0.001, 7., None, None]
    assert t.comment == ['&R', 'after length', '', '&&NHX:S=x', '', '', '', '']
    assert t.children() == [[1, 2, 3, 6], [], [], [4, 5], [], [], [7], []] and t.leaves() == [1, 2, 4, 5, 7]


def test_comments_everywhere_a_blank_may_be():
    t = parse_newick("[0]([1]([2]a[3]:[4]1[5],[6]b[7])[8]c[9]:[10]2[11],[12]d[13])[14]e[15];[16]")
    assert t.name == ['e', 'c', 'a', 'b', 'd']
    assert t.comment == ['0 14 15 16', '1 8 9 10 11', '2 3 4 5', '6 7', '12 13']
    assert t.length == [None, 2., 1., None, None]


def test_the_shipped_wordnet_tree_reads_as_ete3_reads_it():
    import ete3
    text = (Path(__file__).resolve().parents[1] / 'l2h' / 'data' / 'imagenet1k_wordnet.nhx').read_text()
    t = parse_newick(text)
    theirs = list(ete3.Tree(text, format=8).traverse('preorder'))
    index = {id(n): i for i, n in enumerate(theirs)}
    assert t.name == [n.name for n in theirs]
    assert t.parent == [index[id(n.up)] if n.up else -1 for n in theirs]
    assert t.comment[t.name.index('n02085620')].startswith('&&NHX:synset=chihuahua.n.03:depth=')
    assert len(t.leaves()) == 1000


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize('text, message', [
    ('', "at index 0 (line 1, column 1) expected '(', a label, ':' or ';', got the end of the text"),
    ('  \n ', "at index 4 (line 2, column 2) expected '(', a label, ':' or ';', got the end of the text"),
    ('((a,b),c', "at index 8 (line 1, column 9) expected ':', ',' or ')' (to close the '(' at index 0), got the end"),
    ('((a,b),c;', "at index 8 (line 1, column 9) expected ':', ',' or ')' (to close the '(' at index 0), got ';'"),
    ('(a,b));', "at index 5 (line 1, column 6) expected a label, ':' or ';', got ');'"),
    ('(a,b)', "at index 5 (line 1, column 6) expected a label, ':' or ';', got the end of the text"),
    ('(a,b);x', "at index 6 (line 1, column 7) expected nothing after ';', got 'x'"),
    ('(a,b);\n(c,d);', "at index 7 (line 2, column 1) expected nothing after ';', got '(c,d);'"),
    ("(a,'b);", "at index 3 (line 1, column 4) expected a quoted label closed by ', got \"'b);\""),
    ('(a,b)[root;', "at index 5 (line 1, column 6) expected a comment closed by ']', got '[root;'"),
    ('(a]b);', "at index 2 (line 1, column 3) expected ':', ',' or ')' (to close the '(' at index 0), got ']b);'"),
    ('(a:1:2,b);', "at index 4 (line 1, column 5) expected ',' or ')' (to close the '(' at index 0), got ':2,b);'"),
    ('(a:,b);', "at index 3 (line 1, column 4) expected a branch length (a number) after ':', got ',b);'"),
    ('(a:1e,b);', "at index 3 (line 1, column 4) expected a branch length (a number) after ':', got '1e,b);'"),
    ('(a b);', "at index 3 (line 1, column 4) expected ':', ',' or ')' (to close the '(' at index 0), got 'b);'"),
    ("('a'b);", "at index 4 (line 1, column 5) expected ':', ',' or ')' (to close the '(' at index 0), got 'b);'"),
    ('(a,b)c(d);', "at index 6 (line 1, column 7) expected ':' or ';', got '(d);'"),
    ('a(b);', "at index 1 (line 1, column 2) expected ':' or ';', got '(b);'"),
    ('(' * 30 + 'a', "at index 31 (line 1, column 32) expected ':', ',' or ')' (to close the '(' at index 29)"),
])
def test_bad_text_is_one_line_naming_the_place(text, message):
    with pytest.raises(ValueError) as e: parse_newick(text)
    assert str(e.value).startswith('not a Newick tree: ') and message in str(e.value) and '\n' not in str(e.value)


def test_long_text_is_shown_cut():
    with pytest.raises(ValueError, match=r"at index 3 \(line 1, column 4\) expected a label, ':' or ';', got '\);x{18}'…$"):
        parse_newick('(a));' + 'x' * 100)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="(),:;[]' \n_ab1.e-", max_size=30))
def test_any_text_is_a_tree_or_one_value_error(text):
    try: t = parse_newick(text)
    except ValueError as e:
        assert str(e).startswith('not a Newick tree: at index ') and '\n' not in str(e)
        return
    n = len(t.parent)
    assert t.parent[0] == -1 and all(0 <= t.parent[v] < v for v in range(1, n))
    assert len(t.name) == len(t.length) == len(t.comment) == n
    assert text.count('(') == text.count(')') or "'" in text or '[' in text


def test_refuses_what_is_not_text():
    with pytest.raises(TypeError, match='text must be a str, got bytes'): parse_newick(b'(a,b);')


# ---------------------------------------------------------------- deep trees

def caterpillar(K: int) -> str:
    return ''.join(f'(leaf_{i},' for i in range(K - 1)) + f'leaf_{K - 1}' + ')' * (K - 1) + ';'


def test_a_20000_leaf_caterpillar_reads_in_well_under_a_second():
    K = 20_000
    text = caterpillar(K)
    start = time.perf_counter()
    t = parse_newick(text)
    took = time.perf_counter() - start
    print(f'\n{K:,}-leaf caterpillar ({len(text):,} characters, {len(t.parent):,} nodes) read in {took:.3f} s')
    assert took < 1.
    assert len(t.leaves()) == K and t.parent[-1] == len(t.parent) - 3
    assert parse_newick('(' * 50_000 + 'a' + ')' * 50_000 + ';').name[-1] == 'a'   # single-child chain


def test_a_deep_newick_reference_compares_without_recursion():
    K = 2000
    chain = Hierarchy([((t + 1,), tuple(range(t + 1))) for t in range(K - 1)], names=[f'leaf {K - 1 - c}' for c in range(K)])
    assert robinson_foulds(chain, caterpillar(K)) == 0. and clade_recall(chain, caterpillar(K)) == 1.
