"""Convolution and pooling, chapter 7 of the book: im2col turns every kh x kw window into a row,
so a convolution is one matmul (``linear``) and pooling is a max/mean over each row.

im2col and col2im are each other's backward, so conv2d and avg_pool2d are composites of registered
ops and get first and second derivatives for free. max_pool2d is one op (for speed: it keeps the
arg-max of each window), whose backward is again made of registered ops (scatter-add, col2im).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import DTypeError, ShapeError
from ..function import Function
from ..registry import register
from .nn import Linear
from .shape import ScatterAdd


def _pair(v, name: str = "") -> tuple[int, int]:
    pair = (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(int(u) for u in v)
    if len(pair) != 2:
        raise ShapeError(f"{name}: expected an int or a pair, got {v!r}")
    return pair


def _geometry(op: str, shape, kernel, stride, padding) -> tuple[int, int]:
    """Output height and width, with clear errors for windows that do not fit."""
    if len(shape) != 4:
        raise ShapeError(f"{op}: expects input of shape (N, C, H, W), got {tuple(shape)}")
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    if min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0:
        raise ShapeError(f"{op}: kernel {kernel} and stride {stride} must be >= 1, padding "
                         f"{padding} >= 0")
    oh = (shape[2] + 2 * ph - kh) // sh + 1
    ow = (shape[3] + 2 * pw - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ShapeError(f"{op}: a {kh}x{kw} window does not fit input of shape {tuple(shape)} "
                         f"with padding {padding}")
    return oh, ow


def _windows(x: np.ndarray, kernel, stride, padding, pad_value, oh: int, ow: int) -> np.ndarray:
    """A view (N, C, OH, OW, kh, kw) of every window of x after padding with pad_value."""
    (ph, pw), (sh, sw) = padding, stride
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    return sliding_window_view(x, kernel, axis=(2, 3))[:, :, ::sh, ::sw][:, :, :oh, :ow]


def _im2col_sample(s):
    shape = (s.integers(1, 2), s.integers(1, 2), s.integers(2, 5), s.integers(2, 5))
    k = (s.integers(1, 2), s.integers(1, 2))
    return (s.array(shape),), {"kernel": k, "stride": (s.integers(1, 2), s.integers(1, 2)),
                               "padding": (s.integers(0, 1), s.integers(0, 1))}


@register("im2col", sample=_im2col_sample)
class Im2Col(Function):
    """(N, C, H, W) -> (N*OH*OW, C*kh*kw): each window (after padding) becomes a row;
    backward is col2im, which adds every row back where it came from."""
    def forward(ctx, x, kernel, stride=(1, 1), padding=(0, 0), pad_value=0.0):
        kernel, stride, padding = _pair(kernel), _pair(stride), _pair(padding)
        oh, ow = _geometry("im2col", x.shape, kernel, stride, padding)
        ctx.geometry = (x.shape, kernel, stride, padding)
        win = _windows(x, kernel, stride, padding, pad_value, oh, ow)
        n, c = x.shape[:2]
        return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kernel[0] * kernel[1])

    def backward(ctx, grad):
        shape, kernel, stride, padding = ctx.geometry
        return Col2Im.apply(grad, shape=shape, kernel=kernel, stride=stride, padding=padding)


def _col2im_sample(s):
    (x,), kw = _im2col_sample(s)
    oh, ow = _geometry("col2im", x.shape, kw["kernel"], kw["stride"], kw["padding"])
    rows = x.shape[0] * oh * ow
    cols = x.shape[1] * kw["kernel"][0] * kw["kernel"][1]
    return (s.array((rows, cols)),), dict(kw, shape=x.shape)


def _add_windows(g: np.ndarray, shape, kernel, stride, padding) -> np.ndarray:
    """Sum window values g (N, C, kh, kw, OH, OW) back into an (N, C, H, W) array: each window
    element goes where it was read from; overlapping windows add up."""
    n, c, h, w = shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = g.shape[4:]
    out = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=g.dtype)
    for i in range(kh):        # kh * kw strided adds: few, and each is vectorised
        for j in range(kw):
            out[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += g[:, :, i, j]
    return out[:, :, ph:ph + h, pw:pw + w]


@register("col2im", sample=_col2im_sample)
class Col2Im(Function):
    """The adjoint of im2col: rows (N*OH*OW, C*kh*kw) summed back into (N, C, H, W);
    overlapping windows add up. Its backward is im2col."""
    def forward(ctx, cols, shape, kernel, stride=(1, 1), padding=(0, 0)):
        kernel, stride, padding = _pair(kernel), _pair(stride), _pair(padding)
        oh, ow = _geometry("col2im", shape, kernel, stride, padding)
        ctx.geometry = (kernel, stride, padding)
        n, c = shape[:2]
        g = cols.reshape(n, oh, ow, c, *kernel).transpose(0, 3, 4, 5, 1, 2)
        return _add_windows(g, shape, kernel, stride, padding)

    def backward(ctx, grad):
        kernel, stride, padding = ctx.geometry
        return Im2Col.apply(grad, kernel=kernel, stride=stride, padding=padding)


def _conv_sample(s):
    n, c, o = s.integers(1, 2), s.integers(1, 2), s.integers(1, 2)
    k = s.integers(1, 3)
    h, w = s.integers(k, 5), s.integers(k, 5)
    args = [s.array((n, c, h, w)), s.array((o, c, k, k))]
    if s.boolean():
        args.append(s.array((o,)))
    return tuple(args), {"stride": s.integers(1, 2), "padding": s.integers(0, 1)}


@register("conv2d", sample=_conv_sample)
def conv2d(x, weight, bias=None, stride=1, padding=0):
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw), plus bias (O,):
    im2col, then one matmul with the weight as an (O, C*kh*kw) matrix."""
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ShapeError(f"conv2d: input of shape {x.shape} does not fit weight of shape "
                         f"{weight.shape}: expected input (N, {weight.shape[1] if weight.ndim == 4 else 'C'}"
                         f", H, W) and weight (out_channels, in_channels, kh, kw)")
    if x.dtype != weight.dtype and x.dtype.kind == "f":
        raise DTypeError(f"conv2d: input is {x.dtype} but the weight is {weight.dtype}; convert one "
                         f"of them (x.astype({weight.dtype}) or model.to({x.dtype}))")
    if x.dtype.kind in "biu":
        x = x.astype(weight.dtype)
    n, o, (kh, kw) = x.shape[0], weight.shape[0], weight.shape[2:]
    stride, padding = _pair(stride, "conv2d"), _pair(padding, "conv2d")
    oh, ow = _geometry("conv2d", x.shape, (kh, kw), stride, padding)
    cols = Im2Col.apply(x, kernel=(kh, kw), stride=stride, padding=padding)
    w2 = weight.reshape(o, -1)
    out = Linear.apply(cols, w2, bias) if bias is not None else Linear.apply(cols, w2)
    return out.reshape(n, oh, ow, o).permute(0, 3, 1, 2)


