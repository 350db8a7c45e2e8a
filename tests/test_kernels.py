"The compiled CPU loops: same answers as the torch path, and L2H still runs where they cannot be built."
import multiprocessing
import os
import platform
import queue
import shlex
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

import l2h.core as core
import l2h.kernels as kernels
from l2h.core import CompiledBackend, TorchBackend, l2h_reference, logits_to_hierarchy
from logit_sets import class_structured_logits, tree_logits

needs_compiler = pytest.mark.skipif(kernels.cpu_kernels() is None, reason='no C compiler')


@pytest.fixture
def fresh_build(monkeypatch, tmp_path):
    "An empty cache, and `cpu_kernels` forgets what it built, so that the next call compiles (or fails to)."
    monkeypatch.setenv('L2H_CACHE', str(tmp_path / 'cache'))
    kernels.cpu_kernels.cache_clear()
    yield tmp_path / 'cache'
    kernels.cpu_kernels.cache_clear()


FAKE_CC = '''
import sys
from pathlib import Path
here = Path(sys.argv[0]).parent
with open(here / 'calls', 'a') as log: print(*sys.argv[1:], file=log)
if sys.argv[1:] == ['--version']: sys.exit(print('fakecc', (here / 'version').read_text()))
sys.exit(print(*(f'kernels.c:{i}: error: fake error {i}' for i in range(1, 21)), sep='\\n', file=sys.stderr) or 1)
'''


def fake_cc(folder: Path, version: str = '1.0') -> str:
    "A `CC` (two words: Python and a script) that says `version` to --version and fails to compile with 20 lines."
    folder.mkdir(exist_ok=True)
    (folder / 'fakecc.py').write_text(FAKE_CC)
    (folder / 'version').write_text(version)
    return shlex.join([sys.executable, str(folder / 'fakecc.py')])


def compiles(folder: Path) -> int:
    "How many times the fake compiler in `folder` was asked to compile."
    calls = folder / 'calls'
    return sum('-O3' in line for line in calls.read_text().splitlines()) if calls.exists() else 0


@contextmanager
def no_warning():
    "A block in which any warning is an error."
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        yield


@needs_compiler
@pytest.mark.parametrize('dtype,rtol', [(np.float32, 1e-6), (np.float64, 1e-13)])
def test_first_pass_matches_torch(dtype, rtol):
    L = torch.from_numpy(class_structured_logits(3000, 100).astype(dtype))
    stats = []
    for engine in (CompiledBackend(kernels.cpu_kernels()), TorchBackend()):
        engine.prepare(L, L.device, L.dtype)
        stats.append(core._empty_stats(len(L), L.device))
        engine.first_pass(L, stats[-1], False)
    compiled, plain = stats
    for name, a, b in zip(core._RowStats._fields, compiled, plain):
        if a.dtype == torch.int64: assert torch.equal(a, b), name
        else: np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rtol, atol=rtol, err_msg=name)


@needs_compiler
def test_strided_rows_use_the_kernels_and_other_layouts_do_not():
    L = tree_logits(np.random.default_rng(0), 600, 12)
    cpu = torch.device('cpu')
    assert CompiledBackend.cannot_read(torch.from_numpy(L[::2]), cpu) is None  # a row stride is fine
    assert 'not contiguous' in CompiledBackend.cannot_read(torch.from_numpy(np.asfortranarray(L)), cpu)
    assert 'float16' in CompiledBackend.cannot_read(torch.from_numpy(L).half(), cpu)
    assert logits_to_hierarchy(L[::2], backend='compiled') == l2h_reference(L[::2])
    with pytest.raises(ValueError, match="backend='compiled' cannot run: .* not contiguous"):
        logits_to_hierarchy(np.asfortranarray(L), backend='compiled')
    with pytest.raises(ValueError, match="the compiled backend given cannot run: .* not contiguous"):  # it read garbage
        logits_to_hierarchy(np.asfortranarray(L), backend=CompiledBackend(kernels.cpu_kernels()))


def test_the_c_source_is_package_data():
    "The loops are l2h/data/kernels.c, which setup.py's package_data ('data/*') puts in every build of l2h."
    package = Path(kernels.__file__).parent
    assert kernels._source() == (package / 'data' / 'kernels.c').read_text(encoding='utf-8')
    setup = package.parent / 'setup.py'
    if setup.exists(): assert "package_data={'l2h': ['data/*']}" in setup.read_text()


@needs_compiler
def test_the_library_is_compiled_once_and_cached(fresh_build):
    assert kernels.cpu_kernels() is not None
    built = list(fresh_build.iterdir())
    assert len(built) == 1 and built[0].suffix == '.so'  # no temporary left behind
    kernels.cpu_kernels.cache_clear()
    mtime = built[0].stat().st_mtime_ns
    assert kernels.cpu_kernels() is not None and built[0].stat().st_mtime_ns == mtime


@pytest.mark.parametrize('setting', [('CC', '/nonexistent/cc'), ('CC', 'false'), ('L2H_KERNELS', '0')])
def test_without_kernels_l2h_runs_on_torch(monkeypatch, fresh_build, setting):
    monkeypatch.setenv(*setting)
    if setting[0] == 'CC':
        with pytest.warns(RuntimeWarning, match='runs on torch alone here'): assert kernels.cpu_kernels() is None
    else:
        with no_warning(): assert kernels.cpu_kernels() is None  # turned off on purpose: nothing to say
    assert not list(fresh_build.glob('*.so'))
    L = tree_logits(np.random.default_rng(1), 400, 15)
    assert logits_to_hierarchy(L) == l2h_reference(L)
    with pytest.raises(ValueError, match="backend='compiled' cannot run: the C loops could not be built"):
        logits_to_hierarchy(L, backend='compiled')


