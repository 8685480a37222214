"""Layer ops: linear (fused x @ W.T + b), dropout, batch_norm.

``linear`` is one op rather than matmul + add so that a training step spends its time in NumPy,
not in Python: one node, and backward sums the bias gradient itself.
"""
from __future__ import annotations

import math

import numpy as np

from ..device import array_module, default_rng, is_gpu_array, like
from ..errors import DTypeError, OpError, ShapeError
from ..function import Function, const
from ..grad_mode import no_grad
from ..registry import register


def _linear_sample(s):
    batch = s.choice([(), (3,), (2, 3)])
    n_in, n_out = s.integers(1, 4), s.integers(1, 4)
    args = [s.array(batch + (n_in,)), s.array((n_out, n_in))]
    if s.boolean():
        args.append(s.array((n_out,)))
    return tuple(args), {}


@register("linear", sample=_linear_sample)
class Linear(Function):
    """y = x @ W.T + b, W of shape (out, in) as PyTorch;
    dx = dy @ W,  dW = dy^T x (summed over batch axes),  db = sum of dy over batch axes."""
    def forward(ctx, x, w, b=None):
        if x.dtype != w.dtype:
            if x.dtype.kind not in "biu":
                raise DTypeError(f"linear: input is {x.dtype} but the weight is {w.dtype}; convert "
                                 f"one of them (x.astype({w.dtype}) or model.to({x.dtype}))")
            x = x.astype(w.dtype)  # integer data (e.g. pixels) meets float weights, as PyTorch
        if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1]:
            raise ShapeError(f"linear: input of shape {x.shape} does not fit weight of shape "
                             f"{w.shape}: the input's last dim must be {w.shape[-1]} (in_features)")
        if b is not None and b.shape != (w.shape[0],):
            raise ShapeError(f"linear: bias of shape {b.shape} does not fit weight of shape "
                             f"{w.shape}; expected ({w.shape[0]},)")
        if x.ndim > 2:   # (..., in): one 2-D product; NumPy runs a stacked one as a BLAS call
            rows = math.prod(x.shape[:-1])   # per leading index (3-10x slower at (16, 64, 128))
            y = (x.reshape(rows, w.shape[1]) @ w.T).reshape(x.shape[:-1] + (w.shape[0],))
        else:
            y = x @ w.T
        if b is not None:
            y += b  # in place: y is a fresh array, saves a temporary
        return y

    def backward(ctx, grad):
        x, w = ctx.inputs[:2]
        need = ctx.needs_input_grad
        gx = grad @ w if need[0] else None
        if x.ndim != 2:   # fold batch axes into one, with explicit sizes (-1 is ambiguous at 0)
            rows = math.prod(x.shape[:-1])
            g2, x2 = grad.reshape(rows, w.shape[0]), x.reshape(rows, w.shape[1])
        else:
            g2, x2 = grad, x
        gw = g2.T @ x2 if need[1] else None
        gb = g2.sum(axis=0) if len(need) > 2 and need[2] else None
        return (gx, gw, gb) if len(need) > 2 else (gx, gw)

    def backward_np(ctx, grad):
        inputs = ctx.inputs
        x, w = inputs[0]._data, inputs[1]._data
        need = ctx.needs_input_grad
        if x.ndim > 2:    # batch axes (..., in): fold them into one; explicit sizes, as -1 is
            rows = math.prod(x.shape[:-1])       # ambiguous when a size is 0
            shape = x.shape
            grad, x = grad.reshape(rows, w.shape[0]), x.reshape(rows, w.shape[1])
            gx = (grad @ w).reshape(shape) if need[0] else None
        else:
            gx = grad @ w if need[0] else None
            if x.ndim != 2:
                rows = math.prod(x.shape[:-1])
                grad, x = grad.reshape(rows, w.shape[0]), x.reshape(rows, w.shape[1])
        gw = None
        if need[1]:   # written in w's own memory layout (empty_like keeps it), so the optimizer's
            gw = np.matmul(grad.T, x, out=np.empty_like(w))   # p -= lr * g is one plain sweep
        if len(need) == 2:
            return gx, gw
        # db sums dy over the rows: as ones @ dy (BLAS) about 2x faster than dy.sum(axis=0),
        # which NumPy adds up one row at a time
        return gx, gw, (array_module(grad).ones(grad.shape[0], grad.dtype) @ grad
                        if need[2] else None)


