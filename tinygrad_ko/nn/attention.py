"""``MultiheadAttention`` with PyTorch's signature and parameter names (``in_proj_weight``,
``in_proj_bias``, ``out_proj.weight``, ``out_proj.bias``), so a PyTorch state dict loads as it is.

Attention in a few lines: each query scores every key by a dot product, the scores become weights
by a softmax, and the output is the weighted mean of the values:
``softmax(q k^T / sqrt(d) + mask) v``. Multi-head: the embedding is split into ``num_heads``
pieces that attend separately, then joined and projected by ``out_proj``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..device import is_array, like
from ..errors import DTypeError, OpError, ShapeError, UsageError
from ..function import const
from ..tensor import Tensor, _as_tensor
from . import functional as F
from . import init
from .layers import Linear, _dtype, _size
from .module import Module, Parameter


class MultiheadAttention(Module):
    """attn_output, attn_weights = mha(query, key, value): inputs (L, N, E) (``batch_first``:
    (N, L, E)) or unbatched (L, E). ``attn_mask`` (L, S) or (N * num_heads, L, S): bool True =
    may NOT attend (PyTorch's convention for this layer), float = added to the scores.
    ``key_padding_mask`` (N, S): True = a padding key, ignored. ``need_weights``: also return the
    attention weights, averaged over heads unless ``average_attn_weights=False``.

    Initialisation (PyTorch's): ``in_proj_weight`` Xavier-uniform, biases 0, ``out_proj.weight``
    as any Linear."""

    in_proj_weight: Parameter
    in_proj_bias: Parameter | None

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, dtype: Any = None) -> None:
        super().__init__()
        self.embed_dim = E = _size("MultiheadAttention", "embed_dim", embed_dim)
        self.num_heads = _size("MultiheadAttention", "num_heads", num_heads)
        if E % self.num_heads:
            raise OpError(f"MultiheadAttention: embed_dim {E} must be divisible by num_heads "
                          f"{self.num_heads}")
        if not 0.0 <= dropout <= 1.0:
            raise OpError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        self.head_dim = E // self.num_heads
        self.dropout, self.batch_first = float(dropout), bool(batch_first)
        dt = _dtype("MultiheadAttention", dtype)
        self.in_proj_weight = Parameter(np.empty((3 * E, E), dtype=dt))
        if bias:
            self.in_proj_bias = Parameter(np.empty(3 * E, dtype=dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, dtype=dt)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform in_proj_weight, zero biases (out_proj.weight keeps Linear's init)."""
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _batch(self, t: Any, name: str) -> Tensor:
        t = _as_tensor(t, "MultiheadAttention")
        if t.ndim not in (2, 3) or t.shape[-1] != self.embed_dim:
            layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
            raise ShapeError(f"MultiheadAttention(embed_dim={self.embed_dim}): {name} of shape "
                             f"{t.shape}, expected {layout} or (L, E) with E = {self.embed_dim}")
        if t.ndim == 2:
            return t.unsqueeze(0)
        return t if self.batch_first else t.swapaxes(0, 1)

    def forward(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None,
                average_attn_weights: bool = True, is_causal: bool = False
                ) -> tuple[Tensor, Tensor | None]:
        unbatched = _as_tensor(query, "MultiheadAttention").ndim == 2
        q_in, k_in, v_in = (self._batch(t, n) for t, n in
                            ((query, "query"), (key, "key"), (value, "value")))
        if len({t.ndim for t in (q_in, k_in, v_in)}) != 1 or k_in.shape != v_in.shape or \
                q_in.shape[0] != k_in.shape[0]:
            raise ShapeError(f"MultiheadAttention: query, key and value do not fit: "
                             f"{_as_tensor(query).shape}, {_as_tensor(key).shape}, "
                             f"{_as_tensor(value).shape}")
        N, L, E = q_in.shape
        S, H, d = k_in.shape[1], self.num_heads, self.head_dim
        if is_causal and attn_mask is None:
            raise UsageError("MultiheadAttention: is_causal=True is a hint that attn_mask is the "
                             "causal mask; pass attn_mask too (e.g. tg.triu(ones(L, L), 1) > 0), "
                             "or use F.scaled_dot_product_attention(..., is_causal=True)")
        w, b = self.in_proj_weight, self.in_proj_bias
        if query is key and key is value:       # self-attention: one projection, then split
            qkv = F.linear(q_in, w, b)
            q, k, v = qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
        else:
            bs = [None] * 3 if b is None else [b[:E], b[E:2 * E], b[2 * E:]]
            q = F.linear(q_in, w[:E], bs[0])
            k = F.linear(k_in, w[E:2 * E], bs[1])
            v = F.linear(v_in, w[2 * E:], bs[2])
        # (N, T, E) -> (N, H, T, d): the heads become a batch axis
        q = q.reshape(N, L, H, d).swapaxes(1, 2)
        k = k.reshape(N, S, H, d).swapaxes(1, 2)
        v = v.reshape(N, S, H, d).swapaxes(1, 2)
        scores = (q * (1 / math.sqrt(d))) @ k.mT                  # (N, H, L, S)
        mask = self._mask(attn_mask, key_padding_mask, N, L, S, scores._data)
        if mask is not None:
            scores = scores + mask
        attn = scores.softmax(-1)
        if self.dropout and self.training:
            attn = F.dropout(attn, self.dropout, True)
        out = (attn @ v).swapaxes(1, 2).reshape(N, L, E)
        out = self.out_proj(out)
        if unbatched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.swapaxes(0, 1)
        weights = None
        if need_weights:
            weights = attn.mean(axis=1) if average_attn_weights else attn
            if unbatched:
                weights = weights.squeeze(0)
        return out, weights

    def _mask(self, attn_mask: Any, key_padding_mask: Any, N: int, L: int, S: int,
              scores: Any) -> Tensor | None:
        """attn_mask and key_padding_mask as one additive mask broadcasting to (N, H, L, S), of
        the dtype and on the device of the ``scores`` array."""
        dtype = scores.dtype
        total: Any = None
        H = self.num_heads
        for name, m, shapes in (("attn_mask", attn_mask, {(L, S): (L, S),
                                                          (N * H, L, S): (N, H, L, S)}),
                                ("key_padding_mask", key_padding_mask, {(N, S): (N, 1, 1, S)})):
            if m is None:
                continue
            arr = m._data if isinstance(m, Tensor) else m if is_array(m) else np.asarray(m)
            if arr.shape not in shapes:
                raise ShapeError(f"MultiheadAttention: {name} of shape {arr.shape}, expected "
                                 f"{' or '.join(str(s) for s in shapes)} (N={N}, L={L}, S={S}, "
                                 f"num_heads={H})")
            if arr.dtype == np.bool_:       # (a host mask for a GPU model: copied there)
                add: Any = const(np.where(like(arr, scores), -np.inf, 0).astype(dtype))
            elif arr.dtype.kind == "f":
                add = m if isinstance(m, Tensor) else const(like(arr, scores).astype(dtype))
            else:
                raise DTypeError(f"MultiheadAttention: {name} must be bool (True = masked) or "
                                 f"float (added to the scores), got dtype {arr.dtype}")
            add = add.reshape(shapes[arr.shape])
            total = add if total is None else total + add
        return total

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, batch_first={self.batch_first}")


__all__ = ["MultiheadAttention"]
