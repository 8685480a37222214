"""Basic layers: Linear (the book's Affine), Identity, Flatten, the activations and Dropout.

Every layer calls ``tinygrad_ko.nn.functional`` for its math; what it adds is its parameters, a
check of the input's shape with an error that names the layer and suggests the fix, and a repr.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import OpError, ShapeError, UsageError
from ..tensor import Tensor, _as_tensor, _numeric_dtype, _real
from . import functional as F
from . import init
from .module import Module, Parameter



def _size(layer: str, name: str, value: Any, minimum: int = 1) -> int:
    """A layer size must be a whole number (>= minimum)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise OpError(f"{layer}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _int(layer: str, name: str, value: Any) -> int:
    """An axis number (may be negative)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise UsageError(f"{layer}: {name} must be an int, got {value!r}")
    return int(value)


def _dtype(layer: str, dtype: Any) -> np.dtype:
    dt = _numeric_dtype(np.float32 if dtype is None else dtype, layer)
    if dt.kind != "f":
        raise OpError(f"{layer}: parameters must be floating point, got dtype {dt}")
    return dt


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for a removed layer)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Linear(Module):
    """y = x @ weight.T + bias: the book's Affine layer, with weight stored as (out_features,
    in_features) as in PyTorch (the book's W of shape (in, out) is ``weight.T``).

    Input (..., in_features) -> output (..., out_features).

    Initialisation (PyTorch's default): weight and bias are both drawn from U(-k, k) with
    k = 1 / sqrt(in_features), i.e. ``kaiming_uniform_(weight, a=sqrt(5))``. For ReLU networks the
    book's He init is ``nn.init.kaiming_normal_(layer.weight)``.

    Memory layout: ``weight.numpy()`` is the transpose of a row-major (in, out) array (column-major,
    ``flags.f_contiguous``), so ``weight.numpy().T`` is the book's W without a copy. As for any
    transposed array, ``weight.numpy().reshape(-1)`` is a copy: change elements by index
    (``weight.numpy()[i, j] = v``), not through a flattened array.
    """

    weight: Parameter
    bias: Parameter | None

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: Any = None) -> None:
        super().__init__()
        self.in_features = _size("Linear", "in_features", in_features, 0)
        self.out_features = _size("Linear", "out_features", out_features, 0)
        dt = _dtype("Linear", dtype)
        # Stored as the book's W, an (in, out) array, and seen through its transpose: x @ weight.T
        # is then the book's x @ W on a row-major W, the faster BLAS layout for this product,
        # and the gradient comes out in the same layout (ops/nn.py), so the update is one sweep.
        self.weight = Parameter(np.empty((self.in_features, self.out_features), dtype=dt).T)
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw weight and bias from U(-1/sqrt(in_features), 1/sqrt(in_features))."""
        k = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        init.uniform_(self.weight, -k, k)
        if self.bias is not None:
            init.uniform_(self.bias, -k, k)

    def forward(self, x: Any) -> Tensor:
        x = _as_tensor(x, "Linear")
        try:
            return F.linear(x, self.weight, self.bias)
        except ShapeError:   # checked after the fact: the op checks shapes anyway
            if not x.shape or x.shape[-1] != self.in_features:
                raise ShapeError(self._bad_input(x.shape)) from None
            raise

    def _bad_input(self, shape: tuple[int, ...]) -> str:
        n_in = self.in_features
        msg = (f"Linear({n_in} -> {self.out_features}) got input of shape {shape}: expected "
               f"(..., {n_in})")
        if len(shape) > 2 and math.prod(shape[1:]) == n_in:
            return msg + f"; flatten it first (x.reshape({shape[0]}, -1) or nn.Flatten())?"
        if len(shape) == 2 and shape[0] == n_in:
            return msg + f"; transposed? x.T has shape ({shape[1]}, {shape[0]})"
        return msg + f": its last dimension must be in_features={n_in}"

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Merge axes start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = _int("Flatten", "start_dim", start_dim)
        self.end_dim = _int("Flatten", "end_dim", end_dim)

    def forward(self, x: Any) -> Tensor:
        x = _as_tensor(x, "Flatten")
        try:
            return F.flatten(x, self.start_dim, self.end_dim)
        except ShapeError as e:
            raise type(e)(f"{self!r} got input of shape {x.shape}: {e}") from None

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class ReLU(Module):
    """max(x, 0). ``inplace`` is accepted for PyTorch's code and ignored: the output is always a
    new tensor, the input is left unchanged."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, x: Any) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x. ``inplace`` is ignored (see ``ReLU``)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = _real(negative_slope, "LeakyReLU", "negative_slope")
        self.inplace = bool(inplace)

    def forward(self, x: Any) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, smooth ReLU; x itself where beta x > threshold (stable)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = _real(beta, "Softplus", "beta")
        self.threshold = _real(threshold, "Softplus", "threshold")

    def forward(self, x: Any) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class ELU(Module):
    """x if x > 0 else alpha (exp(x) - 1). ``inplace`` is ignored (see ``ReLU``)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = _real(alpha, "ELU", "alpha")
        self.inplace = bool(inplace)

    def forward(self, x: Any) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, x: Any) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x)."""

    def forward(self, x: Any) -> Tensor:
        return F.tanh(x)


def _dim(dim: int | None, axis: int | None, layer: str) -> int:
    if dim is not None and axis is not None:
        raise OpError(f"{layer}: give either dim or axis, not both")
    return _int(layer, "dim", axis if axis is not None else -1 if dim is None else dim)


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim`` (NumPy's ``axis`` also accepted); default the last."""

    def __init__(self, dim: int | None = None, *, axis: int | None = None) -> None:
        super().__init__()
        self.dim = _dim(dim, axis, "Softmax")

    def forward(self, x: Any) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``, computed stably (x - logsumexp(x))."""

    def __init__(self, dim: int | None = None, *, axis: int | None = None) -> None:
        super().__init__()
        self.dim = _dim(dim, axis, "LogSoftmax")

    def forward(self, x: Any) -> Tensor:
        return F.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability p and scale the rest by
    1 / (1 - p); in eval mode (``model.eval()``), the identity. Masks come from
    ``tinygrad_ko.default_generator()`` (``tinygrad_ko.manual_seed`` makes them repeatable)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise OpError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def forward(self, x: Any) -> Tensor:
        return F.dropout(_as_tensor(x, "Dropout"), self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


__all__ = ["Identity", "Linear", "Flatten", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax",
           "LogSoftmax", "Dropout", "Softplus", "ELU"]
