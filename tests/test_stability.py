"""Bootstrap support: what it is (the share of resampled trees with each clade, resamples as repeated rows), that it is
deterministic, shares its first pass on either backend, and behaves as support should on planted and structureless logits."""
import numpy as np
import pytest

from l2h.core import l2h_reference, logits_to_hierarchy, prepare_logits
from l2h.hierarchy import Hierarchy, load
from l2h.newick import parse_newick
from l2h.stability import bootstrap_support, replicate_weights
from logit_sets import tree_logits

pytestmark = pytest.mark.filterwarnings('ignore::l2h.core.EmptyClusterWarning')


def support_by_definition(L, h, n_boot, seed=0, base=None):
    "Each replicate as the logits with every row repeated as often as it was drawn, its tree from the plain reference."
    wanted, hits = h.clades(), np.zeros(h.n_clusters - 1)
    for b in range(n_boot):
        w = replicate_weights(len(L), b, seed) * (1 if base is None else base)
        if not w.any(): continue
        found = set(l2h_reference(np.repeat(L, w.astype(int), axis=0)).clades())
        hits += [clade in found for clade in wanted]
    return hits / n_boot


@pytest.mark.parametrize('seed', range(6))
def test_support_is_the_share_of_resampled_trees_with_the_clade(seed):
    rng = np.random.default_rng(seed)
    L = tree_logits(rng, int(rng.integers(20, 150)), int(rng.integers(3, 14)), noise=2.)
    h = logits_to_hierarchy(L)
    np.testing.assert_array_equal(bootstrap_support(L, h, n_boot=8, seed=seed), support_by_definition(L, h, 8, seed))


def test_sample_weights_multiply_the_replicates():
    rng = np.random.default_rng(7)
    L = tree_logits(rng, 120, 8, noise=2.)
    base = rng.integers(0, 3, len(L))
    h = logits_to_hierarchy(L, sample_weight=base)
    np.testing.assert_array_equal(bootstrap_support(L, h, n_boot=6, sample_weight=base),
                                  support_by_definition(L, h, 6, base=base))
    assert np.array_equal(bootstrap_support(L, h, n_boot=4, sample_weight=np.ones(len(L))), bootstrap_support(L, h, n_boot=4))


def test_deterministic_per_seed_and_the_root_is_always_supported():
    L = tree_logits(np.random.default_rng(8), 400, 15, noise=3.)
    h = logits_to_hierarchy(L)
    a, b = bootstrap_support(L, h, n_boot=10, seed=1), bootstrap_support(L, h, n_boot=10, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, bootstrap_support(L, h, n_boot=10, seed=2))
    assert a[-1] == 1 and a.shape == (14,) and ((a >= 0) & (a <= 1)).all()
    # replicate b does not depend on n_boot: 10 replicates are the first 10 of 20
    assert (bootstrap_support(L, h, n_boot=20, seed=1) * 20 >= a * 10).all()


def test_a_shared_first_pass_on_either_backend():
    L = tree_logits(np.random.default_rng(9), 3000, 30, noise=2.).astype(np.float32)
    h = logits_to_hierarchy(L)
    expected = bootstrap_support(L, h, n_boot=6)
    for backend in ('compiled', 'torch'):
        try: prepared = prepare_logits(L, backend=backend)
        except ValueError: continue  # no C compiler here
        np.testing.assert_array_equal(bootstrap_support(prepared, h, n_boot=6), expected)
        assert logits_to_hierarchy(prepared) == h  # the replicates left the shared state as it was


def test_planted_clades_are_supported_and_noise_is_not():
    rng = np.random.default_rng(10)
    K, per_family = 24, 4
    family = np.arange(K) // per_family
    y = rng.integers(0, K, 3000)
    L = 3 * np.eye(K)[y] + 2 * (family[y][:, None] == family[None, :]) + rng.normal(size=(3000, K))
    h = logits_to_hierarchy(L)
    s = bootstrap_support(L, h, n_boot=20)
    families = {frozenset(np.flatnonzero(family == f)) for f in range(K // per_family)}
    planted = [s[t] for t, clade in enumerate(h.clades()) if clade in families]
    assert len(planted) == len(families) and min(planted) >= 0.9
    noise = rng.normal(size=(3000, K))
    assert np.median(bootstrap_support(noise, logits_to_hierarchy(noise), n_boot=20)) < 0.3


def test_support_grows_with_n():
    rng = np.random.default_rng(11)
    K, means = 12, []
    family = np.arange(K) // 3
    families = {frozenset(np.flatnonzero(family == f)) for f in range(4)}
    for n in (60, 2000):
        y = rng.integers(0, K, n)
        L = 1.5 * np.eye(K)[y] + 1. * (family[y][:, None] == family[None, :]) + rng.normal(size=(n, K))
        h = logits_to_hierarchy(L)
        s = bootstrap_support(L, h, n_boot=20)
        means.append(sum(s[t] for t, clade in enumerate(h.clades()) if clade in families) / len(families))
    assert means[1] > means[0] + 0.2 and means[1] >= 0.9, means


@pytest.mark.parametrize('kwargs,message', [
    (dict(n_boot=0), 'n_boot must be a whole number of replicates ≥ 1, got 0'),
    (dict(n_boot=2.5), 'got 2.5'),
    (dict(n_boot=True), 'got True'),
    (dict(sample_weight=[1., 2.]), 'one weight per sample'),
])
def test_bad_arguments(kwargs, message):
    L = tree_logits(np.random.default_rng(0), 50, 5)
    with pytest.raises(ValueError, match=None) as e: bootstrap_support(L, logits_to_hierarchy(L), **kwargs)
    assert message in str(e.value)
    with pytest.raises(ValueError, match="the logits' 5 clusters, got a hierarchy over 4"):
        bootstrap_support(L, logits_to_hierarchy(L[:, :4]))


def test_support_survives_save_load_and_newick(tmp_path):
    L = tree_logits(np.random.default_rng(12), 300, 9, noise=2.)
    h = logits_to_hierarchy(L)
    h.support = bootstrap_support(L, h, n_boot=10)
    h.save(tmp_path / 'merges.json')
    np.testing.assert_array_equal(load(tmp_path / 'merges.json').support, h.support)
    tree = parse_newick(h.to_newick())
    labels = [tree.name[v] for v in range(len(tree.name)) if tree.children()[v]]
    assert sorted(map(float, labels)) == sorted(float(f'{s:.3g}') for s in h.support)
    with pytest.raises(ValueError, match='between 0 and 1'): h.support = h.support + 1
    assert Hierarchy(h.merges).support is None


def test_cli_build_with_bootstrap(tmp_path, capsys):
    from l2h.cli import main
    np.save(tmp_path / 'logits.npy', tree_logits(np.random.default_rng(13), 400, 7, noise=2.).astype(np.float32))
    assert main(['build', str(tmp_path / 'logits.npy'), '--bootstrap', '8', '--out', str(tmp_path / 'out')]) == 0
    said = capsys.readouterr().out
    assert 'bootstrap: 8 replicates' in said and 'of 5 clades below the root' in said and 'support ≥ 0.95' in said
    h = load(tmp_path / 'out' / 'merges.json')
    np.testing.assert_array_equal(h.support, bootstrap_support(np.load(tmp_path / 'logits.npy'), h, n_boot=8))
    assert main(['build', str(tmp_path / 'logits.npy'), '--bootstrap', '-1', '--out', str(tmp_path / 'bad')]) == 2
    assert 'n_boot must be a whole number' in capsys.readouterr().err
