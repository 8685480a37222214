"""Losses: cross-entropy (fused with log-softmax), NLL, binary cross-entropy (on probabilities and
the stable form on logits), MSE and the book's sum of squared errors.

Fused losses compute their gradient in one step, e.g. cross-entropy's (softmax(z) - t) / N, the
book's SoftmaxWithLoss backward, and stay finite at any logit magnitude.
"""
from __future__ import annotations

import numpy as np

from ..errors import DTypeError, IndexOutOfRangeError, OpError, ShapeError
from ..function import Function, const
from ..grad_mode import STATE
from ..registry import register

REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: np.ndarray, reduction: str, op: str) -> np.ndarray:
    if reduction == "mean":  # sum / n: np.mean's Python wrapper costs more than the sum here
        if loss.size == 0:
            raise ShapeError(f"{op}: the mean of an empty batch (loss of shape {loss.shape}) is "
                             f"undefined; use reduction='sum'")
        return loss.sum() / np.asarray(loss.size, dtype=loss.dtype)
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise OpError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _upstream(grad, reduction: str, n: int):
    """The gradient of each per-element loss: grad/n for 'mean', grad for 'sum' and 'none'."""
    return grad / n if reduction == "mean" else grad


def _class_major(z: np.ndarray) -> np.ndarray:
    """z.T, of shape (C, N): the softmax ops reduce over its axis 0. With fewer classes than rows
    it is made contiguous first: NumPy reduces a short last axis row by row, paying a fixed cost
    per row (2-3x slower at (256, 10)), but reduces axis 0 whole rows at a time."""
    return np.ascontiguousarray(z.T) if z.shape[1] < z.shape[0] else z.T


_UNSIGNED = {np.dtype(f"i{k}"): np.dtype(f"u{k}") for k in (1, 2, 4, 8)}


def _check_targets(op: str, logits: np.ndarray, target: np.ndarray) -> bool:
    """Validate shapes; True for class-index targets, False for probability targets."""
    if logits.ndim != 2:
        raise ShapeError(f"{op}: expects logits of shape (N, C), got {logits.shape}")
    n, c = logits.shape
    if target.dtype.kind in "iu":
        if target.shape != (n,):
            raise ShapeError(f"{op}: class-index targets must have shape ({n},) for logits of "
                             f"shape {logits.shape}, got {target.shape}")
        # one reduction checks both bounds: a negative index, read as unsigned, is huge
        unsigned = _UNSIGNED.get(target.dtype)
        if n and (target.view(unsigned).max() >= c if unsigned is not None
                  else target.min() < 0 or target.max() >= c):
            bad = target[(target < 0) | (target >= c)][0]
            raise IndexOutOfRangeError(f"{op}: target class {bad} is out of range for {c} classes "
                                       f"(logits of shape {logits.shape})")
        return True
    if target.dtype.kind != "f":
        raise DTypeError(f"{op}: targets must be integer class indices or float probabilities, "
                         f"got dtype {target.dtype}")
    if target.shape != logits.shape:
        raise ShapeError(f"{op}: probability/one-hot targets must have the logits' shape "
                         f"{logits.shape}, got {target.shape}")
    return False


def _ce_sample(s):
    n, c = s.integers(1, 4), s.integers(2, 5)
    logits = s.array((n, c), -3.0, 3.0)
    if s.boolean():
        target = np.array([s.integers(0, c - 1) for _ in range(n)])
    else:
        target = s.array((n, c), 0.1, 1.0)
    return (logits, target), {"reduction": s.choice(REDUCTIONS),
                              "label_smoothing": s.choice([0.0, 0.1])}


