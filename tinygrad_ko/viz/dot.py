"""Draw the computation graph: ``to_dot`` writes Graphviz's DOT language, ``render`` turns it into
a picture with Graphviz's ``dot`` program (optional: only ``render`` needs it).

Draw the graph *before* ``backward()``: backward frees the graph (unless ``retain_graph=True``), and
a freed graph cannot be drawn.
"""
from __future__ import annotations

import collections
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..errors import GraphError, OpError, TinygradError
from ..function import Function
from ..tensor import Tensor
from ._common import (
    Names,
    NamesArg,
    as_tensors,
    format_array,
    input_labels,
    op_name,
    shape_dtype,
)


class GraphvizError(TinygradError, RuntimeError):
    """Graphviz's ``dot`` program failed to render the graph."""


class GraphvizNotFoundError(GraphvizError):
    """Graphviz's ``dot`` program is not installed (or not on PATH)."""


_INSTALL_HINT = (
    "Install Graphviz (the program, not only the Python package `graphviz`):\n"
    "  Debian/Ubuntu:  sudo apt-get install graphviz\n"
    "  macOS:          brew install graphviz\n"
    "  conda:          conda install -c conda-forge graphviz\n"
    "  Windows:        winget install graphviz  (or https://graphviz.org/download/)\n"
    "Or paste the DOT text into an online viewer such as https://dreampuf.github.io/GraphvizOnline")

# Colours: the legend at the top of every DOT file says what they mean.
_LEAF_GRAD = 'style=filled, fillcolor="lightblue"'
_OUTPUT = 'style=filled, fillcolor="palegreen"'
_CONST = 'style=dashed, color="gray40", fontcolor="gray25"'
_OP = 'shape=box, style="rounded,filled", fillcolor="gray92"'
_FORMATS = ("png", "svg", "pdf")


