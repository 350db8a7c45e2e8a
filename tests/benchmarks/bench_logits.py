"""Throughput of `extract_logits` (images per second) for a small torchvision model (not part of the test run).

    python tests/benchmarks/bench_logits.py                          # resnet18, 512 images, CPU
    python tests/benchmarks/bench_logits.py --model mobilenet_v3_small --n 2048 --workers 2
    python tests/benchmarks/bench_logits.py --device cuda --amp bf16 --n 20000 --batch-size 256

Prints, for the same model and images: the model alone on one batch already in memory (the ceiling), `extract_logits`
on tensors in memory, the same into a resumable `.npy` (what the checkpointing costs), and the whole pipeline from JPEG
files through the weights' preprocessing (decoding and resizing included), as `l2h extract` runs it.
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import TensorDataset

from l2h.logits import extract_logits, image_folder, load_model


def rate(n, seconds): return f"{n / seconds:8.1f} images/s"


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', default='resnet18')
    p.add_argument('--n', type=int, default=512)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--device', default=None)
    p.add_argument('--amp', default=None, choices=['bf16', 'fp16'])
    p.add_argument('--workers', type=int, default=None)
    a = p.parse_args()
    clf = load_model(a.model, weights=None)  # random weights: the speed is the same and nothing is downloaded
    device = torch.device(a.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    amp = a.amp or False
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {device}; {a.model}, {a.n} images 224×224, "
          f"batch {a.batch_size}, amp {amp}")
    X = torch.randn(a.n, 3, 224, 224)
    model = clf.model.to(device)
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16 if amp == 'bf16' else torch.float16, enabled=bool(amp)):
        xb = X[:a.batch_size].to(device)
        model(xb)
        if device.type == 'cuda': torch.cuda.synchronize()
        t = time.perf_counter()
        model(xb)
        if device.type == 'cuda': torch.cuda.synchronize()
        print(f"model alone, one batch in memory      {rate(a.batch_size, time.perf_counter() - t)}")
    kw = dict(batch_size=a.batch_size, device=device, amp=amp, progress=False)
    t = time.perf_counter()
    extract_logits(model, TensorDataset(X), num_workers=0, **kw)
    print(f"extract_logits, tensors in memory      {rate(a.n, time.perf_counter() - t)}")
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        extract_logits(model, TensorDataset(X), num_workers=0, out=Path(d) / 'logits.npy', **kw)
        print(f"  … into a resumable logits.npy        {rate(a.n, time.perf_counter() - t)}")
        rng = np.random.default_rng(0)
        for i in range(a.n):  # photo-sized JPEGs, so decoding and resizing cost what they do on real data
            Image.fromarray(rng.integers(0, 255, (375, 500, 3), dtype=np.uint8)).save(f'{d}/{i:06d}.jpg', quality=90)
        ds = image_folder(d, clf.transform)
        t = time.perf_counter()
        extract_logits(model, ds, num_workers=a.workers, **kw)
        print(f"from JPEG files (decode, resize, crop) {rate(a.n, time.perf_counter() - t)}  (workers: {a.workers if a.workers is not None else 'default'})")


if __name__ == '__main__':
    main()
