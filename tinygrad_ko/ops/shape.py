"""Shape ops: reshape, transpose, broadcast_to / sum_to, squeeze / unsqueeze / flatten, indexing,
concatenate / stack, dtype casts. They move numbers around, so their backward moves the gradient
back: reshape <-> reshape, broadcast_to <-> sum_to, getitem <-> scatter-add.
"""
from __future__ import annotations

import math

import numpy as np

from ..device import array_module, scatter_add
from ..errors import AxisError, ShapeError
from ..function import Function
from ..registry import register


def _reshape_sample(s):
    shape = s.shape()
    n = math.prod(shape)
    target = s.choice([(n,), (1, n), (n, 1), (-1,)] + ([(2, n // 2)] if n % 2 == 0 else []))
    return (s.array(shape),), {"shape": target}


@register("reshape", sample=_reshape_sample, methods=("reshape", "view"),
          call=lambda x, shape: x.reshape(shape))
class Reshape(Function):
    """Same numbers, new shape;  backward reshapes the gradient back."""
    def forward(ctx, x, shape):
        try:
            return x.reshape(shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} "
                             f"elements) into shape {tuple(shape)}") from None

    def backward(ctx, grad):
        return grad.reshape(ctx.inputs[0].shape)


def _transpose_sample(s):
    shape = s.shape()
    return (s.array(shape),), {"axes": s.permutation(len(shape))}


@register("transpose", sample=_transpose_sample, methods=("permute", "transpose"),
          call=lambda x, axes: x.permute(axes))
class Transpose(Function):
    """Permute the axes;  backward applies the inverse permutation."""
    def forward(ctx, x, axes):
        if sorted(int(a) % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
            raise AxisError(f"transpose: {tuple(axes)} is not a permutation of the {x.ndim} axes "
                            f"of a tensor of shape {x.shape}")
        ctx.axes = axes
        return np.transpose(x, axes)

    def backward(ctx, grad):
        return grad.permute(*np.argsort([a % grad.ndim for a in ctx.axes]))


def _broadcast_sample(s):
    small, big = sorted(s.broadcastable_shapes(2), key=len)
    target = np.broadcast_shapes(small, big)
    return (s.array(small),), {"shape": target}


@register("broadcast_to", sample=_broadcast_sample, methods=("broadcast_to", "expand"),
          call=lambda x, shape: x.broadcast_to(shape))
class BroadcastTo(Function):
    """Repeat along size-1 (or new leading) axes;  backward sums over them (sum_to)."""
    def forward(ctx, x, shape):
        try:
            return np.broadcast_to(x, shape)
        except ValueError:
            raise ShapeError(f"broadcast_to: cannot broadcast a tensor of shape {x.shape} to "
                             f"shape {tuple(shape)}") from None

    def backward(ctx, grad):
        return grad.sum_to(ctx.inputs[0].shape)


def sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum x down to ``shape``: over extra leading axes, and over axes where shape has 1.
    Works for any ranks NumPy broadcasting allows, so gradients of broadcast inputs come back right."""
    lead = x.ndim - len(shape)
    if lead < 0 or any(n != 1 and n != m for n, m in zip(shape, x.shape[lead:])):
        raise ShapeError(f"sum_to: cannot sum a tensor of shape {x.shape} down to shape {shape}")
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and x.shape[lead + i] != 1)
    out = x.sum(axis=axes, keepdims=True) if axes else x
    return out.reshape(shape) if lead else out


def _sum_to_sample(s):
    small, big = sorted(s.broadcastable_shapes(2), key=len)
    return (s.array(np.broadcast_shapes(small, big)),), {"shape": small}


@register("sum_to", sample=_sum_to_sample, methods=("sum_to",),
          call=lambda x, shape: x.sum_to(shape))
class SumTo(Function):
    """Sum down to a shape (inverse of broadcast_to);  backward broadcasts the gradient back."""
    def forward(ctx, x, shape):
        return sum_to(x, tuple(shape))

    def backward(ctx, grad):
        return grad.broadcast_to(ctx.inputs[0].shape)


def _norm_axis(axis: int, n_positions: int, op: str, ndim: int) -> int:
    """axis in [-n_positions, n_positions) -> non-negative; ``ndim`` is the tensor's, for the error."""
    if not -n_positions <= axis < n_positions:
        raise AxisError(f"{op}: axis {axis} is out of range for a tensor with {ndim} dims "
                        f"(valid: {-n_positions} to {n_positions - 1})")
    return axis % n_positions


def _squeeze_sample(s):
    shape = s.shape(min_side=1, max_side=2)
    return (s.array(shape),), {"axis": s.choice([None] + list(range(len(shape))))}


@register("squeeze", sample=_squeeze_sample, methods=("squeeze",))
def squeeze(x, axis=None):
    """Drop size-1 axes (all, or the given ones; a given axis of another size is left alone, as
    PyTorch). Composite: a reshape."""
    if axis is None:
        return x.reshape(tuple(n for n in x.shape if n != 1))
    axes = {_norm_axis(a, max(x.ndim, 1), "squeeze", x.ndim)
            for a in ((axis,) if isinstance(axis, int) else axis)}
    return x.reshape(tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))


def _unsqueeze_sample(s):
    shape = s.shape()
    return (s.array(shape),), {"axis": s.integers(-len(shape) - 1, len(shape))}


@register("unsqueeze", sample=_unsqueeze_sample, methods=("unsqueeze", "expand_dims"))
def unsqueeze(x, axis):
    """Insert a size-1 axis at ``axis``. Composite: a reshape."""
    axis = _norm_axis(axis, x.ndim + 1, "unsqueeze", x.ndim)
    return x.reshape(x.shape[:axis] + (1,) + x.shape[axis:])


def _flatten_sample(s):
    shape = s.shape(min_dims=1)
    start = s.integers(0, len(shape) - 1)
    return (s.array(shape),), {"start_dim": start, "end_dim": s.integers(start, len(shape) - 1)}


@register("flatten", sample=_flatten_sample, methods=("flatten",))
def flatten(x, start_dim=0, end_dim=-1):
    """Merge axes start_dim..end_dim into one (PyTorch). Composite: a reshape."""
    if x.ndim == 0:  # a 0-d tensor has one position: dims 0 and -1
        _norm_axis(start_dim, 1, "flatten", 0)
        _norm_axis(end_dim, 1, "flatten", 0)
        return x.reshape(1)
    start = _norm_axis(start_dim, x.ndim, "flatten", x.ndim)
    end = _norm_axis(end_dim, x.ndim, "flatten", x.ndim)
    if start > end:
        raise AxisError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = math.prod(x.shape[start:end + 1])
    return x.reshape(x.shape[:start] + (merged,) + x.shape[end + 1:])


def _is_basic(index) -> bool:
    """Basic indexing (ints, slices, None, ...) never repeats an element; arrays may."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) for i in items)


def _getitem_sample(s):
    shape = s.shape(min_dims=1)
    kind = s.choice(["slice", "int", "array", "bool"])
    if kind == "slice":
        index = tuple(slice(s.integers(0, n - 1), None, s.integers(1, 2)) for n in shape)
    elif kind == "int":
        index = s.integers(-shape[0], shape[0] - 1)
    elif kind == "array":  # repeated indices: the gradient must add up
        index = np.array([s.integers(0, shape[0] - 1) for _ in range(s.integers(1, 5))])
    else:
        index = s.array(shape) > 0
    return (s.array(shape),), {"index": index}


@register("getitem", sample=_getitem_sample, methods=("__getitem__",),
          call=lambda x, index: x[index])
class GetItem(Function):
    """x[index] for slices, ints, integer and boolean arrays;  backward scatter-adds the gradient
    into zeros of x's shape, so repeated indices accumulate."""
    def forward(ctx, x, index):
        ctx.index = index
        return x[index]

    def backward(ctx, grad):
        return ScatterAdd.apply(grad, shape=ctx.inputs[0].shape, index=ctx.index)


def _scatter_sample(s):
    (x,), kw = _getitem_sample(s)
    return (s.array(np.shape(x[kw["index"]])),), {"shape": x.shape, "index": kw["index"]}


@register("scatter_add", sample=_scatter_sample)
class ScatterAdd(Function):
    """zeros(shape) with g added at index (repeats add up): the backward of getitem;  its own
    backward is getitem again."""
    def forward(ctx, g, shape, index):
        ctx.index = index
        out = array_module(g).zeros(shape, dtype=g.dtype)
        if _is_basic(index):
            out[index] = g
        else:
            scatter_add(out, index, g)
        return out

    def backward(ctx, grad):
        return grad[ctx.index]


_UNSIGNED = {np.dtype(f"i{k}"): np.dtype(f"u{k}") for k in (1, 2, 4, 8)}


def out_of_range(index, n: int) -> bool:
    """True if an integer array holds a value outside [0, n): one reduction (a negative index,
    read as unsigned, is huge). Ops check class and row indices with it because the GPU does
    not: CuPy's take and fancy indexing wrap an index that is out of range, a silently wrong
    result. On the GPU the answer is read back to the host: one device-to-host copy of a
    scalar, a synchronisation, per check."""
    if not index.size:
        return False
    unsigned = _UNSIGNED.get(index.dtype)
    if unsigned is not None:
        return bool(index.view(unsigned).max() >= n)
    return bool(index.max() >= n)          # unsigned integers: never negative


def _cat_sample(s):
    shape = s.shape(min_dims=1)
    axis = s.integers(-len(shape), len(shape) - 1)
    shapes = []
    for _ in range(s.integers(1, 3)):
        piece = list(shape)
        piece[axis] = s.integers(1, 3)
        shapes.append(tuple(piece))
    return tuple(s.array(sh) for sh in shapes), {"axis": axis}


def _cat_call(*xs, axis=0):
    from .. import cat
    return cat(xs, axis=axis)


@register("cat", sample=_cat_sample, call=_cat_call)
class Concatenate(Function):
    """Join tensors along an existing axis;  backward slices the gradient back into pieces."""
    def forward(ctx, *xs, axis=0):
        ctx.axis = axis
        return np.concatenate(xs, axis=axis)

    def backward(ctx, grad):
        axis = ctx.axis % grad.ndim
        grads, start = [], 0
        for x, need in zip(ctx.inputs, ctx.needs_input_grad):
            stop = start + x.shape[axis]
            grads.append(grad[(slice(None),) * axis + (slice(start, stop),)] if need else None)
            start = stop
        return tuple(grads)


def _stack_sample(s):
    shape = s.shape()
    n = s.integers(1, 3)
    return tuple(s.array(shape) for _ in range(n)), {"axis": s.integers(-len(shape) - 1, len(shape))}


def _stack_call(*xs, axis=0):
    from .. import stack
    return stack(xs, axis=axis)


@register("stack", sample=_stack_sample, call=_stack_call)
class Stack(Function):
    """Join tensors along a new axis;  backward takes each slice of the gradient back."""
    def forward(ctx, *xs, axis=0):
        ctx.axis = axis
        return np.stack(xs, axis=axis)

    def backward(ctx, grad):
        axis = ctx.axis % grad.ndim
        return tuple(grad[(slice(None),) * axis + (i,)] if need else None
                     for i, need in enumerate(ctx.needs_input_grad))


def _cast_sample(s):
    return (s.array(s.shape()),), {"dtype": s.choice(["float32", "float64"])}


@register("astype", sample=_cast_sample, methods=("astype", "to", "float", "double"),
          call=lambda x, dtype: x.astype(dtype), eps=1e-3, atol=1e-3, rtol=1e-2)
class Cast(Function):
    """The same values in another dtype;  backward casts the gradient back to the input's dtype."""
    def forward(ctx, x, dtype):
        return x.astype(dtype)

    def backward(ctx, grad):
        return grad.astype(ctx.inputs[0].dtype)


@register("clone", sample=lambda s: ((s.array(s.shape()),), {}), methods=("clone",))
class Clone(Function):
    """A copy with its own memory;  d/dx = 1."""
    def forward(ctx, x):
        return x.copy()

    def backward(ctx, grad):
        return grad
