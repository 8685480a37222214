"""Layers and loss modules: gradients against the numerical oracle (float64, property tests over
shapes, strides and paddings), values against NumPy formulas, shape errors, initialisers."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_ko as tg
from tinygrad_ko import nn
from tinygrad_ko.gradcheck import gradcheck, gradgradcheck
from tinygrad_ko.testing import float_arrays, shapes


def check_layer(layer, x, second_order=False, **tol):
    """gradcheck (and gradgradcheck) of layer(x) w.r.t. x and every parameter, in float64."""
    layer.double()
    args = [x] + list(layer.parameters())
    fn = lambda x_, *params: layer(x_)  # noqa: E731  (gradcheck perturbs the parameters in place)
    assert gradcheck(fn, args, **tol)
    if second_order:
        assert gradgradcheck(fn, args, **tol)


# -- gradients ----------------------------------------------------------------------------------
@given(st.data(), shapes(max_dims=2), st.integers(1, 4), st.integers(1, 4), st.booleans())
def test_linear_gradients(data, batch, n_in, n_out, bias):
    x = data.draw(float_arrays(batch + (n_in,)))
    check_layer(nn.Linear(n_in, n_out, bias=bias), x, second_order=True)


@st.composite
def conv_cases(draw):
    k = draw(st.integers(1, 3))
    p = draw(st.integers(0, 1))
    s = draw(st.integers(1, 2))
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h = draw(st.integers(max(1, k - 2 * p), 5))
    w = draw(st.integers(max(1, k - 2 * p), 5))
    x = draw(float_arrays((n, c, h, w)))
    return nn.Conv2d(c, o, k, stride=s, padding=p, bias=draw(st.booleans())), x


@settings(max_examples=8)
@given(conv_cases())
def test_conv2d_gradients(case):
    layer, x = case
    check_layer(layer, x)


@settings(max_examples=3)
@given(conv_cases())
def test_conv2d_second_order(case):
    layer, x = case
    check_layer(layer, x, second_order=True)


def test_conv2d_rectangular_kernel_stride_padding():
    layer = nn.Conv2d(2, 2, (2, 3), stride=(2, 1), padding=(1, 0))
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5))
    assert layer(tg.tensor(x.astype(np.float32))).shape == (1, 2, 3, 3)
    check_layer(layer, x)


@st.composite
def pool_cases(draw, distinct):
    k = draw(st.integers(1, 3))
    stride = draw(st.sampled_from([None, 1, 2]))
    padding = draw(st.integers(0, k // 2))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(k, 5)),
             draw(st.integers(k, 5)))
    return k, stride, padding, draw(float_arrays(shape, distinct=distinct))


@settings(max_examples=8)
@given(pool_cases(distinct=True))
def test_max_pool_gradients(case):
    k, stride, padding, x = case
    check_layer(nn.MaxPool2d(k, stride, padding), x, second_order=True)


@settings(max_examples=8)
@given(pool_cases(distinct=False))
def test_avg_pool_gradients(case):
    k, stride, padding, x = case
    check_layer(nn.AvgPool2d(k, stride, padding), x, second_order=True)


@settings(max_examples=8)
@given(st.data(), st.sampled_from([(4, 3), (3, 2, 2), (2, 2, 3, 2)]), st.booleans(),
       st.booleans())
def test_batch_norm_gradients(data, shape, training, affine):
    layer = nn.BatchNorm2d(shape[1], affine=affine) if len(shape) == 4 else \
        nn.BatchNorm1d(shape[1], affine=affine)
    layer.double()
    layer.running_mean.numpy()[...] = data.draw(float_arrays((shape[1],), -1.0, 1.0))
    layer.running_var.numpy()[...] = data.draw(float_arrays((shape[1],), 0.5, 2.0))
    layer.train(training)
    x = data.draw(float_arrays(shape, distinct=True))   # distinct: the batch variance is not ~0
    check_layer(layer, x, second_order=True)


@given(st.data(), shapes(min_dims=1), st.sampled_from(
    ["relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax", "flatten", "identity"]))
def test_activation_gradients(data, shape, name):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    layer = {"relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(0.2), "sigmoid": nn.Sigmoid(),
             "tanh": nn.Tanh(), "softmax": nn.Softmax(dim), "log_softmax": nn.LogSoftmax(dim),
             "flatten": nn.Flatten(0), "identity": nn.Identity()}[name]
    x = data.draw(float_arrays(shape, avoid=(0.0,)))     # away from relu's kink
    check_layer(layer, x, second_order=True)


@given(float_arrays(shapes(min_dims=1)), st.sampled_from([0.0, 0.3, 0.5]))
def test_dropout_gradient_with_a_fixed_mask(x, p):
    layer = nn.Dropout(p)

    def fn(x_):
        tg.manual_seed(7)        # the same mask at every evaluation of the oracle
        return layer(x_)
    assert gradcheck(fn, [x])


@st.composite
def classification(draw, prob_targets):
    n, c = draw(st.integers(1, 4)), draw(st.integers(2, 4))
    logits = draw(float_arrays((n, c), -3.0, 3.0))
    if prob_targets:
        t = draw(float_arrays((n, c), 0.05, 1.0))
        return logits, t / t.sum(axis=1, keepdims=True)
    return logits, np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))


REDUCTION = st.sampled_from(["mean", "sum", "none"])


@given(st.booleans().flatmap(classification), REDUCTION, st.sampled_from([0.0, 0.1]))
def test_cross_entropy_loss_gradients(case, reduction, smoothing):
    logits, t = case
    loss = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)
    assert gradcheck(lambda z: loss(z, t), [logits])
    assert gradgradcheck(lambda z: loss(z, t), [logits])


@pytest.mark.parametrize("n, c", [(64, 3), (3, 64), (20, 20)])   # few classes / many / equal
@pytest.mark.parametrize("kind", ["index", "probs"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_the_float64_formula_in_both_layouts(n, c, kind, smoothing, reduction):
    """cross_entropy works on the class-major logits, made contiguous only when there are fewer
    classes than rows: both layouts give the textbook values and gradients (logits and targets)."""
    rng = np.random.default_rng(n * 100 + c)
    z = rng.normal(0, 3, (n, c)).astype(np.float32)
    if kind == "index":
        t = rng.integers(0, c, n)
        q = np.eye(c)[t]
    else:
        t = rng.random((n, c)).astype(np.float32)
        q = t.astype(np.float64)
    q = (1 - smoothing) * q + smoothing / c
    z64 = z.astype(np.float64)
    logp = z64 - z64.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    per = -(q * logp).sum(1)
    scale = 1.0 / n if reduction == "mean" else 1.0
    ref = per.mean() if reduction == "mean" else per.sum() if reduction == "sum" else per
    w = rng.random(n) if reduction == "none" else np.ones(n)   # upstream weights, not all ones
    zt = tg.Tensor(z, requires_grad=True)
    tt = tg.Tensor(t, requires_grad=kind == "probs")
    loss = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)(zt, tt)
    np.testing.assert_allclose(loss.numpy(), ref, rtol=1e-5, atol=1e-6)
    (loss * tg.Tensor(w.astype(np.float32)) if reduction == "none" else loss).sum().backward()
    gz = (np.exp(logp) * q.sum(1, keepdims=True) - q) * (scale * w)[:, None]
    np.testing.assert_allclose(zt.grad.numpy(), gz, rtol=1e-4, atol=1e-6)
    if kind == "probs":
        gt = -logp * ((1 - smoothing) * scale * w)[:, None]
        np.testing.assert_allclose(tt.grad.numpy(), gt, rtol=1e-4, atol=1e-5)


@given(classification(prob_targets=False), REDUCTION)
def test_nll_loss_gradients(case, reduction):
    logits, t = case
    loss = nn.NLLLoss(reduction=reduction)
    assert gradcheck(lambda z: loss(nn.LogSoftmax(1)(z), t), [logits])
    assert gradgradcheck(lambda z: loss(nn.LogSoftmax(1)(z), t), [logits])


@given(st.data(), shapes(), REDUCTION)
def test_regression_and_binary_loss_gradients(data, shape, reduction):
    y, t = data.draw(float_arrays(shape)), data.draw(float_arrays(shape))
    p, q = data.draw(float_arrays(shape, 0.1, 0.9)), data.draw(float_arrays(shape, 0.0, 1.0))
    for fn, args in ((nn.MSELoss(reduction), [y, t]), (nn.BCELoss(reduction), [p, q]),
                     (nn.BCEWithLogitsLoss(reduction), [y, q])):
        assert gradcheck(fn, args)
        assert gradgradcheck(fn, args)


def test_a_whole_cnn_in_fast_mode():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3))
    model.double()
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4))
    t = np.array([0, 2])
    params = list(model.parameters())
    assert gradcheck(lambda *ps: nn.CrossEntropyLoss()(model(x), t), params, fast_mode=True)


# -- values --------------------------------------------------------------------------------------
def test_linear_matches_pytorch_layout():
    layer = nn.Linear(3, 2)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    expected = x @ layer.weight.numpy().T + layer.bias.numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-6)
    assert layer(np.ones((4, 5, 3), np.float32)).shape == (4, 5, 2)   # any leading dims
    assert nn.Linear(3, 2, bias=False).bias is None


def test_linear_weight_is_the_books_w_transposed_and_its_gradient_shares_the_layout():
    """weight (out, in) is stored as the transpose of a row-major (in, out) array, and backward
    writes the weight's gradient in the weight's own layout; a weight assigned in the other
    layout gets its gradient in that layout. Values are the same either way."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    t = np.array([0, 2, 1, 2, 0])
    layer = nn.Linear(4, 3)
    assert layer.weight.shape == (3, 4) and layer.weight.numpy().T.flags.c_contiguous
    c_layer = nn.Linear(4, 3)
    c_layer.weight = nn.Parameter(np.ascontiguousarray(layer.weight.numpy()))
    c_layer.bias.numpy()[...] = layer.bias.numpy()
    for m in (layer, c_layer):
        nn.functional.cross_entropy(m(x), t).backward()
    for m in (layer, c_layer):
        w, g = m.weight.numpy(), m.weight.grad.numpy()
        assert (g.flags.c_contiguous, g.flags.f_contiguous) == (w.flags.c_contiguous, w.flags.f_contiguous)
        assert g.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.grad.numpy(), c_layer.weight.grad.numpy())
    # the book's formula, dW = x^T dy with dy = (softmax - one_hot) / N
    z = x @ layer.weight.numpy().T + layer.bias.numpy()
    y = np.exp(z - z.max(1, keepdims=True))
    y /= y.sum(1, keepdims=True)
    y[np.arange(5), t] -= 1
    np.testing.assert_allclose(layer.weight.grad.numpy(), (x.T @ (y / 5)).T, rtol=1e-5, atol=1e-6)


