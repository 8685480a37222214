"""Reductions (sum, mean, max, min, var, std, logsumexp) and softmax / log_softmax.

Every reduction takes ``axis`` (None, an int or a tuple) and ``keepdims``. Backward first puts the
reduced axes back as size-1 axes (``_keep``), so the gradient broadcasts against the input.
"""
from __future__ import annotations

import math

import numpy as np

from ..device import array_module, is_gpu_array
from ..errors import AxisError, ShapeError
from ..function import Function, const
from ..registry import one_axis, reduction, register
from .elementwise import _float


def _axes(axis, shape: tuple[int, ...], op: str) -> tuple[int, ...]:
    """axis (None, int, tuple; negatives allowed) -> sorted tuple of non-negative axes."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    n = max(ndim, 1)  # a 0-d tensor accepts axis 0 or -1, as PyTorch
    out = []
    for a in axes:
        if not -n <= a < n:
            raise AxisError(f"{op}: axis {a} is out of range for a tensor of shape {shape} "
                            f"({ndim} dims)")
        out.append(int(a) % n)
    if len(set(out)) != len(out):
        raise AxisError(f"{op}: repeated axis in {axis} (tensor of shape {shape})")
    return tuple(sorted(out)) if ndim else ()


def _keep(grad, in_shape, axes, keepdims):
    """Reshape a reduced gradient to have size-1 axes where the input was reduced."""
    if keepdims or not axes:
        return grad
    shape = tuple(1 if i in axes else n for i, n in enumerate(in_shape))
    return grad.reshape(shape)


def _count(shape, axes) -> int:
    return math.prod(shape[a] for a in axes)


@register("sum", sample=reduction(), methods=("sum",))
class Sum(Function):
    """sum over axis;  d/dx_i = 1: the gradient is broadcast back over the summed axes."""
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.axes = _axes(axis, x.shape, "sum")
        ctx.keepdims = keepdims
        return x.sum(axis=ctx.axes, keepdims=keepdims)

    def backward(ctx, grad):
        x, = ctx.inputs
        return _keep(grad, x.shape, ctx.axes, ctx.keepdims).broadcast_to(x.shape)


@register("mean", sample=reduction(), methods=("mean",))
class Mean(Function):
    """sum / N over axis;  d/dx_i = 1/N.

    Over an empty axis (N = 0) this raises a ShapeError on purpose, where PyTorch returns nan:
    an average of nothing is a bug in the caller far more often than a wanted nan."""
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.axes = _axes(axis, x.shape, "mean")
        ctx.keepdims = keepdims
        ctx.n = _count(x.shape, ctx.axes)
        if ctx.n == 0:
            raise ShapeError(f"mean: cannot average over an empty axis (shape {x.shape}, axis {axis})")
        out = x.sum(axis=ctx.axes, keepdims=keepdims)
        if out.dtype.kind != "f":
            out = out.astype(np.float32)
        return out / out.dtype.type(ctx.n)     # a scalar of out's dtype (a kernel argument)

    def backward(ctx, grad):
        x, = ctx.inputs
        return _keep(grad, x.shape, ctx.axes, ctx.keepdims).broadcast_to(x.shape) / ctx.n


class _Extreme(Function):
    """max / min over axis;  the gradient goes to the elements equal to the result, split evenly
    between ties (as PyTorch's amax/amin). An empty tensor reduces over its non-empty axes to an
    empty result (shape (0, 3) over axis 1 -> shape (0,)); reducing an axis of size 0 has no
    answer and raises, as in PyTorch."""
    reducer = staticmethod(np.max)

    def forward(ctx, x, axis=None, keepdims=False):
        ctx.axes = _axes(axis, x.shape, ctx.name)
        ctx.keepdims = keepdims
        if x.size == 0 and (not x.ndim or _count(x.shape, ctx.axes) == 0):
            raise ShapeError(f"{ctx.name}: cannot reduce over an axis of size 0 (shape {x.shape}, "
                             f"axis {axis}): an empty set has no {ctx.name}")
        return ctx.reducer(x, axis=ctx.axes, keepdims=keepdims)

    def backward(ctx, grad):
        x = ctx.inputs[0]._data
        hit = x == _keep(ctx.output, x.shape, ctx.axes, ctx.keepdims)._data
        share = hit / np.sum(hit, axis=ctx.axes, keepdims=True)
        return _keep(grad, x.shape, ctx.axes, ctx.keepdims) * const(share, grad.dtype)


@register("max", sample=reduction(distinct=True), methods=("max", "amax"))
class Max(_Extreme):
    reducer = staticmethod(np.max)


@register("min", sample=reduction(distinct=True), methods=("min", "amin"))
class Min(_Extreme):
    reducer = staticmethod(np.min)


def _ddof_param(s, shape):
    return s.integers(0, 1)


@register("var", sample=reduction(min_dims=1, min_side=3, ddof=_ddof_param), methods=("var",))
class Var(Function):
    """mean((x - mean(x))**2) * N / (N - ddof);  d/dx_i = 2 (x_i - mean) / (N - ddof).

    With N - ddof <= 0 this raises a ShapeError on purpose, where PyTorch returns nan (or inf)."""
    def forward(ctx, x, axis=None, keepdims=False, ddof=1):
        x = _float(x)
        ctx.axes = _axes(axis, x.shape, "var")
        ctx.keepdims = keepdims
        ctx.denom = _count(x.shape, ctx.axes) - ddof
        if ctx.denom <= 0:
            raise ShapeError(f"var: needs more than ddof={ddof} elements along the reduced axes "
                             f"(shape {x.shape}, axis {axis})")
        return np.var(x, axis=ctx.axes, keepdims=keepdims, ddof=ddof)

    def backward(ctx, grad):
        x, = ctx.inputs
        centered = x - x.mean(axis=ctx.axes, keepdims=True)
        return _keep(grad, x.shape, ctx.axes, ctx.keepdims) * centered * (2.0 / ctx.denom)


@register("std", sample=reduction(distinct=True, min_dims=1, min_side=3, ddof=_ddof_param), methods=("std",))
def std(x, axis=None, keepdims=False, ddof=None, *, dim=None, keepdim=None, correction=None):
    """sqrt(var(x));  d/dx_i = (x_i - mean) / ((N - ddof) std), and 0 where std = 0 (as PyTorch).

    Composite: var, then a square root whose gradient is 0 where its output is 0. As ``var``, it
    raises a ShapeError where N - ddof <= 0 (PyTorch returns nan)."""
    return _StdSqrt.apply(x.var(axis, keepdims, ddof, dim=dim, keepdim=keepdim,
                                correction=correction))


class _StdSqrt(Function):
    """sqrt(v) for std;  d/dv = 1 / (2 sqrt(v)), but 0 where sqrt(v) = 0: there every x_i equals
    the mean, var's own gradient is 0, and 0 * inf would give nan (PyTorch's std gives 0).
    Private (tested through ``std``): a plain sqrt keeps its inf at 0."""
    name = "std"

    def forward(ctx, v):
        return np.sqrt(v)

    def backward(ctx, grad):
        y = ctx.output
        zero = y._data == 0
        if not is_gpu_array(zero) and not zero.any():   # (the GPU takes the masked form: no sync)
            return grad / (2 * y)
        # y + 1 where y = 0, then masked: no division by 0, and no gradient flows through it
        return grad / (2 * (y + const(zero, y.dtype))) * const(~zero, y.dtype)


def _reduced_shape(shape, axes, keepdims):
    return tuple(1 if i in axes else n for i, n in enumerate(shape) if keepdims or i not in axes)


def _finite_max(x, axes):
    """max over axes with -inf/inf rows replaced by 0, so x - m never gives inf - inf = nan."""
    m = np.max(x, axis=axes, keepdims=True)
    return np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)


@register("logsumexp", sample=reduction(), methods=("logsumexp",))
class LogSumExp(Function):
    """log(sum(exp(x))), computed as m + log(sum(exp(x - m))) with m = max(x): stable at any
    magnitude;  d/dx_i = exp(x_i - logsumexp(x)) = softmax(x)_i."""
    def forward(ctx, x, axis=None, keepdims=False):
        x = _float(x)
        ctx.axes = _axes(axis, x.shape, "logsumexp")
        ctx.keepdims = keepdims
        if x.size == 0:   # as PyTorch: the log of an empty sum is log(0) = -inf
            return array_module(x).full(_reduced_shape(x.shape, ctx.axes, keepdims), -np.inf,
                                        dtype=x.dtype)
        m = _finite_max(x, ctx.axes)
        out = np.log(np.sum(np.exp(x - m), axis=ctx.axes, keepdims=True)) + m
        return out if keepdims else np.squeeze(out, axis=ctx.axes)

    def backward(ctx, grad):
        x, = ctx.inputs
        if x._data.size == 0:   # an empty input: an empty gradient
            return const(array_module(x._data).zeros(x.shape, grad.dtype))
        # softmax from exp(x - max) / sum, not exp(x - out): out is rounded, and at |x| ~ 1e4 in
        # float32 that rounding would cost 4 digits. The shift m is a constant: it cancels.
        e = (x - const(_finite_max(x._data, ctx.axes))).exp()
        return _keep(grad, x.shape, ctx.axes, ctx.keepdims) * e / e.sum(axis=ctx.axes, keepdims=True)


def _softmax_sample(s):
    shape = s.shape(min_dims=1)
    return (s.array(shape, -3.0, 3.0),), {"axis": one_axis(s, shape)}


@register("softmax", sample=_softmax_sample, methods=("softmax",))
class Softmax(Function):
    """y = exp(x - max) / sum(exp(x - max));  backward: y * (g - sum(g * y)).
    An empty input gives an empty output (as PyTorch)."""
    def forward(ctx, x, axis=-1):
        x = _float(x)
        ctx.axis = axis
        if x.size == 0:
            _axes(axis, x.shape, "softmax")
            return x.copy()
        e = np.exp(x - _finite_max(x, axis))
        return e / np.sum(e, axis=axis, keepdims=True)

    def backward(ctx, grad):
        y = ctx.output
        return y * (grad - (grad * y).sum(axis=ctx.axis, keepdims=True))


@register("log_softmax", sample=_softmax_sample, methods=("log_softmax",))
class LogSoftmax(Function):
    """y = x - logsumexp(x);  backward: g - softmax(x) * sum(g) = g - exp(y) * sum(g).
    An empty input gives an empty output (as PyTorch)."""
    def forward(ctx, x, axis=-1):
        x = _float(x)
        ctx.axis = axis
        if x.size == 0:
            _axes(axis, x.shape, "log_softmax")
            return x.copy()
        shifted = x - _finite_max(x, axis)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))

    def backward(ctx, grad):
        return grad - ctx.output.exp() * grad.sum(axis=ctx.axis, keepdims=True)
