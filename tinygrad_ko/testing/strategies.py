"""Hypothesis strategies for testing gradients (needs the ``test`` extra: ``pip install hypothesis``).

    shapes()                     array shapes, small enough for numerical gradients
    broadcastable_shapes(n)      n shapes NumPy can broadcast together (different ranks included)
    float_arrays(shape, ...)     well-conditioned float64 arrays, kept away from kinks and poles
    HypothesisSampler(draw)      the registry's ``Sampler`` on hypothesis (what ``sample`` gets)
    op_inputs(spec)              valid inputs for a registry op, drawn by the op's own ``sample``
    register_profiles()          the 'fast' and 'thorough' profiles

For a whole op, ``check_op`` / ``op_tests`` (tinygrad_ko.testing) use these and run every check.
For a quick property of your own::

    from hypothesis import given
    from tinygrad_ko.testing import float_arrays, shapes
    from tinygrad_ko.gradcheck import gradcheck

    @given(float_arrays(shapes(), avoid=(0.0,)))
    def test_my_op(x):
        assert gradcheck(my_op, [x])
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..registry import OpSpec

GAP = 0.1  # how far inputs stay from kinks (relu at 0...) and from each other (max ties): >> eps


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
           max_side: int = 4) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes, at most 4**3 = 64 elements by default: a full numerical gradient stays cheap."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable_shapes(n: int, min_dims: int = 0, max_dims: int = 3,
                         max_side: int = 4) -> st.SearchStrategy[list[tuple[int, ...]]]:
    """``n`` shapes that broadcast together, like (3, 1, 4), (2, 1) and (4,)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=min_dims, max_dims=max_dims,
                                             max_side=max_side).map(lambda r: list(r.input_shapes))


def _away(x: np.ndarray, avoid: Sequence[float], gap: float) -> np.ndarray:
    """Push values that are within ``gap`` of a point to avoid out to exactly ``gap`` from it."""
    for k in avoid:
        near = np.abs(x - k) < gap
        x = np.where(near, np.where(x >= k, k + gap, k - gap), x)
    return x


def _spread(flat: np.ndarray, gap: float) -> np.ndarray:
    """Make all values differ by at least ``gap`` (no ties for max/min), keeping their order."""
    order = np.argsort(flat, kind="stable")
    v = flat[order].copy()
    for i in range(1, v.size):
        v[i] = max(v[i], v[i - 1] + gap)
    out = np.empty_like(flat)
    out[order] = v
    return out


def float_arrays(shape: tuple[int, ...] | st.SearchStrategy, low: float = -2.0, high: float = 2.0,
                 avoid: Sequence[float] = (), distinct: bool = False,
                 gap: float = GAP) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays with values in [low, high], at least ``gap`` away from each point in
    ``avoid`` and, with ``distinct``, from each other."""
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)

    def fix(a: np.ndarray) -> np.ndarray:
        a = _away(np.asarray(a, dtype=np.float64), avoid, gap)
        if distinct and a.size > 1:
            a = _spread(a.reshape(-1), gap).reshape(a.shape)
        return a
    return hnp.arrays(np.float64, shape, elements=elements).map(fix)


class HypothesisSampler:
    """The ``Sampler`` of ``tinygrad_ko.registry``, drawing from hypothesis (so failures shrink)."""

    def __init__(self, draw: Callable[[st.SearchStrategy], Any]) -> None:
        self.draw = draw

    def shape(self, min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
              max_side: int = 4) -> tuple[int, ...]:
        """A shape drawn from ``shapes()``."""
        return self.draw(shapes(min_dims, max_dims, min_side, max_side))

    def broadcastable_shapes(self, n: int, min_dims: int = 0, max_dims: int = 3,
                             max_side: int = 4) -> list[tuple[int, ...]]:
        """``n`` shapes that broadcast together, drawn from ``broadcastable_shapes()``."""
        return self.draw(broadcastable_shapes(n, min_dims, max_dims, max_side))

    def array(self, shape: tuple[int, ...], low: float = -2.0, high: float = 2.0,
              avoid: Sequence[float] = (), distinct: bool = False) -> np.ndarray:
        """A float64 array of ``shape``, drawn from ``float_arrays()``."""
        return self.draw(float_arrays(tuple(shape), low, high, avoid, distinct))

    def arrays(self, shapes_: Sequence[tuple[int, ...]], low: float = -2.0, high: float = 2.0,
               avoid: Sequence[float] = (), distinct: bool = False) -> list[np.ndarray]:
        """Several arrays; with ``distinct``, no value repeats across all of them."""
        sizes = [int(np.prod(s)) for s in shapes_]
        flat = self.draw(float_arrays((sum(sizes),), low, high, avoid, distinct))
        out, start = [], 0
        for s, n in zip(shapes_, sizes):
            out.append(flat[start:start + n].reshape(s))
            start += n
        return out

    def integers(self, low: int, high: int) -> int:
        """An int in [low, high], both included."""
        return self.draw(st.integers(low, high))

    def floats(self, low: float, high: float) -> float:
        """A float in [low, high] (never nan)."""
        return self.draw(st.floats(low, high, allow_nan=False))

    def boolean(self) -> bool:
        """True or False."""
        return self.draw(st.booleans())

    def choice(self, options: Sequence[Any]) -> Any:
        """One of ``options``."""
        return self.draw(st.sampled_from(list(options)))

    def axis(self, ndim: int, allow_none: bool = True, allow_tuple: bool = True) -> Any:
        """None, one axis (maybe negative), or a tuple of distinct axes."""
        options: list[st.SearchStrategy] = [st.none()] if allow_none or ndim == 0 else []
        if ndim:
            options.append(st.integers(-ndim, ndim - 1))
            if allow_tuple:
                options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                                        unique=True).map(tuple))
        return self.draw(st.one_of(options))

    def permutation(self, n: int) -> tuple[int, ...]:
        """A permutation of range(n), as a tuple."""
        return tuple(self.draw(st.permutations(list(range(n)))))


@st.composite
def op_inputs(draw: Callable[[st.SearchStrategy], Any], spec: OpSpec) -> tuple[tuple, dict]:
    """``(args, kwargs)`` for a registry op, drawn by the op's own ``sample``."""
    return spec.sample(HypothesisSampler(draw))


def register_profiles(load: bool = True) -> None:
    """Register the hypothesis profiles tinygrad_ko's tests use: 'fast' (12 examples per test,
    derandomized: the same inputs on every run, for CI) and 'thorough' (300 random examples).

    With ``load``, also load one, unless a profile is loaded already (pytest's
    ``--hypothesis-profile``, or your own ``settings.load_profile``): the one the environment
    variable TINYGRAD_KO_PROFILE names, default 'fast'. Call it from conftest.py or at the top of a
    test file; ``pytest --hypothesis-profile thorough`` still wins either way. Hypothesis loads
    its own 'ci' profile (100 examples) by itself where it sees a CI environment variable: that
    one counts as no choice, so CI runs what a laptop runs (``TINYGRAD_KO_PROFILE=ci`` keeps it)."""
    settings.register_profile("fast", max_examples=12, deadline=None, derandomize=True,
                              print_blob=True)
    settings.register_profile("thorough", max_examples=300, deadline=None, print_blob=True)
    # 'ci' is what hypothesis picks itself on CI machines, not a choice of the user's
    if load and settings.get_current_profile_name() in ("default", "ci"):
        settings.load_profile(os.environ.get("TINYGRAD_KO_PROFILE", "fast"))


__all__ = ["shapes", "broadcastable_shapes", "float_arrays", "HypothesisSampler", "op_inputs",
           "register_profiles", "GAP"]
