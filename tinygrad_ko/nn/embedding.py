"""Embedding (the book's Embedding / TimeEmbedding), LayerNorm, and the GELU and SiLU activations."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import IndexOutOfRangeError, OpError, ShapeError
from ..ops.activation import gelu, silu
from ..ops.sequence import embedding, layer_norm
from ..tensor import Tensor, _as_tensor
from . import init
from .layers import _dtype, _size
from .module import Module, Parameter


class Embedding(Module):
    """A lookup table: ``Embedding(V, D)(idx)`` is row ``idx`` of ``weight`` (V, D), for an integer
    tensor of any shape (output: ``idx.shape + (D,)``). Equal to ``one_hot(idx) @ weight`` without
    building the one-hot matrix; the gradient adds each output row back into its table row.

    ``padding_idx``: that row starts at zeros and never gets a gradient (padding tokens).
    Initialisation (PyTorch's): N(0, 1)."""

    weight: Parameter

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_embeddings = _size("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = _size("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise IndexOutOfRangeError(f"Embedding: padding_idx {padding_idx} is out of range "
                                           f"for {self.num_embeddings} embeddings")
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        dt = _dtype("Embedding", dtype)
        self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype=dt))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw the table from N(0, 1); the padding row (if any) is zeros."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight._data[self.padding_idx] = 0

    def forward(self, input: Any) -> Tensor:
        idx = _as_tensor(input, "Embedding")
        if idx.dtype.kind not in "iu":
            raise OpError(f"Embedding({self.num_embeddings}, {self.embedding_dim}): expects integer "
                          f"indices, got dtype {idx.dtype}; convert with .astype(tg.int64)")
        return embedding(idx, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over the last axes given by
    ``normalized_shape`` (each sample, each position on its own: unlike BatchNorm nothing is shared
    across the batch, so training and evaluation are the same). weight = 1, bias = 0 at first."""

    weight: Parameter | None
    bias: Parameter | None

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else \
            tuple(normalized_shape)
        self.normalized_shape = tuple(_size("LayerNorm", "normalized_shape", n) for n in shape)
        if not eps > 0:
            raise OpError(f"LayerNorm: eps must be > 0, got {eps}")
        self.eps, self.elementwise_affine = float(eps), bool(elementwise_affine)
        dt = _dtype("LayerNorm", dtype)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dt))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """weight = 1, bias = 0."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Any) -> Tensor:
        x = _as_tensor(input, "LayerNorm")
        k = len(self.normalized_shape)
        if x.shape[max(x.ndim - k, 0):] != self.normalized_shape or x.ndim < k:
            raise ShapeError(f"LayerNorm({self.normalized_shape}): input of shape {x.shape} does "
                             f"not end with {self.normalized_shape}")
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GELU(Module):
    """x * Phi(x), Phi the standard normal CDF; ``approximate='tanh'`` for GPT-2's tanh form."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise OpError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Any) -> Tensor:
        return gelu(_as_tensor(input, "GELU"), self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x) (also called swish)."""

    def forward(self, input: Any) -> Tensor:
        return silu(_as_tensor(input, "SiLU"))


__all__ = ["Embedding", "LayerNorm", "GELU", "SiLU"]
