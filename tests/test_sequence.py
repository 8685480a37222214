"""Sequence ops and layers on their own (no PyTorch needed): values, gradients, PyTorch's parameter
names and shapes, the fused LSTM against its cell, and the errors bad input gets."""
import math

import numpy as np
import pytest

import tinygrad_ko as tg
from tinygrad_ko import nn
from tinygrad_ko.errors import (DTypeError, IndexOutOfRangeError, OpError, ShapeError,
                                UsageError)
from tinygrad_ko.gradcheck import gradcheck, gradgradcheck
from tinygrad_ko.nn import functional as F


# -- ops ----------------------------------------------------------------------------------------
def test_embedding_rows_and_repeated_index_gradients():
    w = tg.Tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    idx = tg.Tensor(np.array([[1, 1], [3, 1]]))
    out = F.embedding(idx, w)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy()[1, 0], [9, 10, 11])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], [0, 3, 0, 1])   # row 1 used 3 times


def test_embedding_padding_row_gets_no_gradient():
    layer = nn.Embedding(5, 2, padding_idx=-1)
    assert layer.padding_idx == 4
    np.testing.assert_array_equal(layer.weight.numpy()[4], [0, 0])
    layer(tg.Tensor(np.array([4, 4, 0]))).sum().backward()
    np.testing.assert_array_equal(layer.weight.grad.numpy()[4], [0, 0])
    np.testing.assert_array_equal(layer.weight.grad.numpy()[0], [1, 1])


def test_embedding_errors_name_the_table():
    layer = nn.Embedding(5, 2)
    with pytest.raises(IndexOutOfRangeError, match=r"index 5 .* 5 rows"):
        layer(tg.Tensor(np.array([0, 5])))
    with pytest.raises(IndexOutOfRangeError, match="index -1"):
        layer(tg.Tensor(np.array([-1])))
    with pytest.raises(OpError, match=r"Embedding\(5, 2\): expects integer indices"):
        layer(tg.Tensor([0.0, 1.0]))
    with pytest.raises(IndexOutOfRangeError, match="padding_idx"):
        nn.Embedding(5, 2, padding_idx=5)


def test_embedding_large_table_uses_the_scatter_path():
    w = tg.Tensor(np.zeros((20000, 2), np.float32), requires_grad=True)
    idx = np.array([3] * 900 + [19999] * 100)
    F.embedding(tg.Tensor(idx), w).sum().backward()
    assert w.grad.numpy()[3, 0] == 900 and w.grad.numpy()[19999, 1] == 100


def test_layer_norm_normalises_each_row():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5)) * 4 + 2
    y = F.layer_norm(tg.Tensor(x), (5,)).numpy()
    ref = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, ref, rtol=1e-12)
    assert F.layer_norm(tg.Tensor(x.astype(np.float32)), 5).dtype == np.float32


def test_layer_norm_errors():
    with pytest.raises(ShapeError, match=r"normalized_shape \(4,\)"):
        F.layer_norm(tg.randn(2, 3), (4,))
    with pytest.raises(ShapeError, match=r"LayerNorm\(\(3, 4\)\): input of shape \(2, 4\)"):
        nn.LayerNorm((3, 4))(tg.randn(2, 4))
    with pytest.raises(ShapeError, match="weight has shape"):
        F.layer_norm(tg.randn(2, 3), (3,), tg.ones(4))


def test_gelu_and_silu_values():
    xs = np.linspace(-5, 5, 41)
    exact = [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in xs]
    np.testing.assert_allclose(F.gelu(tg.Tensor(xs)).numpy(), exact, rtol=1e-12, atol=1e-14)
    c = math.sqrt(2 / math.pi)
    tanh_form = 0.5 * xs * (1 + np.tanh(c * (xs + 0.044715 * xs ** 3)))
    np.testing.assert_allclose(F.gelu(tg.Tensor(xs), approximate="tanh").numpy(), tanh_form,
                               rtol=1e-13)
    np.testing.assert_allclose(F.silu(tg.Tensor(xs)).numpy(), xs / (1 + np.exp(-xs)), rtol=1e-13)
    big = tg.Tensor(np.array([-1e4, 1e4], np.float32))
    np.testing.assert_array_equal(F.gelu(big).numpy(), [0, 1e4])      # no overflow, no nan
    np.testing.assert_array_equal(F.silu(big).numpy(), [0, 1e4])
    with pytest.raises(OpError, match="approximate"):
        nn.GELU("fast")