def test_batch_norm_training_and_running_statistics():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3)).astype(np.float32) * 2 + 1
    bn = nn.BatchNorm1d(3)
    bn.weight.numpy()[...] = [1.0, 2.0, 3.0]
    bn.bias.numpy()[...] = [0.0, 0.5, -1.0]
    y = bn(x).numpy()
    mean, var = x.mean(0), x.var(0)
    expected = (x - mean) / np.sqrt(var + 1e-5) * [1.0, 2.0, 3.0] + [0.0, 0.5, -1.0]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mean, rtol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-6)
    assert int(bn.num_batches_tracked.item()) == 1
    bn.eval()
    rm, rv = bn.running_mean.numpy().copy(), bn.running_var.numpy().copy()
    expected = (x - rm) / np.sqrt(rv + 1e-5) * [1.0, 2.0, 3.0] + [0.0, 0.5, -1.0]
    np.testing.assert_allclose(bn(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(bn.running_mean.numpy(), rm)      # eval does not update
    assert int(bn.num_batches_tracked.item()) == 1


def test_batch_norm_variants():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((4, 2)), rng.standard_normal((6, 2))
    cumulative = nn.BatchNorm1d(2, momentum=None).double()
    cumulative(a)
    cumulative(b)
    np.testing.assert_allclose(cumulative.running_mean.numpy(), (a.mean(0) + b.mean(0)) / 2)
    free = nn.BatchNorm1d(2, affine=False, track_running_stats=False).double()
    assert list(free.parameters()) == [] and list(free.buffers()) == []
    free.eval()                                   # no running stats: batch statistics always
    np.testing.assert_allclose(free(a).numpy(), (a - a.mean(0)) / np.sqrt(a.var(0) + 1e-5))
    # BatchNorm1d on (N, C, L) normalises over N and L, as BatchNorm2d over N, H, W
    x = rng.standard_normal((3, 2, 5))
    y1 = nn.BatchNorm1d(2).double()(x).numpy()
    y2 = nn.BatchNorm2d(2).double()(x.reshape(3, 2, 5, 1)).numpy().reshape(3, 2, 5)
    np.testing.assert_allclose(y1, y2)
    bn = nn.BatchNorm1d(2)
    with pytest.raises(tg.ShapeError, match=r"BatchNorm1d\(2\).*more than 1 value"):
        bn(np.ones((1, 2), np.float32))
    assert int(bn.num_batches_tracked.item()) == 0      # a failed call changes nothing
    bn(a.astype(np.float32))
    bn.reset_running_stats()
    assert bn.running_var.numpy().tolist() == [1.0, 1.0] and bn.num_batches_tracked.item() == 0


def test_dropout_train_and_eval():
    x = tg.ones(100, 100)
    drop = nn.Dropout(0.25)
    tg.manual_seed(3)
    y = drop(x).numpy()
    tg.manual_seed(3)
    np.testing.assert_array_equal(drop(x).numpy(), y)            # repeatable with manual_seed
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02
    drop.eval()
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())
    assert nn.Dropout(0.0)(x) is x


def test_activation_and_loss_values():
    z = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    t = np.array([2, 1])
    np.testing.assert_allclose(nn.ReLU()(z).numpy(), np.maximum(z, 0))
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(z).numpy(), np.where(z > 0, z, 0.1 * z))
    np.testing.assert_allclose(nn.Sigmoid()(z).numpy(), 1 / (1 + np.exp(-z)))
    sm = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(nn.Softmax(dim=1)(z).numpy(), sm)
    np.testing.assert_allclose(nn.Softmax(axis=0)(z).numpy(),
                               np.exp(z) / np.exp(z).sum(0, keepdims=True))
    np.testing.assert_allclose(nn.LogSoftmax()(z).numpy(), np.log(sm))
    ce = -np.log(sm[[0, 1], t])
    np.testing.assert_allclose(nn.CrossEntropyLoss()(z, t).item(), ce.mean())
    np.testing.assert_allclose(nn.CrossEntropyLoss(reduction="sum")(z, t).item(), ce.sum())
    np.testing.assert_allclose(nn.CrossEntropyLoss(reduction="none")(z, t).numpy(), ce)
    np.testing.assert_allclose(nn.CrossEntropyLoss()(z, np.eye(3)[t]).item(), ce.mean())
    np.testing.assert_allclose(nn.NLLLoss()(np.log(sm), t).item(), ce.mean())
    np.testing.assert_allclose(nn.MSELoss()(z, np.zeros_like(z)).item(), (z ** 2).mean())
    p = 1 / (1 + np.exp(-z))
    q = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    bce = -(q * np.log(p) + (1 - q) * np.log(1 - p)).mean()
    np.testing.assert_allclose(nn.BCELoss()(p, q).item(), bce)
    np.testing.assert_allclose(nn.BCEWithLogitsLoss()(z, q).item(), bce)
    assert repr(nn.CrossEntropyLoss(reduction="sum", label_smoothing=0.1)) == \
        "CrossEntropyLoss(reduction='sum', label_smoothing=0.1)"


