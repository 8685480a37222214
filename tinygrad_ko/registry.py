"""The op registry: every differentiable op, with what the gradient oracle needs to test it.

Each op registers itself where it is defined::

    @register("exp", sample=unary(low=-3, high=3), methods=("exp",))
    class Exp(Function): ...

``sample`` draws valid inputs for the op: it receives a *sampler* ``s`` (see ``Sampler`` below; the
hypothesis-backed one lives in ``tinygrad_ko.testing``) and returns ``(args, kwargs)``. NumPy float
arrays in ``args`` are the differentiable inputs; everything else (ints, bool masks, axes) is passed
through. Because the op's inputs are described here, next to the op, the tests in
``tests/test_ops_oracle.py`` can check every registered op against numerical differentiation, first
and second order, with no per-op test code: register an op and it is tested.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np


class Sampler(Protocol):
    """What a ``sample`` function may draw. ``tinygrad_ko.testing.HypothesisSampler`` implements it."""

    def shape(self, min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
              max_side: int = 4) -> tuple[int, ...]:
        """An array shape: min_dims..max_dims axes, each of size min_side..max_side."""
    def broadcastable_shapes(self, n: int, min_dims: int = 0, max_dims: int = 3,
                             max_side: int = 4) -> list[tuple[int, ...]]:
        """``n`` shapes that broadcast together (different ranks included)."""
    def array(self, shape: tuple[int, ...], low: float = -2.0, high: float = 2.0,
              avoid: Sequence[float] = (), distinct: bool = False) -> np.ndarray:
        """A float64 array of ``shape`` with values in [low, high], away from ``avoid``;
        with ``distinct``, no two values close (no ties)."""
    def arrays(self, shapes: Sequence[tuple[int, ...]], low: float = -2.0, high: float = 2.0,
               avoid: Sequence[float] = (), distinct: bool = False) -> list[np.ndarray]:
        """Several arrays; with ``distinct``, no value repeats across all of them."""
    def integers(self, low: int, high: int) -> int:
        """An int in [low, high], both included."""
    def floats(self, low: float, high: float) -> float:
        """A float in [low, high]."""
    def boolean(self) -> bool:
        """True or False."""
    def choice(self, options: Sequence[Any]) -> Any:
        """One of ``options``."""
    def axis(self, ndim: int, allow_none: bool = True, allow_tuple: bool = True) -> Any:
        """None, one axis (maybe negative), or a tuple of distinct axes of an ndim-d array."""
    def permutation(self, n: int) -> tuple[int, ...]:
        """A permutation of range(n), as a tuple."""


SampleFn = Callable[[Sampler], tuple[tuple, dict]]


@dataclass
class OpSpec:
    """One registry entry."""
    name: str
    sample: SampleFn
    function: type | None = None        # the Function class (None for composites of other ops)
    call: Callable[..., Any] | None = None  # how a user calls it; default: Tensor.<methods[0]>
    methods: tuple[str, ...] = ()       # the public Tensor methods/operators that reach this op
    second_order: bool = True           # also check second derivatives (gradgradcheck)
    eps: float = 1e-6                   # finite-difference step and tolerances for the oracle
    atol: float = 1e-5
    rtol: float = 1e-3
    doc: str = field(default="")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.call is not None:
            return self.call(*args, **kwargs)
        if self.methods:
            from .tensor import Tensor
            return getattr(Tensor, self.methods[0])(*args, **kwargs)
        assert self.function is not None
        return self.function.apply(*args, **kwargs)


REGISTRY: dict[str, OpSpec] = {}


def _first_paragraph(doc: str | None) -> str:
    """An op's docstring starts with 'forward;  derivative.' (maybe over several lines)."""
    para = (doc or "").strip().split("\n\n")[0]
    return " ".join(line.strip() for line in para.splitlines())


