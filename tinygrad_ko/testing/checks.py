"""The checks tinygrad_ko runs on every op, on one drawn input, and the report of a failure.

    first_order    backprop's gradients = central differences (``gradcheck``), every input
    second_order   the backward's own gradients = central differences (``gradgradcheck``)
    float32        float32 inputs give float32 outputs and float32 gradients (nothing upcasts)
    backward_np    the NumPy backward (``Function.backward_np``, for speed) = the Tensor backward
    errors         invalid inputs raise the declared tinygrad_ko error (not a NumPy error)

Every check also turns a NumPy RuntimeWarning (overflow, division by zero...) into a failure: on
valid inputs an op must compute without one. ``check_inputs`` runs the checks on one input;
``tinygrad_ko.testing.check_op`` draws many with hypothesis and calls it.
"""
from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..autograd import grad
from ..errors import GradcheckError, TinygradError, UsageError
from ..function import Function
from ..gradcheck import GradientMismatchError, gradcheck, gradgradcheck
from ..registry import REGISTRY, OpSpec
from ..tensor import Tensor

CHECKS = ("first_order", "second_order", "float32", "backward_np", "errors")
BACKWARD_NP_TOL = 1e-12   # the two backwards compute the same formula: equal up to rounding


class OpCheckError(GradcheckError):
    """An op failed one of the checks of ``check_op``. The message is the report (the input, the
    worst element, the values and the tolerances); the attributes hold the same facts:
    ``op`` (its name), ``check`` (one of ``CHECKS``), ``inputs`` and ``kwargs`` (the input), and
    ``mismatch`` (the ``GradientMismatchError`` of a gradient check, else None)."""

    def __init__(self, message: str, *, op: str = "", check: str = "", args: tuple = (),
                 kwargs: dict | None = None, mismatch: GradientMismatchError | None = None) -> None:
        super().__init__(message)
        # not self.args: that is BaseException's (the message)
        self.op, self.check, self.inputs, self.kwargs = op, check, tuple(args), dict(kwargs or {})
        self.mismatch = mismatch


class _Failed(Exception):
    """A check's own finding (not a gradcheck one), turned into the report by ``run_check``."""


@dataclass
class Target:
    """What is checked: how to call it, how to draw its inputs, and its tolerances."""
    name: str
    call: Callable[..., Any]
    sample: Any = None                 # a sample function, a strategy, or a list of strategies
    function: type | None = None       # the Function class, when there is one (for backward_np)
    second_order: bool = True
    eps: float = 1e-6
    atol: float = 1e-5
    rtol: float = 1e-3

    def applicable(self, invalid: Any = None) -> list[str]:
        """The checks that apply to this op (all of them, less what it does not have)."""
        has_np = getattr(self.function, "backward_np", None) is not None
        return [c for c in CHECKS if (c != "second_order" or self.second_order)
                and (c != "backward_np" or has_np) and (c != "errors" or invalid is not None)]


def resolve(op: Any, sample: Any = None, *, second_order: bool | None = None,
            eps: float | None = None, atol: float | None = None,
            rtol: float | None = None) -> Target:
    """A registered op (its name, its ``OpSpec``, its ``Function`` class or function), an
    unregistered ``Function`` subclass, or any function of Tensors, as a ``Target``. Options given
    here replace the registry entry's."""
    if isinstance(op, Target):
        t = Target(**vars(op))
    elif isinstance(op, str):
        if op not in REGISTRY:
            close = difflib.get_close_matches(op, REGISTRY, n=3)
            raise UsageError(f"check_op: no op named {op!r} in the registry"
                             + (f"; did you mean {', '.join(map(repr, close))}?" if close else ""))
        t = _from_spec(REGISTRY[op])
    elif isinstance(op, OpSpec):
        t = _from_spec(op)
    elif isinstance(op, type) and issubclass(op, Function):
        spec = op.__dict__.get("spec")   # its own entry, not one inherited from a registered base
        t = _from_spec(spec) if spec is not None else Target(op.__name__, op.apply, function=op)
    elif callable(op):
        spec = next((s for s in REGISTRY.values() if s.call is op), None)
        t = _from_spec(spec) if spec is not None else \
            Target(getattr(op, "__name__", type(op).__name__), op)
    else:
        raise UsageError(f"check_op: op must be a registered op's name, an OpSpec, a Function "
                         f"subclass or a function of Tensors, got {type(op).__name__}")
    if sample is not None:
        t.sample = sample
    for key, value in (("second_order", second_order), ("eps", eps), ("atol", atol),
                       ("rtol", rtol)):
        if value is not None:
            setattr(t, key, value)
    return t


