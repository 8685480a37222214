"""The book's SimpleConvNet (chapter 7.5) trained on MNIST with tinygrad_ko, and its first-layer
filters drawn before and after training (the book's figure 7-24).

    conv 30 filters 5x5 - ReLU - max pool 2x2 - affine 100 - ReLU - affine 10

As in the book: Adam (lr 0.001), batches of 100, weights drawn with std 0.01 (--init book; --init
default keeps nn.Conv2d / nn.Linear's own initialisation). Validation is not test: the last
--val-size training images are held out to watch training, and the test set is used once at the end.

    python examples/simple_convnet.py                   # 5 epochs on 50,000 images
    python examples/simple_convnet.py --epochs 20       # the book's 20 epochs
    python examples/simple_convnet.py --subset 5000 --epochs 2     # a quick try
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tinygrad_ko as tg  # noqa: E402
from tinygrad_ko import nn, optim  # noqa: E402
from tinygrad_ko.data import DataLoader, TensorDataset, load_mnist  # noqa: E402
from tinygrad_ko.nn import functional as F  # noqa: E402
from tinygrad_ko.train import evaluate, fit  # noqa: E402


def simple_conv_net(weight_init_std: float | None = 0.01) -> nn.Sequential:
    """The book's SimpleConvNet for (N, 1, 28, 28) images. ``weight_init_std`` draws every weight
    from N(0, std^2) and zeroes the biases, as the book does; None keeps the layers' own init."""
    model = nn.Sequential(
        nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2),        # -> (N, 30, 24, 24) -> (N, 30, 12, 12)
        nn.Flatten(), nn.Linear(30 * 12 * 12, 100), nn.ReLU(),  # -> (N, 4320) -> (N, 100)
        nn.Linear(100, 10))
    if weight_init_std is not None:
        for layer in (model[0], model[4], model[6]):
            nn.init.normal_(layer.weight, std=weight_init_std)
            nn.init.zeros_(layer.bias)
    return model


def save_filters(weight: np.ndarray, path: str, title: str = "") -> str | None:
    """Draw conv filters (O, 1, kh, kw) as a grid of grey images (needs matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    n = weight.shape[0]
    cols = 10
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.6, rows * 0.6 + (0.3 if title else 0)))
    for i, ax in enumerate(np.ravel(axes)):
        ax.set_axis_off()
        if i < n:   # black = large weight, white = small (the book's gray_r)
            ax.imshow(weight[i, 0], cmap="gray_r", interpolation="nearest")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=5, help="default 5 (the book: 20)")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (default 0.001)")
    ap.add_argument("--init", choices=["book", "default"], default="book",
                    help="book: N(0, 0.01^2) weights and zero biases; default: the layers' own")
    ap.add_argument("--val-size", type=int, default=10000,
                    help="hold out the last N training images for validation (default 10000)")
    ap.add_argument("--subset", type=int, help="train and validate on the first N images only")
    ap.add_argument("--test-subset", type=int, help="evaluate on the first N test images only")
    ap.add_argument("--max-steps", type=int, help="stop each epoch after this many batches")
    ap.add_argument("--data-dir", help="folder with the MNIST .gz files")
    ap.add_argument("--out-dir", default="runs", help="where the filters and checkpoint go (runs/)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    start = time.perf_counter()
    tg.manual_seed(args.seed)
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=False,
                                                      data_dir=args.data_dir)
    if not 0 < args.val_size < len(x_train):
        ap.error(f"--val-size must be between 1 and {len(x_train) - 1}, got {args.val_size}")
    x_val, t_val = x_train[-args.val_size:], t_train[-args.val_size:]
    x_train, t_train = x_train[:-args.val_size], t_train[:-args.val_size]
    if args.subset:
        x_train, t_train = x_train[:args.subset], t_train[:args.subset]
        x_val, t_val = x_val[:args.subset], t_val[:args.subset]
    if args.test_subset:
        x_test, t_test = x_test[:args.test_subset], t_test[:args.test_subset]
    print(f"MNIST: train {x_train.shape}, validation {x_val.shape}, test {x_test.shape}")

    model = simple_conv_net(0.01 if args.init == "book" else None)
    print(f"SimpleConvNet ({model.num_parameters():,} parameters):\n{model}")
    os.makedirs(args.out_dir, exist_ok=True)
    before = save_filters(model[0].weight.numpy(), os.path.join(args.out_dir, "filters_before.png"),
                          "conv1 filters before training")

    train_loader = DataLoader(TensorDataset(x_train, t_train), batch_size=args.batch_size,
                              shuffle=True, seed=args.seed)
    val_loader = DataLoader(TensorDataset(x_val, t_val), batch_size=1000)
    history = fit(model, F.cross_entropy, optim.Adam(model.parameters(), lr=args.lr), train_loader,
                  epochs=args.epochs, val_loader=val_loader, metrics={"acc": F.accuracy},
                  progress_bar=not args.no_progress, max_steps=args.max_steps)
    test = evaluate(model, F.cross_entropy, DataLoader(TensorDataset(x_test, t_test), batch_size=1000),
                    {"acc": F.accuracy})                       # the test set, once, at the end

    ckpt = os.path.join(args.out_dir, "simple_convnet.npz")
    model.save(ckpt)
    after = save_filters(model[0].weight.numpy(), os.path.join(args.out_dir, "filters_after.png"),
                         "conv1 filters after training")
    elapsed = time.perf_counter() - start
    print(f"validation accuracy: {history['val_acc'][-1] * 100:.2f}%  test accuracy: "
          f"{test['acc'] * 100:.2f}%  (total {elapsed:.1f}s)")
    print(f"checkpoint: {ckpt}" + (f", filters: {before}, {after}" if after else ""))
    return {"history": history, "test": test, "model": model, "checkpoint": ckpt,
            "filters": (before, after), "elapsed": elapsed}


if __name__ == "__main__":
    main()
