"""Convolution and pooling layers (the book's chapter 7): Conv2d, MaxPool2d, AvgPool2d,
AdaptiveAvgPool2d. Inputs are (N, C, H, W), as in the book and PyTorch, or one image (C, H, W),
which gives an unbatched output (as PyTorch)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import OpError, ShapeError
from ..tensor import Tensor, _as_tensor
from . import functional as F
from . import init
from .layers import _dtype, _size
from .module import Module, Parameter


def _pair(layer: str, name: str, v: Any, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints (each >= minimum) as a pair: 3 -> (3, 3)."""
    pair = (v, v) if isinstance(v, (int, np.integer)) else tuple(v) if isinstance(
        v, (tuple, list)) else None
    if (pair is None or len(pair) != 2 or any(isinstance(u, bool) or not isinstance(
            u, (int, np.integer)) or u < minimum for u in pair)):
        raise OpError(f"{layer}: {name} must be an int or a pair of ints >= {minimum}, got {v!r}")
    return int(pair[0]), int(pair[1])


def _image_hint(shape: tuple[int, ...], c: int) -> str:
    """How to turn a wrongly shaped batch into (N, C, H, W), when it is clear."""
    if len(shape) == 2 and shape[1] % c == 0:
        side = math.isqrt(shape[1] // c)
        if side * side * c == shape[1]:
            return f": reshape it to ({shape[0]}, {c}, {side}, {side})?"
    if len(shape) == 3 and c == 1:
        return f": add the channel axis: x.reshape({shape[0]}, 1, {shape[1]}, {shape[2]})"
    if len(shape) == 4 and shape[3] == c:
        return ": channels last? x.transpose(0, 3, 1, 2) makes it (N, C, H, W)"
    return ""


class Conv2d(Module):
    """2-D cross-correlation (the book's Convolution): x (N, C_in, H, W) -> (N, C_out, OH, OW),
    OH = (H + 2 * padding - kh) // stride + 1 (likewise OW); one image (C_in, H, W) gives
    (C_out, OH, OW). weight (C_out, C_in, kh, kw), bias (C_out,). ``padding``: an int, a pair,
    ``'valid'`` (no padding) or ``'same'`` (output as large as the input; stride 1 only; an even
    kernel pads one more row/column at the bottom/right, as PyTorch).

    Initialisation (PyTorch's default): weight and bias from U(-k, k), k = 1 / sqrt(C_in * kh * kw).
    """

    weight: Parameter
    bias: Parameter | None

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        self.in_channels = _size("Conv2d", "in_channels", in_channels)
        self.out_channels = _size("Conv2d", "out_channels", out_channels)
        self.kernel_size = _pair("Conv2d", "kernel_size", kernel_size, 1)
        self.stride = _pair("Conv2d", "stride", stride, 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise OpError(f"Conv2d: padding must be an int, a pair, 'same' or 'valid', got "
                              f"{padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise OpError(f"Conv2d: padding='same' needs stride 1, got stride {self.stride} "
                              f"(as PyTorch); give the padding as numbers for a strided conv")
            self.padding: Any = padding
        else:
            self.padding = _pair("Conv2d", "padding", padding, 0)
        dt = _dtype("Conv2d", dtype)
        self.weight = Parameter(np.empty((self.out_channels, self.in_channels) + self.kernel_size,
                                         dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw weight and bias from U(-k, k), k = 1 / sqrt(fan_in), fan_in = C_in * kh * kw."""
        k = 1.0 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        init.uniform_(self.weight, -k, k)
        if self.bias is not None:
            init.uniform_(self.bias, -k, k)

    @property
    def _tag(self) -> str:
        return f"Conv2d({self.in_channels} -> {self.out_channels})"

    def forward(self, x: Any) -> Tensor:
        x = _as_tensor(x, "Conv2d")
        shape = x.shape
        c = self.in_channels
        if len(shape) not in (3, 4) or shape[-3] != c:
            raise ShapeError(f"{self._tag} expects (N, {c}, H, W) or ({c}, H, W), got {shape}"
                             + _image_hint(shape, c))
        try:
            return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        except ShapeError as e:   # e.g. the kernel is larger than the (padded) image
            raise ShapeError(f"{self._tag}: {e}") from None

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.bias is None:
            s += ", bias=False"
        return s


class _Pool2d(Module):
    _fn: Any = None

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _pair(name, "kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else _pair(name, "stride", stride, 1)
        self.padding = _pair(name, "padding", padding, 0)
        if self.padding[0] > self.kernel_size[0] // 2 or self.padding[1] > self.kernel_size[1] // 2:
            raise OpError(f"{name}: padding {self.padding} must be at most half the kernel size "
                          f"{self.kernel_size}")

    def forward(self, x: Any) -> Tensor:
        x = _as_tensor(x, type(self).__name__)
        if x.ndim not in (3, 4):
            raise ShapeError(f"{type(self).__name__} expects (N, C, H, W) or (C, H, W), got "
                             f"{x.shape}")
        try:
            return self._fn(x, self.kernel_size, self.stride, self.padding)
        except ShapeError as e:
            raise ShapeError(f"{type(self).__name__}: {e}") from None

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The largest value of each kernel_size window, moving by stride (default: kernel_size,
    windows that do not overlap); padding never wins. (N, C, H, W) -> (N, C, OH, OW)."""
    _fn = staticmethod(F.max_pool2d)


class AvgPool2d(_Pool2d):
    """The mean of each kernel_size window (padding counted as zeros, as PyTorch)."""
    _fn = staticmethod(F.avg_pool2d)


class AdaptiveAvgPool2d(Module):
    """The mean over an output_size grid of windows that cover the image, whatever its size
    (PyTorch's bins): (N, C, H, W) -> (N, C, *output_size); output_size 1 is global average
    pooling. An int, a pair, or a pair with None (keep that side's size)."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        size = (output_size, output_size) if output_size is None or isinstance(
            output_size, (int, np.integer)) else tuple(output_size) if isinstance(
            output_size, (tuple, list)) else ()
        if len(size) != 2 or any(s is not None and (isinstance(s, bool) or not isinstance(
                s, (int, np.integer)) or s < 1) for s in size):
            raise OpError(f"AdaptiveAvgPool2d: output_size must be an int >= 1 or a pair of them "
                          f"(None keeps a side), got {output_size!r}")
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        x = _as_tensor(x, "AdaptiveAvgPool2d")
        if x.ndim not in (3, 4):
            raise ShapeError(f"AdaptiveAvgPool2d expects (N, C, H, W) or (C, H, W), got {x.shape}")
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]
