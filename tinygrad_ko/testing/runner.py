"""``check_op`` and ``op_tests``: the library's oracle tests, for any op, from any test suite.

``check_op`` draws inputs with hypothesis (so a failure shrinks to a small input) and runs the
checks of ``tinygrad_ko.testing.checks`` on each; ``op_tests`` makes a pytest test class with one
test per check. tests/test_ops_oracle.py runs every registered op through ``check_op``.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from hypothesis import Phase, given
from hypothesis import settings as Settings
from hypothesis import strategies as st

from ..errors import TinygradError, UsageError
from .checks import TITLES, Target, resolve, run_check, select
from .strategies import HypothesisSampler

SHRUNK = " (the smallest failing input hypothesis found)"


def as_args(value: Any) -> tuple[tuple, dict]:
    """What a sample gave, as ``(args, kwargs)``: ``(args, kwargs)`` itself (the registry's form),
    a tuple or list of inputs, or one input."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict) \
            and isinstance(value[0], (tuple, list)):
        return tuple(value[0]), dict(value[1])
    if isinstance(value, (tuple, list)):
        return tuple(value), {}
    return (value,), {}


def inputs_strategy(sample: Any, name: str = "op") -> st.SearchStrategy[tuple[tuple, dict]]:
    """A strategy of ``(args, kwargs)`` from a registry-style sample function (it receives a
    ``Sampler``), a hypothesis strategy, or a list of strategies (one per positional input)."""
    if isinstance(sample, st.SearchStrategy):
        return sample.map(as_args)
    if isinstance(sample, (list, tuple)) and sample and \
            all(isinstance(s, st.SearchStrategy) for s in sample):
        return st.tuples(*sample).map(lambda xs: (tuple(xs), {}))
    if callable(sample):
        return st.composite(lambda draw: as_args(sample(HypothesisSampler(draw))))()
    raise UsageError(f"check_op({name}): sample must be a function of a Sampler (like the "
                     f"registry's unary(), binary()), a hypothesis strategy, or a list of "
                     f"strategies, got {type(sample).__name__}")


def _invalid_cases(invalid: Any) -> list[tuple[Any, type[BaseException]]]:
    """``invalid=`` as a list of (sample, expected error class)."""
    def pair(item: Any) -> tuple[Any, type[BaseException]]:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], type) \
                and issubclass(item[1], BaseException):
            return item
        return item, TinygradError
    if isinstance(invalid, list):
        return [pair(item) for item in invalid]
    return [pair(invalid)]


def _identifier(name: str) -> str:
    """'<lambda>' -> '_lambda_': a name usable as a Python identifier."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "op"


def _settings(user: Settings | None) -> Settings:
    """The active hypothesis profile (a loaded one, ``--hypothesis-profile``, or the user's
    ``settings``). Numerical gradients are slow by design: no deadline. The report names the input
    and the values, so neither hypothesis's reproduce-blob nor its 'explain' phase (lines of the
    library's own code) is added to it. A ``settings`` given to check_op is used as it is."""
    if user is not None:
        return user
    phases = [p for p in Settings.default.phases if p != Phase.explain]
    return Settings(Settings.default, deadline=None, print_blob=False, phases=phases)


def _run(t: Target, check: str, strategy: st.SearchStrategy, conf: Settings,
         expected: type[BaseException] = TinygradError, case: int = 0) -> None:
    __tracebackhide__ = True

    def test(inputs: tuple[tuple, dict]) -> None:
        __tracebackhide__ = True
        args, kwargs = inputs
        run_check(t, check, args, kwargs, expected, source=SHRUNK)

    # hypothesis names the test in its report ("Failing test case: check_Softplus_first_order")
    test.__name__ = test.__qualname__ = f"check_{_identifier(t.name)}_{check}"
    wrapped = conf(given(inputs=strategy)(test))
    # each op and check gets its own entry in hypothesis's example database (and, derandomized,
    # its own random stream): the inner function is the same code for all of them
    wrapped.hypothesis.inner_test._hypothesis_internal_add_digest = \
        f"tinygrad_ko.check_op:{t.name}:{check}:{case}".encode()
    wrapped()


