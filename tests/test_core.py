"The fast L2H against the plain reference on hundreds of logit sets, its inputs, and its refusals."
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

import l2h.core as core
from l2h.core import CompiledBackend, TorchBackend, l2h_reference, logits_to_hierarchy, SCORES
from l2h.hierarchy import Hierarchy
import l2h.kernels as core_kernels
from l2h.kernels import cpu_kernels
from logit_sets import class_structured_logits, logit_sets, tree_logits

pytestmark = pytest.mark.filterwarnings('ignore:.*no sample assigned')
SETS = logit_sets()


@pytest.mark.parametrize('name,L', SETS, ids=[n for n, _ in SETS])
def test_fast_equals_reference(name, L):
    assert logits_to_hierarchy(L) == l2h_reference(L)


COMPILED = pytest.param('compiled', id='compiled', marks=pytest.mark.skipif(cpu_kernels() is None, reason='no C compiler'))
PATHS = [COMPILED, pytest.param('torch', id='torch')]


def backend(path: str, gather_max: int | None = None):
    "A fresh backend of the path named (compiled loops or torch), where every group of samples is updated in place first."
    if path == 'compiled': return CompiledBackend(cpu_kernels(), gather_max)  # None: its own price of a re-read
    return TorchBackend(64 if gather_max is None else gather_max, keep_min_rows=0)  # by default, torch re-reads small groups whole


@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('name,L', SETS, ids=[n for n, _ in SETS])
def test_fast_equals_reference_when_every_group_is_kept(name, L, path):
    "Small groups of samples are re-read whole by default; here every group goes through the in-place update first."
    assert logits_to_hierarchy(L, backend=backend(path)) == l2h_reference(L)


@pytest.mark.parametrize('name,L', SETS, ids=[n for n, _ in SETS])
def test_torch_path_equals_reference(name, L):
    assert logits_to_hierarchy(L, backend='torch') == l2h_reference(L)


@pytest.mark.parametrize('score', ['sum', 'mean'])
@pytest.mark.parametrize('name,L', SETS[::7], ids=[n for n, _ in SETS[::7]])
def test_other_scores_equal_reference(name, L, score):
    assert logits_to_hierarchy(L, score=score) == l2h_reference(L, score=score)


def test_statistics_match_reference():
    L = tree_logits(np.random.default_rng(3), 400, 15)
    fast, ref = logits_to_hierarchy(L), l2h_reference(L)
    np.testing.assert_array_equal(fast.counts, ref.counts)
    np.testing.assert_allclose(fast.cluster_scores, ref.cluster_scores, rtol=1e-12)
    np.testing.assert_allclose(fast.merge_scores, ref.merge_scores, rtol=1e-12)
    np.testing.assert_allclose(fast.merge_affinities, ref.merge_affinities, rtol=1e-9)


def test_small_chunks_give_the_same_merges():
    "Every chunked loop of the torch path, run with chunks of 7 rows, must not change a merge."
    for name, L in SETS[::5]:
        assert logits_to_hierarchy(L, backend=TorchBackend(chunk_bytes=7 * L.shape[1] * L.itemsize)) == l2h_reference(L), name


@pytest.mark.parametrize('gather_max,keep_above', [
    (0, None),                                     # every visit re-reads whole rows
    (10 ** 9, None),                               # every sample whose c' stays outside is updated in place
    (10 ** 9, {torch.float64: 1 - 1e-12, torch.float32: 1 - 1e-6}),  # in place, but any shrink of S sends it back
], ids=['reread-all', 'gather-any-width', 'keep-nothing-that-shrank'])
@pytest.mark.parametrize('path', PATHS)
def test_each_way_of_updating_p_gives_the_same_merges(monkeypatch, gather_max, keep_above, path):
    "Whole-row re-reads and in-place updates of S(x) must each give the reference's merges and affinities."
    if keep_above: monkeypatch.setattr(core, '_KEEP_ABOVE', keep_above)
    for name, L in SETS[::3]:
        fast, ref = logits_to_hierarchy(L, backend=backend(path, gather_max)), l2h_reference(L)
        assert fast == ref, name
        np.testing.assert_allclose(fast.merge_affinities, ref.merge_affinities, rtol=1e-9, err_msg=name)


