"""The deep-learning course's week 2: logistic regression as a neural network, on cat/non-cat
images, written with the Tensor API. Same set-up as the course (w and b initialised to zero,
learning rate 0.005, 2000 iterations, images flattened and divided by 255), and the same printout,
so the numbers can be compared line by line with the course's notebook.

    python examples/logistic_regression.py [--data-dir DIR] [--iterations 2000] [--lr 0.005]
    python examples/logistic_regression.py --synthetic     # generated data, no HDF5 files needed

The data come from tinygrad_ko.data.load_catvnoncat (needs h5py: pip install h5py) and are
searched in --data-dir, $TINYGRAD_KO_DATA and ~/.cache/tinygrad_ko/catvnoncat.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tinygrad_ko as tg  # noqa: E402
from tinygrad_ko.nn import functional as F  # noqa: E402


def load_data(data_dir, synthetic, seed=1):
    """(train_x, train_y, test_x, test_y) with x of shape (n_features, m) as in the course."""
    if synthetic:
        rng = np.random.default_rng(seed)
        n = 64 * 64 * 3
        direction = rng.standard_normal(n)
        def make(m):
            y = rng.integers(0, 2, m)
            x = rng.random((m, n)) * 255
            x += np.outer(2 * y - 1, direction) * 8          # cats lean one way, non-cats the other
            return np.clip(x, 0, 255).astype(np.uint8), y.reshape(1, -1)
        (trx, try_), (tex, tey) = make(209), make(50)
    else:
        from tinygrad_ko.data import load_catvnoncat
        trx, try_, tex, tey, _ = load_catvnoncat(data_dir)
    # flatten each image to a column and scale to [0, 1] (float64, as the course's numpy code)
    flat = lambda x: x.reshape(x.shape[0], -1).T / 255.  # noqa: E731
    return flat(trx), try_.astype(np.float64), flat(tex), tey.astype(np.float64)


def predict(w, b, X):
    """1 where sigmoid(w.T X + b) > 0.5."""
    with tg.no_grad():
        return ((w.T @ X + b).sigmoid().numpy() > 0.5).astype(np.float64)


def model(X_train, Y_train, X_test, Y_test, num_iterations=2000, learning_rate=0.005,
          print_cost=True):
    X, Y = tg.tensor(X_train), tg.tensor(Y_train)
    w = tg.zeros(X_train.shape[0], 1, dtype=tg.float64, requires_grad=True)   # zero init
    b = tg.zeros((), dtype=tg.float64, requires_grad=True)
    costs = []
    for i in range(num_iterations):
        A = (w.T @ X + b).sigmoid()                       # forward propagation, shape (1, m)
        cost = F.binary_cross_entropy(A, Y)               # -1/m sum(Y log A + (1-Y) log(1-A))
        cost.backward()                                   # backward: dw = X (A-Y)^T / m, db
        with tg.no_grad():
            w -= learning_rate * w.grad
            b -= learning_rate * b.grad
        w.grad = b.grad = None
        if i % 100 == 0:
            costs.append(cost.item())
            if print_cost:
                print("Cost after iteration %i: %f" % (i, cost.item()))
    Y_prediction_train, Y_prediction_test = predict(w, b, X_train), predict(w, b, X_test)
    train_acc = 100 - np.mean(np.abs(Y_prediction_train - Y_train)) * 100
    test_acc = 100 - np.mean(np.abs(Y_prediction_test - Y_test)) * 100
    print("train accuracy: {} %".format(train_acc))
    print("test accuracy: {} %".format(test_acc))
    return {"costs": costs, "train_accuracy": train_acc, "test_accuracy": test_acc, "w": w, "b": b}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None, help="folder with train_catvnoncat.h5 and test_catvnoncat.h5")
    ap.add_argument("--synthetic", action="store_true", help="use generated data instead of the HDF5 files")
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=0.005)
    args = ap.parse_args(argv)
    data = load_data(args.data_dir, args.synthetic)
    print(f"train_x {data[0].shape}, test_x {data[2].shape}")
    return model(*data, num_iterations=args.iterations, learning_rate=args.lr)


if __name__ == "__main__":
    main()
