"`l2h reproduce` offline: FakeData images and small random backbones through extraction, TURTLE, L2H and Table 1's scores."
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torchvision import transforms as T
from torchvision.datasets import FakeData

from l2h.cli import main
from l2h.hierarchy import Hierarchy
from l2h.reproduce import (DATASETS, SPACES, Backbone, DatasetSpec, beside_paper, paper_table1, reproduce_table1,
                           table1_scores)

# random images give TURTLE nothing to find: after a few iterations most clusters are empty, and L2H says so
pytestmark = [pytest.mark.filterwarnings('ignore:.*no sample assigned'), pytest.mark.usefixtures('one_torch_thread')]


class Counted(nn.Module):
    "A small random convolutional encoder on 16×16 images that counts the images it has seen."
    def __init__(self, seed: int, d: int):
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, d))
        self.seen = 0
    def forward(self, x):
        self.seen += len(x)
        return self.net(x)


@pytest.fixture
def registered():
    "Two tiny spaces and two fake datasets (one with a coarser level) in the registries, removed afterwards."
    models, asked = {}, []
    def space(name, seed, d):
        def load(download):
            asked.append((name, download))
            models[name] = Counted(seed, d)
            return Backbone(models[name], T.Compose([T.Resize(16), T.ToTensor()]))
        return load
    SPACES.update(tiny_a=space('tiny_a', 0, 8), tiny_b=space('tiny_b', 1, 6))
    fake = lambda root, train, download: FakeData(48, (3, 16, 16), 4, random_offset=1000 * (not train))
    DATASETS.update(fake=DatasetSpec(fake, 4), fake_levels=DatasetSpec(fake, 4, lambda ds, y: {'pairs': y // 2}))
    yield models, asked
    for name in ('tiny_a', 'tiny_b'): SPACES.pop(name)
    for name in ('fake', 'fake_levels'): DATASETS.pop(name)


def run(tmp_path, dataset='fake', **kw):
    return reproduce_table1(dataset, tmp_path / 'data', spaces=['tiny_a', 'tiny_b'], out=tmp_path / 'out', iters=20,
                            workers=0, progress=False, **kw)


def test_the_pipeline_writes_features_logits_hierarchy_and_results(tmp_path, registered):
    models, asked = registered
    r = run(tmp_path)
    out = tmp_path / 'out'
    results = json.loads((out / 'fake-test.results.json').read_text())
    assert (results['dataset'], results['split'], results['n'], results['k']) == ('fake', 'test', 48, 4)
    assert results['spaces'] == ['tiny_a', 'tiny_b'] and results['paper'] is None
    assert results['turtle'] == dict(iters=20, gamma=10.0, seed=0, unit_length=True)
    assert results['paper_source'].startswith('arXiv 2410.07858')
    assert set(results['scores']) == {'leaves'} and set(results['scores']['leaves']) == {'nmi', 'acc', 'ari', 'dp', 'lp'}
    assert all(0 <= v <= 1 for k, v in results['scores']['leaves'].items() if k != 'ari')
    assert np.load(out / 'fake-test.tiny_a.npy').shape == (48, 8) and np.load(out / 'fake-test.tiny_b.npy').shape == (48, 6)
    assert np.load(out / 'fake-test.turtle.npy').shape == (48, 4)
    assert Hierarchy.load(out / 'fake-test.hierarchy.json').n_clusters == 4 == r.hierarchy.n_clusters
    labels = np.load(out / 'fake-test.tiny_a.labels.npy')
    assert labels.tolist() == [int(FakeData(48, (3, 16, 16), 4, random_offset=1000)[i][1]) for i in range(48)]
    assert not [p for p in out.iterdir() if '.tmp' in p.name or p.name.startswith('.')]  # atomic writes leave no temps
    assert asked == [('tiny_a', False), ('tiny_b', False)] and models['tiny_a'].seen == 48


def test_a_second_run_reuses_the_features_and_a_changed_space_is_refused(tmp_path, registered):
    models, _ = registered
    first = run(tmp_path)
    second = run(tmp_path)
    assert models['tiny_a'].seen == 0 and models['tiny_b'].seen == 0  # read back from the finished .npy files
    assert second.results['scores'] == first.results['scores']
    SPACES['tiny_a'] = lambda download: Backbone(Counted(7, 8), T.Compose([T.Resize(16), T.ToTensor()]))
    with pytest.raises(ValueError, match='made with another model'):
        run(tmp_path)


def test_an_interrupted_extraction_resumes(tmp_path, registered):
    "A run killed in the second space's extraction picks up there: the first space is not extracted again."
    models, _ = registered
    real = SPACES['tiny_b']
    class Boom(Exception): pass
    def failing(download):
        backbone = real(download)
        def stop(*a): raise Boom
        backbone.model.register_forward_hook(lambda m, i, o: stop() if m.seen > 16 else None)
        return backbone
    SPACES['tiny_b'] = failing
    with pytest.raises(Boom): reproduce_table1('fake', tmp_path, spaces=['tiny_a', 'tiny_b'], out=tmp_path / 'out',
                                               iters=20, workers=0, progress=False, batch_size=8)
    SPACES['tiny_b'] = real
    r = reproduce_table1('fake', tmp_path, spaces=['tiny_a', 'tiny_b'], out=tmp_path / 'out', iters=20, workers=0,
                         progress=False, batch_size=8)
    assert models['tiny_a'].seen == 0 and models['tiny_b'].seen == 48 - 16
    assert r.results['n'] == 48


def test_coarser_levels_get_rows_of_their_own(tmp_path, registered):
    r = run(tmp_path, dataset='fake_levels', train=True, unit_length=False)
    assert list(r.scores) == ['leaves', 'pairs'] and r.results['split'] == 'train'
    assert json.loads((tmp_path / 'out' / 'fake_levels-train.results.json').read_text())['turtle']['unit_length'] is False


def test_scores_against_hand_made_tree_and_the_paper():
    from l2h.core import logits_to_hierarchy
    y = np.arange(4).repeat(10)
    h = logits_to_hierarchy(5 * np.eye(4)[y] + 3 * np.eye(4)[y ^ 1])
    wrong = y.copy(); wrong[:5] = 1  # half of class 0 in cluster 1: its sibling
    s = table1_scores(h, wrong, y, {'pairs': y // 2})
    assert s['leaves']['lp'] == pytest.approx(35 / 40) and s['leaves']['acc'] == pytest.approx(35 / 40)
    assert s['pairs']['acc'] == 1.0 and s['pairs']['lp'] == 1.0
    t = beside_paper(s, paper_table1()['datasets']['cifar100'])
    assert list(t) == ['leaves', 'leaves (paper)', 'pairs']
    assert t['leaves (paper)'] == dict(nmi=.917, acc=.896, ari='—', dp=.803, lp=.896)


def test_the_command_prints_the_table_and_writes_the_results(tmp_path, registered, capsys):
    code = main(['reproduce', '--dataset', 'fake', '--root', str(tmp_path), '--spaces', 'tiny_a', 'tiny_b',
                 '--out', str(tmp_path / 'out'), '--iters', '20', '--workers', '0', '--raw-features'])
    said = capsys.readouterr().out
    assert code == 0, said
    assert 'fake, test split: 48 images, K = 4, spaces tiny_a + tiny_b' in said
    assert 'nmi' in said and 'dp' in said and 'paper: arXiv 2410.07858' in said
    results = json.loads((tmp_path / 'out' / 'fake-test.results.json').read_text())
    assert results['n'] == 48 and results['turtle']['unit_length'] is False


def test_missing_data_is_one_line_and_exit_2_before_any_weights(tmp_path, registered):
    SPACES['tiny_a'] = lambda download: pytest.fail('weights were loaded before the data was found')
    with pytest.raises(ValueError, match=r'cifar10 is not in .*download=True \(l2h reproduce --download\)'):
        reproduce_table1('cifar10', tmp_path, spaces=['tiny_a'], out=tmp_path / 'out')
    r = subprocess.run([sys.executable, '-m', 'l2h.cli', 'reproduce', '--dataset', 'cifar100', '--root', str(tmp_path),
                        '--out', str(tmp_path / 'out')], capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == ''
    assert r.stderr.startswith(f'l2h reproduce: error: cifar100 is not in {tmp_path}') and r.stderr.count('\n') == 1
    assert '--download' in r.stderr


def test_bad_names_are_refused(tmp_path, registered):
    with pytest.raises(ValueError, match="unknown space 'clip'; the spaces are clip_vitl14, dinov2_vitg14"):
        reproduce_table1('fake', tmp_path, spaces=['clip'])
    with pytest.raises(ValueError, match='spaces must be a non-empty list'):
        reproduce_table1('fake', tmp_path, spaces='tiny_a')
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        reproduce_table1('svhn', tmp_path, spaces=['tiny_a'])


def test_the_command_refuses_unknown_choices(tmp_path, registered, capsys):
    for args in (['--dataset', 'svhn'], ['--dataset', 'fake', '--spaces', 'clip']):
        with pytest.raises(SystemExit) as e: main(['reproduce', '--root', str(tmp_path), *args])
        assert e.value.code == 2 and 'invalid choice' in capsys.readouterr().err


def test_the_paper_spaces_say_what_they_lack_offline(tmp_path, monkeypatch):
    "Without open_clip, or without DINOv2 in the torch hub cache, the spaces fail in one line and download nothing."
    from importlib.util import find_spec
    from l2h.reproduce import load_space
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    with pytest.raises(ValueError, match='not in the torch hub cache'): load_space('dinov2_vitg14')
    if find_spec('open_clip') is None:
        with pytest.raises(ValueError, match=r'pip install "l2h\[reproduce\]"'): load_space('clip_vitl14')
