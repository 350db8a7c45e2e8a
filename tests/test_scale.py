"Beyond one array in memory: sharded extraction, folders of shards, builds in a memory cgroup and across processes."
import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import TensorDataset

from l2h.io import read_logits
from l2h.logits import extract_logits, init_distributed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_logits import Counted, data, small_cnn  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def torchrun_env(rank, world, port):
    "What torchrun puts in each process's environment (on this machine, over loopback)."
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), GLOO_SOCKET_IFNAME='lo')
    torch.set_num_threads(1)


# --- sharded extraction ------------------------------------------------------------------------------------------

def _sharded_worker(rank, world, port, out):
    torchrun_env(rank, world, port)
    assert init_distributed()
    try:
        X, y = data()
        for run in (0, 1):
            ds = Counted(X, y)
            got = extract_logits(small_cnn(), ds, batch_size=4, num_workers=0, out=out, progress=False)
            np.save(f'{out}/../loaded{rank}-{run}.npy', np.array(ds.loaded))
            if rank == 0: assert [len(s) for s in got.outputs] == [12, 11] and got.labels.tolist() == y.tolist()
            else: assert got is None
            if run == 0 and rank == 0: np.save(f'{out}/../first.npy', np.concatenate(got.outputs))
            dist.barrier()
            if run == 0 and rank == 1:  # shard 1 lost: the second run recomputes it alone, shard 0 stays as it is
                for name in ('logits-00001-of-00002.npy', 'logits-00001-of-00002.npy.progress'): Path(out, name).unlink()
            dist.barrier()
    finally: dist.destroy_process_group()


def test_sharded_extraction_writes_one_shard_per_process_and_resumes(tmp_path):
    X, y = data()
    single = extract_logits(small_cnn(), TensorDataset(X, y), batch_size=4, num_workers=0, progress=False)
    out = tmp_path / 'logits'
    mp.spawn(_sharded_worker, args=(2, free_port(), str(out)), nprocs=2, join=True)
    assert sorted(p.name for p in out.glob('*.npy')) == ['logits-00000-of-00002.labels.npy', 'logits-00000-of-00002.npy',
                                                         'logits-00001-of-00002.labels.npy', 'logits-00001-of-00002.npy']
    np.testing.assert_array_equal(np.load(tmp_path / 'first.npy'), single.outputs.numpy())
    np.testing.assert_array_equal(np.concatenate(read_logits(out)), single.outputs.numpy())
    assert np.load(tmp_path / 'logits.labels.npy').tolist() == y.tolist()  # beside the folder, as for one file
    loaded = {(r, run): np.load(tmp_path / f'loaded{r}-{run}.npy').tolist() for r in (0, 1) for run in (0, 1)}
    assert loaded[0, 0] == list(range(12)) and loaded[1, 0] == list(range(12, 23))  # each its own rows
    assert loaded[0, 1] == [] and loaded[1, 1] == list(range(12, 23))


def test_one_process_into_a_folder_writes_a_single_shard(tmp_path):
    X, y = data()
    got = extract_logits(small_cnn(), TensorDataset(X, y), batch_size=5, num_workers=0, out=tmp_path / 'o', progress=False)
    assert [p.name for p in sorted((tmp_path / 'o').glob('*-of-*.npy'))][-1] == 'logits-00000-of-00001.npy'
    np.testing.assert_array_equal(np.concatenate(got.outputs), np.concatenate(read_logits(tmp_path / 'o')))


# --- builds from a folder of shards: one process, in a memory cgroup, and four torchrun processes ---------------------

from l2h.core import logits_to_hierarchy  # noqa: E402
from l2h.hierarchy import Hierarchy  # noqa: E402
from logit_sets import class_structured_logits  # noqa: E402
from memory_limit import forget, run_limited, why_no_memory_limit  # noqa: E402

import subprocess  # noqa: E402


def l2h(*args, **kw):
    return subprocess.run([sys.executable, '-m', 'l2h.cli', *map(str, args)], capture_output=True, text=True, **kw)


def write_shards(folder: Path, L: np.ndarray, cuts) -> Path:
    "L's rows as .npy shards cut at `cuts`, named in row order as a sharded extraction names them."
    folder.mkdir()
    blocks = np.split(L, cuts)
    for i, b in enumerate(blocks): np.save(folder / f'logits-{i:05d}-of-{len(blocks):05d}.npy', b)
    return folder


@pytest.fixture(scope='module')
def sharded(tmp_path_factory):
    "Logits with ImageNet-like structure in five uneven shards, and the hierarchy of the stacked array."
    L = class_structured_logits(6000, 120, seed=3)
    folder = write_shards(tmp_path_factory.mktemp('shards') / 'logits', L, [700, 2500, 2600, 5000])
    return folder, logits_to_hierarchy(L)


