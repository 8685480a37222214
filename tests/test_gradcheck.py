"""The public oracle: numerical_diff, numerical_gradient, gradcheck, gradgradcheck."""
import numpy as np
import pytest

import tinygrad_ko as tg
from tinygrad_ko import Tensor
from tinygrad_ko.gradcheck import (GradientMismatchError, gradcheck, gradgradcheck, numerical_diff,
                                  numerical_gradient)


def test_numerical_diff_book_example():
    f = lambda x: 0.01 * x ** 2 + 0.1 * x  # noqa: E731  (the book's function_1)
    assert numerical_diff(f, 5.0) == pytest.approx(0.2, abs=1e-8)
    assert numerical_diff(f, 10.0) == pytest.approx(0.3, abs=1e-8)


def test_numerical_gradient_book_example_and_restores_input():
    f = lambda x: np.sum(x ** 2)  # noqa: E731  (the book's function_2)
    x = np.array([3.0, 4.0])
    np.testing.assert_allclose(numerical_gradient(f, x), [6.0, 8.0], rtol=1e-6)
    np.testing.assert_array_equal(x, [3.0, 4.0])
    X = np.array([[0.0, 2.0], [3.0, 1.0]])
    np.testing.assert_allclose(numerical_gradient(f, X), 2 * X, atol=1e-6)


def test_numerical_gradient_through_a_model_that_reads_x_in_place():
    W = Tensor(np.array([[0.5, -1.0], [2.0, 0.1]]), requires_grad=True)
    x = Tensor(np.array([[1.0, 2.0]]))
    loss = lambda _: ((x @ W) ** 2).sum().item()  # noqa: E731  ignores its argument, as the book
    num = numerical_gradient(loss, W)
    ((x @ W) ** 2).sum().backward()
    np.testing.assert_allclose(W.grad.numpy(), num, rtol=1e-5)


def test_gradcheck_passes_and_restores_tensors():
    W = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    before = W._data
    assert gradcheck(lambda w, x: (x @ w).tanh(), [W, np.ones((4, 2))])
    assert W._data is before and W.dtype == np.float32 and W.grad is None


def test_gradcheck_perturbs_non_c_ordered_inputs():
    """Inputs stored column-major (a transpose, nn.Linear's weight) are perturbed too: a flat
    reshape of them is a copy, so the check must work on a C-ordered copy of its own."""
    rng = np.random.default_rng(0)
    W = Tensor(np.asfortranarray(rng.standard_normal((3, 4))), requires_grad=True)
    x = np.asfortranarray(rng.standard_normal((4, 2)))
    for fast in (False, True):
        assert gradcheck(lambda w, x_: (w @ x_).tanh(), [W, x], fast_mode=fast)
    assert W._data.flags.f_contiguous and not W._data.flags.c_contiguous   # restored as it was


def test_gradcheck_rejects_nan_and_inf_inputs():
    with pytest.raises(tg.GradcheckError, match="input 0 contains nan at index \\(1,\\)"):
        gradcheck(lambda x: x * 2, [np.array([1.0, np.nan])])
    with pytest.raises(tg.GradcheckError, match="inf"):
        gradcheck(lambda x: x * 2, [np.array([np.inf])])


def test_gradcheck_reports_nan_outputs():
    with pytest.raises(tg.GradcheckError, match="nan or inf"):
        gradcheck(lambda x: x.log(), [np.array([-1.0])])


def test_gradcheck_raise_exception_false():
    from tinygrad_ko.function import Function

    class Wrong(Function):
        def forward(ctx, x):
            return np.sin(x)

        def backward(ctx, grad):
            return grad  # should be grad * cos(x)
    assert gradcheck(lambda x: Wrong.apply(x), [np.array([0.3, 1.0])], raise_exception=False) is False


def test_random_cotangent_catches_errors_all_ones_would_hide():
    """A backward that swaps the gradients of two outputs passes with all-ones cotangents
    (both get 1) but fails with random ones."""
    from tinygrad_ko.function import Function

    class SwapGrad(Function):  # forward: (x0 + x1, x0 - x1) stacked; backward wrong when g0 != g1
        def forward(ctx, x):
            return np.stack([x[0] + 2 * x[1], 2 * x[0] + x[1]])

        def backward(ctx, grad):
            return tg.stack([grad[0] + 2 * grad[1], 2 * grad[0] + grad[1]]) * 0 + \
                tg.stack([grad[1] + 2 * grad[0], 2 * grad[1] + grad[0]])
    x = np.array([0.5, 1.5])
    ones_ok = SwapGrad.apply(Tensor(x, requires_grad=True))
    ones_ok.backward(Tensor(np.ones(2)))
    with pytest.raises(tg.GradcheckError):
        gradcheck(lambda t: SwapGrad.apply(t), [x])


