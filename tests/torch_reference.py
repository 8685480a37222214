"""How to compute every registered op with PyTorch, given the inputs its ``sample`` draws.

``REFERENCE[name](torch, args, kwargs)`` returns a torch tensor: ``args`` are the op's positional
inputs with every NumPy array already a torch tensor (float arrays require grad), ``kwargs`` are the
op's keyword arguments exactly as ``sample`` drew them (NumPy's ``axis``/``keepdims``/``ddof``
spellings included: ``_reduce_args`` translates them to ``dim``/``keepdim``/``correction``).

tests/test_torch_parity.py fails for a registered op that has no entry here, so a new op joins the
differential tests the moment it joins the oracle tests. Entries for names not (yet) registered are
harmless: they wait for the op.

This module imports no torch itself: the caller passes the module in (torch is optional).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

Reference = Callable[[Any, list, dict], Any]
REFERENCE: dict[str, Reference] = {}


def ref(*names: str) -> Callable[[Reference], Reference]:
    def deco(fn: Reference) -> Reference:
        for n in names:
            REFERENCE[n] = fn
        return fn
    return deco


def _pick(kw: dict, *names: str, default: Any = None) -> Any:
    """The first of ``names`` present in kw (NumPy's and PyTorch's spelling of one argument)."""
    for n in names:
        if n in kw and kw[n] is not None:
            return kw[n]
    return default


def _dim(kw: dict) -> Any:
    d = _pick(kw, "dim", "axis")
    return tuple(d) if isinstance(d, list) else d


def _keepdim(kw: dict) -> bool:
    return bool(_pick(kw, "keepdim", "keepdims", default=False))


def _all_dims(x: Any, dim: Any) -> Any:
    """torch.amax/amin/logsumexp need explicit dims: None means every axis."""
    return tuple(range(x.ndim)) if dim is None else dim


def _F(torch: Any) -> Any:
    return torch.nn.functional


# -- elementwise -------------------------------------------------------------------------------
for _name in ("abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "neg"):
    REFERENCE[_name] = (lambda n: lambda torch, a, kw: getattr(torch, n)(a[0]))(_name)

ref("add")(lambda torch, a, kw: a[0] + a[1])
ref("sub")(lambda torch, a, kw: a[0] - a[1])
ref("mul")(lambda torch, a, kw: a[0] * a[1])
ref("div")(lambda torch, a, kw: a[0] / a[1])
ref("maximum")(lambda torch, a, kw: torch.maximum(a[0], a[1]))
ref("minimum")(lambda torch, a, kw: torch.minimum(a[0], a[1]))
ref("where")(lambda torch, a, kw: torch.where(a[0], a[1], a[2]))


@ref("masked_fill")
def _masked_fill(torch, a, kw):
    """x.masked_fill(mask, value): the mask as an input or a keyword, the value likewise."""
    mask = a[1] if len(a) > 1 else torch.from_numpy(np.asarray(kw["mask"]))
    value = kw["value"] if "value" in kw else a[2]
    return a[0].masked_fill(mask, value)
ref("leaky_relu")(lambda torch, a, kw: _F(torch).leaky_relu(
    a[0], _pick(kw, "negative_slope", default=0.01)))
ref("clip")(lambda torch, a, kw: torch.clamp(a[0], min=_pick(kw, "min", "lo"),
                                             max=_pick(kw, "max", "hi")))


@ref("pow")
def _pow(torch, a, kw):
    if len(a) == 2:
        return a[0] ** a[1]
    return a[0] ** _pick(kw, "exponent", "y")


# activations the library may register (PyTorch's defaults for their parameters)
ref("gelu")(lambda torch, a, kw: _F(torch).gelu(a[0], approximate=kw.get("approximate", "none")))
ref("silu")(lambda torch, a, kw: _F(torch).silu(a[0]))
ref("softplus")(lambda torch, a, kw: _F(torch).softplus(a[0], beta=kw.get("beta", 1.0),
                                                        threshold=kw.get("threshold", 20.0)))
ref("elu")(lambda torch, a, kw: _F(torch).elu(a[0], alpha=kw.get("alpha", 1.0)))


# -- reductions --------------------------------------------------------------------------------
ref("sum")(lambda torch, a, kw: torch.sum(a[0], dim=_dim(kw), keepdim=_keepdim(kw)))
ref("mean")(lambda torch, a, kw: torch.mean(a[0], dim=_dim(kw), keepdim=_keepdim(kw)))
ref("max")(lambda torch, a, kw: torch.amax(a[0], dim=_all_dims(a[0], _dim(kw)),
                                           keepdim=_keepdim(kw)))
ref("min")(lambda torch, a, kw: torch.amin(a[0], dim=_all_dims(a[0], _dim(kw)),
                                           keepdim=_keepdim(kw)))
ref("logsumexp")(lambda torch, a, kw: torch.logsumexp(a[0], dim=_all_dims(a[0], _dim(kw)),
                                                      keepdim=_keepdim(kw)))


def _correction(kw: dict) -> int:
    """The sample's ddof/correction; PyTorch's own default (1) when it draws none."""
    return _pick(kw, "correction", "ddof", default=1)


ref("var")(lambda torch, a, kw: torch.var(a[0], dim=_dim(kw), keepdim=_keepdim(kw),
                                          correction=_correction(kw)))
ref("std")(lambda torch, a, kw: torch.std(a[0], dim=_dim(kw), keepdim=_keepdim(kw),
                                          correction=_correction(kw)))
ref("softmax")(lambda torch, a, kw: torch.softmax(a[0], dim=_dim(kw)))
ref("log_softmax")(lambda torch, a, kw: torch.log_softmax(a[0], dim=_dim(kw)))


# -- linear algebra, layers and losses ---------------------------------------------------------
ref("matmul")(lambda torch, a, kw: a[0] @ a[1])
ref("linear")(lambda torch, a, kw: _F(torch).linear(*a))
ref("conv2d")(lambda torch, a, kw: _F(torch).conv2d(*a, stride=kw.get("stride", 1),
                                                    padding=kw.get("padding", 0)))
ref("max_pool2d")(lambda torch, a, kw: _F(torch).max_pool2d(
    a[0], kw["kernel_size"], kw.get("stride"), kw.get("padding", 0)))
ref("avg_pool2d")(lambda torch, a, kw: _F(torch).avg_pool2d(
    a[0], kw["kernel_size"], kw.get("stride"), kw.get("padding", 0)))
ref("adaptive_avg_pool2d")(lambda torch, a, kw: _F(torch).adaptive_avg_pool2d(
    a[0], kw["output_size"]))


@ref("im2col")
def _im2col(torch, a, kw):
    """(N, C, H, W) -> rows (N*OH*OW, C*kh*kw): PyTorch's unfold gives (N, C*kh*kw, OH*OW)."""
    x = a[0]
    cols = _F(torch).unfold(x, kw["kernel"], padding=kw.get("padding", 0),
                            stride=kw.get("stride", 1))
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


