#!/usr/bin/env python3
"""PyTorch CPU peer of bench/transformer.bench.ts: transformer SGLD steps/s, one thread.

The model is TransformerLens's HookedTransformer with attn_only=True, written out in
plain PyTorch (no transformer_lens import), with TL's state-dict names and shapes:

    embed.W_E [d_vocab, d_model]           pos_embed.W_pos [n_ctx, d_model]
    blocks.{l}.ln1.w|b [d_model]           blocks.{l}.attn.W_Q|W_K|W_V [n_heads, d_model, d_head]
    blocks.{l}.attn.W_O [n_heads, d_head, d_model]
    blocks.{l}.attn.b_Q|b_K|b_V [n_heads, d_head]   blocks.{l}.attn.b_O [d_model]
    ln_final.w|b [d_model]   unembed.W_U [d_model, d_vocab]   unembed.b_U [d_vocab]

    resid_0 = W_E[tokens] (+ W_pos[p] for "standard" positions)
    block l: x = LN1(resid_l) (eps 1e-5, biased variance);  qk_in = x (+ W_pos[p] for
             "shortformer": added to the query and key inputs only, after ln1)
             q = qk_in·W_Q + b_Q, k = qk_in·W_K + b_K, v = x·W_V + b_V
             z = softmax(causal(q·kᵀ / √d_head))·v;  resid_{l+1} = resid_l + z·W_O + b_O
    logits = LN_f(resid_L)·W_U + b_U
    loss = next-token cross-entropy, mean over batch·(T − 1) predictions

bench/peers.bench.ts passes bench/transformer.bench.ts's "default training model" case
(DEFAULT_TRAIN_MODEL in src/train-job.ts) as arguments: batch 32, T = n_ctx, drawn from 64
token sequences, with its sampler (ε = 1e-3, γ = 200, nβ = 30). The script's own defaults
(2 layers, 8 heads, d_model 64, d_head 8, n_ctx 128, d_vocab 1024, LN, shortformer, both
biases) are an earlier default model of ours. One step = minibatch
gather, forward, backward (autograd), Gaussian noise and the localized update

    w ← w − (ε/2)·(nβ·g + γ·(w − w*)) + √ε·N(0, 1)

in place under no_grad (as devinterp's optim/sgld.py does). Diagnostics (norms, MALA)
are not gathered here, which favours PyTorch slightly. w* and the tokens are random.

Bench mode prints one JSON line:
    {"stepsPerSecond", "torch", "threads", "params", "steps", "blas", "compile", "loss", "config"}
Run by bench/peers.bench.ts; standalone: python3 bench/torch_transformer_sgld.py [--seconds S] ...

--check WEIGHTS --tokens TOKENS prints {"loss", "loss_f64", "grad_norm", ...} at those
weights (no SGLD): the mean next-token loss over every sequence of the token file, as
one batch, in f32 (the engine's precision) and f64, and ‖∇L‖ in f32. WEIGHTS is a
safetensors file with TL's names (F32/F64; an llc-wasm checkpoint's __metadata__.model
supplies the config, otherwise the command-line sizes do) or a raw little-endian f32
file holding the tensors above concatenated in that order (llc-wasm's parameter-arena
order, unpadded). TOKENS is a safetensors file with "tokens" [n_seq, T] (I32/I64) or raw
little-endian int32 [n_seq, T] with T = --seq-len (default n_ctx). --grad-out FILE also
writes ∇L as raw f32 in arena order.
"""
import argparse
import array
import json
import math
import struct
import sys

from torch_common import report, sgld_update, time_steps  # first: one thread before torch starts
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

