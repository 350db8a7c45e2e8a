"""Speed and memory of `logits_to_hierarchy` on ImageNet-sized logits (not part of the test run).

    python tests/benchmarks/bench_core.py                 # 1,281,167 × 1000 float32, the issue's goal
    python tests/benchmarks/bench_core.py --n 200000      # smaller, quicker
    python tests/benchmarks/bench_core.py --device cuda   # on a GPU
    python tests/benchmarks/bench_core.py --n 20000 --k 21841 --skip-scaling   # ImageNet-21k's K (goal ≤ 8 s)
    python tests/benchmarks/bench_core.py --caterpillar 21841                   # the deepest tree: record, save, load

Prints: the time of one `logits.max(1)` pass (NumPy on the array, torch on the same memory), the time of L2H and the
ratio (goal: ≤ 8, issue 14; ≤ 10 before), the extra peak memory of L2H as a share of the logits (goal: ≤ 0.5), time
per sample at growing N (goal: flat, i.e. linear in N), and the plain reference's time at a size it can finish.
"""
import argparse
import sys
from pathlib import Path
import multiprocessing
import resource
import tempfile
import time

import numpy as np
import torch

from l2h.core import l2h_reference, logits_to_hierarchy
from l2h.hierarchy import from_linkage, load

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from logit_sets import class_structured_logits  # noqa: E402


def save_logits(path, n, k):
    np.save(path, class_structured_logits(n, k))


def best_of(f, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    return min(times)


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def caterpillar(K: int):
    "from_linkage + save + load of a caterpillar over K clusters (goal at K = 21,841: ≤ 3 s and ≤ 3 MB)."
    Z = np.zeros((K - 1, 4))
    Z[:, 0] = np.r_[0, K + np.arange(K - 2)]
    Z[:, 1], Z[:, 2], Z[:, 3] = np.arange(1, K), np.arange(1, K), np.arange(2, K + 1)
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        h = from_linkage(Z)
        h.save(f'{d}/merges.json')
        back = load(f'{d}/merges.json')
        seconds, size = time.perf_counter() - t, Path(f'{d}/merges.json').stat().st_size
    t = time.perf_counter(); h.cut(100); h.to_newick(); other = time.perf_counter() - t
    print(f"caterpillar over {K} clusters: from_linkage + save + load {seconds:.2f} s, merges.json {size / 1e6:.2f} MB "
          f"(read back equal: {back == h}); cut + to_newick {other:.2f} s")


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--n', type=int, default=1_281_167)
    p.add_argument('--k', type=int, default=1000)
    p.add_argument('--device', default=None)
    p.add_argument('--skip-scaling', action='store_true')
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--caterpillar', type=int, metavar='K', help='only time a caterpillar hierarchy over K clusters')
    a = p.parse_args()
    if a.caterpillar: return caterpillar(a.caterpillar)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; logits {a.n} × {a.k} float32")
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        # Made in another process and loaded here, so that this process's peak memory before L2H is the logits alone.
        child = multiprocessing.get_context('spawn').Process(target=save_logits, args=(f'{d}/L.npy', a.n, a.k))
        child.start(); child.join()
        L = np.load(f'{d}/L.npy')
    print(f"made logits in {time.perf_counter() - t:.1f} s ({L.nbytes / 2**30:.2f} GiB)")
    T = torch.from_numpy(L)
    gpu = bool(a.device) and a.device.startswith('cuda')
    if gpu:
        on_gpu = T.to(a.device); torch.cuda.synchronize()
        t_gpu_max = best_of(lambda: (on_gpu.max(1), torch.cuda.synchronize()))
        print(f"one logits.max(1) pass on {a.device}: {t_gpu_max:.4f} s")
    base = peak_rss_bytes()
    # Shared machines have slow spells that last a minute or so and hit multi-threaded code hardest, so the max passes
    # and L2H are timed back to back, round after round, and each round gives its own ratios.
    rounds = []
    for r in range(a.rounds):
        t_np, t_torch = best_of(lambda: L.max(1)), best_of(lambda: T.max(1))
        t = time.perf_counter()
        h = logits_to_hierarchy(on_gpu if gpu else L, device=a.device, progress=False)
        if gpu: torch.cuda.synchronize()
        t_l2h = time.perf_counter() - t
        if r == 0: extra = max(0, peak_rss_bytes() - base)
        rounds.append((t_l2h, t_np, t_torch))
        print(f"round {r + 1}: max(1) NumPy {t_np:.3f} s, torch {t_torch:.3f} s; logits_to_hierarchy {t_l2h:.2f} s = "
              f"{t_l2h / t_np:.1f}× NumPy's, {t_l2h / t_torch:.1f}× torch's")
    t_l2h, t_np, t_torch = min(rounds)
    print(f"best round: logits_to_hierarchy {t_l2h:.2f} s = {t_l2h / t_np:.1f}× the NumPy max pass, "
          f"{t_l2h / t_torch:.1f}× torch's (goal ≤ 8×)")
    print(f"extra peak memory (RSS): {extra / 2**20:.0f} MiB = {extra / L.nbytes:.3f}× the logits")
    print(f"root split: {len(h.merges[-1][0])} | {len(h.merges[-1][1])} clusters")
    if not a.skip_scaling and not a.device:
        for n in (a.n // 8, a.n // 4, a.n // 2, a.n):
            tn = best_of(lambda: logits_to_hierarchy(L[:n], progress=False), repeat=3)
            print(f"  N = {n:>9}: {tn:6.2f} s, {tn / n * 1e6:.2f} µs per sample")
    small = class_structured_logits(20_000, 200, seed=1)
    t_ref = best_of(lambda: l2h_reference(small), repeat=1)
    t_fast = best_of(lambda: logits_to_hierarchy(small, progress=False), repeat=1)
    print(f"20,000 × 200: l2h_reference {t_ref:.2f} s, logits_to_hierarchy {t_fast:.3f} s "
          f"(same merges: {l2h_reference(small.astype(np.float64)) == logits_to_hierarchy(small.astype(np.float64))})")


if __name__ == '__main__':
    main()
