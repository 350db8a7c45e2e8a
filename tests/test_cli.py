"The `l2h` command as a user runs it: outputs, summaries, and one clear line with exit status 2 for bad input."
import subprocess
import sys

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
    assert sorted(p.name for p in out.iterdir()) == ['dendrogram.png', 'linkage.npy', 'manifest.json', 'merges.json', 'tree.nwk']
    h = Hierarchy.load(out / 'merges.json')
    assert h.names[0] == 'class 0' and {frozenset({0, 1}), frozenset({2, 3})} <= set(h.clades())
    np.testing.assert_array_equal(np.load(out / 'linkage.npy'), h.to_linkage())
    assert (out / 'tree.nwk').read_text().startswith('((') and (out / 'dendrogram.png').read_bytes()[:4] == b'\x89PNG'


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
        'not an array': (['build', tmp_path / 'text.npy'], 'cannot read'),
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


def test_demo(tmp_path):
    r = subprocess.run(['l2h', 'demo', '--out', tmp_path / 'demo'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert 'recovered 100% of the planted families' in r.stdout and 'planted level 1' in r.stdout
    assert (tmp_path / 'demo' / 'dendrogram.png').exists()


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