LN_EPS = 1e-5  # TL's default cfg.eps


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=32, help="sequences per minibatch (default 32)")
    p.add_argument("--seq-len", type=int, default=None, help="tokens per sequence T (default n_ctx)")
    p.add_argument("--n-seq", type=int, default=None, help="sequences in the data set (default 2·batch)")
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--n-heads", type=int, default=8)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--d-head", type=int, default=8)
    p.add_argument("--n-ctx", type=int, default=128)
    p.add_argument("--d-vocab", type=int, default=1024)
    p.add_argument("--normalization", choices=["LN", "none"], default="LN")
    p.add_argument("--positional-embedding", choices=["shortformer", "standard"], default="shortformer")
    p.add_argument("--no-attn-bias", action="store_true")
    p.add_argument("--no-unembed-bias", action="store_true")
    p.add_argument("--epsilon", type=float, default=1e-3)
    p.add_argument("--gamma", type=float, default=200.0)
    p.add_argument("--nbeta", type=float, default=30.0)
    p.add_argument("--seconds", type=float, default=3.0, help="minimum measuring time (default 3)")
    p.add_argument("--steps", type=int, default=0, help="run exactly this many timed steps instead of --seconds")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--compile", action="store_true", help="torch.compile the loss (needs PyTorch >= 2.0; off by default)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--check", metavar="WEIGHTS", help="print the loss at these weights on --tokens, then exit")
    p.add_argument("--tokens", metavar="TOKENS", help="token file for --check")
    p.add_argument("--grad-out", metavar="FILE", help="with --check: write the gradient as raw f32 in arena order")
    return p.parse_args()


def config_from_args(a):
    return {
        "n_layers": a.n_layers, "n_heads": a.n_heads, "d_model": a.d_model, "d_head": a.d_head,
        "n_ctx": a.n_ctx, "d_vocab": a.d_vocab,
        "normalization": None if a.normalization == "none" else a.normalization,
        "positional_embedding": a.positional_embedding,
        "attn_bias": not a.no_attn_bias, "unembed_bias": not a.no_unembed_bias,
    }


def tensor_specs(cfg):
    """TL state-dict names and shapes, in llc-wasm's arena order (src/models.ts transformerTensors)."""
    H, d, dh, V = cfg["n_heads"], cfg["d_model"], cfg["d_head"], cfg["d_vocab"]
    specs = [("embed.W_E", (V, d)), ("pos_embed.W_pos", (cfg["n_ctx"], d))]
    for l in range(cfg["n_layers"]):
        b = f"blocks.{l}"
        if cfg["normalization"] == "LN":
            specs += [(f"{b}.ln1.w", (d,)), (f"{b}.ln1.b", (d,))]
        specs += [(f"{b}.attn.{w}", (H, d, dh)) for w in ("W_Q", "W_K", "W_V")]
        specs.append((f"{b}.attn.W_O", (H, dh, d)))
        if cfg["attn_bias"]:
            specs += [(f"{b}.attn.{w}", (H, dh)) for w in ("b_Q", "b_K", "b_V")]
            specs.append((f"{b}.attn.b_O", (d,)))
    if cfg["normalization"] == "LN":
        specs += [("ln_final.w", (d,)), ("ln_final.b", (d,))]
    specs.append(("unembed.W_U", (d, V)))
    if cfg["unembed_bias"]:
        specs.append(("unembed.b_U", (V,)))
    return specs


def causal_mask(T):
    """True above the diagonal: key j > query i is masked."""
    return torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)


