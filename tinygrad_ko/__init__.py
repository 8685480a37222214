"""tinygrad_ko: a small, readable, fully tested autodiff framework on NumPy.

>>> import tinygrad_ko as tg
>>> x = tg.tensor([1.0, 2.0], requires_grad=True)
>>> (x ** 2).sum().backward()
>>> x.grad
Tensor([2., 4.], dtype=float32)
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

# tensor first: it imports ops, which import function, which needs the Tensor class defined
from .tensor import Tensor, _as_tensor, where  # noqa: I001
from .autograd import grad
from .errors import (AnomalyError, AxisError, CheckpointError, DataError, DTypeError, GradcheckError,
                     GraphError, IndexOutOfRangeError, OpError, ShapeError, TinygradError,
                     UsageError)
from .function import Function
from .grad_mode import (detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled, no_grad,
                        set_grad_enabled)
from .registry import REGISTRY, register
from . import ops

__version__ = "0.1.0"

float16, float32, float64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
int32, int64, bool_ = np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.bool_)

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator behind rand/randn/randint (and the nn initialisers' default)."""
    global _rng
    _rng = np.random.default_rng(seed)


def default_generator() -> np.random.Generator:
    """The NumPy random Generator behind rand/randn/randint (replaced by ``manual_seed``)."""
    return _rng


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a Tensor (same as ``Tensor(...)``; the PyTorch spelling)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _shape(shape: Sequence[Any]) -> tuple[int, ...]:
    from .tensor import _shape_args
    return _shape_args(shape)


