"The `l2h` command as a user runs it: outputs, summaries, and one clear line with exit status 2 for bad input."
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from l2h.hierarchy import Hierarchy


def l2h(*args, cwd=None):
    return subprocess.run([sys.executable, '-m', 'l2h.cli', *map(str, args)], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope='module')
def logits():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 8, 2000)
    L = rng.normal(size=(2000, 8)) + 4 * np.eye(8)[y] + 2 * np.eye(8)[y ^ 1]  # pairs (0,1), (2,3), ... confused
    return L.astype(np.float32), y


def test_build_writes_every_output_and_reports(tmp_path, logits):
    L, y = logits
    np.save(tmp_path / 'L.npy', L)
    np.save(tmp_path / 'y.npy', y)
    (tmp_path / 'names.txt').write_text('\n'.join(f'class {c}' for c in range(8)) + '\n')
    r = l2h('build', tmp_path / 'L.npy', '--names', tmp_path / 'names.txt', '--labels', tmp_path / 'y.npy',
            '--out', tmp_path / 'out')
    assert r.returncode == 0, r.stderr
    assert 'L2H: 2000 samples × 8 clusters → 7 merges' in r.stdout
    assert 'dendrogram_purity' in r.stdout and 'leaves' in r.stdout
    out = tmp_path / 'out'
    assert sorted(p.name for p in out.iterdir()) == ['dendrogram.png', 'linkage.npy', 'manifest.json', 'merges.json',
                                                     'tree.html', 'tree.nwk']
    h = Hierarchy.load(out / 'merges.json')
    assert h.names[0] == 'class 0' and {frozenset({0, 1}), frozenset({2, 3})} <= set(h.clades())
    np.testing.assert_array_equal(np.load(out / 'linkage.npy'), h.to_linkage())
    assert (out / 'tree.nwk').read_text().startswith('((') and (out / 'dendrogram.png').read_bytes()[:4] == b'\x89PNG'
    page = (out / 'tree.html').read_text()  # the explorer, with each node's majority label and purity from --labels
    assert page.startswith('<!DOCTYPE html>') and '"class 0"' in page and '"purity":' in page


@pytest.mark.parametrize('fmt', ['npz', 'pt', 'pt-dict'])
def test_build_reads_npz_and_torch_files(tmp_path, logits, fmt):
    L, _ = logits
    path = tmp_path / f"L.{fmt.split('-')[0]}"
    if fmt == 'npz': np.savez(path, logits=L)
    elif fmt == 'pt': torch.save(torch.from_numpy(L), path)
    else: torch.save({'logits': torch.from_numpy(L), 'labels': torch.zeros(3)}, path)
    r = l2h('build', path, '--out', tmp_path / 'out')
    assert r.returncode == 0, r.stderr
    assert Hierarchy.load(tmp_path / 'out' / 'merges.json').n_clusters == 8


def bad_inputs(tmp_path, L):
    np.save(tmp_path / 'L.npy', L)
    (tmp_path / 'cut.npy').write_bytes((tmp_path / 'L.npy').read_bytes()[:1000])
    (tmp_path / 'text.npy').write_text('hello')
    np.save(tmp_path / 'one_column.npy', L[:, :1])
    np.save(tmp_path / 'nan.npy', np.where(np.arange(L.size).reshape(L.shape) == 77, np.nan, L))
    (tmp_path / 'names.txt').write_text('a\nb\n')
    np.save(tmp_path / 'y_short.npy', np.zeros(5, int))
    return {
        'missing file': (['build', tmp_path / 'nope.npy'], 'no such file'),
        'truncated': (['build', tmp_path / 'cut.npy'], 'cannot read'),
        'not an array': (['build', tmp_path / 'text.npy'], 'text.npy is not a .npy file'),
        'one column': (['build', tmp_path / 'one_column.npy'], 'at least 2 clusters'),
        'nan': (['build', tmp_path / 'nan.npy'], 'NaN (first in row 9)'),
        'names count': (['build', tmp_path / 'L.npy', '--names', tmp_path / 'names.txt'], 'has 2 names for 8 clusters'),
        'labels count': (['build', tmp_path / 'L.npy', '--labels', tmp_path / 'y_short.npy'], 'has 5 labels for 2000 samples'),
    }


@pytest.mark.parametrize('case', ['missing file', 'truncated', 'not an array', 'one column', 'nan', 'names count',
                                  'labels count'])