def loss_fn(p, tokens, cfg, mask):
    """Mean next-token cross-entropy of tokens [B, T] (TL utils.lm_cross_entropy_loss)."""
    B, T = tokens.shape
    H, d, dh = cfg["n_heads"], cfg["d_model"], cfg["d_head"]
    use_ln = cfg["normalization"] == "LN"
    shortformer = cfg["positional_embedding"] == "shortformer"
    pos = p["pos_embed.W_pos"][:T]  # [T, d]
    resid = p["embed.W_E"][tokens]  # [B, T, d]
    if not shortformer:
        resid = resid + pos
    scale = 1.0 / math.sqrt(dh)
    for l in range(cfg["n_layers"]):
        b = f"blocks.{l}"
        x = F.layer_norm(resid, (d,), p[f"{b}.ln1.w"], p[f"{b}.ln1.b"], LN_EPS) if use_ln else resid
        qk_in = x + pos if shortformer else x
        # [H, d, dh] -> [d, H·dh] (head-major columns): one matmul per projection, q/k/v as [B, T, H, dh]
        W_Q, W_K, W_V = (p[f"{b}.attn.{w}"].permute(1, 0, 2).reshape(d, H * dh) for w in ("W_Q", "W_K", "W_V"))
        q, k, v = qk_in @ W_Q, qk_in @ W_K, x @ W_V
        if cfg["attn_bias"]:
            q = q + p[f"{b}.attn.b_Q"].reshape(H * dh)
            k = k + p[f"{b}.attn.b_K"].reshape(H * dh)
            v = v + p[f"{b}.attn.b_V"].reshape(H * dh)
        q, k, v = (t.view(B, T, H, dh).transpose(1, 2) for t in (q, k, v))  # [B, H, T, dh]
        scores = (q @ k.transpose(-1, -2)) * scale  # [B, H, T, T]
        scores = scores.masked_fill(mask[:T, :T], float("-inf"))
        pattern = torch.softmax(scores, dim=-1)
        z = (pattern @ v).transpose(1, 2).reshape(B, T, H * dh)  # [B, T, H·dh]
        attn_out = z @ p[f"{b}.attn.W_O"].reshape(H * dh, d)
        if cfg["attn_bias"]:
            attn_out = attn_out + p[f"{b}.attn.b_O"]
        resid = resid + attn_out
    x = F.layer_norm(resid, (d,), p["ln_final.w"], p["ln_final.b"], LN_EPS) if use_ln else resid
    logits = x @ p["unembed.W_U"]
    if cfg["unembed_bias"]:
        logits = logits + p["unembed.b_U"]
    V = cfg["d_vocab"]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), tokens[:, 1:].reshape(-1))


# ---- files (--check)

