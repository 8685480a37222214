"""Differential tests: every registered op against PyTorch, on inputs drawn by the op's own
``sample`` (tests/torch_reference.py says how PyTorch computes each one).

For each op, in float64: the values, the gradients for a random cotangent, and (where the op
claims ``second_order``) the gradient of <gradient, v> built with ``create_graph=True``; in
float32: the dtypes of the result and of the gradients. Then error-versus-no-error agreement on
invalid calls. PyTorch is the specification: a disagreement here is a bug of tinygrad_ko, unless
docs/en/pytorch.md lists it as a deliberate difference (tested in tests/test_torch_api.py).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_ko as tg
from tinygrad_ko.registry import REGISTRY
from tinygrad_ko.testing import op_inputs
from torch_reference import REFERENCE

torch = pytest.importorskip("torch", reason="PyTorch is an optional test dependency: "
                                            "pip install -e '.[compare]'")

OPS = sorted(REGISTRY)
RTOL, ATOL = 1e-7, 1e-10              # float64: the two libraries may round differently, no more
RTOL32, ATOL32 = 2e-4, 2e-5


def test_every_registered_op_has_a_torch_reference():
    """A new op joins the differential tests as it joins the oracle tests: it needs a reference."""
    missing = sorted(set(REGISTRY) - set(REFERENCE))
    assert not missing, (f"registered ops with no PyTorch reference in tests/torch_reference.py: "
                         f"{missing}")


# -- running one op under both libraries -------------------------------------------------------
def _is_float(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _tg_inputs(args, dtype):
    return [tg.Tensor(a.astype(dtype), requires_grad=True) if _is_float(a) else
            tg.Tensor(a) if isinstance(a, np.ndarray) else a for a in args]


def _torch_inputs(args, dtype):
    tdtype = getattr(torch, np.dtype(dtype).name)
    return [torch.tensor(a, dtype=tdtype, requires_grad=True) if _is_float(a) else
            torch.from_numpy(np.array(a)) if isinstance(a, (np.ndarray, np.generic)) else a
            for a in args]


def _run(name, args, kwargs, dtype=np.float64):
    """(tg inputs, tg output, torch inputs, torch output) for one draw."""
    xs = _tg_inputs(args, dtype)
    out = REGISTRY[name](*xs, **kwargs)
    ts = _torch_inputs(args, dtype)
    ref = REFERENCE[name](torch, ts, kwargs)
    return xs, out, ts, ref


def _np(t) -> np.ndarray:
    if isinstance(t, tg.Tensor):
        return np.asarray(t.numpy())
    t = t.detach()
    if t._is_zerotensor():     # PyTorch's symbolic zeros (e.g. the second derivative of abs)
        return np.zeros(tuple(t.shape), dtype=str(t.dtype).removeprefix("torch."))
    return t.numpy()


def _same(tg_value, torch_value, what, rtol=RTOL, atol=ATOL):
    a, b = _np(tg_value), _np(torch_value)
    assert a.shape == b.shape, f"{what}: shape {a.shape}, PyTorch {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def _diff_inputs(xs, ts):
    pairs = [(x, t) for x, t in zip(xs, ts) if isinstance(x, tg.Tensor) and x.requires_grad]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _torch_grad(outputs, inputs, grad_outputs=None, create_graph=False):
    """torch.autograd.grad that answers zeros (not an error) when nothing depends on the inputs."""
    if not outputs.requires_grad:
        return [torch.zeros_like(t) for t in inputs]
    gs = torch.autograd.grad(outputs, inputs, grad_outputs, create_graph=create_graph,
                             allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(gs, inputs)]


def _tg_grad(outputs, inputs, grad_outputs=None, create_graph=False):
    if not outputs.requires_grad:
        return [tg.zeros_like(x) for x in inputs]
    gs = tg.grad(outputs, inputs, grad_outputs, create_graph=create_graph, allow_unused=True)
    return [tg.zeros_like(x) if g is None else g for g, x in zip(gs, inputs)]


def _draw(name, data):
    args, kwargs = data.draw(op_inputs(REGISTRY[name]), label="inputs")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    return args, kwargs, np.random.default_rng(seed)


def _cotangent(rng, shape):
    """Random, never all ones: a gradient bug that only shows off the ones vector shows here."""
    return np.asarray(rng.standard_normal(shape) + 0.25)


# -- the differential tests --------------------------------------------------------------------
@pytest.mark.parametrize("name", OPS)
@given(data=st.data())
def test_values_and_gradients(name, data):
    args, kwargs, rng = _draw(name, data)
    xs, out, ts, ref = _run(name, args, kwargs)
    assert str(out.dtype) == str(ref.dtype).removeprefix("torch."), (
        f"{name}: dtype {out.dtype}, PyTorch {ref.dtype}")
    _same(out, ref, f"{name}: values")
    xs, ts = _diff_inputs(xs, ts)
    cot = _cotangent(rng, out.shape)
    got = _tg_grad(out, xs, tg.Tensor(cot))
    want = _torch_grad(ref, ts, torch.from_numpy(cot))
    for i, (g, w) in enumerate(zip(got, want)):
        _same(g, w, f"{name}: gradient of input {i}")


@pytest.mark.parametrize("name", [n for n in OPS if REGISTRY[n].second_order])
@given(data=st.data())
def test_second_order(name, data):
    """d<grad(out; cot), v>/dinputs, through create_graph=True, as PyTorch's double backward."""
    args, kwargs, rng = _draw(name, data)
    if name == "pow" and len(args) == 2 and np.any(np.asarray(args[1]) == 0):
        return   # a deliberate difference: test_difference_pow_second_order_at_exponent_zero
    xs, out, ts, ref = _run(name, args, kwargs)
    xs, ts = _diff_inputs(xs, ts)
    cot = _cotangent(rng, out.shape)
    vs = [np.asarray(rng.standard_normal(x.shape)) for x in xs]
    g1 = _tg_grad(out, xs, tg.Tensor(cot), create_graph=True)
    s = sum(((g * tg.Tensor(v)).sum() for g, v in zip(g1, vs)), tg.tensor(0.0, dtype=tg.float64))
    w1 = _torch_grad(ref, ts, torch.from_numpy(cot), create_graph=True)
    ws = sum((w * torch.from_numpy(v)).sum() for w, v in zip(w1, vs))
    got, want = _tg_grad(s, xs), _torch_grad(ws, ts)
    for i, (g, w) in enumerate(zip(got, want)):
        _same(g, w, f"{name}: second-order gradient of input {i}", atol=1e-9)


