"""``Function``: one differentiable op, its forward and backward side by side; and the engine that
runs backward over the graph.

How an op is written (see ``ops/elementwise.py`` for many)::

    class Exp(Function):
        '''exp(x);  d/dx exp(x) = exp(x), so backward reuses the output.'''
        def forward(ctx, x):               # NumPy arrays in, a NumPy array out
            return np.exp(x)
        def backward(ctx, grad):           # Tensors in, one gradient Tensor per input out
            return grad * ctx.output

``Exp.apply(x)`` runs forward on the arrays of the inputs and, when a gradient is needed, records the instance
(``ctx``) as the output's ``grad_fn``: the node of the graph. Backward is written with Tensor ops, so
with ``create_graph=True`` the backward pass is itself recorded and can be differentiated again.

Design notes (why, not what):
- The engine walks the graph with a heap ordered by *generation* (DeZero): a node runs only after every
  node that uses its output, so each gradient is complete before it flows on. No recursion, so a
  chain of 100,000 ops is fine.
- A node holds its inputs strongly and never its output Tensor (only the output's array), so the graph
  has no reference cycles: it is freed by reference counting as soon as the last Tensor goes.
- Gradients of broadcast inputs are summed back to the input's shape here, once, for every op.
- Each input's version counter is recorded at forward; ``ctx.inputs`` checks it at backward, so an
  in-place change to a saved tensor raises instead of giving a wrong gradient.
"""
from __future__ import annotations

from heapq import heappop, heappush
import itertools
import os
import sys
from typing import Any, ClassVar, Sequence

import numpy as np

from .device import _self as _device
from .errors import (AnomalyError, AxisError, DeviceError, DTypeError, GraphError,
                     IndexOutOfRangeError, OpError, ShapeError, TinygradError, UsageError)
from .grad_mode import STATE, quiet_enter, quiet_exit
from .tensor import Tensor

_FREED = ("the graph behind this tensor was already freed by an earlier backward(); "
          "pass retain_graph=True to the first backward() if you need to backward through it twice")


