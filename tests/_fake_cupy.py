"""A stand-in for CuPy on the CPU, so the device logic (moves, errors, Module.to, checkpoints...)
is tested in CI, where there is no GPU. It is not CuPy: the real thing is tested by
tests/test_gpu.py on a GPU machine.

Its arrays are NumPy arrays of a subclass, ``ndarray``, that behaves as CuPy's where the library
depends on it:

- ``type(a) is not numpy.ndarray``, ``a.get()`` (a host copy), ``a.device.id``;
- mixing with a plain NumPy array in a ufunc or a NumPy function raises TypeError, as CuPy does,
  so a missing transfer shows up;
- reductions and indexing give 0-d arrays, not NumPy scalars (CuPy never returns a NumPy
  scalar);
- transfers are counted (``STATS``): ``asarray``/``array`` of host data (host to device,
  ``h2d``), ``get``/``tolist``/``asnumpy`` (device to host, ``d2h``), and the reads of one value
  that CuPy also makes with a device-to-host copy, so a sync (``scalar``: ``item()``, ``bool()``,
  ``float()``, ``int()``; an ``if`` on a device array is one);
- ufunc methods ``at`` (``np.add.at``) raise: CuPy's ufuncs do not all have them, the library uses
  ``cupyx.scatter_add`` (``tinygrad_ko.device.scatter_add``); ``make_module`` also makes that
  ``cupyx`` (``install`` puts both in ``sys.modules``).

What it cannot see: a NumPy array made from a device array with ``np.asarray`` (NumPy accepts its
own subclass; CuPy refuses), and the synchronisations CuPy makes inside its own functions (boolean
mask indexing needs the number of True values on the host).
"""
from __future__ import annotations

import collections
import contextlib
import sys
import types
from typing import Any, Iterator

import numpy as np

STATS = {"h2d": 0, "d2h": 0, "scalar": 0, "sync": 0, "seed": None}


class _Device:
    def __init__(self, id: int = 0) -> None:  # noqa: A002 (CuPy's name)
        self.id = 0 if id is None else int(id)

    def __enter__(self) -> "_Device":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def synchronize(self) -> None:
        STATS["sync"] += 1


def _wrap(res: Any) -> Any:
    if isinstance(res, tuple):
        return tuple(_wrap(r) for r in res)
    if isinstance(res, np.ndarray) and not isinstance(res, ndarray):
        return res.view(ndarray)
    if isinstance(res, np.generic):         # CuPy gives 0-d arrays where NumPy gives scalars
        return np.asarray(res).view(ndarray)
    return res


def _unwrap(x: Any) -> Any:
    if isinstance(x, ndarray):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _plain(x: Any, what: str) -> Any:
    if isinstance(x, ndarray):
        return x.view(np.ndarray)
    if isinstance(x, np.ndarray):
        raise TypeError(f"{what}: Unsupported type {type(x)} (a NumPy array with a device array)")
    return x


class ndarray(np.ndarray):
    """A 'device' array (see the module docstring)."""

    @property
    def device(self) -> _Device:
        return _Device(0)

    def get(self) -> np.ndarray:
        STATS["d2h"] += 1
        return np.array(self.view(np.ndarray))

    def __getitem__(self, index: Any) -> Any:
        return _wrap(super().__getitem__(index))      # one element: a 0-d array, as CuPy's

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(value, np.ndarray) and not isinstance(value, ndarray):
            STATS["h2d"] += 1                         # CuPy copies host values over
        # a device value is copied on the device (NumPy would read a 0-d one as a number)
        self.view(np.ndarray)[_unwrap(index)] = _unwrap(value)

    def tolist(self) -> Any:
        STATS["d2h"] += 1
        return self.view(np.ndarray).tolist()

    # one value read back: a device-to-host copy in CuPy, so a synchronisation
    def item(self, *args: Any) -> Any:
        STATS["scalar"] += 1
        return self.view(np.ndarray).item(*args)

    def __bool__(self) -> bool:
        STATS["scalar"] += 1
        return bool(self.view(np.ndarray))

    def __float__(self) -> float:
        STATS["scalar"] += 1
        return float(self.view(np.ndarray))

    def __int__(self) -> int:
        STATS["scalar"] += 1
        return int(self.view(np.ndarray))

    def __index__(self) -> int:
        STATS["scalar"] += 1
        return self.view(np.ndarray).__index__()

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, out: Any = None,
                        **kwargs: Any) -> Any:
        if method == "at":
            raise TypeError(f"{ufunc.__name__}.at: not supported by every CuPy version; use "
                            f"cupyx.scatter_add (tinygrad_ko.device.scatter_add)")
        args = [_plain(x, ufunc.__name__) for x in inputs]
        if out is not None:
            kwargs["out"] = tuple(_plain(o, ufunc.__name__) for o in out)
        res = getattr(ufunc, method)(*args, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(res)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        if any(t is np.ndarray for t in types_):
            raise TypeError(f"{func.__name__}: Unsupported type numpy.ndarray (a NumPy array "
                            f"with a device array)")
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))



def _method(name: str) -> Any:
    """A method computed on the plain array (as CuPy's own methods), the result a device array."""
    def method(self: ndarray, *a: Any, **k: Any) -> Any:
        k = _unwrap(k)
        return _wrap(getattr(self.view(np.ndarray), name)(*_unwrap(a), **k))
    method.__name__ = name
    return method


