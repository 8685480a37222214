"""Smooth activations of transformers and modern MLPs: GELU (exact and tanh form) and SiLU.

GELU(x) = x * Phi(x), Phi the standard normal CDF, needs erf, which NumPy lacks: ``erf`` below is a
vectorised erf accurate to float64 rounding (piecewise Chebyshev interpolants of ``math.erf``,
built once at import), so no Python loop over elements and no SciPy.
"""
from __future__ import annotations

import math

import numpy as np

from ..device import device_of, is_gpu_array, to_device
from ..errors import OpError
from ..function import Function
from ..registry import register, unary
from .elementwise import _float

# -- erf ------------------------------------------------------------------------------------------
# On [0, 6): 24 pieces of width 1/4, each a degree-14 Chebyshev interpolant of math.erf at 15
# Chebyshev points; beyond 6, erf = 1 to float64 precision (erfc(6) = 2e-17). The interpolation
# error of a function this smooth on so short a piece is far below float64's rounding.
_WIDTH, _PIECES, _DEG = 0.25, 24, 14
_NODES = np.cos(np.pi * (np.arange(_DEG + 1) + 0.5) / (_DEG + 1))   # in [-1, 1]


def _build_erf_table() -> np.ndarray:
    table = np.empty((_PIECES, _DEG + 1))
    for p in range(_PIECES):
        xs = (p + 0.5 + 0.5 * _NODES) * _WIDTH
        ys = np.array([math.erf(v) for v in xs])
        table[p] = np.polynomial.chebyshev.chebfit(_NODES, ys, _DEG)
    return table


_ERF_TABLE = np.ascontiguousarray(_build_erf_table().T)   # (DEG + 1, PIECES): rows gather fast
_ERF_TABLE32 = _ERF_TABLE.astype(np.float32)
_GPU_TABLES: dict = {}     # (array type, dtype, device) -> the table, copied once to each GPU
_DEG32 = 7                 # float32 and float16: the terms past degree 7 are below 1e-11


def _erf_table(x: np.ndarray) -> np.ndarray:
    """The coefficients in x's dtype, on x's device."""
    if not is_gpu_array(x):
        return (_ERF_TABLE if x.dtype == np.float64 else _ERF_TABLE32 if x.dtype == np.float32
                else _ERF_TABLE.astype(x.dtype))
    key = (type(x), x.dtype, device_of(x))
    table = _GPU_TABLES.get(key)
    if table is None:          # the only host-to-device copy: the first erf on a GPU
        table = _GPU_TABLES[key] = to_device(_ERF_TABLE.astype(x.dtype), key[2])
    return table


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise, on a float array (float32 in, float32 out), NumPy's or
    CuPy's."""
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    a = np.abs(x)                          # float32 stays float32: half the memory traffic
    piece = np.minimum((a * (1 / _WIDTH)).astype(np.intp), _PIECES - 1)
    t = (a - ((piece + 0.5) * _WIDTH).astype(a.dtype)) * a.dtype.type(2 / _WIDTH)  # in [-1, 1]
    c = _erf_table(x)                                         # (DEG+1, PIECES)
    # below float64 the terms past degree 7 are far under the dtype's rounding: half the
    # recurrence's passes over the array are skipped
    deg = _DEG if x.dtype == np.float64 else _DEG32
    b1 = c[deg].take(piece)                                   # Clenshaw's recurrence
    b2 = np.zeros_like(t)
    t2 = 2 * t
    for k in range(deg - 1, 0, -1):
        b1, b2 = t2 * b1 - b2 + c[k].take(piece), b1
    y = t * b1 - b2 + c[0].take(piece)
    y = np.where(a >= _WIDTH * _PIECES, a.dtype.type(1), y)
    return np.copysign(y, x)


_SQRT_HALF = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_TANH_C = math.sqrt(2 / math.pi)
_TANH_A = 0.044715


def _check_approximate(approximate: str, op: str = "gelu") -> None:
    if not isinstance(approximate, str) or approximate not in ("none", "tanh"):
        raise OpError(f"{op}: approximate must be 'none' or 'tanh', got {approximate!r}")


def _gelu_sample(s):
    return (s.array(s.shape(), -3.0, 3.0),), {"approximate": s.choice(["none", "tanh"])}


@register("gelu", sample=_gelu_sample, call=lambda x, approximate="none": GELU.apply(
    x, approximate=approximate))