def _from_spec(spec: OpSpec) -> Target:
    return Target(spec.name, spec, spec.sample, spec.function, spec.second_order, spec.eps,
                  spec.atol, spec.rtol)


# -- the checks, on one input --------------------------------------------------------------------
def check_inputs(op: Any, args: Sequence[Any], kwargs: dict | None = None, *,
                 checks: Sequence[str] | None = None, second_order: bool | None = None,
                 eps: float | None = None, atol: float | None = None,
                 rtol: float | None = None) -> None:
    """Run the checks of ``check_op`` on one input ``op(*args, **kwargs)``, e.g. to reproduce a
    failure it reported. NumPy float arrays in ``args`` are the differentiable inputs; anything
    else (int arrays, Tensors without requires_grad, numbers) is passed as it is. Raises
    ``OpCheckError`` with the report; returns None when every check passes."""
    __tracebackhide__ = True
    t = resolve(op, second_order=second_order, eps=eps, atol=atol, rtol=rtol)
    for check in select(t, checks, valid_only=True):
        run_check(t, check, tuple(args), dict(kwargs or {}))


def select(t: Target, checks: Sequence[str] | None, invalid: Any = None,
           valid_only: bool = False) -> list[str]:
    """The checks to run: all that apply, or those asked for (an error if one cannot apply)."""
    if checks is None:
        return [c for c in t.applicable(invalid) if not (valid_only and c == "errors")]
    if isinstance(checks, str):
        checks = [checks]
    for c in checks:
        if c not in CHECKS:
            raise UsageError(f"check_op: unknown check {c!r}; the checks are {', '.join(CHECKS)}")
        if c not in t.applicable(invalid):
            why = {"second_order": "it declares second_order=False",
                   "backward_np": "it has no backward_np",
                   "errors": "no invalid inputs were given (invalid=...)"}[c]
            raise UsageError(f"check_op({t.name}): the {c!r} check does not apply: {why}")
    return list(checks)


def run_check(t: Target, check: str, args: tuple, kwargs: dict,
              expected: type[BaseException] = TinygradError, source: str = "") -> None:
    """One check on one input; any failure becomes an ``OpCheckError`` carrying the report
    (``source`` says where the input came from, e.g. hypothesis's shrinking)."""
    __tracebackhide__ = True   # pytest shows the report, not the library's frames
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            if check == "errors":
                _errors(t, args, kwargs, expected)
            else:
                {"first_order": _first_order, "second_order": _second_order,
                 "float32": _float32, "backward_np": _backward_np}[check](t, args, kwargs)
        except OpCheckError:
            raise
        # the report says it all: no chained traceback through the library's own code
        except _Failed as e:
            raise _report(t, check, args, kwargs, [str(e)], source=source) from e.__cause__
        except GradientMismatchError as e:
            raise _report(t, check, args, kwargs, _mismatch_lines(e), e, source) from None
        except GradcheckError as e:
            raise _report(t, check, args, kwargs, [str(e)], source=source) from None
        except Exception as e:  # noqa: BLE001 (the op crashed on a valid input: say so, with it,
            # and keep the traceback: it points into the op's code)
            what = "a NumPy RuntimeWarning" if isinstance(e, RuntimeWarning) else type(e).__name__
            lines = [f"{t.name} raised {what} on this valid input: {e}"]
            raise _report(t, check, args, kwargs, lines, source=source) from e


def _first_order(t: Target, args: tuple, kwargs: dict) -> None:
    gradcheck(lambda *xs: t.call(*xs, **kwargs), list(args), eps=t.eps, atol=t.atol, rtol=t.rtol)


def _second_order(t: Target, args: tuple, kwargs: dict) -> None:
    gradgradcheck(lambda *xs: t.call(*xs, **kwargs), list(args), eps=t.eps, atol=t.atol,
                  rtol=t.rtol)


