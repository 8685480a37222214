"""A character-level language model of Tiny Shakespeare with tinygrad_ko: a small GPT (the default),
an LSTM or a plain RNN, trained to predict the next character; then it writes a passage.

    python examples/char_lm.py                  # GPT, 4 layers x 4 heads x 128: val loss ~1.75
    python examples/char_lm.py --model lstm     # embedding -> LSTM(256) -> linear: ~1.6
    python examples/char_lm.py --model rnn      # the simplest recurrent model
    python examples/char_lm.py --device cuda    # on an NVIDIA GPU (pip install cupy-cuda12x)
    python examples/char_lm.py --help

Losses are in nats per character (uniform guessing: ln 65 = 4.17; a bigram model: about 2.5).
The text is read with tinygrad_ko.data.CharDataset from --data-dir, $TINYGRAD_KO_DATA or
~/.cache/tinygrad_ko/tinyshakespeare, and downloaded there when missing.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tinygrad_ko as tg  # noqa: E402
from tinygrad_ko import nn, optim  # noqa: E402
from tinygrad_ko.data import CharDataset  # noqa: E402
from tinygrad_ko.nn import functional as F  # noqa: E402
from tinygrad_ko.train import progress  # noqa: E402

# per model: iterations, batch size, learning rate, context length, evaluation interval
DEFAULTS = {"gpt": dict(max_iters=2000, batch_size=16, lr=2e-3, block_size=64, eval_interval=250),
            "lstm": dict(max_iters=2000, batch_size=32, lr=4e-3, block_size=64, eval_interval=250),
            "rnn": dict(max_iters=2000, batch_size=32, lr=3e-3, block_size=64, eval_interval=250)}


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t only sees positions 0..t."""

    def __init__(self, d: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(d, 3 * d)     # query, key and value projections in one matmul
        self.proj = nn.Linear(d, d)

    def forward(self, x: tg.Tensor) -> tg.Tensor:
        B, T, C = x.shape
        H = self.n_head
        qkv = self.qkv(x).reshape(B, T, 3, H, C // H).permute(2, 0, 3, 1, 4)   # (3, B, H, T, d)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
        return self.proj(y.swapaxes(1, 2).reshape(B, T, C))


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, d: int, n_head: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, n_head)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * d, d))

    def forward(self, x: tg.Tensor) -> tg.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Token and position embeddings, n_layer blocks, a final layer norm, a linear head."""

    def __init__(self, vocab: int, block_size: int, n_layer: int = 4, n_head: int = 4,
                 d: int = 128) -> None:
        super().__init__()
        self.block_size = block_size
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(block_size, d)
        self.blocks = nn.ModuleList([Block(d, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)
        for name, p in self.named_parameters():     # GPT-2's initialisation
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.ndim == 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith(("proj.weight",
                                                                      "mlp.2.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx: tg.Tensor, state: object = None) -> tuple[tg.Tensor, object]:
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(tg.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x)), None


class RecurrentLM(nn.Module):
    """Embedding -> LSTM or RNN -> linear head (the book's TimeEmbedding, TimeLSTM, TimeAffine)."""

    def __init__(self, vocab: int, kind: str, d_emb: int = 64, hidden: int = 256) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_emb)
        self.rnn = (nn.LSTM if kind == "lstm" else nn.RNN)(d_emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx: tg.Tensor, state: object = None) -> tuple[tg.Tensor, object]:
        out, state = self.rnn(self.embed(idx), state)
        return self.head(out), state


def make_model(kind: str, vocab: int, block_size: int) -> nn.Module:
    return GPT(vocab, block_size) if kind == "gpt" else RecurrentLM(vocab, kind)


def loss_of(model: nn.Module, x: tg.Tensor, y: tg.Tensor) -> tg.Tensor:
    logits, _ = model(x)
    B, T, V = logits.shape
    return F.cross_entropy(logits.reshape(B * T, V), y.reshape(B * T))


def batch(ds: CharDataset, batch_size: int, g: np.random.Generator,
          device: str) -> tuple[tg.Tensor, tg.Tensor]:
    """Random windows of the text (CPU tensors), moved to the model's device."""
    x, y = ds.get_batch(batch_size, g)
    return x.to(device), y.to(device)


def estimate_loss(model: nn.Module, ds: CharDataset, batches: int, batch_size: int,
                  seed: int, device: str = "cpu") -> float:
    """Mean loss over fixed random windows (the same ones each time: comparable numbers)."""
    g = np.random.default_rng(seed)
    model.eval()
    with tg.no_grad():
        total = sum(loss_of(model, *batch(ds, batch_size, g, device)).item()
                    for _ in range(batches))
    model.train()
    return total / batches


def sample(model: nn.Module, ds: CharDataset, n: int, temperature: float, seed: int,
           prompt: str = "\n", device: str = "cpu") -> str:
    """n characters, each drawn from softmax(logits / temperature) given the ones before (the
    model runs on ``device``; the draw itself on the host)."""
    g = np.random.default_rng(seed)
    ids = list(ds.vocab.encode(prompt))
    model.eval()
    state = None
    with tg.no_grad():
        context = np.array([ids])
        for _ in range(n):
            if isinstance(model, GPT):   # a transformer re-reads its last block_size characters
                logits, _ = model(tg.tensor(np.array([ids[-model.block_size:]]), device=device))
            else:                        # a recurrent model carries its state forward
                logits, state = model(tg.tensor(context, device=device), state)
            z = logits[0, -1].cpu().numpy().astype(np.float64) / max(temperature, 1e-6)
            p = np.exp(z - z.max())
            nxt = int(g.choice(len(p), p=p / p.sum()))
            ids.append(nxt)
            context = np.array([[nxt]])
    model.train()
    return ds.vocab.decode(ids[len(prompt):])