def _dropout_sample(s):
    return (s.array(s.shape()),), {"p": s.choice([0.0, 0.3, 0.5]), "seed": s.integers(0, 100)}


def _dropout_call(x, p, seed):
    # a fresh generator per call: the oracle evaluates the function many times and needs the
    # same mask every time
    return dropout(x, p, True, np.random.default_rng(seed))


@register("dropout", sample=_dropout_sample, call=_dropout_call)
def dropout(x, p: float = 0.5, training: bool = True, generator: np.random.Generator | None = None):
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p), so the
    expected value is unchanged and evaluation needs no rescaling. Identity when not training.

    The mask is drawn on x's device: from the library's generator on the CPU, from CuPy's on the
    GPU (``tg.manual_seed``). A NumPy ``generator`` given for a GPU tensor draws on the host and
    the mask is copied to the GPU (the same mask as on the CPU, at the cost of a copy)."""
    if not 0.0 <= p <= 1.0:
        raise OpError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    g = generator if generator is not None else default_rng(x)
    keep = g.random(x.shape) >= p
    if is_gpu_array(x._data):
        keep = like(keep, x._data)       # a host draw (a NumPy generator): to x's GPU
    return x * const(keep / (1.0 - p), x.dtype)


def _bn_sample(s):
    shape = s.choice([(4, 3), (3, 2, 2, 2)])
    c = shape[1]
    training = s.boolean()
    x = s.array(shape, distinct=True)  # distinct values: the batch variance is never ~0
    return ((x, s.array((c,), 0.5, 1.5), s.array((c,))),
            {"training": training, "running_mean": np.zeros(c), "running_var": np.ones(c)})


def _bn_call(x, weight, bias, training, running_mean, running_var):
    from ..tensor import Tensor
    # running statistics are buffers of the model's dtype
    return batch_norm(x, Tensor(running_mean.astype(x.dtype)), Tensor(running_var.astype(x.dtype)),
                      weight, bias, training)


@register("batch_norm", sample=_bn_sample, call=_bn_call)
def batch_norm(x, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5):
    """(x - mean) / sqrt(var + eps) * weight + bias, per channel (axis 1) of (N, C) or (N, C, H, W).

    Training: batch statistics (biased variance), and the running ones updated in place as
    running = (1 - momentum) * running + momentum * batch (unbiased variance, as PyTorch).
    Evaluation: the running statistics. Composite of mean/var ops, so its gradient is theirs."""
    if x.ndim not in (2, 4):
        raise ShapeError(f"batch_norm: expects (N, C) or (N, C, H, W), got shape {x.shape}")
    c = x.shape[1]
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, c) + (1,) * (x.ndim - 2)
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise ShapeError(f"batch_norm: {name} has shape {t.shape}, expected ({c},) for input "
                             f"of shape {x.shape}")
    if training:
        n = x.size // c
        if n < 2:
            raise ShapeError(f"batch_norm: training needs more than 1 value per channel, got "
                             f"input of shape {x.shape}")
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True, ddof=0)   # biased, as PyTorch normalizes
        if running_mean is not None and running_var is not None:
            with no_grad():
                m = running_mean.dtype.type(momentum)   # a number of the buffers' dtype
                running_mean.mul_(1 - m).add_(m * mean._data.reshape(c))
                running_var.mul_(1 - m).add_(m * var._data.reshape(c) * (n / (n - 1)))
    else:
        mean = running_mean.reshape(shape)
        var = running_var.reshape(shape)
    y = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y