def _tensors(args: tuple, float_dtype: Any = None) -> list[Any]:
    """Float arrays become Tensors that require grad (cast to ``float_dtype`` if given), int and
    bool arrays constant Tensors; float Tensors are cast too; everything else (strings, numbers,
    arrays of other dtypes: maybe an invalid input) is passed as it is, as a user would."""
    out: list[Any] = []
    for a in args:
        if isinstance(a, np.ndarray) and a.dtype.kind in "biuf":
            f = a.dtype.kind == "f"
            out.append(Tensor(a.astype(float_dtype) if f and float_dtype else a, requires_grad=f))
        elif isinstance(a, Tensor) and a.dtype.kind == "f" and float_dtype:
            out.append(Tensor(a._data.astype(float_dtype), requires_grad=a.requires_grad))
        else:
            out.append(a)
    return out


def _outputs(out: Any) -> list[Tensor]:
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    bad = [type(o).__name__ for o in outs if not isinstance(o, Tensor)]
    if bad:
        raise GradcheckError(f"the op must return a Tensor or a tuple of Tensors, got {bad[0]}")
    return outs


def _float32(t: Target, args: tuple, kwargs: dict) -> None:
    if str(kwargs.get("dtype")) == "float64":
        return                       # asked for float64 (a cast): a float64 result is right
    xs = _tensors(args, np.float32)
    outs = _outputs(t.call(*xs, **kwargs))
    for j, o in enumerate(outs):
        if o.dtype.kind == "f" and o.dtype != np.float32:
            raise _Failed(
                f"output {j} is {o.dtype} for float32 inputs: something in forward made it "
                f"{o.dtype} (a NumPy constant or array created without dtype=x.dtype?)")
    targets = [(i, x) for i, x in enumerate(xs) if isinstance(x, Tensor) and x.requires_grad]
    live = [o for o in outs if o.requires_grad]
    if not live or not targets:
        return
    gs = grad(live, [x for _, x in targets], [Tensor(np.ones(o.shape, o.dtype)) for o in live],
              allow_unused=True)
    for (i, _), g in zip(targets, gs):
        if g is not None and g.dtype != np.float32:
            raise _Failed(
                f"the gradient of input {i} is {g.dtype} for float32 inputs: something in "
                f"backward made it {g.dtype} (a NumPy constant or array created without dtype?)")


def _backward_np(t: Target, args: tuple, kwargs: dict) -> None:
    grads = []
    for create_graph in (False, True):   # False runs backward_np, True the Tensor backward
        xs = _tensors(args)
        outs = _outputs(t.call(*xs, **kwargs))
        positions = [i for i, x in enumerate(xs) if isinstance(x, Tensor) and x.requires_grad]
        targets = [xs[i] for i in positions]
        rng = np.random.default_rng(0)
        cots = [Tensor(rng.standard_normal(o.shape), dtype=o.dtype) for o in outs]
        gs = grad(outs, targets, cots, create_graph=create_graph, allow_unused=True)
        grads.append([np.zeros(x.shape) if g is None else g._data for x, g in zip(targets, gs)])
    for i, fast, ref in zip(positions, *grads):
        if not np.allclose(fast, ref, rtol=BACKWARD_NP_TOL, atol=BACKWARD_NP_TOL):
            k = np.unravel_index(int(np.argmax(np.abs(fast - ref))), ref.shape) if ref.ndim else ()
            k = tuple(int(j) for j in k)
            raise _Failed(
                f"backward_np and backward disagree for input {i} (shape {ref.shape}) at index "
                f"{k}: backward_np {fast[k] + 0.0:.12g}, backward {ref[k] + 0.0:.12g} (tolerance "
                f"{BACKWARD_NP_TOL:g}); the first-order check runs backward_np, the second-order "
                f"check backward: both must compute the same gradient")


def _errors(t: Target, args: tuple, kwargs: dict, expected: type[BaseException]) -> None:
    xs = _tensors(args)
    try:
        out = t.call(*xs, **kwargs)
    except expected as e:
        if not str(e):
            raise _Failed(f"{t.name} raised {type(e).__name__} with an empty message") from e
        return
    except Exception as e:  # noqa: BLE001
        what = "a NumPy RuntimeWarning" if isinstance(e, RuntimeWarning) else type(e).__name__
        raise _Failed(f"{t.name} raised {what} on this invalid input, not "
                      f"{expected.__name__}: {e}") from e
    shape = getattr(out, "shape", type(out).__name__)
    raise _Failed(f"{t.name} accepted this invalid input (returned {shape}) instead of "
                  f"raising {expected.__name__}")


