"""Functional forms of layers and losses (PyTorch's ``torch.nn.functional``), as in the book:
``F.cross_entropy(logits, t)``, ``F.relu(x)``, ``F.conv2d(x, W, b, stride, padding)``...

Every differentiable function here is a registered op (``tinygrad_ko/ops/``), so its gradient is
property-tested against the numerical oracle like every other op.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError, TinygradError
from ..ops.conv import avg_pool2d, conv2d, max_pool2d
from ..ops.loss import (BCEWithLogits, BinaryCrossEntropy, CrossEntropy, mse_loss, nll_loss,
                        sum_squared_error)
from ..ops.nn import Linear, batch_norm, dropout
from ..tensor import Tensor, _as_tensor


def _target(target: Any, op: str, x: Tensor) -> Tensor:
    """A loss's target as a Tensor; a conversion error names the loss and the input's shape."""
    try:
        return _as_tensor(target)
    except TinygradError as e:
        raise type(e)(f"{op}: target (for an input of shape {x.shape}): {e}") from None


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, weight of shape (out_features, in_features) (the book's Affine uses
    W of shape (in, out): x @ W + b; here W is stored transposed, as PyTorch)."""
    return Linear.apply(x, weight, bias) if bias is not None else Linear.apply(x, weight)


def relu(x: Tensor) -> Tensor:
    """max(x, 0)."""
    return _as_tensor(x, "relu").relu()


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, else negative_slope * x;  d/dx = 1 or negative_slope."""
    return _as_tensor(x, "leaky_relu").leaky_relu(negative_slope)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), elementwise;  d/dx = s(x) (1 - s(x))."""
    return _as_tensor(x, "sigmoid").sigmoid()


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent, elementwise;  d/dx = 1 - tanh(x)**2."""
    return _as_tensor(x, "tanh").tanh()


def softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along axis (or ``dim``), stable at any magnitude."""
    return _as_tensor(x, "softmax").softmax(axis if dim is None else dim)


def log_softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """x - logsumexp(x) along axis (or ``dim``), stable; pair it with ``nll_loss``."""
    return _as_tensor(x, "log_softmax").log_softmax(axis if dim is None else dim)


def flatten(x: Tensor, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """Merge axes start_dim..end_dim; the default keeps the batch axis (as nn.Flatten)."""
    return _as_tensor(x, "flatten").flatten(start_dim, end_dim)


def cross_entropy(logits: Tensor, target: Any, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax + cross-entropy in one stable step (the book's SoftmaxWithLoss).

    target: integer class indices of shape (N,), or one-hot / probabilities of shape (N, C).
    The gradient w.r.t. the logits is (softmax(logits) - one_hot(target)) / N."""
    x = _as_tensor(logits, "cross_entropy")
    return CrossEntropy.apply(x, _target(target, "cross_entropy", x), reduction=reduction,
                              label_smoothing=float(label_smoothing))


def binary_cross_entropy(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """On probabilities in [0, 1]; logs clamped at -100 so 0 and 1 are safe."""
    op = "binary_cross_entropy"
    x = _as_tensor(input, op)
    return BinaryCrossEntropy.apply(x, _target(target, op, x).astype(x.dtype), reduction=reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Sigmoid + binary cross-entropy in one stable step: finite for logits of any size."""
    op = "binary_cross_entropy_with_logits"
    x = _as_tensor(input, op)
    return BCEWithLogits.apply(x, _target(target, op, x).astype(x.dtype), reduction=reduction)


def accuracy(logits_or_probs: Any, targets: Any) -> float:
    """Fraction of rows whose argmax equals the target (integer classes or one-hot rows)."""
    # a Tensor's own array: on the GPU the comparison runs there and only the count comes back
    y = logits_or_probs._data if isinstance(logits_or_probs, Tensor) else np.asarray(logits_or_probs)
    t = targets._data if isinstance(targets, Tensor) else np.asarray(targets)
    if t.ndim == y.ndim and t.ndim > 1:
        t = t.argmax(axis=-1)
    if y.ndim != 2 or t.shape != (y.shape[0],):
        raise ShapeError(f"accuracy: expects scores of shape (N, C) and targets of shape (N,) or "
                         f"(N, C); got {y.shape} and {t.shape}")
    return float(np.mean(y.argmax(axis=-1) == t)) if len(t) else 0.0


__all__ = [
    "linear", "conv2d", "max_pool2d", "avg_pool2d", "batch_norm", "dropout", "relu", "leaky_relu",
    "sigmoid", "tanh", "softmax", "log_softmax", "flatten", "cross_entropy", "nll_loss", "mse_loss",
    "sum_squared_error", "binary_cross_entropy", "binary_cross_entropy_with_logits", "accuracy",
]