@pytest.mark.parametrize('path', PATHS)
def test_in_place_updates_are_used_and_exact(path):
    "On ImageNet-like logits most visits update S(x) in place; the affinities still match the reference to 1e-11."
    L = class_structured_logits(5000, 100).astype(np.float64)
    engine = backend(path)
    reread, original = [], engine.reread
    engine.reread = lambda L_, rows, *args: (reread.append(len(rows)), original(L_, rows, *args))
    fast, ref = logits_to_hierarchy(L, backend=engine), l2h_reference(L)
    assert fast == ref
    np.testing.assert_allclose(fast.merge_affinities, ref.merge_affinities, rtol=1e-11)
    visited = sum(fast.counts[list(group)].sum() for group, _ in fast.merges if len(group) > 1)
    most = 0.05 if path == 'compiled' else 0.5  # the compiled loops also find a c' that joined G* without a re-read
    assert sum(reread) < most * visited, (sum(reread), visited)


@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('path', PATHS)
def test_float32_and_float16_inputs(seed, path):
    L = tree_logits(np.random.default_rng(seed), 2000, 40).astype(np.float32)
    ref = l2h_reference(L.astype(np.float64))
    assert logits_to_hierarchy(L, backend=path) == ref
    assert logits_to_hierarchy(torch.from_numpy(L), backend=path) == ref
    half = L.astype(np.float16)
    assert logits_to_hierarchy(half) == l2h_reference(half.astype(np.float64))
    brain = torch.from_numpy(L).to(torch.bfloat16)
    assert logits_to_hierarchy(brain) == l2h_reference(brain)


def test_memmap_and_noncontiguous_inputs(tmp_path):
    L = tree_logits(np.random.default_rng(1), 500, 20)
    ref = l2h_reference(L)
    np.save(tmp_path / 'L.npy', L)
    assert logits_to_hierarchy(np.load(tmp_path / 'L.npy', mmap_mode='r')) == ref
    assert logits_to_hierarchy(np.asfortranarray(L)) == ref
    assert logits_to_hierarchy(np.ascontiguousarray(L[::-1])[::-1]) == ref
    assert logits_to_hierarchy(L.tolist()) == ref
    assert logits_to_hierarchy(torch.from_numpy(L), device='cpu') == ref


def test_input_is_not_modified():
    L = tree_logits(np.random.default_rng(2), 300, 10)
    before = L.copy()
    logits_to_hierarchy(L)
    np.testing.assert_array_equal(L, before)


def test_rows_in_any_order_give_the_same_tree():
    rng = np.random.default_rng(4)
    L = tree_logits(rng, 800, 25)
    assert logits_to_hierarchy(L[rng.permutation(len(L))]) == logits_to_hierarchy(L)


@settings(max_examples=150, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 25), st.integers(2, 7)), elements=st.integers(-3, 3).map(float)))
def test_property_integer_logits_with_many_ties(L):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert logits_to_hierarchy(L) == l2h_reference(L)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(2, 9)),
              elements=st.floats(-30, 30, allow_nan=False, allow_infinity=False)),
       st.sampled_from(SCORES))
def test_property_tree_follows_the_definition(L, score):
    "Each merge's group is a lowest-score group; the record is a valid tree; counts add up to N."
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        h = logits_to_hierarchy(L, score=score)
    N, K = L.shape
    assert h.counts.sum() == N and len(h.merges) == K - 1
    assert sorted(h.merges[-1][0] + h.merges[-1][1]) == list(range(K))
    np.testing.assert_array_less(np.diff(h.merge_scores) * 0, 1)  # finite
    assert Hierarchy(h.merges, K) == h
    assert h == l2h_reference(L, score=score)


