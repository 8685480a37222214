"""Run one piece of PyTorch code under both libraries and compare what comes back.

A case is a function ``case(torch, nn, F)``: written as PyTorch code, it is called once with the
real ``torch, torch.nn, torch.nn.functional`` and once with ``tinygrad_ko, tinygrad_ko.nn,
tinygrad_ko.nn.functional`` in their place. Its results (tensors, numbers, tuples, dicts, dtypes,
shapes, devices...) are brought to plain Python/NumPy form by ``canon`` and must agree: the same
shapes, dtypes and values (to ``rtol``), the same errors-or-not.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

import tinygrad_ko as tg

Case = Callable[[Any, Any, Any], Any]


def libraries(torch: Any) -> dict[str, tuple[Any, Any, Any]]:
    import tinygrad_ko.nn.functional as tF
    return {"torch": (torch, torch.nn, torch.nn.functional), "tinygrad_ko": (tg, tg.nn, tF)}


def canon(v: Any) -> Any:
    """A comparable, library-free form of a result."""
    mod = type(v).__module__ or ""
    name = type(v).__name__
    if isinstance(v, tg.Tensor) or (mod.startswith("torch") and name in ("Tensor", "Parameter")):
        arr = np.asarray(v.detach().numpy() if mod.startswith("torch") else v.numpy())
        return ("tensor", tuple(int(n) for n in arr.shape), str(arr.dtype), arr.tolist())
    if isinstance(v, np.ndarray):
        return ("tensor", v.shape, str(v.dtype), v.tolist())
    if mod.startswith("torch") and name == "dtype" or isinstance(v, np.dtype):
        return ("dtype", str(v).removeprefix("torch."))
    if name == "device":
        return ("device", str(v))
    if isinstance(v, dict):
        return {str(k): canon(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):                 # torch.Size and named tuples included
        return [canon(x) for x in v]
    if isinstance(v, (np.generic,)):
        return v.item()
    return v


def assert_same(got: Any, want: Any, rtol: float = 1e-6, atol: float = 1e-7, where: str = "") -> None:
    """Recursive equality of two ``canon`` forms, numbers to rtol/atol."""
    if isinstance(want, tuple) and want and want[0] == "tensor":
        assert isinstance(got, tuple) and got and got[0] == "tensor", f"{where}: {got!r} is not a tensor"
        assert got[1] == want[1], f"{where}: shape {got[1]}, PyTorch {want[1]}"
        assert got[2] == want[2], f"{where}: dtype {got[2]}, PyTorch {want[2]}"
        np.testing.assert_allclose(np.asarray(got[3], dtype=np.float64),
                                   np.asarray(want[3], dtype=np.float64), rtol=rtol, atol=atol,
                                   err_msg=where)
        return
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{where}: {got!r} is not a dict"
        assert list(got) == list(want), f"{where}: keys {list(got)}, PyTorch {list(want)}"
        for k in want:
            assert_same(got[k], want[k], rtol, atol, f"{where}[{k!r}]")
        return
    if isinstance(want, (list, tuple)):
        assert isinstance(got, (list, tuple)), f"{where}: {got!r}, PyTorch {want!r}"
        assert len(got) == len(want), f"{where}: {len(got)} items, PyTorch {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, rtol, atol, f"{where}[{i}]")
        return
    if isinstance(want, float) and not isinstance(got, bool):
        assert isinstance(got, (int, float)), f"{where}: {got!r} ({type(got).__name__}), PyTorch {want!r}"
        assert math.isclose(got, want, rel_tol=rtol, abs_tol=atol) or (
            math.isnan(got) and math.isnan(want)), f"{where}: {got!r}, PyTorch {want!r}"
        return
    assert type(got) is type(want) and got == want, (
        f"{where}: {got!r} ({type(got).__name__}), PyTorch {want!r} ({type(want).__name__})")


def run_both(torch: Any, case: Case, rtol: float = 1e-6, atol: float = 1e-7) -> None:
    """Run ``case`` under both libraries: both raise, or both answer the same."""
    results = {}
    for name, (lib, nn, F) in libraries(torch).items():
        try:
            results[name] = ("ok", canon(case(lib, nn, F)))
        except Exception as e:          # noqa: BLE001 (compared below)
            results[name] = ("error", f"{type(e).__module__}.{type(e).__name__}: {e}")
    want, got = results["torch"], results["tinygrad_ko"]
    if want[0] == "error":
        assert got[0] == "error", f"PyTorch raises ({want[1]}) but tinygrad_ko answers {got[1]!r}"
        return
    assert got[0] == "ok", f"tinygrad_ko raises {got[1]}; PyTorch answers {want[1]!r}"
    assert_same(got[1], want[1], rtol, atol)


__all__ = ["canon", "assert_same", "run_both", "libraries"]
