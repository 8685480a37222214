"""Issue 16, ops / nn / optim / data half: regression tests for the bugs found by the differential
run against PyTorch, and the PyTorch surface added (losses' weight= and ignore_index=, one_hot,
Softplus, ELU, Adadelta, the schedules, Optimizer.state, DataLoader's arguments, utils.data).

Each test asserts the expected numbers itself; where PyTorch is installed it is also compared
with PyTorch (those parts skip without it)."""
import inspect
import math
import warnings

import numpy as np
import pytest

import tinygrad_ko as tg
from tinygrad_ko import nn, optim
from tinygrad_ko.nn import functional as F
from tinygrad_ko.registry import REGISTRY


def _torch():
    return pytest.importorskip("torch", reason="PyTorch (optional) is the reference to compare with")


def _leaf(values, dtype=np.float64):
    return tg.Tensor(np.array(values, dtype=dtype), requires_grad=True)


# -- pow at base 0 ---------------------------------------------------------------------------------
# d/da a**b and d/db a**b at a = 0, as PyTorch gives them (torch 2.x, float64)
POW_AT_ZERO = {0.0: (0.0, 0.0), 0.5: (math.inf, 0.0), 1.0: (1.0, 0.0), 2.0: (0.0, 0.0),
               3.0: (0.0, 0.0), -1.0: (-math.inf, -math.inf)}


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("b", sorted(POW_AT_ZERO))
def test_pow_gradients_at_base_zero_are_pytorchs(b, create_graph):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, e = _leaf(0.0), _leaf(b)
        (a ** e).backward(create_graph=create_graph)          # tensor exponent
        c = _leaf(0.0)
        (c ** b).backward(create_graph=create_graph)          # constant exponent
        x = _leaf(b)
        (0.0 ** x).backward(create_graph=create_graph)        # constant base 0
    ga, gb = POW_AT_ZERO[b]
    assert a.grad.item() == ga and c.grad.item() == ga
    assert e.grad.item() == gb and x.grad.item() == gb
    for t in (a, e, c, x):
        assert type(t.grad._data) is np.ndarray and t.grad.dtype == np.float64


def test_pow_gradients_at_base_zero_match_torch():
    torch = _torch()
    for b in POW_AT_ZERO:
        a, e = torch.tensor(0.0, dtype=torch.float64, requires_grad=True), \
            torch.tensor(b, dtype=torch.float64, requires_grad=True)
        ga, gb = torch.autograd.grad(a ** e, (a, e))
        assert (ga.item(), gb.item()) == POW_AT_ZERO[b]


def test_pow_second_order_and_fast_backward_agree_away_from_zero():
    """The masks only act at a = 0 / b = 0: elsewhere the gradient and its gradient are the
    formulas' (d2/da2 a**3 = 6a, d2/db2 a**b = a**b log(a)**2)."""
    a, b = _leaf([0.5, 2.0]), _leaf([3.0, 3.0])
    ga, gb = tg.grad((a ** b).sum(), [a, b], create_graph=True)
    np.testing.assert_allclose(ga.numpy(), 3 * np.array([0.5, 2.0]) ** 2)
    np.testing.assert_allclose(gb.numpy(), np.array([0.5, 2.0]) ** 3 * np.log([0.5, 2.0]))
    g2a, = tg.grad(ga.sum(), [a])
    np.testing.assert_allclose(g2a.numpy(), 6 * np.array([0.5, 2.0]))
    g2b, = tg.grad(gb.sum(), [b])
    np.testing.assert_allclose(g2b.numpy(), np.array([0.5, 2.0]) ** 3 * np.log([0.5, 2.0]) ** 2)
    # x**0 at 0 and 0**x, mixed in one tensor with ordinary entries: both backward paths agree
    for create_graph in (False, True):
        x = _leaf([0.0, 1.5, 0.0])
        y = _leaf([0.0, 2.0, 2.0])
        (x ** y).sum().backward(create_graph=create_graph)
        np.testing.assert_array_equal(x.grad.numpy(), [0.0, 3.0, 0.0])
        np.testing.assert_allclose(y.grad.numpy(), [0.0, 2.25 * np.log(1.5), 0.0])