def plot(history: dict[str, list[float]], path: str, title: str) -> str | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(history["iter"], history["train_loss"], marker="o", label="train")
    ax.plot(history["iter"], history["val_loss"], marker="o", label="validation")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (nats / character)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["gpt", "lstm", "rnn"], default="gpt")
    ap.add_argument("--max-iters", type=int, help="training steps (default 2000)")
    ap.add_argument("--batch-size", type=int, help="default: gpt 16, lstm/rnn 32")
    ap.add_argument("--block-size", type=int, help="context length in characters (default 64)")
    ap.add_argument("--lr", type=float, help="peak learning rate of AdamW")
    ap.add_argument("--eval-interval", type=int, help="iterations between validation losses")
    ap.add_argument("--eval-batches", type=int, default=10, help="batches per loss estimate")
    ap.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm (0: none)")
    ap.add_argument("--text-chars", type=int, help="use only the first N characters (quick tries)")
    ap.add_argument("--sample-chars", type=int, default=300)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--data-dir", help="folder with tinyshakespeare's input.txt")
    ap.add_argument("--out-dir", default="runs", help="where the checkpoint and plot go")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu",
                    help="where to train: cpu (default), cuda (an NVIDIA GPU, through CuPy) or "
                         "auto (the GPU when there is one)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    device = ("cuda" if tg.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    cfg = dict(DEFAULTS[args.model])
    for key in cfg:
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)

    start = time.perf_counter()
    tg.manual_seed(args.seed)
    text = None
    if args.text_chars:
        from tinygrad_ko.data import load_tiny_shakespeare
        text = load_tiny_shakespeare(args.data_dir)[:args.text_chars]
    train = CharDataset("train", cfg["block_size"], text=text, data_dir=args.data_dir)
    val = CharDataset("val", cfg["block_size"], text=text, data_dir=args.data_dir)
    print(f"Tiny Shakespeare: {len(train.data):,} train / {len(val.data):,} validation characters, "
          f"vocabulary {len(train.vocab)}")
    model = make_model(args.model, len(train.vocab), cfg["block_size"]).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model {args.model} ({n_params:,} parameters) on {device}, {cfg['max_iters']} "
          f"iterations of {cfg['batch_size']} x {cfg['block_size']} characters")
    opt = optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.01 if args.model == "gpt"
                      else 0.0)
    warmup, max_iters = min(100, cfg["max_iters"] // 10), cfg["max_iters"]

    def lr_at(it: int) -> float:   # linear warm-up, then cosine decay to a tenth
        if it < warmup:
            return cfg["lr"] * (it + 1) / warmup
        frac = (it - warmup) / max(1, max_iters - warmup)
        return cfg["lr"] * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

    history: dict[str, list[float]] = {"iter": [], "train_loss": [], "val_loss": [], "time": []}
    g = np.random.default_rng(args.seed)
    bar = progress(range(max_iters), total=max_iters, desc=args.model,
                   enabled=not args.no_progress)
    running = None
    train_time = 0.0      # the training steps only (loss.item() waits for each on a GPU)
    for it in bar:
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = lr_at(it)
        x, y = batch(train, cfg["batch_size"], g, device)
        loss = loss_of(model, x, y)
        opt.zero_grad()
        loss.backward()
        if args.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
        train_time += time.perf_counter() - t0
        bar.set_postfix_str(f"loss {running:.3f}")
        last = it == max_iters - 1
        if (it + 1) % cfg["eval_interval"] == 0 or last:
            batches = args.eval_batches * (4 if last else 1)
            tl = estimate_loss(model, train, batches, cfg["batch_size"], 1, device)
            vl = estimate_loss(model, val, batches, cfg["batch_size"], 2, device)
            elapsed = time.perf_counter() - start
            for k, v in (("iter", it + 1), ("train_loss", tl), ("val_loss", vl),
                         ("time", elapsed)):
                history[k].append(v)
            msg = f"iter {it + 1}: train loss {tl:.3f}, val loss {vl:.3f} ({elapsed:.0f}s)"
            if args.no_progress:
                print(msg, flush=True)
            else:
                bar.write(msg) if hasattr(bar, "write") else print(msg, flush=True)

    os.makedirs(args.out_dir, exist_ok=True)
    ckpt = os.path.join(args.out_dir, f"char_lm_{args.model}.npz")
    model.save(ckpt)
    fig = plot(history, os.path.join(args.out_dir, f"char_lm_{args.model}.png"),
               f"Tiny Shakespeare, {args.model}")
    text_out = sample(model, train, args.sample_chars, args.temperature, args.seed,
                      device=device)
    elapsed = time.perf_counter() - start
    speed = max_iters / max(train_time, 1e-9)
    print(f"final: train loss {history['train_loss'][-1]:.3f}, val loss "
          f"{history['val_loss'][-1]:.3f} nats/char  (total {elapsed:.1f}s, training "
          f"{speed:.1f} iterations/s)")
    print(f"--- sample (temperature {args.temperature}) ---\n{text_out}\n---")
    print(f"checkpoint: {ckpt}" + (f", curves: {fig}" if fig else
                                   " (pip install matplotlib for the curves)"))
    return {"history": history, "elapsed": elapsed, "sample": text_out, "checkpoint": ckpt,
            "plot": fig, "iters_per_s": speed, "device": device}


if __name__ == "__main__":
    main()
