"""L2H at the extremes users hit: classifiers so confident that every g(x) is 1 to nine digits or more.

The method is evaluated exactly here — deficits, scores and affinities in 60-digit decimal arithmetic, the tie rules
of the method applied to exact values — and the plain and fast versions must give its merges.
"""
from decimal import Decimal, localcontext

import numpy as np
import pytest

from l2h.core import TIE_RTOL, l2h_reference, logits_to_hierarchy
from logit_sets import tree_logits


def exact_l2h(L: np.ndarray) -> tuple[tuple, float]:
    "The merges of L2H (sum_of_means) in exact arithmetic, and the smallest relative gap any choice was made by."
    with localcontext() as ctx:
        ctx.prec = 60
        X = [[Decimal(float(v)) for v in row] for row in L]
        N, K = L.shape
        assigned = [max(range(K), key=lambda c: (row[c], -c)) for row in X]
        def deficit(row, a):
            r = sum((row[c] - row[a]).exp() for c in range(K) if c != a)
            return r / (1 + r)
        members = [[x for x in range(N) if assigned[x] == c] for c in range(K)]
        mean_d = [sum(deficit(X[x], c) for x in members[c]) / len(members[c]) if members[c] else None for c in range(K)]
        groups, merges, gap = [[c] for c in range(K)], [], float('inf')
        tie = Decimal(TIE_RTOL)
        while len(groups) > 1:
            parts = [(sum(1 for c in G if mean_d[c] is not None), sum(mean_d[c] for c in G if mean_d[c] is not None))
                     for G in groups]
            def above(j, i):  # s_j − s_i with the integer parts apart: 60 digits of 1 − D would round D away
                return (parts[j][0] - parts[i][0]) - (parts[j][1] - parts[i][1])
            low = 0
            for j in range(1, len(parts)):
                if above(j, low) < 0: low = j
            D_low = parts[low][1]
            tied = [abs(above(j, low)) <= tie * max(D, D_low) for j, (_, D) in enumerate(parts)]
            i = tied.index(True)
            for j, ((_, D), t) in enumerate(zip(parts, tied)):
                if not t: gap = min(gap, float(abs(above(j, low)) / max(D, D_low, Decimal(1e-300))))
            G = groups[i]
            rp = [Decimal(0)] * K
            for c in G:
                for x in members[c]:
                    outside = [k for k in range(K) if k not in G]
                    best = max(outside, key=lambda k: (X[x][k], -k))
                    rp[best] += 1 / sum((X[x][k] - X[x][best]).exp() for k in outside)
            others = [j for j in range(len(groups)) if j != i]
            means = [sum(rp[c] for c in groups[j]) / len(groups[j]) for j in others]
            top = max(means)
            j = others[[m >= top - tie * abs(top) for m in means].index(True)]
            for m in means:
                if m < top - tie * abs(top): gap = min(gap, float((top - m) / top))
            merges.append((tuple(G), tuple(groups[j])))
            groups = [g for k, g in enumerate(groups) if k not in (i, j)] + [G + groups[j]]
        return tuple(merges), gap


def confident_logits(rng, margin: float, n: int = 40, k: int = 6) -> np.ndarray:
    "Logits of a classifier near its training set: tree-structured, scaled so the typical margin is `margin`."
    L = tree_logits(rng, n, k, noise=0.5, temperature=0.05)
    top2 = np.sort(L, 1)[:, -2:]
    return L * (margin / np.median(top2[:, 1] - top2[:, 0]))


CASES = [(margin, seed) for margin in (40, 60, 80, 100) for seed in range(3)]


def test_the_three_sample_example():
    L = np.array([[40., 5., 0.], [0., 30., 5.], [0., 9., 30.]])
    assert exact_l2h(L)[0][0] == ((2,), (1,))
    for fast in (l2h_reference(L), logits_to_hierarchy(L), logits_to_hierarchy(L, backend='torch'),
                 logits_to_hierarchy(L.astype(np.float32))):
        assert fast.merges[0] == ((2,), (1,))


@pytest.mark.parametrize('margin,seed', CASES, ids=[f'margin{m}-{s}' for m, s in CASES])
def test_confident_classifiers_get_the_exact_merges(margin, seed):
    L = confident_logits(np.random.default_rng(seed), margin)
    merges, _ = exact_l2h(L)
    assert l2h_reference(L).merges == merges
    assert logits_to_hierarchy(L).merges == merges
    assert logits_to_hierarchy(L, backend='torch').merges == merges


def test_float32_agrees_with_float64_where_the_choices_are_clear():
    "Float32 logits keep their deficits in float64 (log space), so margins past exp's float32 range change nothing."
    clear = 0
    for margin, seed in CASES + [(150, s) for s in range(3)] + [(300, s) for s in range(3)]:
        L = confident_logits(np.random.default_rng(seed), margin).astype(np.float32)
        merges, gap = exact_l2h(L.astype(np.float64))
        if gap <= 1e-5: continue  # a choice closer than float32 logits can resolve
        clear += 1
        for backend in ('auto', 'torch'):
            assert logits_to_hierarchy(L, backend=backend).merges == merges, (margin, seed, backend)
    assert clear >= 12, f'only {clear} sets had every choice clear by 1e-5: the test would prove little'