def test_gradgradcheck_catches_wrong_second_derivative():
    from tinygrad_ko.function import Function

    class DetachedSquare(Function):
        """Right first derivative, but computed on raw arrays: no second derivative recorded."""
        def forward(ctx, x):
            return x * x

        def backward(ctx, grad):
            (x,) = ctx.inputs
            return grad * Tensor(2 * x.numpy())
    x = np.array([1.0, -2.0])
    assert gradcheck(lambda t: DetachedSquare.apply(t), [x])
    with pytest.raises(tg.GradcheckError):
        gradgradcheck(lambda t: DetachedSquare.apply(t), [x])
    assert gradgradcheck(lambda t: t * t, [x])


def test_fast_mode_on_a_40k_parameter_net():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((20, 784)))
    t = rng.integers(0, 10, 20)
    params = [rng.standard_normal((784, 50)) * 0.05, np.zeros(50),
              rng.standard_normal((50, 10)) * 0.1, np.zeros(10)]
    assert sum(p.size for p in params) == 39_760

    def loss(W1, b1, W2, b2):
        logp = ((x @ W1 + b1).tanh() @ W2 + b2).log_softmax(-1)
        return -logp[np.arange(20), t].mean()
    assert gradcheck(loss, params, fast_mode=True)


def test_a_mismatch_carries_where_and_how_much():
    """GradientMismatchError: the input, the worst element, both values, tolerances, the count,
    and the random cotangents (so a scalar output's gradient can be read without the weight)."""
    from tinygrad_ko.function import Function

    class Off(Function):
        def forward(ctx, x):
            return x * 1.0

        def backward(ctx, grad):
            return grad * Tensor(np.array([1.0, 1.0, 3.0]))   # wrong at index 2 only
    with pytest.raises(GradientMismatchError) as info:
        gradcheck(lambda y, x: Off.apply(x) * 1.0, [3, np.array([0.5, 1.0, 2.0])])
    e = info.value
    assert (e.input, e.shape, e.index, e.count, e.size, e.order) == (1, (3,), (2,), 1, 3, 1)
    v = e.cotangents[0][2]
    assert e.analytic == pytest.approx(3 * v) and e.numeric == pytest.approx(v, rel=1e-6)
    assert (e.atol, e.rtol) == (1e-5, 1e-3) and isinstance(e, tg.GradcheckError)
    assert "disagree for input 1 (shape (3,)) at index (2,)" in str(e)
    with pytest.raises(GradientMismatchError) as fast:
        gradcheck(lambda x: Off.apply(x), [np.array([0.5, 1.0, 2.0])], fast_mode=True)
    assert fast.value.index is None and "fast mode" in str(fast.value)


def test_gradgradcheck_names_the_first_order_gradient_that_is_wrong():
    """With several inputs, the combined second-order check is narrowed down: which input's
    first-order gradient is wrong, differentiated with respect to which input."""
    from tinygrad_ko.function import Function

    class HalfDetached(Function):
        """x * y; the gradient for x keeps its graph, the one for y is cut from it."""
        def forward(ctx, x, y):
            return x * y

        def backward(ctx, grad):
            x, y = ctx.inputs
            return grad * y, grad * Tensor(x.numpy())
    xs = [np.array([1.0, 2.0]), np.array([3.0, -1.0])]
    assert gradcheck(HalfDetached.apply, xs)
    with pytest.raises(GradientMismatchError) as info:
        gradgradcheck(HalfDetached.apply, xs)
    e = info.value
    assert (e.order, e.of_gradient, e.input, e.cotangent) == (2, 1, 0, None)
    assert str(e).startswith("gradgradcheck (second derivatives): the gradient of input 1 (first "
                             "order, recorded with create_graph=True), differentiated with "
                             "respect to input 0 (shape (2,)) at index (")
