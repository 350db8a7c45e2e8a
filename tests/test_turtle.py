"TURTLE: log-probabilities of the right shape, seeded, planted clusters in two views recovered, bad input refused, command."
import numpy as np
import pytest
import torch

from l2h.cli import main
from l2h.flat import turtle
from l2h.metrics import cluster_acc

FAST = dict(iters=100, inner_lr=1e-2, outer_lr=1e-2, progress=False)  # small problems learn in 100 larger steps


pytestmark = pytest.mark.usefixtures('one_torch_thread')


def views(seed, n=200, k=4, dims=(8, 12), spread=3.0):
    "Two views of `n` samples from `k` equal groups: each view its own Gaussian centres, `spread` apart, unit noise."
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(k), n // k)
    return [(spread * rng.normal(size=(k, d))[group] + rng.normal(size=(n, d))).astype(np.float32) for d in dims], group


def test_logits_are_log_probabilities_on_the_cpu():
    Xs, _ = views(0)
    for features in (Xs, Xs[0], [torch.tensor(Xs[0]).double()]):
        L = turtle(features, 4, iters=3, progress=False)
        assert L.shape == (200, 4) and L.dtype == torch.float32 and L.device.type == 'cpu'
        torch.testing.assert_close(torch.logsumexp(L, 1), torch.zeros(200), atol=1e-5, rtol=0)


def test_a_seed_gives_the_same_logits():
    Xs, _ = views(1)
    for batch_size in (10000, 64):  # all rows at once, and minibatches drawn from the generator
        a, b, c = (turtle(Xs, 4, iters=30, batch_size=batch_size, seed=s, progress=False) for s in (3, 3, 4))
        assert torch.equal(a, b) and not torch.equal(a, c)


def test_planted_groups_in_two_views_are_found():
    "Far better than chance (ACC 1/4) on every seed, and exactly on most: a run can end in a local optimum, as k-means."
    accs = []
    for seed in range(3):
        Xs, group = views(seed)
        accs.append(cluster_acc(group, turtle(Xs, 4, seed=seed, **FAST).argmax(1)))
    assert min(accs) > 0.6 and sum(a == 1.0 for a in accs) >= 2, accs


def test_minibatches_and_warm_start_learn_too():
    Xs, group = views(0, n=400)
    for kw in (dict(batch_size=100), dict(warm_start=True)):
        assert cluster_acc(group, turtle(Xs, 4, **FAST, **kw).argmax(1)) > 0.9, kw


def test_the_entropy_term_keeps_clusters_apart():
    "Without γ nothing stops all samples sharing one label, which linear classifiers fit best; with it all 4 are used."
    Xs, _ = views(0)
    used = {g: len(np.unique(turtle(Xs, 4, gamma=g, **FAST).argmax(1))) for g in (0.0, 10.0)}
    assert used[10.0] == 4 and used[0.0] < 4, used


def test_the_progress_bar_shows_the_loss_and_clusters_in_use(capsys):
    Xs, _ = views(0)
    turtle(Xs, 4, iters=4, progress=True)
    err = capsys.readouterr().err
    assert 'TURTLE' in err and 'loss=' in err and 'clusters=' in err


@pytest.mark.parametrize('features, k, kw, error, words', [
    ('mismatched', 4, {}, ValueError, 'same number of samples (rows), got [200, 199]'),
    (np.zeros(10, np.float32), 2, {}, ValueError, 'features must be 2-D'),
    ('good', 1, {}, ValueError, 'k must be between 2 and the number of samples (200), got 1'),
    ('good', 201, {}, ValueError, 'got 201'),
    ('good', 4.0, {}, TypeError, 'k must be an integer, got 4.0'),
    ('nan', 4, {}, ValueError, 'feature space 1 contains NaN or inf'),
    (np.zeros((5, 3), int), 2, {}, TypeError, 'features must be floating point'),
    ('good', 4, dict(outer_lr=0), ValueError, 'the learning rates positive'),
    ('good', 4, dict(iters=-1), ValueError, 'iters must be at least 0'),
    ('good', 4, dict(device='gpu'), ValueError, "device 'gpu' is not a torch device"),
])
def test_bad_input_is_refused_in_one_line(features, k, kw, error, words):
    Xs, _ = views(0)
    nan = Xs[1].copy(); nan[7, 2] = np.nan
    features = {'good': Xs, 'mismatched': [Xs[0], Xs[1][:199]], 'nan': [Xs[0], nan]}.get(features, features) \
        if isinstance(features, str) else features
    with pytest.raises(error) as e: turtle(features, k, **{'iters': 1, 'progress': False, **kw})
    assert words in str(e.value) and '\n' not in str(e.value)


def test_command_writes_logits_and_refuses_bad_input(tmp_path, capsys):
    Xs, group = views(0)
    for name, X in zip('ab', Xs): np.save(tmp_path / f'{name}.npy', X)
    out = tmp_path / 'run' / 'logits.npy'
    args = ['turtle', str(tmp_path / 'a.npy'), str(tmp_path / 'b.npy'), '--k', '4', '--out', str(out), '--iters', '100',
            '--inner-lr', '1e-2', '--outer-lr', '1e-2']
    assert main(args) == 0
    L = np.load(out)
    assert L.shape == (200, 4) and cluster_acc(group, L.argmax(1)) == 1.0
    assert 'TURTLE: 200 samples × 8 + 12 features → 4 clusters (4 in use' in capsys.readouterr().out
    np.save(tmp_path / 'short.npy', Xs[1][:150])
    bad = tmp_path / 'bad.npy'
    assert main(['turtle', str(tmp_path / 'a.npy'), str(tmp_path / 'short.npy'), '--k', '4', '--out', str(bad)]) == 2
    assert main(['turtle', str(tmp_path / 'a.npy'), '--k', '1', '--out', str(bad)]) == 2
    assert main(['turtle', str(tmp_path / 'none.npy'), '--k', '4', '--out', str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith('l2h turtle: error: ') for line in err), err
    assert 'same number of samples' in err[0] and 'no such file' in err[2] and not bad.exists()