def check_op(op: Any, sample: Any = None, *, checks: Sequence[str] | None = None,
             invalid: Any = None, second_order: bool | None = None, eps: float | None = None,
             atol: float | None = None, rtol: float | None = None,
             settings: Settings | None = None) -> None:
    """Property-test an op as tinygrad_ko tests its own: hypothesis draws many inputs and each
    check of ``CHECKS`` that applies runs on them. A failure raises ``OpCheckError``, whose message
    reports the smallest failing input, the worst element, the two values and the tolerances.

    op: a registered op (its name, ``OpSpec``, ``Function`` class), an unregistered ``Function``
    subclass, or any function of Tensors (a loss, a layer's forward...).
    sample: how to draw valid inputs (needed unless the op is registered): a function of a
    ``Sampler`` returning ``(args, kwargs)`` (the registry's ``unary()``, ``binary()``... or your
    own), a hypothesis strategy of inputs, or a list of strategies, one per input. NumPy float
    arrays are the differentiated inputs; pass a ``Tensor`` to keep an input fixed (targets).
    checks: which checks to run (default: all that apply): 'first_order', 'second_order',
    'float32', 'backward_np', 'errors' (``tinygrad_ko.testing.CHECKS``).
    invalid: inputs that must raise an error: a sample, ``(sample, ErrorClass)``, or a list of
    them (the default class is ``TinygradError``); runs the 'errors' check.
    second_order, eps, atol, rtol: replace the registry entry's values (defaults: True, 1e-6,
    1e-5, 1e-3).
    settings: hypothesis settings; default: the loaded profile (``--hypothesis-profile``,
    ``settings.load_profile``, ``register_profiles()``) without a deadline.
    """
    __tracebackhide__ = True
    t = resolve(op, sample, second_order=second_order, eps=eps, atol=atol, rtol=rtol)
    chosen = select(t, checks, invalid)
    conf = _settings(settings)
    if any(c != "errors" for c in chosen) and t.sample is None:
        raise UsageError(f"check_op({t.name}): no sample to draw its inputs from: pass sample=... "
                         f"(e.g. tinygrad_ko.registry.unary(-3.0, 3.0)) or register the op")
    for check in chosen:
        if check == "errors":
            for case, (bad, expected) in enumerate(_invalid_cases(invalid)):
                _run(t, check, inputs_strategy(bad, t.name), conf, expected, case)
        else:
            _run(t, check, inputs_strategy(t.sample, t.name), conf)


def op_tests(op: Any, sample: Any = None, *, checks: Sequence[str] | None = None,
             invalid: Any = None, second_order: bool | None = None, eps: float | None = None,
             atol: float | None = None, rtol: float | None = None,
             settings: Settings | None = None) -> type:
    """A pytest test class with one test per check (``test_first_order``, ``test_second_order``,
    ``test_float32``...), each running ``check_op`` with these arguments (checked here, at import).

    Assign it to a ``Test...`` name in a test file and pytest collects its tests (``-k``, ``-x``,
    ``--hypothesis-profile`` and the rest apply)::

        TestSoftplus = op_tests(Softplus, sample=unary(-3.0, 3.0))
    """
    t = resolve(op, sample, second_order=second_order, eps=eps, atol=atol, rtol=rtol)
    chosen = select(t, checks, invalid)
    if any(c != "errors" for c in chosen) and t.sample is None:
        raise UsageError(f"op_tests({t.name}): no sample to draw its inputs from: pass sample=...")
    samples = [bad for bad, _ in _invalid_cases(invalid)] if invalid is not None else []
    for s in samples + ([t.sample] if t.sample is not None else []):
        inputs_strategy(s, t.name)      # a wrong kind of sample fails at import, not in every test

    def make(check: str) -> Callable[[Any], None]:
        def test(self: Any) -> None:
            __tracebackhide__ = True
            check_op(t, checks=[check], invalid=invalid, settings=settings)
        test.__name__ = test.__qualname__ = f"test_{check}"
        test.__doc__ = f"{t.name}: {TITLES[check]}."
        return test

    name = "Test" + "".join(p[:1].upper() + p[1:] for p in _identifier(t.name).split("_"))
    cls = type(name, (), {f"test_{c}": make(c) for c in chosen})
    cls.__doc__ = f"tinygrad_ko's oracle tests for {t.name}: {', '.join(chosen)}."
    return cls


__all__ = ["check_op", "op_tests", "inputs_strategy", "as_args"]