# -- std where it is 0 -----------------------------------------------------------------------------
@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("ddof", [0, 1])
def test_std_gradient_is_zero_where_std_is_zero(ddof, create_graph):
    x = _leaf([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
    x.std(axis=1, ddof=ddof).sum().backward(create_graph=create_graph)
    g = x.grad.numpy()
    np.testing.assert_array_equal(g[0], [0.0, 0.0, 0.0])      # PyTorch: 0, not nan
    n = 3 - ddof
    s = np.sqrt(2.0 / n)
    np.testing.assert_allclose(g[1], (np.array([1.0, 2.0, 3.0]) - 2.0) / (n * s))


def test_std_gradient_matches_torch():
    torch = _torch()
    v = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])
    x, tx = _leaf(v), torch.tensor(v, requires_grad=True)
    x.std(axis=1, ddof=1).sum().backward()
    tx.std(1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


# -- reductions over empty tensors -----------------------------------------------------------------
@pytest.mark.parametrize("op", ["max", "min", "logsumexp"])
def test_reducing_the_nonempty_axis_of_an_empty_tensor(op):
    x = _leaf(np.zeros((0, 3)))
    y = getattr(x, op)(axis=1)
    assert y.shape == (0,)
    y.sum().backward()
    assert x.grad.shape == (0, 3)
    assert getattr(x, op)(axis=1, keepdims=True).shape == (0, 1)


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_over_an_axis_of_size_zero_raise_as_pytorch(op):
    with pytest.raises(tg.ShapeError, match="axis of size 0"):
        getattr(tg.Tensor(np.zeros((3, 0))), op)(axis=1)
    with pytest.raises(tg.ShapeError, match="axis of size 0"):
        getattr(tg.Tensor(np.zeros((0, 3))), op)()


def test_logsumexp_over_an_empty_axis_is_minus_inf():
    y = tg.Tensor(np.zeros((3, 0), np.float32)).logsumexp(axis=1)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), [-np.inf] * 3)
    assert tg.Tensor(np.zeros((0, 3))).logsumexp().item() == -np.inf


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, axis", [((0, 3), 1), ((3, 0), 1), ((0, 3), 0), ((0,), 0)])
def test_softmax_of_empty_is_empty(op, shape, axis, create_graph):
    x = _leaf(np.zeros(shape))
    y = getattr(x, op)(axis)
    assert y.shape == shape
    y.sum().backward(create_graph=create_graph)
    assert x.grad.shape == shape


def test_empty_reductions_match_torch():
    torch = _torch()
    e = torch.zeros(0, 3)
    assert tuple(e.amax(1).shape) == tg.Tensor(np.zeros((0, 3))).max(axis=1).shape
    np.testing.assert_array_equal(torch.zeros(3, 0).logsumexp(1).numpy(),
                                  tg.Tensor(np.zeros((3, 0))).logsumexp(axis=1).numpy())


def test_deliberate_errors_where_pytorch_gives_nan_are_documented():
    """mean over an empty axis, a 'mean' loss over an empty batch and var/std with N - ddof <= 0
    raise (PyTorch: nan); the docstrings say so."""
    with pytest.raises(tg.ShapeError):
        tg.Tensor(np.zeros((0, 3))).mean()
    with pytest.raises(tg.ShapeError):
        F.cross_entropy(tg.Tensor(np.zeros((0, 3))), tg.Tensor(np.zeros(0, np.int64)))
    with pytest.raises(tg.ShapeError):
        tg.Tensor(np.ones(1)).var(ddof=1)
    with pytest.raises(tg.ShapeError):
        tg.Tensor(np.ones(1)).std(ddof=1)
    for doc in (REGISTRY["mean"].function.__doc__, REGISTRY["var"].function.__doc__,
                REGISTRY["std"].call.__doc__, F.cross_entropy.__doc__, F.nll_loss.__doc__):
        assert "PyTorch" in doc and "nan" in doc, doc


