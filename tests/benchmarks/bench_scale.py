"""Scaling figures of L2H (issue 14; not part of the test run): time against N, K and processes, memory, traffic.

    python tests/benchmarks/bench_scale.py                      # every section, at sizes a laptop takes
    python tests/benchmarks/bench_scale.py --sections ranks     # one section: n, k, ranks, ooc
    python tests/benchmarks/bench_scale.py --n 400000 --sections ooc   # out of core: 1.6 GB of logits in a smaller cgroup

Prints, per section: L2H's time and its ratio to one NumPy `L.max(1)` pass in the same run (n, k); the time of a
torchrun build with 1, 2 and 4 gloo processes, bytes all-reduced per merge and peak memory per process (ranks); and the time of
`l2h build --scratch` inside a memory cgroup smaller than the logits against one sequential read of the same files,
both from disk (ooc; needs root; `--plain` adds the build from the shards as memory maps, which is far slower).
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from logit_sets import class_structured_logits  # noqa: E402


def seconds(f, repeat=1):
    best = float('inf')
    for _ in range(repeat):
        t = time.perf_counter(); f(); best = min(best, time.perf_counter() - t)
    return best


def write_shards(folder: Path, n: int, k: int, shards: int) -> Path:
    "n × k logits as `shards` .npy files, a block at a time (never all in memory), out of every page cache afterwards."
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, n, shards + 1).astype(int)
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        path = folder / f'logits-{i:05d}-of-{shards:05d}.npy'
        np.save(path, class_structured_logits(b - a, k, seed=i))
    return folder


def section_n(a):
    from l2h.core import logits_to_hierarchy
    print(f"time against N (K = {a.k}):")
    for n in (a.n // 8, a.n // 4, a.n // 2, a.n):
        L = class_structured_logits(n, a.k)
        t_max, t = seconds(lambda: L.max(1), 3), seconds(lambda: logits_to_hierarchy(L, progress=False))
        print(f"  N = {n:>9,}: {t:6.2f} s, {t / n * 1e6:.2f} µs per sample, {t / t_max:5.1f}× L.max(1)")


def section_k(a):
    from l2h.core import logits_to_hierarchy
    n = a.n // 4
    print(f"time against K (N = {n:,}):")
    for k in (100, 300, 1000, 3000):
        L = class_structured_logits(n, k)
        t_max, t = seconds(lambda: L.max(1), 3), seconds(lambda: logits_to_hierarchy(L, progress=False))
        print(f"  K = {k:>5}: {t:6.2f} s, {t / t_max:5.1f}× L.max(1)")


def worker(folder):
    "One torchrun process: build from its share of the shards; process 0 prints one JSON line of figures."
    from l2h.distributed import distributed_hierarchy
    from l2h.io import read_logit_shards
    t = time.perf_counter()
    h, rank, world, sent = distributed_hierarchy(read_logit_shards(folder), progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if rank == 0:
        print(json.dumps(dict(seconds=time.perf_counter() - t, bytes=sent, merges=h.n_clusters - 1, peak=peak,
                              children=h.children.tolist())))


def section_ranks(a, folder: Path):
    print(f"processes (torchrun, gloo, {os.cpu_count()} CPUs; N = {a.n:,}, K = {a.k}, {len(list(folder.glob('*.npy')))} shards):")
    first = None
    for p in (1, 2, 4):
        env = dict(os.environ, OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // p)), GLOO_SOCKET_IFNAME='lo')
        t = time.perf_counter()
        r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(p),
                            __file__, '--worker', str(folder)], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t
        if r.returncode: sys.exit(r.stderr[-2000:])
        got = json.loads(r.stdout.strip().splitlines()[-1])
        first = first or got['children']
        print(f"  {p} process{'es' if p > 1 else '  '}: build {got['seconds']:6.2f} s (launch and all {wall:5.1f} s); "
              f"all-reduced {got['bytes'] / max(1, got['merges']) / 1e3:6.1f} kB per merge, {got['bytes'] / 1e6:.1f} MB in all "
              f"per process; peak RSS of process 0 {got['peak'] / 2**20:,.0f} MiB; same merges: {got['children'] == first}")


def section_ooc(a, folder: Path):
    sys.path.insert(0, str(HERE.parent))
    from memory_limit import forget, run_limited, why_no_memory_limit
    why = why_no_memory_limit()
    if why: return print(f"out of core: skipped ({why})")
    size = sum(p.stat().st_size for p in folder.glob('*.npy'))
    limit = 400 * 2**20 + size // 4  # the imports' ~330 MB, and a quarter of the logits for pages
    read = ("import numpy as np, pathlib, sys\n"
            "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.npy')):\n"
            "    L = np.load(p, mmap_mode='r')\n"
            "    for s in range(0, len(L), 4096): L[s:s + 4096].max(1)\n")
    forget(folder)
    t = time.perf_counter(); r, _, _ = run_limited([sys.executable, '-c', read, str(folder)], limit, timeout=3600)
    t_read = time.perf_counter() - t
    print(f"out of core: {size / 2**30:.2f} GiB of logits in a cgroup of {limit / 2**20:,.0f} MiB, from disk (the shards' "
          f"pages dropped first); times include Python's start:\n  one sequential read {t_read:.1f} s")
    runs = [('--scratch', ['--scratch', str(folder.parent)])] + ([('memory maps', [])] if a.plain else [])
    for name, extra in runs:
        with tempfile.TemporaryDirectory() as out:
            forget(folder)
            t = time.perf_counter()
            r, anonymous, _ = run_limited([sys.executable, '-m', 'l2h.cli', 'build', str(folder), '--out', f'{out}/o',
                                           '--figure', 'svg', *extra], limit, timeout=3600)
            t_build = time.perf_counter() - t
        if r.returncode: sys.exit(r.stderr[-2000:])
        inside = float(re.search(r'merges in ([0-9.]+) s', r.stdout).group(1))  # the CLI's own timer: no imports, outputs
        print(f"  l2h build ({name}) {t_build:.1f} s = {t_build / t_read:.1f}× the read, of which the build itself (first "
              f"pass, copy, merges) {inside:.1f} s = {inside / t_read:.1f}×; peak anonymous memory {anonymous / 2**20:,.0f} MiB")


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--n', type=int, default=200_000)
    p.add_argument('--k', type=int, default=1000)
    p.add_argument('--shards', type=int, default=8)
    p.add_argument('--sections', nargs='*', default=['n', 'k', 'ranks', 'ooc'])
    p.add_argument('--plain', action='store_true', help='ooc: also build from the shards as memory maps (slow)')
    p.add_argument('--worker', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker: return worker(a.worker)
    if 'n' in a.sections: section_n(a)
    if 'k' in a.sections: section_k(a)
    if {'ranks', 'ooc'} & set(a.sections):
        with tempfile.TemporaryDirectory(dir=os.environ.get('L2H_BENCH_DIR')) as d:
            folder = write_shards(Path(d) / 'logits', a.n, a.k, a.shards)
            if 'ranks' in a.sections: section_ranks(a, folder)
            if 'ooc' in a.sections: section_ooc(a, folder)


if __name__ == '__main__':
    main()
