"""Every registered op, first and second order, against the numerical-gradient oracle, on inputs
drawn by the op's own ``sample`` (random shapes, broadcasting included).

The checks are those a user runs on their own ops: ``tinygrad_ko.testing.check_op`` (one
implementation; its own tests are in tests/test_testing_public.py)."""
import inspect

import pytest

import tinygrad_ko as tg
from tinygrad_ko.function import Function
from tinygrad_ko.registry import REGISTRY
from tinygrad_ko.testing import check_op

OPS = sorted(REGISTRY)


@pytest.mark.parametrize("name", OPS)
def test_first_order(name):
    check_op(name, checks=["first_order"])


@pytest.mark.parametrize("name", [n for n in OPS if REGISTRY[n].second_order])
def test_second_order(name):
    check_op(name, checks=["second_order"])


@pytest.mark.parametrize("name", OPS)
def test_float32_in_float32_out(name):
    """float32 inputs give float32 outputs and float32 gradients: nothing upcasts to float64."""
    check_op(name, checks=["float32"])


def _all_functions(cls=Function):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_functions(sub)


def test_every_function_is_registered():
    """An op class without a registry entry (and so without its oracle test) fails here."""
    missing = [f.__qualname__ for f in _all_functions()
               if f.spec is None and not f.__name__.startswith("_")
               and f.__module__.startswith("tinygrad_ko")]
    assert not missing, f"Function classes with no registry entry: {missing}"


# Public Tensor attributes that are not differentiable ops (so have no oracle test), with why.
NOT_OPS = {
    # data, metadata and conversion
    "data", "grad", "grad_fn", "requires_grad", "is_leaf", "shape", "ndim", "dtype", "size", "numel",
    "dim", "numpy", "tolist", "item", "T", "mT",
    # graph control
    "backward", "retain_grad", "detach", "requires_grad_",
    # in-place updates (run under no_grad; tested in test_tensor.py)
    "add_", "sub_", "mul_", "div_", "zero_", "fill_", "copy_",
    "addcmul_", "addcdiv_", "sqrt_", "exp_", "clamp_", "clip_", "normal_", "uniform_",
    "masked_fill_",   # (these in tests/test_parity_tensor.py)
    # comparisons and integer/boolean results: no gradient by definition
    "argmax", "argmin", "all", "any", "sign", "eq", "ne", "lt", "le", "gt", "ge", "equal",
    "allclose",
    # devices (tests/test_parity_tensor.py)
    "device", "is_cuda", "cpu", "cuda",
}
# Convenience spellings that call a registered op through another method (tested via that op).
ALIASES = {
    "swapaxes": "transpose", "expand": "broadcast_to", "clamp": "clip", "amax": "max",
    "amin": "min", "view": "reshape", "expand_dims": "unsqueeze", "to": "astype", "float": "astype",
    "double": "astype", "type": "astype", "long": "astype", "int": "astype", "bool": "astype",
    "half": "astype", "view_as": "reshape", "reshape_as": "reshape", "t": "transpose",
    "masked_fill": "where",
}


def test_every_public_tensor_method_is_covered():
    """A public Tensor method that is neither a registered op nor listed above fails here."""
    covered = {m for spec in REGISTRY.values() for m in spec.methods} | {n for n in REGISTRY}
    public = {n for n, _ in inspect.getmembers(tg.Tensor) if not n.startswith("_")}
    dunder_ops = {"__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
                  "__rtruediv__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__",
                  "__abs__", "__getitem__"}
    uncovered = sorted((public | dunder_ops) - covered - NOT_OPS - set(ALIASES))
    assert not uncovered, f"Tensor methods with no registry entry (no oracle test): {uncovered}"
    for alias, target in ALIASES.items():
        assert target in REGISTRY, alias


def test_registry_names_match_functions():
    for name, spec in REGISTRY.items():
        if spec.function is not None:
            assert spec.function.name == name


@pytest.mark.parametrize("name", [n for n in OPS if REGISTRY[n].function is not None
                                  and REGISTRY[n].function.backward_np is not None])
def test_fast_backward_matches_tensor_backward(name):
    """Ops with a NumPy backward (for speed) agree with their Tensor backward, which is the one
    create_graph=True differentiates: the first-order oracle runs one, the second-order the other."""
    check_op(name, checks=["backward_np"])