@pytest.mark.parametrize("name", OPS)
@given(data=st.data())
def test_float32_dtypes(name, data):
    """float32 inputs: the same result dtype as PyTorch, the same values to float32 precision,
    and gradients in the inputs' dtype."""
    args, kwargs, rng = _draw(name, data)
    xs, out, ts, ref = _run(name, args, kwargs, dtype=np.float32)
    assert str(out.dtype) == str(ref.dtype).removeprefix("torch."), (
        f"{name}: dtype {out.dtype}, PyTorch {ref.dtype}")
    _same(out, ref, f"{name}: float32 values", RTOL32, ATOL32)
    xs, ts = _diff_inputs(xs, ts)
    cot = _cotangent(rng, out.shape).astype(_np(out).dtype)
    got = _tg_grad(out, xs, tg.Tensor(cot))
    want = _torch_grad(ref, ts, torch.from_numpy(cot))
    for i, (g, w) in enumerate(zip(got, want)):
        assert str(g.dtype) == str(w.dtype).removeprefix("torch."), (
            f"{name}: gradient {i} is {g.dtype}, PyTorch's {w.dtype}")


# -- error versus no error ---------------------------------------------------------------------
def _libs():
    return [("tinygrad_ko", tg, tg.nn.functional), ("torch", torch, torch.nn.functional)]


def _raises(fn, lib, F) -> bool:
    try:
        fn(lib, F)
    except Exception:          # noqa: BLE001 (any error counts: its class is each library's own)
        return True
    return False


def _f(*shape):
    return np.arange(np.prod(shape), dtype=np.float32).reshape(shape) / 7.0 - 1.0


# each: a call that PyTorch refuses, written once for both libraries
INVALID = {
    "matmul of misaligned shapes": lambda t, F: t.tensor(_f(2, 3)) @ t.tensor(_f(2, 3)),
    "add of shapes that do not broadcast": lambda t, F: t.tensor(_f(2, 3)) + t.tensor(_f(4)),
    "reshape to another element count": lambda t, F: t.tensor(_f(2, 3)).reshape(4, 2),
    "sum over an axis out of range": lambda t, F: t.tensor(_f(2, 3)).sum(dim=2),
    "mean over a repeated axis": lambda t, F: t.tensor(_f(2, 3)).mean(dim=(0, 0)),
    "softmax over an axis out of range": lambda t, F: F.softmax(t.tensor(_f(2, 3)), dim=2),
    "logsumexp over an axis out of range": lambda t, F: t.tensor(_f(2, 3)).logsumexp(dim=-3),
    "cat of pieces that differ off the axis": lambda t, F: t.cat([t.tensor(_f(2, 3)),
                                                                  t.tensor(_f(2, 4))], dim=0),
    "stack of different shapes": lambda t, F: t.stack([t.tensor(_f(2)), t.tensor(_f(3))]),
    "permute with a repeated axis": lambda t, F: t.tensor(_f(2, 3)).permute(0, 0),
    "unsqueeze at an axis out of range": lambda t, F: t.tensor(_f(2, 3)).unsqueeze(4),
    "flatten with start after end": lambda t, F: t.tensor(_f(2, 3, 4)).flatten(2, 1),
    "an index out of range": lambda t, F: t.tensor(_f(3))[5],
    "item of several elements": lambda t, F: t.tensor(_f(3)).item(),
    "an integer tensor that requires grad": lambda t, F: t.tensor([1, 2], requires_grad=True),
    "backward of a non-scalar without a gradient": lambda t, F: (
        t.tensor(_f(3), requires_grad=True) * 2).backward(),
    "backward twice through a freed graph": lambda t, F: _backward_twice(t),
    "cross_entropy with a class out of range": lambda t, F: F.cross_entropy(
        t.tensor(_f(2, 3)), t.tensor(np.array([0, 3]))),
    "cross_entropy with 1-d logits and 2 targets": lambda t, F: F.cross_entropy(
        t.tensor(_f(3)), t.tensor(np.array([0, 1]))),
    "nll_loss with a negative class": lambda t, F: F.nll_loss(
        t.tensor(_f(2, 3)), t.tensor(np.array([0, -2]))),
    "binary_cross_entropy of values above 1": lambda t, F: F.binary_cross_entropy(
        t.tensor(_f(3) + 5), t.tensor(_f(3) * 0)),
    "linear with the wrong in_features": lambda t, F: F.linear(t.tensor(_f(2, 3)),
                                                               t.tensor(_f(4, 2))),
    "conv2d with the wrong channel count": lambda t, F: F.conv2d(t.tensor(_f(1, 2, 5, 5)),
                                                                 t.tensor(_f(3, 1, 3, 3))),
    "conv2d with a kernel bigger than the input": lambda t, F: F.conv2d(
        t.tensor(_f(1, 1, 2, 2)), t.tensor(_f(1, 1, 3, 3))),
    "max_pool2d with padding above half the kernel": lambda t, F: F.max_pool2d(
        t.tensor(_f(1, 1, 4, 4)), 2, 2, 2),
    "max over an empty tensor": lambda t, F: t.tensor(_f(0)).max(),
    "argmax of an empty tensor": lambda t, F: t.tensor(_f(0)).argmax(),
    "argmax over an axis out of range": lambda t, F: t.tensor(_f(2, 3)).argmax(dim=2),
    "dropout with p above 1": lambda t, F: F.dropout(t.tensor(_f(3)), 1.5),
    "clamp with neither bound": lambda t, F: t.tensor(_f(3)).clamp(),
}


