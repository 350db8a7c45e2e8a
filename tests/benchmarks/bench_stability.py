"""Cost of `bootstrap_support` against one build, on ImageNet-sized logits (not part of the test run).

    python tests/benchmarks/bench_stability.py                  # 200,000 × 1000 float32, 20 replicates: the issue's goal
    python tests/benchmarks/bench_stability.py --n 50000 --rounds 1   # quicker

Prints, round after round (a shared machine has slow spells, so each round times one build before the bootstrap and
one after): the time of one `logits_to_hierarchy` build (first pass included), of `bootstrap_support` with `--boot`
replicates (its own first pass included), and their ratio (goal: ≤ 15×); then the bootstrap's extra peak memory
beyond the logits (RSS; and NumPy's allocations as tracemalloc sees them, in a separate untimed run) as a share of the
logits (goal: ≤ 0.5). At small sizes the interpreter and torch's own memory dominate the RSS figure.
"""
import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

from l2h.core import logits_to_hierarchy, prepare_logits
from l2h.stability import bootstrap_support

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from logit_sets import class_structured_logits  # noqa: E402


def save_logits(path, n, k):
    np.save(path, class_structured_logits(n, k))


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--n', type=int, default=200_000)
    p.add_argument('--k', type=int, default=1000)
    p.add_argument('--boot', type=int, default=20)
    p.add_argument('--rounds', type=int, default=2)
    a = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; logits {a.n} × {a.k} float32, {a.boot} replicates")
    with tempfile.TemporaryDirectory() as d:
        # Made in another process and loaded here, so that this process's peak memory before L2H is the logits alone.
        child = multiprocessing.get_context('spawn').Process(target=save_logits, args=(f'{d}/L.npy', a.n, a.k))
        child.start(); child.join()
        L = np.load(f'{d}/L.npy')
    base = peak_rss_bytes()
    ratios = []
    def one_build():
        t = time.perf_counter()
        h = logits_to_hierarchy(L, progress=False)
        return h, time.perf_counter() - t
    for r in range(a.rounds):
        h, t_before = one_build()
        if r == 0: after_build = peak_rss_bytes()
        t = time.perf_counter()
        support = bootstrap_support(L, h, n_boot=a.boot, progress=False)
        t_boot = time.perf_counter() - t
        if r == 0: after_boot = peak_rss_bytes()
        t_build = (t_before + one_build()[1]) / 2  # one build before the bootstrap and one after, against slow spells
        ratios.append(t_boot / t_build)
        print(f"round {r + 1}: one build {t_build:.2f} s (mean of {t_before:.2f} s before and one after); bootstrap, "
              f"{a.boot} replicates, {t_boot:.2f} s = {t_boot / t_build:.1f}× one build (goal ≤ 15×)")
    print(f"rounds: median {np.median(ratios):.1f}×, best {min(ratios):.1f}× one build")
    t = time.perf_counter(); prepared = prepare_logits(L); t_first = time.perf_counter() - t
    t = time.perf_counter(); logits_to_hierarchy(prepared, sample_weight=np.ones(len(L))); t_loop = time.perf_counter() - t
    print(f"of one build: first pass {t_first:.2f} s, weighted sums + merge loop {t_loop:.2f} s")
    tracemalloc.start()  # apart from the timed rounds: it slows every allocation down
    bootstrap_support(L, h, n_boot=3, progress=False)
    numpy_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"extra peak memory (RSS) beyond the logits: build {max(0, after_build - base) / L.nbytes:.3f}×, "
          f"bootstrap {max(0, after_boot - base) / L.nbytes:.3f}× the logits ({L.nbytes / 2**20:.0f} MiB; goal ≤ 0.5); "
          f"NumPy allocations in the bootstrap (tracemalloc) peak at {numpy_peak / 2**20:.1f} MiB")
    print(f"support: {np.mean(support >= 0.95):.2f} of the merges ≥ 0.95, {np.mean(support >= 0.5):.2f} ≥ 0.5")


if __name__ == '__main__':
    main()
