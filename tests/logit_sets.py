"Logit matrices that stress L2H: random, structured by a tree, confident, flat, tied, with empty clusters."
import numpy as np
import torch


def tree_logits(rng, n, k, noise=1.0, temperature=1.0, branching=3, dim=24):
    "Logits of a nearest-mean classifier on a Gaussian mixture whose class means follow a random tree."
    levels = max(1, int(np.ceil(np.log(k) / np.log(branching))))
    means = np.zeros((k, dim))
    for level in range(levels):
        width = branching ** (levels - level - 1)
        offsets = rng.normal(scale=3.0 / (level + 1), size=(-(-k // width), dim))
        means += offsets[np.arange(k) // width]
    y = rng.integers(0, k, n)
    x = means[y] + rng.normal(scale=noise, size=(n, dim))
    return (x @ means.T - 0.5 * (means ** 2).sum(1)) / (temperature * dim)


def logit_sets(seed=0):
    "Named logit matrices (float64), a few hundred in all."
    rng = np.random.default_rng(seed)
    sets = []
    for i in range(60):
        n, k = int(rng.integers(1, 300)), int(rng.integers(2, 40))
        sets.append((f'gaussian-{i}', rng.normal(scale=rng.choice([0.1, 1., 3., 10.]), size=(n, k))))
    for i in range(40):
        n, k = int(rng.integers(50, 600)), int(rng.integers(2, 60))
        sets.append((f'tree-{i}', tree_logits(rng, n, k, noise=rng.choice([0.5, 1., 2.]), temperature=rng.choice([0.02, 0.1, 1.]))))
    for i in range(20):
        sets.append((f'k2-{i}', rng.normal(scale=rng.choice([0.5, 5.]), size=(int(rng.integers(1, 100)), 2))))
    for i in range(20):
        L = rng.normal(size=(int(rng.integers(20, 200)), int(rng.integers(4, 30))))
        L[:, rng.choice(L.shape[1], size=int(rng.integers(1, L.shape[1] - 1)), replace=False)] -= 50
        sets.append((f'empty-{i}', L))
    for i in range(20):
        sets.append((f'confident-{i}', rng.normal(scale=rng.choice([50., 300., 2000.]), size=(int(rng.integers(10, 200)), int(rng.integers(2, 20))))))
    for i in range(20):
        sets.append((f'flat-{i}', rng.normal(scale=rng.choice([1e-3, 1e-6, 1e-9]), size=(int(rng.integers(10, 200)), int(rng.integers(2, 20))))))
    for i in range(20):
        sets.append((f'integers-{i}', rng.integers(-2, 3, size=(int(rng.integers(5, 150)), int(rng.integers(2, 12)))).astype(float)))
    for i in range(20):
        sets.append((f'mirrored-{i}', mirrored(rng, int(rng.integers(3, 60)), int(rng.integers(2, 8)))))
    for i in range(10):
        L = tree_logits(rng, 300, 12)
        sets.append((f'near-tie-{i}', L + rng.normal(scale=1e-7, size=L.shape)))
    sets.append(('zeros', np.zeros((10, 5))))
    sets.append(('one-sample', rng.normal(size=(1, 7))))
    sets.append(('duplicate-columns', np.repeat(rng.normal(size=(80, 4)), 2, axis=1)))
    return sets


def mirrored(rng, n, half):
    "Logits where clusters c and c+half are exact mirror images: every score and affinity comes in exact ties."
    A = rng.normal(size=(n, half))
    B = rng.normal(size=(n, half)) - 1
    return np.vstack([np.hstack([A, B]), np.hstack([B, A])])


def class_structured_logits(n, k, seed=0, chunk=65536):
    """float32 logits with ImageNet-like structure: classes in families of 10 and super-families of 100.

    A sample of class y gets +6.5 on y, +3 on y's family, +3 on y's super-family, plus noise per class (σ 2), per
    family (σ 1.5) and per super-family (σ 1), so it is confused mostly within its family. At K = 1000 the mean
    max-softmax is ≈ 0.66 and the median gap to the row maximum ≈ −12.
    """
    g = torch.Generator().manual_seed(seed)
    out = np.empty((n, k), dtype=np.float32)
    wide = -(-k // 100) * 100  # the last super-family may be cut short (ImageNet-21k has 21,841 classes)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        y, rows = torch.randint(0, k, (m,), generator=g), torch.arange(m)
        L = torch.from_numpy(out[s:s + m]) if wide == k else torch.empty(m, wide)
        torch.randn(m, wide, generator=g, out=L).mul_(2.0)
        families, supers = L.view(m, wide // 10, 10), L.view(m, wide // 100, 100)
        families += torch.randn(m, wide // 10, 1, generator=g) * 1.5
        supers += torch.randn(m, wide // 100, 1, generator=g) * 1.0
        L[rows, y] += 6.5
        families[rows, y // 10] += 3.0
        supers[rows, y // 100] += 3.0
        if wide != k: out[s:s + m] = L[:, :k].numpy()
    return out
