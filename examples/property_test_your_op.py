"""Property-test your own op and your own loss with the checks tinygrad_ko runs on its own ops.

    python -m pytest examples/property_test_your_op.py                     # all pass
    TG_SHOW_BROKEN=1 python -m pytest examples/property_test_your_op.py    # + a broken op's report
    python -m pytest examples/property_test_your_op.py --hypothesis-profile thorough   # 300 inputs

Nothing here comes from the repository's tests/ folder: in your own project, after
``pip install tinygrad_ko[test]``, a test file like this one is all you need (see docs page 09).
Each check draws inputs with hypothesis, and a failure shrinks to a small input and reports it:
the input, the worst element, backprop's and the numerical value, and the tolerances.
"""
import os

import numpy as np

from tinygrad_ko import Function
from tinygrad_ko.registry import unary
from tinygrad_ko.testing import check_op, op_tests, register_profiles

register_profiles()   # 'fast' (12 inputs per check), unless --hypothesis-profile says otherwise


# -- your op: one Function, forward on NumPy arrays, backward with Tensor ops ---------------------
class Softplus(Function):
    """log(1 + exp(x));  d/dx = sigmoid(x)."""
    def forward(ctx, x):
        return np.logaddexp(0, x)          # log(1 + exp(x)) that cannot overflow

    def backward(ctx, grad):
        x, = ctx.inputs
        return grad * x.sigmoid()          # Tensor ops: differentiable again (second order)


# One line gives a test class: first order, second order, float32 in -> float32 out.
TestSoftplus = op_tests(Softplus, sample=unary(-3.0, 3.0))


# -- your loss: any function of Tensors ---------------------------------------------------------
def cross_entropy(logits, labels):
    """-mean_i log softmax(logits)[i, labels[i]] (the book's SoftmaxWithLoss)."""
    logp = logits.log_softmax(axis=-1)
    return -logp[np.arange(logits.shape[0]), labels].mean()


def logits_and_labels(s):
    """A sample function: draws (args, kwargs) from the Sampler s. Float arrays are the
    differentiated inputs; the int labels are passed as they are."""
    n, c = s.integers(1, 4), s.integers(2, 5)
    labels = np.array([s.integers(0, c - 1) for _ in range(n)])
    return (s.array((n, c), -3.0, 3.0), labels), {}


def test_cross_entropy():
    check_op(cross_entropy, sample=logits_and_labels)     # the same checks, inside your own test


# -- a broken op, shown with TG_SHOW_BROKEN=1 -----------------------------------------------------
class MSELossBroken(Function):
    """mean((y - t)**2);  d/dy = 2(y - t)/n, d/dt = -2(y - t)/n. The backward forgets the 2."""
    def forward(ctx, y, t):
        return np.mean((y - t) ** 2)

    def backward(ctx, grad):
        y, t = ctx.inputs
        d = grad * (y - t) / y.numel()     # wrong: should be 2 * (y - t) / n
        return d, -d


def same_shape(s):
    shape = s.shape()
    return (s.array(shape), s.array(shape)), {}


if os.environ.get("TG_SHOW_BROKEN") == "1":
    TestMSELossBroken = op_tests(MSELossBroken, sample=same_shape, checks=["first_order"])