# -- linear with in_features = 0 -------------------------------------------------------------------
@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("x_shape", [(0,), (2, 0), (2, 3, 0)])
def test_linear_with_no_input_features(x_shape, create_graph):
    x = _leaf(np.zeros(x_shape))
    w, b = _leaf(np.zeros((3, 0))), _leaf([1.0, 2.0, 3.0])
    y = F.linear(x, w, b)
    assert y.shape == x_shape[:-1] + (3,)
    np.testing.assert_array_equal(y.numpy(), np.broadcast_to([1.0, 2.0, 3.0], y.shape))
    y.sum().backward(create_graph=create_graph)
    assert w.grad.shape == (3, 0) and x.grad.shape == x_shape
    rows = math.prod(x_shape[:-1])
    np.testing.assert_array_equal(b.grad.numpy(), [rows] * 3)


# -- every .grad is an array of the parameter's dtype ----------------------------------------------
def _one_tensor_input(forward):
    params = list(inspect.signature(forward).parameters.values())[1:]   # after ctx
    return sum(p.default is inspect.Parameter.empty and p.kind == p.POSITIONAL_OR_KEYWORD
               for p in params) == 1


# every registered op class that takes one tensor (the rest are parameters with defaults), and
# the composites of one tensor
UNARY = sorted([n for n, spec in REGISTRY.items()
                if spec.function is not None and _one_tensor_input(spec.function.forward)]
               + ["std", "squeeze", "flatten", "unsqueeze"])
PARAMS = {"clip": {"lo": -1.0, "hi": 1.0}, "unsqueeze": {"axis": 0},
          "var": {"ddof": 0}, "std": {"ddof": 0}}     # unbiased (N - 1) needs 2 elements
NOT_0D = {"layer_norm", "tril", "triu"}                # refuse a 0-d input, as PyTorch's


def test_the_unary_loop_covers_the_activations():
    assert {"relu", "leaky_relu", "sigmoid", "tanh", "exp", "softplus", "elu", "std",
            "softmax", "sum"} <= set(UNARY)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", UNARY)
def test_grad_of_a_0d_input_is_a_0d_array(name, dtype):
    """Each unary op of the registry on a 0-d input (relu's backward made np.float64 here)."""
    spec = REGISTRY[name]
    fn = spec.function.apply if spec.function is not None else spec.call
    x = tg.Tensor(np.array(0.7, dtype=dtype), requires_grad=True)
    if name in NOT_0D:
        with pytest.raises(tg.ShapeError, match=name):
            fn(x, **PARAMS.get(name, {}))
        return
    y = fn(x, **PARAMS.get(name, {}))
    assert y.dtype.kind == "f"
    y.sum().backward()
    assert type(x.grad._data) is np.ndarray, f"{name}: {type(x.grad._data)}"
    assert x.grad.shape == () and x.grad.dtype == dtype
    # a second backward accumulates (0-d array + 0-d array is a NumPy scalar too)
    fn(x, **PARAMS.get(name, {})).sum().backward()
    assert type(x.grad._data) is np.ndarray and x.grad.dtype == dtype
    g, = tg.grad(fn(x, **PARAMS.get(name, {})).sum(), [x])
    assert type(g._data) is np.ndarray


# -- losses: weight=, ignore_index=, one_hot -------------------------------------------------------
Z = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 2.0], [0.3, 0.2, 0.1], [2.0, 0.0, -2.0]])
T = np.array([1, 2, 0, 2])
W = np.array([0.5, 2.0, 1.5])


def _logp(z):
    return z - np.log(np.exp(z).sum(1, keepdims=True))


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_weight_and_ignore_index_numbers(reduction, create_graph):
    z = _leaf(Z)
    loss = F.cross_entropy(z, tg.Tensor(T), weight=tg.Tensor(W), ignore_index=0,
                           reduction=reduction)
    lp = _logp(Z)
    per_row = -W[T] * lp[np.arange(4), T] * (T != 0)
    expected = {"mean": per_row.sum() / (W[T] * (T != 0)).sum(), "sum": per_row.sum(),
                "none": per_row}[reduction]
    np.testing.assert_allclose(loss.numpy(), expected)
    loss.backward(tg.ones_like(loss), create_graph=create_graph)
    scale = (W[T] * (T != 0))[:, None]
    g = (np.exp(lp) - np.eye(3)[T]) * scale
    if reduction == "mean":
        g = g / (W[T] * (T != 0)).sum()
    np.testing.assert_allclose(z.grad.numpy(), g)
    assert not z.grad.numpy()[2].any()   # the ignored row gets no gradient