@ref("col2im")
def _col2im(torch, a, kw):
    """The adjoint of im2col: PyTorch's fold, on the rows laid out back as (N, C*kh*kw, L)."""
    n, c, h, w = kw["shape"]
    rows = a[0]
    cols = rows.reshape(n, -1, rows.shape[1]).transpose(1, 2)
    return _F(torch).fold(cols, (h, w), kw["kernel"], padding=kw.get("padding", 0),
                          stride=kw.get("stride", 1))


@ref("batch_norm")
def _batch_norm(torch, a, kw):
    x, weight, bias = a
    rm = torch.tensor(np.asarray(kw["running_mean"]), dtype=x.dtype)
    rv = torch.tensor(np.asarray(kw["running_var"]), dtype=x.dtype)
    return _F(torch).batch_norm(x, rm, rv, weight, bias, training=kw.get("training", False),
                                momentum=kw.get("momentum", 0.1), eps=kw.get("eps", 1e-5))


@ref("dropout")
def _dropout(torch, a, kw):
    """PyTorch's dropout draws its mask from its own generator: the mask the library's op draws
    (NumPy's default_rng(seed), as the registry's call does) is rebuilt, and the op it defines,
    x * mask / (1 - p), is computed with torch."""
    x, p = a[0], kw["p"]
    if p == 0.0:
        return _F(torch).dropout(x, 0.0, True)
    keep = np.random.default_rng(kw["seed"]).random(tuple(x.shape)) >= p
    return x * torch.from_numpy(np.asarray(keep / (1.0 - p))).to(x.dtype)


def _reduction(kw: dict) -> str:
    return kw.get("reduction", "mean")


def _weight(torch: Any, a: list, kw: dict) -> Any:
    """A class-weight argument as a torch tensor of the input's dtype (or None)."""
    w = kw.get("weight")
    if w is None or not isinstance(w, np.ndarray):
        return w
    return torch.from_numpy(w).to(a[0].dtype)


ref("cross_entropy")(lambda torch, a, kw: _F(torch).cross_entropy(
    a[0], a[1], weight=_weight(torch, a, kw), ignore_index=kw.get("ignore_index", -100),
    reduction=_reduction(kw), label_smoothing=kw.get("label_smoothing", 0.0)))
ref("nll_loss")(lambda torch, a, kw: _F(torch).nll_loss(
    a[0], a[1], weight=_weight(torch, a, kw), ignore_index=kw.get("ignore_index", -100),
    reduction=_reduction(kw)))
ref("mse_loss")(lambda torch, a, kw: _F(torch).mse_loss(a[0], a[1], reduction=_reduction(kw)))
ref("binary_cross_entropy")(lambda torch, a, kw: _F(torch).binary_cross_entropy(
    a[0], a[1], reduction=_reduction(kw)))
ref("binary_cross_entropy_with_logits")(lambda torch, a, kw: (
    _F(torch).binary_cross_entropy_with_logits(a[0], a[1], reduction=_reduction(kw))))
