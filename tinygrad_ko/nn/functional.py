"""Functional forms of layers and losses (PyTorch's ``torch.nn.functional``), as in the book:
``F.cross_entropy(logits, t)``, ``F.relu(x)``, ``F.conv2d(x, W, b, stride, padding)``...

Every differentiable function here is a registered op (``tinygrad_ko/ops/``), so its gradient is
property-tested against the numerical oracle like every other op.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..device import array_module
from ..errors import DTypeError, IndexOutOfRangeError, ShapeError, TinygradError, UsageError
from ..ops.conv import conv2d
from ..ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from ..ops.loss import (BCEWithLogits, BinaryCrossEntropy, CrossEntropy, mse_loss,
                        sum_squared_error)
from ..ops.loss import nll_loss as _nll_loss
from ..ops.nn import Linear, batch_norm, dropout
from ..ops.elementwise import ELU, Softplus
from ..tensor import Tensor, _as_tensor, _real
from ..ops.activation import gelu, silu
from ..ops.sequence import embedding, layer_norm, scaled_dot_product_attention


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


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0). ``inplace`` is accepted for PyTorch's code and ignored: the result is always a
    new tensor (the input is left unchanged)."""
    return _as_tensor(x, "relu").relu()


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, else negative_slope * x;  d/dx = 1 or negative_slope. ``inplace`` is
    ignored (see ``relu``)."""
    return _as_tensor(x, "leaky_relu").leaky_relu(negative_slope)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, x itself where beta x > threshold;  d/dx = sigmoid(beta x).
    Stable at any magnitude."""
    x = _as_tensor(input, "softplus")
    return Softplus.apply(x, beta=_real(beta, "softplus", "beta"),
                          threshold=_real(threshold, "softplus", "threshold"))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, else alpha (exp(x) - 1);  d/dx = 1, else alpha exp(x). ``inplace`` is
    ignored (see ``relu``)."""
    return ELU.apply(_as_tensor(input, "elu"), alpha=_real(alpha, "elu", "alpha"))


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


def _class_weight(weight: Any, op: str) -> Any:
    """A loss's per-class weight: None, or numbers (a Tensor, array or list). It is a constant:
    no gradient flows to it."""
    if weight is None:
        return None
    if isinstance(weight, str):
        raise UsageError(f"{op}: weight must be per-class weights (a Tensor of shape (C,)), got "
                         f"{weight!r}; the reduction is a keyword: reduction={weight!r}")
    return _as_tensor(weight, op)._data


def cross_entropy(logits: Tensor, target: Any, weight: Any = None, *, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax + cross-entropy in one stable step (the book's SoftmaxWithLoss).

    target: integer class indices of shape (N,), or one-hot / probabilities of shape (N, C).
    The gradient w.r.t. the logits is (softmax(logits) - one_hot(target)) / N.
    ``weight`` (C,) scales each class's loss, and rows whose class is ``ignore_index`` are
    skipped; 'mean' then divides by the summed weights of the rows counted, as PyTorch (nan when
    every row is ignored, as PyTorch; an empty batch raises, where PyTorch gives nan)."""
    x = _as_tensor(logits, "cross_entropy")
    return CrossEntropy.apply(x, _target(target, "cross_entropy", x),
                              weight=_class_weight(weight, "cross_entropy"),
                              reduction=reduction, label_smoothing=float(label_smoothing),
                              ignore_index=int(ignore_index))


def nll_loss(input: Tensor, target: Any, weight: Any = None, *, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """-weight[t_i] * input[i, t_i] on log-probabilities (after log_softmax), reduced; rows whose
    target is ``ignore_index`` are skipped ('mean' divides by the summed weights counted, as
    PyTorch: nan when every row is ignored; an empty batch raises, where PyTorch gives nan)."""
    x = _as_tensor(input, "nll_loss")
    return _nll_loss(x, _target(target, "nll_loss", x), _class_weight(weight, "nll_loss"),
                     ignore_index=int(ignore_index), reduction=reduction)


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """Class indices of any shape (...) -> int64 one-hot rows of shape (..., num_classes), as
    PyTorch; ``num_classes=-1`` takes max + 1. Not differentiable (integers)."""
    t = _as_tensor(tensor, "one_hot")
    idx = t._data
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"one_hot: expects integer class indices, got dtype {idx.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise UsageError(f"one_hot: num_classes must be an int, got {num_classes!r}")
    if num_classes == -1:
        if idx.size == 0:
            raise ShapeError("one_hot: cannot infer num_classes from an empty tensor; pass "
                             "num_classes=")
        num_classes = int(idx.max()) + 1
    if num_classes < 0:
        raise UsageError(f"one_hot: num_classes must be -1 or >= 0, got {num_classes}")
    if idx.size and idx.min() < 0:
        raise IndexOutOfRangeError(f"one_hot: class values must be non-negative, got {idx.min()}")
    if idx.size and idx.max() >= num_classes:
        raise IndexOutOfRangeError(f"one_hot: class {idx.max()} is out of range for "
                                   f"num_classes={num_classes}")
    # a comparison with 0..C-1 on idx's device (CuPy has no put_along_axis in every version)
    classes = array_module(idx).arange(int(num_classes))
    return Tensor._wrap((idx[..., None] == classes).astype(np.int64))


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
    "linear", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "dropout", "relu", "leaky_relu",
    "sigmoid", "tanh", "softmax", "log_softmax", "flatten", "cross_entropy", "nll_loss", "mse_loss",
    "sum_squared_error", "binary_cross_entropy", "binary_cross_entropy_with_logits", "accuracy",
    "one_hot", "softplus", "elu",
]
__all__ += ["gelu", "silu", "embedding", "layer_norm", "scaled_dot_product_attention"]