@pytest.mark.parametrize("create_graph", [False, True])
def test_cross_entropy_with_every_row_ignored_is_nan_with_zero_gradient(create_graph):
    """As PyTorch: 'mean' is 0 / 0; the gradient is 0. (An empty batch raises instead.)"""
    for loss_fn in (lambda z: F.cross_entropy(z, tg.Tensor([1, 1]), ignore_index=1),
                    lambda z: F.nll_loss(z.log_softmax(1), tg.Tensor([1, 1]), ignore_index=1)):
        z = _leaf(np.ones((2, 3)))
        loss = loss_fn(z)
        assert np.isnan(loss.item())
        loss.backward(create_graph=create_graph)
        np.testing.assert_array_equal(z.grad.numpy(), np.zeros((2, 3)))


def test_default_ignore_index_is_minus_100_and_out_of_range_still_raises():
    z = tg.Tensor(Z)
    full = F.cross_entropy(z, tg.Tensor([1, -100, 0, 2]), reduction="none").numpy()
    assert full[1] == 0
    with pytest.raises(tg.IndexOutOfRangeError, match="out of range"):
        F.cross_entropy(z, tg.Tensor([1, -1, 0, 2]))
    with pytest.raises(tg.OpError, match="ignore_index"):
        F.cross_entropy(z, tg.Tensor(np.full((4, 3), 1 / 3)), ignore_index=1)
    with pytest.raises(tg.ShapeError, match="one entry per class"):
        F.cross_entropy(z, tg.Tensor(T), weight=tg.Tensor([1.0, 2.0]))
    with pytest.raises(tg.UsageError, match="reduction="):
        F.cross_entropy(z, tg.Tensor(T), "sum")


def test_weighted_probability_targets_and_label_smoothing():
    q = np.full((4, 3), 0.2) + np.eye(3)[T] * 0.4
    z = _leaf(Z)
    loss = F.cross_entropy(z, tg.Tensor(q), weight=W, label_smoothing=0.1)
    qs = 0.9 * q + 0.1 / 3
    np.testing.assert_allclose(loss.item(), (-(qs * W * _logp(Z)).sum(1)).mean())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("kind", ["index", "probs"])
def test_cross_entropy_and_nll_match_torch(kind, smoothing, reduction):
    torch = _torch()
    rng = np.random.default_rng(3)
    for weighted, ignore in [(False, -100), (True, -100), (False, 2), (True, 0)]:
        if kind == "probs" and ignore != -100:
            continue
        t = T if kind == "index" else rng.random((4, 3))
        w = W if weighted else None
        for create_graph in (False, True):
            z = _leaf(Z)
            loss = F.cross_entropy(z, tg.Tensor(t), weight=w, ignore_index=ignore,
                                   reduction=reduction, label_smoothing=smoothing)
            loss.backward(tg.ones_like(loss), create_graph=create_graph)
            tz = torch.tensor(Z, requires_grad=True)
            ref = torch.nn.functional.cross_entropy(
                tz, torch.tensor(t), weight=None if w is None else torch.tensor(w),
                ignore_index=ignore, reduction=reduction, label_smoothing=smoothing)
            ref.backward(torch.ones_like(ref))
            np.testing.assert_allclose(loss.numpy(), ref.detach().numpy())
            np.testing.assert_allclose(z.grad.numpy(), tz.grad.numpy(), atol=1e-12)
        if kind == "index" and not smoothing:
            lp = _leaf(_logp(Z))
            mine = nn.NLLLoss(weight=w, ignore_index=ignore, reduction=reduction)(lp, T)
            tlp = torch.tensor(_logp(Z), requires_grad=True)
            ref = torch.nn.NLLLoss(weight=None if w is None else torch.tensor(w),
                                   ignore_index=ignore, reduction=reduction)(tlp, torch.tensor(T))
            np.testing.assert_allclose(mine.numpy(), ref.detach().numpy())
            mine.sum().backward()
            ref.sum().backward()
            np.testing.assert_allclose(lp.grad.numpy(), tlp.grad.numpy())


