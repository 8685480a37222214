"""Ops of sequence models: embedding lookup, layer norm (one fused op), tril / triu, and scaled
dot-product attention (a composite of registered ops, so its gradients are theirs).

Embedding and layer norm are single ops with a NumPy backward: a language model calls each once
per layer and step on (batch * time, features) arrays, and one node with a fused backward keeps that
time in NumPy. Their Tensor ``backward`` (what ``create_graph=True`` differentiates) is written with
Tensor ops, as every op's.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from ..device import array_module, is_array, like, scatter_add
from ..errors import DTypeError, IndexOutOfRangeError, OpError, ShapeError, UsageError
from ..function import Function, const
from ..registry import register
from .elementwise import _float
from .shape import ScatterAdd, out_of_range


# -- embedding ----------------------------------------------------------------------------------
def _embedding_sample(s):
    v, d = s.integers(2, 5), s.integers(1, 3)
    shape = s.shape(min_dims=0, max_dims=2, max_side=4)
    # padding_idx's row gets no gradient by definition (PyTorch's rule, not a derivative), so the
    # oracle only sees it unused: the other rows' gradients must still be right
    pad = s.choice([None, 0, v - 1])
    low, high = (1, v - 1) if pad == 0 else (0, v - 2) if pad is not None else (0, v - 1)
    idx = np.array([s.integers(low, high) for _ in range(math.prod(shape))],
                   dtype=np.int64).reshape(shape)           # repeats likely: gradients add up
    return (idx, s.array((v, d))), {"padding_idx": pad}


def _embedding_call(indices, weight, padding_idx=None):
    return Embedding.apply(weight, indices, padding_idx=padding_idx)


@register("embedding", sample=_embedding_sample, call=_embedding_call)
class Embedding(Function):
    """weight[indices]: one row of the table per index (the book's TimeEmbedding);
    d/dweight = the output gradients added back into their rows (repeats add up), 0 for the row
    ``padding_idx``. The integer indices get no gradient."""
    def forward(ctx, weight, indices, padding_idx=None):
        if indices.dtype.kind not in "iu":
            raise DTypeError(f"embedding: indices must be integers, got dtype {indices.dtype} "
                             f"(use .long())")
        if weight.ndim != 2:
            raise ShapeError(f"embedding: the weight must be a 2-D table (num_embeddings, "
                             f"embedding_dim), got shape {weight.shape}")
        n = weight.shape[0]
        # checked because the GPU does not check: CuPy's take wraps a bad index around. One
        # reduction; on the GPU one scalar read back (a sync) per call
        if out_of_range(indices, n):
            bad = indices[(indices < 0) | (indices >= n)].reshape(-1)[0]
            raise IndexOutOfRangeError(f"embedding: index {bad} is out of range for a table of "
                                       f"{n} rows (weight shape {weight.shape})")
        ctx.padding_idx = None if padding_idx is None else int(padding_idx) % n
        return np.take(weight, indices, axis=0)

    def backward(ctx, grad):
        weight, indices = ctx.inputs
        g = ScatterAdd.apply(grad, shape=weight.shape, index=indices._data)
        if ctx.padding_idx is not None:
            keep = array_module(g._data).ones((weight.shape[0], 1), dtype=g.dtype)
            keep[ctx.padding_idx] = 0
            g = g * const(keep)
        return g, None

    def backward_np(ctx, grad):
        weight, indices = ctx.inputs
        n, d = weight.shape
        idx = indices._data.reshape(-1)
        g2 = grad.reshape(-1, d)
        xp = array_module(grad)
        if n * idx.size <= 1 << 24:
            # a small table (characters, a vocabulary of a few thousand): one-hot^T @ g is one
            # BLAS call, much faster than np.add.at's element-by-element scatter
            onehot = xp.zeros((idx.size, n), dtype=grad.dtype)
            onehot[xp.arange(idx.size), idx] = 1
            gw = onehot.T @ g2
        else:
            gw = xp.zeros((n, d), dtype=grad.dtype)
            scatter_add(gw, idx, g2)
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0
        return gw, None


def embedding(input, weight, padding_idx: int | None = None):
    """Rows of ``weight`` picked by the integer tensor ``input`` (PyTorch's argument order):
    output shape ``input.shape + (embedding_dim,)``."""
    from ..tensor import _as_tensor
    return Embedding.apply(weight, _as_tensor(input, "embedding"), padding_idx=padding_idx)


# -- layer norm ---------------------------------------------------------------------------------
def _layer_norm_sample(s):
    shape = s.shape(min_dims=1, max_dims=3, min_side=2)
    k = s.integers(1, len(shape))
    norm_shape = shape[len(shape) - k:]
    x = s.array(shape, distinct=True)                      # never a zero variance
    args = [x]
    affine = s.choice(["none", "weight", "both"])
    if affine != "none":
        args.append(s.array(norm_shape, 0.5, 1.5))
    if affine == "both":
        args.append(s.array(norm_shape))
    return tuple(args), {"normalized_shape": norm_shape}


def _layer_norm_call(x, weight=None, bias=None, normalized_shape=()):
    return layer_norm(x, normalized_shape, weight, bias)


@register("layer_norm", sample=_layer_norm_sample, call=_layer_norm_call)
class LayerNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, mean and (biased) var over the last
    ``ndim`` axes;  dx = rstd (dxh - mean(dxh) - xh mean(dxh xh)), dxh = dy weight, xh the
    normalised x;  dweight = sum(dy xh), dbias = sum(dy) over the other axes."""
    def forward(ctx, x, *affine, ndim=1, eps=1e-5, has_weight=False, has_bias=False):
        x = _float(x)
        ctx.axes = tuple(range(x.ndim - ndim, x.ndim))
        ctx.eps, ctx.has_weight, ctx.has_bias = eps, has_weight, has_bias
        mu = x.mean(axis=ctx.axes, keepdims=True)
        xc = x - mu
        var = np.mean(xc * xc, axis=ctx.axes, keepdims=True)
        rstd = 1 / np.sqrt(var + x.dtype.type(eps))
        xh = xc * rstd
        ctx.save_for_backward(xh, rstd)
        y = xh
        if has_weight:
            y = y * affine[0]
        if has_bias:
            y = y + affine[-1]   # ``y += b`` would write into xh when there is no weight
        return y

    def _split(ctx):
        inputs = ctx.inputs
        w = inputs[1] if ctx.has_weight else None
        b = inputs[-1] if ctx.has_bias else None
        return inputs[0], w, b

    def backward(ctx, grad):
        x, w, b = ctx._split()
        axes = ctx.axes
        mu = x.mean(axis=axes, keepdims=True)
        xc = x - mu
        rstd = 1 / ((xc * xc).mean(axis=axes, keepdims=True) + ctx.eps).sqrt()
        xh = xc * rstd
        gxh = grad * w if w is not None else grad
        gx = rstd * (gxh - gxh.mean(axis=axes, keepdims=True)
                     - xh * (gxh * xh).mean(axis=axes, keepdims=True))
        lead = tuple(range(x.ndim - len(axes)))
        out = [gx]
        if w is not None:
            out.append((grad * xh).sum(axis=lead) if ctx.needs_input_grad[1] else None)
        if b is not None:
            out.append(grad.sum(axis=lead) if ctx.needs_input_grad[-1] else None)
        return tuple(out)

    def backward_np(ctx, grad):
        x, w, b = ctx._split()
        xh, rstd = ctx.saved_tensors
        axes = ctx.axes
        gxh = grad * w._data if w is not None else grad
        gx = gxh - gxh.mean(axis=axes, keepdims=True)
        gx -= xh * np.mean(gxh * xh, axis=axes, keepdims=True)
        gx *= rstd
        n = math.prod(xh.shape[xh.ndim - len(axes):])
        out = [gx]
        if w is not None:
            out.append((grad * xh).reshape(-1, n).sum(axis=0).reshape(w.shape)
                       if ctx.needs_input_grad[1] else None)
        if b is not None:
            out.append(grad.reshape(-1, n).sum(axis=0).reshape(b.shape)
                       if ctx.needs_input_grad[-1] else None)
        return tuple(out)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Normalise over the last ``len(normalized_shape)`` axes (PyTorch's ``F.layer_norm``)."""
    from ..tensor import _as_tensor
    x = _as_tensor(input, "layer_norm")
    items = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else \
        normalized_shape
    try:
        shape = tuple(operator.index(n) for n in items)
    except TypeError:
        raise UsageError(f"layer_norm: normalized_shape must be an int or a tuple of ints, got "
                         f"{normalized_shape!r} (input of shape {x.shape})") from None
    if 0 in shape:
        raise ShapeError(f"layer_norm: cannot normalise over an empty normalized_shape {shape} "
                         f"(input of shape {x.shape})")
    if not shape or x.shape[x.ndim - len(shape):] != shape or x.ndim < len(shape):
        raise ShapeError(f"layer_norm: normalized_shape {shape} does not match the last axes of "
                         f"the input of shape {x.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != shape:
            raise ShapeError(f"layer_norm: {name} has shape {t.shape}, expected {shape}")
    if not eps > 0:
        raise OpError(f"layer_norm: eps must be > 0, got {eps}")
    affine = [t for t in (weight, bias) if t is not None]
    return LayerNorm.apply(x, *affine, ndim=len(shape), eps=float(eps),
                           has_weight=weight is not None, has_bias=bias is not None)


# -- tril / triu ----------------------------------------------------------------------------------
def _tri_sample(s):
    shape = s.shape(min_dims=2, max_dims=3)
    return (s.array(shape),), {"diagonal": s.integers(-2, 2)}


def _check_tri(x, name):
    if x.ndim < 2:
        raise ShapeError(f"{name}: needs a tensor of at least 2 dims (matrices in the last two), "
                         f"got shape {x.shape}")


@register("tril", sample=_tri_sample, call=lambda x, diagonal=0: Tril.apply(x, diagonal=diagonal))
class Tril(Function):
    """The lower triangle of the last two axes (elements above ``diagonal`` set to 0);
    backward: the lower triangle of the gradient."""
    def forward(ctx, x, diagonal=0):
        _check_tri(x, "tril")
        ctx.diagonal = int(diagonal)
        return np.tril(x, ctx.diagonal)

    def backward(ctx, grad):
        return Tril.apply(grad, diagonal=ctx.diagonal)


@register("triu", sample=_tri_sample, call=lambda x, diagonal=0: Triu.apply(x, diagonal=diagonal))
class Triu(Function):
    """The upper triangle of the last two axes (elements below ``diagonal`` set to 0);
    backward: the upper triangle of the gradient."""
    def forward(ctx, x, diagonal=0):
        _check_tri(x, "triu")
        ctx.diagonal = int(diagonal)
        return np.triu(x, ctx.diagonal)

    def backward(ctx, grad):
        return Triu.apply(grad, diagonal=ctx.diagonal)


def tril(input, diagonal: int = 0):
    """Lower triangle of the last two axes (``torch.tril``)."""
    from ..tensor import _as_tensor
    return Tril.apply(_as_tensor(input, "tril"), diagonal=diagonal)


def triu(input, diagonal: int = 0):
    """Upper triangle of the last two axes (``torch.triu``)."""
    from ..tensor import _as_tensor
    return Triu.apply(_as_tensor(input, "triu"), diagonal=diagonal)


# -- attention ------------------------------------------------------------------------------------
def _sdpa_sample(s):
    b, lq, lk, e, ev = s.integers(1, 2), s.integers(1, 3), s.integers(1, 3), s.integers(1, 3), \
        s.integers(1, 2)
    q, k, v = s.array((b, lq, e)), s.array((b, lk, e)), s.array((b, lk, ev))
    kind = s.choice(["none", "causal", "bool", "float"])
    kw = {}
    if kind == "causal":
        kw["is_causal"] = True
    elif kind == "bool":   # every query keeps key 0, so no row is fully masked
        m = np.array([[s.boolean() for _ in range(lk)] for _ in range(lq)])
        m[:, 0] = True
        kw["attn_mask"] = m
    elif kind == "float":
        kw["attn_mask"] = s.array((lq, lk), -1.0, 1.0)
    return (q, k, v), kw


def _attn_mask(mask, scores, op):
    """A user's attn_mask as an additive float array: bool True = may attend (0), False = -inf."""
    from ..tensor import Tensor
    m = mask._data if isinstance(mask, Tensor) else mask if is_array(mask) else np.asarray(mask)
    try:
        np.broadcast_shapes(m.shape, scores.shape)
    except ValueError:
        raise ShapeError(f"{op}: attn_mask of shape {m.shape} does not broadcast to the attention "
                         f"scores' shape {scores.shape} (..., L, S)") from None
    if m.dtype.kind not in "bf":
        raise DTypeError(f"{op}: attn_mask must be bool (True = attend) or float (added to the "
                         f"scores), got dtype {m.dtype}")
    if isinstance(mask, Tensor) and m.dtype.kind == "f":
        return mask
    m = like(m, scores)       # a host mask for scores on the GPU: copied there (the user's data)
    if m.dtype == np.bool_:
        return np.where(m, 0, -np.inf).astype(scores.dtype)
    return m.astype(scores.dtype, copy=False)


@register("scaled_dot_product_attention", sample=_sdpa_sample)
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 generator: np.random.Generator | None = None):
    """softmax(q k^T * scale + mask) v, scale = 1/sqrt(E) by default; q (..., L, E), k (..., S, E),
    v (..., S, Ev). ``attn_mask``: bool (True = may attend, as PyTorch's) or float (added);
    ``is_causal``: query i sees keys 0..i. A composite of matmul, mul, add and softmax (stable:
    masked scores are -inf, and exp(-inf - max) = 0)."""
    from ..tensor import Tensor, _as_tensor
    from .nn import dropout
    q, k, v = (_as_tensor(t, "scaled_dot_product_attention") for t in (query, key, value))
    op = "scaled_dot_product_attention"
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ShapeError(f"{op}: query, key and value need at least 2 dims (..., L, E); got "
                         f"{q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"{op}: query (..., L, E), key (..., S, E) and value (..., S, Ev) do not "
                         f"fit: got {q.shape}, {k.shape}, {v.shape}")
    if not isinstance(is_causal, (bool, np.bool_)):
        raise UsageError(f"{op}: is_causal must be True or False, got {is_causal!r}")
    if is_causal and attn_mask is not None:
        raise OpError(f"{op}: give attn_mask or is_causal=True, not both")
    L, S, E = q.shape[-2], k.shape[-2], q.shape[-1]
    s = 1 / math.sqrt(E) if scale is None else float(scale)
    scores = (q * s) @ k.mT                     # scaling q costs L*E, scaling scores L*S
    if is_causal:      # the mask made on the scores' device
        above = np.triu(array_module(scores._data).ones((L, S), dtype=bool), 1)
        scores = scores.masked_fill(above, -np.inf)
    elif attn_mask is not None:
        m = _attn_mask(attn_mask, scores._data, op)
        scores = scores + (m if isinstance(m, Tensor) else const(m))
    attn = scores.softmax(-1)
    if dropout_p:
        attn = dropout(attn, dropout_p, True, generator)
    return attn @ v
