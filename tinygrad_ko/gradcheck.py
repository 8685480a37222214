"""The oracle: numerical (central-difference) gradients, and checks of backprop against them.

The book's tools, as written there::

    numerical_diff(f, x, h=1e-4)       (f(x + h) - f(x - h)) / 2h
    numerical_gradient(f, x, h=1e-4)   that, for every element of an array x

and PyTorch-style checks for your own ops and models::

    gradcheck(fn, inputs)              first derivatives, every input, random output cotangents
    gradgradcheck(fn, inputs)          second derivatives (backward of backward)
    gradcheck(fn, inputs, fast_mode=True)  random directional derivatives: a handful of forward
                                       passes instead of two per element (large models)

``gradcheck`` perturbs the input tensors *in place* (in float64, restored afterwards), so ``fn`` may
use them directly or through a model that holds them: ``gradcheck(lambda *p: loss(model), params)``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .autograd import grad
from .errors import GradcheckError
from .tensor import Tensor


def numerical_diff(f: Callable[[float], float], x: float, h: float = 1e-4) -> float:
    """Central difference (f(x+h) - f(x-h)) / 2h: error O(h^2), against O(h) one-sided."""
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(f: Callable[[Any], Any], x: Any, h: float = 1e-4) -> np.ndarray:
    """d f / d x for every element of the array (or Tensor) x, by central differences.

    Each element is nudged in place, f is evaluated, and the element is restored, exactly as in the
    book, so f may ignore its argument and read x through a model (``lambda _: net.loss(...)``).
    f must return a scalar (number, 0-d array or one-element Tensor).
    """
    arr = x._data if isinstance(x, Tensor) else x
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
        raise GradcheckError(f"numerical_gradient: x must be a float array or Tensor, got "
                             f"{type(x).__name__} {getattr(arr, 'dtype', '')}")
    grad_ = np.zeros_like(arr)
    it = np.nditer(arr, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = arr[idx].copy()
        try:
            arr[idx] = old + h
            f_plus = _scalar(f(x))
            arr[idx] = old - h
            f_minus = _scalar(f(x))
        finally:
            arr[idx] = old
        grad_[idx] = (f_plus - f_minus) / (2 * h)
    return grad_


def _scalar(v: Any) -> float:
    if isinstance(v, Tensor):
        v = v._data
    v = np.asarray(v)
    if v.size != 1:
        raise GradcheckError(f"numerical gradient: f must return a scalar, got shape {v.shape}")
    return float(v.reshape(()))


# -- gradcheck ---------------------------------------------------------------------------------
class _Inputs:
    """The inputs of a check: float64 leaf tensors to perturb in place, restored by ``restore``."""

    def __init__(self, inputs: Any) -> None:
        items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        self.args: list[Any] = []
        self.checked: list[tuple[int, Tensor]] = []   # (position in args, tensor)
        self._restore: list[tuple[Tensor, np.ndarray]] = []
        for i, item in enumerate(items):
            if isinstance(item, Tensor) and item.requires_grad:
                self._restore.append((item, item._data))
                # a C-ordered float64 copy, so that reshape(-1) below is a view (an F-ordered
                # array, e.g. Linear's weight, would be copied and never perturbed)
                item._data = np.array(item._data, dtype=np.float64, order="C")
                t = item
            elif isinstance(item, np.ndarray) and item.dtype.kind == "f":
                t = Tensor(np.array(item, dtype=np.float64, order="C"), requires_grad=True)
            elif isinstance(item, np.ndarray):
                t = Tensor(item)
            else:
                self.args.append(item)
                continue
            if t.requires_grad:
                bad = ~np.isfinite(t._data)
                if bad.any():
                    self.restore()
                    where_ = tuple(int(j) for j in np.argwhere(bad)[0])
                    kind = "nan" if np.isnan(t._data[where_]) else "inf"
                    raise GradcheckError(f"gradcheck: input {i} contains {kind} at index {where_}; "
                                         f"gradients are not defined there")
                self.checked.append((i, t))
            self.args.append(t)

    def restore(self) -> None:
        for t, data in self._restore:
            t._data = data
        self._restore = []


def _outputs(out: Any) -> list[Tensor]:
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    for o in outs:
        if not isinstance(o, Tensor):
            raise GradcheckError(f"gradcheck: fn must return a Tensor or a tuple of Tensors, "
                                 f"got {type(o).__name__}")
    return outs


def _objective(fn: Callable[..., Any], args: list[Any], vs: list[np.ndarray]) -> float:
    """L = sum_j <v_j, f_j(args)>: the scalar whose gradient backprop computes."""
    outs = _outputs(fn(*args))  # with grad on: fn may itself call grad() (gradient penalties)
    return float(sum(np.sum(o._data.astype(np.float64) * v) for o, v in zip(outs, vs)))


def _analytic(fn: Callable[..., Any], ins: _Inputs, rng: np.random.Generator
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    outs = _outputs(fn(*ins.args))
    for j, o in enumerate(outs):
        if o.dtype.kind == "f" and not np.isfinite(o._data).all():
            raise GradcheckError(f"gradcheck: output {j} of fn contains nan or inf at the given "
                                 f"inputs (shape {o.shape}); check the inputs' domain")
    vs = [rng.standard_normal(o.shape) for o in outs]  # random cotangents, never all-ones
    live = [(o, v) for o, v in zip(outs, vs) if o.requires_grad]
    targets = [t for _, t in ins.checked]
    if live and targets:
        gs = grad([o for o, _ in live], targets, [Tensor(v, dtype=o.dtype) for o, v in live],
                  allow_unused=True)
    else:
        gs = (None,) * len(targets)
    analytic = []
    for (i, t), g in zip(ins.checked, gs):
        if g is not None and g.shape != t.shape:
            raise GradcheckError(f"gradcheck: the gradient of input {i} has shape {g.shape}, "
                                 f"the input has shape {t.shape}")
        analytic.append(np.zeros(t.shape) if g is None else g._data.astype(np.float64))
    return vs, analytic


class GradientMismatchError(GradcheckError):
    """Backprop and the numerical gradient disagree; the attributes say where and by how much.

    input: the position of the input in ``inputs`` (for second order, in ``inputs + cotangents``:
    positions from ``len(inputs)`` on are the output cotangents v); shape: its shape; index: the
    worst element (None in fast mode, which compares directional derivatives); analytic / numeric:
    the two values there; atol / rtol: the tolerances; count / size: elements out of tolerance and
    in total. For second order, ``of_gradient`` is the input whose first-order gradient was
    differentiated (``order == 2``), and ``cotangent`` is j when the derivative that is wrong is
    the one with respect to the output cotangent v_j rather than an input (else None).
    ``cotangents``: the random v_j, one per output, that weighted the outputs (first order).
    """

    def __init__(self, message: str, *, input: int = 0, shape: tuple = (),
                 index: tuple | None = None, analytic: float = float("nan"),
                 numeric: float = float("nan"), atol: float = 0.0, rtol: float = 0.0,
                 count: int = 1, size: int = 1, order: int = 1,
                 of_gradient: int | None = None, cotangent: int | None = None) -> None:
        super().__init__(message)
        self.input, self.shape, self.index = input, tuple(shape), index
        self.analytic, self.numeric, self.atol, self.rtol = analytic, numeric, atol, rtol
        self.count, self.size, self.order, self.of_gradient = count, size, order, of_gradient
        self.cotangent = cotangent
        self.cotangents: list[np.ndarray] | None = None


def _fail(i: int, shape: tuple, analytic: np.ndarray, numeric: np.ndarray, atol: float,
          rtol: float) -> GradientMismatchError:
    excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    excess = np.where(np.isnan(excess), np.inf, excess)
    worst = np.unravel_index(int(np.argmax(excess)), analytic.shape) if analytic.ndim else ()
    worst = tuple(int(k) for k in worst)
    a, n = analytic[worst] + 0.0, numeric[worst] + 0.0  # + 0.0 turns -0.0 into 0.0 for printing
    count = int(np.sum(excess > 0))
    return GradientMismatchError(
        f"gradcheck: backprop and the numerical gradient disagree for input {i} (shape "
        f"{shape}) at index {worst}: analytic {a:.8g}, numeric {n:.8g} "
        f"(|diff| {abs(a - n):.3g} > atol + rtol*|numeric| = {atol + rtol * abs(n):.3g}); "
        f"{count} element(s) out of tolerance", input=i, shape=shape, index=worst,
        analytic=float(a), numeric=float(n), atol=atol, rtol=rtol, count=count,
        size=int(analytic.size))


def gradcheck(fn: Callable[..., Any], inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, fast_mode: bool = False,
              n_directions: int = 3, seed: int = 0) -> bool:
    """Check backprop's gradient of ``fn`` against central differences, in float64.

    inputs: a Tensor/array or a sequence of them (other values are passed through). Float arrays and
    tensors with requires_grad are checked. The scalar compared is sum_j <v_j, out_j> with random
    normal v_j, so every output element is weighted differently (all-ones would hide errors that
    cancel). ``fast_mode`` compares ``n_directions`` random directional derivatives per input
    instead of every element. Returns True, or raises ``GradcheckError`` naming the input, the worst
    element's index, and the analytic and numeric values (returns False if ``raise_exception=False``).
    """
    rng = np.random.default_rng(seed)
    ins = _Inputs(inputs)
    vs: list[np.ndarray] = []
    try:
        vs, analytic = _analytic(fn, ins, rng)
        L = lambda: _objective(fn, ins.args, vs)  # noqa: E731
        for (i, t), a in zip(ins.checked, analytic):
            flat = t._data.reshape(-1)  # a view: writing it perturbs the input fn reads
            if fast_mode:
                for _ in range(n_directions):
                    u = rng.standard_normal(flat.size)
                    u /= np.linalg.norm(u) or 1.0
                    saved = flat.copy()
                    flat += eps * u
                    lp = L()
                    flat[:] = saved - eps * u
                    lm = L()
                    flat[:] = saved
                    numeric = (lp - lm) / (2 * eps)
                    analytic_dir = float(np.dot(a.reshape(-1), u))
                    if not abs(analytic_dir - numeric) <= atol + rtol * abs(numeric):
                        raise GradientMismatchError(
                            f"gradcheck (fast mode): the directional derivative of input {i} "
                            f"(shape {t.shape}) along a random direction is {analytic_dir:.8g} by "
                            f"backprop but {numeric:.8g} numerically; run with fast_mode=False to "
                            f"find the element", input=i, shape=t.shape, index=None,
                            analytic=analytic_dir, numeric=float(numeric), atol=atol, rtol=rtol,
                            size=int(flat.size))
            else:
                numeric = np.zeros(flat.size)
                for k in range(flat.size):
                    old = flat[k]
                    flat[k] = old + eps
                    lp = L()
                    flat[k] = old - eps
                    lm = L()
                    flat[k] = old
                    numeric[k] = (lp - lm) / (2 * eps)
                numeric = numeric.reshape(t.shape)
                if not np.allclose(a, numeric, atol=atol, rtol=rtol):
                    raise _fail(i, t.shape, a, numeric, atol, rtol)
    except GradcheckError as e:
        if isinstance(e, GradientMismatchError) and e.cotangents is None:
            e.cotangents = vs
        if raise_exception:
            raise
        return False
    finally:
        ins.restore()
    return True


def gradgradcheck(fn: Callable[..., Any], inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True, fast_mode: bool = False,
                  seed: int = 0) -> bool:
    """Check second derivatives: gradcheck of the map (inputs, v) -> d<v, fn(inputs)>/d inputs,
    whose gradient backprop computes through a backward pass recorded with create_graph=True."""
    rng = np.random.default_rng(seed + 1)
    ins = _Inputs(inputs)
    try:
        outs = _outputs(fn(*ins.args))
    finally:
        ins.restore()
    vs = [rng.standard_normal(o.shape) for o in outs]
    positions = [i for i, _ in ins.checked]
    n_args = len(ins.args)
    args = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]

    def first_derivative(*xs_and_vs: Any) -> tuple[Tensor, ...]:
        xs, v = list(xs_and_vs[:n_args]), list(xs_and_vs[n_args:])
        out = _outputs(fn(*xs))
        targets = [xs[p] for p in positions]
        live = [(o, w) for o, w in zip(out, v) if o.requires_grad]
        gs = grad([o for o, _ in live], targets, [w for _, w in live], create_graph=True,
                  allow_unused=True) if live else (None,) * len(targets)
        # an input the gradient does not depend on (e.g. relu: g * mask) contributes a zero
        return tuple(g if g is not None else Tensor(np.zeros(t.shape)) for g, t in zip(gs, targets))

    extended = args + vs
    try:
        return gradcheck(first_derivative, extended, eps=eps, atol=atol, rtol=rtol,
                         raise_exception=True, fast_mode=fast_mode, seed=seed)
    except GradientMismatchError as e:
        if not raise_exception:
            return False
        raise _second_order_error(e, first_derivative, extended, positions, n_args,
                                  dict(eps=eps, atol=atol, rtol=rtol, fast_mode=fast_mode,
                                       seed=seed)) from None
    except GradcheckError as e:
        if not raise_exception:
            return False
        raise GradcheckError(f"gradgradcheck (second derivatives): {e}") from None


def _second_order_error(e: GradientMismatchError, first_derivative: Callable[..., Any],
                        extended: list[Any], positions: list[int], n_args: int,
                        options: dict[str, Any]) -> GradientMismatchError:
    """The combined check failed; find which first-order gradient is wrong by checking each one
    alone, and say so (the combined check weights all of them with random cotangents)."""
    found, j = e, 0
    if len(positions) > 1:
        for j in range(len(positions)):
            try:
                gradcheck(lambda *a, j=j: first_derivative(*a)[j], extended, **options)
            except GradientMismatchError as ej:
                found = ej
                break
        else:  # each is right alone: only their combination fails (should not happen)
            found, j = e, -1
    of = positions[j] if j >= 0 else None
    i = found.input
    wrt = (f"input {i} (shape {found.shape})" if i < n_args else
           f"the output cotangent v{i - n_args} (shape {found.shape}; the first-order gradient "
           f"must be linear in it)")
    where = "along a random direction" if found.index is None else f"at index {found.index}"
    grad_of = (f"the gradient of input {of}" if of is not None else "the first-order gradients")
    a, n = found.analytic, found.numeric
    return GradientMismatchError(
        f"gradgradcheck (second derivatives): {grad_of} (first order, recorded with "
        f"create_graph=True), differentiated with respect to {wrt} {where}: analytic {a:.8g}, "
        f"numeric {n:.8g} (|diff| {abs(a - n):.3g} > atol + rtol*|numeric| = "
        f"{found.atol + found.rtol * abs(n):.3g}); {found.count} element(s) out of tolerance",
        input=i, shape=found.shape, index=found.index, analytic=a, numeric=n, atol=found.atol,
        rtol=found.rtol, count=found.count, size=found.size, order=2, of_gradient=of,
        cotangent=i - n_args if i >= n_args else None)

__all__ = ["numerical_diff", "numerical_gradient", "gradcheck", "gradgradcheck", "GradcheckError",
           "GradientMismatchError"]
