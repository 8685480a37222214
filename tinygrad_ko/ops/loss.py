"""Losses: cross-entropy (fused with log-softmax), NLL, binary cross-entropy (on probabilities and
the stable form on logits), MSE and the book's sum of squared errors.

Fused losses compute their gradient in one step, e.g. cross-entropy's (softmax(z) - t) / N, the
book's SoftmaxWithLoss backward, and stay finite at any logit magnitude.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..device import array_module, is_array, is_gpu_array, like
from ..errors import DTypeError, IndexOutOfRangeError, OpError, ShapeError, UsageError
from ..function import Function, const
from ..grad_mode import STATE
from ..registry import register
from ..tensor import _as_tensor
from .shape import out_of_range

REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: np.ndarray, reduction: str, op: str, divisor: Any = None) -> np.ndarray:
    """Reduce per-element losses. 'mean' divides by ``divisor`` (default: their number). An empty
    batch raises a ShapeError on purpose, where PyTorch returns nan: it is a bug in the caller
    far more often than data."""
    if reduction == "mean":  # sum / n: np.mean's Python wrapper costs more than the sum here
        if loss.size == 0:
            raise ShapeError(f"{op}: the mean of an empty batch (loss of shape {loss.shape}) is "
                             f"undefined; use reduction='sum'")
        # n in the loss's dtype: a NumPy scalar, or (a summed weight) a 0-d array of its device
        n = loss.dtype.type(loss.size) if divisor is None else divisor.astype(loss.dtype)
        return loss.sum() / n
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
    # (.copy() is C-ordered in both libraries; np.ascontiguousarray would make a host array)
    return z.T.copy() if z.shape[1] < z.shape[0] else z.T


def _check_targets(op: str, logits: np.ndarray, target: np.ndarray, ignore_index: int = -100,
                   weight: np.ndarray | None = None) -> int:
    """Validate shapes; 0 for probability targets, 1 for class indices, 2 for class indices some
    of which are an out-of-range ``ignore_index`` (allowed: those rows are skipped)."""
    if weight is not None and weight.shape != (logits.shape[-1],):
        raise ShapeError(f"{op}: weight must have one entry per class, shape "
                         f"({logits.shape[-1]},) for logits of shape {logits.shape}; got "
                         f"{weight.shape}")
    if logits.ndim != 2:
        raise ShapeError(f"{op}: expects logits of shape (N, C), got {logits.shape}")
    n, c = logits.shape
    if target.dtype.kind in "iu":
        if target.shape != (n,):
            raise ShapeError(f"{op}: class-index targets must have shape ({n},) for logits of "
                             f"shape {logits.shape}, got {target.shape}")
        # one reduction checks both bounds; on the GPU its answer is read back (one scalar, a
        # sync per call), since the GPU's indexing would wrap a bad class silently
        if out_of_range(target, c):
            bad = (target < 0) | (target >= c)
            bad &= target != ignore_index
            if not bad.any():
                return 2
            bad = target[bad][0]
            raise IndexOutOfRangeError(f"{op}: target class {bad} is out of range for {c} classes "
                                       f"(logits of shape {logits.shape})")
        return 1
    if target.dtype.kind != "f":
        raise DTypeError(f"{op}: targets must be integer class indices or float probabilities, "
                         f"got dtype {target.dtype}")
    if target.shape != logits.shape:
        raise ShapeError(f"{op}: probability/one-hot targets must have the logits' shape "
                         f"{logits.shape}, got {target.shape}")
    if ignore_index != -100:
        raise OpError(f"{op}: ignore_index is for class-index targets, not probabilities "
                      f"(got ignore_index={ignore_index} with float targets)")
    return 0


def _class_options(s, n: int, c: int, target: np.ndarray | None) -> dict:
    """weight= and ignore_index= for the oracle: sometimes per-class weights, sometimes an
    ignored class (kept off row 0, so some row always counts)."""
    kw: dict = {}
    if s.boolean():
        kw["weight"] = s.array((c,), 0.5, 2.0)
    if target is not None and s.boolean():
        kw["ignore_index"] = ig = s.integers(0, c - 1)
        if target[0] == ig:
            target[0] = (ig + 1) % c
    return kw


def _ce_sample(s):
    n, c = s.integers(1, 4), s.integers(2, 5)
    logits = s.array((n, c), -3.0, 3.0)
    if s.boolean():
        target = np.array([s.integers(0, c - 1) for _ in range(n)])
    else:
        target = s.array((n, c), 0.1, 1.0)
    kw = _class_options(s, n, c, target if target.dtype.kind == "i" else None)
    return (logits, target), {"reduction": s.choice(REDUCTIONS),
                              "label_smoothing": s.choice([0.0, 0.1]), **kw}


def _check_ignore_index(op: str, ignore_index: Any) -> None:
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, (int, np.integer)):
        raise UsageError(f"{op}: ignore_index must be an int (a class index), got {ignore_index!r}")


def _weight_array(weight: Any, logits: np.ndarray) -> np.ndarray | None:
    """The per-class weight as an array of the logits' dtype (it gets no gradient)."""
    if weight is None:
        return None
    w = getattr(weight, "_data", weight)
    if not is_array(w):
        w = np.asarray(w)
    if w.dtype.kind not in "biuf":
        raise DTypeError(f"cross_entropy: weight must be numbers, got dtype {w.dtype}")
    return like(w, logits).astype(logits.dtype, copy=False)   # (a host weight: to the GPU)