def test_build_of_a_folder_gives_the_merges_of_the_stacked_array(tmp_path, sharded):
    folder, whole = sharded
    r = l2h('build', folder, '--out', tmp_path / 'out')
    assert r.returncode == 0, r.stderr
    assert 'L2H: 6000 samples × 120 clusters' in r.stdout
    assert Hierarchy.load(tmp_path / 'out' / 'merges.json') == whole


TORCHRUN = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '4']
QUIET = dict(os.environ, OMP_NUM_THREADS='1', GLOO_SOCKET_IFNAME='lo')


def test_four_gloo_processes_give_the_merges_of_one(tmp_path, sharded):
    folder, whole = sharded
    r = subprocess.run([*TORCHRUN, '-m', 'l2h.cli', 'build', folder, '--out', tmp_path / 'out'], capture_output=True,
                       text=True, env=QUIET, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count('L2H: 6000 samples') == 1 and 'built by 4 processes' in r.stdout  # process 0 alone reports
    assert Hierarchy.load(tmp_path / 'out' / 'merges.json') == whole


KILL_RANK_2 = '''
import os, signal, sys
import l2h.distributed as d
call = d.AllReduce.__call__
def dying(self, a):
    if self.rank == 2 and self.calls == 40: os.kill(os.getpid(), signal.SIGKILL)  # mid-merges, as an OOM kill does
    return call(self, a)
d.AllReduce.__call__ = dying
from l2h.cli import main
sys.exit(main())
'''


def test_a_killed_process_fails_the_run_and_nothing_is_written(tmp_path, sharded):
    folder, _ = sharded
    (tmp_path / 'dying.py').write_text(KILL_RANK_2)
    r = subprocess.run([*TORCHRUN, str(tmp_path / 'dying.py'), 'build', folder, '--out', tmp_path / 'out'],
                       capture_output=True, text=True, env=QUIET, timeout=300)
    assert r.returncode != 0
    said = r.stdout + r.stderr
    assert 'another process of the run stopped' in said or 'Signal 9 (SIGKILL) received' in said, said[-3000:]
    assert not (tmp_path / 'out').exists() and not list(tmp_path.glob('.out.l2h-*'))  # no output, no leftovers


@pytest.mark.skipif(why_no_memory_limit() is not None, reason=f'no memory cgroup: {why_no_memory_limit()}')
def test_a_folder_larger_than_the_memory_limit_builds_with_the_same_merges(tmp_path):
    "A memory cgroup caps the build well below the logits' size: the shards are read as memory maps, pages come and go."
    L = class_structured_logits(150_000, 1000, seed=5)  # 600 MB of float32
    folder = write_shards(tmp_path / 'logits', L, [50_000, 120_000, 121_000])
    whole = logits_to_hierarchy(L)
    del L
    imports = 400 << 20  # python, torch, matplotlib and l2h themselves, before any logits (measured: ~330 MB)
    # --figure svg: the PNG of a circular dendrogram naming 1000 clusters rasters ~220 MB (measured), a cost that
    # depends on K only; this test is about the logits
    r, anonymous, _ = run_limited([sys.executable, '-m', 'l2h.cli', 'build', folder, '--out', tmp_path / 'out',
                                   '--figure', 'svg'], imports + (50 << 20), timeout=300)  # 450 MB: well below 600 MB
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert Hierarchy.load(tmp_path / 'out' / 'merges.json') == whole
    assert anonymous < imports + (50 << 20)  # per-sample state only: ~90 bytes a row


@pytest.mark.skipif(why_no_memory_limit() is not None, reason=f'no memory cgroup: {why_no_memory_limit()}')
def test_a_scratch_build_from_disk_in_a_small_cgroup_gives_the_same_merges(tmp_path):
    "--scratch under a cgroup well below the logits' size, their pages dropped first: the copy in cluster order is read from disk."
    L = class_structured_logits(150_000, 1000, seed=6)  # 600 MB of float32
    folder = write_shards(tmp_path / 'logits', L, [40_000, 90_000])
    whole = logits_to_hierarchy(L)
    del L
    forget(folder)
    (tmp_path / 'scratch').mkdir()
    imports = 400 << 20  # as above
    r, anonymous, _ = run_limited([sys.executable, '-m', 'l2h.cli', 'build', folder, '--out', tmp_path / 'out',
                                   '--figure', 'svg', '--scratch', tmp_path / 'scratch'], imports + (50 << 20), timeout=300)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert Hierarchy.load(tmp_path / 'out' / 'merges.json') == whole
    assert list((tmp_path / 'scratch').iterdir()) == []  # the copy was an unlinked file: nothing left behind
    assert anonymous < imports + (50 << 20)  # per-sample state and one 16 MB chunk
