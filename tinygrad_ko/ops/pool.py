"""Pooling, chapter 7 of the book: max_pool2d, avg_pool2d, adaptive_avg_pool2d.

max_pool2d is one op that never builds the windows: the output is the running maximum of kh * kw
strided slices of the input, one per position in the window, and backward routes each gradient to
the first slice that equals the maximum. That is kh * kw elementwise passes over arrays of the
output's size, in whatever memory layout the input has (a conv's channels-last output stays so), in
place of a transposed copy of every window and an arg-max over it. Padding is never read: each
window position only sees the input rows and columns that exist, so padding never wins, even over
inputs that are -inf (as PyTorch).
"""
from __future__ import annotations

import numpy as np

from ..device import array_module, is_gpu_array
from ..errors import ShapeError
from ..function import Function, const
from ..registry import _named_errors, register
from .conv import Col2Im, Im2Col, _geometry, _pair
from .shape import ScatterAdd


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


def _unbatched(fn, x, *args):
    """Run a pooling function on one image (C, H, W) as a batch of one, as PyTorch does."""
    return fn(x.unsqueeze(0), *args).squeeze(0)


def _span(i: int, size: int, pad: int, stride: int, n_out: int):
    """For kernel offset i along one axis: the output positions whose input row
    i + stride * o - pad exists (0 <= row < size), and those input rows; None if there are none."""
    lo = max(0, -((i - pad) // stride))                  # ceil((pad - i) / stride)
    hi = min(n_out, (size - 1 + pad - i) // stride + 1)
    if hi <= lo:
        return None
    start = i + stride * lo - pad
    return slice(lo, hi), slice(start, start + stride * (hi - lo - 1) + 1, stride)


def _offsets(shape, kernel, stride, padding, oh: int, ow: int):
    """(k, output slices, input slices) for each window position k = i * kw + j, in order."""
    h, w = shape[2:]
    for i in range(kernel[0]):
        rows = _span(i, h, padding[0], stride[0], oh)
        for j in range(kernel[1]):
            cols = _span(j, w, padding[1], stride[1], ow)
            if rows is not None and cols is not None:
                yield (i * kernel[1] + j, (Ellipsis, rows[0], cols[0]),
                       (Ellipsis, rows[1], cols[1]))


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min if dtype.kind in "iu" else False


@register("max_pool2d", sample=_pool_sample,
          call=lambda x, kernel_size, stride, padding: max_pool2d(x, kernel_size, stride, padding))
class MaxPool2d(Function):
    """Largest value of each kh x kw window (stride defaults to the kernel size);
    d/dx = 1 for each window's largest element (the first one on ties), 0 elsewhere: backward
    routes every gradient to its window's winner. Padding never wins (it is never read)."""
    def forward(ctx, x, kernel_size, stride=None, padding=0):
        kernel, stride, padding = _pool_args("max_pool2d", kernel_size, stride, padding)
        oh, ow = _geometry("max_pool2d", x.shape, kernel, stride, padding)
        ctx.geometry = (kernel, stride, padding, oh, ow)
        out = None
        for _, o, s in _offsets(x.shape, kernel, stride, padding, oh, ow):
            if out is None and o[1] == slice(0, oh) and o[2] == slice(0, ow):
                out = x[s].copy(order="K")   # keeps x's memory layout, for the passes below
                continue
            if out is None:
                out = np.full_like(x, _lowest(x.dtype), shape=x.shape[:2] + (oh, ow))
            np.maximum(out[o], x[s], out=out[o])   # NaN propagates, as PyTorch
        return out

    def _winners(ctx, x: np.ndarray, out: np.ndarray):
        """Yield (k, output slices, input slices, mask): mask is where window position k is its
        window's winner (the first position equal to the maximum; a NaN wins where out is NaN)."""
        kernel, stride, padding, oh, ow = ctx.geometry
        # a NaN in a window makes its maximum NaN, and the first NaN is the winner. On the GPU
        # the NaN test always runs: asking whether there is a NaN would read a value back
        nan = out.dtype.kind == "f" and (is_gpu_array(out) or bool(np.isnan(out).any()))
        taken = None
        for k, o, s in _offsets(x.shape, kernel, stride, padding, oh, ow):
            win = x[s] == out[o]
            if nan:
                win |= x[s] != x[s]
            if taken is None:
                taken = np.zeros_like(out, dtype=bool)
            else:
                win = win > taken[o]             # and not already taken by an earlier position
            taken[o] |= win
            yield k, o, s, win

    def backward(ctx, grad):
        x, = ctx.inputs
        kernel, stride, padding, oh, ow = ctx.geometry
        n, c, h, w = x.shape
        xp = array_module(x._data)
        winner = xp.zeros(ctx._out.shape, dtype=np.intp)
        for k, o, _, win in ctx._winners(x._data, ctx._out):
            winner[o][win] = k
        index = (xp.arange(winner.size), winner.reshape(-1))
        rows = ScatterAdd.apply(grad.reshape(-1), shape=(winner.size, kernel[0] * kernel[1]),
                                index=index)
        return Col2Im.apply(rows, shape=(n * c, 1, h, w), kernel=kernel, stride=stride,
                            padding=padding).reshape(n, c, h, w)

    def backward_np(ctx, grad):
        x = ctx.inputs[0]._data
        kernel, stride, padding = ctx.geometry[:3]
        disjoint = stride[0] >= kernel[0] and stride[1] >= kernel[1]
        # in x's layout, so that the slices below match; when the windows tile x exactly, every
        # element is written below and the array need not be zeroed first
        tiled = (stride == kernel and padding == (0, 0) and x.shape[2] % kernel[0] == 0
                 and x.shape[3] % kernel[1] == 0)
        gx = (np.empty_like if tiled else np.zeros_like)(x, dtype=grad.dtype)
        out = ctx._out
        if grad.strides != out.strides and grad.dtype == out.dtype:
            # dy laid out unlike x (a Flatten's gradient is NCHW, a conv's output channels-last):
            # one copy into x's layout, rather than kh*kw passes that mix the two (3x slower)
            relaid = np.empty_like(out)
            relaid[...] = grad
            grad = relaid
        for _, o, s, win in ctx._winners(x, ctx._out):
            if disjoint:        # every input element is in one window at most: write, no add
                np.multiply(grad[o], win, out=gx[s])
            else:
                gx[s] += grad[o] * win
        return gx


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Largest value of each window of x (N, C, H, W) or (C, H, W); stride defaults to the kernel
    size; padding (at most half the kernel) never wins."""
    if x.ndim == 3:
        return _unbatched(max_pool2d, x, kernel_size, stride, padding)
    return MaxPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding)


max_pool2d = _named_errors("max_pool2d", max_pool2d)   # errors under the op's name


@register("avg_pool2d", sample=_pool_sample)
def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean of each window of x (N, C, H, W) or (C, H, W), padding counted as zeros (PyTorch's
    count_include_pad=True)."""
    if x.ndim == 3:
        return _unbatched(avg_pool2d, x, kernel_size, stride, padding)
    kernel, stride, padding = _pool_args("avg_pool2d", kernel_size, stride, padding)
    oh, ow = _geometry("avg_pool2d", x.shape, kernel, stride, padding)
    n, c, h, w = x.shape
    # pool each channel separately: treat (N, C) as N*C one-channel images
    cols = Im2Col.apply(x.reshape(n * c, 1, h, w), kernel=kernel, stride=stride, padding=padding)
    return cols.mean(axis=1).reshape(n, c, oh, ow)


def _bins(size: int, n_out: int, xp=np) -> np.ndarray:
    """(n_out, size) averaging matrix of PyTorch's adaptive pooling: output i averages inputs
    floor(i * size / n_out) .. ceil((i + 1) * size / n_out) - 1. Made by the array library
    ``xp`` of the input, so on the GPU it is made there (no copy from the host)."""
    i = xp.arange(n_out)[:, None]
    j = xp.arange(size)[None, :]
    start, end = (i * size) // n_out, -((-(i + 1) * size) // n_out)
    return ((j >= start) & (j < end)) / (end - start)


def _adaptive_sample(s):
    shape = (s.integers(1, 2), s.integers(1, 2), s.integers(1, 5), s.integers(1, 5))
    return (s.array(shape),), {"output_size": (s.integers(1, shape[2]), s.integers(1, shape[3]))}


@register("adaptive_avg_pool2d", sample=_adaptive_sample)
def adaptive_avg_pool2d(x, output_size):
    """Average of x (N, C, H, W) or (C, H, W) over an output_size grid of windows that cover the
    image (PyTorch's bins: output i averages inputs floor(i H / OH) .. ceil((i + 1) H / OH) - 1;
    windows of H / OH when it divides). A window average is a row average of column averages:
    y = A_h @ x @ A_w^T with two constant averaging matrices, so the gradient is theirs."""
    if x.ndim == 3:
        return _unbatched(adaptive_avg_pool2d, x, output_size)
    if x.ndim != 4:
        raise ShapeError(f"adaptive_avg_pool2d: expects (N, C, H, W) or (C, H, W), got {x.shape}")
    size = (output_size, output_size) if output_size is None or isinstance(
        output_size, (int, np.integer)) else tuple(output_size)
    if len(size) != 2:
        raise ShapeError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got "
                         f"{output_size!r}")
    h, w = x.shape[2:]
    oh, ow = (h if size[0] is None else int(size[0])), (w if size[1] is None else int(size[1]))
    if min(oh, ow) < 1 or h < 1 or w < 1:
        raise ShapeError(f"adaptive_avg_pool2d: output_size {(oh, ow)} and the image "
                         f"{(h, w)} must be >= 1")
    dtype = x.dtype if x.dtype.kind == "f" else np.float32
    xp = array_module(x._data)
    y = x if oh == h else const(_bins(h, oh, xp), dtype) @ x
    return y if ow == w else y @ const(_bins(w, ow, xp).T, dtype)