for _name in ("argmax", "argmin", "all", "any", "sum", "mean", "var", "std", "max", "min",
              "prod", "cumsum", "clip", "dot", "round"):
    setattr(ndarray, _name, _method(_name))


def asarray(a: Any, dtype: Any = None) -> ndarray:
    if isinstance(a, ndarray):
        return a if dtype is None else a.astype(dtype)
    STATS["h2d"] += 1
    return np.array(a, dtype=dtype).view(ndarray)


def array(a: Any, dtype: Any = None, copy: bool = True) -> ndarray:
    if isinstance(a, ndarray):
        return a.copy() if dtype is None else a.astype(dtype)
    return asarray(a, dtype)


def asnumpy(a: Any) -> np.ndarray:
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def zeros(shape: Any, dtype: Any = float) -> ndarray:
    return np.zeros(shape, dtype).view(ndarray)


def ones(shape: Any, dtype: Any = float) -> ndarray:
    return np.ones(shape, dtype).view(ndarray)


def full(shape: Any, fill_value: Any, dtype: Any = None) -> ndarray:
    return np.full(shape, fill_value, dtype).view(ndarray)


def empty(shape: Any, dtype: Any = float) -> ndarray:
    return np.empty(shape, dtype).view(ndarray)


def arange(*args: Any, dtype: Any = None) -> ndarray:
    return np.arange(*args, dtype=dtype).view(ndarray)


def scatter_add(a: ndarray, slices: Any, value: Any) -> None:
    """cupyx.scatter_add: ``np.add.at`` on the device array; host arrays refused, as a missing
    transfer would be."""
    items = slices if isinstance(slices, tuple) else (slices,)
    for x in items + (value,):
        if isinstance(x, np.ndarray) and not isinstance(x, ndarray):
            raise TypeError("scatter_add: Unsupported type numpy.ndarray (a NumPy array with a "
                            "device array)")
    np.add.at(a.view(np.ndarray), _unwrap(slices), _unwrap(value))


class _Ogrid:
    def __getitem__(self, key: Any) -> list[ndarray]:
        return [g.view(ndarray) for g in np.ogrid[key]]


ogrid = _Ogrid()


COPIES = ("h2d", "d2h", "scalar")      # the STATS entries a test counts around a block


@contextlib.contextmanager
def counting(counts: collections.Counter | None = None) -> Iterator[collections.Counter]:
    """The host-to-device and device-to-host copies and the scalar reads made inside the block,
    added to ``counts`` (a new Counter when none is given), which the block gets."""
    counts = collections.Counter() if counts is None else counts
    before = {k: STATS[k] for k in COPIES}
    try:
        yield counts
    finally:
        counts.update({k: STATS[k] - v for k, v in before.items()})


def make_module(device_count: int = 1, count_error: Exception | None = None) -> types.ModuleType:
    """A module object that looks like ``cupy`` (the parts tinygrad_ko uses)."""
    m = types.ModuleType("cupy")
    m.ndarray = ndarray
    for name in ("asarray", "array", "asnumpy", "zeros", "ones", "full", "empty", "arange",
                 "ogrid"):
        setattr(m, name, globals()[name])

    def get_device_count() -> int:
        if count_error is not None:
            raise count_error
        return device_count

    runtime = types.SimpleNamespace(getDeviceCount=get_device_count, getDevice=lambda: 0)
    m.cuda = types.SimpleNamespace(runtime=runtime, Device=_Device)
    rng = np.random.default_rng(0)

    def seed(s: int) -> None:
        STATS["seed"] = s

    m.random = types.SimpleNamespace(
        seed=seed, random=lambda size=None, dtype=float: np.asarray(
            rng.random(size), dtype).view(ndarray),
        standard_normal=lambda size=None, dtype=float: np.asarray(
            rng.standard_normal(size), dtype).view(ndarray))
    return m


def make_cupyx() -> types.ModuleType:
    """A module object that looks like ``cupyx`` (its ``scatter_add``)."""
    m = types.ModuleType("cupyx")
    m.scatter_add = scatter_add
    return m


def reset_stats() -> None:
    STATS.update(h2d=0, d2h=0, scalar=0, sync=0, seed=None)


def install(monkeypatch: Any, **kw: Any) -> types.ModuleType:
    """Put a fake cupy (and cupyx) in sys.modules and make tinygrad_ko forget what it knew about
    CuPy; returns the module. monkeypatch undoes both: afterwards tinygrad_ko knows what it knew
    before (so a later test, or a docs page, does not find a GPU)."""
    from tinygrad_ko.device import _reset_for_tests
    dev = sys.modules["tinygrad_ko.device"]
    for name in ("module", "error", "count", "pending_seed", "devices"):
        monkeypatch.setattr(dev._CP, name, getattr(dev._CP, name))
    monkeypatch.setattr(dev, "GPU_TYPES", dev.GPU_TYPES)
    mod = make_module(**kw)
    monkeypatch.setitem(sys.modules, "cupy", mod)
    monkeypatch.setitem(sys.modules, "cupyx", make_cupyx())
    _reset_for_tests()
    reset_stats()
    return mod