class GELU(Function):
    """x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2 (``approximate='tanh'``:
    x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))));  d/dx = ``gelu_grad(x)``, a registered op."""
    def forward(ctx, x, approximate="none"):
        _check_approximate(approximate)
        shape = x.shape
        x = np.atleast_1d(_float(x))               # 0-d: x * x would be a NumPy scalar
        ctx.approximate = approximate
        # in place on one temporary: this runs on (batch * time, 4 * width) arrays, where every
        # extra pass over memory shows in a transformer's step time
        if approximate == "tanh":
            t = x * x
            t *= _TANH_A
            t += 1
            t *= x
            t *= _TANH_C
            np.tanh(t, out=t)                      # tanh(sqrt(2/pi) (x + 0.044715 x^3))
            ctx.save_for_backward(t)
            y = t + 1
        else:
            cdf = erf(x * x.dtype.type(_SQRT_HALF))
            cdf += 1
            cdf *= 0.5                             # Phi(x)
            ctx.save_for_backward(cdf)
            y = cdf.copy()
            y *= 2
        y *= x
        y *= 0.5
        return y.reshape(shape)

    def backward(ctx, grad):
        x, = ctx.inputs
        return grad * GELUGrad.apply(x, approximate=ctx.approximate)

    def backward_np(ctx, grad):
        x = np.atleast_1d(ctx.inputs[0]._data)
        saved, = ctx.saved_tensors
        if ctx.approximate == "tanh":              # 0.5 (1 + t) + 0.5 x (1 - t^2) u'(x)
            t = saved
            d = x * x
            d *= 3 * _TANH_A
            d += 1
            d *= 0.5 * _TANH_C
            d *= x
            d *= 1 - t * t
            d += 0.5
            d += 0.5 * t
        else:                                      # Phi(x) + x phi(x)
            d = x * x
            d *= -0.5
            np.exp(d, out=d)
            d *= _INV_SQRT_2PI
            d *= x
            d += saved
        d *= grad.reshape(d.shape)
        return d.reshape(grad.shape)


def _gelu_grad(x: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        t = np.tanh(_TANH_C * (x + _TANH_A * x * x * x))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _TANH_C * (1 + 3 * _TANH_A * x * x)
    return 0.5 * (1 + erf(x * _SQRT_HALF)) + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x)


@register("gelu_grad", sample=_gelu_sample, call=lambda x, approximate="none": GELUGrad.apply(
    x, approximate=approximate))
class GELUGrad(Function):
    """GELU's derivative: Phi(x) + x phi(x) (phi the normal density; the tanh form's own
    derivative with 'tanh');  its derivative: phi(x) (2 - x^2) (with 'tanh', as Tensor ops).
    A separate op so that GELU's gradient can be differentiated again (create_graph)."""
    def forward(ctx, x, approximate="none"):
        _check_approximate(approximate, "gelu_grad")
        ctx.approximate = approximate
        return _gelu_grad(_float(x), approximate)

    def backward(ctx, grad):
        x, = ctx.inputs
        if ctx.approximate == "tanh":
            u = _TANH_C * (x + _TANH_A * x * x * x)
            du = _TANH_C * (1 + 3 * _TANH_A * x * x)
            t = u.tanh()
            s = 1 - t * t                                  # sech^2(u)
            # d/dx [0.5 (1 + t) + 0.5 x s du] = s du + 0.5 x du (-2 t s du) + 0.5 x s d(du)/dx
            d2 = s * du - x * t * s * du * du + 0.5 * x * s * (_TANH_C * 6 * _TANH_A) * x
            return grad * d2
        return grad * ((-0.5 * x * x).exp() * _INV_SQRT_2PI) * (2 - x * x)


@register("silu", sample=unary(-4.0, 4.0), call=lambda x: SiLU.apply(x))
class SiLU(Function):
    """x * sigmoid(x) (swish);  d/dx = s (1 + x (1 - s)), s = sigmoid(x)."""
    def forward(ctx, x):
        x = _float(x)
        e = np.exp(-np.abs(x))                             # stable sigmoid, as ops.Sigmoid
        s = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(s)
        return x * s

    def backward(ctx, grad):
        x, = ctx.inputs
        s = x.sigmoid()
        return grad * (s * (1 + x * (1 - s)))

    def backward_np(ctx, grad):
        x = ctx.inputs[0]._data
        s, = ctx.saved_tensors
        return grad * (s * (1 + x * (1 - s)))


def gelu(x, approximate: str = "none"):
    """GELU, elementwise: x Phi(x) (``approximate='tanh'``: GPT-2's tanh form)."""
    return GELU.apply(x, approximate=approximate)


def silu(x):
    """SiLU (swish), elementwise: x * sigmoid(x)."""
    return SiLU.apply(x)
