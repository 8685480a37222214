"""The sequence layers against PyTorch with the same weights: a PyTorch state dict is loaded into
our layer as it is, and outputs, input gradients and parameter gradients must agree (float64)."""
import numpy as np
import pytest

import tinygrad_ko as tg
from tinygrad_ko import nn
from tinygrad_ko.nn import functional as F

torch = pytest.importorskip("torch", reason="PyTorch is the reference here; pip install torch")
TOL = dict(rtol=1e-9, atol=1e-10)


def _load(ours, theirs):
    state = {k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()}
    ours.load_state_dict(state)
    assert sorted(n for n, _ in ours.named_parameters()) == \
        sorted(n for n, _ in theirs.named_parameters())


def _pair(rng, shape):
    a = rng.standard_normal(shape)
    return tg.Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _check_grads(ours, theirs, pairs):
    for (n, p), (n2, q) in zip(sorted(ours.named_parameters()), sorted(theirs.named_parameters())):
        assert n == n2
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), err_msg=n, **TOL)
    for a, b in pairs:
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **TOL)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("layers,bidirectional,batch_first,bias,with_state",
                         [(1, False, False, True, False), (2, False, True, True, True),
                          (2, True, False, False, True), (1, True, True, True, False)])
def test_recurrent_layers_match_torch(kind, layers, bidirectional, batch_first, bias, with_state):
    rng = np.random.default_rng(0)
    kw = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias)
    theirs = getattr(torch.nn, kind)(3, 4, **kw).double()
    ours = getattr(nn, kind)(3, 4, dtype=tg.float64, **kw)
    _load(ours, theirs)
    T, N, D = 5, 2, 2 if bidirectional else 1
    x, tx = _pair(rng, (N, T, 3) if batch_first else (T, N, 3))
    pairs = [(x, tx)]
    args, targs = [x], [tx]
    if with_state:
        h, th = _pair(rng, (layers * D, N, 4))
        pairs.append((h, th))
        if kind == "LSTM":
            c, tc = _pair(rng, (layers * D, N, 4))
            pairs.append((c, tc))
            args.append((h, c)), targs.append((th, tc))
        else:
            args.append(h), targs.append(th)
    out, hn = ours(*args)
    tout, thn = theirs(*targs)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **TOL)
    hs, ths = (hn if kind == "LSTM" else (hn,)), (thn if kind == "LSTM" else (thn,))
    for a, b in zip(hs, ths):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), **TOL)
    w = rng.standard_normal(out.shape)
    loss = (out * tg.Tensor(w)).sum() + sum((a * a).sum() for a in hs)
    tloss = (tout * torch.tensor(w)).sum() + sum((b * b).sum() for b in ths)
    loss.backward()
    tloss.backward()
    _check_grads(ours, theirs, pairs)


def test_unbatched_lstm_matches_torch():
    rng = np.random.default_rng(1)
    theirs, ours = torch.nn.LSTM(3, 2).double(), nn.LSTM(3, 2, dtype=tg.float64)
    _load(ours, theirs)
    x, tx = _pair(rng, (4, 3))
    out, (h, c) = ours(x)
    tout, (th, tc) = theirs(tx)
    assert out.shape == (4, 2) and h.shape == (1, 2)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **TOL)
    np.testing.assert_allclose(c.numpy(), tc.detach().numpy(), **TOL)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_torch(kind):
    rng = np.random.default_rng(2)
    theirs, ours = getattr(torch.nn, kind)(3, 4).double(), getattr(nn, kind)(3, 4, dtype=tg.float64)
    _load(ours, theirs)
    x, tx = _pair(rng, (2, 3))
    h, th = _pair(rng, (2, 4))
    if kind == "LSTMCell":
        c, tc = _pair(rng, (2, 4))
        out, tout = ours(x, (h, c)), theirs(tx, (th, tc))
        loss, tloss = out[0].sum() + (out[1] ** 2).sum(), tout[0].sum() + (tout[1] ** 2).sum()
        pairs = [(x, tx), (h, th), (c, tc)]
    else:
        out, tout = ours(x, h), theirs(tx, th)
        loss, tloss = (out ** 2).sum(), (tout ** 2).sum()
        pairs = [(x, tx), (h, th)]
    np.testing.assert_allclose(loss.item(), tloss.item(), **TOL)
    loss.backward()
    tloss.backward()
    _check_grads(ours, theirs, pairs)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masks", ["none", "bool", "float", "padding", "both", "per_head"])
