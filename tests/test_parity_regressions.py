"""One test per bullet of issue 16's "Wrong results and crashes", each against PyTorch's answer
(the other files test the fixes from the library's side; these keep the two libraries agreeing)."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_ko as tg
import tinygrad_ko.nn.functional as tF

torch = pytest.importorskip("torch", reason="PyTorch is an optional test dependency: "
                                            "pip install -e '.[compare]'")
F = torch.nn.functional

X = np.array([[0.5, -1.0, 2.0], [3.0, 0.25, -0.5]], dtype=np.float32)


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.numpy())


def _same(got, want, rtol=1e-6):
    assert tuple(got.shape) == tuple(want.shape)
    assert str(got.dtype) == str(want.dtype).removeprefix("torch.")
    np.testing.assert_allclose(_np(got), _np(want), rtol=rtol, atol=1e-12)


# -- softmax(dim=) -----------------------------------------------------------------------------
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_with_dim_keyword(fn, dim):
    _same(getattr(tg.tensor(X), fn)(dim=dim), getattr(torch.tensor(X), fn)(dim=dim))
    _same(getattr(tF, fn)(tg.tensor(X), dim=dim), getattr(F, fn)(torch.tensor(X), dim=dim))


# -- max(dim) / min(dim) return (values, indices) ------------------------------------------------
@pytest.mark.parametrize("fn", ["max", "min"])
@pytest.mark.parametrize("batch", [1, 2, 3, 5])
def test_max_min_with_dim_return_values_and_indices(fn, batch):
    x = np.random.default_rng(batch).standard_normal((batch, 4)).astype(np.float32)
    got, want = getattr(tg.tensor(x), fn)(1), getattr(torch.tensor(x), fn)(1)
    _same(got[0], want[0])
    _same(got[1], want[1])
    _same(got.values, want.values)
    _same(got.indices, want.indices)
    _, pred = getattr(tg.tensor(x), fn)(1)             # the everyday unpacking
    _same(pred, getattr(torch.tensor(x), fn)(1)[1])
    for kw in ({"dim": 1}, {"dim": 0, "keepdim": True}):
        got, want = getattr(tg.tensor(x), fn)(**kw), getattr(torch.tensor(x), fn)(**kw)
        _same(got.values, want.values)
        _same(got.indices, want.indices)
    got, want = getattr(tg, fn)(tg.tensor(x), 1), getattr(torch, fn)(torch.tensor(x), 1)
    _same(got.values, want.values)
    _same(got.indices, want.indices)
    _same(getattr(tg.tensor(x), fn)(), getattr(torch.tensor(x), fn)())   # no dim: the value


def test_max_with_dim_gradient_goes_to_the_index():
    x = np.array([[1.0, 3.0, 2.0], [5.0, 4.0, 0.0]])
    a, b = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    a.max(dim=1).values.sum().backward()
    b.max(dim=1).values.sum().backward()
    _same(a.grad, b.grad)


# -- float64 from Python numbers ---------------------------------------------------------------
@pytest.mark.parametrize("data", [0.1, [0.1, 0.2], [[1 / 3]]])
def test_float64_from_python_numbers_is_not_rounded_to_float32(data):
    got = tg.tensor(data, dtype=tg.float64)
    want = torch.tensor(data, dtype=torch.float64)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(_np(got), _np(want))
    assert tg.tensor(0.1, dtype=tg.float64).item() == 0.1


# -- pow and std at zero -----------------------------------------------------------------------
def _grads(lib, fn, *values):
    xs = [lib.tensor(np.array(v, dtype=np.float64), requires_grad=True) for v in values]
    fn(*xs).sum().backward()
    return [_np(x.grad) for x in xs]


@pytest.mark.parametrize("case", ["a**b at a=0", "x**0.0 at x=0", "0.0**x", "x**2 at 0",
                                  "x**0.5 at 0"])
def test_pow_gradient_at_base_zero(case):
    fns = {"a**b at a=0": (lambda a, b: a ** b, [0.0, 0.0, 1.0], [2.0, 0.5, 3.0]),
           "x**0.0 at x=0": (lambda x: x ** 0.0, [0.0, 1.0]),
           "0.0**x": (lambda x: 0.0 ** x, [1.0, 2.0, 0.5]),
           "x**2 at 0": (lambda x: x ** 2.0, [0.0, -1.0]),
           "x**0.5 at 0": (lambda x: x ** 0.5, [0.0, 4.0])}
    fn, *values = fns[case]
    with np.errstate(all="ignore"):
        got, want = _grads(tg, fn, *values), _grads(torch, fn, *values)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
        assert not np.isnan(g).any()


def test_std_gradient_where_the_deviation_is_zero():
    x = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]])
    for kw in ({"dim": 1}, {}):
        got = _grads(tg, lambda t: t.std(**kw), x)[0]
        want = _grads(torch, lambda t: t.std(**kw), x)[0]
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert not np.isnan(got).any()


# -- max_pool2d padding never wins --------------------------------------------------------------
def test_max_pool2d_padding_never_wins_over_minus_inf():
    x = np.full((1, 1, 4, 4), -np.inf, dtype=np.float32)
    x[0, 0, 1, 1] = 1.0
    got = tF.max_pool2d(tg.tensor(x), 3, stride=1, padding=1)
    want = F.max_pool2d(torch.tensor(x), 3, stride=1, padding=1)
    _same(got, want)
    assert np.isneginf(_np(got)).any()


# -- reductions over empty tensors -------------------------------------------------------------
E = np.zeros((0, 3), dtype=np.float32)


@pytest.mark.parametrize("name,call", [
    ("amax dim=1", lambda t, lib: t.amax(dim=1)),
    ("amin dim=1", lambda t, lib: t.amin(dim=1)),
    ("max dim=1 values", lambda t, lib: t.max(dim=1).values),
    ("max dim=1 indices", lambda t, lib: t.max(dim=1).indices),
    ("min dim=1 values", lambda t, lib: t.min(dim=1).values),
    ("logsumexp dim=1", lambda t, lib: t.logsumexp(dim=1)),
    ("softmax dim=1", lambda t, lib: t.softmax(dim=1)),
    ("log_softmax dim=1", lambda t, lib: t.log_softmax(dim=1)),
    ("softmax dim=0", lambda t, lib: t.softmax(dim=0)),
    ("sum dim=0", lambda t, lib: t.sum(dim=0)),
    ("logsumexp dim=0", lambda t, lib: t.logsumexp(dim=0)),
])
def test_reductions_over_empty_tensors(name, call):
    _same(call(tg.tensor(E), tg), call(torch.tensor(E), torch))


def test_empty_list_index():
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    _same(tg.tensor(x)[[]], torch.tensor(x)[[]])


# -- argmax/argmin errors are the library's ------------------------------------------------------
@pytest.mark.parametrize("call", [lambda t: t.argmax(dim=2), lambda t: t.argmin(dim=-3),
                                  lambda t: t[:0].argmax(), lambda t: t[:0].argmin()])
def test_argmax_argmin_errors(call):
    x = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(Exception):
        call(torch.tensor(x))
    with pytest.raises(tg.TinygradError):
        call(tg.tensor(x))


def test_argmax_argmin_agree():
    x = np.array([[1.0, 3.0, 2.0], [5.0, 4.0, 0.0]], dtype=np.float32)
    for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True}):
        _same(tg.tensor(x).argmax(**kw), torch.tensor(x).argmax(**kw))
        _same(tg.tensor(x).argmin(**kw), torch.tensor(x).argmin(**kw))


# -- dtype promotion: the dimensioned tensor decides within a category -------------------------------
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b, "pow": lambda a, b: a.abs() ** b,
          "maximum": lambda a, b: a.maximum(b), "minimum": lambda a, b: a.minimum(b)}


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("order", ["nd op 0d", "0d op nd"])
def test_0d_float64_with_nd_float32(op, order):
    fn = BINARY[op]
    nd, zd = X, np.array(1.5, dtype=np.float64)
    pair = (nd, zd) if order == "nd op 0d" else (zd, nd)
    got = fn(tg.tensor(pair[0]), tg.tensor(pair[1]))
    want = fn(torch.tensor(pair[0]), torch.tensor(pair[1]))
    _same(got, want)


def test_where_0d_float64_with_nd_float32():
    cond = X > 0
    got = tg.where(tg.tensor(cond), tg.tensor(X), tg.tensor(np.array(0.0)))
    want = torch.where(torch.tensor(cond), torch.tensor(X), torch.tensor(np.array(0.0)))
    _same(got, want)


def test_integer_clip_with_float_bounds_is_float32():
    x = np.array([0, 1, 2, 3])
    _same(tg.tensor(x).clip(0.5, 1.5), torch.tensor(x).clip(0.5, 1.5))
    _same(tg.tensor(x).clamp(min=0.5), torch.tensor(x).clamp(min=0.5))


# -- F.linear with in_features = 0 under create_graph -------------------------------------------
@pytest.mark.parametrize("shape", [(3, 0), (0,), (2, 3, 0)])
def test_linear_with_no_input_features_under_create_graph(shape):
    def run(lib, f):
        x = lib.tensor(np.zeros(shape), requires_grad=True)
        w = lib.tensor(np.zeros((2, 0)), requires_grad=True)
        b = lib.tensor(np.array([1.0, -2.0]), requires_grad=True)
        y = f.linear(x, w, b)
        gx, gw, gb = (lib.autograd.grad if lib is torch else lib.grad)(
            (y * y).sum(), [x, w, b], create_graph=True)
        return y, gx, gw, gb
    for g, w in zip(run(tg, tF), run(torch, F)):
        _same(g, w)


# -- 0-d relu gradient -------------------------------------------------------------------------
def test_0d_relu_gradient_is_a_0d_array():
    x = tg.tensor(2.0, dtype=tg.float64, requires_grad=True)
    x.relu().backward()
    t = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    t.relu().backward()
    assert isinstance(x.grad, tg.Tensor)
    assert type(x.grad.numpy()) is np.ndarray and x.grad.numpy().shape == ()
    _same(x.grad, t.grad)


# -- p.grad = <not a tensor> -------------------------------------------------------------------
@pytest.mark.parametrize("bad", [0, 1.5, "grad", [1.0, 2.0]])
def test_grad_assignment_is_checked(bad):
    t = torch.zeros(2, requires_grad=True)
    with pytest.raises((TypeError, RuntimeError)):
        t.grad = bad
    p = tg.nn.Parameter(tg.zeros(2))
    with pytest.raises(tg.TinygradError):
        p.grad = bad


def test_grad_assignment_of_the_wrong_shape_or_dtype():
    for bad in (torch.zeros(3), torch.zeros(2, dtype=torch.float64)):
        with pytest.raises(RuntimeError):
            torch.zeros(2, requires_grad=True).grad = bad
    for bad in (tg.zeros(3), tg.zeros(2, dtype=tg.float64)):
        with pytest.raises(tg.TinygradError):
            tg.nn.Parameter(tg.zeros(2)).grad = bad


def test_grad_assignment_of_a_tensor_or_none_works():
    p = tg.nn.Parameter(tg.zeros(2))
    p.grad = tg.ones(2)
    (p * 2).sum().backward()
    t = torch.zeros(2, requires_grad=True)
    t.grad = torch.ones(2)
    (t * 2).sum().backward()
    _same(p.grad, t.grad)
    p.grad = None
    assert p.grad is None


# -- raised on purpose where PyTorch answers nan: said in the docstrings ------------------------------
@pytest.mark.parametrize("where,doc", [
    ("mean over an empty axis", lambda: tg.Tensor.mean.__doc__),
    ("a 'mean' loss over an empty batch", lambda: tF.cross_entropy.__doc__),
    ("var with N - correction <= 0", lambda: tg.Tensor.var.__doc__),
    ("std with N - correction <= 0", lambda: tg.Tensor.std.__doc__),
])
def test_deliberate_errors_are_documented(where, doc):
    assert "nan" in (doc() or "").lower(), f"the docstring should say PyTorch gives nan: {where}"


@pytest.mark.parametrize("call", [
    lambda lib, f: lib.tensor(E).mean(dim=0),
    lambda lib, f: f.cross_entropy(lib.tensor(E), lib.tensor(np.zeros(0, dtype=np.int64))),
    lambda lib, f: f.mse_loss(lib.tensor(E), lib.tensor(E)),
    lambda lib, f: lib.tensor(X[:, :1]).var(dim=1),
    lambda lib, f: lib.tensor(X[:, :1]).std(dim=1),
])
def test_deliberate_errors_where_pytorch_gives_nan(call):
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = call(torch, F)
    assert torch.isnan(want).all()
    with pytest.raises(tg.TinygradError):
        call(tg, tF)


def test_tensor_copies_its_data_and_as_tensor_shares_it():
    """torch.tensor copies an array or a tensor; torch.as_tensor and from_numpy share memory."""
    a = np.zeros(3, dtype=np.float32)
    t, shared, fn = tg.tensor(a), tg.as_tensor(a), tg.from_numpy(a)
    a[0] = 5
    assert t.tolist() == [0.0, 0.0, 0.0]
    assert shared.tolist()[0] == 5 and fn.tolist()[0] == 5
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = tg.tensor(x)
    y.data[0] = 7
    assert x.tolist() == [1.0, 2.0] and y.is_leaf and not y.requires_grad
    assert tg.as_tensor(x) is x
    assert tg.as_tensor(a, dtype=tg.float64).dtype == tg.float64
    assert tg.tensor(np.arange(3)).dtype == tg.int64