@register("cross_entropy", sample=_ce_sample)
class CrossEntropy(Function):
    """loss_i = -sum_c q_ic log softmax(z_i)_c, q = the target distribution (one-hot of the class
    index, or the given probabilities), smoothed as (1 - eps) q + eps / C;
    d/dz_i = softmax(z_i) sum_c q_ic - q_i  (= y - t for one-hot t), d/dq_i = -log softmax(z_i).

    Stable: with m_i = max_c z_ic, log softmax(z_i) = (z_i - m_i) - log sum_c exp(z_ic - m_i),
    and every exp is at most 1. NumPy's work runs on the class-major zT (see ``_class_major``)."""
    def forward(ctx, logits, target, reduction="mean", label_smoothing=0.0):
        op = "cross_entropy"
        ctx.index = _check_targets(op, logits, target)
        if not 0.0 <= label_smoothing <= 1.0:
            raise OpError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
        n, c = logits.shape
        ctx.reduction, ctx.smooth, ctx.n = reduction, label_smoothing, (n if n else 1)
        zT = _class_major(logits)
        shifted = zT - zT.max(axis=0)            # (C, N), each column's max is 0
        e = np.exp(shifted)
        s = e.sum(axis=0)                        # (N,): sum_c exp(z_ic - m_i), in [1, C]
        lse = np.log(s)
        eps = label_smoothing
        qT = q_mass = None                       # the (smoothed) target distribution, class-major,
                                                 # and its sum over classes (1 for class indices)
        if ctx.index:
            ctx.rows = np.arange(n)
            loss = lse - shifted[target, ctx.rows]   # -log softmax(z_i)[t_i]
            if eps:
                loss = (1 - eps) * loss + eps * (lse - shifted.mean(axis=0))
        else:
            qT = target.T if not eps else (1 - eps) * target.T + eps / c
            q_mass = qT.sum(axis=0)
            loss = lse * q_mass - (qT * shifted).sum(axis=0)
        if loss.dtype != logits.dtype:
            loss = loss.astype(logits.dtype)
        ctx.save_for_backward(shifted, e, s, lse, qT, q_mass)
        return _reduce(loss, reduction, op)

    def _log_softmax(ctx) -> np.ndarray:
        """log softmax(z), of shape (N, C), from what forward saved."""
        shifted, _, _, lse, _, _ = ctx.saved_tensors
        return (shifted - lse).T

    def _target_distribution(ctx, target, shape, dtype):
        eps = ctx.smooth
        if ctx.index:
            q = np.zeros(shape, dtype=dtype)
            q[np.arange(shape[0]), target._data] = 1.0
            return const(q * (1 - eps) + eps / shape[1] if eps else q)
        return target * (1 - eps) + eps / shape[1] if eps else target

    def backward(ctx, grad):
        logits, target = ctx.inputs
        g = _upstream(grad, ctx.reduction, ctx.n)
        g = g.reshape(-1, 1) if g.ndim == 1 else g
        if STATE.grad_enabled:   # create_graph: build the gradient from differentiable ops
            logp_t = logits.log_softmax(-1)
        else:                    # plain backward: reuse forward's log-softmax
            logp_t = const(ctx._log_softmax())
        q = ctx._target_distribution(target, logits.shape, logits.dtype)
        gz = (logp_t.exp() * q.sum(axis=-1, keepdims=True) - q) * g
        gt = None
        if ctx.needs_input_grad[1]:
            gt = -logp_t * (g * (1 - ctx.smooth))
        return gz, gt

    def backward_np(ctx, grad):
        _, target = ctx.inputs                  # (checks neither was changed in place)
        _, e, s, _, qT, q_mass = ctx.saved_tensors   # softmax(z)^T = e / s
        c = e.shape[0]
        g = _upstream(grad, ctx.reduction, ctx.n)   # a scalar, or (N,) for reduction='none'
        eps = ctx.smooth
        if ctx.index:                           # (y - t) g, without building the one-hot t
            gz = e * (g / s)
            gz[target._data, ctx.rows] -= (1 - eps) * g
            if eps:
                gz -= eps / c * g
        else:
            gz = e * (g * q_mass / s) - qT * g
        gt = -ctx._log_softmax() * (g * (1 - eps)).reshape(-1, 1) if ctx.needs_input_grad[1] else None
        return gz.T, gt


def _nll_sample(s):
    n, c = s.integers(1, 4), s.integers(2, 5)
    return ((s.array((n, c), -3.0, -0.1), np.array([s.integers(0, c - 1) for _ in range(n)])),
            {"reduction": s.choice(REDUCTIONS)})


