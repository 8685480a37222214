"""Gradient clipping (PyTorch's ``torch.nn.utils``): call between ``backward()`` and ``step()``.

Recurrent networks need it: backpropagation through time multiplies the gradient by W_hh once
per step, so a gradient can grow exponentially with the sequence length ("exploding gradients").
Clipping the total norm keeps the direction of the step and bounds its size.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..device import is_gpu_array
from ..errors import OpError, UsageError
from ..tensor import Tensor


def _grads(parameters: Tensor | Iterable[Tensor], where: str) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise UsageError(f"{where}: expected Tensors (model.parameters()), got "
                             f"{type(p).__name__}")
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Scale all gradients in place so that their total norm (as if all were one vector) is at
    most ``max_norm``: g *= min(1, max_norm / (total + 1e-6)). ``norm_type`` may be ``inf``.
    Returns the total norm before clipping, as a 0-d Tensor on the gradients' device.
    ``foreach`` is accepted for PyTorch's signature (the update is vectorised per tensor either
    way). On the GPU nothing is read back (as PyTorch): the norm and the scale stay there, and
    every gradient is multiplied by min(1, scale); only ``error_if_nonfinite=True`` reads the norm
    (a synchronisation)."""
    grads = _grads(parameters, "clip_grad_norm_")
    norm_type = float(norm_type)
    if not grads:
        return Tensor(np.array(0.0, dtype=np.float32))
    dtype = grads[0].dtype
    arrays = [g._data for g in grads]
    if norm_type <= 0:
        raise OpError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    if is_gpu_array(arrays[0]):
        return _clip_on_device(grads, arrays, float(max_norm), norm_type, error_if_nonfinite)
    if math.isinf(norm_type):
        total = max(float(np.abs(a).max()) if a.size else 0.0 for a in arrays)
    else:
        # the norm of the per-tensor norms: one reduction per tensor, no concatenated copy
        norms = np.array([np.linalg.norm(a.reshape(-1), norm_type) for a in arrays])
        total = float(np.linalg.norm(norms, norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise OpError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                      f"{total}, so they cannot be clipped; set error_if_nonfinite=False to clip "
                      f"anyway (the result is then nan)")
    coef = float(max_norm) / (total + 1e-6)   # 0 for an inf total, nan for nan, as PyTorch
    if coef < 1.0 or math.isnan(coef):
        with np.errstate(invalid="ignore"):    # inf * 0 = nan is the documented outcome
            for g in grads:
                g._data *= np.asarray(coef, dtype=g.dtype)
                g._version[0] += 1
    return Tensor(np.array(total, dtype=dtype))


def _clip_on_device(grads: list[Tensor], arrays: list, max_norm: float, norm_type: float,
                    error_if_nonfinite: bool) -> Tensor:
    """clip_grad_norm_ on GPU arrays, with the CPU's arithmetic (the total in float64 from the
    per-tensor norms in the gradients' dtype) and no value read back."""
    if math.isinf(norm_type):
        norms = [np.abs(a).max() for a in arrays if a.size]
        total = np.stack(norms).max() if norms else None
    else:
        total = np.linalg.norm(np.stack([np.linalg.norm(a.reshape(-1), norm_type)
                                         for a in arrays]), norm_type)
    if total is None:       # only empty gradients
        return Tensor._wrap(arrays[0].dtype.type(0) * np.ones_like(arrays[0], shape=()))
    total = total.astype(np.float64)
    if error_if_nonfinite and not bool(np.isfinite(total)):    # the one read-back, when asked
        raise OpError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                      f"{float(total)}, so they cannot be clipped; set error_if_nonfinite=False to "
                      f"clip anyway (the result is then nan)")
    # min(1, coef): nan stays nan (np.minimum propagates it), as the CPU path multiplies by nan
    coef = np.minimum(max_norm / (total + 1e-6), 1.0)
    with np.errstate(invalid="ignore"):    # inf * 0 = nan is the documented outcome
        for g in grads:
            g._data *= coef.astype(g.dtype)
            g._version[0] += 1
    return Tensor._wrap(total.astype(grads[0].dtype))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place."""
    v = float(clip_value)
    if v < 0:
        raise OpError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for g in _grads(parameters, "clip_grad_value_"):
        np.clip(g._data, -v, v, out=g._data)
        g._version[0] += 1


__all__ = ["clip_grad_norm_", "clip_grad_value_"]
