"""Matrix multiplication: 1-D (dot), 2-D and batched, with NumPy's matmul rules."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..function import Function
from ..registry import register


def _matmul_sample(s):
    kind = s.choice(["2d", "batched", "vec-mat", "mat-vec", "dot", "broadcast-batch"])
    n, k, m = s.integers(1, 4), s.integers(1, 4), s.integers(1, 4)
    b = s.integers(1, 3)
    shapes = {"2d": ((n, k), (k, m)), "batched": ((b, n, k), (b, k, m)), "vec-mat": ((k,), (k, m)),
              "mat-vec": ((n, k), (k,)), "dot": ((k,), (k,)),
              "broadcast-batch": ((b, 1, n, k), (2, k, m))}[kind]
    return tuple(s.array(sh) for sh in shapes), {}


def _check_matmul(a: np.ndarray, b: np.ndarray) -> None:
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: both operands need at least 1 dim, got shapes {a.shape} and "
                         f"{b.shape}; use * to multiply by a scalar")
    ka, kb = a.shape[-1], b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        hint = ""
        if b.ndim == 2 and b.shape[-1] == ka:
            hint = " Did you mean to transpose the second operand (x @ W.T)?"
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} are not aligned: {ka} (last dim "
                         f"of the first) != {kb} ({'first' if b.ndim == 1 else 'second-to-last'} "
                         f"dim of the second).{hint}")


@register("matmul", sample=_matmul_sample, methods=("__matmul__", "__rmatmul__", "matmul"))
class MatMul(Function):
    """C = A @ B;  dA = dC @ B^T,  dB = A^T @ dC (batch axes summed back by the engine).
    A 1-D operand is treated as a row (first) or a column (second) vector, as NumPy does."""
    def forward(ctx, a, b):
        _check_matmul(a, b)
        return np.matmul(a, b)

    def backward(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:      # dot product: a scalar output
            return (grad * b if need_a else None), (grad * a if need_b else None)
        if a.ndim == 1:                      # (k,) @ (..., k, m): a is a row vector
            ga = (grad.unsqueeze(-2) @ b.mT).squeeze(-2) if need_a else None
            gb = a.reshape(-1, 1) @ grad.unsqueeze(-2) if need_b else None
        elif b.ndim == 1:                    # (..., n, k) @ (k,): b is a column vector
            ga = grad.unsqueeze(-1) @ b.reshape(1, -1) if need_a else None
            gb = (a.mT @ grad.unsqueeze(-1)).squeeze(-1) if need_b else None
        else:
            ga = grad @ b.mT if need_a else None
            gb = a.mT @ grad if need_b else None
        return ga, gb