class Function:
    """Base class of every differentiable op. See the module docstring."""

    name: ClassVar[str] = "function"  # the op's public name, set by ``registry.register``
    spec: ClassVar[Any] = None         # the registry entry, set by ``registry.register``

    generation: int = 0
    needs_input_grad: tuple[bool, ...] = ()
    _inputs: tuple[Tensor, ...] | None = None
    _out: np.ndarray            # the forward output (recorded nodes only)
    _retain: Any = None  # weakref to a non-leaf output that called retain_grad()
    _trace: str = ""     # where user code created this node (recorded inside detect_anomaly)

    # -- what subclasses write -------------------------------------------------------------------
    def forward(ctx, *args: Any, **params: Any) -> np.ndarray:
        """The op on NumPy arrays (one per input Tensor), returning the output array."""
        raise NotImplementedError

    def backward(ctx, grad: Tensor) -> Tensor | None | tuple[Tensor | None, ...]:
        """Given d(loss)/d(output), return d(loss)/d(input) for each input (None where not needed),
        written with Tensor ops so that create_graph=True can differentiate it again."""
        raise NotImplementedError

    # Optional, for speed: the same backward on NumPy arrays. When a graph of the backward pass is
    # not needed (create_graph=False, the usual case), the engine calls it instead of ``backward``
    # and skips building Tensors for every intermediate. ``backward`` stays the reference (it is
    # what create_graph=True differentiates), and tests/test_ops_oracle.py checks both agree.
    backward_np: Any = None

    # -- what backward reads ---------------------------------------------------------------------
    @property
    def inputs(ctx) -> tuple[Tensor, ...]:
        """The input Tensors, checked not to have been modified in place since forward."""
        inputs = ctx._inputs
        if inputs is None:
            raise GraphError(f"{ctx.name}: {_FREED}")
        for t, v in zip(inputs, ctx._versions):
            if t._version[0] != v:
                i = next(k for k, u in enumerate(inputs) if u is t)
                raise GraphError(
                    f"{ctx.name}: input {i} (shape {t.shape}) was modified in place after it was "
                    f"used (version {v} -> {t._version[0]}), so its gradient would be wrong. Change "
                    f"a copy (t.clone()) or call backward() before the in-place change.")
        return inputs

    @property
    def output(ctx) -> Tensor:
        """The op's output as a Tensor of this graph, for derivatives that reuse it (exp, tanh...)."""
        if ctx._inputs is None:
            raise GraphError(f"{ctx.name}: {_FREED}")
        if ctx._out_version[0] != ctx._out_version_at:
            raise GraphError(f"{ctx.name}: its output (shape {ctx._out.shape}) was modified in place "
                             f"after it was computed, so the gradient would be wrong")
        return Tensor._wrap(ctx._out, True, ctx, ctx._out_version)

    def save_for_backward(ctx, *values: Any) -> None:
        """Keep values computed in forward (masks, indices...) for backward."""
        ctx._saved = values

    @property
    def saved_tensors(ctx) -> tuple[Any, ...]:
        """The values given to save_for_backward() in forward."""
        if ctx._inputs is None:
            raise GraphError(f"{ctx.name}: {_FREED}")
        return ctx._saved

    # -- running an op ---------------------------------------------------------------------------
    @classmethod
    def apply(cls, *inputs: Tensor, **params: Any) -> Tensor:
        """Run forward on the inputs' arrays; record the node when a gradient will be needed."""
        ctx = object.__new__(cls)
        try:
            args = [t._data for t in inputs]
        except AttributeError as e:
            raise _op_error(cls.name, inputs, e) from None
        if len(args) > 1:   # inputs on two devices: only possible when the array types differ
            t0 = type(args[0])
            for a in args:
                if type(a) is not t0:
                    _check_same_device(cls.name, inputs)
                    break
        token = quiet_enter()   # overflow gives a quiet inf (grad_mode.quiet_floats)
        try:
            out = ctx.forward(*args, **params)
        except TinygradError:
            raise
        except (ValueError, IndexError, TypeError, AttributeError) as e:
            raise _op_error(cls.name, inputs, e) from None
        finally:
            quiet_exit(token)
        if type(out) is not np.ndarray and not isinstance(out, _device.GPU_TYPES):
            out = np.asarray(out)   # a NumPy scalar (what NumPy's reductions return)
        if STATE.anomaly:
            _check_finite(cls.name, out, "forward output", STATE.backward_of or _user_frame())
        # a view of the input (reshape, transpose, basic slicing...) shares its memory, so it
        # shares its version counter: an in-place change through either is seen by both
        version = None
        if out.base is not None and inputs and type(out) is type(args[0]) \
                and np.may_share_memory(out, args[0]):
            version = inputs[0]._version
        needs = tuple([t._requires_grad for t in inputs])
        if True not in needs or not STATE.grad_enabled:
            return Tensor._wrap(out, False, None, version)
        ctx._inputs = inputs
        ctx._versions = tuple([t._version[0] for t in inputs])
        ctx.needs_input_grad = needs
        gen = 0
        for t in inputs:
            f = t.grad_fn
            if f is not None and f.generation > gen:
                gen = f.generation
        ctx.generation = gen + 1
        ctx._out = out
        result = Tensor._wrap(out, True, ctx, version)
        ctx._out_version = v = result._version
        ctx._out_version_at = v[0]
        if STATE.anomaly:
            ctx._trace = _user_frame()
        return result

    def _release(ctx) -> None:
        """Drop everything backward needed (inputs, output, saved values): the graph is freed."""
        gen = ctx.generation
        ctx.__dict__.clear()
        ctx.generation = gen

    def __repr__(ctx) -> str:
        return f"<{type(ctx).__name__}>"


