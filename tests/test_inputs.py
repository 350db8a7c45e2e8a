"What the library refuses at its edges, in one clear line: logits and features it cannot read, devices that are not there."
import numpy as np
import pytest
import torch

from l2h.core import as_device, as_logits, logits_to_hierarchy
from l2h.flat import kmeans

L = np.random.default_rng(0).normal(size=(30, 4))


@pytest.mark.filterwarnings('ignore:Sparse CSR tensor support is in beta')
@pytest.mark.parametrize('make', [lambda t: t.to_sparse(), lambda t: t.to_sparse_csr()], ids=['coo', 'csr'])
def test_sparse_tensors_are_refused(make):
    with pytest.raises(TypeError, match=r'logits must be a dense tensor, got torch\.sparse_c.. layout: call \.to_dense\(\)'):
        logits_to_hierarchy(make(torch.tensor(L)))


def test_meta_tensors_are_refused():
    with pytest.raises(ValueError, match='logits are on the meta device, which holds shapes but no values'):
        logits_to_hierarchy(torch.zeros(30, 4, device='meta'))


def test_masked_arrays_keep_their_mask_or_are_refused():
    masked = np.ma.masked_array(L, mask=np.zeros_like(L, bool))
    assert logits_to_hierarchy(masked) == logits_to_hierarchy(L)  # nothing masked: the values are the logits
    masked[3, 1] = np.ma.masked
    masked[7, 2] = np.ma.masked
    with pytest.raises(ValueError, match=r'logits are a masked array with 2 masked values \(first in row 3\): fill them'):
        logits_to_hierarchy(masked)


def test_features_get_the_same_checks_in_their_words():
    with pytest.raises(TypeError, match='features must be floating point'):
        kmeans(np.arange(60).reshape(30, 2), 2)
    with pytest.raises(ValueError, match='features are a masked array'):
        kmeans(np.ma.masked_array(L, mask=L > 2), 2)
    with pytest.raises(TypeError, match='features must be a dense tensor'):
        kmeans(torch.tensor(L).to_sparse(), 2)


def test_devices_are_checked_before_any_work():
    assert as_device('cpu') == torch.device('cpu') and as_device(torch.device('cpu')) == torch.device('cpu')
    for bogus in ('bogus', 'cuda:x', 'gpu'):
        with pytest.raises(ValueError, match=f"device '{bogus}' is not a torch device \\(cpu, cuda, cuda:1, mps, …\\)"):
            logits_to_hierarchy(L, device=bogus)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda' is not available here: torch sees no CUDA GPU"):
            logits_to_hierarchy(L, device='cuda')
    with pytest.raises(ValueError, match=f"device 'cuda:{torch.cuda.device_count()}' is not available here"):
        as_device(f'cuda:{torch.cuda.device_count()}')
    with pytest.raises(ValueError, match="device 'meta' holds no values: compute on cpu or a GPU"):
        as_device('meta')