# the book's sum of squared errors has no PyTorch function: its definition, in torch
ref("sum_squared_error")(lambda torch, a, kw: 0.5 * ((a[0] - a[1]) ** 2).sum())


# -- shapes ------------------------------------------------------------------------------------
ref("reshape")(lambda torch, a, kw: a[0].reshape(tuple(kw["shape"])))
ref("transpose")(lambda torch, a, kw: a[0].permute(tuple(_pick(kw, "axes", "dims"))))
ref("broadcast_to")(lambda torch, a, kw: a[0].broadcast_to(tuple(kw["shape"])))
ref("sum_to")(lambda torch, a, kw: a[0].sum_to_size(tuple(kw["shape"])))
ref("squeeze")(lambda torch, a, kw: a[0].squeeze() if _dim(kw) is None else a[0].squeeze(_dim(kw)))
ref("unsqueeze")(lambda torch, a, kw: a[0].unsqueeze(_dim(kw)))
ref("flatten")(lambda torch, a, kw: torch.flatten(a[0], kw.get("start_dim", 0),
                                                  kw.get("end_dim", -1)))
ref("cat")(lambda torch, a, kw: torch.cat(list(a), dim=_dim(kw) or 0))
ref("stack")(lambda torch, a, kw: torch.stack(list(a), dim=_dim(kw) or 0))
ref("clone")(lambda torch, a, kw: a[0].clone())
ref("astype")(lambda torch, a, kw: a[0].to(getattr(torch, str(np.dtype(kw["dtype"])))))


def _torch_index(torch: Any, index: Any) -> Any:
    """NumPy index arrays as torch tensors (slices and ints as they are)."""
    if isinstance(index, np.ndarray):
        return torch.from_numpy(index)
    if isinstance(index, tuple):
        return tuple(_torch_index(torch, i) for i in index)
    return index


def _is_basic(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) for i in items)


ref("getitem")(lambda torch, a, kw: a[0][_torch_index(torch, kw["index"])])


@ref("scatter_add")
def _scatter_add(torch, a, kw):
    """zeros(shape) with g added at index, repeated indices adding up (index_put accumulate)."""
    g, index = a[0], kw["index"]
    out = torch.zeros(tuple(kw["shape"]), dtype=g.dtype)
    if _is_basic(index):
        out[index] = g
        return out
    idx = _torch_index(torch, index)
    return out.index_put(idx if isinstance(idx, tuple) else (idx,), g, accumulate=True)


# -- sequence models -----------------------------------------------------------------------------
ref("embedding")(lambda torch, a, kw: _F(torch).embedding(a[0].long(), a[1],
                                                          padding_idx=kw.get("padding_idx")))
ref("layer_norm")(lambda torch, a, kw: _F(torch).layer_norm(
    a[0], tuple(kw["normalized_shape"]), *a[1:], eps=kw.get("eps", 1e-5)))
ref("tril")(lambda torch, a, kw: torch.tril(a[0], kw.get("diagonal", 0)))
ref("triu")(lambda torch, a, kw: torch.triu(a[0], kw.get("diagonal", 0)))


@ref("gelu_grad")
def _gelu_grad(torch, a, kw):
    """GELU's derivative, as PyTorch's autograd of F.gelu finds it (create_graph: it is
    differentiated again by the gradient and second-order tests)."""
    x = a[0]
    y = _F(torch).gelu(x, approximate=kw.get("approximate", "none"))
    return torch.autograd.grad(y.sum(), x, create_graph=True)[0]


@ref("scaled_dot_product_attention")
def _sdpa(torch, a, kw):
    mask = kw.get("attn_mask")
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(mask)
        mask = mask if mask.dtype == torch.bool else mask.to(a[0].dtype)
    return _F(torch).scaled_dot_product_attention(*a, attn_mask=mask,
                                                  is_causal=kw.get("is_causal", False))


# the cells take PyTorch's own kernels (torch.rnn_tanh_cell, ...: what nn.RNNCell and friends call)
ref("rnn_tanh_cell")(lambda torch, a, kw: torch.rnn_tanh_cell(*a))
ref("rnn_relu_cell")(lambda torch, a, kw: torch.rnn_relu_cell(*a))
ref("gru_cell")(lambda torch, a, kw: torch.gru_cell(*a))


@ref("lstm_cell")
def _lstm_cell(torch, a, kw):
    """The registry checks h' * 1.5 + c' (both outputs at once), so the reference mixes the same."""
    x, h, c, *weights = a
    h2, c2 = torch.lstm_cell(x, (h, c), *weights)
    return h2 * 1.5 + c2


@ref("lstm_sequence")
def _lstm_sequence(torch, a, kw):
    """One LSTM layer over x (T, N, I) with PyTorch's whole-sequence kernel (what nn.LSTM runs):
    h_1..h_T, then c_T in the last row, as the op lays them out."""
    x, h0, c0, *weights = a
    out, h_n, c_n = torch.lstm(x, (h0[None], c0[None]), weights, len(weights) == 4, 1, 0.0,
                               False, False, False)
    return torch.cat([out, c_n])


__all__ = ["REFERENCE"]
