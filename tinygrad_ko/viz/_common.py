"""What ``to_dot`` and the backward trace share: names for tensors, arrays as short text, and what
an op's docstring says about its derivative."""
from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..errors import UsageError

from ..function import Function
from ..tensor import Tensor

NamesArg = Mapping[Tensor, str] | Mapping[str, Tensor] | None


def as_tensors(tensors: Iterable[Any], where: str) -> list[Tensor]:
    """``f(y)``, ``f(y, z)`` and ``f([y, z])`` all mean the tensors y and z."""
    tensors = list(tensors)
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = list(tensors[0])
    if not tensors:
        raise UsageError(f"{where}: give at least one tensor")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise UsageError(f"{where}: expected Tensors, got {type(t).__name__}")
    return tensors


class Names:
    """The names the user gave to tensors, plus made-up ones (t0, t1...) for the others.

    A leaf is known by its identity. A non-leaf tensor is known by the op that made it (its
    ``grad_fn``): the engine may wrap the same result in several Tensor objects, but each op has
    exactly one output, so the op is the stable key.
    """

    def __init__(self, names: NamesArg = None) -> None:
        self._given: dict[Any, str] = {}
        self._keep: list[Tensor] = []  # keeps named leaves alive, so their id() stays theirs
        self._auto = 0
        for key, value in (names or {}).items():
            # Accept {W1: "W1"} and, easier to type, {"W1": W1} (or dict(W1=W1)).
            t, name = (value, key) if isinstance(key, str) else (key, value)
            if not isinstance(t, Tensor) or not isinstance(name, str):
                raise UsageError(f"names: expected a dict Tensor -> str (or str -> Tensor), got an "
                                f"entry {type(key).__name__} -> {type(value).__name__}")
            self._given[self.key(t)] = name
            self._keep.append(t)
        self._used = set(self._given.values())

    @staticmethod
    def key(t: Tensor) -> Any:
        return t.grad_fn if t.grad_fn is not None else id(t)

    def given(self, t: Tensor) -> str | None:
        """The user's name for t, or None."""
        return self._given.get(self.key(t))

    def name(self, t: Tensor) -> str:
        """The user's name for t, else a made-up one (t0, t1, ...) that stays the same for t."""
        if t.grad_fn is None and id(t) not in self._given:
            self._keep.append(t)
        return self._name(self.key(t))

    def output_name(self, fn: Function) -> str:
        """The name of the tensor that the op ``fn`` made."""
        return self._name(fn)

    def set_default(self, fn: Function, name: str) -> None:
        """Call the output of ``fn`` ``name``, unless the user already named it."""
        if fn not in self._given:
            self._given[fn] = name
            self._used.add(name)

    def _name(self, key: Any) -> str:
        if key not in self._given:
            while f"t{self._auto}" in self._used:  # never reuse a name the user chose
                self._auto += 1
            self._given[key] = f"t{self._auto}"
            self._used.add(self._given[key])
        return self._given[key]


def _g(v: Any) -> str:
    return f"{v:.4g}"  # 4 significant digits: 3.0 -> "3", 1/3 -> "0.3333"


def format_array(arr: np.ndarray, max_elements: int = 20, prefix: str = "",
                 with_shape: bool = True) -> str:
    """Small arrays in full (4 significant digits); larger ones as shape, mean, min, max, norm
    (``with_shape=False`` leaves out the shape and dtype, for labels that already show them).
    ``prefix`` is the text printed before the array on its first line: later rows are indented
    by its length, so they line up under the first."""
    arr = np.asarray(arr)
    if arr.size <= max_elements:
        return np.array2string(arr, separator=", ", formatter={"float_kind": _g}, prefix=prefix)
    # float64 and silenced warnings: a summary must never overflow or warn, even for inf/nan data.
    with np.errstate(all="ignore"):
        a = arr.astype(np.float64)
        stats = (f"mean {_g(a.mean())}, min {_g(a.min())}, max {_g(a.max())}, "
                 f"norm {_g(np.sqrt(np.sum(a * a)))}")
    return f"<{arr.shape} {arr.dtype}: {stats}>" if with_shape else stats


def shape_dtype(t: Tensor) -> str:
    """'(4, 3) float32'."""
    return f"{t.shape} {_dtype_name(t.dtype)}"


@functools.cache
def _dtype_name(dtype: np.dtype) -> str:
    return str(dtype)  # cached: str(dtype) is slow, and a 100k-op graph asks 200k times


_PARAMS: dict[type, tuple[str, ...]] = {}  # op class -> _forward_params(op class)


def _forward_params(cls: type[Function]) -> tuple[str, ...]:
    """Names of the positional tensor arguments of ``cls.forward`` (after ctx), e.g. ('a', 'b')."""
    if cls not in _PARAMS:
        _PARAMS[cls] = _read_forward_params(cls)
    return _PARAMS[cls]


def _read_forward_params(cls: type[Function]) -> tuple[str, ...]:
    try:
        params = list(inspect.signature(cls.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return ()
    names = []
    for p in params:
        if p.kind is p.VAR_POSITIONAL:  # forward(ctx, *xs): no fixed names
            break
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
    return tuple(names)


def input_labels(fn: Function, n: int) -> list[str]:
    """What the op calls each of its n inputs, so they match its docstring: ['a', 'b'] for mul.
    Ops that take any number of inputs (cat) get x0, x1, ..."""
    names = _forward_params(type(fn))
    if len(names) >= n:
        return list(names[:n])
    return [f"x{i}" for i in range(n)]


def op_name(fn: Function) -> str:
    """'mul' for registered ops; the class name for a user's own unregistered Function."""
    return fn.name if type(fn).spec is not None else type(fn).__name__


def op_doc(fn: Function) -> str:
    """The first line of the op's docstring: 'a * b;  d/da = b, d/db = a.'"""
    spec = type(fn).spec
    doc = spec.doc if spec is not None else (type(fn).__doc__ or "").strip().split("\n")[0]
    return doc.strip()


def local_rule(fn: Function) -> str:
    """The derivative part of the op's docstring: 'd/da = b, d/db = a'. By convention the first
    docstring line is 'forward;  derivative. remarks', so we keep what is between ';' and '. '."""
    doc = op_doc(fn)
    if ";" in doc:
        doc = doc.split(";", 1)[1]
    doc = doc.split(". ", 1)[0].strip().rstrip(".")
    return doc or f"(not documented: see {type(fn).__name__}.backward)"
