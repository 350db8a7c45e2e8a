"""Timings of l2h.metrics at ImageNet scale (not part of the test run).

    python tests/benchmarks/bench_metrics.py [--n 1281167] [--k 1000] [--labels 1000]

The brief's bar: dendrogram purity in at most 10 s for 1.28M samples, 1000 clusters, 1000 labels.
"""
import argparse, time
import numpy as np
from scipy.cluster.hierarchy import linkage
from l2h.core import Hierarchy
from l2h.hierarchy import from_linkage
from l2h.metrics import (dendrogram_purity, evaluate, cluster_acc, nmi, ari, leaf_purity, lca_correlation,
                         clade_recall, robinson_foulds)


def timed(what: str, f, *args):
    start = time.perf_counter()
    value = f(*args)
    print(f"{what:<48} {time.perf_counter() - start:7.2f} s   {value if np.isscalar(value) else ''}")
    return value


def imagenet_like(n: int, k: int, n_labels: int, seed: int = 0):
    "Labels, clusters that agree with them 70% of the time, and a Ward tree over the clusters."
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_labels, n)
    clusters = np.where(rng.random(n) < 0.7, labels % k, rng.integers(0, k, n))
    tree = from_linkage(linkage(rng.normal(size=(k, 16)), 'ward'))
    return tree, clusters, labels


def reference_newick(k: int, branching: int = 10) -> str:
    "A multi-child reference over leaves '0'..'k-1': consecutive leaves in groups of `branching`, recursively."
    level = [str(c) for c in range(k)]
    while len(level) > 1:
        level = ['(' + ','.join(level[i:i + branching]) + ')' for i in range(0, len(level), branching)]
    return level[0] + ';'


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--n', type=int, default=1_281_167)
    p.add_argument('--k', type=int, default=1000)
    p.add_argument('--labels', type=int, default=1000)
    a = p.parse_args()
    tree, clusters, labels = imagenet_like(a.n, a.k, a.labels)
    print(f"N = {a.n:,} samples, K = {a.k} clusters, {a.labels} labels")
    timed('dendrogram_purity', dendrogram_purity, tree, clusters, labels)
    chain = Hierarchy([((t + 1,), tuple(range(t + 1))) for t in range(a.k - 1)])
    timed('dendrogram_purity (a chain K-1 levels deep)', dendrogram_purity, chain, clusters, labels)
    timed('cluster_acc', cluster_acc, labels, clusters)
    timed('nmi', nmi, labels, clusters)
    timed('ari', ari, labels, clusters)
    timed('leaf_purity', leaf_purity, labels, clusters)
    print(timed('evaluate (leaves + one level of 100 classes)', evaluate, tree, clusters, labels, {'coarse': labels // 10}))
    reference = reference_newick(a.k)
    timed(f'lca_correlation (K = {a.k}, 10-way reference)', lca_correlation, tree, reference)
    timed('clade_recall', clade_recall, tree, reference)
    timed('robinson_foulds (ete3)', robinson_foulds, tree, reference)


if __name__ == '__main__':
    main()
