"The WordNet side: the shipped class list and tree against a fresh build from WordNet 3.0, WordNet access and its errors."
import gzip, os, re, sys, types
from pathlib import Path
import nltk
import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform

import l2h.synsets as S
import l2h.wordnet as W
from l2h.hierarchy import Hierarchy
from l2h.hierarchy import from_linkage
from l2h.synsets import (imagenet_wnids, imagenet_class_names, load_wordnet, lexnames_text, wordnet_parent, synset_of,
                         wnid_of)
from l2h.wordnet import (wordnet_tree, imagenet_wordnet_tree, wordnet_tree_text, find_synset, lca_matrix, compare_to_wordnet,
                         bias_report)


@pytest.fixture(scope='module')
def wn():
    try: return load_wordnet()
    except LookupError:
        pytest.skip("WordNet 3.0 is not installed: apt-get install wordnet-base wordnet-sense-index, "
                    "or python -c \"import nltk; nltk.download('wordnet')\"")


@pytest.fixture(scope='module')
def fresh(wn):
    return wordnet_tree(wordnet=wn)


# ---------------------------------------------------------------- the class list

def test_class_list():
    wnids, names = imagenet_wnids(), imagenet_class_names()
    assert len(wnids) == len(set(wnids)) == len(names) == len(set(names)) == 1000
    assert wnids == sorted(wnids) and (wnids[0], wnids[-1]) == ('n01440764', 'n15075141')
    assert all(re.fullmatch(r'n\d{8}', w) for w in wnids)
    assert sum(n.startswith('crane (') for n in names) == sum(n.startswith('maillot (') for n in names) == 2


def test_class_list_is_wordnet_nouns(wn):
    synsets = [synset_of(w, wn) for w in imagenet_wnids()]
    assert [wnid_of(s) for s in synsets] == imagenet_wnids()
    assert all(s.pos() == 'n' and s.lexname().startswith('noun.') for s in synsets)


# ---------------------------------------------------------------- the tree

def chain(synset):
    up = [synset]
    while (p := wordnet_parent(up[-1])) is not None: up.append(p)
    return up[::-1]


def test_parent_chains_are_longest_paths(wn):
    for w in imagenet_wnids():
        s = synset_of(w, wn)
        paths = s.hypernym_paths()
        c = chain(s)
        assert c in paths and len(c) == max(map(len, paths)) == s.max_depth() + 1
        assert c[0].name() == 'entity.n.01'


def test_ties_go_to_the_smallest_wnid(wn):
    ties = 0
    for w in imagenet_wnids():
        for s in chain(synset_of(w, wn))[1:]:
            hypernyms = s.hypernyms() + s.instance_hypernyms()
            deepest = [h for h in hypernyms if h.max_depth() == max(x.max_depth() for x in hypernyms)]
            assert wordnet_parent(s) == min(deepest, key=lambda h: h.offset())
            ties += len(deepest) > 1
    assert ties > 0   # the rule is exercised, not vacuous


def test_shipped_tree_is_a_fresh_build(fresh):
    shipped = (Path(W.__file__).parent / 'data' / 'imagenet1k_wordnet.nhx').read_text()
    assert shipped == wordnet_tree_text(fresh) + '\n'


@pytest.mark.parametrize('seed,size', [(0, 2), (1, 7), (2, 60), (3, 400)])
def test_pruned_shipped_tree_is_a_fresh_build(wn, seed, size):
    wnids = sorted(np.random.default_rng(seed).choice(imagenet_wnids(), size, replace=False).tolist())
    assert wordnet_tree_text(imagenet_wordnet_tree(wnids)) == wordnet_tree_text(wordnet_tree(wnids, wordnet=wn))


def test_tree_shape(wn, fresh):
    assert sorted(fresh.get_leaf_names()) == imagenet_wnids()
    names = [n.name for n in fresh.traverse()]
    assert len(names) == len(set(names))
    for node in fresh.traverse():
        assert node.is_leaf() or len(node.children) >= 2
        assert node.depth == synset_of(node.name, wn).max_depth() and node.synset == synset_of(node.name, wn).name()
        if node.up is not None: assert node.depth > node.up.depth


def test_subtree_sizes_follow_the_longest_path_rule(wn):
    tree = imagenet_wordnet_tree()
    synsets = [synset_of(w, wn) for w in imagenet_wnids()]
    for name, size in [('dog.n.01', 118), ('bird.n.01', 59), ('vehicle.n.01', 67), ('domestic_cat.n.01', 5)]:
        assert len(find_synset(tree, name)) == size
        assert sum(wn.synset(name) in chain(s) for s in synsets) == size


def test_lca_matrix_brute_force(wn):
    wnids = imagenet_wnids()[::37]
    D = lca_matrix(wnids)
    chains = [chain(synset_of(w, wn)) for w in wnids]
    for i, a in enumerate(chains):
        for j, b in enumerate(chains):
            common = [x for x, y in zip(a, b) if x == y]
            assert D[i, j] == len(common) - 1


# ---------------------------------------------------------------- comparison and report on 1000 classes

def oracle():
    "A binary tree containing every WordNet cluster: average linkage of an ultrametric from the LCA depths."
    D = lca_matrix()
    distance = (D.max() + 1 - D).astype(float)
    np.fill_diagonal(distance, 0)
    return from_linkage(linkage(squareform(distance), 'average'))


def test_an_oracle_agrees_with_wordnet():
    h = oracle()
    scores = compare_to_wordnet(h)['wordnet']
    assert scores['clade_recall'] == 1. and scores['robinson_foulds'] == pytest.approx(scores['rf_floor'])
    assert len(bias_report(h)) == 0