# -- errors ----------------------------------------------------------------------------------------
def test_linear_shape_errors_name_the_layer_and_hint():
    fc = nn.Linear(784, 50)
    with pytest.raises(tg.ShapeError, match=re_escape(
            "Linear(784 -> 50) got input of shape (32, 28, 28): expected (..., 784); flatten it "
            "first (x.reshape(32, -1) or nn.Flatten())?")):
        fc(np.zeros((32, 28, 28), np.float32))
    with pytest.raises(tg.ShapeError, match=r"transposed\? x\.T has shape \(32, 784\)"):
        fc(np.zeros((784, 32), np.float32))
    with pytest.raises(tg.ShapeError, match="last dimension must be in_features=784"):
        fc(np.zeros((32, 100), np.float32))
    with pytest.raises(ValueError):                   # still a ValueError for generic code
        fc(np.zeros(3, np.float32))


def re_escape(s):
    import re
    return re.escape(s)


def test_conv_and_pool_shape_errors_hint_the_fix():
    conv = nn.Conv2d(1, 16, 3)
    cases = [((32, 784), "Conv2d(1 -> 16) expects (N, 1, H, W) or (1, H, W), got (32, 784): "
                         "reshape it to (32, 1, 28, 28)?"),
             ((32, 28, 28), "add the channel axis: x.reshape(32, 1, 28, 28)"),
             ((32, 2, 28, 28), "Conv2d(1 -> 16) expects (N, 1, H, W) or (1, H, W), got "
                               "(32, 2, 28, 28)")]
    for shape, msg in cases:
        with pytest.raises(tg.ShapeError, match=re_escape(msg)):
            conv(np.zeros(shape, np.float32))
    rgb = nn.Conv2d(3, 4, 3)
    with pytest.raises(tg.ShapeError, match="channels last"):
        rgb(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(tg.ShapeError, match=r"Conv2d\(3 -> 4\).*window does not fit"):
        rgb(np.zeros((1, 3, 2, 2), np.float32))
    with pytest.raises(tg.ShapeError, match=r"MaxPool2d expects \(N, C, H, W\) or \(C, H, W\), "
                                            r"got \(8, 8\)"):
        nn.MaxPool2d(2)(np.zeros((8, 8), np.float32))
    with pytest.raises(tg.ShapeError, match=r"AvgPool2d:.*window does not fit"):
        nn.AvgPool2d(3)(np.zeros((1, 1, 2, 2), np.float32))


def test_flatten_error_names_the_layer():
    with pytest.raises(tg.AxisError, match=re_escape(
            "Flatten(start_dim=1, end_dim=-1) got input of shape (3,)")):
        nn.Flatten()(tg.ones(3))
    assert nn.Flatten()(tg.ones(2, 3, 4)).shape == (2, 12)
    assert nn.Flatten(0, 1)(tg.ones(2, 3, 4)).shape == (6, 4)


def test_batch_norm_shape_errors():
    with pytest.raises(tg.ShapeError, match=re_escape(
            "BatchNorm1d(50) expects (N, 50) or (N, 50, L), got (32, 100): 100 features")):
        nn.BatchNorm1d(50)(np.zeros((32, 100), np.float32))
    with pytest.raises(tg.ShapeError, match="use nn.BatchNorm2d"):
        nn.BatchNorm1d(3)(np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(tg.ShapeError, match=r"BatchNorm2d\(3\).*use nn.BatchNorm1d"):
        nn.BatchNorm2d(3)(np.zeros((2, 3), np.float32))
    with pytest.raises(tg.ShapeError, match="4 channels, expected num_features=3"):
        nn.BatchNorm2d(3)(np.zeros((2, 4, 2, 2), np.float32))


@pytest.mark.parametrize("make, msg", [
    (lambda: nn.Linear(-1, 2), "in_features must be an int >= 0"),
    (lambda: nn.Linear(2.5, 2), "in_features"),
    (lambda: nn.Linear(2, 2, dtype=np.int32), "floating point"),
    (lambda: nn.Conv2d(1, 2, 0), "kernel_size must be an int or a pair"),
    (lambda: nn.Conv2d(1, 2, (2, 2, 2)), "kernel_size"),
    (lambda: nn.Conv2d(1, 2, 3, stride=0), "stride"),
    (lambda: nn.MaxPool2d(2, padding=2), "at most half"),
    (lambda: nn.Dropout(1.5), "p must be a probability"),
    (lambda: nn.BatchNorm1d(3, momentum=2.0), "momentum"),
    (lambda: nn.BatchNorm1d(3, eps=0.0), "eps"),
    (lambda: nn.CrossEntropyLoss(reduction="avg"), "reduction must be one of"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=2.0), "label_smoothing"),
    (lambda: nn.Softmax(0, axis=1), "either dim or axis"),
])
def test_bad_hyperparameters(make, msg):
    with pytest.raises(tg.OpError, match=re_escape(msg)):
        make()


# -- initialisation ----------------------------------------------------------------------------
def test_default_init_is_pytorchs_uniform_1_over_sqrt_fan_in():
    tg.manual_seed(0)
    for layer, fan_in in ((nn.Linear(400, 300), 400), (nn.Conv2d(8, 64, (5, 3)), 8 * 15)):
        k = 1 / math.sqrt(fan_in)
        for p in (layer.weight, layer.bias):
            w = p.numpy()
            assert p.dtype == np.float32 and np.abs(w).max() <= k
            assert np.abs(w).max() > 0.9 * k
        w = layer.weight.numpy()
        assert abs(w.std() - k / math.sqrt(3)) < 0.05 * k        # the std of U(-k, k)
    tg.manual_seed(5)
    a = nn.Linear(4, 3)
    tg.manual_seed(5)
    b = nn.Linear(4, 3)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    assert nn.Linear(3, 2, dtype=np.float64).weight.dtype == np.float64


def test_initialisers_fill_in_place_keep_dtype_and_use_the_generator():
    init = nn.init
    fills = [(init.zeros_, {}), (init.ones_, {}), (init.constant_, {"val": 0.5}),
             (init.uniform_, {"a": -2.0, "b": -1.0}), (init.normal_, {"mean": 3.0, "std": 0.1}),
             (init.xavier_uniform_, {}), (init.xavier_normal_, {"gain": 2.0}),
             (init.kaiming_uniform_, {"mode": "fan_out"}), (init.kaiming_normal_, {"a": 0.1})]
    for dtype in (np.float32, np.float64):
        for fn, kw in fills:
            t = nn.Parameter(np.full((4, 3, 2), 9.0, dtype=dtype))
            arr, v = t.numpy(), t._version[0]
            assert fn(t, **kw) is t
            assert t.dtype == dtype and t.numpy() is arr and t._version[0] == v + 1
            assert not (t.numpy() == 9.0).any(), fn.__name__
            if "generator" in fn.__code__.co_varnames:
                a = fn(tg.zeros(4, 3, 2), generator=np.random.default_rng(1), **kw).numpy()
                b = fn(tg.zeros(4, 3, 2), generator=np.random.default_rng(1), **kw).numpy()
                np.testing.assert_array_equal(a, b)
    u = init.uniform_(tg.zeros(1000), -2.0, -1.0).numpy()
    assert u.min() >= -2.0 and u.max() < -1.0


def test_initialiser_statistics_follow_the_fans():
    g = np.random.default_rng(0)
    init = nn.init
    assert init._calculate_fan_in_and_fan_out(tg.zeros(16, 8, 3, 3)) == (72, 144)
    w = tg.zeros(256, 512)                        # Linear layout: (out, in), fan_in = 512
    assert abs(init.kaiming_normal_(w, generator=g).numpy().std() - math.sqrt(2 / 512)) < 2e-3
    assert abs(init.kaiming_normal_(w, mode="fan_out", nonlinearity="tanh", generator=g)
               .numpy().std() - 5 / 3 / math.sqrt(256)) < 3e-3
    bound = math.sqrt(6 / (256 + 512))
    x = init.xavier_uniform_(w, generator=g).numpy()
    assert x.max() <= bound and x.max() > 0.99 * bound
    assert abs(init.xavier_normal_(w, generator=g).numpy().std()
               - math.sqrt(2 / (256 + 512))) < 1e-3
    k = init.kaiming_uniform_(w, a=math.sqrt(5), generator=g).numpy()   # = Linear's default
    assert k.max() <= 1 / math.sqrt(512) and k.max() > 0.99 / math.sqrt(512)
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("conv2d") == 1.0 == init.calculate_gain("sigmoid")
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    assert init.calculate_gain("selu") == 0.75


def test_initialiser_errors():
    init = nn.init
    with pytest.raises(tg.ShapeError, match="at least 2 dimensions"):
        init.xavier_uniform_(tg.zeros(5))
    with pytest.raises(tg.OpError, match="mode must be"):
        init.kaiming_normal_(tg.zeros(3, 3), mode="fan_avg")
    with pytest.raises(tg.OpError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(tg.OpError, match="floating-point"):
        init.zeros_(tg.tensor([1, 2]))
    with pytest.raises(tg.OpError, match="a <= b"):
        init.uniform_(tg.zeros(2), 1.0, 0.0)
    with pytest.raises(tg.ShapeError, match="fan_in is 0"):
        init.kaiming_uniform_(tg.zeros(3, 0))


def test_reinitialising_a_used_weight_makes_its_old_graph_refuse_backward():
    layer = nn.Linear(2, 2)
    loss = (layer(tg.ones(1, 2)) ** 2).sum()
    nn.init.normal_(layer.weight)
    with pytest.raises(tg.GraphError, match="modified in place"):
        loss.backward()