@register("nll_loss", sample=_nll_sample)
def nll_loss(log_probs, target, reduction: str = "mean"):
    """-log_probs[i, target_i], reduced: cross_entropy = nll_loss(log_softmax(z))."""
    if not _check_targets("nll_loss", np.asarray(log_probs), np.asarray(target)):
        raise DTypeError("nll_loss: targets must be integer class indices")
    picked = log_probs[np.arange(log_probs.shape[0]), np.asarray(target)]
    if reduction not in REDUCTIONS:
        raise OpError(f"nll_loss: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return -(picked.mean() if reduction == "mean" else picked.sum() if reduction == "sum" else picked)


def _check_same_shape(op: str, a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ShapeError(f"{op}: input of shape {a.shape} and target of shape {b.shape} must have "
                         f"the same shape")


def _bce_logits_sample(s):
    shape = s.shape()
    return (s.array(shape, -3.0, 3.0), s.array(shape, 0.0, 1.0)), {"reduction": s.choice(REDUCTIONS)}


@register("binary_cross_entropy_with_logits", sample=_bce_logits_sample)
class BCEWithLogits(Function):
    """-(t log s(x) + (1 - t) log(1 - s(x))) with s the sigmoid, computed as
    max(x, 0) - x t + log(1 + exp(-|x|)): finite for any x;  d/dx = s(x) - t,  d/dt = -x."""
    def forward(ctx, x, t, reduction="mean"):
        _check_same_shape("binary_cross_entropy_with_logits", x, t)
        ctx.reduction, ctx.n = reduction, max(x.size, 1)
        loss = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
        return _reduce(loss, reduction, "binary_cross_entropy_with_logits")

    def backward(ctx, grad):
        x, t = ctx.inputs
        g = _upstream(grad, ctx.reduction, ctx.n)
        return ((x.sigmoid() - t) * g if ctx.needs_input_grad[0] else None,
                -x * g if ctx.needs_input_grad[1] else None)


def _bce_sample(s):
    shape = s.shape()
    return (s.array(shape, 0.1, 0.9), s.array(shape, 0.0, 1.0)), {"reduction": s.choice(REDUCTIONS)}


@register("binary_cross_entropy", sample=_bce_sample)
class BinaryCrossEntropy(Function):
    """-(t log p + (1 - t) log(1 - p)) on probabilities p, each log clamped at -100 (as PyTorch)
    so p = 0 or 1 never gives inf;  d/dp = (p - t) / max(p (1 - p), 1e-12),
    d/dt = log(1 - p) - log(p)."""
    def forward(ctx, p, t, reduction="mean"):
        _check_same_shape("binary_cross_entropy", p, t)
        if p.size and (np.min(p) < 0 or np.max(p) > 1):
            raise OpError(f"binary_cross_entropy: input must be probabilities in [0, 1] (got values "
                          f"from {np.min(p):.4g} to {np.max(p):.4g}); for logits use "
                          f"binary_cross_entropy_with_logits")
        ctx.reduction, ctx.n = reduction, max(p.size, 1)
        loss = -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log1p(-p), -100))
        return _reduce(loss, reduction, "binary_cross_entropy")

    def backward(ctx, grad):
        p, t = ctx.inputs
        g = _upstream(grad, ctx.reduction, ctx.n)
        gp = gt = None
        if ctx.needs_input_grad[0]:
            gp = g * (p - t) / (p * (1 - p)).clip(min=1e-12)
        if ctx.needs_input_grad[1]:
            gt = g * ((1 - p).log().clip(min=-100) - p.log().clip(min=-100))
        return gp, gt


def _pair_sample(s):
    a, b = s.broadcastable_shapes(2)
    shape = np.broadcast_shapes(a, b)
    return (s.array(shape), s.array(shape)), {}


@register("mse_loss", sample=lambda s: (_pair_sample(s)[0], {"reduction": s.choice(REDUCTIONS)}))
def mse_loss(input, target, reduction: str = "mean"):
    """mean((input - target)**2);  d/dinput = 2 (input - target) / N."""
    _check_same_shape("mse_loss", np.asarray(input), np.asarray(target))
    sq = (input - target) ** 2
    if reduction not in REDUCTIONS:
        raise OpError(f"mse_loss: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return sq.mean() if reduction == "mean" else sq.sum() if reduction == "sum" else sq


@register("sum_squared_error", sample=_pair_sample)
def sum_squared_error(y, t):
    """The book's 0.5 * sum((y - t)**2);  d/dy = y - t."""
    _check_same_shape("sum_squared_error", np.asarray(y), np.asarray(t))
    return 0.5 * ((y - t) ** 2).sum()
