"""Numerics at extremes: softmax, log_softmax, logsumexp, sigmoid, tanh, cross_entropy and
binary_cross_entropy_with_logits give finite values and finite, correct gradients for inputs up to
+-1e4 in float32 and float64, with every warning an error. References are computed from the same
input values in extended precision (np.longdouble) with the textbook-stable formulas.

detect_anomaly(): the first nan/inf produced forward or backward raises AnomalyError naming the
op and the user's line (file:line and the code text).
"""
import inspect
import os
import warnings

import numpy as np
import pytest
from conftest import NumpySampler, use_native_tracebacks
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_ko as tg
from tinygrad_ko import Tensor
from tinygrad_ko.grad_mode import STATE
from tinygrad_ko.registry import REGISTRY

F = pytest.importorskip("tinygrad_ko.nn.functional")

LD = np.longdouble
BIG = 1e4
# values a stable implementation must survive: exp overflows past ~88.7 (float32) / ~709.8
# (float64) and underflows to 0 below ~-103 / ~-745
SPECIAL = [BIG, -BIG, 0.0, 88.7, -88.7, 104.0, -104.0, 709.0, -745.0, 1e3, -1e3, 30.0, -30.0]
TOL = {np.float32: {"rtol": 2e-5, "atol": 2e-6}, np.float64: {"rtol": 1e-11, "atol": 1e-13}}


def _elements(dtype):
    width = 32 if dtype == np.float32 else 64
    return st.one_of(st.floats(-BIG, BIG, width=width),
                     st.sampled_from([dtype(v) for v in SPECIAL]),
                     st.floats(-3.0, 3.0, width=width))


