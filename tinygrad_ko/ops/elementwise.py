"""Elementwise ops: arithmetic, exp/log/trig, activations, maximum/minimum/clip/where.

Binary ops broadcast like NumPy. Their backward returns gradients of the *output's* shape; the
engine (``Function.apply``'s other half, ``run_backward``) sums each one back to its input's shape.
Masks in backward (``x > 0``...) are constants: their derivative is zero almost everywhere.
"""
from __future__ import annotations

import numpy as np

from ..device import is_gpu_array
from ..errors import UsageError
from ..function import Function, const
from ..registry import binary, register, unary

def _float(x: np.ndarray) -> np.ndarray:
    """Integer and bool inputs of float-valued ops become float32 (PyTorch's default dtype)."""
    return x if x.dtype.kind in "fc" else x.astype(np.float32)


@register("add", sample=binary(), methods=("__add__", "__radd__", "add"))
class Add(Function):
    """a + b;  d/da = 1, d/db = 1."""
    def forward(ctx, a, b):
        return a + b

    def backward(ctx, grad):
        return grad, grad


@register("sub", sample=binary(), methods=("__sub__", "__rsub__", "sub"))
class Sub(Function):
    """a - b;  d/da = 1, d/db = -1."""
    def forward(ctx, a, b):
        return a - b

    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


@register("mul", sample=binary(), methods=("__mul__", "__rmul__", "mul"))
class Mul(Function):
    """a * b;  d/da = b, d/db = a."""
    def forward(ctx, a, b):
        return a * b

    def backward(ctx, grad):
        a, b = ctx.inputs
        return (grad * b if ctx.needs_input_grad[0] else None,
                grad * a if ctx.needs_input_grad[1] else None)


@register("div", sample=binary(low2=0.5, high2=2.0), methods=("__truediv__", "__rtruediv__", "div"))
class Div(Function):
    """a / b;  d/da = 1/b, d/db = -a/b**2. Integer / integer gives float32 (as PyTorch)."""
    def forward(ctx, a, b):
        if a.dtype.kind in "biu" and b.dtype.kind in "biu":
            a, b = a.astype(np.float32), b.astype(np.float32)
        return a / b

    def backward(ctx, grad):
        a, b = ctx.inputs
        return (grad / b if ctx.needs_input_grad[0] else None,
                -grad * a / (b * b) if ctx.needs_input_grad[1] else None)


@register("neg", sample=unary(), methods=("__neg__", "neg"))
class Neg(Function):
    """-x;  d/dx = -1."""
    def forward(ctx, x):
        return -x

    def backward(ctx, grad):
        return -grad


def _pow_sample(s):
    """Either a tensor exponent on a positive base, or a constant exponent (negative bases allowed
    for whole-number exponents)."""
    sa, sb = s.broadcastable_shapes(2)
    if s.boolean():
        return (s.array(sa, 0.5, 2.0), s.array(sb, -2.0, 2.0)), {}
    p = s.choice([2.0, 3.0, -1.0, 0.5, 1.5, -2.5])
    x = s.array(sa, -2.0, 2.0, avoid=(0.0,)) if p in (2.0, 3.0, -1.0) else s.array(sa, 0.5, 2.0)
    return (x,), {"exponent": p}


@register("pow", sample=_pow_sample, methods=("__pow__", "__rpow__", "pow"),
          call=lambda x, y=None, exponent=None: x ** (y if exponent is None else exponent))
