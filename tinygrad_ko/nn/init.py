"""Weight initialisers (PyTorch's ``torch.nn.init``): each fills a Tensor in place, keeps its dtype,
bumps its version counter, and returns it.

Fans are computed as PyTorch does: for a weight of shape (out, in, *kernel), ``fan_in = in *
prod(kernel)`` and ``fan_out = out * prod(kernel)``; a Linear weight is (out_features, in_features).

In the book's terms: "Xavier" there is std = 1/sqrt(n) (``kaiming_normal_(w, nonlinearity=
'linear')``); "He" is std = sqrt(2/n) (``kaiming_normal_(w)``). ``xavier_*_`` here are Glorot &
Bengio's, using fan_in + fan_out, as in PyTorch.

Random numbers come from ``generator`` (a ``np.random.Generator``) or, by default, from
``tinygrad_ko.default_generator()``, which ``tinygrad_ko.manual_seed(seed)`` reseeds.
"""
from __future__ import annotations

import math

import numpy as np

from .. import default_generator
from ..device import like, writable
from ..errors import OpError, ShapeError, UsageError
from ..tensor import Tensor


def _fill(tensor: Tensor, values: np.ndarray | float, where: str) -> Tensor:
    """Write values into the tensor's array in place (no graph is recorded: this is not an op)."""
    if not isinstance(tensor, Tensor):
        raise UsageError(f"nn.init.{where}: expected a Tensor, got {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise OpError(f"nn.init.{where}: expected a floating-point tensor, got {tensor.dtype}")
    data = tensor._data
    if not writable(data):
        data = tensor._data = data.copy()
    # drawn on the host (one generator, the same values on every device), copied to the GPU
    data[...] = like(values, data)     # casts the float64 draws to the tensor's dtype
    tensor._version[0] += 1            # the values changed: a graph that saved them is stale
    return tensor


def _gen(generator: np.random.Generator | None) -> np.random.Generator:
    return default_generator() if generator is None else generator


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor that keeps activations' variance steady through ``nonlinearity``:
    1 for linear/conv/sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope**2)) for
    leaky_relu (slope ``param``, default 0.01), 3/4 for selu."""
    linear = {"linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
              "conv_transpose2d", "conv_transpose3d", "sigmoid"}
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise OpError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise OpError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of linear, "
                  f"conv2d, sigmoid, tanh, relu, leaky_relu, selu")


def _calculate_fan_in_and_fan_out(tensor: Tensor, where: str = "") -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel)."""
    if tensor.ndim < 2:
        raise ShapeError(f"nn.init.{where}: fan in and fan out need a tensor with at least 2 "
                         f"dimensions (out, in, ...), got shape {tensor.shape}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode: str, where: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise OpError(f"nn.init.{where}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, where)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ShapeError(f"nn.init.{where}: {mode} is 0 for shape {tensor.shape}")
    return fan


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return _fill(tensor, 0.0, "zeros_")


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return _fill(tensor, 1.0, "ones_")


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _fill(tensor, val, "constant_")


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: np.random.Generator | None = None) -> Tensor:
    """Draw from U(a, b)."""
    if not a <= b:
        raise OpError(f"nn.init.uniform_: need a <= b, got a={a}, b={b}")
    return _fill(tensor, _gen(generator).uniform(a, b, size=tensor.shape), "uniform_")


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Tensor:
    """Draw from N(mean, std**2)."""
    if std < 0:
        raise OpError(f"nn.init.normal_: std must be >= 0, got {std}")
    return _fill(tensor, _gen(generator).normal(mean, std, size=tensor.shape), "normal_")


def xavier_uniform_(tensor: Tensor, gain: float = 1.0,
                    generator: np.random.Generator | None = None) -> Tensor:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "xavier_uniform_")
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _fill(tensor, _gen(generator).uniform(-a, a, size=tensor.shape), "xavier_uniform_")


def xavier_normal_(tensor: Tensor, gain: float = 1.0,
                   generator: np.random.Generator | None = None) -> Tensor:
    """N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "xavier_normal_")
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _fill(tensor, _gen(generator).normal(0.0, std, size=tensor.shape), "xavier_normal_")


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None) -> Tensor:
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al., 2015); gain =
    calculate_gain(nonlinearity, a). The default (leaky_relu with a=0) is relu's gain sqrt(2)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode, "kaiming_uniform_"))
    bound = math.sqrt(3.0) * std
    return _fill(tensor, _gen(generator).uniform(-bound, bound, size=tensor.shape),
                 "kaiming_uniform_")


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: np.random.Generator | None = None) -> Tensor:
    """N(0, std**2) with std = gain / sqrt(fan) (He init: sqrt(2 / fan_in) for relu)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode, "kaiming_normal_"))
    return _fill(tensor, _gen(generator).normal(0.0, std, size=tensor.shape), "kaiming_normal_")


__all__ = ["calculate_gain", "zeros_", "ones_", "constant_", "uniform_", "normal_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]
