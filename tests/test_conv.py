"""Convolution and pooling against PyTorch (values and gradients, float64), and the edges: padding
that must never win a max, padding='same'/'valid', one image (C, H, W) without a batch axis,
adaptive average pooling, ties and NaN in max pooling, the channels-last fast path."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_ko as tg
from tinygrad_ko import nn
from tinygrad_ko.gradcheck import gradcheck, gradgradcheck
from tinygrad_ko.nn import functional as F

torch = pytest.importorskip("torch", reason="PyTorch is the reference for these tests")


def _t(a, grad=True):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def _copy_params(ours, theirs):
    with torch.no_grad():
        for (name, p), (tname, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert name == tname
            q.copy_(torch.from_numpy(p.numpy()))


# -- max pooling: padding never wins ----------------------------------------------------------------
def test_max_pool_padding_never_wins_over_minus_inf():
    x = np.full((1, 1, 4, 4), -np.inf)
    x[0, 0, 3, 3] = 1.0
    xt = tg.tensor(x, requires_grad=True)
    y = F.max_pool2d(xt, 3, stride=2, padding=1)
    ref = torch.nn.functional.max_pool2d(_t(x), 3, stride=2, padding=1)
    np.testing.assert_array_equal(y.numpy(), ref.detach().numpy())
    assert y.numpy()[0, 0, 0, 0] == -np.inf            # a window of -inf inputs and padding
    y.backward(tg.ones_like(y))
    xr = _t(x)
    torch.nn.functional.max_pool2d(xr, 3, stride=2, padding=1).backward(torch.ones(1, 1, 2, 2))
    np.testing.assert_array_equal(xt.grad.numpy(), xr.grad.numpy())
    assert xt.grad.numpy().sum() == 4                   # every window's gradient reached an input


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_max_pool_matches_torch(data):
    k = data.draw(st.integers(1, 3))
    stride = data.draw(st.integers(1, 3))
    pad = data.draw(st.integers(0, k // 2))
    h, w = data.draw(st.integers(k, 7)), data.draw(st.integers(k, 7))
    rng = np.random.default_rng(data.draw(st.integers(0, 100)))
    x = rng.permutation(2 * 3 * h * w).reshape(2, 3, h, w).astype(np.float64)   # no ties
    xt = tg.tensor(x, requires_grad=True)
    y = F.max_pool2d(xt, k, stride, pad)
    cot = rng.standard_normal(y.shape)
    y.backward(tg.tensor(cot))
    xr = _t(x)
    yr = torch.nn.functional.max_pool2d(xr, k, stride, pad)
    yr.backward(torch.from_numpy(cot))
    np.testing.assert_array_equal(y.numpy(), yr.detach().numpy())
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_max_pool_ties_go_to_the_first_and_nan_wins():
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, :, 2:] = [[1.0, np.nan], [2.0, 3.0]]
    xt = tg.tensor(x, requires_grad=True)
    y = F.max_pool2d(xt, 2)
    assert y.numpy()[0, 0, 0, 0] == 0 and np.isnan(y.numpy()[0, 0, 0, 1])
    y.sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy()[0, 0],
                                  [[1, 0, 0, 1], [0, 0, 0, 0]])   # first zero; the NaN


# -- conv2d: padding 'same' and 'valid', against PyTorch ---------------------------------------------
@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("kernel", [1, 2, 3, 4, (2, 3), (3, 4)])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv2d_string_padding_matches_torch(kernel, padding):
    tg.manual_seed(0)
    ours = nn.Conv2d(2, 3, kernel, padding=padding).double()
    theirs = torch.nn.Conv2d(2, 3, kernel, padding=padding, dtype=torch.float64)
    _copy_params(ours, theirs)
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 5))
    xt = tg.tensor(x, requires_grad=True)
    y = ours(xt)
    xr = _t(x)
    yr = theirs(xr)
    assert y.shape == tuple(yr.shape)
    if padding == "same":
        assert y.shape[2:] == (6, 5)
    np.testing.assert_allclose(y.numpy(), yr.detach().numpy(), rtol=1e-10, atol=1e-12)
    cot = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(tg.tensor(cot))
    yr.backward(torch.from_numpy(cot))
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-10,
                               atol=1e-12)
    assert gradcheck(lambda x_, w_: F.conv2d(x_, w_, padding=padding), [x, ours.weight.numpy()])


def test_conv2d_same_padding_needs_stride_1():
    with pytest.raises(tg.TinygradError, match="stride 1"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(tg.ShapeError, match="stride 1"):
        F.conv2d(tg.zeros(1, 1, 4, 4), tg.zeros(1, 1, 3, 3), stride=2, padding="same")
    with pytest.raises(tg.TinygradError, match="'same' or 'valid'"):
        nn.Conv2d(1, 1, 3, padding="full")
    assert "padding=same" in repr(nn.Conv2d(1, 1, 3, padding="same"))


# -- one image (C, H, W) --------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda m: m.Conv2d(3, 4, 3, padding=1), lambda m: m.MaxPool2d(2),
    lambda m: m.AvgPool2d(3, stride=2, padding=1), lambda m: m.AdaptiveAvgPool2d((2, 3))])
def test_unbatched_input_gives_unbatched_output(make):
    tg.manual_seed(0)
    ours, theirs = make(nn).double(), make(torch.nn).double()
    _copy_params(ours, theirs)
    x = np.random.default_rng(0).standard_normal((3, 6, 7))
    xt = tg.tensor(x, requires_grad=True)
    xr = _t(x)
    y, yr = ours(xt), theirs(xr)
    assert y.shape == tuple(yr.shape) and y.ndim == 3
    np.testing.assert_allclose(y.numpy(), yr.detach().numpy(), rtol=1e-10, atol=1e-12)
    y.sum().backward()
    yr.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-10, atol=1e-12)


# -- adaptive average pooling --------------------------------------------------------------------
@pytest.mark.parametrize("size,out", [((6, 8), (3, 4)), ((6, 8), 1), ((7, 5), (3, 2)),
                                      ((5, 5), (5, 5)), ((5, 6), (None, 4)), ((3, 4), (5, 6))])
def test_adaptive_avg_pool_matches_torch(size, out):
    x = np.random.default_rng(0).standard_normal((2, 3) + size)
    xt = tg.tensor(x, requires_grad=True)
    y = F.adaptive_avg_pool2d(xt, out)
    xr = _t(x)
    yr = torch.nn.functional.adaptive_avg_pool2d(xr, out)
    np.testing.assert_allclose(y.numpy(), yr.detach().numpy(), rtol=1e-12, atol=1e-12)
    cot = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(tg.tensor(cot))
    yr.backward(torch.from_numpy(cot))
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert gradgradcheck(lambda x_: F.adaptive_avg_pool2d(x_, out), [x])


def test_adaptive_avg_pool_module_and_errors():
    x = tg.randn(2, 3, 8, 8)
    y = nn.AdaptiveAvgPool2d(1)(x)
    assert y.shape == (2, 3, 1, 1) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy()[..., 0, 0], x.numpy().mean(axis=(2, 3)), rtol=1e-5)
    assert repr(nn.AdaptiveAvgPool2d((2, None))) == "AdaptiveAvgPool2d(output_size=(2, None))"
    with pytest.raises(tg.TinygradError, match="output_size"):
        nn.AdaptiveAvgPool2d(0)
    with pytest.raises(tg.ShapeError, match=r"expects \(N, C, H, W\) or \(C, H, W\)"):
        nn.AdaptiveAvgPool2d(2)(tg.zeros(4, 4))


# -- the fast path: a CNN's step against PyTorch's ----------------------------------------------------
def _cnn(m):
    return m.Sequential(m.Conv2d(1, 4, 3, padding=1), m.ReLU(), m.MaxPool2d(2),
                        m.Conv2d(4, 6, 3, padding=1), m.ReLU(), m.MaxPool2d(2),
                        m.Conv2d(6, 5, 2, stride=2), m.ReLU(), m.AvgPool2d(1),
                        m.Flatten(), m.Linear(5, 3))


def test_cnn_gradients_match_torch_through_the_channels_last_views():
    """conv outputs are channels-last views that ReLU, pooling and the next conv consume as
    they are; the whole net's gradients agree with PyTorch's."""
    tg.manual_seed(0)
    ours, theirs = _cnn(nn).double(), _cnn(torch.nn).double()
    _copy_params(ours, theirs)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1, 8, 8))
    t = rng.integers(0, 3, 3)
    loss = F.cross_entropy(ours(tg.tensor(x)), tg.tensor(t))
    loss.backward()
    ref = torch.nn.functional.cross_entropy(theirs(_t(x, grad=False)), torch.from_numpy(t))
    ref.backward()
    assert abs(loss.item() - ref.item()) < 1e-12
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)


def test_conv2d_float32_stays_float32_and_integer_input_is_converted():
    conv = nn.Conv2d(1, 2, 3)
    y = conv(tg.tensor(np.arange(25, dtype=np.int64).reshape(1, 1, 5, 5)))
    assert y.dtype == np.float32 and y.shape == (1, 2, 3, 3)
    y = conv(tg.randn(2, 1, 5, 5, requires_grad=True))
    y.sum().backward()
    assert conv.weight.grad.dtype == np.float32 and conv.bias.grad.dtype == np.float32


# -- conv2d's two backwards: per kernel offset, or both gradients from the windows of dy -----------
@pytest.mark.parametrize("c, o, kernel, stride, padding", [
    (3, 2, (3, 3), 1, 1), (3, 3, (3, 3), 1, 2), (4, 4, (2, 3), 1, (1, 2)), (3, 3, (1, 1), 1, 0),
    (2, 2, (3, 3), 1, 0),                                  # from the windows of dy (flipped)
    (2, 3, (3, 3), 1, 1), (3, 3, (3, 3), 1, 3), (3, 2, (3, 3), 2, 1), (2, 2, (2, 2), (1, 2), 1),
])                                                         # one product per offset
@pytest.mark.parametrize("channels_last", [True, False])
def test_conv2d_gradients_both_ways_match_torch(c, o, kernel, stride, padding, channels_last):
    from tinygrad_ko.ops import conv as C
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, c, 7, 6))
    if channels_last:    # as a conv's output is
        x = x.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)
    w = rng.standard_normal((o, c) + kernel)
    xt, wt = tg.tensor(x, requires_grad=True), tg.tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, stride=stride, padding=padding)
    cot = rng.standard_normal(y.shape)
    y.backward(tg.tensor(cot))
    xr, wr = _t(x), _t(w)
    torch.nn.functional.conv2d(xr, wr, stride=stride, padding=padding).backward(
        torch.from_numpy(cot))
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(wt.grad.numpy(), wr.grad.numpy(), rtol=1e-10, atol=1e-12)
    # the way not taken gives the same gradients too, where it applies at all
    pair = lambda v: (v, v) if isinstance(v, int) else v   # noqa: E731
    st_, pad = pair(stride), pair(padding)
    applies = st_ == (1, 1) and pad[0] < kernel[0] and pad[1] < kernel[1]
    assert C._flipped_pays(c, o, st_, kernel, pad) == (applies and o <= c)
    oh, ow = y.shape[2:]
    g2 = cot.transpose(0, 2, 3, 1).reshape(-1, o)
    w2 = w.transpose(2, 3, 1, 0).reshape(-1, o)
    gx = C._conv_input_grad(g2, w2, x.shape, kernel, st_, pad, oh, ow)
    np.testing.assert_allclose(gx, xr.grad.numpy(), rtol=1e-10, atol=1e-12)
    if applies:
        for need_x, need_w in [(True, True), (True, False), (False, True)]:
            gx, gw = C._flipped_grads(cot, x, w, pad, need_x, need_w)
            assert (gx is None) != need_x and (gw is None) != need_w
            if need_x:
                np.testing.assert_allclose(gx, xr.grad.numpy(), rtol=1e-10, atol=1e-12)
            if need_w:
                np.testing.assert_allclose(gw, wr.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv2d_flipped_backward_of_a_first_layer_and_an_empty_batch():
    """dy's windows give dW alone when x needs no gradient (a first layer), and an empty batch
    gives zero gradients, as PyTorch."""
    rng = np.random.default_rng(1)
    conv = nn.Conv2d(3, 2, 3, padding=1).double()
    x = tg.tensor(rng.standard_normal((2, 3, 5, 5)))
    conv(x).sum().backward()
    ref = torch.nn.Conv2d(3, 2, 3, padding=1).double()
    _copy_params(conv, ref)
    ref(_t(x.numpy(), grad=False)).sum().backward()
    np.testing.assert_allclose(conv.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-10)
    conv.zero_grad()
    conv(tg.zeros(0, 3, 5, 5, dtype=tg.float64)).sum().backward()
    assert conv.weight.grad.shape == (2, 3, 3, 3) and not conv.weight.grad.numpy().any()