@st.composite
def extreme_arrays(draw, min_dims=1, max_dims=3):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, max_side=5))
    x = draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))
    g = draw(hnp.arrays(dtype, shape, elements=st.floats(-1.0, 1.0, width=32 if dtype ==
                                                         np.float32 else 64)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return x, g, axis


_native_tracebacks = pytest.fixture(scope="module", autouse=True)(use_native_tracebacks)


# -- references in extended precision --------------------------------------------------------
def _ref_softmax(x, axis):
    x = x.astype(LD)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _ref_lse(x, axis, keepdims=False):
    x = x.astype(LD)
    m = x.max(axis=axis, keepdims=True)
    out = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def _ref_sigmoid(x):
    x = x.astype(LD)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _close(actual, expected, dtype, what, scale=1.0):
    tol = TOL[dtype]
    assert actual.dtype == dtype, f"{what}: dtype {actual.dtype}, expected {dtype}"
    assert np.isfinite(actual).all(), f"{what}: not finite: {actual}"
    np.testing.assert_allclose(actual.astype(np.float64), np.asarray(expected, dtype=np.float64),
                               rtol=tol["rtol"], atol=tol["atol"] * scale, err_msg=what)


def _forward_backward(f, x, g, create_graph=False):
    """f(x) and d<g, f(x)>/dx, with every warning an error; create_graph=True goes through the
    Tensor backward (the reference one) instead of the NumPy fast path."""
    t = Tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = f(t)
        if create_graph:
            (gx,) = tg.grad(y, t, Tensor(g.reshape(y.shape)), create_graph=True)
        else:
            y.backward(Tensor(g.reshape(y.shape)))
            gx = t.grad
    return y.numpy(), gx.numpy()


# -- softmax family, sigmoid, tanh -----------------------------------------------------------
@given(extreme_arrays(), st.booleans())
def test_softmax_at_extremes(case, create_graph):
    x, g, axis = case
    y, gx = _forward_backward(lambda t: t.softmax(axis), x, g, create_graph)
    s = _ref_softmax(x, axis)
    _close(y, s, x.dtype.type, "softmax")
    np.testing.assert_allclose(y.sum(axis=axis), 1.0, rtol=1e-5 if x.dtype == np.float32 else 1e-12)
    gl = g.astype(LD)
    _close(gx, s * (gl - (gl * s).sum(axis=axis, keepdims=True)), x.dtype.type, "softmax grad")


@given(extreme_arrays(), st.booleans())
def test_log_softmax_at_extremes(case, create_graph):
    x, g, axis = case
    y, gx = _forward_backward(lambda t: t.log_softmax(axis), x, g, create_graph)
    scale = 1 + np.abs(x).max() * 2
    _close(y, x.astype(LD) - _ref_lse(x, axis, keepdims=True), x.dtype.type, "log_softmax",
           scale=scale)
    gl = g.astype(LD)
    _close(gx, gl - _ref_softmax(x, axis) * gl.sum(axis=axis, keepdims=True), x.dtype.type,
           "log_softmax grad")


@given(extreme_arrays(), st.booleans(), st.booleans())
def test_logsumexp_at_extremes(case, keepdims, create_graph):
    x, g, axis = case
    ref = _ref_lse(x, axis, keepdims)
    g = g.reshape(-1)[:ref.size].reshape(ref.shape) if ref.size <= g.size else np.ones(ref.shape,
                                                                                       x.dtype)
    t = Tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = t.logsumexp(axis=axis, keepdims=keepdims)
        if create_graph:
            (gx,) = tg.grad(y, t, Tensor(g), create_graph=True)
        else:
            y.backward(Tensor(g))
            gx = t.grad
    _close(y.numpy(), ref, x.dtype.type, "logsumexp", scale=1 + np.abs(x).max())
    gk = g.astype(LD) if keepdims else np.expand_dims(g.astype(LD), axis)
    rtol = TOL[x.dtype.type]["rtol"]
    np.testing.assert_allclose(gx.numpy().astype(np.float64), np.asarray(
        gk * _ref_softmax(x, axis), dtype=np.float64), rtol=rtol, atol=TOL[x.dtype.type]["atol"],
        err_msg="logsumexp grad")
    assert gx.dtype == x.dtype and np.isfinite(gx.numpy()).all()


@pytest.mark.parametrize("values", [[1e4, 1e4 - 0.5, 0.0], [-1e4, -1e4 + 0.25, -1e4 + 3.0],
                                    [0.0, 512.0, 512.0]])
def test_logsumexp_gradient_is_accurate_in_float32_at_large_magnitudes(values):
    x = Tensor(np.array(values, dtype=np.float32), requires_grad=True)
    x.logsumexp().backward()
    _close(x.grad.numpy(), _ref_softmax(np.array(values, dtype=np.float32), -1), np.float32,
           "logsumexp grad")


@given(extreme_arrays(), st.booleans())
def test_sigmoid_at_extremes(case, create_graph):
    x, g, _ = case
    y, gx = _forward_backward(lambda t: t.sigmoid(), x, g, create_graph)
    s = _ref_sigmoid(x)
    _close(y, s, x.dtype.type, "sigmoid")
    assert ((y >= 0) & (y <= 1)).all()
    _close(gx, g.astype(LD) * s * (1 - s), x.dtype.type, "sigmoid grad")


@given(extreme_arrays(), st.booleans())
def test_tanh_at_extremes(case, create_graph):
    x, g, _ = case
    y, gx = _forward_backward(lambda t: t.tanh(), x, g, create_graph)
    th = np.tanh(x.astype(LD))
    _close(y, th, x.dtype.type, "tanh")
    _close(gx, g.astype(LD) * (1 - th * th), x.dtype.type, "tanh grad")


def test_all_minus_inf_row_except_one_is_finite():
    """Masked attention rows: -inf entries (not all) give exact zeros and finite gradients."""
    x = Tensor(np.array([[0.0, -np.inf, 2.0], [-np.inf, 1e4, -np.inf]], dtype=np.float32),
               requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = x.softmax(-1)
        (y * Tensor(np.arange(6, dtype=np.float32).reshape(2, 3))).sum().backward()
    assert y.numpy()[0, 1] == 0.0 and y.numpy()[1].tolist() == [0.0, 1.0, 0.0]
    assert np.isfinite(x.grad.numpy()).all()
    assert x.logsumexp(-1).numpy()[1] == 1e4


# -- losses from tinygrad_ko.nn.functional -----------------------------------------------------
@st.composite
def logits_and_targets(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n, c = draw(st.integers(1, 5)), draw(st.integers(2, 6))
    z = draw(hnp.arrays(dtype, (n, c), elements=_elements(dtype)))
    if draw(st.booleans()):
        t = np.array([draw(st.integers(0, c - 1)) for _ in range(n)])
    else:
        t = draw(hnp.arrays(dtype, (n, c), elements=st.floats(0.0, 1.0, width=32)))
    return z, t, draw(st.sampled_from(["mean", "sum"]))


@given(logits_and_targets(), st.booleans())
def test_cross_entropy_at_extremes(case, create_graph):
    z, t, reduction = case
    n, c = z.shape
    q = np.eye(c, dtype=LD)[t] if t.dtype.kind == "i" else t.astype(LD)
    logp = z.astype(LD) - _ref_lse(z, -1, keepdims=True)
    per = -(q * logp).sum(axis=-1)
    loss_ref = per.mean() if reduction == "mean" else per.sum()
    grad_ref = (np.exp(logp) * q.sum(axis=-1, keepdims=True) - q) / (n if reduction == "mean" else 1)
    zt = Tensor(z, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.cross_entropy(zt, Tensor(t), reduction=reduction)
        if create_graph:
            (gz,) = tg.grad(loss, zt, create_graph=True)
        else:
            loss.backward()
            gz = zt.grad
    scale = 1 + np.abs(z).max() * (n if reduction == "sum" else 1)
    _close(np.asarray(loss.numpy()), loss_ref, z.dtype.type, "cross_entropy", scale=scale)
    _close(gz.numpy(), grad_ref, z.dtype.type, "cross_entropy grad")


@given(extreme_arrays(max_dims=2), st.sampled_from(["mean", "sum", "none"]), st.booleans())
def test_binary_cross_entropy_with_logits_at_extremes(case, reduction, create_graph):
    x, g, _ = case
    t = (np.abs(g) > 0.5).astype(x.dtype) if g.size % 2 else np.abs(g)   # hard and soft targets
    xl, tl = x.astype(LD), t.astype(LD)
    per = np.maximum(xl, 0) - xl * tl + np.log1p(np.exp(-np.abs(xl)))
    ref = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    grad_ref = (_ref_sigmoid(x) - tl) / (x.size if reduction == "mean" else 1)
    xt = Tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.binary_cross_entropy_with_logits(xt, Tensor(t), reduction=reduction)
        out = loss.sum() if reduction == "none" else loss
        if create_graph:
            (gx,) = tg.grad(out, xt, create_graph=True)
        else:
            out.backward()
            gx = xt.grad
    scale = 1 + np.abs(x).max() * (x.size if reduction != "mean" else 1)
    _close(np.asarray(loss.numpy()), ref, x.dtype.type, "bce_with_logits", scale=scale)
    _close(gx.numpy(), grad_ref, x.dtype.type, "bce_with_logits grad")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_on_probabilities_0_and_1_is_finite(dtype):
    p = Tensor(np.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype=dtype), requires_grad=True)
    t = Tensor(np.array([0.0, 1.0, 1.0, 0.0, 1.0], dtype=dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.binary_cross_entropy(p, t, reduction="sum")
        loss.backward()
    # right answers cost 0, wrong ones the clamp (100, as PyTorch), 0.5 costs log 2
    assert loss.item() == pytest.approx(200 + np.log(2), rel=1e-6)
    assert np.isfinite(p.grad.numpy()).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nll_of_log_softmax_matches_cross_entropy_at_extremes(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [88.7, -104.0, 709.0]], dtype=dtype)
    t = np.array([1, 2, 0])
    a, b = Tensor(z, requires_grad=True), Tensor(z, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        l1 = F.nll_loss(a.log_softmax(-1), Tensor(t))
        l2 = F.cross_entropy(b, Tensor(t))
        l1.backward()
        l2.backward()
    assert np.isfinite(l1.item()) and l1.item() == pytest.approx(l2.item(), rel=1e-6)
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-7)


# -- detect_anomaly --------------------------------------------------------------------------
HERE = os.path.basename(__file__)


def _line_after():
    """The line number of the caller's next line."""
    return inspect.currentframe().f_back.f_lineno + 1


def _assert_names(err, op, line, code, kind=None):
    msg = str(err)
    assert op in msg, msg
    assert f"{HERE}:{line}" in msg, f"expected {HERE}:{line} in: {msg}"
    assert code in msg, f"expected the code text {code!r} in: {msg}"
    if kind:
        assert kind in msg, msg


def test_anomaly_in_forward_names_the_op_and_the_line():
    x = Tensor(np.array([-1.0, 1.0]), requires_grad=True)
    with tg.detect_anomaly(), pytest.raises(tg.AnomalyError) as e:
        line = _line_after()
        y = x.log()  # noqa: F841
    _assert_names(e.value, "log", line, "y = x.log()", "nan")


def test_anomaly_inf_in_forward_under_no_grad_too():
    x = Tensor(np.array([1.0, 1000.0]))
    with tg.detect_anomaly(), tg.no_grad(), pytest.raises(tg.AnomalyError) as e:
        line = _line_after()
        big = x.exp()  # noqa: F841
    _assert_names(e.value, "exp", line, "big = x.exp()", "inf")


def test_anomaly_names_the_first_op_not_the_ones_after():
    x = Tensor(np.array([4.0, -4.0]), requires_grad=True)
    with tg.detect_anomaly():
        a = x * 2.0
        with pytest.raises(tg.AnomalyError) as e:
            line = _line_after()
            b = (a.sqrt() + 1.0).log()  # noqa: F841
    assert str(e.value).startswith("sqrt"), str(e.value)
    _assert_names(e.value, "sqrt", line, "b = (a.sqrt() + 1.0).log()", "nan")


def test_anomaly_in_backward_names_the_forward_op_and_its_line():
    x = Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with tg.detect_anomaly():
        line = _line_after()
        y = x.sqrt()
        loss = (y * 3.0).sum()
        with pytest.raises(tg.AnomalyError) as e:
            loss.backward()
    _assert_names(e.value, "sqrt", line, "y = x.sqrt()", "inf")
    assert "backward" in str(e.value)


def test_anomaly_in_a_numpy_fast_path_backward_names_the_op_and_its_line():
    """linear's gradient overflows (dW = g^T x with huge x) while its forward is finite."""
    x = Tensor(np.array([[1e300]]))
    w = Tensor(np.array([[1e-300]]), requires_grad=True)
    with tg.detect_anomaly():
        line = _line_after()
        y = F.linear(x, w)
        loss = (y * 1e10).sum()
        with pytest.raises(tg.AnomalyError) as e:
            loss.backward()
    _assert_names(e.value, "linear", line, "y = F.linear(x, w)", "inf")


def _helper(t):
    return t.log() * 2.0


def test_anomaly_names_the_user_line_inside_a_helper_function():
    x = Tensor(np.array([-1.0]), requires_grad=True)
    with tg.detect_anomaly(), pytest.raises(tg.AnomalyError) as e:
        _helper(x)
    line = inspect.getsourcelines(_helper)[1] + 1
    _assert_names(e.value, "log", line, "return t.log() * 2.0")


def test_anomaly_inside_a_composite_op_names_the_users_line():
    # a constant channel and eps=0: batch_norm (a composite of mean, var, sqrt, div...) divides
    # 0 by sqrt(0) = 0; the error names the inner op and the user's line, not the library's
    x = Tensor(np.full((4, 2), 2.0), requires_grad=True)
    w, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.zeros(2), requires_grad=True)
    with tg.detect_anomaly(), pytest.raises(tg.AnomalyError) as e:
        line = _line_after()
        y = F.batch_norm(x, None, None, w, b, training=True, eps=0.0)  # noqa: F841
    _assert_names(e.value, "div", line, "y = F.batch_norm(x, None, None", "nan")


def test_anomaly_state_is_restored_after_an_error():
    x = Tensor(np.array([0.0]), requires_grad=True)
    with pytest.raises(tg.AnomalyError), tg.detect_anomaly():
        x.sqrt().sum().backward()
    assert not tg.is_anomaly_enabled() and tg.is_grad_enabled() and STATE.backward_of == ""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = x.log()                                   # outside: -inf quietly, as PyTorch
    assert y.numpy()[0] == -np.inf


def test_anomaly_as_a_decorator_and_finite_graphs_pass():
    @tg.detect_anomaly()
    def run(t):
        loss = (t.softmax(-1) * t.tanh()).sum() + t.logsumexp(-1).sum()
        loss.backward()
        return loss

    x = Tensor(np.array([[1e4, -1e4, 0.0]], dtype=np.float32), requires_grad=True)
    assert np.isfinite(run(x).item()) and np.isfinite(x.grad.numpy()).all()
    assert not tg.is_anomaly_enabled()


def test_anomaly_detects_nan_already_in_the_data():
    x = Tensor(np.array([np.nan, 1.0]), requires_grad=True)
    with tg.detect_anomaly(), pytest.raises(tg.AnomalyError) as e:
        line = _line_after()
        y = x * 2.0  # noqa: F841
    _assert_names(e.value, "mul", line, "y = x * 2.0", "nan")


# -- overflow: quiet inf (as PyTorch), found by detect_anomaly -----------------------------------
KNOWN_LOUD_OVERFLOW: dict[str, str] = {}


def _overflow_params():
    return [pytest.param(n, id=n, marks=(pytest.mark.xfail(
        strict=True, reason=f"engine bug: {KNOWN_LOUD_OVERFLOW[n]}"),) if n in KNOWN_LOUD_OVERFLOW
        else ()) for n in sorted(REGISTRY)]


@pytest.mark.parametrize("name", _overflow_params())
def test_overflow_is_quiet_and_caught_by_detect_anomaly(name):
    """Huge inputs (a quarter of the dtype's largest value, and as large upstream gradients): an op
    may overflow to inf, silently as PyTorch (never a RuntimeWarning), and detect_anomaly() must
    then name it. 24 fixed samples per op, drawn by the op's own ``sample``."""
    for seed in range(24):
        _overflow_case(name, NumpySampler(seed), np.float64 if seed % 2 else np.float32)


def _overflow_case(name, sampler, dtype):
    spec = REGISTRY[name]
    args, kwargs = spec.sample(sampler)
    big = float(np.finfo(dtype).max) / 4
    xs = [np.asarray(a * big, dtype=dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
          else a for a in args]

    def run():
        ts = [Tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a
              for a in xs]
        out = spec(*ts, **kwargs)
        # as large an upstream gradient as the output's dtype holds (astype may narrow it)
        top = float(np.finfo(out.dtype).max) / 4 if out.dtype.kind == "f" else 1
        out.backward(Tensor(np.full(out.shape, min(big, top), dtype=out.dtype)))
        return out, [t.grad for t in ts if isinstance(t, Tensor) and t.grad is not None]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            out, grads = run()
        except tg.TinygradError:
            return                  # e.g. binary_cross_entropy: not probabilities any more
        finite = np.isfinite(out.numpy()).all() and all(np.isfinite(g.numpy()).all() for g in grads)
        if not finite:
            with tg.detect_anomaly(), pytest.raises(tg.AnomalyError, match=r"produced (nan|inf)"):
                run()


@pytest.mark.parametrize("op, value", [("add_", 3e38), ("sub_", -3e38), ("mul_", 10.0),
                                       ("div_", 1e-10)])
def test_inplace_overflow_is_quiet(op, value):
    t = Tensor(np.array([3e38, 1.0], dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(t, op)(value)
    assert np.isinf(t.numpy()[0]) and np.isfinite(t.numpy()[1])


@pytest.mark.parametrize("make", [lambda: Tensor([1e300, 1.0]),
                                  lambda: Tensor(np.array([1e300, 1.0]), dtype=np.float32),
                                  lambda: Tensor(np.array([1e300, 1.0])).float()])
def test_narrowing_to_float32_overflows_quietly(make):
    """Python floats become float32; a value beyond its range becomes inf (as torch.tensor)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = make()
    assert t.dtype == np.float32 and np.isinf(t.numpy()[0]) and t.numpy()[1] == 1.0


def test_optimizer_step_overflow_is_quiet():
    """A huge gradient sends a parameter to inf without a warning; detect_anomaly finds it later."""
    p = tg.nn.Parameter(np.array([3e38, 1.0], dtype=np.float32))
    p.grad = Tensor(np.array([-3e38, 0.0], dtype=np.float32))
    for opt in (tg.optim.SGD([p], lr=1.0, momentum=0.9), tg.optim.Adam([p], lr=1.0)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            opt.step()
    assert np.isinf(p.numpy()[0]) or np.isnan(p.numpy()[0])


@pytest.mark.parametrize("pair", ["fast", "public"])
def test_quiet_enter_and_exit_apply_the_policy_and_restore_the_state(pair):
    """Both ways of entering the floating-point policy (NumPy 2's context variable, and
    np.errstate for NumPy 1.x) silence overflow inside and restore the caller's state after."""
    from tinygrad_ko import grad_mode
    enter, leave = ((grad_mode.quiet_enter, grad_mode.quiet_exit) if pair == "fast"
                    else (grad_mode._enter_errstate, grad_mode._exit_errstate))
    big = np.array([3e38], dtype=np.float32)
    with warnings.catch_warnings(), np.errstate(over="raise"):
        warnings.simplefilter("error")
        token = enter()
        try:
            inner = enter()   # nested (an op inside an op) works too
            leave(inner)
            assert np.isinf(big * 10)[0]
        finally:
            leave(token)
        assert np.geterr()["over"] == "raise"
        with pytest.raises(FloatingPointError):
            big * 10
