"""Time of k-means on ImageNet-sized features: 1,281,167 × 768 float32, k = 1000 (not part of the test run).

    python tests/benchmarks/bench_flat.py                        # the full size (3.7 GiB of features)
    python tests/benchmarks/bench_flat.py --n 200000             # smaller; times are extrapolated to 1,281,167
    python tests/benchmarks/bench_flat.py --device cuda

Prints the time of the start (k-means++ seedings on the sample and their refinement there), then of each full Lloyd
iteration (assignment and update), the same with cosine k-means, and of the logits of all samples. Features are a
mixture of 1000 Gaussian clusters, so iterations do real work.
"""
import argparse
import math
import time

import torch

import l2h.flat as flat

IMAGENET = 1_281_167


def features(n, d, k, seed=0, chunk=65536):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * 0.5
    X = torch.empty(n, d)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        X[s:s + m] = centres[torch.randint(0, k, (m,), generator=g)] + torch.randn(m, d, generator=g)
    return X


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--n', type=int, default=IMAGENET)
    p.add_argument('--d', type=int, default=768)
    p.add_argument('--k', type=int, default=1000)
    p.add_argument('--iters', type=int, default=3)
    p.add_argument('--device', default=None)
    a = p.parse_args()
    device = flat._device(a.device)
    scale = IMAGENET / a.n
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {device}; features {a.n} × {a.d}, k = {a.k}")
    t = time.perf_counter()
    X = features(a.n, a.d, a.k)
    print(f"made features in {time.perf_counter() - t:.1f} s ({X.numel() * 4 / 2**30:.2f} GiB)")
    X = X.to(device)
    for cosine in (False, True):
        name = 'cosine k-means' if cosine else 'k-means'
        rows = flat._rows_per_chunk(a.k, device)
        centre = flat._centre(X, device, rows, cosine)
        t = time.perf_counter()
        start = flat._initial_centroids(X, a.k, centre, device, torch.Generator().manual_seed(0), 3, 100, 1e-4)
        sync(device)
        print(f"{name}: start (3 seedings of a {min(a.n, max(20 * a.k, 10_000))}-row sample, refined there) {time.perf_counter() - t:.1f} s")
        labels, cost = flat._assign(X, start, centre, rows)
        centroids, times = start, []
        for _ in range(a.iters):
            t = time.perf_counter()
            sums, counts = flat._cluster_sums(X, labels, a.k, centre, rows)
            centroids = flat._updated(sums, counts, X, cost, centre, device)
            sync(device); t_update = time.perf_counter() - t
            labels, cost = flat._assign(X, centroids, centre, rows)
            sync(device); times.append((time.perf_counter() - t, t_update))
        it, up = min(times)
        extra = f"; at {IMAGENET}: {it * scale:.1f} s" if a.n != IMAGENET else ''
        print(f"{name}: one Lloyd iteration {it:.2f} s (update {up:.2f} s, assignment {it - up:.2f} s){extra}; "
              f"distances at {2 * a.n * a.k * a.d / (it - up) / 1e9:.0f} GFLOP/s")
    fit = flat.KMeansFit(centroids.cpu(), labels.cpu(), float(cost.sum()), a.iters, 1.0, True)  # the cosine run's
    n_logits = min(a.n, 200_000)
    t = time.perf_counter()
    flat.centroid_logits(X[:n_logits], fit, device=device)
    t_logits = time.perf_counter() - t
    print(f"logits of {n_logits} samples: {t_logits:.2f} s; of {IMAGENET}: ≈ {t_logits * IMAGENET / n_logits:.1f} s")


if __name__ == '__main__':
    main()
