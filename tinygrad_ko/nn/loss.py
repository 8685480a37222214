"""Loss modules: ``criterion = nn.CrossEntropyLoss(); loss = criterion(logits, targets)``.
Each is a thin wrapper of the function of the same name in ``nn.functional``.

``reduction``: 'mean' (default) averages the per-example losses, 'sum' adds them, 'none' returns
them all. 'mean' over an empty batch raises a ShapeError on purpose (PyTorch returns nan): it is a
bug in the caller far more often than data.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import OpError, UsageError
from ..tensor import Tensor, _as_tensor
from . import functional as F
from .module import Module

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise OpError(f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}, got "
                          f"{reduction!r}")
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    """A class-index loss with PyTorch's ``weight`` (per class, a constant buffer) and
    ``ignore_index`` (rows whose target is it count for nothing)."""

    def __init__(self, weight: Any = None, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__(reduction)
        name = type(self).__name__
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            raise UsageError(f"{name}: ignore_index must be an int, got {ignore_index!r}")
        self.ignore_index = int(ignore_index)
        w = F._class_weight(weight, name)
        # a buffer, as PyTorch: in state_dict, moved by .to(dtype)
        self.register_buffer("weight", None if w is None else Tensor(w.astype(
            w.dtype if w.dtype.kind == "f" else np.float32)))

    def extra_repr(self) -> str:
        parts = [super().extra_repr()]
        if self.ignore_index != -100:
            parts.append(f"ignore_index={self.ignore_index}")
        return ", ".join(p for p in parts if p)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax + cross-entropy on logits (the book's SoftmaxWithLoss): targets are class indices
    (N,) or probabilities / one-hot rows (N, C). ``label_smoothing`` e mixes the target with the
    uniform distribution: (1 - e) * t + e / C. ``weight`` (C,) scales each class's loss and
    ``ignore_index`` skips rows, with PyTorch's weighted mean (see ``F.cross_entropy``)."""

    def __init__(self, weight: Any = None, *, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, ignore_index, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise OpError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got "
                          f"{label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        parts = [super().extra_repr()]
        if self.label_smoothing:
            parts.append(f"label_smoothing={self.label_smoothing}")
        return ", ".join(p for p in parts if p)


class NLLLoss(_WeightedLoss):
    """-weight[t_i] log_probs[i, t_i]: use after LogSoftmax (LogSoftmax + NLLLoss =
    CrossEntropyLoss). ``weight`` and ``ignore_index`` as in ``CrossEntropyLoss``."""

    def __init__(self, weight: Any = None, *, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__(weight, ignore_index, reduction)

    def forward(self, input: Any, target: Any) -> Tensor:
        x = _as_tensor(input, "NLLLoss")
        return F.nll_loss(x, F._target(target, "NLLLoss", x), self.weight,
                          ignore_index=self.ignore_index, reduction=self.reduction)


class MSELoss(_Loss):
    """(input - target)**2, averaged. (The book's sum_squared_error is 0.5 * the sum:
    ``F.sum_squared_error``.)"""

    def forward(self, input: Any, target: Any) -> Tensor:
        x = _as_tensor(input, "MSELoss")
        return F.mse_loss(x, F._target(target, "MSELoss", x), self.reduction)


class BCELoss(_Loss):
    """-(t log p + (1 - t) log(1 - p)) on probabilities p in [0, 1] (after a Sigmoid)."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + BCELoss in one numerically stable step, on logits (logistic regression's loss)."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.reduction)


__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "BCELoss", "BCEWithLogitsLoss"]