# -- the report ----------------------------------------------------------------------------------
TITLES = {"first_order": "first-order gradients (backprop vs numerical differentiation)",
          "second_order": "second-order gradients (backward of backward vs numerical "
                          "differentiation)",
          "float32": "float32 in, float32 out", "backward_np": "backward_np equals backward",
          "errors": "an invalid input raises the declared error"}


def format_value(a: Any) -> str:
    """An input as Python that rebuilds it: ``np.array([0.5, -1.0])`` (shortest exact floats)."""
    if isinstance(a, np.ndarray):
        body = np.array2string(a, separator=", ", floatmode="unique", threshold=1000,
                               max_line_width=10**6) if a.ndim else repr(a.item())
        dtype = "" if a.dtype == np.float64 else f", dtype=np.{a.dtype}"
        return f"np.array({body}{dtype})"
    if isinstance(a, Tensor):
        return f"Tensor({format_value(a._data)})"
    return repr(a)


def _describe(args: tuple, kwargs: dict) -> list[str]:
    lines = []
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray):
            kind = "differentiated" if a.dtype.kind == "f" else "not differentiated"
            head = f"input {i}: {a.dtype} array, shape {a.shape} ({kind})"
        elif isinstance(a, Tensor):
            head = f"input {i}: Tensor {a.dtype}, shape {a.shape} (not differentiated)"
        else:
            head = f"input {i}: {type(a).__name__}"
        lines.append(f"  {head}\n      {format_value(a)}")
    if kwargs:
        lines.append("  keyword arguments: " + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()))
    return lines


def _mismatch_lines(e: GradientMismatchError) -> list[str]:
    where = "along a random direction (fast mode)" if e.index is None else f"at index {e.index}"
    head = f"worst element: input {e.input} {where}"
    if e.order == 2:
        of = "the gradients" if e.of_gradient is None else f"the gradient of input {e.of_gradient}"
        wrt = (f"input {e.input}" if e.cotangent is None else
               f"the output-side gradient v{e.cotangent} (the gradient must be linear in it)")
        head = (f"worst element: {of} (first order, from backward recorded with "
                f"create_graph=True), differentiated with respect to {wrt}, {where}")
    bound = e.atol + e.rtol * abs(e.numeric)
    scalar = []
    vs = e.cotangents if e.order == 1 else None
    if vs is not None and len(vs) == 1 and vs[0].size == 1 and e.index is not None:
        v = float(vs[0].reshape(()))     # one scalar output (a loss): undo the random weight
        scalar = [f"  the output is a scalar, weighted by v = {v:.8g}: d output / d input is "
                  f"{e.analytic / v:.8g} by backprop, {e.numeric / v:.8g} numerically"]
    return [head,
            f"  analytic (backprop):            {e.analytic:.8g}",
            f"  numeric (central differences):  {e.numeric:.8g}",
            f"  |analytic - numeric| = {abs(e.analytic - e.numeric):.3g} > atol + rtol*|numeric|"
            f" = {e.atol:g} + {e.rtol:g}*{abs(e.numeric):.3g} = {bound:.3g}",
            *scalar, f"  {e.count} of {e.size} element(s) out of tolerance"]


def _report(t: Target, check: str, args: tuple, kwargs: dict, lines: list[str],
            mismatch: GradientMismatchError | None = None, source: str = "") -> OpCheckError:
    note = ""
    if check in ("first_order", "second_order"):
        note = ("\n(the gradients of sum(v * output) for a random output-side gradient v, seed 0, "
                "as gradcheck computes them; check_op takes eps=, atol=, rtol=)")
    op = repr(t.name) if REGISTRY.get(t.name) is t.call else t.name
    call = ", ".join(format_value(a) for a in args)
    kw = f", {kwargs!r}" if kwargs else ""
    text = (f"{t.name}: {TITLES[check]} failed\n"
            f"on this input{source}:\n" + "\n".join(_describe(args, kwargs))
            + "\n" + "\n".join(lines) + note)
    if check != "errors":
        text += (f"\nreproduce: tinygrad_ko.testing.check_inputs({op}, [{call}]{kw}, "
                 f"checks=[{check!r}])")
    return OpCheckError(text, op=t.name, check=check, args=args, kwargs=kwargs, mismatch=mismatch)


__all__ = ["CHECKS", "OpCheckError", "Target", "resolve", "check_inputs", "format_value"]