def test_a_planted_bias_is_reported_first():
    h = oracle()
    names = imagenet_class_names()
    bobsled, husky = names.index('bobsled'), names.index('Siberian husky')
    swap = np.arange(1000)
    swap[[bobsled, husky]] = [husky, bobsled]       # the bobsled takes the husky's place in the tree
    biased = Hierarchy([(tuple(swap[list(g)]), tuple(swap[list(p)])) for g, p in h.merges], 1000)
    report = bias_report(biased, top=5)
    first = report[1]
    assert 'bobsled' in first['joins'] and first['l2h_classes'] == 2 and first['wordnet'] == 'whole.n.02'
    assert compare_to_wordnet(biased)['wordnet']['clade_recall'] < 1.


# ---------------------------------------------------------------- access and its errors

def test_lexnames_numbering():
    lines = [l.split('\t') for l in lexnames_text().splitlines()]
    assert [int(n) for n, _, _ in lines] == list(range(45))
    assert {name.split('.')[0]: int(cat) for _, name, cat in lines} == dict(noun=1, verb=2, adj=3, adv=4)
    man = Path('/usr/share/man/man5/lexnames.5WN.gz')
    if not man.is_file(): pytest.skip('no lexnames(5WN) man page to compare with')
    documented = re.findall(r'^(\d\d)\t(\S+)\s*\t', gzip.decompress(man.read_bytes()).decode('latin-1'), re.M)
    assert [(f'{int(n):02d}', name) for n, name, _ in lines] == documented


def no_wordnet_anywhere(monkeypatch, tmp_path):
    "Make every place load_wordnet looks empty, nltk's own data included."
    from nltk.corpus.reader.wordnet import WordNetCorpusReader
    from nltk.corpus.util import LazyCorpusLoader
    for var in ('L2H_WORDNET', 'WNSEARCHDIR'): monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('NLTK_DATA', str(tmp_path))
    monkeypatch.setattr(nltk.data, 'path', [str(tmp_path)])
    monkeypatch.setattr(nltk.corpus, 'wordnet', LazyCorpusLoader('wordnet', WordNetCorpusReader, None))
    monkeypatch.setattr(S, '_SYSTEM_WORDNET_DIRS', (str(tmp_path / 'usr-share-wordnet'),))


def test_missing_wordnet_says_both_ways(monkeypatch, tmp_path):
    no_wordnet_anywhere(monkeypatch, tmp_path)
    with pytest.raises(LookupError) as e: load_wordnet()
    message = str(e.value)
    assert "nltk.download('wordnet')" in message and 'apt-get install wordnet-base wordnet-sense-index' in message
    assert 'L2H_WORDNET' in message and str(tmp_path / 'usr-share-wordnet') in message
    with pytest.raises(LookupError): wordnet_tree(imagenet_wnids()[:3])


def test_shipped_tree_needs_no_wordnet(monkeypatch, tmp_path):
    no_wordnet_anywhere(monkeypatch, tmp_path)
    assert len(find_synset(imagenet_wordnet_tree(), 'dog.n.01')) == 118
    assert compare_to_wordnet(oracle())['wordnet']['clade_recall'] == 1.


def test_l2h_wordnet_naming_an_empty_folder(monkeypatch, tmp_path):
    monkeypatch.setenv('L2H_WORDNET', str(tmp_path))
    with pytest.raises(LookupError, match=f"no WordNet database .* in {re.escape(str(tmp_path))}"): load_wordnet()


def test_without_nltk(monkeypatch):
    monkeypatch.setitem(sys.modules, 'nltk', None)
    with pytest.raises(ImportError, match='pip install nltk'): load_wordnet()


def test_other_wordnet_versions_are_refused():
    with pytest.raises(ValueError, match='version 3.1'): S._checked(types.SimpleNamespace(get_version=lambda: '3.1'), 'x')


def test_debian_layout_is_copied_once_with_lexnames(tmp_path):
    source = S._dict_dir('/usr/share/wordnet')
    if source is None or (source / 'lexnames').exists(): pytest.skip("no Debian WordNet (a dict folder without lexnames)")
    root = S._copy_with_lexnames(source, tmp_path)
    assert S._copy_with_lexnames(source, tmp_path) == root
    corpus = root / 'corpora' / 'wordnet'
    assert (corpus / 'lexnames').read_text() == lexnames_text()
    assert (corpus / 'data.noun').stat().st_size == (source / 'data.noun').stat().st_size
    assert all(not f.stat().st_mode & 0o022 for f in corpus.iterdir())   # nltk reads no file others could write
    assert [p.name for p in tmp_path.iterdir()] == [root.name]              # no half-built copy left behind


@pytest.mark.filterwarnings('ignore:The multilingual functions')   # the stand-in loader below has no OMW
def test_nltk_download_layout_is_found(monkeypatch, tmp_path):
    "What nltk.download('wordnet') leaves — <root>/corpora/wordnet with lexnames — found through nltk's own search path."
    source = S._dict_dir('/usr/share/wordnet')
    if source is None: pytest.skip('no WordNet 3.0 files to lay out as nltk.download would')
    root = S._copy_with_lexnames(source, tmp_path)
    no_wordnet_anywhere(monkeypatch, tmp_path / 'empty')
    monkeypatch.setattr(nltk.data, 'path', [str(root)])
    wn = load_wordnet()
    assert wn is nltk.corpus.wordnet and wn.get_version() == '3.0'
    assert wn.synset('dog.n.01').offset() == 2084071


def test_bad_wnids(wn):
    with pytest.raises(ValueError, match="got 'dog.n.01'"): synset_of('dog.n.01', wn)
    with pytest.raises(ValueError, match='not a WordNet 3.0 noun synset'): synset_of('n00000001', wn)
    with pytest.raises(ValueError, match='not ImageNet-1k classes'): imagenet_wordnet_tree(['n02084071'])