def register(name: str, *, sample: SampleFn, call: Callable[..., Any] | None = None,
             methods: Sequence[str] = (), second_order: bool = True, eps: float = 1e-6,
             atol: float = 1e-5, rtol: float = 1e-3) -> Callable[[Any], Any]:
    """Class/function decorator: put an op in the registry. ``sample`` is required: no op without
    its oracle test."""
    def deco(obj: Any) -> Any:
        if name in REGISTRY:
            raise ValueError(f"op {name!r} is registered twice")
        is_function = isinstance(obj, type)
        if not is_function:
            obj = _named_errors(name, obj)
        spec = OpSpec(name=name, sample=sample, function=obj if is_function else None,
                      call=call if (call is not None or is_function) else obj,
                      methods=tuple(methods), second_order=second_order, eps=eps, atol=atol,
                      rtol=rtol, doc=_first_paragraph(obj.__doc__))
        if is_function:
            obj.name = name
            obj.spec = spec
            if call is None and not methods:
                spec.call = obj.apply
            elif call is None:
                spec.call = None
        REGISTRY[name] = spec
        return obj
    return deco


def _named_errors(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A composite op (a function of other ops) reports errors under its own name: an error from
    ``var`` inside ``std`` reads 'std: var: ...', with the shapes of std's inputs."""
    from .errors import TinygradError
    from .function import _op_error

    @functools.wraps(fn)
    def op(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TinygradError as e:
            msg = str(e)
            if "input shapes" not in msg:
                shapes = ", ".join(str(getattr(a, "shape", type(a).__name__)) for a in args)
                msg += f" (input shapes: {shapes})"
            raise type(e)(msg if msg.startswith(f"{name}:") else f"{name}: {msg}") from None
        except (ValueError, IndexError, TypeError, AttributeError) as e:
            raise _op_error(name, args, e) from None
    return op


# -- sample builders shared by many ops --------------------------------------------------------
def unary(low: float = -2.0, high: float = 2.0, avoid: Sequence[float] = (),
          distinct: bool = False, **params: Callable[[Sampler, tuple], Any]) -> SampleFn:
    """One array of any shape in [low, high], kept away from ``avoid`` (kinks, poles). ``params``
    maps a keyword to ``f(s, shape)`` that draws its value."""
    def sample(s: Sampler) -> tuple[tuple, dict]:
        shape = s.shape()
        x = s.array(shape, low, high, avoid=avoid, distinct=distinct)
        return (x,), {k: f(s, shape) for k, f in params.items()}
    return sample


def binary(low: float = -2.0, high: float = 2.0, low2: float | None = None,
           high2: float | None = None, avoid2: Sequence[float] = (),
           distinct: bool = False) -> SampleFn:
    """Two arrays of mutually broadcastable shapes (different ranks included)."""
    def sample(s: Sampler) -> tuple[tuple, dict]:
        sa, sb = s.broadcastable_shapes(2)
        if distinct:
            a, b = s.arrays([sa, sb], low, high, distinct=True)
        else:
            a = s.array(sa, low, high)
            b = s.array(sb, low if low2 is None else low2, high if high2 is None else high2,
                        avoid=avoid2)
        return (a, b), {}
    return sample


def reduction(distinct: bool = False, min_dims: int = 0, min_side: int = 1,
              **extra: Callable[[Sampler, tuple], Any]) -> SampleFn:
    """One array, plus ``axis`` (None, an int or a tuple) and ``keepdims``."""
    def sample(s: Sampler) -> tuple[tuple, dict]:
        shape = s.shape(min_dims=min_dims, min_side=min_side)
        x = s.array(shape, distinct=distinct)
        kwargs = {"axis": s.axis(len(shape)), "keepdims": s.boolean()}
        kwargs.update({k: f(s, shape) for k, f in extra.items()})
        return (x,), kwargs
    return sample


def one_axis(s: Sampler, shape: tuple) -> int:
    """An axis for ops that need exactly one (softmax...); 0-d arrays use axis -1."""
    return s.integers(-len(shape), len(shape) - 1) if shape else -1


__all__ = ["Sampler", "SampleFn", "OpSpec", "REGISTRY", "register", "unary", "binary",
           "reduction", "one_axis"]
