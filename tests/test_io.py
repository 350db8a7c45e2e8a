"Reading what users hand l2h, and cleaning up after killed writers: each bad file named in one line, no advice to unpickle."
import os
import signal
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import torch

from l2h.io import atomic_write, read_features, read_labels, read_logits, read_names, write_output_set


def one_line_error(call) -> str:
    "The message of the ValueError `call()` raises, checked to be one line."
    with pytest.raises(ValueError) as e: call()
    message = str(e.value)
    assert '\n' not in message, message
    return message


# Logits files that are not what their name says

@pytest.fixture
def bad_files(tmp_path):
    noise = np.random.default_rng(0).bytes(4096)
    for name in ('noise.pt', 'noise.npy', 'noise.npz'): (tmp_path / name).write_bytes(noise)
    torch.save([1.5, 2.5], tmp_path / 'list.pt')
    torch.save('hello', tmp_path / 'str.pt')
    torch.save({'logits': [1.5, 2.5], 'labels': torch.zeros(2)}, tmp_path / 'dict_of_list.pt')
    torch.save({'logits': np.zeros((3, 2))}, tmp_path / 'numpy_inside.pt')
    torch.save(torch.zeros(3, 2), tmp_path / 'ok.pt')
    (tmp_path / 'cut.pt').write_bytes((tmp_path / 'ok.pt').read_bytes()[:300])
    (tmp_path / 'empty.pt').write_bytes(b'')
    with zipfile.ZipFile(tmp_path / 'other_zip.pt', 'w') as z: z.writestr('a', 'b')
    np.save(tmp_path / 'objects.npy', np.array([{'a': 1}, None]), allow_pickle=True)
    np.savez(tmp_path / 'objects.npz', logits=np.array([{'a': 1}, None]))
    return tmp_path


@pytest.mark.parametrize('name,message', [
    ('noise.pt', 'noise.pt is not a torch file'),
    ('cut.pt', 'cut.pt is not a torch file'),
    ('empty.pt', 'empty.pt is not a torch file'),
    ('other_zip.pt', 'other_zip.pt is not a torch file'),
    ('list.pt', 'list.pt holds a list, not a tensor'),
    ('str.pt', 'str.pt holds a str, not a tensor'),
    ('dict_of_list.pt', "dict_of_list.pt holds a list under 'logits', not a tensor"),
    ('numpy_inside.pt', 'numpy_inside.pt holds Python objects'),
    ('noise.npy', 'noise.npy is not a .npy file'),
    ('noise.npz', 'noise.npz is not a .npz file'),
    ('objects.npy', 'objects.npy holds Python objects, not numbers'),
    ('objects.npz', 'objects.npz holds Python objects, not numbers'),
])
def test_files_that_are_not_logits_are_named_in_one_line(bad_files, name, message):
    text = one_line_error(lambda: read_logits(bad_files / name))
    assert message in text
    assert 'weights_only' not in text and 'allow_pickle' not in text and 'pickled data' not in text  # never advice to unpickle


def test_folders_and_pipes_are_not_reported_missing(tmp_path):
    (tmp_path / 'folder.npy').mkdir()
    os.mkfifo(tmp_path / 'pipe.npy')
    for read in (read_logits, read_features, lambda p: read_names(p, 2), lambda p: read_labels(p, 2)):
        assert one_line_error(lambda: read(tmp_path / 'folder.npy')).endswith('folder.npy is a folder, not a file')
        assert 'pipe.npy is not a regular file' in one_line_error(lambda: read(tmp_path / 'pipe.npy'))
        assert one_line_error(lambda: read(tmp_path / 'none.npy')).endswith('none.npy: no such file')


PEAK_RSS = textwrap.dedent('''
    import resource, sys
    import numpy as np, torch
    from l2h.io import read_logits
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    L = read_logits(sys.argv[1])
    assert L.shape == (1000, 100), L.shape
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
''')


