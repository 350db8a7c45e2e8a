"""GPU checks of l2h (run by hand on a machine with a CUDA GPU; not part of the test run).

    python tests/device/gpu_check.py          # prints one line per check, and a JSON summary at the end

What it checks, each against the CPU's compiled build or l2h_reference: the torch backend on the GPU (float32,
float64, float16, bfloat16, sample weights, blocks of rows, logits on the CPU computed on the GPU); AllReduce over
NCCL in a one-process group, as `reduce`; a torchrun build with NCCL; TURTLE and extract_logits on the GPU; and the
time of 1.28M × 1000 float32 on the GPU against `L.max(1)` there.
"""
import json, os, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from logit_sets import logit_sets, class_structured_logits  # noqa: E402
from l2h.core import logits_to_hierarchy, l2h_reference  # noqa: E402

results = {}

def check(name, f):
    t = time.perf_counter()
    try:
        said = f()
        results[name] = dict(ok=True, said=said, s=round(time.perf_counter() - t, 2))
    except Exception as e:  # a report: every failure is printed, none stops the others
        results[name] = dict(ok=False, said=f'{type(e).__name__}: {e}', s=round(time.perf_counter() - t, 2))
    print(name, json.dumps(results[name]), flush=True)

def same(a, b): return a.children.tolist() == b.children.tolist()

def equivalence():
    "float64 on the GPU against l2h_reference; float32 on the GPU against float32 on the CPU (names of the sets that differ)."
    import warnings
    from l2h.core import TorchBackend
    sets, f64, f32 = logit_sets(0), [], []
    ways = {'default': 'auto', 'reread-all': TorchBackend(gather_max=0), 'update-any': TorchBackend(10**9, keep_min_rows=0)}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for name, L in sets:
            t = torch.from_numpy(np.asarray(L, dtype=np.float64))
            want = l2h_reference(t)
            f64 += [f'{name} ({way})' for way, b in ways.items()
                    if not same(logits_to_hierarchy(t.cuda(), backend=b, progress=False), want)]
            t = t.float()
            if not same(logits_to_hierarchy(t.cuda(), progress=False), logits_to_hierarchy(t, progress=False)): f32.append(name)
    return dict(sets=len(sets), float64_differ=f64, float32_differ=f32)

def half_types():
    L = class_structured_logits(20000, 100)
    out = {}
    for dtype in (torch.float16, torch.bfloat16):
        t = torch.from_numpy(L).to(dtype)
        out[str(dtype)] = same(logits_to_hierarchy(t.cuda(), progress=False), logits_to_hierarchy(t, backend='torch', progress=False))
    return out

def weights_and_parts():
    L = class_structured_logits(30000, 200, seed=3)
    w = np.random.default_rng(0).poisson(1.0, len(L)).astype(float)
    a = same(logits_to_hierarchy(torch.from_numpy(L).cuda(), sample_weight=w, progress=False),
             logits_to_hierarchy(L, sample_weight=w, progress=False))
    parts = [torch.from_numpy(L[:10000]).cuda(), torch.from_numpy(L[10000:]).cuda()]
    b = same(logits_to_hierarchy(parts, progress=False), logits_to_hierarchy(L, progress=False))
    c = same(logits_to_hierarchy(L, device='cuda', progress=False), logits_to_hierarchy(L, progress=False))
    return dict(weights=a, parts=b, cpu_logits_on_gpu=c)

def nccl_reduce():
    import torch.distributed as dist
    from l2h.distributed import AllReduce
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT='29533')
    dist.init_process_group('nccl', rank=0, world_size=1)
    try:
        total = AllReduce()
        L = class_structured_logits(30000, 200, seed=4)
        h = logits_to_hierarchy([torch.from_numpy(L).cuda()], reduce=total, progress=False)
        return dict(same=same(h, logits_to_hierarchy(L, progress=False)), calls=total.calls, bytes=total.bytes,
                    device=str(total.device))
    finally: dist.destroy_process_group()

def torchrun_nccl():
    with tempfile.TemporaryDirectory() as d:
        L = class_structured_logits(40000, 300, seed=5)
        np.save(f'{d}/logits-00000-of-00002.npy', L[:20000]); np.save(f'{d}/logits-00001-of-00002.npy', L[20000:])
        done = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '1', '-m', 'l2h.cli',
                               'build', d, '--out', f'{d}/out', '--figure', 'svg'], capture_output=True, text=True,
                              timeout=240)
        from l2h.hierarchy import load
        got = load(f'{d}/out/merges.json') if done.returncode == 0 else None
        return dict(rc=done.returncode, same=same(got, logits_to_hierarchy(L, progress=False)) if got else None,
                    tail=(done.stdout + done.stderr)[-600:])

def turtle_gpu():
    from l2h.flat import turtle
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(10, 64)) * 3
    y = rng.integers(0, 10, 5000)
    X = (centers[y] + rng.normal(size=(5000, 64))).astype(np.float32)
    t = time.perf_counter()
    logits = turtle([X], 10, iters=300, device='cuda', progress=False)
    from l2h.metrics import cluster_acc
    acc = cluster_acc(y, logits.argmax(1).cpu().numpy())
    return dict(device=str(logits.device), shape=list(logits.shape), acc=round(float(acc), 3),
                s=round(time.perf_counter() - t, 1))

def extract_gpu():
    from torch.utils.data import TensorDataset
    from l2h.logits import extract_logits
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10)).eval()
    X = torch.randn(1000, 3, 8, 8)
    want = model(X).detach().numpy()  # before the extraction, which moves the model to the GPU
    got = extract_logits(model, TensorDataset(X), device='cuda', num_workers=0, progress=False)
    return dict(max_abs_diff=float(np.abs(np.asarray(got.outputs) - want).max()))

def speed():
    L = torch.from_numpy(class_structured_logits(1_280_000, 1000)).cuda()
    def timed(f, repeat=3):
        best = float('inf')
        for _ in range(repeat):
            torch.cuda.synchronize(); t = time.perf_counter(); f(); torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        return best
    logits_to_hierarchy(L[:100000], progress=False)  # warm-up: CUDA context, kernels
    t_max, t = timed(lambda: L.max(1)), timed(lambda: logits_to_hierarchy(L, progress=False), 2)
    cpu = L.cpu().numpy()
    t_move = timed(lambda: logits_to_hierarchy(cpu, device='cuda', progress=False), 1)
    torch.cuda.reset_peak_memory_stats()
    logits_to_hierarchy(L, progress=False)
    extra = torch.cuda.max_memory_allocated() - L.numel() * 4
    return dict(n=len(L), k=1000, build_s=round(t, 3), max_s=round(t_max, 4), ratio=round(t / t_max, 1),
                from_cpu_s=round(t_move, 2), extra_gpu_memory_over_logits=round(extra / (L.numel() * 4), 3))

if __name__ == '__main__':
    print(torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU', flush=True)
    for name, f in [('equivalence', equivalence), ('half_types', half_types), ('weights_and_parts', weights_and_parts),
                    ('nccl_reduce', nccl_reduce), ('torchrun_nccl', torchrun_nccl), ('turtle_gpu', turtle_gpu),
                    ('extract_gpu', extract_gpu), ('speed', speed)]:
        check(name, f)
    out = os.environ.get('OUT')
    if out: Path(out, 'gpu_check.json').write_text(json.dumps(results, indent=1))
    print(json.dumps({k: v['ok'] for k, v in results.items()}))