class Pow(Function):
    """a ** b;  d/da = b * a**(b-1),  d/db = a**b * log(a).

    At the edges the limits, as PyTorch, never 0 * inf = nan: d/da = 0 where b = 0 (so
    d/dx x**0 = 0 at x = 0), and d/db = 0 where a = 0 and b >= 0 (so d/dx 0**x = 0). Elsewhere
    at a = 0 the formula's own value: d/da 0**0.5 = inf, d/da 0**1 = 1, d/da 0**2 = 0.
    Second order at b = 0, a != 0: d/db (b a**(b-1)) = 1/a, the true value (PyTorch's masking
    gives 0 there; docs/en/pytorch.md)."""
    def forward(ctx, a, b):
        return np.power(a, b)

    def backward(ctx, grad):
        a, b = ctx.inputs
        ga = gb = None
        # on the GPU the masked forms always: ``if mask.any()`` would read a value back (a sync);
        # where nothing is masked they give the same numbers
        gpu = is_gpu_array(a._data)
        if ctx.needs_input_grad[0]:
            # only 0 ** 0 needs care: b * a**(b-1) is 0 * inf there. Elsewhere at b = 0 the plain
            # formula is 0 and its own derivative in b (a**(b-1)) is right, so it is not masked
            zero = (b._data == 0) & (a._data == 0)
            if gpu or zero.any():
                # there the exponent b - 1 is replaced by 1 and the term is masked out: no
                # 0 * inf, and no gradient flows through it at second order
                keep = const(~zero, b.dtype)
                ga = grad * b * a ** ((b - 1) * keep + const(zero, b.dtype)) * keep
            else:
                ga = grad * b * a ** (b - 1)
        if ctx.needs_input_grad[1]:
            base0 = (a._data == 0) & (b._data >= 0)
            if gpu or base0.any():   # log(a) -> log(1) = 0 there: a**b (0 or 1) * 0
                a = a * const(~base0, a.dtype) + const(base0, a.dtype)
            gb = grad * ctx.output * a.log()
        return ga, gb

    def backward_np(ctx, grad):
        a, b = ctx.inputs[0]._data, ctx.inputs[1]._data
        need = ctx.needs_input_grad
        host = not is_gpu_array(a)     # on the GPU no branch on values (each would be a sync)
        ga = gb = None
        if need[0]:
            if host and b.ndim == 0 and b != 0:   # the usual x ** 2: a constant, non-zero exponent
                ga = grad * b * np.power(a, b - 1)
            else:
                zero = (b == 0) & (a == 0)
                ga = grad * b * np.power(a, np.where(zero, 1, b - 1).astype(b.dtype, copy=False))
                ga = np.where(zero, 0, ga).astype(ga.dtype, copy=False)
        if need[1]:
            base0 = (a == 0) & (b >= 0)
            la = np.log(np.where(base0, 1, a).astype(a.dtype, copy=False)
                        if not host or base0.any() else a)
            gb = grad * ctx.output._data * la
        return ga, gb


@register("exp", sample=unary(-3.0, 3.0), methods=("exp",))
class Exp(Function):
    """exp(x);  d/dx = exp(x), the output itself."""
    def forward(ctx, x):
        return np.exp(_float(x))

    def backward(ctx, grad):
        return grad * ctx.output


@register("log", sample=unary(0.2, 3.0), methods=("log",))
class Log(Function):
    """log(x);  d/dx = 1/x. log(0) = -inf, log(-1) = nan (as PyTorch; see detect_anomaly)."""
    def forward(ctx, x):
        return np.log(_float(x))

    def backward(ctx, grad):
        x, = ctx.inputs
        return grad / x


@register("sqrt", sample=unary(0.2, 3.0), methods=("sqrt",))
class Sqrt(Function):
    """sqrt(x);  d/dx = 1 / (2 sqrt(x))."""
    def forward(ctx, x):
        return np.sqrt(_float(x))

    def backward(ctx, grad):
        return grad / (2 * ctx.output)


@register("abs", sample=unary(avoid=(0.0,)), methods=("abs", "__abs__"))
class Abs(Function):
    """|x|;  d/dx = sign(x), and 0 at x = 0 (as PyTorch)."""
    def forward(ctx, x):
        return np.abs(x)

    def backward(ctx, grad):
        x, = ctx.inputs
        return grad * x.sign()


@register("sin", sample=unary(-3.0, 3.0), methods=("sin",))
class Sin(Function):
    """sin(x);  d/dx = cos(x)."""
    def forward(ctx, x):
        return np.sin(_float(x))

    def backward(ctx, grad):
        x, = ctx.inputs
        return grad * x.cos()


@register("cos", sample=unary(-3.0, 3.0), methods=("cos",))
class Cos(Function):
    """cos(x);  d/dx = -sin(x)."""
    def forward(ctx, x):
        return np.cos(_float(x))

    def backward(ctx, grad):
        x, = ctx.inputs
        return -grad * x.sin()


@register("tanh", sample=unary(-3.0, 3.0), methods=("tanh",))
class Tanh(Function):
    """tanh(x);  d/dx = 1 - tanh(x)**2."""
    def forward(ctx, x):
        return np.tanh(_float(x))

    def backward(ctx, grad):
        y = ctx.output
        return grad * (1 - y * y)