def const(value: Any, dtype: Any = None) -> Tensor:
    """A Tensor that is a constant of the graph (never requires grad): masks, scales... A GPU
    array stays on its device (cast to ``dtype`` there)."""
    if _device.GPU_TYPES and isinstance(value, _device.GPU_TYPES):
        return Tensor._wrap(value if dtype is None or value.dtype == dtype else value.astype(dtype))
    return Tensor._wrap(np.asarray(value, dtype=dtype))


class _ToDevice(Function):
    """A copy of x on another device (``Tensor.to(device)``);  d/dx = 1: the gradient is copied
    back to x's device."""
    name = "to"

    def forward(ctx, x: Any, device: Any) -> Any:
        ctx.source = _device.device_of(x)
        return _device.to_device(x, device)

    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.to(ctx.source)

    def backward_np(ctx, grad: Any) -> Any:
        return _device.to_device(grad, ctx.source)


# -- errors ----------------------------------------------------------------------------------------
def _check_same_device(name: str, inputs: Sequence[Tensor]) -> None:
    """DeviceError if the inputs of op ``name`` are not all on one device (PyTorch's rule)."""
    devices = [_device.device_of(t._data) for t in inputs]
    if any(d != devices[0] for d in devices):
        seen = ", ".join(f"input {i} on {d}" for i, d in enumerate(devices))
        raise DeviceError(f"{name}: expected all tensors to be on the same device, got {seen}; "
                          f"move them with .to(device) first")


def _op_error(name: str, inputs: Sequence[Any], e: Exception) -> TinygradError:
    """Turn a NumPy error from inside an op into ours, naming the op and the input shapes."""
    shapes = ", ".join(str(getattr(t, "shape", type(t).__name__)) for t in inputs)
    msg = f"{name}: {e} (input shapes: {shapes})"
    if isinstance(e, AttributeError):
        return UsageError(f"{name}: expected Tensors, got {shapes} ({e})")
    if isinstance(e, np.exceptions.AxisError):
        return AxisError(msg)
    if isinstance(e, IndexError):
        return IndexOutOfRangeError(msg)
    if isinstance(e, TypeError):
        return DTypeError(msg)
    return ShapeError(msg) if ("shape" in str(e) or "broadcast" in str(e)) else OpError(msg)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _user_frame() -> str:
    """'file:line: code' of the innermost frame outside tinygrad_ko: where the user called the op."""
    import linecache
    f = sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PACKAGE_DIR):
        f = f.f_back
    if f is None:
        return "<unknown>"
    code = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    return f"{f.f_code.co_filename}:{f.f_lineno}: {code}"


def _check_finite(name: str, arr: np.ndarray, what: str, where: str) -> None:
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        kind = "nan" if np.isnan(arr).any() else "inf"
        raise AnomalyError(f"{name} produced {kind} in its {what} (shape {arr.shape}); "
                           f"the op was created at {where}")


# -- the backward engine ---------------------------------------------------------------------------
# Gradients flow through the engine as NumPy arrays, or, with create_graph=True, as Tensors (so the
# backward pass is recorded). The two share everything the engine needs: .shape, .dtype, .astype
# and +; only summing a broadcast gradient back differs (``_sum_to``).

def _sum_to(g: Any, shape: tuple[int, ...]) -> Any:
    if isinstance(g, Tensor):
        return g.sum_to(shape)
    from .ops.shape import sum_to
    return sum_to(g, shape)


def _grad_tensor(g: Any) -> Any:
    """A gradient as a Tensor (arrays are wrapped; Tensors and None pass through)."""
    if g is None or isinstance(g, Tensor):
        return g
    return Tensor._wrap(_device.ensure_array(g))   # never a NumPy scalar; a GPU array stays


