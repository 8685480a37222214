"""The book's gradient check (chapter 5): the gradients of the two-layer net on a small MNIST
batch, once by numerical differentiation and once by backprop; prints the mean absolute
difference per parameter (W1, b1, W2, b2) and how long each method took.

    python examples/gradient_check.py [--batch 3] [--data-dir DIR]

As the book, the net is float64 with weights drawn with std 0.01; numerical_gradient nudges each
weight in place by h = 1e-4, so it needs two forward passes per weight (39,760 of them).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tinygrad_ko as tg  # noqa: E402
from tinygrad_ko import nn  # noqa: E402
from tinygrad_ko.data import load_mnist  # noqa: E402
from tinygrad_ko.gradcheck import gradcheck, numerical_gradient  # noqa: E402
from tinygrad_ko.nn import functional as F  # noqa: E402


def two_layer_net(input_size=784, hidden_size=50, output_size=10, weight_init_std=0.01, seed=0):
    """The book's TwoLayerNet as an nn.Sequential (Affine - Relu - Affine), in float64."""
    g = np.random.default_rng(seed)
    net = nn.Sequential(nn.Linear(input_size, hidden_size), nn.ReLU(),
                        nn.Linear(hidden_size, output_size)).double()
    with tg.no_grad():
        for layer in (net[0], net[2]):
            layer.weight.copy_(weight_init_std * g.standard_normal(layer.weight.shape))
            layer.bias.zero_()
    return net


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=3, help="number of MNIST images (default 3)")
    ap.add_argument("--hidden", type=int, default=50, help="hidden units (default 50, the book's)")
    ap.add_argument("--data-dir", help="folder with the MNIST .gz files")
    args = ap.parse_args(argv)
    (x_train, t_train), _ = load_mnist(normalize=True, one_hot_label=True, data_dir=args.data_dir)
    x = tg.tensor(x_train[:args.batch].astype(np.float64))
    t = tg.tensor(t_train[:args.batch].astype(np.float64))    # one-hot targets, as the book
    net = two_layer_net(hidden_size=args.hidden)
    params = {"W1": net[0].weight, "b1": net[0].bias, "W2": net[2].weight, "b2": net[2].bias}

    def loss(_=None):
        return F.cross_entropy(net(x), t)

    start = time.perf_counter()
    with tg.no_grad():
        numeric = {k: numerical_gradient(lambda _: loss().item(), p) for k, p in params.items()}
    t_numeric = time.perf_counter() - start

    start = time.perf_counter()
    net.zero_grad()
    loss().backward()
    backprop = {k: p.grad.numpy() for k, p in params.items()}
    t_backprop = time.perf_counter() - start

    diffs = {}
    for k in params:
        diffs[k] = float(np.mean(np.abs(backprop[k] - numeric[k])))
        print(f"{k}:{diffs[k]}")
    print(f"\nnumerical gradient: {t_numeric:.2f} s, backprop: {t_backprop * 1e3:.2f} ms "
          f"({t_numeric / t_backprop:,.0f}x faster)")
    # the same check the library's oracle makes, in a handful of forward passes
    start = time.perf_counter()
    gradcheck(lambda *ps: loss(), list(params.values()), fast_mode=True)
    print(f"gradcheck(fast_mode=True) passed in {(time.perf_counter() - start) * 1e3:.1f} ms")
    return {"diffs": diffs, "t_numeric": t_numeric, "t_backprop": t_backprop}


if __name__ == "__main__":
    main()
