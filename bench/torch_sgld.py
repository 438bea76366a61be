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

from torch_common import report, sgld_update, time_steps  # first: one thread before torch starts
import torch  # noqa: E402

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
    sgld_update(params, w_star, NBETA, GAMMA, EPS)


steps, elapsed, _ = time_steps(step, warmup=50, seconds=SECONDS)
report(steps, elapsed, n_params)