def run_backward(roots: Sequence[Tensor], root_grads: Sequence[Tensor | None],
                 retain_graph: bool | None = None, create_graph: bool = False,
                 inputs: Sequence[Tensor] | None = None) -> list[Tensor | None] | None:
    """Backpropagate ``root_grads`` from ``roots`` through the graph.

    With ``inputs=None`` gradients accumulate into the ``.grad`` of leaves (``Tensor.backward``);
    otherwise the gradients of ``inputs`` are returned and no ``.grad`` is touched (``grad()``).
    """
    if retain_graph is None:
        retain_graph = create_graph
    captured: dict[int, Any] = {}       # position in ``inputs`` -> its gradient, for grad()
    leaf_slot: dict[int, int] = {}      # id(leaf) -> its position in ``inputs``
    node_slot: dict[Function, int] = {}  # node -> position of the non-leaf input it made
    if inputs is not None:
        for i, t in enumerate(inputs):
            if not t._requires_grad:
                raise GraphError(f"grad: input {i} (shape {t.shape}) does not require grad")
            if t.grad_fn is None:
                leaf_slot[id(t)] = i
            else:
                node_slot[t.grad_fn] = i

    heap: list[tuple[int, int, Function]] = []  # (-generation, push order, node): latest first
    order = itertools.count()
    pending: dict[Function, Any] = {}           # node -> gradient of its output, summed so far
    handed_out: set[int] = set()                # ids of arrays stored as .grad: never share one
    anomaly, tracer = STATE.anomaly, STATE.tracer

    prev_mode = STATE.grad_enabled
    STATE.grad_enabled = create_graph           # record the backward pass only if asked
    token = quiet_enter()
    try:
        for root, g in zip(roots, root_grads):
            if not root._requires_grad:
                raise GraphError(f"backward: a tensor of shape {root.shape} does not require grad "
                                 f"and has no grad_fn; did you forget requires_grad=True?")
            g = _root_gradient(root, g, create_graph)
            node = root.grad_fn
            if node is None:
                if inputs is None:
                    _accumulate_grad(root, g, create_graph, handed_out)
                elif id(root) in leaf_slot:   # the same leaf may be several of the roots
                    _add_into(captured, leaf_slot[id(root)], g)
            elif _add_into(pending, node, g):
                heappush(heap, (-node.generation, next(order), node))

        while heap:
            node = heappop(heap)[2]
            g = pending.pop(node)
            node_inputs = node._inputs
            if node_inputs is None:
                raise GraphError(f"backward through {node.name}: {_FREED}")
            if node_slot and node in node_slot:
                captured[node_slot[node]] = g
            if node._retain is not None and inputs is None:
                t = node._retain()
                if t is not None:
                    _accumulate_grad(t, g, create_graph, handed_out)
            if anomaly:
                STATE.backward_of = (f"the backward of {node.name}, whose forward was called at "
                                     f"{node._trace or '<unknown>'}")
            if create_graph or node.backward_np is None:
                in_grads = _tensor_backward(node, g, create_graph)
            else:   # the usual case: arrays in, arrays out
                in_grads = node.backward_np(g)
                if type(in_grads) is not tuple:
                    in_grads = (in_grads,)
            final: list[Any] = []   # each input's gradient as sent on (for the tracer)
            for t, ig, need in zip(node_inputs, in_grads, node.needs_input_grad):
                if ig is None or not need:
                    if tracer is not None:
                        final.append(None)
                    continue
                data = t._data
                if ig.shape != data.shape:  # the input was broadcast in forward: sum it back
                    ig = _sum_to(ig, data.shape)
                if ig.dtype != data.dtype:  # mixed precision: a gradient has its input's dtype
                    ig = ig.astype(data.dtype)
                if anomaly:
                    _check_finite(node.name, _device.ensure_array(ig._data if create_graph else ig),
                                  "backward gradient", node._trace or "<unknown>")
                if tracer is not None:
                    final.append(ig)
                f = t.grad_fn
                if f is None:                 # a leaf: into .grad (or into grad()'s answer)
                    if inputs is None:
                        _accumulate_grad(t, ig, create_graph, handed_out)
                    elif id(t) in leaf_slot:
                        _add_into(captured, leaf_slot[id(t)], ig)
                elif _add_into(pending, f, ig):   # a node used several times: gradients add up
                    heappush(heap, (-f.generation, next(order), f))
            if tracer is not None:
                tracer.step(node, _grad_tensor(g), tuple(map(_grad_tensor, in_grads)),
                            [_grad_tensor(x) for x in final])
            if not retain_graph:  # done with this node: free its inputs, output and saved arrays
                node._release()
    finally:
        STATE.grad_enabled = prev_mode
        STATE.backward_of = ""
        quiet_exit(token)

    if inputs is None:
        return None
    return [_grad_tensor(captured.get(i)) for i in range(len(inputs))]


