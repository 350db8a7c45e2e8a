"""Run a command in a child process whose memory a cgroup (v1) caps, and measure its anonymous memory.

The cgroup is made inside this process's own memory cgroup (so whatever limits the machine already sets still hold),
and removed when the child has ended. Page cache counts towards a v1 limit too, but the kernel reclaims it under
pressure: a process that reads a memory-mapped file larger than the limit runs, slower, while one whose anonymous
memory outgrows the limit is killed (exit status -9).
"""
import os
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path('/sys/fs/cgroup/memory')


def why_no_memory_limit() -> str | None:
    "Why a memory limit cannot be set up here, or None when it can."
    if os.name != 'posix' or os.geteuid() != 0: return 'setting a cgroup memory limit needs root'
    if not (ROOT / 'memory.limit_in_bytes').exists(): return f'no cgroup v1 memory controller at {ROOT}'
    if not os.access(own_cgroup(), os.W_OK): return f'cannot make a cgroup inside {own_cgroup()}'
    return None


def own_cgroup() -> Path:
    "The memory cgroup this process is in."
    for line in Path('/proc/self/cgroup').read_text().splitlines():
        _, controllers, path = line.split(':', 2)
        if 'memory' in controllers.split(','): return ROOT / path.lstrip('/')
    return ROOT


def _anonymous(group: Path) -> int:
    "Anonymous memory (rss: heap, stacks, anonymous mappings) the cgroup uses now."
    for line in (group / 'memory.stat').read_text().splitlines():
        if line.startswith('total_rss '): return int(line.split()[1])
    return 0


def forget(folder: Path):
    "Drop the cached pages of the .npy files in `folder` (these files only), so that the next read comes from disk."
    for p in Path(folder).glob('*.npy'):
        fd = os.open(p, os.O_RDONLY)
        try: os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally: os.close(fd)


def run_limited(argv, limit_bytes: int, timeout: float = 120, **kw):
    "Run `argv` capped at `limit_bytes`: (CompletedProcess, peak anonymous bytes, times the limit was hit)."
    group = own_cgroup() / f'l2h-test-{os.getpid()}-{time.monotonic_ns()}'
    group.mkdir()
    try:
        (group / 'memory.limit_in_bytes').write_text(str(limit_bytes))
        swap = group / 'memory.memsw.limit_in_bytes'  # no swapping out of the limit either, where swap is accounted
        if swap.exists(): swap.write_text(str(limit_bytes))
        procs = str(group / 'cgroup.procs')
        def enter():  # in the child, before exec: everything it runs is inside the cgroup
            with open(procs, 'w') as f: f.write(str(os.getpid()))
        peak, done = [0], threading.Event()
        def watch():
            while not done.wait(0.02): peak[0] = max(peak[0], _anonymous(group))
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try: r = subprocess.run(argv, preexec_fn=enter, capture_output=True, text=True, timeout=timeout, **kw)
        finally: done.set(); watcher.join()
        failures = int((group / 'memory.failcnt').read_text())
        return r, peak[0], failures
    finally:
        for _ in range(50):  # the cgroup can be removed once the kernel has let go of the child's last pages
            try: group.rmdir(); break
            except OSError: time.sleep(0.1)