@register("sigmoid", sample=unary(-4.0, 4.0), methods=("sigmoid",))
class Sigmoid(Function):
    """1 / (1 + exp(-x));  d/dx = s(x) (1 - s(x)). Stable: exp is only taken of -|x|."""
    def forward(ctx, x):
        x = _float(x)
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def backward(ctx, grad):
        y = ctx.output
        return grad * y * (1 - y)


@register("relu", sample=unary(avoid=(0.0,)), methods=("relu",))
class ReLU(Function):
    """max(x, 0);  d/dx = 1 for x > 0, else 0 (0 at x = 0, as PyTorch)."""
    def forward(ctx, x):
        # against an array of zeros laid out as x, not the scalar 0: NumPy's vectorised maximum
        # needs two operands alike (2-3x faster on a (256, 512) layer, zeros included). np.zeros
        # (calloc) costs a third of np.zeros_like (allocate, then fill), which only a non-C-ordered
        # x needs, for its layout
        # (zeros_like on the GPU: np.zeros would make a host array)
        zeros = (np.zeros(x.shape, x.dtype) if type(x) is np.ndarray and x.flags.c_contiguous
                 else np.zeros_like(x))
        return np.maximum(x, zeros, out=zeros)

    def backward(ctx, grad):
        x, = ctx.inputs
        return grad * const(x._data > 0, grad.dtype)

    def backward_np(ctx, grad):
        return grad * (ctx.inputs[0]._data > 0)


@register("leaky_relu", sample=unary(avoid=(0.0,), negative_slope=lambda s, _: s.floats(0.0, 0.5)),
          methods=("leaky_relu",))
class LeakyReLU(Function):
    """x for x > 0, else negative_slope * x;  d/dx = 1 or negative_slope."""
    def forward(ctx, x, negative_slope=0.01):
        x = _float(x)  # an integer dtype would round the slope to 0
        ctx.slope = negative_slope
        # the slope as a NumPy scalar of x's dtype: float32 stays float32, and on the GPU it is a
        # kernel argument (np.asarray would make a host array)
        return np.where(x > 0, x, x * x.dtype.type(negative_slope))

    def backward(ctx, grad):
        x, = ctx.inputs
        return grad * const(np.where(x._data > 0, 1, ctx.slope), grad.dtype)


def _real_param(op: str, name: str, value):
    """A real-number parameter (slope, beta...) as a Python float, or the library's error."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                      np.floating)):
        raise UsageError(f"{op}: {name} must be a real number, got {value!r}")
    return float(value)


def _softplus_sample(s):
    beta, threshold = s.choice([(1.0, 20.0), (2.0, 20.0), (0.5, 20.0), (1.0, 1.0), (2.0, 2.0)])
    shape = s.shape()
    # away from the switch to the identity at beta * x = threshold (a kink in the 2nd derivative)
    return (s.array(shape, -3.0, 3.0, avoid=(threshold / beta,)),), {"beta": beta,
                                                                     "threshold": threshold}


@register("softplus", sample=_softplus_sample)
class Softplus(Function):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (as PyTorch);
    d/dx = sigmoid(beta x) (1 there). Stable: computed as (max(bx, 0) + log1p(exp(-|bx|))) / beta,
    so exp never overflows."""
    def forward(ctx, x, beta=1.0, threshold=20.0):
        x = _float(x)
        ctx.beta = beta = _real_param("softplus", "beta", beta)
        threshold = _real_param("softplus", "threshold", threshold)
        b = x.dtype.type(beta)          # a scalar of x's dtype (a kernel argument on the GPU)
        bx = x * b
        ctx.linear = bx > threshold
        y = (np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))) / b
        return np.where(ctx.linear, x, y)

    def backward(ctx, grad):
        x, = ctx.inputs
        s = (x * ctx.beta).sigmoid()
        if is_gpu_array(ctx.linear) or ctx.linear.any():   # (no read-back on the GPU)
            s = s * const(~ctx.linear, grad.dtype) + const(ctx.linear, grad.dtype)
        return grad * s

    def backward_np(ctx, grad):
        x = ctx.inputs[0]._data
        bx = x * x.dtype.type(ctx.beta)
        e = np.exp(-np.abs(bx))                 # the stable sigmoid, as Sigmoid's forward
        s = np.where(bx >= 0, 1 / (1 + e), e / (1 + e))
        return grad * np.where(ctx.linear, 1, s)