def _add_into(store: dict[Any, Any], key: Any, g: Any) -> bool:
    """store[key] += g (just g the first time); True the first time, so the caller can schedule
    the node once."""
    old = store.get(key)
    store[key] = g if old is None else old + g
    return old is None


def _tensor_backward(node: Function, g: Any, create_graph: bool) -> tuple[Any, ...]:
    """Run one node's Tensor ``backward`` on g: recorded (create_graph), or for an op without
    ``backward_np`` on arrays in and out. A tuple, one gradient (or None) per input."""
    if create_graph:
        out = node.backward(g)
        return out if type(out) is tuple else (out,)
    out = node.backward(Tensor._wrap(g))
    if type(out) is tuple:
        return tuple([o._data if o is not None else None for o in out])
    return (out._data if out is not None else None,)


def _root_gradient(root: Tensor, g: Any, create_graph: bool) -> Any:
    """The gradient backward starts from: ones for a scalar, else the given one, checked."""
    if g is None:
        if root._data.size != 1:
            raise GraphError(
                f"backward: the output has shape {root.shape}, so the gradient is only defined for a "
                f"scalar. Reduce it first (y.sum().backward()) or pass gradient= a tensor of shape "
                f"{root.shape} (y.backward(gradient=tg.ones_like(y))).")
        data = root._data
        if type(data) is np.ndarray:
            g = np.array(1, dtype=data.dtype).reshape(data.shape)  # np.ones: 3x slower
        else:       # on the GPU: a fill kernel, no host-to-device copy
            g = _device.array_module(data).ones(data.shape, dtype=data.dtype)
        return Tensor._wrap(g) if create_graph else g
    if not isinstance(g, Tensor):
        try:
            g = Tensor(g, dtype=root.dtype)
        except TinygradError as e:
            raise DTypeError(f"backward: gradient must be numbers of shape {root.shape}: {e}") from None
    if g.shape != root.shape:
        raise ShapeError(f"backward: gradient has shape {g.shape} but the output has shape "
                         f"{root.shape}; they must match")
    if type(g._data) is not type(root._data) and g.device != root.device:
        raise DeviceError(f"backward: the gradient is on {g.device} but the output is on "
                          f"{root.device}; move it with .to({str(root.device)!r})")
    if g.dtype != root.dtype:
        g = g.astype(root.dtype)
    return g if create_graph else g._data


def _accumulate_grad(t: Tensor, g: Any, create_graph: bool, handed_out: set[int]) -> None:
    """t.grad += g, as PyTorch: gradients accumulate across backward() calls."""
    # the engine writes the ``_grad`` slot directly: the ``grad`` property's setter checks what
    # users assign, and a gradient made here has the right shape and dtype already
    old = t._grad
    if create_graph:  # g is a Tensor with a graph, kept for higher-order derivatives
        t._grad = g if old is None else old + g
        return
    if old is None:
        # Never let two .grad share memory (a + b hands both the same array), nor be a read-only
        # broadcast view: in-place edits of one grad (clipping, zero_) must not reach another.
        if g.base is not None or id(g) in handed_out or not _device.writable(g):
            g = g.copy()
    else:
        g = old._data + g
    if isinstance(g, np.generic):   # NumPy makes 0-d results scalars (np.float64): a .grad is
        g = np.asarray(g)           # always an array, of the parameter's dtype
    handed_out.add(id(g))
    t._grad = Tensor._wrap(g)