def _pool_sample(s):
    k = s.integers(1, 3)
    shape = (s.integers(1, 2), s.integers(1, 2), s.integers(k, 5), s.integers(k, 5))
    stride = s.choice([None, 1, 2])
    return (s.array(shape, distinct=True),), {"kernel_size": k, "stride": stride,
                                              "padding": s.integers(0, k // 2)}


def _pool_args(op: str, kernel_size, stride, padding) -> tuple:
    """(kernel, stride, padding) as pairs; stride defaults to the kernel, padding at most half it."""
    kernel = _pair(kernel_size, op)
    stride = kernel if stride is None else _pair(stride, op)
    padding = _pair(padding, op)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ShapeError(f"{op}: padding {padding} must be at most half the kernel {kernel}")
    return kernel, stride, padding


def _pool(op: str, x, kernel_size, stride, padding, pad_value):
    kernel, stride, padding = _pool_args(op, kernel_size, stride, padding)
    oh, ow = _geometry(op, x.shape, kernel, stride, padding)
    n, c, h, w = x.shape
    # pool each channel separately: treat (N, C) as N*C one-channel images
    cols = Im2Col.apply(x.reshape(n * c, 1, h, w), kernel=kernel, stride=stride, padding=padding,
                        pad_value=pad_value)
    return cols, (n, c, oh, ow)


@register("max_pool2d", sample=_pool_sample,
          call=lambda x, kernel_size, stride, padding: MaxPool2d.apply(
              x, kernel_size=kernel_size, stride=stride, padding=padding))
class MaxPool2d(Function):
    """Largest value of each kh x kw window (stride defaults to the kernel size);
    d/dx = 1 for each window's largest element (the first one on ties), 0 elsewhere: backward
    routes every gradient to its window's winner. Padding never wins (it is the lowest float)."""
    def forward(ctx, x, kernel_size, stride=None, padding=0):
        kernel, stride, padding = _pool_args("max_pool2d", kernel_size, stride, padding)
        oh, ow = _geometry("max_pool2d", x.shape, kernel, stride, padding)
        lowest = np.finfo(x.dtype).min if x.dtype.kind == "f" else 0
        win = _windows(x, kernel, stride, padding, lowest, oh, ow)
        # one row per position in the window, one column per window: the arg-max then runs down
        # short columns of a contiguous array, which NumPy does fast
        win = win.transpose(4, 5, 0, 1, 2, 3).reshape(kernel[0] * kernel[1], -1)
        ctx.winner = np.argmax(win, axis=0)
        ctx.geometry = (kernel, stride, padding, oh, ow)
        return np.take_along_axis(win, ctx.winner[None], axis=0).reshape(x.shape[:2] + (oh, ow))

    def _windows_index(ctx):
        return np.arange(ctx.winner.size), ctx.winner

    def backward(ctx, grad):
        x, = ctx.inputs
        kernel, stride, padding, oh, ow = ctx.geometry
        n, c, h, w = x.shape
        rows = ScatterAdd.apply(grad.reshape(-1), shape=(ctx.winner.size, kernel[0] * kernel[1]),
                                index=ctx._windows_index())
        return Col2Im.apply(rows, shape=(n * c, 1, h, w), kernel=kernel, stride=stride,
                            padding=padding).reshape(n, c, h, w)

    def backward_np(ctx, grad):
        x = ctx.inputs[0]._data
        kernel, stride, padding, oh, ow = ctx.geometry
        g = np.zeros((kernel[0] * kernel[1], ctx.winner.size), dtype=grad.dtype)
        g[ctx.winner, np.arange(ctx.winner.size)] = grad.reshape(-1)
        g = g.reshape(*kernel, *x.shape[:2], oh, ow).transpose(2, 3, 0, 1, 4, 5)
        return _add_windows(g, x.shape, kernel, stride, padding)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Functional form of ``MaxPool2d``."""
    return MaxPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding)


@register("avg_pool2d", sample=_pool_sample)
def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean of each window, padding counted as zeros (PyTorch's count_include_pad=True)."""
    cols, shape = _pool("avg_pool2d", x, kernel_size, stride, padding, 0.0)
    return cols.mean(axis=1).reshape(shape)