def test_npz_decompresses_only_the_logits(tmp_path):
    "A 400 MB member of zeros compresses to about 400 KB; reading the logits beside it must not decompress it."
    path, big = tmp_path / 'L.npz', 400 << 20
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
        with z.open('logits.npy', 'w') as f: np.lib.format.write_array(f, np.ones((1000, 100), np.float32))
        with z.open('zeros.npy', 'w', force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {'descr': '|u1', 'fortran_order': False, 'shape': (big,)})
            zeros = bytes(1 << 20)
            for _ in range(big >> 20): f.write(zeros)
    assert path.stat().st_size < 4 << 20
    r = subprocess.run([sys.executable, '-c', PEAK_RSS, str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    grown_kb = int(r.stdout)
    assert grown_kb < 50 << 10, f"reading the logits raised the peak memory by {grown_kb >> 10} MB"


# Names

def test_names_lose_a_byte_order_mark_carriage_returns_and_surrounding_spaces(tmp_path):
    (tmp_path / 'names.txt').write_bytes('\ufefftabby\r\n  siamese \r\npersian\t\r\n'.encode())
    assert read_names(tmp_path / 'names.txt', 3) == ['tabby', 'siamese', 'persian']


def test_names_split_at_newlines_only(tmp_path):
    (tmp_path / 'names.txt').write_text('a\u2028b\nc\x85d\n', encoding='utf-8')
    assert read_names(tmp_path / 'names.txt', 2) == ['a\u2028b', 'c\x85d']


def test_repeated_and_empty_names_are_refused_with_their_lines(tmp_path):
    (tmp_path / 'names.txt').write_text('cat\ntabby\ndog\ntabby\nfox\n')
    assert one_line_error(lambda: read_names(tmp_path / 'names.txt', 5)).endswith(
        "names.txt: line 4 repeats the name on line 2 ('tabby')")
    (tmp_path / 'names.txt').write_text('a\nb\nc\nd\ne\nf\n  \nh\n')
    assert one_line_error(lambda: read_names(tmp_path / 'names.txt', 8)).endswith('names.txt: line 7 is empty')
    (tmp_path / 'names.txt').write_text('a\nb\n')
    assert read_names(tmp_path / 'names.txt', 2) == ['a', 'b']  # the newline ending the last line is not an empty name


# Temporary files of killed writers

KILLED_WRITER = textwrap.dedent('''
    import os, signal, sys
    from pathlib import Path
    from l2h.io import atomic_output, write_output_set
    def die(path):
        Path(path).write_text('half')
        os.kill(os.getpid(), signal.SIGKILL)
    if sys.argv[1] == 'file':
        with atomic_output(sys.argv[2]) as tmp: die(tmp)
    else: write_output_set(sys.argv[2], {'a.txt': 'one', 'b.txt': die})
''')


def killed_writer(kind, target):
    r = subprocess.run([sys.executable, '-c', KILLED_WRITER, kind, str(target)], capture_output=True)
    assert r.returncode == -signal.SIGKILL, r.stderr


def test_a_later_write_removes_what_killed_writers_left(tmp_path):
    atomic_write(tmp_path / 'result.txt', 'first')
    write_output_set(tmp_path / 'out', {'a.txt': 'first'})
    for _ in range(2):
        killed_writer('file', tmp_path / 'result.txt')
        killed_writer('set', tmp_path / 'out')
    left = sorted(p.name for p in tmp_path.iterdir())  # the second killed writers removed what the first ones left
    assert len(left) == 4 and left[0].startswith('.out.l2h-') and left[1].startswith('.result.txt.l2h-'), left
    assert (tmp_path / 'result.txt').read_text() == 'first' and (tmp_path / 'out' / 'a.txt').read_text() == 'first'
    atomic_write(tmp_path / 'result.txt', 'second')
    write_output_set(tmp_path / 'out', {'a.txt': 'second'})
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out', 'result.txt']
