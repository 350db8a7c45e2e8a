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