def test_tril_triu():
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(tg.tril(x).numpy(), np.tril(x))
    np.testing.assert_array_equal(tg.triu(tg.Tensor(x), 1).numpy(), np.triu(x, 1))
    t = tg.Tensor(x, requires_grad=True)
    tg.tril(t, -1).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.tril(np.ones_like(x), -1))
    with pytest.raises(ShapeError, match="tril: needs a tensor of at least 2 dims"):
        tg.tril(tg.ones(3))


def test_causal_attention_equals_explicit_mask_and_ignores_the_future():
    rng = np.random.default_rng(1)
    q, k, v = (tg.Tensor(rng.standard_normal((2, 5, 4))) for _ in range(3))
    a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    b = F.scaled_dot_product_attention(q, k, v, attn_mask=np.tril(np.ones((5, 5), bool)))
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-13)
    v2 = v.numpy().copy()
    v2[:, 3:] = 100                                   # change the future: the past is unchanged
    c = F.scaled_dot_product_attention(q, k, tg.Tensor(v2), is_causal=True)
    np.testing.assert_allclose(a.numpy()[:, :3], c.numpy()[:, :3], rtol=1e-13)


def test_attention_errors():
    q = tg.randn(2, 3, 4)
    with pytest.raises(ShapeError, match="do not fit"):
        F.scaled_dot_product_attention(q, tg.randn(2, 3, 5), tg.randn(2, 3, 4))
    with pytest.raises(ShapeError, match=r"attn_mask of shape \(2, 2\)"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((2, 2), bool))
    with pytest.raises(DTypeError, match="attn_mask must be bool"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), np.int64))
    with pytest.raises(OpError, match="not both"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), bool), is_causal=True)


# -- recurrent layers ------------------------------------------------------------------------------
def test_parameter_names_and_shapes_are_pytorchs():
    m = nn.LSTM(10, 20, num_layers=2)
    shapes = {n: p.shape for n, p in m.named_parameters()}
    assert shapes == {"weight_ih_l0": (80, 10), "weight_hh_l0": (80, 20), "bias_ih_l0": (80,),
                      "bias_hh_l0": (80,), "weight_ih_l1": (80, 20), "weight_hh_l1": (80, 20),
                      "bias_ih_l1": (80,), "bias_hh_l1": (80,)}
    assert nn.GRU(3, 4, bias=False).weight_ih_l0.shape == (12, 3)
    assert "weight_hh_l0_reverse" in dict(nn.RNN(3, 4, bidirectional=True).named_parameters())
    k = 1 / math.sqrt(20)
    assert all(np.abs(p.numpy()).max() <= k for p in m.parameters())
    mha = nn.MultiheadAttention(8, 2)
    assert sorted(mha.state_dict()) == ["in_proj_bias", "in_proj_weight", "out_proj.bias",
                                        "out_proj.weight"]