@pytest.mark.parametrize('bad,message', [
    (np.zeros(5), '2-D (N samples x K clusters), got shape (5,)'),
    (np.zeros((2, 3, 4)), 'got shape (2, 3, 4)'),
    (np.zeros((0, 4)), 'N = 0'),
    (np.zeros((4, 1)), 'K = 1'),
    (np.zeros((4, 0)), 'K = 0'),
])
def test_bad_shapes(bad, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(')', r'\)')):
        logits_to_hierarchy(bad)


@pytest.mark.parametrize('bad', [np.zeros((3, 3), int), np.zeros((3, 3), bool), np.zeros((3, 3), complex),
                                 np.array([['a', 'b']]), torch.zeros(3, 3, dtype=torch.int64)])
def test_non_float_dtypes(bad):
    with pytest.raises(TypeError, match='floating point'):
        logits_to_hierarchy(bad)



@pytest.mark.skipif(cpu_kernels() is None, reason='no C compiler')
@pytest.mark.parametrize('permute', [False, True], ids=['families-side-by-side', 'columns-shuffled'])
def test_shrinks_by_runs_and_by_gathers_give_the_reference(monkeypatch, permute):
    "Joined clusters side by side are read as runs of columns, scattered ones gathered: both give the reference's merges."
    L = class_structured_logits(3000, 200, seed=2).astype(np.float64)
    if permute: L = np.ascontiguousarray(L[:, np.random.default_rng(0).permutation(200)])
    seen, split = [], core_kernels.split_runs
    monkeypatch.setattr(core_kernels, 'split_runs', lambda cols: seen.append(split(cols)) or seen[-1])
    fast, ref = logits_to_hierarchy(L, backend=CompiledBackend(cpu_kernels())), l2h_reference(L)
    assert fast == ref
    np.testing.assert_allclose(fast.merge_affinities, ref.merge_affinities, rtol=1e-11)
    longest = max(int(length.max(initial=0)) for _, _, length in seen)
    assert (longest >= 16) != permute, longest  # families in neighbouring columns give long runs; shuffled, none

@pytest.mark.parametrize('value,kind', [(np.nan, 'NaN'), (np.inf, r'\+inf'), (-np.inf, '-inf')])
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_non_finite_values_are_named_with_their_row(value, kind, dtype):
    L = np.random.default_rng(0).normal(size=(50, 4)).astype(dtype)
    L[37, 2] = value
    with pytest.raises(ValueError, match=f'{kind} \\(first in row 37\\)'):
        logits_to_hierarchy(L)


def test_unknown_score():
    with pytest.raises(ValueError, match="score must be one of sum_of_means, sum, mean; got 'max'"):
        logits_to_hierarchy(np.zeros((3, 3)), score='max')


def test_empty_clusters_are_named_in_a_warning():
    L = np.random.default_rng(0).normal(size=(30, 6))
    L[:, [1, 4]] -= 100
    with pytest.warns(UserWarning, match='2 of 6 clusters have no sample assigned.*: 1, 4'):
        h = logits_to_hierarchy(L)
    assert {h.merges[0][0], h.merges[0][1]} >= {(1,)} and h.counts[[1, 4]].tolist() == [0, 0]


def test_hierarchy_validation():
    with pytest.raises(ValueError, match='not one of the groups present after 1 merges'):
        Hierarchy([((0,), (1,)), ((0,), (2,))])
    with pytest.raises(ValueError, match='not one of the groups'):
        Hierarchy([((0,), (1,)), ((0, 0), (2,))])
    with pytest.raises(TypeError, match='sequence of cluster ids'):
        Hierarchy([((0,), 'ab')])
    with pytest.raises(ValueError, match='counts must have one entry per cluster'):
        Hierarchy([((0,), (1,))], counts=[1, 2, 3])
