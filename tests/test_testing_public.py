"""tinygrad_ko.testing's public entry (check_op, op_tests, check_inputs): what it accepts, that each
check catches what it is for, the failure report, hypothesis settings, and a user's project outside
the repository running it with pytest."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st

import tinygrad_ko as tg
from tinygrad_ko import Function, Tensor
from tinygrad_ko.errors import GradcheckError, ShapeError, UsageError
from tinygrad_ko.gradcheck import GradientMismatchError
from tinygrad_ko.registry import REGISTRY, binary, unary
from tinygrad_ko.testing import (CHECKS, OpCheckError, check_inputs, check_op, float_arrays,
                                 op_tests, shapes)

ROOT = Path(__file__).resolve().parent.parent
FEW = settings(max_examples=5, deadline=None, derandomize=True)


class Softplus(Function):
    """log(1 + exp(x));  d/dx = sigmoid(x)."""
    def forward(ctx, x):
        return np.logaddexp(0, x)

    def backward(ctx, grad):
        x, = ctx.inputs
        return grad * x.sigmoid()


class HalfSquare(Function):
    """x**2 with a backward that forgets the factor 2."""
    def forward(ctx, x):
        return x * x

    def backward(ctx, grad):
        x, = ctx.inputs
        return grad * x


def mse(y, t):
    return ((y - t) ** 2).mean()


def same_shape(s):
    shape = s.shape()
    return (s.array(shape), s.array(shape)), {}


# -- what it accepts ---------------------------------------------------------------------------
def test_a_correct_function_a_loss_and_registered_ops_pass():
    check_op(Softplus, sample=unary(-3.0, 3.0), settings=FEW)
    check_op(mse, sample=same_shape, settings=FEW)
    check_op("exp", settings=FEW)                              # by name
    check_op(REGISTRY["matmul"], settings=FEW)                 # by OpSpec
    check_op(REGISTRY["relu"].function, settings=FEW)          # by its Function class


def test_every_applicable_check_runs_by_default():
    calls = []

    def spy(x):
        calls.append(x.dtype)
        return x.tanh()
    check_op(spy, sample=unary(), settings=FEW)
    assert np.float32 in calls and np.float64 in calls        # float32 check and gradchecks ran
    assert set(op_tests("max_pool2d").__dict__) >= {"test_first_order", "test_backward_np"}


def test_sample_forms(monkeypatch):
    """A Sampler function, a strategy of inputs, a strategy of (args, kwargs), a list of
    strategies: all draw the same kind of input."""
    seen = []

    def f(x, y=None, scale=1.0):
        seen.append((x.shape, scale))
        return (x * scale).tanh() if y is None else x * y
    check_op(f, sample=float_arrays(shapes()), settings=FEW, checks=["first_order"])
    check_op(f, sample=st.tuples(st.tuples(float_arrays((2,))), st.just({"scale": 3.0})),
             settings=FEW, checks=["first_order"])
    assert seen[-1] == ((2,), 3.0)
    check_op(f, sample=[float_arrays((3,)), float_arrays((3,))], settings=FEW,
             checks=["first_order"])
    assert seen[-1] == ((3,), 1.0)


def test_fixed_inputs_are_passed_not_differentiated():
    """A Tensor input (a target) and an int array (labels) are passed through, not perturbed."""
    def labels_sample(s):
        n = s.integers(1, 3)
        return (s.array((n, 3)), np.array([s.integers(0, 2) for _ in range(n)]),
                Tensor(s.array((n, 3)))), {}

    def loss(logits, labels, target):
        assert not target.requires_grad and labels.dtype.kind == "i"
        return -logits.log_softmax(-1)[np.arange(logits.shape[0]), labels].mean() + \
            (logits * target).sum()
    check_op(loss, sample=labels_sample, settings=FEW)


def test_usage_errors_say_what_to_do():
    with pytest.raises(UsageError, match="no sample"):
        check_op(Softplus)
    with pytest.raises(UsageError, match="did you mean 'exp'"):
        check_op("epx")
    with pytest.raises(UsageError, match="no backward_np"):
        check_op(Softplus, sample=unary(), checks=["backward_np"])
    with pytest.raises(UsageError, match="unknown check 'gradients'.*first_order"):
        check_op("exp", checks=["gradients"])
    with pytest.raises(UsageError, match="sample must be"):
        op_tests(Softplus, sample=42)
    with pytest.raises(UsageError, match="Function subclass"):
        check_op(3.0)
    assert CHECKS == ("first_order", "second_order", "float32", "backward_np", "errors")


# -- each check catches its bug, with a report ---------------------------------------------------
def test_first_order_report_names_input_element_values_and_tolerances():
    with pytest.raises(OpCheckError) as info:
        check_op(HalfSquare, sample=unary(), checks=["first_order"])
    e = info.value
    text = str(e)
    assert e.check == "first_order" and e.op == "HalfSquare" and isinstance(e, GradcheckError)
    assert isinstance(e.mismatch, GradientMismatchError) and e.mismatch.input == 0
    # hypothesis shrank it: a 0-d input (x = 0 has gradient 0 both ways, so the smallest is +-1)
    assert e.inputs[0].shape == () and abs(e.inputs[0].item()) == 1.0
    for part in ("HalfSquare: first-order gradients", "smallest failing input",
                 "input 0: float64 array, shape ()", "np.array(",
                 "worst element: input 0 at index ()",
                 "analytic (backprop):", "numeric (central differences):",
                 "atol + rtol*|numeric| = 1e-05 + 0.001*", "1 of 1 element(s) out of tolerance",
                 "d output / d input is ",
                 "reproduce: tinygrad_ko.testing.check_inputs(HalfSquare"):
        assert part in text, part
    # the scalar line undoes the random weight: x and 2x
    a, n = e.mismatch.analytic, e.mismatch.numeric
    assert n == pytest.approx(2 * a, rel=1e-6)


def test_the_reproduce_line_reproduces():
    with pytest.raises(OpCheckError) as info:
        check_op(HalfSquare, sample=unary(), checks=["first_order"])
    line = str(info.value).split("reproduce: ")[1].splitlines()[0]
    import tinygrad_ko.testing
    with pytest.raises(OpCheckError, match="first-order"):
        eval(line, {"tinygrad_ko": tinygrad_ko, "np": np, "HalfSquare": HalfSquare})  # noqa: S307
    check_inputs(Softplus, [np.array([0.5, -1.0])])            # and a right op passes


def test_second_order_report_names_the_first_order_gradient():
    class DetachedProduct(Function):
        """x*y whose gradient for y is cut from the graph: right first, wrong second order."""
        def forward(ctx, x, y):
            return x * y

        def backward(ctx, grad):
            x, y = ctx.inputs
            return grad * y, grad * Tensor(x._data)
    check_op(DetachedProduct, sample=binary(), checks=["first_order"], settings=FEW)
    with pytest.raises(OpCheckError) as info:
        check_op(DetachedProduct, sample=binary(), checks=["second_order"])
    m = info.value.mismatch
    assert m.order == 2 and m.of_gradient == 1 and m.input == 0 and m.cotangent is None
    assert "the gradient of input 1 (first order" in str(info.value)
    assert "differentiated with respect to input 0" in str(info.value)


def test_float32_check_finds_an_upcast():
    class Upcast(Function):
        def forward(ctx, x):
            return x * 2 + np.zeros(x.shape)                 # np.zeros is float64

        def backward(ctx, grad):
            return grad * 2.0

    with pytest.raises(OpCheckError, match="output 0 is float64 for float32 inputs"):
        check_op(Upcast, sample=unary(), checks=["float32"], settings=FEW)
    check_op(Softplus, sample=unary(), checks=["float32"], settings=FEW)


def test_backward_np_check():
    class Scale(Function):
        def forward(ctx, x):
            return 3 * x

        def backward(ctx, grad):
            return grad * 3

        def backward_np(ctx, grad):
            return (grad * 3.0000001,)                       # slightly off

    with pytest.raises(OpCheckError, match="backward_np and backward disagree for input 0"):
        check_op(Scale, sample=unary(), checks=["backward_np"], settings=FEW)
    assert "backward_np" in op_tests(Scale, sample=unary()).__dict__["test_backward_np"].__name__


def test_errors_check():
    def needs_matrix(x):
        if x.ndim != 2:
            raise ShapeError(f"needs_matrix: expected a 2-d input, got shape {x.shape}")
        return x.tanh()

    def not_matrix(s):
        return (s.array(s.shape(max_dims=1)),), {}

    check_op(needs_matrix, sample=lambda s: ((s.array(s.shape(2, 2)),), {}),
             invalid=(not_matrix, ShapeError), settings=FEW)
    with pytest.raises(OpCheckError, match="accepted this invalid input"):
        check_op(lambda x: x.tanh(), invalid=not_matrix, checks=["errors"], settings=FEW)
    with pytest.raises(OpCheckError, match="raised IndexError on this invalid input, not "
                                           "TinygradError"):               # NumPy's error leaks
        check_op(lambda x: Tensor(x.numpy()[[5]]), invalid=not_matrix, checks=["errors"],
                 settings=FEW)


def test_a_crash_or_runtime_warning_on_valid_input_is_reported_with_its_traceback():
    class Crashes(Function):
        def forward(ctx, x):
            return x

        def backward(ctx, grad):
            return grad.no_such_method()

    with pytest.raises(OpCheckError, match="Crashes raised AttributeError on this valid input") \
            as info:
        check_op(Crashes, sample=unary(), checks=["first_order"], settings=FEW)
    assert isinstance(info.value.__cause__, AttributeError)    # the op's own traceback is kept

    def warns(x):
        return Tensor(np.log(x.numpy() - 10.0))                 # log of negatives: a RuntimeWarning
    with pytest.raises(OpCheckError, match="RuntimeWarning"):
        check_op(warns, sample=unary(), checks=["float32"], settings=FEW)


# -- hypothesis settings -------------------------------------------------------------------------
def _count(conf=None, profile=None):
    n = [0]

    def sample(s):
        n[0] += 1
        return (s.array(s.shape()),), {}
    if profile:
        settings.register_profile("_tg_test_profile", max_examples=3, deadline=None)
        previous = settings.get_current_profile_name()
        settings.load_profile("_tg_test_profile")
    try:
        check_op(lambda x: x.exp(), sample=sample, checks=["first_order"], settings=conf)
    finally:
        if profile:
            settings.load_profile(previous)
    return n[0]


def test_the_loaded_profile_and_given_settings_are_honoured():
    # hypothesis may draw one more input than max_examples (its first, simplest try)
    assert settings.default.max_examples == 12 and 12 <= _count() <= 13  # conftest: 'fast'
    assert 3 <= _count(profile=True) <= 4
    assert 2 <= _count(settings(max_examples=2, database=None)) <= 3


def test_op_tests_makes_a_pytest_class():
    cls = op_tests(Softplus, sample=unary(-3.0, 3.0), settings=FEW)
    names = sorted(n for n in vars(cls) if n.startswith("test_"))
    assert names == ["test_first_order", "test_float32", "test_second_order"]
    assert cls.__name__ == "TestSoftplus"
    for n in names:
        getattr(cls(), n)()                                   # each runs check_op
    broken = op_tests(HalfSquare, sample=unary(), settings=FEW)
    with pytest.raises(OpCheckError):
        broken().test_first_order()
    assert [n for n in vars(op_tests(mse, sample=same_shape, second_order=False))
            if n.startswith("test_")] == ["test_first_order", "test_float32"]


# -- a user's project, outside the repository -----------------------------------------------------
USER_OP = '''
import numpy as np
from tinygrad_ko import Function


class Softplus(Function):
    """log(1 + exp(x));  d/dx = sigmoid(x)."""
    def forward(ctx, x):
        return np.logaddexp(0, x)

    def backward(ctx, grad):
        x, = ctx.inputs
        return grad * x.sigmoid() * FACTOR


FACTOR = 1.0


def mse(y, t):
    return ((y - t) ** 2).mean()
'''

USER_TESTS = '''
from tinygrad_ko.registry import unary
from tinygrad_ko.testing import check_op, op_tests

import myops

DRAWN = [0]


def pair(s):
    DRAWN[0] += 1
    shape = s.shape()
    return (s.array(shape), s.array(shape)), {}


TestSoftplus = op_tests(myops.Softplus, sample=unary(-3.0, 3.0))


def test_mse():
    check_op(myops.mse, sample=pair, checks=["first_order"])


def test_zz_profile():
    print("DRAWN", DRAWN[0])
'''


def _pytest(folder, *args, env=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    env.pop("TINYGRAD_KO_PROFILE", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s", *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def _drawn(out):
    return int(out.split("DRAWN ")[1].split()[0])


@pytest.mark.slow
def test_a_users_project_outside_the_repository(tmp_path):
    """A project of its own (no tests/ folder of ours on the path, cwd outside the repository):
    a custom op and a custom loss pass; the profiles and --hypothesis-profile apply; a broken
    backward fails with the report."""
    (tmp_path / "myops.py").write_text(USER_OP)
    (tmp_path / "test_myops.py").write_text(USER_TESTS)
    (tmp_path / "conftest.py").write_text(
        "from tinygrad_ko.testing import register_profiles\nregister_profiles()\n")
    # CI=true: hypothesis then loads its own 'ci' profile (100 examples); 'fast' must still win
    r = _pytest(tmp_path, env={"CI": "true"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "5 passed" in r.stdout and _drawn(r.stdout) in (12, 13)     # the 'fast' profile
    r = _pytest(tmp_path, "--hypothesis-profile", "thorough", "-k", "mse or zz")
    assert r.returncode == 0 and 300 <= _drawn(r.stdout) < 400, r.stdout + r.stderr  # thorough
    (tmp_path / "myops.py").write_text(USER_OP.replace("FACTOR = 1.0", "FACTOR = 0.5"))
    r = _pytest(tmp_path, "-k", "Softplus and first_order")
    assert r.returncode == 1, r.stdout + r.stderr
    for part in ("Softplus: first-order gradients (backprop vs numerical differentiation) failed",
                 "worst element: input 0", "analytic (backprop):", "numeric (central differences):",
                 "atol + rtol*|numeric|", "1 failed"):
        assert part in r.stdout, part
    assert "tinygrad_ko/gradcheck.py" not in r.stdout                  # no library traceback