def test_fused_lstm_equals_its_cell_step_by_step():
    tg.manual_seed(0)
    lstm = nn.LSTM(3, 4, dtype=tg.float64)
    cell = nn.LSTMCell(3, 4, dtype=tg.float64)
    cell.load_state_dict({k[:-3]: v for k, v in lstm.state_dict().items()})
    x = tg.Tensor(np.random.default_rng(2).standard_normal((6, 2, 3)), requires_grad=True)
    out, (h, c) = lstm(x)
    hc = None
    for t in range(6):
        hc = cell(x[t], hc)
        np.testing.assert_allclose(out.numpy()[t], hc[0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(c.numpy()[0], hc[1].numpy(), rtol=1e-12)


def test_lstm_second_derivatives():
    """create_graph through the fused LSTM op: its Tensor backward is differentiable again."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 1, 2))
    h0, c0 = rng.standard_normal((1, 2)), rng.standard_normal((1, 2))
    w_ih, w_hh = rng.standard_normal((8, 2)) * 0.5, rng.standard_normal((8, 2)) * 0.5
    fn = lambda *a: tg.ops.lstm_sequence(*a)[0]  # noqa: E731
    assert gradcheck(fn, [x, h0, c0, w_ih, w_hh])
    assert gradgradcheck(fn, [x, h0, c0, w_ih, w_hh])


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_recurrent_gradients_against_the_oracle(kind):
    tg.manual_seed(1)
    layer = getattr(nn, kind)(2, 3, num_layers=2, batch_first=True, dtype=tg.float64)
    x = np.random.default_rng(4).standard_normal((2, 4, 2))
    params = list(layer.parameters())
    assert gradcheck(lambda x_, *p: layer(x_)[0], [x] + params)


def test_recurrent_input_errors_name_the_layer():
    lstm = nn.LSTM(3, 4)
    with pytest.raises(ShapeError, match=r"LSTM: expects input of shape \(T, N, 3\)"):
        lstm(tg.randn(2, 3, 4, 5))
    with pytest.raises(ShapeError, match=r"LSTM\(input_size=3\): input of shape \(5, 2, 4\)"):
        lstm(tg.randn(5, 2, 4))
    with pytest.raises(ShapeError, match=r"h_0 has shape \(2, 2, 4\), expected \(1, 2, 4\)"):
        lstm(tg.randn(5, 2, 3), (tg.zeros(2, 2, 4), tg.zeros(1, 2, 4)))
    with pytest.raises(ShapeError, match=r"GRUCell\(input_size=3\)"):
        nn.GRUCell(3, 4)(tg.randn(2, 5))
    with pytest.raises(OpError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(OpError, match="hidden_size"):
        nn.GRU(3, 0)


def test_batch_first_unbatched_and_dropout():
    tg.manual_seed(2)
    gru = nn.GRU(3, 4, num_layers=2, batch_first=True, dropout=0.5)
    x = tg.randn(2, 5, 3)
    out, h = gru(x)
    assert out.shape == (2, 5, 4) and h.shape == (2, 2, 4)
    one, h1 = gru.eval()(x[0])
    assert one.shape == (5, 4) and h1.shape == (2, 4)
    np.testing.assert_allclose(one.numpy(), gru(x)[0].numpy()[0], rtol=1e-5)   # eval: no dropout
    assert gru(x)[0].numpy().tolist() == gru(x)[0].numpy().tolist()
    rnn = nn.RNN(3, 4, nonlinearity="relu")
    assert (rnn(tg.randn(6, 2, 3))[0].numpy() >= 0).all()


def test_multihead_attention_behaviour_and_errors():
    tg.manual_seed(3)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = tg.randn(2, 5, 8)
    out, w = mha(x, x, x)
    assert out.shape == (2, 5, 8) and w.shape == (2, 5, 5)
    np.testing.assert_allclose(w.numpy().sum(-1), 1, rtol=1e-5)
    pad = np.zeros((2, 5), bool)
    pad[:, 3:] = True
    _, w = mha(x, x, x, key_padding_mask=pad, average_attn_weights=False)
    assert w.shape == (2, 2, 5, 5) and (w.numpy()[..., 3:] == 0).all()
    assert mha(x, x, x, need_weights=False)[1] is None
    assert mha(x[0], x[0], x[0])[0].shape == (5, 8)                    # unbatched
    with pytest.raises(OpError, match="divisible"):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(ShapeError, match=r"attn_mask of shape \(4, 4\)"):
        mha(x, x, x, attn_mask=np.zeros((4, 4), bool))
    with pytest.raises(ShapeError, match=r"query of shape \(2, 5, 6\)"):
        mha(tg.randn(2, 5, 6), x, x)
    with pytest.raises(UsageError, match="is_causal"):
        mha(x, x, x, is_causal=True)


# -- gradient clipping -----------------------------------------------------------------------------
def test_clip_grad_norm_scales_and_returns_the_total_norm():
    a, b = tg.zeros(2, requires_grad=True), tg.zeros(1, requires_grad=True)
    a.grad, b.grad = tg.Tensor([3.0, 0.0]), tg.Tensor([4.0])
    total = nn.utils.clip_grad_norm_([a, b], 1.0)
    assert isinstance(total, tg.Tensor) and total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([a.grad.numpy(), b.grad.numpy()]),
                               [0.6, 0, 0.8], rtol=1e-5)
    assert nn.utils.clip_grad_norm_([a], 10.0).item() == pytest.approx(0.6, rel=1e-5)
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0], rtol=1e-5)    # under max: unchanged
    assert nn.utils.clip_grad_norm_([tg.zeros(2, requires_grad=True)], 1.0).item() == 0.0
    a.grad = tg.Tensor([np.inf, 0.0])
    with pytest.raises(OpError, match="inf"):
        nn.utils.clip_grad_norm_(a, 1.0, error_if_nonfinite=True)
    with pytest.raises(OpError, match="norm_type"):
        nn.utils.clip_grad_norm_(b, 1.0, norm_type=0)
    nn.utils.clip_grad_value_(b, 0.5)
    assert b.grad.item() == pytest.approx(0.5)
    with pytest.raises(UsageError, match="expected Tensors"):
        nn.utils.clip_grad_norm_([1.0], 1.0)
