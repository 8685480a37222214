"""Train a neural network on MNIST with tinygrad_ko: the Tensor API, nn, optim and the shared
fit() loop. A progress bar per epoch, train and validation accuracy per epoch, the test accuracy
once at the end, the loss/accuracy curves saved as PNG (when matplotlib is installed) and a
checkpoint.

Validation is not test (the book's 6.5.1): the last --val-size training images (10,000 by default)
are held out to watch training and choose settings; the test set is used once, after training.

    python examples/mnist.py                    # MLP 784-512-256-10: ~98.3% test, ~30 s (2 idle cores)
    python examples/mnist.py --model cnn        # chapter 7's CNN: ~99.0% test, ~100 s on 2 cores
    python examples/mnist.py --model cnn --device cuda   # on an NVIDIA GPU (pip install cupy-cuda12x)
    python examples/mnist.py --help

MNIST is read with tinygrad_ko.data.load_mnist (the book's signature), from --data-dir,
$TINYGRAD_KO_DATA or ~/.cache/tinygrad_ko/mnist, and downloaded there when missing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tinygrad_ko as tg  # noqa: E402
from tinygrad_ko import nn, optim  # noqa: E402
from tinygrad_ko.data import DataLoader, TensorDataset, load_mnist  # noqa: E402
from tinygrad_ko.nn import functional as F  # noqa: E402
from tinygrad_ko.train import evaluate, fit, plot_history  # noqa: E402

DEFAULTS = {"mlp": (8, 128), "cnn": (6, 64)}   # per model: epochs, batch size
DEFAULT_LR = {"adam": 1e-3, "sgd": 0.1}


def make_model(kind: str) -> nn.Module:
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(256, 10))
    # chapter 7: conv - relu - pool, twice, then an affine layer (input (N, 1, 28, 28))
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),      # -> (N, 16, 14, 14)
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),     # -> (N, 32, 7, 7)
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    ap.add_argument("--epochs", type=int, help="default: 8 (mlp), 6 (cnn)")
    ap.add_argument("--batch-size", type=int, help="default: 128 (mlp), 64 (cnn)")
    ap.add_argument("--lr", type=float, help="learning rate, default 1e-3 (adam) or 0.1 (sgd)")
    ap.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                    help="adam (default) or sgd with momentum 0.9")
    ap.add_argument("--data-dir", help="folder with the MNIST .gz files")
    ap.add_argument("--out-dir", default="runs", help="where the checkpoint and plot go (default runs/)")
    ap.add_argument("--val-size", type=int, default=10000,
                    help="hold out the last N training images for validation (default 10000)")
    ap.add_argument("--subset", type=int,
                    help="train and validate on the first N images only (quick tries)")
    ap.add_argument("--test-subset", type=int, help="evaluate on the first N test images only")
    ap.add_argument("--max-steps", type=int, help="stop each epoch after this many batches")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu",
                    help="cpu (default), cuda (a GPU through CuPy) or auto (cuda when available)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    epochs, batch_size = DEFAULTS[args.model]
    epochs = args.epochs or epochs
    batch_size = args.batch_size or batch_size
    lr = args.lr or DEFAULT_LR[args.optimizer]

    start = time.perf_counter()
    tg.manual_seed(args.seed)
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=args.model == "mlp",
                                                      data_dir=args.data_dir)
    if not 0 < args.val_size < len(x_train):
        ap.error(f"--val-size must be between 1 and {len(x_train) - 1}, got {args.val_size}")
    # the validation images come off the end of the training set, before --subset takes its part
    x_val, t_val = x_train[-args.val_size:], t_train[-args.val_size:]
    x_train, t_train = x_train[:-args.val_size], t_train[:-args.val_size]
    if args.subset:
        x_train, t_train = x_train[:args.subset], t_train[:args.subset]
        x_val, t_val = x_val[:args.subset], t_val[:args.subset]
    if args.test_subset:
        x_test, t_test = x_test[:args.test_subset], t_test[:args.test_subset]
    print(f"MNIST: train {x_train.shape}, validation {x_val.shape}, test {x_test.shape} "
          f"({time.perf_counter() - start:.1f}s)")
    train_loader = DataLoader(TensorDataset(x_train, t_train), batch_size=batch_size, shuffle=True,
                              seed=args.seed)
    val_loader = DataLoader(TensorDataset(x_val, t_val), batch_size=1000)
    test_loader = DataLoader(TensorDataset(x_test, t_test), batch_size=1000)

    device = ("cuda" if tg.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    model = make_model(args.model).to(device)   # batches are moved in fit(..., device=)
    print(f"device: {device}")
    n_params = sum(p.size for p in model.parameters())
    print(f"model ({n_params:,} parameters):\n{model}")
    if args.optimizer == "adam":
        opt = optim.Adam(model.parameters(), lr=lr)
    else:
        opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)

    history = fit(model, F.cross_entropy, opt, train_loader, epochs=epochs, val_loader=val_loader,
                  scheduler=sched, metrics={"acc": F.accuracy}, progress_bar=not args.no_progress,
                  max_steps=args.max_steps, device=device)

    # once, at the end (the batches moved to the model's device, as in fit)
    test = evaluate(model, F.cross_entropy, test_loader, {"acc": F.accuracy}, device=device)

    os.makedirs(args.out_dir, exist_ok=True)
    ckpt = os.path.join(args.out_dir, f"mnist_{args.model}.npz")
    model.save(ckpt)
    plot = plot_history(history, os.path.join(args.out_dir, f"mnist_{args.model}.png"),
                        title=f"MNIST {args.model}")
    elapsed = time.perf_counter() - start
    print(f"validation accuracy: {history['val_acc'][-1] * 100:.2f}%  test accuracy: "
          f"{test['acc'] * 100:.2f}%  (total {elapsed:.1f}s, data loading included)")
    print(f"checkpoint: {ckpt}" + (f", curves: {plot}" if plot else " (pip install matplotlib "
                                                                    "for the curves)"))
    return {"history": history, "test": test, "elapsed": elapsed, "checkpoint": ckpt, "plot": plot}


if __name__ == "__main__":
    main()
