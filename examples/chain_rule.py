"""The course's computation graph: J = 3(a + b*c) with a = 5, b = 3, c = 2.

Prints J and dJ/da, dJ/db, dJ/dc computed by backprop, a step-by-step trace of the backward pass
(each node's upstream gradient, local derivative and the gradients it sends on), and writes the
graph picture: chain_rule.png (or .svg) when Graphviz's `dot` is installed, chain_rule.dot always.

    python examples/chain_rule.py [--out chain_rule.png] [-a 5 -b 3 -c 2]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tinygrad_ko as tg  # noqa: E402
from tinygrad_ko import viz  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-a", type=float, default=5.0)
    ap.add_argument("-b", type=float, default=3.0)
    ap.add_argument("-c", type=float, default=2.0)
    ap.add_argument("--out", default="chain_rule.png", help="picture to write (.png, .svg or .dot)")
    args = ap.parse_args(argv)

    a = tg.tensor(args.a, requires_grad=True)
    b = tg.tensor(args.b, requires_grad=True)
    c = tg.tensor(args.c, requires_grad=True)
    u = b * c          # u = bc
    v = a + u          # v = a + u
    J = 3 * v          # J = 3v
    names = dict(a=a, b=b, c=c, u=u, v=v, J=J)

    dot_text = viz.to_dot(J, names=names, rankdir="LR")     # draw before backward frees the graph
    print(f"J = 3(a + b*c) = {J.item():g}\n")
    trace = viz.trace_backward(J, names=names)             # runs J.backward() and prints each step
    print(f"\ndJ/da = {a.grad.item():g}, dJ/db = {b.grad.item():g}, dJ/dc = {c.grad.item():g}")

    try:
        path = viz.render(dot_text, args.out)
        print(f"graph picture: {path}")
    except viz.GraphvizNotFoundError as e:
        print(f"graph picture not rendered: {e}")
    return {"J": J.item(), "grads": (a.grad.item(), b.grad.item(), c.grad.item()), "trace": trace}


if __name__ == "__main__":
    main()
