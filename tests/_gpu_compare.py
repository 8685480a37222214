"""Registry ops on a GPU against the CPU: the comparisons shared by tests/test_gpu.py (a real GPU),
tests/test_gpu_fake.py (the fake CuPy of _fake_cupy, in CI) and tests/gpu/run_checks.py.

An op's sample (``spec.sample``) gives NumPy inputs. ``on_device`` turns them into what a user of
that device passes: float arrays become tensors that require grad (in the dtype asked for), other
arrays (class indices, masks) tensors, and arrays among the keyword arguments (an index, a
mask, running statistics, class weights) arrays of the device. Each ``compare_*`` runs the op on
the CPU and on the device from the same inputs and raises AssertionError naming the op and what
differs. ``watch``, a context manager factory, wraps the op and its backward on the device (not
the making of the inputs nor the reading of the results): the tests count host-device copies with
it.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, ContextManager

import numpy as np

import tinygrad_ko as tg
from tinygrad_ko.device import resolve, to_device

RTOL, ATOL = 1e-9, 1e-12          # float64: the GPU must give the CPU's numbers
Watch = Callable[[], ContextManager[Any]]


def on_device(args: tuple, kwargs: dict, device: str, dtype: Any = np.float64) -> tuple[list, dict]:
    """The sample's inputs for ``device`` (see the module docstring)."""
    xs: list = []
    for a in args:
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            xs.append(tg.tensor(a.astype(dtype), device=device).requires_grad_())
        elif isinstance(a, np.ndarray):
            xs.append(tg.tensor(a, device=device))
        else:
            xs.append(a)
    dev = resolve(device)
    kw = {k: to_device(v, dev) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    return xs, kw


def host(t: Any) -> Any:
    """A tensor's values as a NumPy array (None for None)."""
    return None if t is None else t.cpu().numpy()


def _differentiable(xs: list) -> list:
    return [x for x in xs if isinstance(x, tg.Tensor) and x.requires_grad]


def _first(spec: Any, args: tuple, kwargs: dict, device: str, upstream: np.ndarray,
           watch: Watch = contextlib.nullcontext):
    xs, kw = on_device(args, kwargs, device)
    g = tg.tensor(upstream, device=device)
    with watch():
        out = spec(*xs, **kw)
        out.backward(g)
    return out, xs


def compare_first_order(spec: Any, args: tuple, kwargs: dict, device: str = "cuda",
                        watch: Watch = contextlib.nullcontext) -> None:
    """Values, dtypes, shapes and first-order gradients (float64) of the op on ``device`` equal
    the CPU's, for a random upstream gradient; every result stays on the device."""
    name = spec.name
    ref = spec(*on_device(args, kwargs, "cpu")[0], **kwargs)
    upstream = np.random.default_rng(0).standard_normal(ref.shape).astype(ref.dtype)
    out_c, xs_c = _first(spec, args, kwargs, "cpu", upstream)
    out_g, xs_g = _first(spec, args, kwargs, device, upstream, watch)
    assert out_g.device == resolve(device), f"{name}: the output is on {out_g.device}"
    assert out_g.dtype == out_c.dtype and out_g.shape == out_c.shape, (
        f"{name}: output {out_g.dtype} {out_g.shape} on {device}, {out_c.dtype} {out_c.shape} on "
        f"the CPU")
    np.testing.assert_allclose(host(out_g), out_c.numpy(), rtol=RTOL, atol=ATOL,
                               err_msg=f"{name}: values")
    for i, (a, b) in enumerate(zip(xs_c, xs_g)):
        if isinstance(a, tg.Tensor) and a.requires_grad:
            assert (a.grad is None) == (b.grad is None), f"{name}: gradient {i} missing on one side"
            if a.grad is not None:
                assert b.grad.device == out_g.device and b.grad.dtype == a.grad.dtype, (
                    f"{name}: gradient {i} is {b.grad.dtype} on {b.grad.device}")
                np.testing.assert_allclose(host(b.grad), a.grad.numpy(), rtol=RTOL, atol=ATOL,
                                           err_msg=f"{name}: gradient of input {i}")


def _second(spec: Any, args: tuple, kwargs: dict, device: str, v1: np.ndarray,
            v2: list[np.ndarray], watch: Watch = contextlib.nullcontext) -> list:
    """d/dx <v2, d<v1, f(x)>/dx>: second derivatives contracted, through create_graph=True."""
    xs, kw = on_device(args, kwargs, device)
    diff = _differentiable(xs)
    w1 = tg.tensor(v1, device=device)
    w2 = [tg.tensor(v, device=device) for v in v2]
    with watch():
        out = spec(*xs, **kw)
        first = tg.grad((out * w1).sum(), diff, create_graph=True, allow_unused=True)
        total = sum(((g * w2[i]).sum() for i, g in enumerate(first) if g is not None),
                    tg.zeros((), dtype=tg.float64, device=device))
        second = tg.grad(total, diff, allow_unused=True) if total.requires_grad else []
    for g in first:
        assert g is None or g.device == out.device, f"{spec.name}: a create_graph gradient on {g.device}"
    return [host(g) for g in second]


def compare_second_order(spec: Any, args: tuple, kwargs: dict, device: str = "cuda",
                         watch: Watch = contextlib.nullcontext) -> None:
    """The create_graph=True backward (the op's Tensor backward) and its own gradient on
    ``device`` equal the CPU's."""
    out = spec(*on_device(args, kwargs, "cpu")[0], **kwargs)
    rng = np.random.default_rng(1)
    v1 = rng.standard_normal(out.shape)
    v2 = [rng.standard_normal(a.shape) for a in args
          if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    cpu = _second(spec, args, kwargs, "cpu", v1, v2)
    dev = _second(spec, args, kwargs, device, v1, v2, watch)
    assert len(cpu) == len(dev), f"{spec.name}: {len(cpu)} second derivatives on the CPU, {len(dev)}"
    for i, (a, b) in enumerate(zip(cpu, dev)):
        assert (a is None) == (b is None), f"{spec.name}: second derivative {i} missing on one side"
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=RTOL, atol=1e-10,
                                       err_msg=f"{spec.name}: second derivative of input {i}")


def check_float32(spec: Any, args: tuple, kwargs: dict, device: str = "cuda",
                  watch: Watch = contextlib.nullcontext) -> None:
    """float32 inputs give a float32 output and float32 gradients, on the device."""
    if kwargs.get("dtype") == "float64":
        return      # the cast to float64 is meant to change the dtype
    xs, kw = on_device(args, kwargs, device, np.float32)
    with watch():
        out = spec(*xs, **kw)
        out.backward(tg.ones_like(out))
    assert out.device == resolve(device) and out.dtype == np.float32, (
        f"{spec.name}: float32 inputs gave {out.dtype} on {out.device}")
    for x in _differentiable(xs):
        if x.grad is not None:
            assert x.grad.device == out.device and x.grad.dtype == np.float32, (
                f"{spec.name}: a float32 input's gradient is {x.grad.dtype} on {x.grad.device}")


__all__ = ["RTOL", "ATOL", "on_device", "host", "compare_first_order", "compare_second_order",
           "check_float32"]