def _backward_twice(t):
    x = t.tensor(_f(3), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()


# each: an edge case PyTorch answers, and so must tinygrad_ko (more in test_parity_regressions.py)
VALID = {
    "sum of an empty tensor": lambda t, F: t.tensor(_f(0, 3)).sum(dim=0),
    "softmax of a tensor with 0 rows": lambda t, F: F.softmax(t.tensor(_f(0, 3)), dim=1),
    "max over the non-empty axis of 0 rows": lambda t, F: t.tensor(_f(0, 3)).amax(dim=1),
    "indexing with an empty list": lambda t, F: t.tensor(_f(3))[[]],
    "a 0-d tensor reduced over dim 0": lambda t, F: t.tensor(2.0).sum(dim=0),
    "a 0-d tensor's softmax over dim -1": lambda t, F: t.tensor(2.0).softmax(dim=-1),
    "squeeze of an axis that is not 1": lambda t, F: t.tensor(_f(2, 3)).squeeze(0),
    "flatten of a 0-d tensor": lambda t, F: t.tensor(2.0).flatten(),
    "matmul of two vectors": lambda t, F: t.tensor(_f(3)) @ t.tensor(_f(3)),
    "log of 0 and of a negative number": lambda t, F: t.tensor(_f(2) * 0 - 1).log(),
    "integer division by a float": lambda t, F: t.tensor(np.array([1, 2])) / 2.0,
    "a float tensor compared with an int tensor": lambda t, F: (
        t.tensor(_f(2)) < t.tensor(np.array([0, 1]))),
    "cross_entropy of an empty batch with reduction='sum'": lambda t, F: F.cross_entropy(
        t.tensor(_f(0, 3)), t.tensor(np.zeros(0, dtype=np.int64)), reduction="sum"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_both_refuse(case):
    fn = INVALID[case]
    assert _raises(fn, torch, torch.nn.functional), f"PyTorch accepts {case!r}: fix the case"
    assert _raises(fn, tg, tg.nn.functional), f"tinygrad_ko accepts {case!r}; PyTorch raises"


@pytest.mark.parametrize("case", sorted(VALID))
def test_both_answer(case):
    fn = VALID[case]
    with np.errstate(all="ignore"):
        want = fn(torch, torch.nn.functional)
        got = fn(tg, tg.nn.functional)
    assert tuple(got.shape) == tuple(want.shape), case
    np.testing.assert_allclose(_np(got).astype(np.float64), _np(want).astype(np.float64),
                               rtol=1e-6, err_msg=case)
    assert str(got.dtype) == str(want.dtype).removeprefix("torch."), case


@pytest.mark.parametrize("case", sorted(INVALID))
def test_errors_are_the_librarys_own(case):
    """Where PyTorch refuses, tinygrad_ko raises its own error (a TinygradError), never NumPy's or
    Python's from deep inside."""
    try:
        INVALID[case](tg, tg.nn.functional)
    except tg.TinygradError:
        return
    except Exception as e:      # noqa: BLE001
        pytest.fail(f"{case}: {type(e).__module__}.{type(e).__name__}: {e}")
    pytest.fail(f"{case}: no error")