def test_multihead_attention_matches_torch(batch_first, masks):
    rng = np.random.default_rng(3)
    E, H, L, S, N = 8, 2, 4, 5, 3
    theirs = torch.nn.MultiheadAttention(E, H, batch_first=batch_first).double()
    ours = nn.MultiheadAttention(E, H, batch_first=batch_first, dtype=tg.float64)
    _load(ours, theirs)
    shape = (lambda n: (N, n, E)) if batch_first else (lambda n: (n, N, E))
    q, tq = _pair(rng, shape(L))
    k, tk = _pair(rng, shape(S))
    v, tv = _pair(rng, shape(S))
    kw = {}
    keep_first = np.zeros((L, S), bool)      # key 0 is never masked: no row is fully masked
    if masks in ("bool", "both"):
        m = rng.random((L, S)) > 0.6
        m[:, 0] = False
        kw["attn_mask"] = m
    if masks == "float":
        kw["attn_mask"] = rng.standard_normal((L, S))
    if masks == "per_head":
        kw["attn_mask"] = rng.standard_normal((N * H, L, S))
    if masks in ("padding", "both"):
        pad = rng.random((N, S)) > 0.5
        pad[:, 0] = False
        kw["key_padding_mask"] = pad
    del keep_first
    out, w = ours(q, k, v, **kw)
    tout, tw = theirs(tq, tk, tv, **{k_: torch.tensor(m) for k_, m in kw.items()})
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **TOL)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), **TOL)
    g = rng.standard_normal(out.shape)
    (out * tg.Tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    _check_grads(ours, theirs, [(q, tq), (k, tk), (v, tv)])


def test_self_attention_per_head_weights_match_torch():
    rng = np.random.default_rng(4)
    theirs = torch.nn.MultiheadAttention(6, 3, batch_first=True).double()
    ours = nn.MultiheadAttention(6, 3, batch_first=True, dtype=tg.float64)
    _load(ours, theirs)
    x, tx = _pair(rng, (2, 4, 6))
    causal = np.triu(np.ones((4, 4), bool), 1)
    out, w = ours(x, x, x, attn_mask=causal, average_attn_weights=False, is_causal=True)
    tout, tw = theirs(tx, tx, tx, attn_mask=torch.tensor(causal), average_attn_weights=False,
                      is_causal=True)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **TOL)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), **TOL)
    out.sum().backward()
    tout.sum().backward()
    _check_grads(ours, theirs, [(x, tx)])


@pytest.mark.parametrize("mask", ["none", "causal", "bool", "float"])
def test_scaled_dot_product_attention_matches_torch(mask):
    rng = np.random.default_rng(5)
    q, tq = _pair(rng, (2, 3, 4, 5))
    k, tk = _pair(rng, (2, 3, 6, 5))
    v, tv = _pair(rng, (2, 3, 6, 2))
    kw, tkw = {}, {}
    if mask == "causal":
        kw = tkw = {"is_causal": True}
    elif mask == "bool":
        m = rng.random((4, 6)) > 0.5
        m[:, 0] = True
        kw, tkw = {"attn_mask": m}, {"attn_mask": torch.tensor(m)}
    elif mask == "float":
        m = rng.standard_normal((4, 6))
        kw, tkw = {"attn_mask": m}, {"attn_mask": torch.tensor(m)}
    out = F.scaled_dot_product_attention(q, k, v, **kw)
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **tkw)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **TOL)
    out.sum().backward()
    tout.sum().backward()
    for a, b in ((q, tq), (k, tk), (v, tv)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **TOL)


def test_layer_norm_embedding_and_activations_match_torch():
    rng = np.random.default_rng(6)
    theirs, ours = torch.nn.LayerNorm((3, 4)).double(), nn.LayerNorm((3, 4), dtype=tg.float64)
    with torch.no_grad():
        theirs.weight.normal_(), theirs.bias.normal_()
    _load(ours, theirs)
    x, tx = _pair(rng, (2, 3, 4))
    np.testing.assert_allclose(ours(x).numpy(), theirs(tx).detach().numpy(), **TOL)
    (ours(x) ** 3).sum().backward()
    (theirs(tx) ** 3).sum().backward()
    _check_grads(ours, theirs, [(x, tx)])

    te, oe = torch.nn.Embedding(6, 3, padding_idx=2).double(), nn.Embedding(6, 3, padding_idx=2,
                                                                             dtype=tg.float64)
    _load(oe, te)
    idx = np.array([[0, 2, 5], [5, 5, 1]])
    out, tout = oe(tg.Tensor(idx)), te(torch.tensor(idx))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **TOL)
    (out ** 2).sum().backward()
    (tout ** 2).sum().backward()
    _check_grads(oe, te, [])

    for ours_f, theirs_f in ((lambda t: F.gelu(t), torch.nn.functional.gelu),
                             (lambda t: F.gelu(t, approximate="tanh"),
                              lambda t: torch.nn.functional.gelu(t, approximate="tanh")),
                             (F.silu, torch.nn.functional.silu)):
        a, ta = _pair(rng, (50,))
        a.data[:] *= 3
        ta.data[:] *= 3
        np.testing.assert_allclose(ours_f(a).numpy(), theirs_f(ta).detach().numpy(),
                                   rtol=1e-12, atol=1e-14)
        ours_f(a).sum().backward()
        theirs_f(ta).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, float("inf")])
@pytest.mark.parametrize("max_norm", [0.1, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(7)
    grads = [rng.standard_normal(s) for s in ((3, 4), (5,), ())]
    ours = [tg.Tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = tg.Tensor(g.copy()), torch.tensor(g.copy())
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, tg.Tensor) and total.ndim == 0
    np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-12)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)
    nn.utils.clip_grad_value_(ours, 0.01)
    torch.nn.utils.clip_grad_value_(theirs, 0.01)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)