@register("elu", sample=unary(-3.0, 3.0, avoid=(0.0,), alpha=lambda s, _: s.choice([1.0, 0.5, 2.0])))
class ELU(Function):
    """x for x > 0, else alpha (exp(x) - 1);  d/dx = 1, else alpha exp(x) (alpha at x = 0, as
    PyTorch). exp is only taken of min(x, 0): no overflow."""
    def forward(ctx, x, alpha=1.0):
        x = _float(x)
        ctx.alpha = alpha = _real_param("elu", "alpha", alpha)
        ctx.pos = x > 0
        return np.where(ctx.pos, x, x.dtype.type(alpha) * np.expm1(np.minimum(x, 0)))

    def backward(ctx, grad):
        x, = ctx.inputs
        neg = const(~ctx.pos, grad.dtype)
        return grad * (const(ctx.pos, grad.dtype) + (x * neg).exp() * neg * ctx.alpha)

    def backward_np(ctx, grad):
        x = ctx.inputs[0]._data
        return grad * np.where(ctx.pos, 1, ctx.alpha * np.exp(np.minimum(x, 0)))


def _tie_weight(a, b, pick_a):
    """1 where a wins, 0 where b wins, 1/2 on ties (as PyTorch)."""
    return np.where(a == b, 0.5, pick_a(a, b).astype(np.float64))


@register("maximum", sample=binary(distinct=True), methods=("maximum",))
class Maximum(Function):
    """max(a, b) elementwise;  d/da = [a > b], d/db = [b > a]; ties split the gradient."""
    def forward(ctx, a, b):
        return np.maximum(a, b)

    def backward(ctx, grad):
        a, b = ctx.inputs
        w = _tie_weight(a._data, b._data, np.greater)
        return grad * const(w, grad.dtype), grad * const(1 - w, grad.dtype)


@register("minimum", sample=binary(distinct=True), methods=("minimum",))
class Minimum(Function):
    """min(a, b) elementwise;  d/da = [a < b], d/db = [b < a]; ties split the gradient."""
    def forward(ctx, a, b):
        return np.minimum(a, b)

    def backward(ctx, grad):
        a, b = ctx.inputs
        w = _tie_weight(a._data, b._data, np.less)
        return grad * const(w, grad.dtype), grad * const(1 - w, grad.dtype)


def _clip_sample(s):
    shape = s.shape()
    lo, hi = s.choice([(-1.0, 1.0), (None, 0.5), (-0.5, None)])
    return (s.array(shape, avoid=tuple(v for v in (lo, hi) if v is not None)),), {"min": lo, "max": hi}


@register("clip", sample=_clip_sample, methods=("clip", "clamp"))
class Clip(Function):
    """min(max(x, lo), hi);  d/dx = 1 where lo <= x <= hi (bounds included, as PyTorch), else 0."""
    def forward(ctx, x, lo=None, hi=None):
        if lo is None and hi is None:
            raise ValueError("clip needs at least one of min and max")
        ctx.lo, ctx.hi = lo, hi
        return np.clip(x, lo, hi)

    def backward(ctx, grad):
        x = ctx.inputs[0]._data
        if ctx.lo is None:
            inside = x <= ctx.hi
        else:
            inside = x >= ctx.lo
            if ctx.hi is not None:
                inside &= x <= ctx.hi
        return grad * const(inside, grad.dtype)


def _where_sample(s):
    sc, sa, sb = s.broadcastable_shapes(3)
    return (s.array(sc) > 0, s.array(sa), s.array(sb)), {}


def _where_call(cond, a, b):
    from ..tensor import where
    return where(cond, a, b)


@register("where", sample=_where_sample, call=_where_call, methods=("where",))
class Where(Function):
    """cond ? a : b;  d/da = [cond], d/db = [not cond]; cond gets no gradient."""
    def forward(ctx, cond, a, b):
        return np.where(cond, a, b)

    def backward(ctx, grad):
        cond = ctx.inputs[0]._data
        return (None,
                grad * const(cond, grad.dtype) if ctx.needs_input_grad[1] else None,
                grad * const(~cond, grad.dtype) if ctx.needs_input_grad[2] else None)