def _quote(text: str) -> str:
    """A DOT double-quoted string. Backslashes and quotes are escaped, so a user's name such as
    'W"1' or 'a\\b' cannot break the file or turn into a Graphviz escape like \\l."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.replace("\r", "").replace("\n", "\\n") + '"'


def _node(node_id: str, lines: list[str], style: str) -> str:
    """One DOT node statement, ``t3 [label="W1\\n(3, 2) float32", style=...];``, lines as rows."""
    label = _quote("\n".join(lines))
    return f"  {node_id} [label={label}, {style}];" if style else f"  {node_id} [label={label}];"


def to_dot(*tensors: Tensor, names: NamesArg = None, show_data: bool = False,
           rankdir: str = "TB") -> str:
    """The computation graph behind ``tensors`` as Graphviz DOT text.

    Ops are boxes (name, output shape and dtype); tensors are ellipses. Leaves that require grad
    (what ``backward()`` fills ``.grad`` of) are blue, the given outputs green, constants dashed.
    ``names`` labels tensors: ``{W1: "W1"}`` or ``{"W1": W1}``. ``show_data=True`` adds values
    (small arrays in full, large ones summarised); constants with one element always show it.
    ``rankdir="LR"`` draws left to right, like the course's computation graphs.

    Raises ``GraphError`` if ``backward()`` already freed part of the graph: draw before calling
    ``backward()``, or call ``backward(retain_graph=True)``.
    """
    roots = as_tensors(tensors, "to_dot")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise OpError(f"to_dot: rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    book = Names(names)
    root_keys = {Names.key(t) for t in roots}
    tensor_ids: dict[Any, str] = {}  # Names.key(tensor) -> "t3"
    nodes: list[str] = []
    edges: list[str] = []
    op_ids: dict[Function, str] = {}
    todo: collections.deque[Function] = collections.deque()

    def add_tensor(t: Tensor) -> str:
        """The DOT id of t's node; the first time t is seen, add its node (and the op making it)."""
        key = Names.key(t)
        if key in tensor_ids:
            return tensor_ids[key]
        tid = tensor_ids[key] = f"t{len(tensor_ids)}"
        name = book.given(t)
        lines = [shape_dtype(t)] if name is None else [name, shape_dtype(t)]
        if t.grad_fn is None and t.requires_grad:
            lines.append("requires_grad")
            style = _LEAF_GRAD
        elif key in root_keys:
            style = _OUTPUT
        elif t.grad_fn is None:
            style = _CONST
        else:
            style = ""
        if show_data or (t.grad_fn is None and not t.requires_grad and t.numel() == 1):
            lines.append(format_array(t._data, with_shape=False))
        nodes.append(_node(tid, lines, style))
        fn = t.grad_fn
        if fn is not None:
            op_id = op_ids[fn] = f"op{len(op_ids)}"
            nodes.append(_node(op_id, [op_name(fn), shape_dtype(t)], _OP))
            edges.append(f"  {op_id} -> {tid};")
            todo.append(fn)
        return tid

    # Breadth-first from the outputs with an explicit queue (no recursion: 100k-op graphs are
    # fine). Ids are given in the order nodes are found, so the same graph gives the same text.
    for t in roots:
        add_tensor(t)
    while todo:
        fn = todo.popleft()
        if fn._inputs is None:
            raise GraphError(
                f"to_dot: the graph was freed by backward() (the '{op_name(fn)}' op no longer "
                f"knows its inputs), so only part of it could be drawn. Call to_dot before "
                f"backward(), or call backward(retain_graph=True) to keep the graph.")
        labels = input_labels(fn, len(fn._inputs))
        for label, t in zip(labels, fn._inputs):
            tid = add_tensor(t)
            # Edge labels tell a - b from b - a; one-input ops need none.
            edges.append(f"  {tid} -> {op_ids[fn]}" +
                         (f" [label={_quote(label)}];" if len(labels) > 1 else ";"))

    header = [
        "digraph computation_graph {",
        "  // Made by tinygrad_ko.viz.to_dot. Boxes are ops (name, output shape and dtype),",
        "  // ellipses are tensors: blue = leaf that requires grad (backward fills its .grad),",
        "  // green = output, dashed = constant (no gradient). Edges go input -> op -> output.",
        f"  rankdir={rankdir};",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    return "\n".join(header + nodes + edges + ["}"]) + "\n"


def render(tensor_or_dot: Tensor | list[Tensor] | str, path: str | os.PathLike[str],
           format: str | None = None, *, names: NamesArg = None,
           show_data: bool = False, rankdir: str = "TB") -> Path:
    """Write the graph to ``path`` as a picture and return ``path``.

    ``tensor_or_dot`` is a Tensor (or a list of them; drawn with ``to_dot(..., names=names,
    show_data=show_data, rankdir=rankdir)``) or DOT text. The format comes from the extension
    (.png, .svg, .pdf) unless ``format`` is given. The DOT text is always written next to it
    (``graph.png`` -> ``graph.dot``) first, so you keep it even when Graphviz is missing; a path
    ending in .dot writes only that file and needs no Graphviz.

    Raises ``GraphvizNotFoundError`` (a ``RuntimeError``) when the ``dot`` program is not
    installed, with how to install it, and ``GraphvizError`` when ``dot`` fails.
    """
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in _FORMATS + ("dot", "gv"):
        raise OpError(f"render: cannot tell the format from {str(path)!r}; use a path ending in "
                      f".png, .svg, .pdf or .dot, or pass format='png'")
    if isinstance(tensor_or_dot, str):
        text = tensor_or_dot
    else:
        tensors = tensor_or_dot if isinstance(tensor_or_dot, (list, tuple)) else [tensor_or_dot]
        text = to_dot(*tensors, names=names, show_data=show_data, rankdir=rankdir)
    dot_path = path if fmt in ("dot", "gv") else path.with_suffix(".dot")
    dot_path.write_text(text, encoding="utf-8")
    if fmt in ("dot", "gv"):
        return path

    dot = shutil.which("dot")  # looked up at each call, so installing Graphviz needs no restart
    if dot is None:
        raise GraphvizNotFoundError(
            f"render: Graphviz's `dot` program was not found on PATH, so {str(path)!r} cannot be "
            f"made. The DOT text was written to {str(dot_path)!r}.\n{_INSTALL_HINT}")
    result = subprocess.run([dot, f"-T{fmt}", str(dot_path), "-o", str(path)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise GraphvizError(f"render: `dot -T{fmt}` failed (exit code {result.returncode}) on "
                            f"{str(dot_path)!r}:\n{result.stderr.strip()}")
    return path
