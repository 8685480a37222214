"""The book's gradient descent (chapter 4): minimise f(x0, x1) = x0**2 + x1**2 from (-3, 4),
once with numerical_gradient (central differences, as the book) and once with backprop,
side by side. Try --lr 10 (too big: it diverges) and --lr 1e-10 (too small: it barely moves).

    python examples/gradient_descent.py [--lr 0.1] [--steps 100]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tinygrad_ko as tg  # noqa: E402
from tinygrad_ko.gradcheck import numerical_gradient  # noqa: E402


def function_2(x):
    """f(x0, x1) = x0**2 + x1**2 (works on NumPy arrays and on Tensors)."""
    return (x ** 2).sum()


def descend_numerically(init, lr, steps):
    x = np.array(init, dtype=np.float64)
    path = [x.copy()]
    for _ in range(steps):
        x -= lr * numerical_gradient(function_2, x)
        path.append(x.copy())
    return path


def descend_with_backprop(init, lr, steps):
    x = tg.tensor(np.array(init, dtype=np.float64), requires_grad=True)
    path = [x.numpy().copy()]
    for _ in range(steps):
        function_2(x).backward()          # fills x.grad = (2 x0, 2 x1)
        with tg.no_grad():                # the update itself is not part of the graph
            x -= lr * x.grad
        x.grad = None                     # gradients accumulate, so clear them each step
        path.append(x.numpy().copy())
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    ap.add_argument("--steps", type=int, default=100, help="number of steps (default 100)")
    ap.add_argument("--init", type=float, nargs=2, default=(-3.0, 4.0), metavar=("X0", "X1"))
    args = ap.parse_args(argv)
    num = descend_numerically(args.init, args.lr, args.steps)
    bp = descend_with_backprop(args.init, args.lr, args.steps)
    print(f"f(x0, x1) = x0**2 + x1**2 from {tuple(args.init)}, lr={args.lr}, {args.steps} steps\n")
    print(f"{'step':>5}  {'numerical_gradient':>28}  {'backprop':>28}")
    every = max(1, args.steps // 10)
    for i in list(range(0, args.steps + 1, every)) + ([args.steps] if args.steps % every else []):
        a, b = num[i], bp[i]
        print(f"{i:>5}  ({a[0]:>12.6g}, {a[1]:>12.6g})  ({b[0]:>12.6g}, {b[1]:>12.6g})")
    diff = np.max(np.abs(num[-1] - bp[-1]))
    print(f"\nfinal: numerical {num[-1]}, backprop {bp[-1]}, max difference {diff:.2e}")
    return num[-1], bp[-1]


if __name__ == "__main__":
    main()