@register("cross_entropy", sample=_ce_sample)
class CrossEntropy(Function):
    """loss_i = -sum_c Q_ic log softmax(z_i)_c;  d/dz_i = softmax(z_i) sum_c Q_ic - Q_i,
    d/dq_i = -w log softmax(z_i) (1 - eps).

    Q is the weighted target: for class indices Q_ic = (1 - eps) w_t [c = t_i] + eps w_c / C
    (0 for a row whose target is ``ignore_index``), for probabilities Q = w q with q smoothed as
    (1 - eps) q + eps / C; w the per-class ``weight`` (all 1 without one), eps ``label_smoothing``.
    As PyTorch, 'mean' divides class-index losses by the summed weight w_t of the rows not
    ignored (the number of rows without weights), probability losses by N. When every row is
    ignored that is 0 / 0: the loss is nan as in PyTorch, and its gradient 0.

    Stable: with m_i = max_c z_ic, log softmax(z_i) = (z_i - m_i) - log sum_c exp(z_ic - m_i),
    and every exp is at most 1. NumPy's work runs on the class-major zT (see ``_class_major``)."""
    def forward(ctx, logits, target, weight=None, reduction="mean", label_smoothing=0.0,
                ignore_index=-100):
        op = "cross_entropy"
        if type(ignore_index) is not int:   # (the check only when it is not a plain int)
            _check_ignore_index(op, ignore_index)
        if weight is not None:
            weight = _weight_array(weight, logits)
        kind = _check_targets(op, logits, target, ignore_index, weight)
        ctx.index = kind > 0
        if not 0.0 <= label_smoothing <= 1.0:
            raise OpError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
        n, c = logits.shape
        ctx.reduction, ctx.smooth, ctx.n = reduction, label_smoothing, (n if n else 1)
        ctx.weight = weight
        zT = _class_major(logits)
        shifted = zT - zT.max(axis=0)            # (C, N), each column's max is 0
        e = np.exp(shifted)
        s = e.sum(axis=0)                        # (N,): sum_c exp(z_ic - m_i), in [1, C]
        lse = np.log(s)
        eps = label_smoothing
        qT = q_mass = None                       # the (smoothed) target distribution, class-major,
                                                 # and its sum over classes (1 for class indices)
        divisor = None                           # of 'mean': None is N
        gpu = is_gpu_array(logits)
        if ctx.index:
            ctx.rows = array_module(logits).arange(n)
            # an ignore_index out of [0, C) can only match targets _check_targets found out of
            # range (kind 2): the usual case skips the comparison
            valid = (target != ignore_index) if kind == 2 or 0 <= ignore_index < c else None
            # None: none ignored (on the GPU a mask stays a mask: valid.all() would be a sync)
            ctx.valid = None if valid is None or (not gpu and valid.all()) else valid
            t = ctx.t = target if ctx.valid is None else np.where(valid, target, 0)
            loss = lse - shifted[t, ctx.rows]    # -log softmax(z_i)[t_i]
            ctx.row_w = None if weight is None else weight[t]
            if ctx.row_w is not None:
                loss = loss * ctx.row_w
            if eps:
                smooth = (lse - shifted.mean(axis=0) if weight is None
                          else (lse * weight.sum() - weight @ shifted) / c)
                loss = (1 - eps) * loss + eps * smooth
            if ctx.valid is not None or ctx.row_w is not None:
                valid = ctx.valid
                if valid is None:
                    counted = ctx.row_w
                else:
                    counted = valid if ctx.row_w is None else np.where(valid, ctx.row_w, 0)
                    loss = np.where(valid, loss, 0)
                divisor = counted.sum()
                # every row ignored: the loss is 0 / 0 = nan (PyTorch), the gradient 0 (as 1/inf)
                ctx.n = (np.where(divisor != 0, divisor, np.inf).astype(logits.dtype) if gpu
                         else divisor if divisor else np.inf)
        else:
            qT = target.T if not eps else (1 - eps) * target.T + eps / c
            if weight is not None:
                qT = qT * weight[:, None]
            q_mass = qT.sum(axis=0)
            loss = lse * q_mass - (qT * shifted).sum(axis=0)
        if loss.dtype != logits.dtype:
            loss = loss.astype(logits.dtype)
        ctx.save_for_backward(shifted, e, s, lse, qT, q_mass)
        return _reduce(loss, reduction, op, divisor)

    def _log_softmax(ctx) -> np.ndarray:
        """log softmax(z), of shape (N, C), from what forward saved."""
        shifted, _, _, lse, _, _ = ctx.saved_tensors
        return (shifted - lse).T

    def _weighted_target(ctx, target, shape, dtype):
        """Q of the docstring, of shape (N, C)."""
        eps, w = ctx.smooth, ctx.weight
        n, c = shape
        if ctx.index:
            q = array_module(ctx.t).zeros(shape, dtype=dtype)
            q[ctx.rows, ctx.t] = 1.0 - eps if ctx.row_w is None else (1.0 - eps) * ctx.row_w
            if eps:
                q += eps / c if w is None else eps / c * w
            if ctx.valid is not None:
                q[~ctx.valid] = 0
            return const(q)
        q = target * (1 - eps) + eps / c if eps else target
        return q * const(w) if w is not None else q

    def backward(ctx, grad):
        logits, target = ctx.inputs
        g = _upstream(grad, ctx.reduction, ctx.n)
        g = g.reshape(-1, 1) if g.ndim == 1 else g
        if STATE.grad_enabled:   # create_graph: build the gradient from differentiable ops
            logp_t = logits.log_softmax(-1)
        else:                    # plain backward: reuse forward's log-softmax
            logp_t = const(ctx._log_softmax())
        q = ctx._weighted_target(target, logits.shape, logits.dtype)
        gz = (logp_t.exp() * q.sum(axis=-1, keepdims=True) - q) * g
        gt = None
        if ctx.needs_input_grad[1]:
            gt = -logp_t * (g * (1 - ctx.smooth))
            if ctx.weight is not None:
                gt = gt * const(ctx.weight)
        return gz, gt

    def backward_np(ctx, grad):
        _, target = ctx.inputs                  # (checks neither was changed in place)
        _, e, s, _, qT, q_mass = ctx.saved_tensors   # softmax(z)^T = e / s
        c = e.shape[0]
        g = _upstream(grad, ctx.reduction, ctx.n)   # a scalar, or (N,) for reduction='none'
        eps, w = ctx.smooth, ctx.weight
        if ctx.index:                           # (y - t) g, without building the one-hot t
            if ctx.valid is not None:
                g = g * ctx.valid               # ignored rows: no gradient
            if w is None:
                gz = e * (g / s)
                gz[ctx.t, ctx.rows] -= (1 - eps) * g
                if eps:
                    gz -= eps / c * g
            else:                               # Q_i sums to (1 - eps) w_t + eps sum(w) / C
                g_t = g * ctx.row_w
                gz = e * (((1 - eps) * g_t + (eps / c * w.sum()) * g) / s)
                gz[ctx.t, ctx.rows] -= (1 - eps) * g_t
                if eps:
                    gz -= (eps / c) * w[:, None] * g
        else:
            gz = e * (g * q_mass / s) - qT * g
        gt = None
        if ctx.needs_input_grad[1]:
            gt = -ctx._log_softmax() * (g * (1 - eps)).reshape(-1, 1)
            if w is not None:
                gt *= w
        return gz.T, gt


