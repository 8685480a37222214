"""Batch normalisation (the book's 6.3): BatchNorm1d for (N, C) or (N, C, L), BatchNorm2d for
(N, C, H, W). Statistics are per channel (axis 1)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import OpError, ShapeError
from ..tensor import Tensor, _as_tensor
from . import functional as F
from .layers import _dtype, _size
from .module import Module, Parameter


class _BatchNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, per channel.

    Training: mean and (biased) var of the batch; the running statistics (buffers, saved in the
    state_dict) are updated as running = (1 - momentum) * running + momentum * batch, with the
    unbiased var, as PyTorch; ``momentum=None`` gives a plain average over all batches so far.
    Eval (``model.eval()``): the running statistics. ``affine=False``: no weight and bias.
    ``track_running_stats=False``: always the batch statistics, no buffers.
    """
    _dims: tuple[int, ...] = ()
    weight: Parameter | None
    bias: Parameter | None
    running_mean: Tensor | None
    running_var: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = c = _size(name, "num_features", num_features)
        if not eps > 0:
            raise OpError(f"{name}: eps must be > 0, got {eps}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise OpError(f"{name}: momentum must be in [0, 1] or None, got {momentum}")
        self.eps, self.momentum = float(eps), None if momentum is None else float(momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        dt = _dtype(name, dtype)
        if affine:
            self.weight = Parameter(np.ones(c, dtype=dt))
            self.bias = Parameter(np.zeros(c, dtype=dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(c, dtype=dt)))
            self.register_buffer("running_var", Tensor(np.ones(c, dtype=dt)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running var 1, batch count 0."""
        for t, value in ((self.running_mean, 0), (self.running_var, 1),
                         (self.num_batches_tracked, 0)):
            if t is not None:
                t._data[...] = value
                t._version[0] += 1

    def _bad_input(self, shape: tuple[int, ...]) -> str:
        raise NotImplementedError

    def forward(self, x: Any) -> Tensor:
        x = _as_tensor(x, type(self).__name__)
        shape = x.shape
        if len(shape) not in self._dims or shape[1] != self.num_features:
            raise ShapeError(self._bad_input(shape))
        momentum = self.momentum
        count = self.num_batches_tracked if self.training else None   # None: not tracked
        if count is not None and momentum is None:   # cumulative moving average of all batches
            momentum = 1.0 / (int(count._data) + 1)
        # the running statistics are used in eval, and updated in training, when tracked
        use_batch = self.training or not self.track_running_stats
        lifted = len(shape) == 3      # (N, C, L) -> (N, C, L, 1): batch_norm takes 2-D or 4-D
        if lifted:
            x = x.reshape(shape + (1,))
        try:
            y = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                             use_batch, momentum or 0.0, self.eps)
        except ShapeError as e:
            raise ShapeError(f"{type(self).__name__}({self.num_features}): {e}") from None
        if count is not None:
            count._data[...] += 1
            count._version[0] += 1
        return y.reshape(shape) if lifted else y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs (after a Linear layer: C = out_features)."""
    _dims = (2, 3)

    def _bad_input(self, shape: tuple[int, ...]) -> str:
        c = self.num_features
        msg = f"BatchNorm1d({c}) expects (N, {c}) or (N, {c}, L), got {shape}"
        if len(shape) == 4:
            return msg + "; use nn.BatchNorm2d for images (N, C, H, W)"
        if len(shape) >= 2:
            return msg + f": {shape[1]} features, expected num_features={c}"
        return msg


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) images (after a Conv2d: C = out_channels), statistics per
    channel over N, H and W."""
    _dims = (4,)

    def _bad_input(self, shape: tuple[int, ...]) -> str:
        c = self.num_features
        msg = f"BatchNorm2d({c}) expects (N, {c}, H, W), got {shape}"
        if len(shape) in (2, 3):
            return msg + "; use nn.BatchNorm1d for (N, C) or (N, C, L) inputs"
        if len(shape) == 4:
            return msg + f": {shape[1]} channels, expected num_features={c}"
        return msg


__all__ = ["BatchNorm1d", "BatchNorm2d"]
