"""OpenBLAS's rates on this machine, through PyTorch on one thread: the measurement behind
docs/tfjs-wasm.md's "Past WebAssembly's 128-bit ceiling". Bench only, never a dependency.

Usage: OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/blas-rates.py
Prints, for a few products and the mnist-node CNN's convolutions (NCHW, batch 64), the median ms
of 7 runs after 2 warm-up ones, and GFLOP/s (2 per multiply-add).
"""
import statistics
import time

import torch

torch.set_num_threads(1)
F = torch.nn.functional


def median_ms(f, runs=7):
    f()
    f()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        f()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


for m, k, n in [(512, 512, 512), (36864, 288, 32), (288, 36864, 32), (128, 2048, 1024), (128, 256, 2048)]:
    a, b = torch.rand(m, k), torch.rand(k, n)
    ms = median_ms(lambda: torch.mm(a, b))
    print(f"product {m}x{k}x{n}: {ms:.2f} ms, {2 * m * n * k / ms / 1e6:.1f} GFLOP/s")

LAYERS = {
    "conv 2": ((64, 32, 26, 26), (32, 32, 3, 3)),
    "conv 3": ((64, 32, 12, 12), (64, 32, 3, 3)),
    "conv 4": ((64, 64, 10, 10), (64, 64, 3, 3)),
}
for name, (x_shape, w_shape) in LAYERS.items():
    x = torch.rand(*x_shape, requires_grad=True)
    w = torch.rand(*w_shape, requires_grad=True)
    y = F.conv2d(x, w)
    dy = torch.rand_like(y)
    flops = 2 * y.numel() * w_shape[1] * w_shape[2] * w_shape[3]
    forward = median_ms(lambda: F.conv2d(x, w))
    all_three = median_ms(lambda: torch.autograd.grad(F.conv2d(x, w), [x, w], dy))
    print(
        f"{name}: forward {forward:.2f} ms, {flops / forward / 1e6:.1f} GFLOP/s; "
        f"forward and both gradients {all_three:.2f} ms, {3 * flops / all_three / 1e6:.1f} GFLOP/s"
    )
