"The compiled CPU loops: same answers as the torch path, and L2H still runs where they cannot be built."
import numpy as np
import pytest
import torch

import l2h.core as core
import l2h.kernels as kernels
from l2h.core import CompiledBackend, TorchBackend, l2h_reference, logits_to_hierarchy
from logit_sets import class_structured_logits, tree_logits

pytestmark = pytest.mark.skipif(kernels.cpu_kernels() is None, reason='no C compiler')


@pytest.fixture
def fresh_build(monkeypatch, tmp_path):
    "An empty cache, and `cpu_kernels` forgets what it built, so that the next call compiles (or fails to)."
    monkeypatch.setenv('L2H_CACHE', str(tmp_path))
    kernels.cpu_kernels.cache_clear()
    yield tmp_path
    kernels.cpu_kernels.cache_clear()


@pytest.mark.parametrize('dtype,rtol', [(np.float32, 1e-6), (np.float64, 1e-13)])
def test_first_pass_matches_torch(dtype, rtol):
    L = torch.from_numpy(class_structured_logits(3000, 100).astype(dtype))
    stats = []
    for engine in (CompiledBackend(kernels.cpu_kernels()), TorchBackend()):
        engine.prepare(L, L.device, L.dtype)
        stats.append(core._empty_stats(len(L), L.device))
        engine.first_pass(L, stats[-1], False)
    compiled, plain = stats
    for name, a, b in zip(core._RowStats._fields, compiled, plain):
        if a.dtype == torch.int64: assert torch.equal(a, b), name
        else: np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rtol, atol=rtol, err_msg=name)


def test_strided_rows_use_the_kernels_and_other_layouts_do_not():
    L = tree_logits(np.random.default_rng(0), 600, 12)
    cpu = torch.device('cpu')
    assert CompiledBackend.cannot_read(torch.from_numpy(L[::2]), cpu) is None  # a row stride is fine
    assert 'not contiguous' in CompiledBackend.cannot_read(torch.from_numpy(np.asfortranarray(L)), cpu)
    assert 'float16' in CompiledBackend.cannot_read(torch.from_numpy(L).half(), cpu)
    assert logits_to_hierarchy(L[::2], backend='compiled') == l2h_reference(L[::2])
    with pytest.raises(ValueError, match="backend='compiled' cannot run: .* not contiguous"):
        logits_to_hierarchy(np.asfortranarray(L), backend='compiled')


def test_the_library_is_compiled_once_and_cached(fresh_build):
    assert kernels.cpu_kernels() is not None
    built = list(fresh_build.glob('kernels-*.so'))
    assert len(built) == 1 and not list(fresh_build.glob('tmp*'))  # no temporary left behind
    kernels.cpu_kernels.cache_clear()
    mtime = built[0].stat().st_mtime_ns
    assert kernels.cpu_kernels() is not None and built[0].stat().st_mtime_ns == mtime


@pytest.mark.parametrize('setting', [('CC', '/nonexistent/cc'), ('CC', 'false'), ('L2H_KERNELS', '0')])
def test_without_kernels_l2h_runs_on_torch(monkeypatch, fresh_build, setting):
    monkeypatch.setenv(*setting)
    assert kernels.cpu_kernels() is None
    assert not list(fresh_build.glob('*.so'))
    L = tree_logits(np.random.default_rng(1), 400, 15)
    assert logits_to_hierarchy(L) == l2h_reference(L)
    with pytest.raises(ValueError, match="backend='compiled' cannot run: the C loops could not be built"):
        logits_to_hierarchy(L, backend='compiled')
