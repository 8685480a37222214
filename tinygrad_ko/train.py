"""A small training loop the examples share: epochs, a progress bar with the running loss,
metrics per epoch, and the history returned. Not a framework: read it, copy it, change it.

    history = fit(model, F.cross_entropy, optimizer, train_loader, epochs=5,
                  val_loader=test_loader, metrics={"acc": F.accuracy})
    history["val_acc"][-1]
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from .grad_mode import no_grad
from .tensor import Tensor

Metric = Callable[[Tensor, Tensor], float]


class _TextBar:
    """A plain progress line on stderr, for when tqdm is not installed."""

    def __init__(self, iterable: Iterable[Any], total: int | None, desc: str) -> None:
        self.iterable, self.total, self.desc, self.postfix = iterable, total, desc, ""
        self.every = max(1, (total or 100) // 20)

    def __iter__(self) -> Iterator[Any]:
        for i, item in enumerate(self.iterable, 1):
            yield item
            if i % self.every == 0 or i == self.total:
                done = f"{i}/{self.total}" if self.total else str(i)
                sys.stderr.write(f"\r{self.desc} {done} {self.postfix}")
                sys.stderr.flush()
        sys.stderr.write("\n")

    def set_postfix_str(self, s: str) -> None:
        self.postfix = s


def progress(iterable: Iterable[Any], total: int | None = None, desc: str = "",
             enabled: bool = True) -> Any:
    """tqdm's bar when tqdm is installed, a plain text line otherwise (or nothing if disabled)."""
    if not enabled:
        return _Silent(iterable)
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _TextBar(iterable, total, desc)
    return tqdm(iterable, total=total, desc=desc, leave=True, dynamic_ncols=True)


class _Silent:
    def __init__(self, iterable: Iterable[Any]) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        return iter(self.iterable)

    def set_postfix_str(self, s: str) -> None:
        pass


def _len(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def evaluate(model: Any, loss_fn: Callable[[Tensor, Tensor], Tensor], loader: Iterable[Any],
             metrics: dict[str, Metric] | None = None, device: Any = None) -> dict[str, float]:
    """Mean loss and metrics over a loader, in eval mode and without recording a graph; with
    ``device``, each batch is moved there first (``x.to(device)``)."""
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    totals: dict[str, float] = {"loss": 0.0, **{k: 0.0 for k in (metrics or {})}}
    count = 0
    with no_grad():
        for x, t in loader:
            if device is not None:
                x, t = x.to(device), t.to(device)
            out = model(x)
            n = len(t)
            totals["loss"] += float(loss_fn(out, t).item()) * n
            for name, fn in (metrics or {}).items():
                totals[name] += fn(out, t) * n
            count += n
    if was_training and hasattr(model, "train"):
        model.train()
    return {k: v / max(count, 1) for k, v in totals.items()}


def fit(model: Any, loss_fn: Callable[[Tensor, Tensor], Tensor], optimizer: Any,
        train_loader: Iterable[Any], epochs: int = 1, val_loader: Iterable[Any] | None = None,
        scheduler: Any = None, metrics: dict[str, Metric] | None = None, progress_bar: bool = True,
        max_steps: int | None = None, log: Callable[[str], None] | None = print,
        device: Any = None) -> dict[str, list[float]]:
    """Train for ``epochs``; return the history: per epoch ``loss`` and ``train_<metric>`` (running
    means over the epoch's batches), ``val_loss`` and ``val_<metric>`` when ``val_loader`` is
    given, and ``time`` (seconds). ``max_steps`` stops each epoch early (for smoke tests).
    ``device``: each batch is moved there (``x.to(device)``), for a model on the GPU."""
    metrics = metrics or {}
    history: dict[str, list[float]] = {"loss": [], "time": []}
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        if hasattr(model, "train"):
            model.train()
        total = _len(train_loader)
        if max_steps is not None:
            total = min(total or max_steps, max_steps)
        bar = progress(train_loader, total, f"epoch {epoch}/{epochs}", progress_bar)
        sums = {"loss": 0.0, **{k: 0.0 for k in metrics}}
        seen = 0
        for step, (x, t) in enumerate(bar, 1):
            if device is not None:
                x, t = x.to(device), t.to(device)
            out = model(x)
            loss = loss_fn(out, t)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            n = len(t)
            sums["loss"] += float(loss.item()) * n
            for name, fn in metrics.items():
                sums[name] += fn(out, t) * n
            seen += n
            if step % 10 == 0:  # updating the bar every step would cost more than a small step
                bar.set_postfix_str(f"loss {sums['loss'] / seen:.4f}")
            if max_steps is not None and step >= max_steps:
                break
        if scheduler is not None:
            scheduler.step()
        history["loss"].append(sums["loss"] / max(seen, 1))
        for name in metrics:
            history.setdefault(f"train_{name}", []).append(sums[name] / max(seen, 1))
        if val_loader is not None:
            for name, value in evaluate(model, loss_fn, val_loader, metrics, device).items():
                history.setdefault(f"val_{name}", []).append(value)
        history["time"].append(time.perf_counter() - start)
        if log is not None:
            parts = [f"epoch {epoch}/{epochs}"] + [f"{k} {v[-1]:.4f}" for k, v in history.items()
                                                  if k != "time"] + [f"{history['time'][-1]:.1f}s"]
            log("  ".join(parts))
    return history


def plot_history(history: dict[str, list[float]], path: str, title: str = "") -> str | None:
    """Save loss and metric curves as a PNG (needs matplotlib; returns None without it)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    keys = [k for k in history if k != "time"]
    losses = [k for k in keys if k.endswith("loss")]
    others = [k for k in keys if not k.endswith("loss")]
    fig, axes = plt.subplots(1, 2 if others else 1, figsize=(10 if others else 5, 4), squeeze=False)
    epochs = np.arange(1, len(history["loss"]) + 1)
    for k in losses:
        axes[0, 0].plot(epochs, history[k], marker="o", label=k)
    axes[0, 0].set_xlabel("epoch")
    axes[0, 0].set_ylabel("loss")
    axes[0, 0].legend()
    for k in others:
        axes[0, 1].plot(epochs, history[k], marker="o", label=k)
    if others:
        axes[0, 1].set_xlabel("epoch")
        axes[0, 1].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


__all__ = ["progress", "evaluate", "fit", "plot_history", "Metric"]
