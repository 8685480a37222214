"""The benchmark's sequence-model rows: one training step (forward, backward, AdamW) of
examples/char_lm.py's default transformer and of its LSTM, at batch 32 and sequence 64, in
tinygrad_ko and in PyTorch with the same sizes. Each ``build_*`` returns ``step()``, a function of
no arguments that runs one training step; examples/benchmark.py times it (``--rows seq``)."""
from __future__ import annotations

import os
import sys
from typing import Callable

import numpy as np

EXAMPLES = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # char_lm.py's folder

BATCH, SEQ, VOCAB = 32, 64, 65
GPT = dict(n_layer=4, n_head=4, d=128)        # examples/char_lm.py's default transformer
LSTM = dict(d_emb=64, hidden=256)             # examples/char_lm.py's LSTM


def _batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    x = g.integers(0, VOCAB, size=(BATCH, SEQ + 1))
    return x[:, :-1].copy(), x[:, 1:].copy()


def build_tinygrad_ko_transformer() -> Callable[[], None]:
    """char_lm.py's GPT, one AdamW step."""
    sys.path.insert(0, EXAMPLES)
    import char_lm
    import tinygrad_ko as tg
    tg.manual_seed(0)
    model = char_lm.GPT(VOCAB, SEQ, **GPT)
    return _tg_step(model, char_lm)


def build_tinygrad_ko_lstm() -> Callable[[], None]:
    """char_lm.py's embedding -> LSTM -> linear, one AdamW step."""
    sys.path.insert(0, EXAMPLES)
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
