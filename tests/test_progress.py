"Progress bars only where someone watches: on a terminal, in a notebook, or when asked for; never in a log."
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import textwrap

import pytest

BAR = textwrap.dedent('''
    import sys
    from l2h.io import progress_bar
    progress = {'None': None, 'True': True, 'False': False}[sys.argv[1]]
    for _ in progress_bar(range(3), progress, 'counting'): pass
''')


def stderr_piped(progress: str) -> str:
    r = subprocess.run([sys.executable, '-c', BAR, progress], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stderr


def stderr_on_a_terminal(code: str, *args) -> str:
    "What the Python `code` writes to stderr when stderr is a pseudo-terminal (stdout is piped)."
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 80, 0, 0))  # tqdm draws nothing 0 columns wide
    p = subprocess.Popen([sys.executable, '-c', code, *args], stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    said = b''
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready: break
        try: chunk = os.read(leader, 4096)
        except OSError: break  # EIO: the child closed the terminal
        if not chunk: break
        said += chunk
    os.close(leader)
    assert p.wait(60) == 0, said
    return said.decode(errors='replace')


def test_no_bar_when_stderr_is_not_a_terminal():
    assert stderr_piped('None') == ''
    assert stderr_piped('False') == ''


def test_a_bar_when_asked_for():
    said = stderr_piped('True')
    assert 'counting' in said and '/3' in said


def test_a_bar_on_a_terminal():
    said = stderr_on_a_terminal(BAR, 'None')
    assert 'counting' in said and '/3' in said
    assert stderr_on_a_terminal(BAR, 'False') == ''


LIBRARY_CALL = textwrap.dedent('''
    import numpy as np
    from l2h.core import logits_to_hierarchy
    logits_to_hierarchy(np.random.default_rng(0).normal(size=(2000, 8)).astype(np.float32), progress=None)
''')


def test_library_calls_print_nothing_on_small_inputs_even_on_a_terminal():
    assert stderr_on_a_terminal(LIBRARY_CALL) == ''


def test_build_prints_no_bar_into_a_log(tmp_path):
    import numpy as np
    np.save(tmp_path / 'L.npy', np.random.default_rng(0).normal(size=(500, 6)).astype(np.float32))
    r = subprocess.run([sys.executable, '-m', 'l2h.cli', 'build', tmp_path / 'L.npy', '--out', tmp_path / 'out'],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == ''
