"""Issue 16, the Tensor-level half: PyTorch's spellings and results for devices, conversions,
``.data``, in-place ops, top-level functions, ``max(dim)``, dtype promotion and ``tg.save``/``tg.load``.
Each bug of the issue has a regression test here (named after it)."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

import tinygrad_ko as tg
from tinygrad_ko import nn

# the device tests below check the errors of a machine without a GPU (CI); tests/test_gpu.py
# checks the GPU where there is one
_NO_GPU = pytest.mark.skipif(tg.cuda.is_available(), reason="a GPU is available here: these check "
                             "the errors without one (tests/test_gpu.py covers the GPU)")


# -- bugs of the issue -----------------------------------------------------------------------------
def test_softmax_and_log_softmax_take_dim_keyword():
    x = tg.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(x.softmax(dim=1).numpy().sum(axis=1), [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(x.softmax(dim=0).numpy(), x.softmax(0).numpy())
    np.testing.assert_allclose(x.log_softmax(dim=1).numpy(), np.log(x.softmax(1).numpy()),
                               rtol=1e-5)
    np.testing.assert_allclose(tg.softmax(x, 1).numpy(), x.softmax(dim=-1).numpy())
    np.testing.assert_allclose(tg.log_softmax(x, dim=0).numpy(), x.log_softmax(axis=0).numpy())
    with pytest.raises(tg.UsageError, match="either axis or dim"):
        x.softmax(0, dim=1)


def test_unsqueeze_and_squeeze_take_dim_keyword():
    x = tg.zeros(2, 3)
    assert x.unsqueeze(dim=1).shape == (2, 1, 3) and x.unsqueeze(0).shape == (1, 2, 3)
    assert x.unsqueeze(dim=1).squeeze(dim=1).shape == (2, 3)
    assert tg.unsqueeze(x, -1).shape == (2, 3, 1) and tg.squeeze(tg.zeros(1, 2)).shape == (2,)


def test_max_with_dim_returns_values_and_indices():
    out = tg.tensor([[0.1, 0.7, 0.2], [0.9, 0.05, 0.05]])
    _, pred = out.max(1)                # the everyday accuracy idiom, batch of 2
    assert pred.tolist() == [1, 0] and pred.dtype == np.int64
    r = out.max(dim=1)
    assert isinstance(r, tg.ValuesIndices) and r.values.tolist() == pytest.approx([0.7, 0.9])
    assert r.indices.tolist() == [1, 0]
    values, indices = out.min(1, keepdim=True)
    assert values.shape == (2, 1) and indices.tolist() == [[0], [1]]
    v, i = tg.max(out, 1)
    assert i.tolist() == [1, 0] and tg.min(out, dim=0).indices.tolist() == [0, 1, 1]
    for batch in (1, 3, 5):             # any batch size unpacks the same way
        _, pred = tg.randn(batch, 4).max(1)
        assert pred.shape == (batch,)


def test_values_indices_pair_is_not_taken_for_numbers():
    z = tg.randn(2, 2)
    with pytest.raises(tg.UsageError, match=r"\.values"):
        z - z.max(1)            # would otherwise stack values and indices into a (2, 2) array
    np.testing.assert_allclose((z - z.max(1, keepdim=True).values).numpy().max(axis=1), 0.0)


def test_max_without_dim_or_with_axis_returns_values():
    x = tg.tensor([[1.0, 5.0], [3.0, 2.0]])
    assert x.max().shape == () and x.max().item() == 5.0 and tg.max(x).item() == 5.0
    assert x.max(axis=1).tolist() == [5.0, 3.0] and x.min(axis=0, keepdims=True).shape == (1, 2)
    assert x.max((0, 1)).item() == 5.0                      # a tuple of dims: values (amax)
    assert x.amax(1).tolist() == [5.0, 3.0] and x.amin(dim=0).tolist() == [1.0, 2.0]
    assert x.max(tg.tensor([2.0, 4.0])).tolist() == [[2.0, 5.0], [3.0, 4.0]]   # maximum
    assert tg.min(x, tg.tensor(2.5)).tolist() == [[1.0, 2.5], [2.5, 2.0]]


def test_max_dim_gradient_goes_to_the_index_only():
    x = tg.tensor([[2.0, 2.0, 1.0]], requires_grad=True)
    x.max(1).values.sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0, 0.0]]            # PyTorch: the selected index
    y = tg.tensor([[2.0, 2.0, 1.0]], requires_grad=True)
    y.amax(1).sum().backward()
    assert y.grad.tolist() == [[0.5, 0.5, 0.0]]            # amax: ties share


def test_max_dim_edge_cases():
    s = tg.tensor(3.0)
    assert s.max(0).values.item() == 3.0 and s.max(0).indices.item() == 0
    with pytest.raises(tg.AxisError):
        s.max(1)
    with pytest.raises(tg.AxisError, match="max: axis 2"):
        tg.zeros(2, 2).max(2)
    with pytest.raises(tg.OpError, match="empty"):
        tg.zeros(2, 0).max(1)
    empty_rows = tg.zeros(0, 3).max(1)
    assert empty_rows.values.shape == (0,) and empty_rows.indices.shape == (0,)


def test_float64_tensor_from_python_floats_is_exact():
    assert tg.tensor(0.1, dtype=tg.float64).item() == 0.1
    assert tg.tensor([0.1, 1 / 3], dtype=tg.float64).tolist() == [0.1, 1 / 3]
    assert tg.Tensor([[0.1]], dtype=np.float64).item() == 0.1
    assert tg.tensor(0.1).dtype == np.float32 and tg.tensor(1e300).item() == float("inf")


@pytest.mark.parametrize("op", [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
                                lambda a, b: a / b, lambda a, b: a ** b, tg.maximum, tg.minimum,
                                lambda a, b: tg.where(a > 0, a, b)])
def test_zero_dim_tensor_does_not_promote_a_dimensioned_one(op):
    a = tg.tensor([1.0, 2.0])                                # float32 with dims
    b = tg.tensor(2.0, dtype=tg.float64)                    # 0-d float64
    assert op(a, b).dtype == np.float32 and op(b, a).dtype == np.float32
    ai, bi = tg.tensor([1, 2], dtype=tg.int32), tg.tensor(2, dtype=tg.int64)
    assert op(ai, bi).dtype == (np.float32 if op(ai, bi).dtype.kind == "f" else np.int32)


def test_promotion_between_categories_and_ranks():
    f32, f64 = tg.ones(2), tg.ones(2, dtype=tg.float64)
    assert (f32 + f64).dtype == np.float64                  # both with dims: NumPy's rule
    assert (tg.ones(2, dtype=tg.int64) + tg.tensor(1.5, dtype=tg.float64)).dtype == np.float64
    assert (tg.ones(2, dtype=tg.int64) + tg.tensor(1.5)).dtype == np.float32
    assert (tg.tensor([True, False]) + tg.tensor(1)).dtype == np.int64
    assert (tg.tensor(1.0, dtype=tg.float64) + tg.tensor(1.0)).dtype == np.float64  # both 0-d


def test_promoted_operand_keeps_its_gradient():
    w = tg.tensor(3.0, dtype=tg.float64, requires_grad=True)
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = w * x
    assert y.dtype == np.float32
    y.sum().backward()
    assert w.grad.dtype == np.float64 and w.grad.item() == pytest.approx(3.0)
    assert x.grad.tolist() == [3.0, 3.0]


def test_integer_clip_with_float_bounds_gives_float32():
    x = tg.tensor([0, 1, 2])
    assert x.clip(0.5, 1.5).dtype == np.float32 and x.clip(0.5, 1.5).tolist() == [0.5, 1.0, 1.5]
    assert x.clamp(0, 1).dtype == np.int64 and x.clamp(max=1).tolist() == [0, 1, 1]
    assert tg.clamp(x, min=1.0).dtype == np.float32 and tg.clip(x, 0, 1).dtype == np.int64


def test_empty_list_index_gives_an_empty_tensor():
    x = tg.zeros(3, 4, requires_grad=True)
    y = x[[]]
    assert y.shape == (0, 4)
    y.sum().backward()
    assert x.grad.tolist() == np.zeros((3, 4)).tolist()
    assert tg.arange(5)[[]].shape == (0,)
    assert x[[0, 2]].shape == (2, 4) and x[[True, False, True]].shape == (2, 4)


def test_argmax_argmin_raise_the_librarys_errors():
    x = tg.zeros(2, 3)
    with pytest.raises(tg.AxisError, match=r"argmax: axis 2 .* shape \(2, 3\)"):
        x.argmax(2)
    with pytest.raises(tg.AxisError, match="argmin"):
        x.argmin(dim=-3)
    with pytest.raises(tg.OpError, match=r"argmax: the tensor is empty \(shape \(0,\)\)"):
        tg.zeros(0).argmax()
    with pytest.raises(tg.OpError, match="argmin: axis 1 is empty"):
        tg.zeros(2, 0).argmin(1)
    with pytest.raises(tg.UsageError, match="argmax"):
        x.argmax(1.5)
    assert tg.argmax(tg.tensor([[1, 5], [7, 0]]), 1).tolist() == [1, 0]
    assert tg.argmin(tg.tensor([3, 1, 2])).item() == 1


def test_grad_assignment_is_checked():
    p = nn.Parameter(np.zeros(3, dtype=np.float32))
    with pytest.raises(tg.UsageError, match="a gradient must be a Tensor"):
        p.grad = 0
    with pytest.raises(tg.UsageError):
        p.grad = np.zeros(3, dtype=np.float32)
    with pytest.raises(tg.ShapeError, match=r"shape \(2,\) but the tensor has shape \(3,\)"):
        p.grad = tg.zeros(2)
    with pytest.raises(tg.DTypeError, match="float64 but the tensor is float32"):
        p.grad = tg.zeros(3, dtype=tg.float64)
    assert p.grad is None
    p.grad = tg.ones(3)
    (p * 2).sum().backward()                                 # accumulates into the assigned one
    assert p.grad.tolist() == [3.0, 3.0, 3.0]
    p.grad = None
    assert p.grad is None


# -- devices ---------------------------------------------------------------------------------------
def test_device_class_like_torch():
    d = tg.device("cpu")
    assert d.type == "cpu" and d.index is None and str(d) == "cpu" and repr(d) == "device(type='cpu')"
    d0 = tg.device("cpu:0")
    assert d0.index == 0 and str(d0) == "cpu:0" and repr(d0) == "device(type='cpu', index=0)"
    assert tg.device("cpu", 0) == d0 and d0 != d and d == "cpu" and d0 == "cpu:0" and d != "cuda"
    assert tg.device(d0) == d0 and len({d, tg.device("cpu")}) == 1
    assert tg.device("cuda:1").type == "cuda"               # naming a device does not check it
    for bad in ("gpu", "cpu:x", "cpu:-1", 3):
        with pytest.raises(tg.UsageError):
            tg.device(bad)
    with pytest.raises(AttributeError):
        d.type = "cuda"


@_NO_GPU
@pytest.mark.parametrize("dev", ["cuda", "cuda:0", tg.device("cuda"), "mps", "cpu:1", "gpu", 0])
def test_unavailable_devices_raise_device_error(dev):
    with pytest.raises(tg.DeviceError, match="tensor|is not available|unknown"):
        tg.tensor([1.0], device=dev)
    with pytest.raises(tg.DeviceError):
        tg.zeros(2).to(dev)
    with pytest.raises(tg.DeviceError):
        nn.Linear(2, 2).to(dev)


@_NO_GPU
def test_device_error_names_the_device_and_the_plan():
    with pytest.raises(tg.DeviceError, match="'cuda' is not available: CuPy is (not installed.*pip|installed but)"):
        tg.zeros(2).cuda()
    with pytest.raises(tg.DeviceError, match="'mps' is not available"):
        tg.ones(2, device="mps")
    assert issubclass(tg.DeviceError, RuntimeError) and issubclass(tg.DeviceError, tg.TinygradError)


@pytest.mark.parametrize("make", [
    lambda d: tg.tensor([1.0], device=d), lambda d: tg.zeros(2, device=d),
    lambda d: tg.ones(2, device=d), lambda d: tg.rand(2, device=d), lambda d: tg.randn(2, device=d),
    lambda d: tg.full((2,), 3.0, device=d), lambda d: tg.arange(3, device=d),
    lambda d: tg.eye(2, device=d), lambda d: tg.linspace(0, 1, 3, device=d),
    lambda d: tg.zeros_like(tg.ones(2), device=d), lambda d: tg.ones_like(tg.ones(2), device=d),
    lambda d: tg.randint(0, 3, (2,), device=d), lambda d: tg.randperm(3, device=d),
    lambda d: tg.Tensor([1.0], device=d)])
@_NO_GPU
def test_factories_take_a_cpu_device(make):
    for d in ("cpu", "cpu:0", tg.device("cpu"), None):
        assert make(d).device == tg.device("cpu")
    with pytest.raises(tg.DeviceError):
        make("cuda")


def test_tensor_to_overloads():
    x = tg.tensor([1.5, 2.5])
    assert x.to("cpu") is x and x.to(tg.device("cpu")) is x and x.cpu() is x
    assert x.device == "cpu" and not x.is_cuda
    assert x.to(tg.float64).dtype == np.float64 and x.to("cpu", tg.float64).dtype == np.float64
    assert x.to(device="cpu", dtype=tg.int64).tolist() == [1, 2]
    assert x.to(tg.zeros(1, dtype=tg.float16)).dtype == np.float16
    assert x.to("float64").dtype == np.float64
    assert x.to("cpu", non_blocking=True) is x
    c = x.to("cpu", copy=True)
    assert c is not x and c.tolist() == x.tolist() and not np.shares_memory(c.numpy(), x.numpy())
    w = tg.tensor([1.0], requires_grad=True)
    w.to(tg.float64).sum().backward()                        # differentiable between floats
    assert w.grad.tolist() == [1.0]
    with pytest.raises(tg.UsageError):
        x.to("cpu", tg.float64, tg.float32)


@_NO_GPU
def test_module_to_device_and_dtype():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    assert m.to("cpu") is m and m.to(tg.device("cpu")) is m and m.cpu() is m
    m.to("cpu", tg.float64)
    assert all(p.dtype == np.float64 for p in m.parameters())
    m.to(dtype=tg.float32, device="cpu")
    assert all(p.dtype == np.float32 for p in m.parameters())
    m.to(tg.zeros(1, dtype=tg.float64))
    assert m[0].weight.dtype == np.float64
    with pytest.raises(tg.DeviceError):
        m.cuda()
    with pytest.raises(tg.UsageError, match="floating dtype"):
        m.to(tg.int64)


@_NO_GPU
def test_cuda_and_accelerator_queries():
    assert tg.cuda.is_available() is False and tg.cuda.device_count() == 0
    assert tg.accelerator.is_available() is False
    assert tg.accelerator.current_accelerator() is None and tg.accelerator.device_count() == 0
    dev = tg.device("cuda" if tg.cuda.is_available() else "cpu")      # the usual idiom
    assert tg.zeros(2, device=dev).device == dev


def test_device_helpers_for_a_later_gpu_backend():
    from tinygrad_ko.device import array_module, resolve
    assert resolve("cpu") == resolve(None) == resolve(tg.device("cpu:0")) == tg.device("cpu")
    assert array_module(tg.device("cpu")) is np and array_module(np.zeros(1)) is np


# -- conversions and comparisons ---------------------------------------------------------------------
def test_dtype_aliases_and_conversions():
    assert (tg.float, tg.double, tg.half) == (np.float32, np.float64, np.float16)
    assert (tg.long, tg.int, tg.bool, tg.uint8) == (np.int64, np.int32, np.bool_, np.uint8)
    x = tg.tensor([0.0, 1.5, -2.0])
    assert x.long().dtype == np.int64 and x.long().tolist() == [0, 1, -2]
    assert x.int().dtype == np.int32 and x.half().dtype == np.float16
    assert x.bool().tolist() == [False, True, True]
    assert x.type() == "float32" and x.type(tg.float64).dtype == np.float64
    assert x.type(tg.float32) is x and tg.tensor([1, 2], dtype=tg.long).dtype == np.int64


def test_from_numpy_shares_memory():
    a = np.arange(3.0)
    t = tg.from_numpy(a)
    assert t.dtype == np.float64
    a[0] = 7.0
    t.numpy()[1] = 8.0
    assert t.tolist() == [7.0, 8.0, 2.0] and a[1] == 8.0
    with pytest.raises(tg.UsageError):
        tg.from_numpy([1, 2])


def test_comparison_methods():
    a, b = tg.tensor([1, 2, 3]), tg.tensor([2, 2, 2])
    assert a.eq(b).tolist() == [False, True, False] and a.ne(2).tolist() == [True, False, True]
    assert a.lt(b).tolist() == [True, False, False] and a.le(b).tolist() == [True, True, False]
    assert a.gt(b).tolist() == [False, False, True] and a.ge(2).tolist() == [False, True, True]
    assert a.eq(b).dtype == np.bool_
    assert tg.equal(a, tg.tensor([1, 2, 3])) and not tg.equal(a, b) and not a.equal(tg.zeros(2))
    assert tg.allclose(tg.tensor([1.0]), tg.tensor([1.0 + 1e-9])) and not a.allclose(b)
    with pytest.raises(tg.ShapeError):
        a.eq(tg.zeros(2))


def test_view_as_reshape_as_and_t():
    x = tg.arange(6.0, requires_grad=True)
    y = x.view_as(tg.zeros(2, 3))
    assert y.shape == (2, 3) and x.reshape_as(tg.zeros(3, 2)).shape == (3, 2)
    assert y.t().shape == (3, 2) and tg.zeros(3).t().shape == (3,) and tg.tensor(1.0).t().shape == ()
    y.t().sum().backward()
    assert x.grad.tolist() == [1.0] * 6
    with pytest.raises(tg.ShapeError, match="t: expects a tensor of at most 2 dims"):
        tg.zeros(2, 2, 2).t()


def test_masked_fill_is_differentiable_and_masks_attention():
    scores = tg.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]], requires_grad=True)
    causal = tg.tensor([[False, True, True], [False, False, True]])
    masked = scores.masked_fill(causal, float("-inf"))
    assert masked.dtype == np.float32 and masked.numpy()[0, 1] == -np.inf
    p = masked.softmax(dim=-1)
    np.testing.assert_allclose(p.numpy(), [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], rtol=1e-6)
    (scores.masked_fill(causal, 0.0) * 2).sum().backward()
    assert scores.grad.tolist() == [[2.0, 0.0, 0.0], [2.0, 2.0, 0.0]]
    row_mask = tg.tensor([True, False, False])                # broadcasts along rows
    assert tg.ones(2, 3).masked_fill(row_mask, 5.0).tolist() == [[5.0, 1.0, 1.0]] * 2
    with pytest.raises(tg.DTypeError, match="bool"):
        tg.ones(3).masked_fill(tg.tensor([1, 0, 1]), 0.0)
    with pytest.raises(tg.ShapeError, match="does not broadcast"):
        tg.ones(3).masked_fill(tg.ones(2, 3) > 0, 0.0)


def test_masked_fill_in_place():
    x = tg.tensor([1.0, -1.0, 2.0])
    assert x.masked_fill_(x < 0, 0.0) is x and x.tolist() == [1.0, 0.0, 2.0]


def test_index_dunder_on_integer_tensors():
    labels = ["cat", "dog", "bird"]
    logits = tg.tensor([0.1, 2.0, 0.3])
    assert labels[logits.argmax()] == "dog" and labels[tg.tensor(2)] == "bird"
    assert list(range(tg.tensor(3))) == [0, 1, 2]
    with pytest.raises(TypeError):
        labels[tg.tensor(1.0)]
    with pytest.raises(TypeError):
        labels[tg.tensor([0, 1])]


def test_size_compares_with_tuples_both_ways():
    x = tg.zeros(2, 3)
    assert x.shape == tg.Size([2, 3]) and tg.Size([2, 3]) == x.shape
    assert x.size() == (2, 3) and (2, 3) == x.size() and x.size() == tg.Size((2, 3))
    assert isinstance(x.size(), tg.Size) and isinstance(x.size(), tuple)
    assert repr(x.size()) == "Size([2, 3])" and x.size().numel() == 6
    assert x.size(1) == 3 and x.size(-2) == 2 and x.size == 6        # NumPy's count still
    assert isinstance(x.size()[1:], tg.Size) and x.size()[0] == 2
    with pytest.raises(tg.AxisError):
        x.size(2)
    assert tg.zeros(tg.Size([4, 1])).shape == (4, 1)


# -- top-level functions -------------------------------------------------------------------------
X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], dtype=np.float32)


@pytest.mark.parametrize("fn, method", [
    (lambda x: tg.sum(x, dim=1, keepdim=True), lambda x: x.sum(axis=1, keepdims=True)),
    (lambda x: tg.sum(x, 0), lambda x: x.sum(0)), (lambda x: tg.sum(x), lambda x: x.sum()),
    (lambda x: tg.mean(x, dim=0), lambda x: x.mean(0)),
    (lambda x: tg.mean(x, axis=1, keepdims=True), lambda x: x.mean(1, True)),
    (lambda x: tg.var(x, 1), lambda x: x.var(1)), (lambda x: tg.std(x, correction=1),
                                                   lambda x: x.std(ddof=1)),
    (tg.exp, lambda x: x.exp()), (lambda x: tg.log(tg.abs(x)), lambda x: x.abs().log()),
    (tg.sin, lambda x: x.sin()), (tg.cos, lambda x: x.cos()), (tg.abs, abs),
    (lambda x: tg.sqrt(tg.abs(x)), lambda x: x.abs().sqrt()), (tg.tanh, lambda x: x.tanh()),
    (tg.sigmoid, lambda x: x.sigmoid()), (tg.relu, lambda x: x.relu()),
    (lambda x: tg.pow(x, 2), lambda x: x ** 2), (lambda x: tg.pow(2, x), lambda x: 2 ** x),
    (lambda x: tg.clamp(x, -0.5, 0.5), lambda x: x.clip(-0.5, 0.5)),
    (lambda x: tg.flatten(x), lambda x: x.reshape(-1)),
    (lambda x: tg.reshape(x, (3, 2)), lambda x: x.reshape(3, 2)),
    (lambda x: tg.transpose(x, 0, 1), lambda x: x.T),
    (lambda x: tg.permute(x, (1, 0)), lambda x: x.T),
    (lambda x: tg.softmax(x, dim=0), lambda x: x.softmax(0)),
    (lambda x: tg.log_softmax(x, 1), lambda x: x.log_softmax(1)),
    (lambda x: tg.logsumexp(x, dim=1), lambda x: x.logsumexp(1)),
    (lambda x: tg.max(x, 1).values, lambda x: x.amax(1)),
    (lambda x: tg.min(x, dim=0)[0], lambda x: x.amin(0))])
def test_top_level_functions_match_the_methods(fn, method):
    a, b = tg.tensor(X, requires_grad=True), tg.tensor(X, requires_grad=True)
    ya, yb = fn(a), method(b)
    np.testing.assert_allclose(ya.numpy(), yb.numpy(), rtol=1e-6)
    ya.sum().backward()
    yb.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6)


def test_small_top_level_helpers():
    x = tg.zeros(2, 3)
    assert tg.is_tensor(x) and tg.is_tensor(nn.Parameter(np.zeros(1))) and not tg.is_tensor(X)
    assert tg.numel(x) == 6 and tg.sum([1.0, 2.0]).item() == 3.0
    perm = tg.randperm(6)
    assert sorted(perm.tolist()) == list(range(6)) and perm.dtype == np.int64
    g = np.random.default_rng(0)
    assert tg.randperm(5, generator=g).tolist() == np.random.default_rng(0).permutation(5).tolist()
    assert tg.randperm(3, dtype=tg.float32).dtype == np.float32


def test_inference_mode_and_bare_decorators():
    w = tg.ones(2, requires_grad=True)
    with tg.inference_mode():
        assert not (w * 2).requires_grad
    with tg.inference_mode(False):
        assert (w * 2).requires_grad

    @tg.inference_mode()
    def f(t):
        return t * 2

    @tg.inference_mode
    def g(t):
        return t * 2

    @tg.no_grad
    def h(t):
        return t * 2

    assert not f(w).requires_grad and not g(w).requires_grad and not h(w).requires_grad
    assert tg.is_grad_enabled()


# -- .data -----------------------------------------------------------------------------------------
def test_data_is_a_tensor_outside_autograd_sharing_memory():
    p = nn.Parameter(np.array([1.0, 2.0], dtype=np.float32))
    d = p.data
    assert isinstance(d, tg.Tensor) and not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), p.numpy()) and p.numpy() is p._data
    d[0] = 5.0                                      # no no_grad needed: .data is outside autograd
    assert p.tolist() == [5.0, 2.0]
    v = p._version[0]
    p.data.mul_(2)                                  # its own version counter, as in PyTorch
    assert p._version[0] == v and p.tolist() == [10.0, 4.0]


def test_data_of_a_read_only_array_still_writes_through():
    p = nn.Parameter(np.broadcast_to(np.float32(1.0), (3,)))   # a read-only view
    p.data.fill_(2.0)
    assert p.tolist() == [2.0, 2.0, 2.0]


def test_sgd_the_pytorch_way_through_data():
    model = nn.Linear(2, 1)
    nn.init.zeros_(model.bias)
    x, y = tg.tensor([[1.0, 2.0]]), tg.tensor([[1.0]])
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    before = model.weight.numpy().copy()
    for p in model.parameters():
        p.data -= 0.1 * p.grad                      # no no_grad(): PyTorch's classic update
    np.testing.assert_allclose(model.weight.numpy(), before - 0.1 * model.weight.grad.numpy())
    model.weight.data.normal_(0, 0.02)
    model.bias.data.fill_(0)
    assert model.bias.tolist() == [0.0] and np.abs(model.weight.numpy()).max() < 0.2
    model.weight.data.copy_(np.ones((1, 2)))
    assert model.weight.tolist() == [[1.0, 1.0]]


def test_data_assignment_replaces_values():
    p = nn.Parameter(np.zeros(2, dtype=np.float32))
    v = p._version[0]
    p.data = tg.ones(3)
    assert p.tolist() == [1.0, 1.0, 1.0] and p.requires_grad and p._version[0] == v + 1
    with pytest.raises(tg.DTypeError, match="requires grad"):
        p.data = tg.tensor([1, 2])


# -- in-place ops ----------------------------------------------------------------------------------
def test_inplace_ops_with_pytorch_signatures():
    x = tg.tensor([4.0, 9.0])
    v0 = x._version[0]
    assert x.add_(tg.tensor([1.0, 1.0]), alpha=2) is x and x.tolist() == [6.0, 11.0]
    x.sub_(1, alpha=3)
    assert x.tolist() == [3.0, 8.0]
    x.mul_(2).div_(tg.tensor([2.0, 4.0]))
    assert x.tolist() == [3.0, 4.0]
    x.addcmul_(tg.tensor([1.0, 2.0]), tg.tensor([3.0, 0.5]), value=2)
    assert x.tolist() == [9.0, 6.0]
    x.addcdiv_(tg.tensor([3.0, 2.0]), tg.tensor([1.0, 4.0]), value=-1)
    assert x.tolist() == [6.0, 5.5]
    x.clamp_(max=5.0)
    assert x.tolist() == [5.0, 5.0]
    x.fill_(16.0).sqrt_()
    assert x.tolist() == [4.0, 4.0]
    x.zero_().exp_()
    assert x.tolist() == [1.0, 1.0] and x.dtype == np.float32
    x.clamp_(2.0, 3.0)
    assert x.tolist() == [2.0, 2.0]
    assert x._version[0] == v0 + 12          # one bump per in-place call


def test_random_fills():
    g = np.random.default_rng(1)
    x = tg.zeros(1000).normal_(2.0, 0.5, generator=g)
    assert abs(float(x.mean()) - 2.0) < 0.1 and abs(float(x.std()) - 0.5) < 0.1
    y = tg.zeros(1000, dtype=tg.float64).uniform_(-1, 3)
    assert y.dtype == np.float64 and -1 <= y.numpy().min() and y.numpy().max() < 3
    tg.manual_seed(5)
    a = tg.zeros(3).normal_()
    tg.manual_seed(5)
    assert tg.zeros(3).normal_().tolist() == a.tolist()
    with pytest.raises(tg.DTypeError):
        tg.zeros(2, dtype=tg.int64).normal_()


@pytest.mark.parametrize("call", [
    lambda t: t.add_(1.0, alpha=2), lambda t: t.sub_(1.0), lambda t: t.mul_(2.0),
    lambda t: t.div_(2.0), lambda t: t.addcmul_(t.detach(), t.detach()),
    lambda t: t.addcdiv_(t.detach(), t.detach()), lambda t: t.sqrt_(), lambda t: t.exp_(),
    lambda t: t.clamp_(0, 1), lambda t: t.normal_(), lambda t: t.uniform_(),
    lambda t: t.zero_(), lambda t: t.fill_(1.0), lambda t: t.copy_(np.ones(2)),
    lambda t: t.masked_fill_(tg.tensor([True, False]), 0.0)])
def test_inplace_ops_refuse_a_tensor_that_requires_grad(call):
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(tg.GraphError, match="in-place"):
        call(w)
    with tg.no_grad():
        v = w._version[0]
        assert call(w) is w and w._version[0] == v + 1


def test_inplace_dtype_and_shape_errors():
    with pytest.raises(tg.DTypeError, match="add_"):
        tg.zeros(2, dtype=tg.int64).add_(0.5)
    with pytest.raises(tg.ShapeError, match="mul_"):
        tg.zeros(2).mul_(tg.zeros(3))
    with pytest.raises(tg.UsageError):
        tg.zeros(2).clamp_()
    assert tg.zeros(2, dtype=tg.int64).copy_(tg.tensor([1.7, 2.2])).tolist() == [1, 2]


def test_out_of_place_add_sub_alpha():
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = tg.tensor([3.0, 4.0], requires_grad=True)
    y = a.add(b, alpha=2) + a.sub(b, alpha=0.5)
    assert y.tolist() == [1 + 6 + 1 - 1.5, 2 + 8 + 2 - 2]
    y.sum().backward()
    assert a.grad.tolist() == [2.0, 2.0] and b.grad.tolist() == [1.5, 1.5]
    assert tg.tensor([1.0]).add(2, alpha=3).tolist() == [7.0]
    assert tg.tensor([1.0]).add(2).dtype == np.float32


# -- tg.save / tg.load ---------------------------------------------------------------------------
def test_save_load_a_tensor(tmp_path):
    t = tg.randn(3, 2, dtype=tg.float64)
    tg.save(t, tmp_path / "t.pt")
    back = tg.load(tmp_path / "t.pt")
    assert isinstance(back, tg.Tensor) and back.dtype == np.float64 and back.tolist() == t.tolist()


def test_save_load_state_dicts_and_optimizer_state(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = tg.optim.Adam(model.parameters(), lr=0.01)
    model(tg.randn(5, 3)).sum().backward()
    opt.step()
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
            "loss": 0.25, "best": tg.tensor(1.5), "names": ["a", "b"]}
    tg.save(ckpt, tmp_path / "ckpt.pt")
    back = tg.load(tmp_path / "ckpt.pt", map_location="cpu")
    assert back["epoch"] == 3 and back["loss"] == 0.25 and back["names"] == ["a", "b"]
    assert isinstance(back["best"], tg.Tensor) and back["best"].item() == 1.5
    twin = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    twin.load_state_dict(back["model"])
    x = tg.randn(2, 3)
    np.testing.assert_array_equal(twin(x).numpy(), model(x).numpy())
    opt2 = tg.optim.Adam(twin.parameters(), lr=0.01)
    opt2.load_state_dict(back["optimizer"])


def test_save_load_file_objects_and_plain_state_dicts_stay_version_1(tmp_path):
    buf = io.BytesIO()
    tg.save({"w": tg.ones(2)}, buf)
    buf.seek(0)
    assert tg.load(buf)["w"].tolist() == [1.0, 1.0]
    tg.save(nn.Linear(2, 2).state_dict(), tmp_path / "sd.npz")      # arrays only
    with np.load(tmp_path / "sd.npz") as f:
        assert json.loads(str(f["__tinygrad_ko__"][()]))["version"] == 1   # older readers open it
    tg.save(tg.ones(2), tmp_path / "t.npz")
    with np.load(tmp_path / "t.npz") as f:
        assert json.loads(str(f["__tinygrad_ko__"][()]))["version"] == 2


def test_load_refuses_unpickling_and_save_refuses_objects(tmp_path):
    tg.save(tg.ones(2), tmp_path / "t.pt")
    with pytest.raises(tg.CheckpointError, match="weights_only=False .* never"):
        tg.load(tmp_path / "t.pt", weights_only=False)
    with pytest.raises(tg.CheckpointError, match="cannot store a Linear"):
        tg.save(nn.Linear(2, 2), tmp_path / "m.pt")
    with pytest.raises(tg.CheckpointError, match="cannot store a set"):
        tg.save({"x": {1, 2}}, tmp_path / "s.pt")
    import pickle
    (tmp_path / "p.pt").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(tg.CheckpointError, match="pickle"):
        tg.load(tmp_path / "p.pt")
    if not tg.cuda.is_available():
        with pytest.raises(tg.DeviceError):
            tg.load(tmp_path / "t.pt", map_location="cuda:0")
