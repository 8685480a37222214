"""Benchmark rows for the sequence models: one training step (forward, backward, AdamW) of the
default char-level transformer and of the LSTM, at batch 32 and sequence 64, in tinygrad_ko and in
PyTorch with the same sizes.

Each ``build_*`` function sets a model up and returns ``step()``, a function of no arguments that
runs one training step; the benchmark harness times ``step`` (warm-up, repeats, median).

    python examples/bench_seq.py               # each row in its own process, median ms per step
    python examples/bench_seq.py --repeats 30
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Callable

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

BATCH, SEQ, VOCAB = 32, 64, 65
GPT = dict(n_layer=4, n_head=4, d=128)        # examples/char_lm.py's default transformer
LSTM = dict(d_emb=64, hidden=256)             # examples/char_lm.py's LSTM


def _batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    x = g.integers(0, VOCAB, size=(BATCH, SEQ + 1))
    return x[:, :-1].copy(), x[:, 1:].copy()


def build_tinygrad_ko_transformer() -> Callable[[], None]:
    """char_lm.py's GPT, one AdamW step."""
    sys.path.insert(0, HERE)
    import char_lm
    import tinygrad_ko as tg
    tg.manual_seed(0)
    model = char_lm.GPT(VOCAB, SEQ, **GPT)
    return _tg_step(model, char_lm)


def build_tinygrad_ko_lstm() -> Callable[[], None]:
    """char_lm.py's embedding -> LSTM -> linear, one AdamW step."""
    sys.path.insert(0, HERE)
    import char_lm
    import tinygrad_ko as tg
    tg.manual_seed(0)
    model = char_lm.RecurrentLM(VOCAB, "lstm", **LSTM)
    return _tg_step(model, char_lm)


def _tg_step(model, char_lm) -> Callable[[], None]:
    import tinygrad_ko as tg
    from tinygrad_ko import optim
    opt = optim.AdamW(model.parameters(), lr=1e-3)
    x, y = (tg.Tensor(a) for a in _batch())

    def step() -> None:
        loss = char_lm.loss_of(model, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def build_torch_transformer() -> Callable[[], None]:
    """The same transformer in PyTorch (pre-norm blocks, causal SDPA, GELU tanh)."""
    import torch
    from torch import nn
    torch.manual_seed(0)
    d, H, L = GPT["d"], GPT["n_head"], GPT["n_layer"]

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"),
                                     nn.Linear(4 * d, d))

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(self.ln1(x)).reshape(B, T, 3, H, C // H).permute(2, 0, 3, 1, 4)
            y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.mlp(self.ln2(x))

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok, self.pos = nn.Embedding(VOCAB, d), nn.Embedding(SEQ, d)
            self.blocks = nn.Sequential(*[Block() for _ in range(L)])
            self.ln_f, self.head = nn.LayerNorm(d), nn.Linear(d, VOCAB)

        def forward(self, idx):
            x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
            return self.head(self.ln_f(self.blocks(x)))

    return _torch_step(Model())


def build_torch_lstm() -> Callable[[], None]:
    """The same embedding -> LSTM -> linear in PyTorch."""
    import torch
    from torch import nn
    torch.manual_seed(0)

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(VOCAB, LSTM["d_emb"])
            self.rnn = nn.LSTM(LSTM["d_emb"], LSTM["hidden"], batch_first=True)
            self.head = nn.Linear(LSTM["hidden"], VOCAB)

        def forward(self, idx):
            return self.head(self.rnn(self.embed(idx))[0])

    return _torch_step(Model())


def _torch_step(model) -> Callable[[], None]:
    import torch
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = (torch.tensor(a) for a in _batch())

    def step() -> None:
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


ROWS: dict[str, dict[str, Callable[[], Callable[[], None]]]] = {
    "char transformer step (4x4x128, batch 32, seq 64)": {
        "tinygrad_ko": build_tinygrad_ko_transformer, "pytorch": build_torch_transformer},
    "char LSTM step (64 -> 256, batch 32, seq 64)": {
        "tinygrad_ko": build_tinygrad_ko_lstm, "pytorch": build_torch_lstm},
}


def time_step(step: Callable[[], None], repeats: int, warmup: int = 3) -> float:
    """Median seconds of ``step()`` over ``repeats`` runs, after ``warmup`` runs."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--one", nargs=2, metavar=("ROW", "IMPL"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:   # the child process: build and time one row of one implementation
        row, impl = args.one
        print(time_step(ROWS[row][impl](), args.repeats))
        return {}
    results: dict = {}
    for row, impls in ROWS.items():
        results[row] = {}
        for impl in impls:
            try:
                import importlib.util
                if impl == "pytorch" and importlib.util.find_spec("torch") is None:
                    print(f"{row}: {impl}: skipped (PyTorch is not installed)")
                    continue
            except ImportError:
                continue
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--repeats",
                                  str(args.repeats), "--one", row, impl],
                                 capture_output=True, text=True, check=True)
            results[row][impl] = float(out.stdout.strip().splitlines()[-1])
        r = results[row]
        ratio = (f"  ({r['tinygrad_ko'] / r['pytorch']:.2f}x PyTorch)"
                 if len(r) == 2 else "")
        print(f"{row}: " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in r.items()) + ratio,
              flush=True)
    return results


if __name__ == "__main__":
    main()