def _nll_sample(s):
    n, c = s.integers(1, 4), s.integers(2, 5)
    target = np.array([s.integers(0, c - 1) for _ in range(n)])
    kw = _class_options(s, n, c, target)
    return ((s.array((n, c), -3.0, -0.1), target), {"reduction": s.choice(REDUCTIONS), **kw})


@register("nll_loss", sample=_nll_sample)
def nll_loss(log_probs, target, weight=None, *, ignore_index: int = -100,
             reduction: str = "mean"):
    """-w[t_i] log_probs[i, t_i], reduced: cross_entropy = nll_loss(log_softmax(z)).

    ``weight``: per-class weights (C,); rows whose target is ``ignore_index`` count for nothing.
    'mean' divides by the summed weights of the rows counted (as PyTorch; with every row ignored
    the loss is nan, as PyTorch). An empty batch with 'mean' raises (PyTorch: nan)."""
    log_probs, target = _as_tensor(log_probs, "nll_loss"), _as_tensor(target, "nll_loss")
    lp, t = log_probs._data, target._data
    _check_ignore_index("nll_loss", ignore_index)
    w = _weight_array(weight, lp)
    kind = _check_targets("nll_loss", lp, t, ignore_index, w)
    if not kind:
        raise DTypeError("nll_loss: targets must be integer class indices")
    if reduction not in REDUCTIONS:
        raise OpError(f"nll_loss: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    xp = array_module(lp)
    # an ignore_index out of [0, C) can only match targets _check_targets found out of range
    # (kind 2); on the GPU a mask stays a mask (valid.all() would read a value back)
    valid = t != ignore_index if kind == 2 or 0 <= ignore_index < lp.shape[-1] else None
    if valid is not None and not is_gpu_array(valid) and valid.all():
        valid = None
    if valid is not None:
        t = np.where(valid, t, 0)
    picked = log_probs[xp.arange(log_probs.shape[0]), t]
    if w is None and valid is None:    # the plain case
        return -(picked.mean() if reduction == "mean" else picked.sum() if reduction == "sum"
                 else picked)
    row_w = xp.ones(t.shape, lp.dtype) if w is None else w[t]
    if valid is not None:
        row_w = np.where(valid, row_w, 0).astype(lp.dtype, copy=False)
    losses = -(picked * const(row_w))
    if reduction == "none":
        return losses
    if reduction == "mean" and not t.size:
        raise ShapeError(f"nll_loss: the mean of an empty batch (input of shape {lp.shape}) is "
                         f"undefined; use reduction='sum'")
    total = losses.sum()
    if reduction == "sum":
        return total
    denom = row_w.sum()
    if is_gpu_array(denom):
        # no read-back: every row ignored gives total / inf = 0 (PyTorch's zero gradient), plus a
        # constant nan (PyTorch's loss); otherwise total / denom + 0
        none = denom == 0
        return (total / const(np.where(none, np.inf, denom).astype(lp.dtype))
                + const(np.where(none, np.nan, 0).astype(lp.dtype)))
    if not denom:   # every row ignored: 0 / 0, nan as PyTorch, with PyTorch's zero gradient
        return total * 0.0 + float("nan")
    return total / const(denom)


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
        # one reduction, read back on the GPU (one scalar, a sync): bad input must not pass
        if p.size and bool(((p < 0) | (p > 1)).any()):
            raise OpError(f"binary_cross_entropy: input must be probabilities in [0, 1] (got values "
                          f"from {float(np.min(p)):.4g} to {float(np.max(p)):.4g}); for logits use "
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
    input, target = _as_tensor(input, "mse_loss"), _as_tensor(target, "mse_loss")
    _check_same_shape("mse_loss", input._data, target._data)
    sq = (input - target) ** 2
    if reduction not in REDUCTIONS:
        raise OpError(f"mse_loss: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return sq.mean() if reduction == "mean" else sq.sum() if reduction == "sum" else sq


@register("sum_squared_error", sample=_pair_sample)
def sum_squared_error(y, t):
    """The book's 0.5 * sum((y - t)**2);  d/dy = y - t."""
    y, t = _as_tensor(y, "sum_squared_error"), _as_tensor(t, "sum_squared_error")
    _check_same_shape("sum_squared_error", y._data, t._data)
    return 0.5 * ((y - t) ** 2).sum()
