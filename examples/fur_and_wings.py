"""The classic tiny classifier: two features (fur, wings), three classes (other, mammal, bird).
A Sequential of Linear + ReLU and Linear, trained with SGD on cross-entropy for 1000 epochs;
prints the predictions next to the labels.

    python examples/fur_and_wings.py [--epochs 1000] [--lr 0.1] [--seed 0]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tinygrad_ko as tg  # noqa: E402
from tinygrad_ko import nn, optim  # noqa: E402
from tinygrad_ko.nn import functional as F  # noqa: E402

CLASSES = ["other", "mammal", "bird"]
#                  fur wings
FEATURES = np.array([[0, 0], [1, 0], [1, 1], [0, 0], [0, 0], [0, 1]], dtype=np.float32)
LABELS = np.array([0, 1, 2, 0, 0, 2])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--hidden", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    tg.manual_seed(args.seed)
    model = nn.Sequential(nn.Linear(2, args.hidden), nn.ReLU(), nn.Linear(args.hidden, 3))
    opt = optim.SGD(model.parameters(), lr=args.lr)
    x, t = tg.tensor(FEATURES), tg.tensor(LABELS)
    for epoch in range(1, args.epochs + 1):
        loss = F.cross_entropy(model(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if epoch == 1 or epoch % (args.epochs // 10 or 1) == 0:
            print(f"epoch {epoch:>5}  loss {loss.item():.4f}")
    with tg.no_grad():
        pred = model(x).argmax(axis=1).numpy()
    print(f"\n{'fur':>4} {'wings':>6}  {'label':>7}  {'prediction':>10}")
    for (fur, wings), label, p in zip(FEATURES, LABELS, pred):
        mark = "" if p == label else "  <- wrong"
        print(f"{int(fur):>4} {int(wings):>6}  {CLASSES[label]:>7}  {CLASSES[p]:>10}{mark}")
    acc = float(np.mean(pred == LABELS))
    print(f"\naccuracy: {acc:.0%}")
    return {"predictions": pred, "accuracy": acc, "loss": loss.item()}


if __name__ == "__main__":
    main()
