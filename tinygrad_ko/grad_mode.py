"""Global switches of the autograd engine: grad recording and anomaly detection.

``no_grad()`` turns recording off (inference, optimizer updates); ``detect_anomaly()`` makes the
first nan/inf produced by an op, forward or backward, raise an error that names the op and the line
of user code that created it.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    """Module-level flags, read on every op (kept as plain attributes: the hot path is one lookup)."""
    grad_enabled: bool = True
    anomaly: bool = False
    backward_of: str = ""  # inside detect_anomaly: which node's backward is running, and where from
    tracer: Any = None     # an object with .step(node, grad, raw, final) (tinygrad_ko.viz's trace)


STATE = _State()


def quiet_floats() -> np.errstate:
    """The engine's floating-point policy, as PyTorch's: overflow, 0/0, log(0), log(-1)... give
    inf or nan quietly instead of a NumPy RuntimeWarning; ``detect_anomaly()`` is how to find them.
    Every op's forward and backward, the in-place ops and optimizer steps run under it."""
    return np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")


def _enter_errstate() -> Any:
    state = quiet_floats()
    state.__enter__()
    return state


def _exit_errstate(state: Any) -> None:
    state.__exit__(None, None, None)


# The same policy for the hot path (once per op in Function.apply): ``token = quiet_enter()``,
# then ``quiet_exit(token)`` in a ``finally``. NumPy >= 2 keeps its error state in a context
# variable, which np.errstate sets on entry; setting it directly costs a quarter as much
# (~0.3 us instead of ~1.3 us: on a step of a small MLP, a few percent).
try:
    from numpy._core._multiarray_umath import _extobj_contextvar, _make_extobj

    quiet_enter: Callable[[], Any] = functools.partial(
        _extobj_contextvar.set,
        _make_extobj(over="ignore", invalid="ignore", divide="ignore", under="ignore"))
    quiet_exit: Callable[[Any], Any] = _extobj_contextvar.reset
except (ImportError, AttributeError, TypeError):  # NumPy 1.x, or one that changed them: the public way
    quiet_enter, quiet_exit = _enter_errstate, _exit_errstate


def is_grad_enabled() -> bool:
    """True when new ops are recorded in the graph."""
    return STATE.grad_enabled


class _GradMode:
    """A context manager and decorator that sets grad recording on or off, then restores it."""

    def __init__(self, enabled: bool | None) -> None:
        self.enabled = enabled      # None: leave the mode as it is (inference_mode(False))
        self.prev: list[bool] = []

    def __enter__(self) -> None:
        self.prev.append(STATE.grad_enabled)
        if self.enabled is not None:
            STATE.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        STATE.grad_enabled = self.prev.pop()

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _GradMode(self.enabled):
                return fn(*args, **kwargs)
        return wrapper  # type: ignore[return-value]


def no_grad(orig_func: F | None = None) -> Any:
    """Nothing computed inside is recorded for backward. Use as ``with no_grad():``, ``@no_grad()``
    or ``@no_grad``."""
    if orig_func is not None:       # used as a bare decorator, @no_grad
        return _GradMode(False)(orig_func)
    return _GradMode(False)


def inference_mode(mode: Any = True) -> Any:
    """PyTorch's ``inference_mode``: here the same as ``no_grad()`` (``mode=False`` records as
    usual). Use as ``with inference_mode():``, ``@inference_mode()`` or ``@inference_mode``."""
    if callable(mode):              # used as a bare decorator, @inference_mode
        return _GradMode(False)(mode)
    return _GradMode(False if mode else None)


def enable_grad() -> _GradMode:
    """Turn recording back on inside a ``no_grad()`` block."""
    return _GradMode(True)


def set_grad_enabled(mode: bool) -> _GradMode:
    """Turn recording on or off: ``with set_grad_enabled(training):``."""
    return _GradMode(bool(mode))


class detect_anomaly:
    """Inside this context, the first op whose forward output or backward gradient contains nan or
    inf raises ``AnomalyError`` naming the op and the line of user code that created it.

    It is slow (every op checks its result and records where it was called), so use it to debug.
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        self.prev = False

    def __enter__(self) -> "detect_anomaly":
        self.prev = STATE.anomaly
        STATE.anomaly = self.check_nan
        return self

    def __exit__(self, *exc: object) -> None:
        STATE.anomaly = self.prev

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)
        return wrapper  # type: ignore[return-value]


def is_anomaly_enabled() -> bool:
    """True inside ``detect_anomaly()``."""
    return STATE.anomaly
