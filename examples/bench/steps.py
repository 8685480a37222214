"""The benchmark's rows: for each row, one step builder per implementation.

A builder takes the batch size and returns ``step``, a function of no arguments that runs one full
training step (forward, loss, backward, SGD update) on fixed synthetic data; every implementation
of a row starts from the same weights and data (seeded). The harness (examples/benchmark.py) runs
each builder in its own process, so a builder imports what it needs itself.

Adding a row: write its builders and add a ``Row`` to ``ROWS``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

LR = 0.1
Step = Callable[[], Any]


@dataclass
class Row:
    name: str
    group: str                                   # the table it goes in: "mlp" or "cnn"
    batch: int
    builders: dict[str, Callable[[int], Step]]   # implementation -> build(batch) -> step
    rounds: int = 30                             # timed rounds (--quick: fewer)
    burst: int = 4                               # consecutive steps per implementation per round
    memory: tuple[str, ...] = ()                 # implementations whose peak memory is measured
    note: str = ""
    extra: dict = field(default_factory=dict)


# -- MLP rows --------------------------------------------------------------------------------------
def mlp_weights(sizes, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [((rng.standard_normal((o, i)) * np.sqrt(2.0 / i)).astype(np.float32),
             np.zeros(o, np.float32)) for i, o in zip(sizes[:-1], sizes[1:])]


def mlp_data(sizes, batch: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.random((batch, sizes[0]), dtype=np.float32), rng.integers(0, sizes[-1], batch)


def mlp_book(sizes):
    def build(batch):
        from .book import BookNet
        net, (x, t) = BookNet(mlp_weights(sizes)), mlp_data(sizes, batch)
        return lambda: net.step(x, t, LR)
    return build


def make_tinygrad(weights):
    """tinygrad_ko's step on an MLP with these (out, in) weights: nn.Linear, nn.ReLU,
    F.cross_entropy, optim.SGD through the public API; ``step(x, t)`` returns the loss."""
    from tinygrad_ko import nn, optim
    from tinygrad_ko.nn import functional as F
    layers: list = []
    for k, (W, b) in enumerate(weights):
        lin = nn.Linear(W.shape[1], W.shape[0])
        lin.weight._data[...] = W
        lin.bias._data[...] = b
        layers += [lin, nn.ReLU()] if k < len(weights) - 1 else [lin]
    model = nn.Sequential(*layers)
    opt = optim.SGD(model.parameters(), lr=LR)

    def step(x, t):
        loss = F.cross_entropy(model(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    step.model = model   # for the test that every implementation takes the same step
    return step


def mlp_tinygrad(sizes):
    def build(batch):
        import tinygrad_ko as tg
        step, (x, t) = make_tinygrad(mlp_weights(sizes)), mlp_data(sizes, batch)
        xt, tt = tg.Tensor(x), tg.Tensor(t)
        return lambda: step(xt, tt)
    return build


def mlp_torch(sizes):
    def build(batch):
        import torch
        layers: list = []
        weights = mlp_weights(sizes)
        for k, (W, b) in enumerate(weights):
            lin = torch.nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.copy_(torch.from_numpy(b))
            layers += [lin, torch.nn.ReLU()] if k < len(weights) - 1 else [lin]
        return _torch_step(torch.nn.Sequential(*layers), *mlp_data(sizes, batch))
    return build


def _torch_step(model, x, t):
    import torch
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xp, tp = torch.from_numpy(x), torch.from_numpy(t)

    def step():
        loss = torch.nn.functional.cross_entropy(model(xp), tp)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    step.model = model
    return step


def make_floor(weights):
    """Just the NumPy matmuls of the step: forward, dW of every layer, dX of all but the first."""
    Ws = [W.T.copy() for W, _ in weights]   # (in, out), row-major: BLAS's faster orientation

    def step(x, t):
        acts = [x]
        for W in Ws:
            acts.append(acts[-1] @ W)
        g = acts[-1]
        for k in reversed(range(len(Ws))):
            acts[k].T @ g                  # dW
            if k:
                g = g @ Ws[k].T            # dX (not needed for the input layer)
    return step


def mlp_floor(sizes):
    def build(batch):
        step, (x, t) = make_floor(mlp_weights(sizes)), mlp_data(sizes, batch)
        return lambda: step(x, t)
    return build


def make_fused(weights):
    """The step as one hand-written NumPy function, with no framework and no layer objects: row-major
    (in, out) weights, bias added in place, ReLU and its backward in place (this function owns those
    arrays; a framework's ReLU must not overwrite its input, which its user may hold), the stable
    softmax cross-entropy and its gradient (y - t) / N, and p -= lr * g. Its distance from the floor
    is NumPy's own elementwise work; tinygrad_ko's distance from it is the framework's cost."""
    Ws = [W.T.copy() for W, _ in weights]
    bs = [b.copy() for _, b in weights]

    def step(x, t):
        acts = [x]
        for k, (W, b) in enumerate(zip(Ws, bs)):
            y = acts[-1] @ W
            y += b
            if k < len(Ws) - 1:
                np.maximum(y, 0, out=y)
            acts.append(y)
        z = acts[-1]
        shifted = z - z.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(len(t))
        loss = np.log(s[:, 0]).mean() - shifted[rows, t].mean()   # reported, as by the others
        g = e / s                                     # softmax
        g[rows, t] -= 1                               # y - t
        g *= np.float32(1 / len(t))
        for k in reversed(range(len(Ws))):
            gW = acts[k].T @ g
            gb = np.ones(len(g), g.dtype) @ g
            if k:
                gx = g @ Ws[k].T
                gx *= acts[k] > 0
            Ws[k] -= LR * gW
            bs[k] -= LR * gb
            if k:
                g = gx
        return loss
    step.params = (Ws, bs)   # for the test that every implementation takes the same step
    return step


def mlp_fused(sizes):
    def build(batch):
        step, (x, t) = make_fused(mlp_weights(sizes)), mlp_data(sizes, batch)
        return lambda: step(x, t)
    return build


def mlp_row(sizes, batch: int, rounds: int, burst: int) -> Row:
    return Row("-".join(map(str, sizes)) + f" b{batch}", "mlp", batch,
               {"book": mlp_book(sizes), "tinygrad_ko": mlp_tinygrad(sizes),
                "torch": mlp_torch(sizes), "floor": mlp_floor(sizes), "fused": mlp_fused(sizes)},
               rounds=rounds, burst=burst)


# -- CNN rows --------------------------------------------------------------------------------------
# A net is a list of layers: ("conv", out_channels, kernel, padding), ("relu",), ("pool", 2),
# ("flatten",), ("linear", out_features), ("dropout", p). Every implementation builds it from this.
MNIST_CNN = [("conv", 16, 3, 1), ("relu",), ("pool", 2), ("conv", 32, 3, 1), ("relu",), ("pool", 2),
             ("flatten",), ("linear", 128), ("relu",), ("linear", 10)]   # examples/mnist.py
SIMPLE_CONVNET = [("conv", 30, 5, 0), ("relu",), ("pool", 2), ("flatten",), ("linear", 100),
                  ("relu",), ("linear", 10)]                             # ch07/simple_convnet.py
DEEP_CONVNET = [("conv", 16, 3, 1), ("relu",), ("conv", 16, 3, 1), ("relu",), ("pool", 2),
                ("conv", 32, 3, 1), ("relu",), ("conv", 32, 3, 2), ("relu",), ("pool", 2),
                ("conv", 64, 3, 1), ("relu",), ("conv", 64, 3, 1), ("relu",), ("pool", 2),
                ("flatten",), ("linear", 50), ("relu",), ("dropout", 0.5), ("linear", 10),
                ("dropout", 0.5)]                                        # ch08/deep_convnet.py


def cnn_shapes(net, image=(1, 28, 28)):
    """Walk the net: a list of (layer, input shape without the batch, parameter shapes)."""
    shape, out = image, []
    for layer in net:
        params: tuple = ()
        if layer[0] == "conv":
            _, o, k, p = layer
            params = ((o, shape[0], k, k), (o,))
            new = (o, shape[1] + 2 * p - k + 1, shape[2] + 2 * p - k + 1)
        elif layer[0] == "pool":
            new = (shape[0], shape[1] // layer[1], shape[2] // layer[1])
        elif layer[0] == "flatten":
            new = (int(np.prod(shape)),)
        elif layer[0] == "linear":
            params = ((layer[1], shape[0]), (layer[1],))
            new = (layer[1],)
        else:
            new = shape
        out.append((layer, shape, params))
        shape = new
    return out


def cnn_weights(net, seed: int = 0):
    """He-initialised weights in PyTorch's layout: conv (O, C, k, k), linear (out, in); float32."""
    rng = np.random.default_rng(seed)
    ws = []
    for _, _, params in cnn_shapes(net):
        if params:
            w, b = params
            fan_in = int(np.prod(w[1:]))
            ws.append(((rng.standard_normal(w) * np.sqrt(2.0 / fan_in)).astype(np.float32),
                       np.zeros(b, np.float32)))
    return ws


def cnn_data(batch: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)


def _build_layers(net, m, copy):
    """The net as layers of module ``m`` (tinygrad_ko.nn or torch.nn), weights set by copy()."""
    layers, weights = [], iter(cnn_weights(net))
    for layer, shape, _ in cnn_shapes(net):
        kind = layer[0]
        if kind == "conv":
            mod = m.Conv2d(shape[0], layer[1], layer[2], padding=layer[3])
        elif kind == "linear":
            mod = m.Linear(shape[0], layer[1])
        else:
            mod = {"relu": lambda: m.ReLU(), "pool": lambda: m.MaxPool2d(layer[1]),
                   "flatten": lambda: m.Flatten(), "dropout": lambda: m.Dropout(layer[1])}[kind]()
        if kind in ("conv", "linear"):
            copy(mod, *next(weights))
        layers.append(mod)
    return m.Sequential(*layers)


def cnn_tinygrad(net):
    def build(batch):
        import tinygrad_ko as tg
        from tinygrad_ko import nn, optim
        from tinygrad_ko.nn import functional as F

        def copy(mod, w, b):
            mod.weight._data[...] = w
            mod.bias._data[...] = b
        model = _build_layers(net, nn, copy)
        opt = optim.SGD(model.parameters(), lr=LR)
        x, t = cnn_data(batch)
        xt, tt = tg.Tensor(x), tg.Tensor(t)

        def step():
            loss = F.cross_entropy(model(xt), tt)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        step.model = model
        return step
    return build


def cnn_torch(net):
    def build(batch):
        import torch

        def copy(mod, w, b):
            with torch.no_grad():
                mod.weight.copy_(torch.from_numpy(w))
                mod.bias.copy_(torch.from_numpy(b))
        return _torch_step(_build_layers(net, torch.nn, copy), *cnn_data(batch))
    return build


def cnn_floor(net):
    """The GEMMs of the step alone, with im2col's shapes: per conv (N*OH*OW, C*k*k) @ (C*k*k, O)
    forward, its dW and (all but the first layer) its dX; per linear the same as the MLP's."""
    def build(batch):
        rng = np.random.default_rng(0)
        gemms = []   # (a, b) pairs, forward and backward
        first = True
        for layer, shape, params in cnn_shapes(net):
            if not params:
                continue
            if layer[0] == "conv":
                _, o, k, p = layer
                oh = shape[1] + 2 * p - k + 1
                m, kk = batch * oh * oh, shape[0] * k * k
            else:
                m, kk, o = batch, shape[0], layer[1]
            a = rng.random((m, kk), dtype=np.float32)
            w = rng.random((kk, o), dtype=np.float32)
            g = rng.random((m, o), dtype=np.float32)
            gemms += [(a, w), (a.T, g)] + ([] if first else [(g, w.T)])
            first = False

        def step():
            for a, b in gemms:
                a @ b
        return step
    return build


def cnn_book(net):
    def build(batch):
        from .book import SimpleConvNet
        assert net is SIMPLE_CONVNET, "the book column exists for SimpleConvNet"
        (w1, b1), (w2, b2), (w3, b3) = cnn_weights(net)
        # the book's Affine keeps W as (in, out)
        params = {"W1": w1, "b1": b1, "W2": w2.T.copy(), "b2": b2, "W3": w3.T.copy(), "b3": b3}
        model, (x, t) = SimpleConvNet(params), cnn_data(batch)
        step = lambda: model.step(x, t, LR)   # noqa: E731
        step.model = model
        return step
    return build


def cnn_row(name: str, net, batch: int, rounds: int, book: bool = False) -> Row:
    builders = {"tinygrad_ko": cnn_tinygrad(net), "torch": cnn_torch(net),
                "floor": cnn_floor(net)}
    if book:
        builders = {"book": cnn_book(net), **builders}
    return Row(name, "cnn", batch, builders, rounds=rounds, burst=3,
               memory=("tinygrad_ko", "torch"))


# -- sequence-model rows (examples/char_lm.py's models; builders in bench/seq.py) ----------------------
def seq_row(name: str, kind: str, rounds: int) -> Row:
    from . import seq
    tg, torch = {"gpt": (seq.build_tinygrad_ko_transformer, seq.build_torch_transformer),
                 "lstm": (seq.build_tinygrad_ko_lstm, seq.build_torch_lstm)}[kind]
    return Row(name, "seq", seq.BATCH, {"tinygrad_ko": lambda batch: tg(),
                                        "torch": lambda batch: torch()},
               rounds=rounds, burst=2, memory=("tinygrad_ko", "torch"))


ROWS = [
    mlp_row((784, 50, 10), 100, rounds=40, burst=10),
    mlp_row((784, 100, 10), 100, rounds=40, burst=10),
    mlp_row((784, 512, 512, 10), 256, rounds=30, burst=4),
    cnn_row("mnist.py cnn b64", MNIST_CNN, 64, rounds=15),
    cnn_row("SimpleConvNet b100", SIMPLE_CONVNET, 100, rounds=12, book=True),
    cnn_row("DeepConvNet b100", DEEP_CONVNET, 100, rounds=12),
    seq_row("char_lm gpt b32 seq64", "gpt", rounds=10),
    seq_row("char_lm lstm b32 seq64", "lstm", rounds=10),
]
