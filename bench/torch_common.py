"""What bench/torch_sgld.py and bench/torch_transformer_sgld.py share: PyTorch on
one thread, devinterp's localized SGLD update, the timing loop and the report line.

Import it before anything else imports torch: the thread variables must be set
before torch (and the BLAS it loads) starts.
"""
import json
import math
import os
import time

# One thread everywhere: torch's intra-op pool and the BLAS it was linked against
# (Debian's torch calls the libblas.so.3 alternative: reference BLAS or OpenBLAS).
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import torch  # noqa: E402

torch.set_num_threads(1)


def sgld_update(params, w_star, nbeta, gamma, eps):
    """w ← w − (ε/2)·(nβ·g + γ·(w − w*)) + √ε·N(0, 1), in place (devinterp optim/sgld.py)."""
    sqrt_eps = math.sqrt(eps)
    with torch.no_grad():
        for p, p0 in zip(params, w_star):
            drift = p.grad.mul(nbeta).add_(p - p0, alpha=gamma)
            p.add_(drift, alpha=-eps / 2).add_(torch.randn_like(p), alpha=sqrt_eps)


def time_steps(step, warmup, seconds, exact_steps=0):
    """Run `warmup` untimed steps, then steps until `seconds` pass (or exactly
    `exact_steps`); returns (steps, elapsed seconds, the last step's return value)."""
    for _ in range(warmup):
        step()
    steps, start, last = 0, time.perf_counter(), None
    while True:
        last = step()
        steps += 1
        elapsed = time.perf_counter() - start
        if (exact_steps and steps >= exact_steps) or (not exact_steps and elapsed >= seconds):
            return steps, elapsed, last


def blas_library():
    """The BLAS shared object actually mapped into this process (Linux)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line}
        return ", ".join(sorted(os.path.realpath(p) for p in paths)) or "unknown"
    except OSError:
        return "unknown"


def report(steps, elapsed, n_params, **extra):
    """The one JSON line bench/peers.bench.ts reads."""
    print(json.dumps({
        "stepsPerSecond": steps / elapsed,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "params": n_params,
        "steps": steps,
        "blas": blas_library(),
        **extra,
    }))