_ST_DTYPES = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32, "I64": torch.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = raw[8 + n:]
    tensors = {}
    for name, info in header.items():
        if info["dtype"] not in _ST_DTYPES:
            sys.exit(f"{path}: tensor {name} has dtype {info['dtype']}; supported: {', '.join(_ST_DTYPES)}")
        begin, end = info["data_offsets"]
        dtype = _ST_DTYPES[info["dtype"]]
        buf = bytearray(data[begin:end])
        t = torch.frombuffer(buf, dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(info["shape"]).clone()
    return tensors, meta


def load_weights(path, cfg):
    """Weights as {TL name: f32 tensor}; the config from an llc-wasm checkpoint's metadata if present."""
    if path.endswith(".safetensors"):
        tensors, meta = read_safetensors(path)
        if "model" in meta:
            m = json.loads(meta["model"])
            cfg = {key: m.get(key, cfg[key]) for key in cfg}
        weights = {}
        for name, shape in tensor_specs(cfg):
            if name not in tensors:
                sys.exit(f"{path}: missing tensor {name}")
            if tuple(tensors[name].shape) != shape:
                sys.exit(f"{path}: {name} has shape {list(tensors[name].shape)}, expected {list(shape)}")
            weights[name] = tensors[name].to(torch.float32)
        return weights, cfg
    flat = torch.frombuffer(bytearray(open(path, "rb").read()), dtype=torch.float32)
    specs = tensor_specs(cfg)
    total = sum(math.prod(s) for _, s in specs)
    if flat.numel() < total:
        sys.exit(f"{path}: {flat.numel()} floats, the model needs {total}")
    weights, offset = {}, 0
    for name, shape in specs:
        size = math.prod(shape)
        weights[name] = flat[offset:offset + size].reshape(shape).clone()
        offset += size
    return weights, cfg


def load_tokens(path, seq_len):
    if path.endswith(".safetensors"):
        tensors, _ = read_safetensors(path)
        if "tokens" not in tensors or tensors["tokens"].dim() != 2:
            sys.exit(f"{path}: expected a tensor 'tokens' [n_seq, T]")
        return tensors["tokens"].to(torch.int64)
    flat = torch.frombuffer(bytearray(open(path, "rb").read()), dtype=torch.int32)
    if flat.numel() % seq_len:
        sys.exit(f"{path}: {flat.numel()} int32 values is not a multiple of T = {seq_len}")
    return flat.reshape(-1, seq_len).to(torch.int64)


def check(a, cfg):
    if not a.tokens:
        sys.exit("--check needs --tokens")
    weights, cfg = load_weights(a.check, cfg)
    tokens = load_tokens(a.tokens, a.seq_len or cfg["n_ctx"])
    if tokens.shape[1] > cfg["n_ctx"]:
        sys.exit(f"T = {tokens.shape[1]} exceeds n_ctx = {cfg['n_ctx']}")
    mask = causal_mask(cfg["n_ctx"])
    p = {name: w.clone().requires_grad_() for name, w in weights.items()}
    loss = loss_fn(p, tokens, cfg, mask)
    loss.backward()
    grads = [p[name].grad.reshape(-1) for name, _ in tensor_specs(cfg)]
    flat_grad = torch.cat(grads)
    with torch.no_grad():
        loss64 = loss_fn({n: w.double() for n, w in weights.items()}, tokens, cfg, mask).item()
    if a.grad_out:
        with open(a.grad_out, "wb") as f:
            f.write(array.array("f", flat_grad.tolist()).tobytes())
    print(json.dumps({
        "loss": loss.item(), "loss_f64": loss64, "grad_norm": flat_grad.double().norm().item(),
        "n_seq": tokens.shape[0], "T": tokens.shape[1], "params": flat_grad.numel(), "config": cfg,
    }))


# ---- bench

def bench(a, cfg):
    torch.manual_seed(a.seed)
    T = a.seq_len or cfg["n_ctx"]
    n_seq = a.n_seq or 2 * a.batch
    if T > cfg["n_ctx"]:
        sys.exit(f"--seq-len {T} exceeds --n-ctx {cfg['n_ctx']}")
    data = torch.randint(cfg["d_vocab"], (n_seq, T))
    names = [name for name, _ in tensor_specs(cfg)]
    # w* as bench/transformer.bench.ts draws it: uniform in [-0.05, 0.05) (LN weights included).
    params = {name: ((torch.rand(shape) * 2 - 1) * 0.05).requires_grad_() for name, shape in tensor_specs(cfg)}
    plist = [params[n] for n in names]
    w_star = [p.detach().clone() for p in plist]
    n_params = sum(p.numel() for p in plist)
    mask = causal_mask(cfg["n_ctx"])
    eps, nbeta, gamma = a.epsilon, a.nbeta, a.gamma

    compute_loss = loss_fn
    if a.compile:
        if not hasattr(torch, "compile"):
            sys.exit(f"--compile needs torch.compile (PyTorch >= 2.0); this is PyTorch {torch.__version__}")
        compute_loss = torch.compile(loss_fn)

    def step():
        idx = torch.randint(n_seq, (a.batch,))
        loss = compute_loss(params, data[idx], cfg, mask)
        for p in plist:
            p.grad = None
        loss.backward()
        sgld_update(plist, w_star, nbeta, gamma, eps)
        return loss.detach()

    steps, elapsed, loss = time_steps(step, a.warmup, a.seconds, a.steps)
    loss = loss.item()
    if not math.isfinite(loss):
        sys.exit(f"the chain diverged: loss {loss} after {a.warmup + steps} steps")
    report(steps, elapsed, n_params, compile=bool(a.compile), loss=loss,
           config={**cfg, "batch": a.batch, "T": T, "n_seq": n_seq, "epsilon": eps, "gamma": gamma, "nbeta": nbeta})

def main():
    a = parse_args()
    cfg = config_from_args(a)
    if a.check:
        check(a, cfg)
    else:
        bench(a, cfg)


if __name__ == "__main__":
    main()