def test_bad_input_is_one_line_and_exit_2_and_writes_nothing(tmp_path, logits, case):
    args, message = bad_inputs(tmp_path, logits[0])[case]
    r = l2h(*args, '--out', tmp_path / 'out')
    assert r.returncode == 2
    assert r.stderr.count('\n') == 1 and message in r.stderr and r.stderr.startswith('l2h build: error:')
    assert not (tmp_path / 'out').exists()


def test_usage_errors_exit_2():
    assert l2h('build').returncode == 2
    assert l2h('frobnicate').returncode == 2


def test_bootstrap_refuses_scratch_rather_than_ignoring_it(tmp_path, capsys):
    from l2h.cli import main
    np.save(tmp_path / 'L.npy', np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32))
    assert main(['build', str(tmp_path / 'L.npy'), '--out', str(tmp_path / 'out'), '--bootstrap', '3',
                 '--scratch', str(tmp_path)]) == 2
    assert 'without torchrun and --scratch' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()


def test_demo(tmp_path):
    r = subprocess.run(['l2h', 'demo', '--out', tmp_path / 'demo'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert 'recovered 100% of the planted families' in r.stdout and 'planted level 1' in r.stdout
    # what 0.48 and 0.35 mean, right under them: the best a binary tree can do against a tree that branches 3 ways
    assert 'so 12/25 = 0.48 is the best possible: reached' in r.stdout
    assert 'rf_floor = 0.35 against the planted tree: reached' in r.stdout
    assert (tmp_path / 'demo' / 'dendrogram.png').exists()
    assert '"reference_names":["planted family 0",' in (tmp_path / 'demo' / 'tree.html').read_text()


def test_build_writes_the_dendrogram_as_svg_or_pdf_the_same_bytes_each_time(tmp_path, logits):
    L, _ = logits
    np.save(tmp_path / 'L.npy', L)
    made = {}
    for run, figure in (('a', 'svg'), ('b', 'svg'), ('c', 'pdf')):
        r = l2h('build', tmp_path / 'L.npy', '--out', tmp_path / run, '--figure', figure)
        assert r.returncode == 0, r.stderr
        assert sorted(p.name for p in (tmp_path / run).iterdir()) == \
            [f'dendrogram.{figure}', 'linkage.npy', 'manifest.json', 'merges.json', 'tree.html', 'tree.nwk']
        made[run] = (tmp_path / run / f'dendrogram.{figure}').read_bytes()
    assert made['a'].startswith(b'<?xml') and made['c'].startswith(b'%PDF')
    assert made['a'] == made['b']                       # no creation date, no random ids: slides and diffs stay stable
    assert b'L2H hierarchy of L.npy: 8 clusters' in made['a']   # the title


def test_cluster_then_build(tmp_path):
    "The unsupervised chain: features → k-means logits → hierarchy, with the commands a user types."
    rng = np.random.default_rng(0)
    centres = np.repeat(rng.normal(scale=20, size=(2, 5)), 2, axis=0) + rng.normal(scale=4, size=(4, 5))
    np.save(tmp_path / 'features.npy', (centres[rng.integers(0, 4, 800)] + rng.normal(size=(800, 5))).astype(np.float32))
    r = l2h('cluster', tmp_path / 'features.npy', '--k', 4, '--out', tmp_path / 'logits.npy')
    assert r.returncode == 0, r.stderr
    r = l2h('build', tmp_path / 'logits.npy', '--out', tmp_path / 'tree')
    assert r.returncode == 0, r.stderr
    h = Hierarchy.load(tmp_path / 'tree' / 'merges.json')
    assert len({c for c in h.clades() if len(c) == 2}) == 2  # the two pairs of nearby centres are merged first


def test_extract_refuses_unknown_models_and_missing_folders(tmp_path):
    r = l2h('extract', '--model', 'resnet5', '--data', tmp_path, '--out', tmp_path / 'L.npy')
    assert r.returncode == 2 and 'resnet5' in r.stderr and r.stderr.count('\n') == 1
    r = l2h('extract', '--model', 'resnet18', '--data', tmp_path / 'nowhere', '--out', tmp_path / 'L.npy')
    assert r.returncode == 2 and r.stderr.count('\n') == 1


def files_under(folder):
    "Every path under `folder` with its size: what a failed command must leave as it was."
    return sorted((str(p.relative_to(folder)), p.stat().st_size if p.is_file() else None) for p in folder.rglob('*'))


def assert_refused(r, command, message):
    "Exit status 2, one line on stderr naming the problem, and no report of work done."
    assert r.returncode == 2, r.stderr
    assert r.stderr.endswith('\n') and r.stderr.count('\n') == 1, r.stderr
    assert r.stderr.startswith(f'l2h {command}: error: ') and message in r.stderr, r.stderr
    assert r.stdout == '', r.stdout


def unreadable_logits(tmp_path):
    np.save(tmp_path / 'int.npy', np.arange(40).reshape(20, 2))
    np.save(tmp_path / 'complex.npy', np.ones((20, 2), complex))
    np.save(tmp_path / 'structured.npy', np.zeros((20, 2), [('a', 'f4'), ('b', 'f4')]))
    torch.save([[1.5, 2.5]] * 20, tmp_path / 'list.pt')
    torch.save('logits', tmp_path / 'str.pt')
    (tmp_path / 'noise.pt').write_bytes(np.random.default_rng(0).bytes(5000))
    (tmp_path / 'folder.npy').mkdir()
    os.mkfifo(tmp_path / 'pipe.npy')
    return {
        'int.npy': 'logits must be floating point (float16, float32 or float64), got dtype int64',
        'complex.npy': 'logits must be floating point (float16, float32 or float64), got dtype complex128',
        'structured.npy': "logits must be floating point (float16, float32 or float64), got dtype [('a', '<f4')",
        'list.pt': 'list.pt holds a list, not a tensor',
        'str.pt': 'str.pt holds a str, not a tensor',
        'noise.pt': 'noise.pt is not a torch file',
        'folder.npy': 'folder.npy is a folder, not a file',
        'pipe.npy': 'pipe.npy is not a regular file',
    }


@pytest.mark.parametrize('name', ['int.npy', 'complex.npy', 'structured.npy', 'list.pt', 'str.pt', 'noise.pt',
                                  'folder.npy', 'pipe.npy'])
def test_logits_of_the_wrong_kind_are_named(tmp_path, name):
    message = unreadable_logits(tmp_path)[name]
    before = files_under(tmp_path)
    r = l2h('build', tmp_path / name, '--out', tmp_path / 'out')
    assert_refused(r, 'build', message)
    assert 'weights_only' not in r.stderr
    assert files_under(tmp_path) == before


def test_output_folders_that_cannot_be_written_are_refused_before_any_work(tmp_path, logits):
    np.save(tmp_path / 'L.npy', logits[0])
    (tmp_path / 'a_file').write_text('mine')
    before = files_under(tmp_path)
    assert_refused(l2h('build', tmp_path / 'L.npy', '--out', tmp_path / 'a_file'), 'build',
                   f'{tmp_path / "a_file"} exists and is not a folder')
    assert_refused(l2h('build', tmp_path / 'L.npy', '--out', tmp_path / 'a_file' / 'sub' / 'out'), 'build',
                   f'cannot create {tmp_path / "a_file" / "sub" / "out"}: {tmp_path / "a_file"} is a file, not a folder')
    assert_refused(l2h('demo', '--out', tmp_path / 'a_file'), 'demo', 'exists and is not a folder')
    assert files_under(tmp_path) == before


@pytest.fixture
def tmpfs(tmp_path):
    "Mount a 64 KiB tmpfs (with extra options) and unmount it afterwards; skipped where mounting is not allowed."
    folder = tmp_path / 'disk'
    folder.mkdir()
    def mount(*options):
        r = subprocess.run(['mount', '-t', 'tmpfs', '-o', ','.join(['size=64k', *options]), 'tmpfs', str(folder)],
                           capture_output=True, text=True)
        if r.returncode: pytest.skip(f'mounting a tmpfs is not permitted here (needs root): {r.stderr.strip()}')
        return folder
    yield mount
    subprocess.run(['umount', str(folder)], capture_output=True)


def test_a_read_only_output_folder_is_refused_before_any_work(tmp_path, logits, tmpfs):
    np.save(tmp_path / 'L.npy', logits[0])
    disk = tmpfs('ro')
    assert_refused(l2h('build', tmp_path / 'L.npy', '--out', disk / 'out'), 'build',
                   f'cannot write {disk / "out"}: {disk} is on a read-only file system')


def test_a_full_disk_leaves_nothing_behind(tmp_path, tmpfs):
    "The outputs of 100 clusters (about 100 KB) do not fit in 64 KiB: one line, and the disk as it was."
    np.save(tmp_path / 'L.npy', np.random.default_rng(0).normal(size=(3000, 100)).astype(np.float32))
    disk = tmpfs()
    (disk / 'keep.txt').write_text('mine')
    r = l2h('build', tmp_path / 'L.npy', '--out', disk / 'out')
    assert_refused(r, 'build', f'cannot write {disk / "out"}: No space left on device')
    assert files_under(disk) == [('keep.txt', 4)]


@pytest.mark.parametrize('device,message', [('bogus', "device 'bogus' is not a torch device (cpu, cuda, cuda:1, mps, …)"),
                                            ('cuda', "device 'cuda' is not available here: torch sees no CUDA GPU")])
def test_devices_that_are_not_there_are_named(tmp_path, logits, device, message):
    if device == 'cuda' and torch.cuda.is_available(): pytest.skip('this machine has a CUDA GPU')
    np.save(tmp_path / 'L.npy', logits[0])
    assert_refused(l2h('build', tmp_path / 'L.npy', '--device', device, '--out', tmp_path / 'out'), 'build', message)
    assert not (tmp_path / 'out').exists()


def test_cluster_refuses_integer_features(tmp_path):
    np.save(tmp_path / 'features.npy', np.arange(200).reshape(100, 2))
    assert_refused(l2h('cluster', tmp_path / 'features.npy', '--k', 2, '--out', tmp_path / 'L.npy'), 'cluster',
                   'features must be floating point (float16, float32 or float64), got dtype int64')
    assert not (tmp_path / 'L.npy').exists()


def manifest_set(out):
    "The merges of the output set in `out`, after checking every file against manifest.json: a mix fails here."
    manifest = json.loads((out / 'manifest.json').read_text())['files']
    assert sorted(p.name for p in out.iterdir()) == sorted([*manifest, 'manifest.json'])
    for name, entry in manifest.items():
        data = (out / name).read_bytes()
        assert len(data) == entry['bytes'] and hashlib.sha256(data).hexdigest() == entry['sha256'], name
    return Hierarchy.load(out / 'merges.json').merges


def build_until(logits, out, seconds: float | None = None, writing: float | None = None):
    "Run `l2h build`; SIGKILL it `seconds` after it starts, or `writing` seconds after its temporary folder appears."
    start = time.perf_counter()
    p = subprocess.Popen([sys.executable, '-m', 'l2h.cli', 'build', str(logits), '--out', str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started_writing = None
    if writing is not None:
        while p.poll() is None and not list(out.parent.glob(f'.{out.name}.l2h-{p.pid}-*.tmp')): time.sleep(0.001)
        started_writing = time.perf_counter() - start
    try: p.wait(seconds if writing is None else writing)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        p.wait()
    return started_writing, time.perf_counter() - start


def test_killed_builds_leave_the_earlier_set_or_the_new_one_never_a_mix(tmp_path):
    "SIGKILL at 8 moments from start to finish, writing included; then a run that ends well leaves no temporary files."
    rng = np.random.default_rng(0)
    for name in ('A', 'B'):
        y = rng.integers(0, 60, 100_000)
        np.save(tmp_path / f'{name}.npy', (rng.normal(size=(100_000, 60)) + 3 * np.eye(60)[y]).astype(np.float32))
    out = tmp_path / 'out'
    assert l2h('build', tmp_path / 'A.npy', '--out', out).returncode == 0
    earlier = manifest_set(out)
    before_writing, total = build_until(tmp_path / 'B.npy', tmp_path / 'ref', writing=60)
    new = manifest_set(tmp_path / 'ref')
    assert new != earlier
    writing = total - before_writing
    moments = [dict(seconds=before_writing * f) for f in (0.25, 0.5, 0.75)]
    moments += [dict(writing=writing * f) for f in (0, 0.01, 0.03, 0.1, 0.3)]  # most of `writing` is the exit
    outcomes = []
    for moment in moments:
        build_until(tmp_path / 'B.npy', out, **moment)
        merges = manifest_set(out)
        assert merges in (earlier, new)
        killed_while_writing = any(p.name.startswith('.out.l2h-') for p in tmp_path.iterdir())
        outcomes.append(('new' if merges == new else 'earlier', killed_while_writing))
    assert any(while_writing for _, while_writing in outcomes), outcomes  # some kill hit the write itself
    assert l2h('build', tmp_path / 'B.npy', '--out', out).returncode == 0
    assert manifest_set(out) == new
    assert sorted(p.name for p in tmp_path.iterdir()) == ['A.npy', 'B.npy', 'out', 'ref'], outcomes
