#!/usr/bin/env python3
"""PyTorch CPU peer of bench/sgld.bench.ts: SGLD steps/s, one thread.

Same cases (bench/sgld.bench.ts MLP_CASES): an MLP (default 64-256-256-10), relu,
bias, MSE loss, minibatches (default 128) drawn at random from n = 4096 random
samples, nβ = 30, ε = 1e-5, γ = 100. One step = minibatch
gather, forward, backward (autograd), Gaussian noise and the localized update

    w ← w − (ε/2)·(nβ·g + γ·(w − w*)) + √ε·N(0, 1)

done in place under no_grad (as devinterp's optim/sgld.py does). Diagnostics
(norms) are not gathered here, which favours PyTorch slightly.

Prints one JSON line: {"stepsPerSecond", "torch", "threads", "params", "steps", "blas"}.
Run by bench/peers.bench.ts; standalone:
  python3 bench/torch_sgld.py [--sizes 64,256,256,10] [--batch 128] [--seconds 2]
"""
import argparse
import json
import math
import os
import sys
import time

# One thread everywhere: torch's intra-op pool and the BLAS it was linked against
# (Debian's torch calls the libblas.so.3 alternative: reference BLAS or OpenBLAS).
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import torch  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(1)

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--sizes", default="64,256,256,10", help="layer widths, comma-separated")
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--seconds", type=float, default=2.0, help="timed run length")
args = parser.parse_args()
SIZES = [int(v) for v in args.sizes.split(",")]
BATCH, N = args.batch, 4096
NBETA, EPS, GAMMA = 30.0, 1e-5, 100.0
SECONDS = args.seconds

x = torch.rand(N, SIZES[0]) * 2 - 1
y = torch.rand(N, SIZES[-1]) * 2 - 1
params = []
for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
    params.append(((torch.rand(fan_out, fan_in) * 2 - 1) * 0.05).requires_grad_())
    params.append(((torch.rand(fan_out) * 2 - 1) * 0.05).requires_grad_())
w_star = [p.detach().clone() for p in params]
n_params = sum(p.numel() for p in params)
sqrt_eps = math.sqrt(EPS)


def step():
    idx = torch.randint(N, (BATCH,))
    h = x[idx]
    for i in range(0, len(params), 2):
        h = torch.nn.functional.linear(h, params[i], params[i + 1])
        if i + 2 < len(params):
            h = torch.relu(h)
    loss = torch.nn.functional.mse_loss(h, y[idx])
    for p in params:
        p.grad = None
    loss.backward()
    with torch.no_grad():
        for p, p0 in zip(params, w_star):
            drift = p.grad.mul(NBETA).add_(p - p0, alpha=GAMMA)
            p.add_(drift, alpha=-EPS / 2).add_(torch.randn_like(p), alpha=sqrt_eps)


for _ in range(50):  # warm-up
    step()
steps, start = 0, time.perf_counter()
while True:
    for _ in range(20):
        step()
    steps += 20
    elapsed = time.perf_counter() - start
    if elapsed >= SECONDS:
        break


def blas_library():
    """The BLAS shared object actually mapped into this process (Linux)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line}
        return ", ".join(sorted(os.path.realpath(p) for p in paths)) or "unknown"
    except OSError:
        return "unknown"


print(json.dumps({
    "stepsPerSecond": steps / elapsed,
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "params": n_params,
    "steps": steps,
    "blas": blas_library(),
}))