def test_a_failed_build_warns_once_with_the_compilers_words_and_is_not_retried(monkeypatch, fresh_build, tmp_path):
    monkeypatch.setenv('CC', fake_cc(tmp_path / 'cc'))
    with pytest.warns(RuntimeWarning) as caught:
        assert kernels.cpu_kernels() is None
        assert kernels.cpu_kernels() is None  # the same process: no second warning
    assert len(caught) == 1
    said = str(caught[0].message)
    assert 'fake error 1\n' in said and 'fake error 8\n' in said and 'fake error 9' not in said  # trimmed...
    assert '(12 more lines)' in said and 'exit status 1' in said                                # ...and says so
    failed, = fresh_build.glob('kernels-*.failed')
    assert failed.read_text().startswith(f"{os.environ['CC']} failed (exit status 1)\nkernels.c:1: error: fake error 1")
    kernels.cpu_kernels.cache_clear()  # as a new process: it warns again, from the record, without compiling
    with pytest.warns(RuntimeWarning, match=f'fake error 1\n(.|\n)*remembered in {failed}'):
        assert kernels.cpu_kernels() is None
    assert compiles(tmp_path / 'cc') == 1


def test_another_compiler_version_or_cpu_is_another_build(monkeypatch, fresh_build, tmp_path):
    monkeypatch.setenv('CC', fake_cc(tmp_path / 'cc', '1.0'))
    with pytest.warns(RuntimeWarning): kernels.cpu_kernels()
    kernels.cpu_kernels.cache_clear()
    (tmp_path / 'cc' / 'version').write_text('2.0')  # the same command, a new compiler behind it
    with pytest.warns(RuntimeWarning): kernels.cpu_kernels()
    assert compiles(tmp_path / 'cc') == 2 and len(list(fresh_build.glob('*.failed'))) == 2
    key = kernels._library_key(kernels._compiler())
    monkeypatch.setattr(kernels, '_cpu_features', lambda: 'another CPU')
    assert kernels._library_key(kernels._compiler()) != key


@pytest.mark.skipif(platform.system() != 'Linux', reason='reads /proc/cpuinfo')
def test_the_key_holds_the_instruction_sets_linux_lists():
    with open('/proc/cpuinfo') as f: line = next(l for l in f if l.startswith(('flags', 'Features')))
    assert line.partition(':')[2].strip() in kernels._cpu_features()


@needs_compiler
def test_cc_is_split_like_a_shell_command(monkeypatch, fresh_build):
    monkeypatch.setenv('CC', 'env ' + (os.environ.get('CC') or 'cc'))  # a wrapper, as in CC='ccache gcc'
    with no_warning(): assert kernels.cpu_kernels() is not None
    assert len(list(fresh_build.glob('kernels-*.so'))) == 1


@needs_compiler
@pytest.mark.parametrize('damage', ['garbage', 'cut short'])
def test_a_damaged_library_is_built_again(tmp_path, fresh_build, damage):
    cc = kernels._compiler()
    key = kernels._library_key(cc)
    assert kernels._compile(cc, tmp_path / 'whole', key) is None  # a library like the one to damage, never loaded
    whole, = (tmp_path / 'whole').iterdir()
    data = whole.read_bytes()
    fresh_build.mkdir()
    # loading a library cut short can kill the process with SIGBUS (it does here at 100 bytes), so it must not be tried
    (fresh_build / whole.name).write_bytes(b'not a library' * 100 if damage == 'garbage' else data[:100])
    with no_warning(): loops = kernels.cpu_kernels()
    assert loops is not None
    rebuilt, = fresh_build.glob('kernels-*.so')
    assert rebuilt.read_bytes() == data
    L = np.random.default_rng(0).normal(size=(5, 4))
    a = np.empty(5, np.int64)
    assert loops.first_pass(L, a, np.empty(5, np.int64), np.empty(5), np.empty(5), np.empty(5)) == -1
    assert (a == L.argmax(1)).all()


def _in_child(L, answers, first):
    "What a forked child sends back: the compiled first pass (l2h's threads), then L2H (one torch thread)."
    try:
        loops, n = kernels.cpu_kernels(), len(L)
        again = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n), np.empty(n), np.empty(n)
        loops.first_pass(L, *again)
        answers.put(('first pass', all(np.array_equal(x, y) for x, y in zip(again, first))))
        # torch's own threads (OpenMP, MKL) do not survive a fork either: a forked child runs torch on one thread, as
        # its DataLoader workers do
        torch.set_num_threads(1)
        answers.put(('L2H', logits_to_hierarchy(L, backend='compiled')))
    except BaseException as e: answers.put(('failed', repr(e)))


@needs_compiler
@pytest.mark.skipif('fork' not in multiprocessing.get_all_start_methods(), reason='no fork here')
@pytest.mark.filterwarnings('ignore:This process .* is multi-threaded, use of fork')  # on purpose
def test_a_forked_child_runs_the_loops_on_threads_of_its_own():
    threads = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        L = tree_logits(np.random.default_rng(2), 20000, 64).astype(np.float32)  # 1.3 million values: 4 threads
        n = len(L)
        first = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n), np.empty(n), np.empty(n)
        kernels.cpu_kernels().first_pass(L, *first)
        assert kernels._pool.cache_info().currsize == 1  # the pool's threads have started
        merges = logits_to_hierarchy(L, backend='compiled')
        fork = multiprocessing.get_context('fork')
        answers = fork.Queue()
        child = fork.Process(target=_in_child, args=(L, answers, first), daemon=True)
        child.start()
        try:
            assert answers.get(timeout=60) == ('first pass', True)  # before the fix: no answer, the child waits
            assert answers.get(timeout=60) == ('L2H', merges)
        finally:
            child.kill()
            child.join()
    finally: torch.set_num_threads(threads)