def zeros(*shape: Any, dtype: Any = float32, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``; float32 by default."""
    return Tensor(np.zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = float32, requires_grad: bool = False) -> Tensor:
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``; float32 by default."""
    return Tensor(np.ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def full(shape: Sequence[int], fill_value: float, dtype: Any = float32,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``; float32 by default."""
    return Tensor(np.full(tuple(shape), fill_value, dtype=dtype), requires_grad=requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape of ``t`` (and its dtype, unless ``dtype`` is given)."""
    return Tensor(np.zeros(t.shape, dtype=dtype or t.dtype), requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape of ``t`` (and its dtype, unless ``dtype`` is given)."""
    return Tensor(np.ones(t.shape, dtype=dtype or t.dtype), requires_grad=requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None) -> Tensor:
    """As NumPy; whole-number arguments give int64, others float32."""
    if stop is None:
        start, stop = 0, start
    arr = np.arange(start, stop, step)
    return Tensor(arr.astype(dtype or (np.int64 if arr.dtype.kind in "iu" else np.float32)))


def linspace(start: float, stop: float, num: int = 50, dtype: Any = float32) -> Tensor:
    """``num`` evenly spaced values from start to stop, both included (as NumPy)."""
    return Tensor(np.linspace(start, stop, num, dtype=dtype))


def eye(n: int, m: int | None = None, dtype: Any = float32) -> Tensor:
    """Identity matrix of n rows and m columns (m defaults to n): ones on the diagonal."""
    return Tensor(np.eye(n, m, dtype=dtype))


def rand(*shape: Any, dtype: Any = float32, requires_grad: bool = False,
         generator: np.random.Generator | None = None) -> Tensor:
    """Uniform on [0, 1)."""
    g = generator or _rng
    return Tensor(g.random(_shape(shape)).astype(dtype), requires_grad=requires_grad)


def randn(*shape: Any, dtype: Any = float32, requires_grad: bool = False,
          generator: np.random.Generator | None = None) -> Tensor:
    """Standard normal."""
    g = generator or _rng
    return Tensor(g.standard_normal(_shape(shape)).astype(dtype), requires_grad=requires_grad)


def randint(low: int, high: int, size: Sequence[int],
            generator: np.random.Generator | None = None) -> Tensor:
    """Random integers in [low, high) of shape ``size`` (int64)."""
    g = generator or _rng
    return Tensor(g.integers(low, high, size=tuple(size)))


def cat(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis (``concatenate``)."""
    ts = [_as_tensor(t, "cat") for t in tensors]
    return ops.Concatenate.apply(*ts, axis=axis if dim is None else dim)


concatenate = cat


def stack(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along a new axis."""
    ts = [_as_tensor(t, "stack") for t in tensors]
    return ops.Stack.apply(*ts, axis=axis if dim is None else dim)



def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product ``a @ b`` (``Tensor.matmul``); a may be an array or a list too."""
    return _as_tensor(a, "matmul") @ b


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max of a and b, with broadcasting (``Tensor.maximum``)."""
    return _as_tensor(a, "maximum").maximum(b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min of a and b, with broadcasting (``Tensor.minimum``)."""
    return _as_tensor(a, "minimum").minimum(b)


def exp(x: Any) -> Tensor:
    """e**x, elementwise (``Tensor.exp``);  d/dx = exp(x)."""
    return _as_tensor(x, "exp").exp()


def log(x: Any) -> Tensor:
    """Natural logarithm, elementwise (``Tensor.log``);  d/dx = 1/x."""
    return _as_tensor(x, "log").log()


def sqrt(x: Any) -> Tensor:
    """Square root, elementwise (``Tensor.sqrt``);  d/dx = 1 / (2 sqrt(x))."""
    return _as_tensor(x, "sqrt").sqrt()


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent, elementwise (``Tensor.tanh``);  d/dx = 1 - tanh(x)**2."""
    return _as_tensor(x, "tanh").tanh()


def sigmoid(x: Any) -> Tensor:
    """1 / (1 + exp(-x)), elementwise (``Tensor.sigmoid``);  d/dx = s(x) (1 - s(x))."""
    return _as_tensor(x, "sigmoid").sigmoid()


def relu(x: Any) -> Tensor:
    """max(x, 0), elementwise (``Tensor.relu``);  d/dx = 1 for x > 0, else 0."""
    return _as_tensor(x, "relu").relu()


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001 (as torch.sum)
    """Sum over axis, all axes if None (``Tensor.sum``)."""
    return _as_tensor(x, "sum").sum(axis, keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over axis, all axes if None (``Tensor.mean``)."""
    return _as_tensor(x, "mean").mean(axis, keepdims)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along axis, stable at any magnitude (``Tensor.softmax``)."""
    return _as_tensor(x, "softmax").softmax(axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along axis, stable at any magnitude (``Tensor.log_softmax``)."""
    return _as_tensor(x, "log_softmax").log_softmax(axis)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over axis, computed stably (``Tensor.logsumexp``)."""
    return _as_tensor(x, "logsumexp").logsumexp(axis, keepdims)


__all__ = [
    "Tensor", "tensor", "Function", "grad", "no_grad", "enable_grad", "set_grad_enabled",
    "is_grad_enabled", "detect_anomaly", "is_anomaly_enabled", "REGISTRY", "register", "ops",
    "zeros", "ones", "full", "zeros_like", "ones_like", "arange", "linspace", "eye", "rand", "randn",
    "randint", "manual_seed", "default_generator", "cat", "concatenate", "stack", "where", "matmul",
    "maximum", "minimum", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "sum", "mean", "softmax",
    "log_softmax", "logsumexp", "float16", "float32", "float64", "int32", "int64", "bool_",
    "TinygradError", "OpError", "ShapeError", "AxisError", "IndexOutOfRangeError", "DTypeError",
    "GraphError", "AnomalyError", "GradcheckError", "CheckpointError", "DataError", "UsageError",
]

from .ops.sequence import tril, triu  # noqa: E402
__all__ += ["tril", "triu"]

# the toolkit on top of the engine, importable as tg.nn, tg.optim, tg.data, tg.viz
from . import data, nn, optim, viz  # noqa: E402

__all__ += ["nn", "optim", "data", "viz"]