def test_loss_modules_take_weight_and_ignore_index():
    crit = nn.CrossEntropyLoss(weight=tg.Tensor(W), ignore_index=0)
    assert "weight" in crit.state_dict()                    # a buffer, as PyTorch
    np.testing.assert_allclose(crit(tg.Tensor(Z), T).item(),
                               F.cross_entropy(tg.Tensor(Z), T, W, ignore_index=0).item())
    assert repr(crit) == "CrossEntropyLoss(ignore_index=0)"
    nll = nn.NLLLoss(W)
    np.testing.assert_allclose(nll(tg.Tensor(_logp(Z)), T).item(),
                               (-W[T] * _logp(Z)[np.arange(4), T]).sum() / W[T].sum())


def test_one_hot():
    y = F.one_hot(tg.Tensor([0, 2, 1]))
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y.numpy(), np.eye(3, dtype=np.int64)[[0, 2, 1]])
    assert F.one_hot(tg.Tensor([[1], [0]]), 4).shape == (2, 1, 4)
    assert F.one_hot(tg.Tensor(np.zeros(0, np.int64)), 3).shape == (0, 3)
    with pytest.raises(tg.DTypeError, match="integer"):
        F.one_hot(tg.Tensor([0.0, 1.0]))
    with pytest.raises(tg.IndexOutOfRangeError, match="out of range"):
        F.one_hot(tg.Tensor([0, 3]), 3)
    with pytest.raises(tg.IndexOutOfRangeError, match="non-negative"):
        F.one_hot(tg.Tensor([-1, 0]))
    with pytest.raises(tg.ShapeError, match="empty"):
        F.one_hot(tg.Tensor(np.zeros(0, np.int64)))


# -- Softplus, ELU ---------------------------------------------------------------------------------
def test_softplus_values_gradient_and_stability():
    x = _leaf([-800.0, -1.0, 0.0, 1.0, 15.0, 25.0, 800.0])
    y = F.softplus(x)
    xs = x.numpy()
    ref = np.where(xs > 20, xs, np.logaddexp(0, xs))
    np.testing.assert_allclose(y.numpy(), ref)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(xs > 20, 1.0, 0.5 * (1 + np.tanh(xs / 2))))
    z = _leaf([0.5, 2.0])
    y = nn.Softplus(beta=2.0, threshold=2.0)(z)           # beta x > threshold: x itself
    np.testing.assert_allclose(y.numpy(), [np.log1p(np.e) / 2, 2.0])
    assert repr(nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"


def test_elu_values_gradient_and_stability():
    x = _leaf([-800.0, -1.0, 0.0, 1.0, 800.0])
    y = nn.ELU(alpha=0.5)(x)
    np.testing.assert_allclose(y.numpy(), [-0.5, 0.5 * np.expm1(-1), 0.0, 1.0, 800.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5 * np.exp(-1), 0.5, 1.0, 1.0])  # alpha at 0
    assert F.elu(tg.Tensor(np.ones(2, np.float32))).dtype == np.float32


def test_activations_match_torch():
    torch = _torch()
    v = np.linspace(-30, 30, 25)
    for mine, theirs in [(nn.Softplus(), torch.nn.Softplus()),
                         (nn.Softplus(2.0, 3.0), torch.nn.Softplus(2.0, 3.0)),
                         (nn.ELU(), torch.nn.ELU()), (nn.ELU(0.3), torch.nn.ELU(0.3))]:
        x, tx = _leaf(v), torch.tensor(v, requires_grad=True)
        y, ty = mine(x), theirs(tx)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy())
        y.sum().backward()
        ty.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_pytorch_activation_layers_and_inplace_argument():
    x = tg.Tensor([[-1.0, 2.0]])
    for layer in (nn.ReLU(inplace=True), nn.LeakyReLU(0.1, inplace=True), nn.ELU(inplace=True),
                  nn.Sigmoid(), nn.Tanh(), nn.Softmax(dim=1), nn.LogSoftmax(dim=1), nn.Identity(),
                  nn.Flatten(start_dim=1)):
        assert layer(x).shape == (1, 2)
    assert x.numpy().tolist() == [[-1.0, 2.0]]             # inplace=True leaves the input alone
