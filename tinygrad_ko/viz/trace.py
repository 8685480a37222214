"""Watch backward work, one op at a time: ``trace_backward(loss)`` runs ``loss.backward()`` and
prints, for every node in the order the engine visits it, the upstream gradient, the op's local
derivative, the gradient sent to each input, and every sum that undoes a broadcast.

The engine calls ``STATE.tracer.step(node, grad, raw_in_grads, final_in_grads)`` once per node
(see ``run_backward``); ``BackwardTrace`` is such a tracer.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TextIO

import numpy as np

from ..function import Function
from ..grad_mode import STATE
from ..tensor import Tensor
from ._common import Names, NamesArg, format_array, input_labels, local_rule, op_name

_LABEL = 17  # width of the label column ("upstream", "local derivative", ...)


@dataclass
class Step:
    """One node of the backward pass, as data (``BackwardTrace.steps``), for tests and notebooks."""
    number: int
    op: str                       # 'mul'
    output: str                   # the name of the op's output: 'J'
    inputs: list[str]             # names of the op's inputs: ['3', 'v']
    upstream: np.ndarray          # d(root)/d(output)
    input_grads: list[np.ndarray | None]   # d(root)/d(input), None where none is needed
    reductions: list[str] = field(default_factory=list)  # 'sum over axis 0: (4, 3) -> (3,)'


def summed_axes(raw: Sequence[int], final: Sequence[int]) -> tuple[int, ...]:
    """The axes of a gradient of shape ``raw`` that were summed to give shape ``final``: the extra
    leading axes, plus the axes where the input had size 1 (what ``sum_to`` does)."""
    lead = len(raw) - len(final)
    return tuple(range(lead)) + tuple(lead + i for i, n in enumerate(final)
                                      if n == 1 and raw[lead + i] != 1)


def _reduction_text(raw: np.ndarray, final: np.ndarray) -> str | None:
    parts = []
    if raw.shape != final.shape:
        axes = summed_axes(raw.shape, final.shape)
        word = "axis" if len(axes) == 1 else "axes"
        parts.append(f"sum over {word} {', '.join(map(str, axes))}: {raw.shape} -> {final.shape}")
    if raw.dtype != final.dtype:
        parts.append(f"cast {raw.dtype} -> {final.dtype}")
    return "; ".join(parts) or None


# In an op's docstring rule: "d/d<name>" (group dv) or a name standing alone (group id). A name
# may be followed by "_" (z_i), and is not the tail of a longer word (the x of "dx", the e of 1e-12).
_RULE_TOKEN = re.compile(r"d/d(?P<dv>[A-Za-z_]\w*?)(?=_|\b)|(?<![\w.])(?P<id>[A-Za-z_]\w*?)(?=_|\b)")


def local_rule_for(rule: str, params: Sequence[str], labels: Sequence[str], out: str) -> str:
    """The op's rule written with this step's names, so the op's own argument names (mul's a, b)
    never meet the user's: mul(b, c) -> 'd/da = b, d/db = a' becomes 'du/db = c, du/dc = b'.
    A rule that does not speak of d/d<argument> (matmul's dA = dC @ B^T) is left as written."""
    names = dict(zip(params, labels))
    if not names or not any(m["dv"] in names for m in _RULE_TOKEN.finditer(rule) if m["dv"]):
        return rule

    def value(label: str) -> str:  # a negative constant inside a formula: 1/(-2), not 1/-2
        return f"({label})" if label.startswith("-") or " " in label else label

    def swap(m: re.Match[str]) -> str:
        if m["dv"] is not None:
            return f"d{out}/d{names[m['dv']]}" if m["dv"] in names else m[0]
        return value(names[m["id"]]) if m["id"] in names else m[0]
    return _RULE_TOKEN.sub(swap, rule)


def _indent(head: str, text: str) -> str:
    """head + text, the next lines of text (rows of a 2-D array) shifted to stay under it."""
    return head + text.replace("\n", "\n" + " " * len(head))


class BackwardTrace:
    """A tracer: every ``backward()`` run inside ``with BackwardTrace(...) as tr:`` is recorded;
    ``print(tr)`` shows it, ``tr.steps`` holds it as data.

    >>> with BackwardTrace({"J": J, "a": a}) as tr:   # doctest: +SKIP
    ...     J.backward()
    >>> print(tr)                                      # doctest: +SKIP

    ``names`` maps tensors to names (``{W1: "W1"}`` or ``{"W1": W1}``); other tensors are called
    t0, t1, ... and one-element constants by their value. Arrays with at most ``max_elements``
    elements are shown in full, larger ones summarised. The output of the first op visited (the
    tensor ``backward()`` was called on) is called ``root_name`` unless you named it. Use one
    ``backward()`` per trace: the steps of a second one would continue the same numbering.
    """

    def __init__(self, names: NamesArg = None, max_elements: int = 20,
                 root_name: str = "loss") -> None:
        self.names = Names(names)
        self.max_elements = max_elements
        self.root_name = root_name
        self.steps: list[Step] = []
        self._lines: list[str] = []
        self._root = ""
        self._incoming: dict[Function, int] = {}  # node -> how many gradients were sent to it
        self._leaves: dict[int, tuple[Tensor, np.ndarray]] = {}  # id -> (leaf, its total grad)
        self._prev: list[Any] = []
        self._error = ""

    # -- the context manager: install the tracer, and always put the previous one back ----------
    def __enter__(self) -> BackwardTrace:
        self._prev.append(STATE.tracer)
        STATE.tracer = self
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        STATE.tracer = self._prev.pop()
        if exc is not None:
            self._error = f"backward stopped by {type(exc).__name__}: {exc}"

    # -- called by the engine ----------------------------------------------------------------------
    def step(self, node: Function, grad: Tensor, raw: Sequence[Tensor | None],
             final: Sequence[Tensor | None]) -> None:
        """Record one node: called by ``run_backward`` after the node's backward ran."""
        inputs = node._inputs or ()
        value = node._out  # type: ignore[attr-defined]  # the forward result, set by apply()
        name = op_name(node)
        if not self.steps:  # the first node visited made the tensor backward() started from
            self.names.set_default(node, self.root_name)
        out = self.names.output_name(node)
        if not self.steps:
            self._root = out
            self._lines += [self._eq(f"Backward pass from {out}", value),
                            self._eq(f"d{out}/d{out}", grad._data, lead="  starting from "), ""]
        in_names = [self._tensor_text(t) for t in inputs]
        args = ", ".join(in_names)
        number = len(self.steps) + 1
        shapes = ", ".join(f"{n} {t.shape}" for n, t in zip(in_names, inputs))
        n_in = self._incoming.pop(node, 0)
        note = f"   (the sum of the {n_in} gradients sent to {out})" if n_in > 1 else ""
        lines = [f"step {number}: {out} = {name}({args})",
                 self._row("shapes", f"{shapes} -> {out} {grad.shape}"),
                 self._row("value", self._eq(out, value)),
                 self._row("upstream", self._eq(f"d{self._root}/d{out}", grad._data) + note),
                 self._row("local derivative",
                           local_rule_for(local_rule(node), input_labels(node, len(inputs)),
                                          in_names, out))]

        step = Step(number, name, out, in_names, grad._data.copy(), [])
        for t, t_name, r, f in zip(inputs, in_names, raw, final):
            if f is None:
                why = "it is a constant" if not t.requires_grad else "the op returned none"
                lines.append(self._row(f"to {t_name}", f"no gradient ({why})"))
                step.input_grads.append(None)
                continue
            g = f._data.copy()  # a copy: .grad may later be changed in place (zero_, optimizers)
            step.input_grads.append(g)
            value = self._eq(f"d{self._root}/d{t_name}", g)
            red = _reduction_text(r._data, g) if r is not None else None
            if r is None or red is None:
                lines.append(self._row(f"to {t_name}", value))
            else:  # the input was broadcast in forward, so its gradient is summed back
                step.reductions.append(red)
                why = f"   ({t_name} was broadcast in forward)" if r.shape != g.shape else ""
                lines.append(self._row(f"to {t_name}", red + why))
                lines.append(self._row("", value))
            if t.grad_fn is not None:
                self._incoming[t.grad_fn] = self._incoming.get(t.grad_fn, 0) + 1
            elif id(t) in self._leaves:  # a leaf used twice: its gradients add up
                self._leaves[id(t)] = (t, self._leaves[id(t)][1] + g)
            else:
                self._leaves[id(t)] = (t, g)
        self.steps.append(step)
        self._lines += lines + [""]

    # -- text ---------------------------------------------------------------------------------------
    def _fmt(self, arr: np.ndarray) -> str:
        return format_array(arr, self.max_elements)

    def _eq(self, lhs: str, arr: np.ndarray, lead: str = "") -> str:
        """'lead lhs = array', the rows of a 2-D array aligned under its first row."""
        head = f"{lead}{lhs} = "
        return head + format_array(arr, self.max_elements, prefix=head)

    def _tensor_text(self, t: Tensor) -> str:
        """A tensor's name; an unnamed one-element constant is shown by its value (the 3 of 3*v)."""
        if (self.names.given(t) is None and t.grad_fn is None and not t.requires_grad
                and t.numel() == 1):
            return self._fmt(t._data)
        return self.names.name(t)

    @staticmethod
    def _row(label: str, text: str) -> str:
        """'    label        text': the label in a column of its own."""
        return _indent(f"    {label:<{_LABEL}} ", text)

    def __str__(self) -> str:
        if not self.steps:
            body = [("no op was visited: backward() was called on a leaf tensor (its .grad is then "
                     "just the starting gradient), or not called at all")]
        else:
            body = list(self._lines)
            if self._leaves:
                body.append("gradients of the leaves (added to their .grad):")
                for t, g in self._leaves.values():
                    body.append(_indent("    ", self._eq(f"d{self._root}/d{self.names.name(t)}", g)))
        if self._error:
            body += ["", self._error]
        return "\n".join(body).rstrip() + "\n"

    def __repr__(self) -> str:
        return f"<BackwardTrace: {len(self.steps)} steps>"


def trace_backward(loss: Tensor, names: NamesArg = None, gradient: Any = None,
                   retain_graph: bool = False, file: TextIO | None = None,
                   max_elements: int = 20) -> str:
    """Run ``loss.backward(gradient, retain_graph)``, printing each step of the chain rule; return
    the same text. ``names`` maps tensors to names (``{W1: "W1"}`` or ``{"W1": W1}``); ``file``
    defaults to standard output. If backward raises, the steps so far are printed, then the error
    propagates.

    >>> a, b = tg.tensor(5.0, requires_grad=True), tg.tensor(3.0, requires_grad=True)  # doctest: +SKIP
    >>> trace_backward(a * b, names=dict(a=a, b=b))                                   # doctest: +SKIP
    """
    trace = BackwardTrace(names, max_elements=max_elements)
    try:
        with trace:
            loss.backward(gradient, retain_graph)
    finally:  # print what was traced even when backward fails: it shows where it failed
        text = str(trace)
        print(text, end="", file=file if file is not None else sys.stdout)
    return text
