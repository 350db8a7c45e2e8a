"""Sample weights in L2H: integer weights are repeated rows (weight 0: an absent row), on both backends and the reference;
weights are checked; builds from one prepared first pass do not disturb each other."""
import numpy as np
import pytest
import torch

from l2h.core import (CompiledBackend, EmptyClusterWarning, PreparedLogits, TorchBackend, l2h_reference,
                      logits_to_hierarchy, prepare_logits, SCORES)
from l2h.kernels import cpu_kernels
from logit_sets import logit_sets, tree_logits

pytestmark = pytest.mark.filterwarnings('ignore::l2h.core.EmptyClusterWarning')
COMPILED = pytest.param('compiled', id='compiled', marks=pytest.mark.skipif(cpu_kernels() is None, reason='no C compiler'))
PATHS = [COMPILED, pytest.param('torch', id='torch')]  # torch updating every group in place: its weighted sums too


def backend(path: str):
    if path == 'compiled': return CompiledBackend(cpu_kernels())
    return TorchBackend(keep_min_rows=0)


def weighted_cases(seed: int, n_cases: int):
    "(name, logits, integer weights with many 0s and some large) from the structured sets and random trees."
    rng = np.random.default_rng(seed)
    sets = logit_sets(seed)[::6] + [(f'tree-{i}', tree_logits(rng, int(rng.integers(20, 400)), int(rng.integers(2, 30))))
                                    for i in range(n_cases)]
    for name, L in sets:
        w = rng.choice([0, 1, 2, 3, 7], size=len(L), p=[0.3, 0.3, 0.2, 0.1, 0.1])
        if not w.any(): w[0] = 1
        yield name, L, w


CASES = list(weighted_cases(0, 25))


@pytest.mark.parametrize('path', PATHS)
def test_integer_weights_are_repeated_rows(path):
    "The fast builds, weighted, give exactly the merges of the logits with each row repeated w times."
    for name, L, w in CASES if path == 'compiled' else CASES[::2]:  # torch pays a per-call cost: half the cases
        repeated = np.repeat(L, w, axis=0)
        expected = l2h_reference(repeated)
        got = logits_to_hierarchy(L, sample_weight=w, backend=backend(path))
        assert got == expected, name
        assert got == logits_to_hierarchy(repeated, backend=backend(path)), name
        np.testing.assert_array_equal(got.counts, expected.counts, err_msg=name)
        np.testing.assert_allclose(got.merge_scores, expected.merge_scores, rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(got.merge_affinities, expected.merge_affinities, rtol=1e-9, err_msg=name)


def test_reference_with_weights_is_repeated_rows():
    for name, L, w in CASES:
        assert l2h_reference(L, sample_weight=w) == l2h_reference(np.repeat(L, w, axis=0)), name


@pytest.mark.parametrize('score', ['sum', 'mean'])
def test_other_scores_with_weights(score):
    for name, L, w in CASES[::3]:
        expected = l2h_reference(np.repeat(L, w, axis=0), score=score)
        assert logits_to_hierarchy(L, sample_weight=w, score=score) == expected, name
        assert l2h_reference(L, sample_weight=w, score=score) == expected, name


@pytest.mark.parametrize('path', PATHS)
def test_float32_logits_with_weights(path):
    rng = np.random.default_rng(5)
    for seed in range(3):
        L = tree_logits(rng, 1500, 30).astype(np.float32)
        w = rng.poisson(1., len(L))
        assert logits_to_hierarchy(L, sample_weight=w, backend=backend(path)) == \
            logits_to_hierarchy(np.repeat(L, w, axis=0), backend=backend(path))


def test_real_weights_follow_the_reference():
    "Fractional weights: the fast build (both backends) equals the weighted reference, for every score."
    rng = np.random.default_rng(6)
    for i in range(15):
        L = tree_logits(rng, int(rng.integers(30, 300)), int(rng.integers(3, 25)))
        w = rng.exponential(size=len(L)) * (rng.random(len(L)) > 0.2)
        w[0] = 0.5
        for score in SCORES:
            ref = l2h_reference(L, score=score, sample_weight=w)
            assert logits_to_hierarchy(L, score=score, sample_weight=w) == ref, (i, score)
            assert logits_to_hierarchy(L, score=score, sample_weight=w, backend='torch') == ref, (i, score)
            assert ref.counts is None  # weighted counts with fractions do not fit the integer counts


def test_scaling_all_weights_keeps_the_means():
    "sum_of_means and mean use weighted means, so one factor on every weight changes no merge."
    L = tree_logits(np.random.default_rng(7), 500, 20)
    w = np.random.default_rng(8).poisson(2., len(L))
    for score in ('sum_of_means', 'mean'):
        assert logits_to_hierarchy(L, sample_weight=w * 0.37, score=score) == logits_to_hierarchy(L, sample_weight=w, score=score)


def test_weight_zero_empties_a_cluster_with_a_warning():
    L = tree_logits(np.random.default_rng(9), 200, 8)
    a = L.argmax(1)
    w = np.where(a == 3, 0., 1.)
    with pytest.warns(EmptyClusterWarning, match='1 of 8 clusters .* or only for samples of weight 0'):
        h = logits_to_hierarchy(L, sample_weight=w)
    assert h.merges[0][0] == (3,)
    assert h == logits_to_hierarchy(L[a != 3]) == l2h_reference(L, sample_weight=w)


@pytest.mark.parametrize('bad,message', [
    ([1., -1., 1.], 'finite and ≥ 0, got -1.0 at 1'),
    ([1., np.nan, 1.], 'got nan at 1'),
    ([1., 1., np.inf], 'got inf at 2'),
    ([1., 1.], 'shape (3,), got shape (2,)'),
    (np.ones((3, 1)), 'got shape (3, 1)'),
    ([0., 0., 0.], '0 for every sample'),
])
def test_bad_weights_are_refused(bad, message):
    L = np.random.default_rng(0).normal(size=(3, 4))
    for build in (logits_to_hierarchy, l2h_reference):
        with pytest.raises(ValueError) as e: build(L, sample_weight=bad)
        assert message in str(e.value) and '\n' not in str(e.value)


def test_weights_as_a_tensor():
    L = tree_logits(np.random.default_rng(10), 300, 10)
    w = np.random.default_rng(11).poisson(1., len(L))
    assert logits_to_hierarchy(L, sample_weight=torch.from_numpy(w)) == logits_to_hierarchy(L, sample_weight=w)


@pytest.mark.parametrize('path', PATHS)
def test_builds_from_one_preparation_do_not_disturb_each_other(path):
    L = tree_logits(np.random.default_rng(12), 3000, 40)
    prepared = prepare_logits(L, backend=backend(path))
    assert isinstance(prepared, PreparedLogits) and prepared.shape == (3000, 40)
    before = [t.clone() for t in prepared.stats]
    rng = np.random.default_rng(13)
    weights = [rng.poisson(1., len(L)) for _ in range(4)]
    fresh = [logits_to_hierarchy(L, sample_weight=w, backend=backend(path)) for w in weights]
    shared = [logits_to_hierarchy(prepared, sample_weight=w) for w in weights]
    assert shared == fresh
    assert logits_to_hierarchy(prepared) == l2h_reference(L)
    for a, b in zip(before, prepared.stats): assert torch.equal(a, b)


def test_prepared_logits_fix_device_and_backend():
    prepared = prepare_logits(np.random.default_rng(0).normal(size=(5, 3)))
    with pytest.raises(ValueError, match='pass them to prepare_logits'): logits_to_hierarchy(prepared, device='cpu')
