"""Seeing the graph and the backward pass.

- ``to_dot(y, names={W1: "W1"})``: the computation graph behind ``y`` as Graphviz DOT text.
- ``render(y, "graph.png")``: the same as a picture (needs Graphviz's ``dot`` program).
- ``trace_backward(loss, names=...)``: run ``loss.backward()`` and print every step of the chain
  rule: upstream gradient, local derivative, the gradient sent to each input, and the sums that undo
  broadcasting. ``with BackwardTrace(names) as tr: loss.backward()`` does the same, then
  ``print(tr)``.

Draw the graph *before* ``backward()``: backward frees it unless you pass ``retain_graph=True``.
"""
from .dot import GraphvizError, GraphvizNotFoundError, render, to_dot
from .trace import BackwardTrace, Step, summed_axes, trace_backward

__all__ = ["BackwardTrace", "GraphvizError", "GraphvizNotFoundError", "Step", "render",
           "summed_axes", "to_dot", "trace_backward"]
