"""``Tensor``: a NumPy array that remembers how it was computed, so ``backward()`` can apply the
chain rule. Names and behaviour follow PyTorch; reductions also take NumPy's ``axis``/``keepdims``.

The ops themselves live in ``tinygrad_ko/ops/`` (one class each, forward and backward side by side);
the methods here are thin doors into them.
"""
from __future__ import annotations

import math
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np

from .device import _self as _device
from .device import device, resolve
from .errors import (AxisError, DTypeError, GraphError, OpError, ShapeError, TinygradError,
                     UsageError)
from .grad_mode import STATE, quiet_floats

DEFAULT_FLOAT = np.dtype(np.float32)


class Size(tuple):
    """A shape, as ``torch.Size``: a tuple of ints (equal to the plain tuple of the same sizes,
    both ways), printed ``Size([2, 3])``; ``t.size()`` returns one."""
    __slots__ = ()

    def __new__(cls, sizes: Sequence[int] = ()) -> "Size":
        try:
            return super().__new__(cls, [int(s) for s in sizes])
        except (TypeError, ValueError):
            raise UsageError(f"Size: sizes must be integers, got {sizes!r}") from None

    def numel(self) -> int:
        """The number of elements of a tensor of this shape (the product of the sizes)."""
        return math.prod(self)

    def __getitem__(self, key: Any) -> Any:
        out = tuple.__getitem__(self, key)
        return Size(out) if isinstance(key, slice) else out

    def __repr__(self) -> str:
        return f"Size({list(self)})"


class _Size(int):
    """``t.size`` is NumPy's element count *and* PyTorch's ``t.size()`` / ``t.size(dim)``."""
    _shape: tuple[int, ...]

    def __new__(cls, shape: tuple[int, ...]) -> "_Size":
        obj = super().__new__(cls, math.prod(shape))
        obj._shape = shape
        return obj

    def __call__(self, dim: int | None = None) -> Any:
        if dim is None:
            return Size(self._shape)
        n = len(self._shape)
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -n <= dim < max(n, 1):
            raise AxisError(f"size: dim {dim!r} is out of range for a tensor with {n} dims")
        return self._shape[dim] if n else 1


class ValuesIndices(NamedTuple):
    """What ``max(dim)`` / ``min(dim)`` return: the values and the indices where they are (as
    ``torch.return_types.max``); unpack it, ``values, indices = x.max(1)``, or use the fields."""
    values: "Tensor"
    indices: "Tensor"


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Python numbers and lists of floats become float32; NumPy arrays keep their dtype."""
    if isinstance(data, Tensor):
        arr = data._data
    elif isinstance(data, np.ndarray) or _device.is_gpu_array(data):
        arr = data
    elif isinstance(data, np.generic):
        arr = np.asarray(data)
    else:
        if isinstance(data, ValuesIndices):     # z - z.max(1): PyTorch raises too, never mixes them
            raise UsageError("Tensor: got the (values, indices) pair that max(dim)/min(dim) return; "
                             "use its .values, or max(axis=...) for the values only")
        try:
            arr = np.asarray(data)
        except ValueError as e:
            raise ShapeError(f"Tensor: cannot make a tensor from {type(data).__name__}: {e}") from None
        if arr.dtype == np.float64 and dtype is None:   # a dtype given: no detour through float32
            with quiet_floats():     # 1e300 becomes inf, as torch.tensor([1e300])
                arr = arr.astype(DEFAULT_FLOAT)
    if arr.dtype.kind not in "biuf" and not (arr.dtype.kind == "U" and dtype is not None):
        raise DTypeError(f"Tensor: unsupported dtype {arr.dtype} (from {type(data).__name__}); "
                         f"use numbers, nested lists of numbers or numeric arrays")
    if dtype is not None:
        dt = _numeric_dtype(dtype, "Tensor")
        try:
            with quiet_floats():
                arr = arr.astype(dt, copy=False)
        except (ValueError, TypeError) as e:
            raise DTypeError(f"Tensor: cannot convert {arr.dtype} data to {dt}: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise DTypeError(f"Tensor: unsupported dtype {arr.dtype} (from {type(data).__name__}); "
                         f"use numbers, nested lists of numbers or numeric arrays")
    return arr


def _check_can_require_grad(dtype: np.dtype, where: str) -> None:
    if dtype.kind != "f":
        raise DTypeError(f"{where}: only floating-point tensors can require gradients, this one is "
                         f"{dtype}; make it with dtype=float32 (or float64)")


class Tensor:
    """An n-dimensional array with automatic differentiation.

    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    Tensor([2., 4., 6.], dtype=float32)
    """
    __slots__ = ("_data", "_requires_grad", "_grad", "grad_fn", "_version", "__weakref__")
    __array_ufunc__ = None        # ndarray + Tensor calls Tensor.__radd__ instead of looping
    __hash__ = object.__hash__    # __eq__ is elementwise, but tensors stay usable as dict keys

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 device: Any = None) -> None:
        arr = _to_array(data, dtype)
        if device is not None:
            arr = _device.to_device(arr, resolve(device, "Tensor"))
        self._data = arr
        if requires_grad:
            _check_can_require_grad(self._data.dtype, "Tensor")
        self._requires_grad = bool(requires_grad)
        self._grad: Tensor | None = None
        self.grad_fn: Any = None
        self._version = [0]

    @classmethod
    def _wrap(cls, data: np.ndarray, requires_grad: bool = False, grad_fn: Any = None,
              version: list[int] | None = None) -> "Tensor":
        """Fast constructor for arrays the library made itself (no conversion, no checks)."""
        t = object.__new__(cls)
        t._data = data
        t._requires_grad = requires_grad
        t._grad = None
        t.grad_fn = grad_fn
        t._version = [0] if version is None else version
        return t

    # -- data and metadata ------------------------------------------------------------------------
    @property
    def data(self) -> "Tensor":
        """This tensor's values as a Tensor outside autograd, sharing memory (PyTorch's ``.data``):
        no grad_fn, ``requires_grad`` False and its own version counter, so in-place changes
        through it (``p.data -= lr * p.grad``, ``w.data.normal_(0, 0.02)``) are not seen by the
        graph. ``.numpy()`` gives the NumPy array. Assigning a Tensor (or an array) replaces the
        values, shape and dtype included."""
        if not _device.writable(self._data):  # a read-only view: give both a writable copy, so
            self._data = self._data.copy()    # in-place changes through .data reach this tensor
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value: Any) -> None:
        arr = value._data if isinstance(value, Tensor) else (
            value if _device.is_gpu_array(value) else np.asarray(value))
        if arr.dtype.kind not in "biuf":
            raise DTypeError(f"data: cannot store an array of dtype {arr.dtype} (numbers only)")
        if self._requires_grad and arr.dtype.kind != "f":
            raise DTypeError(f"data: this tensor requires grad, so its data must be floating point, "
                             f"got {arr.dtype}")
        self._data = arr
        self._version[0] += 1

    @property
    def grad(self) -> "Tensor | None":
        """The gradient accumulated by ``backward()`` (None before); a Tensor of this tensor's
        shape and dtype. Assigning anything else than such a Tensor or None raises."""
        return self._grad

    @grad.setter
    def grad(self, value: "Tensor | None") -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise UsageError(f"grad: a gradient must be a Tensor (or None), got "
                                 f"{type(value).__name__}; e.g. p.grad = tg.zeros_like(p)")
            if value._data.shape != self._data.shape:
                raise ShapeError(f"grad: the gradient has shape {value.shape} but the tensor has "
                                 f"shape {self.shape}; they must match")
            if value._data.dtype != self._data.dtype:
                raise DTypeError(f"grad: the gradient is {value.dtype} but the tensor is "
                                 f"{self.dtype}; convert it with .to({self.dtype})")
            if type(value._data) is not type(self._data) and value.device != self.device:
                raise _device.DeviceError(f"grad: the gradient is on {value.device} but the tensor "
                                          f"is on {self.device}; move it with "
                                          f".to('{self.device}')")
        self._grad = value

    @property
    def device(self) -> device:
        """Where the tensor's memory lives: ``device(type='cpu')`` for a NumPy array,
        ``device(type='cuda', index=0)`` for a CuPy array on the first GPU."""
        return _device.device_of(self._data)

    @property
    def is_cuda(self) -> bool:
        """True if the tensor is on a GPU (PyTorch's ``is_cuda``)."""
        return type(self._data) is not np.ndarray and _device.is_gpu_array(self._data)

    @property
    def requires_grad(self) -> bool:
        """True if operations on this tensor are recorded for ``backward()``; setting it
        calls ``requires_grad_``."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Start (or stop) tracking this leaf tensor; returns self."""
        if self.grad_fn is not None and not requires_grad:
            raise GraphError("requires_grad_: only leaf tensors can stop requiring grad; "
                             "use .detach() for a non-leaf")
        if requires_grad:
            _check_can_require_grad(self._data.dtype, "requires_grad_")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors the user made (no grad_fn); gradients accumulate in their ``.grad``."""
        return self.grad_fn is None

    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each axis, a tuple (NumPy's ``shape``; PyTorch's ``size()``, which returns
        the same sizes as a ``Size``; the two compare equal)."""
        return self._data.shape

    @property
    def ndim(self) -> int:
        """Number of axes, ``len(shape)`` (PyTorch's ``dim()``)."""
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype of the elements, e.g. ``float32``."""
        return self._data.dtype

    @property
    def size(self) -> _Size:
        """Number of elements (NumPy); also callable as PyTorch's ``size()`` / ``size(dim)``."""
        return _Size(self._data.shape)

    def numel(self) -> int:
        """Number of elements as an int (NumPy's ``size``)."""
        return int(self._data.size)

    def dim(self) -> int:
        """Number of axes (same as ``ndim``; the PyTorch spelling)."""
        return self._data.ndim

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise UsageError("len() of a 0-d tensor")
        return self._data.shape[0]

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shared memory, no copy). A tensor on the GPU raises
        ``DeviceError``, as PyTorch does: copy it to the host first, ``t.cpu().numpy()``."""
        data = self._data
        if type(data) is not np.ndarray and _device.is_gpu_array(data):
            raise _device.DeviceError(
                f"numpy: can't convert a tensor on {self.device} to a NumPy array; copy it to the "
                f"host first with t.cpu().numpy()")
        return data

    def tolist(self) -> Any:
        """The values as nested Python lists of numbers (a 0-d tensor gives a number)."""
        return self._data.tolist()

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise OpError(f"item: only one-element tensors can be converted to a Python number; "
                          f"this one has shape {self.shape}")
        return self._data.item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        """A one-element integer tensor used as an index: ``labels[pred.argmax()]``."""
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise UsageError(f"only one-element integer tensors can be used as an index, this one "
                             f"is {self.dtype} of shape {self.shape}")
        return int(self._data.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise OpError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                          f"use .any() or .all()")
        return bool(self._data.item())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self.numpy()     # a GPU tensor raises (np.asarray(t) would be a hidden copy)
        return data if dtype is None else data.astype(dtype)

    def __repr__(self) -> str:
        body = np.array2string(_device.to_host(self._data), separator=", ", prefix="Tensor(",
                               threshold=100)
        extra = f", dtype={self.dtype}"
        if type(self._data) is not np.ndarray and _device.is_gpu_array(self._data):
            extra += f", device='{self.device}'"
        if self.grad_fn is not None:
            extra += f", grad_fn=<{type(self.grad_fn).__name__}>"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    def __iter__(self) -> Iterator["Tensor"]:
        for i in range(len(self)):
            yield self[i]

    # -- graph ---------------------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Compute d(self)/d(leaf) for every leaf that requires grad; add it to ``leaf.grad``.

        ``gradient`` is d(loss)/d(self), needed when self is not a scalar. The graph is freed
        afterwards unless ``retain_graph=True`` (default: ``create_graph``). With
        ``create_graph=True`` the backward pass is recorded too, for higher-order derivatives.
        """
        run_backward([self], [gradient], retain_graph, create_graph)

    def retain_grad(self) -> None:
        """Keep the gradient of this non-leaf tensor in ``.grad`` during backward."""
        import weakref
        if self.grad_fn is not None:
            self.grad_fn._retain = weakref.ref(self)
        elif not self._requires_grad:
            raise GraphError("retain_grad: this tensor does not require grad")

    def detach(self) -> "Tensor":
        """The same data (shared) cut from the graph."""
        return Tensor._wrap(self._data, False, None, self._version)

    # -- in-place updates (PyTorch's trailing underscore) --------------------------------------
    def _check_inplace(self, op: str) -> None:
        if self._requires_grad and STATE.grad_enabled:
            raise GraphError(
                f"{op}: in-place change of a tensor that requires grad (shape {self.shape}) would "
                f"make its gradient wrong; do it inside `with no_grad():` (optimizer updates) or "
                f"use the out-of-place op")
        if not _device.writable(self._data):
            self._data = self._data.copy()

    def _inplace(self, op: str, ufunc: Any, *operands: Any) -> "Tensor":
        """self = ufunc(self, *operands) written into self's memory; the dtype is kept (NumPy's
        'same_kind' casting: a float into an integer tensor raises)."""
        self._check_inplace(op)
        args = [_operand_on(self, o, op) for o in operands]
        try:
            with quiet_floats():
                ufunc(self._data, *args, out=self._data)
        except TypeError as e:    # NumPy's UFuncTypeError: the result cannot be stored in self
            raise DTypeError(f"{op}: {e} (this tensor is {self.dtype})") from None
        except ValueError as e:
            raise ShapeError(f"{op}: {e} (shapes: {self.shape} and "
                             f"{', '.join(str(np.shape(a)) for a in args)})") from None
        self._version[0] += 1
        return self

    def add_(self, other: Any, *, alpha: float = 1) -> "Tensor":
        """In place: ``self += alpha * other`` (other broadcasts to self's shape); returns self.
        Not recorded in the graph: on a tensor that requires grad, call it under ``no_grad()``."""
        return self._inplace("add_", np.add, _scaled(_operand_on(self, other, "add_"), alpha))

    def sub_(self, other: Any, *, alpha: float = 1) -> "Tensor":
        """In place: ``self -= alpha * other`` (other broadcasts to self's shape); returns self."""
        return self._inplace("sub_", np.subtract,
                             _scaled(_operand_on(self, other, "sub_"), alpha))

    def mul_(self, other: Any) -> "Tensor":
        """In place: ``self *= other`` (other broadcasts to self's shape); returns self."""
        return self._inplace("mul_", np.multiply, other)

    def div_(self, other: Any) -> "Tensor":
        """In place: ``self /= other`` (other broadcasts to self's shape); returns self."""
        return self._inplace("div_", np.divide, other)

    def __iadd__(self, other: Any) -> "Tensor":
        return self._inplace("add_", np.add, other)

    def __isub__(self, other: Any) -> "Tensor":
        return self._inplace("sub_", np.subtract, other)

    def __imul__(self, other: Any) -> "Tensor":
        return self._inplace("mul_", np.multiply, other)

    def __itruediv__(self, other: Any) -> "Tensor":
        return self._inplace("div_", np.divide, other)

    def addcmul_(self, tensor1: Any, tensor2: Any, *, value: float = 1) -> "Tensor":
        """In place: ``self += value * tensor1 * tensor2`` (Adam's moment updates); returns self."""
        t1, t2 = _operand_on(self, tensor1, "addcmul_"), _operand_on(self, tensor2, "addcmul_")
        with quiet_floats():
            prod = np.multiply(t1, t2) if value == 1 else np.multiply(np.multiply(t1, t2), value)
        return self._inplace("addcmul_", np.add, prod)

    def addcdiv_(self, tensor1: Any, tensor2: Any, *, value: float = 1) -> "Tensor":
        """In place: ``self += value * tensor1 / tensor2`` (Adam's step); returns self."""
        t1, t2 = _operand_on(self, tensor1, "addcdiv_"), _operand_on(self, tensor2, "addcdiv_")
        with quiet_floats():
            quot = np.divide(t1, t2) if value == 1 else np.multiply(np.divide(t1, t2), value)
        return self._inplace("addcdiv_", np.add, quot)

    def sqrt_(self) -> "Tensor":
        """In place: ``self = sqrt(self)``; returns self."""
        return self._inplace("sqrt_", np.sqrt)

    def exp_(self) -> "Tensor":
        """In place: ``self = exp(self)``; returns self."""
        return self._inplace("exp_", np.exp)

    def clamp_(self, min: float | None = None, max: float | None = None) -> "Tensor":
        """In place: limit the values to [min, max] (either may be None); returns self."""
        if min is None and max is None:
            raise UsageError("clamp_: give min, max or both")
        lo = -np.inf if min is None else _arr(min)
        hi = np.inf if max is None else _arr(max)
        return self._inplace("clamp_", np.clip, lo, hi)

    clip_ = clamp_

    def normal_(self, mean: float = 0.0, std: float = 1.0, *,
                generator: np.random.Generator | None = None) -> "Tensor":
        """In place: fill with samples of a normal distribution N(mean, std**2); returns self.
        ``generator`` defaults to the one ``manual_seed`` seeds."""
        g = generator if generator is not None else _default_rng()
        return self._fill_random("normal_", lambda: g.normal(mean, std, self.shape))

    def uniform_(self, a: float = 0.0, b: float = 1.0, *,
                 generator: np.random.Generator | None = None) -> "Tensor":
        """In place: fill with samples uniform on [a, b); returns self (PyTorch's from/to)."""
        g = generator if generator is not None else _default_rng()
        return self._fill_random("uniform_", lambda: g.uniform(a, b, self.shape))

    def _fill_random(self, op: str, draw: Any) -> "Tensor":
        self._check_inplace(op)
        if self._data.dtype.kind != "f":
            raise DTypeError(f"{op}: fills floating-point tensors only, this one is {self.dtype}")
        # drawn on the host with the library's generator, so a seed gives the same values on
        # every device (initialisation is not in the training loop: the copy does not matter)
        self._data[...] = _device.like(draw(), self._data)
        self._version[0] += 1
        return self

    def zero_(self) -> "Tensor":
        """Set every element to 0 in place (``fill_(0)``); returns self."""
        return self.fill_(0)

    def fill_(self, value: Any) -> "Tensor":
        """Set every element to ``value`` (a number or a one-element tensor) in place; returns self."""
        self._check_inplace("fill_")
        self._data[...] = _operand_on(self, value, "fill_", scalar_ok=True)
        self._version[0] += 1
        return self

    def copy_(self, src: Any, non_blocking: bool = False) -> "Tensor":
        """Copy src's values into this tensor (broadcasting, converting to self's dtype), in
        place; returns self."""
        self._check_inplace("copy_")
        src = src._data if isinstance(src, Tensor) else (
            src if _device.is_gpu_array(src) else np.asarray(src))
        if type(src) is not type(self._data):   # from another device: copy_ moves it, as torch
            src = _device.like(_device.to_host(src), self._data)
        try:
            np.copyto(self._data, src, casting="unsafe" if src.dtype.kind in "biuf" else "same_kind")
        except (ValueError, TypeError) as e:
            raise ShapeError(f"copy_: {e} (shapes: {self.shape} <- {src.shape})") from None
        self._version[0] += 1
        return self

    def masked_fill_(self, mask: Any, value: Any) -> "Tensor":
        """In place: set the elements where ``mask`` is true to ``value``; returns self."""
        self._check_inplace("masked_fill_")
        m = _mask(mask, self.shape, "masked_fill_", self)
        np.copyto(self._data, _operand_on(self, value, "masked_fill_", scalar_ok=True), where=m,
                  casting="unsafe")
        self._version[0] += 1
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace("__setitem__")
        value = _operand_on(self, value, "__setitem__", scalar_ok=True)
        try:
            self._data[_index(index, self._data)] = value
        except IndexError as e:
            from .errors import IndexOutOfRangeError
            raise IndexOutOfRangeError(f"__setitem__: {e} (shape {self.shape})") from None
        except ValueError as e:
            raise ShapeError(f"__setitem__: {e} (shape {self.shape})") from None
        self._version[0] += 1

    # -- comparisons: elementwise, no gradient --------------------------------------------------
    def _compare(self, ufunc: Any, other: Any) -> "Tensor":
        other = _operand_on(self, other, ufunc.__name__)
        try:
            return Tensor._wrap(_device.ensure_array(ufunc(self._data, other)))
        except (ValueError, TypeError) as e:
            raise ShapeError(f"{ufunc.__name__}: {e} (shapes: {self.shape} and "
                             f"{np.shape(other)})") from None

    def __eq__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return self._compare(np.equal, other)

    def __ne__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return self._compare(np.not_equal, other)

    def __lt__(self, other: Any) -> "Tensor":
        return self._compare(np.less, other)

    def __le__(self, other: Any) -> "Tensor":
        return self._compare(np.less_equal, other)

    def __gt__(self, other: Any) -> "Tensor":
        return self._compare(np.greater, other)

    def __ge__(self, other: Any) -> "Tensor":
        return self._compare(np.greater_equal, other)

    # -- logical and integer operators: no gradient (PyTorch's are not differentiable either) --------
    def _logical(self, ufunc: Any, other: Any, reflected: bool = False) -> "Tensor":
        """A bitwise op on bool or integer tensors (``mask_a & mask_b``); floats are refused, as
        PyTorch refuses them."""
        o = other._data if isinstance(other, Tensor) else np.asarray(other)
        if self._data.dtype.kind not in "biu" or o.dtype.kind not in "biu":
            raise DTypeError(f"{ufunc.__name__}: needs bool or integer tensors, got {self.dtype} "
                             f"and {o.dtype}")
        a, b = (o, self._data) if reflected else (self._data, o)
        return self._compare(lambda x, y: ufunc(a, b), other)

    def __and__(self, other: Any) -> "Tensor":
        return self._logical(np.bitwise_and, other)

    def __or__(self, other: Any) -> "Tensor":
        return self._logical(np.bitwise_or, other)

    def __xor__(self, other: Any) -> "Tensor":
        return self._logical(np.bitwise_xor, other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __invert__(self) -> "Tensor":
        """``~mask``: logical not of a bool tensor, bitwise not of an integer one."""
        if self._data.dtype.kind not in "biu":
            raise DTypeError(f"invert: needs a bool or integer tensor, got {self.dtype}")
        return Tensor._wrap(np.invert(self._data))

    def __floordiv__(self, other: Any) -> "Tensor":
        """``a // b``: floor(a / b), as PyTorch's floor_divide; a constant of the graph (its
        derivative is 0 almost everywhere)."""
        a, b = _operands(self, other, op="floor_divide")
        return a._compare(np.floor_divide, b)

    def __rfloordiv__(self, other: Any) -> "Tensor":
        a, b = _operands(self, other, reflected=True, op="floor_divide")
        return a._compare(np.floor_divide, b)

    def __mod__(self, other: Any) -> "Tensor":
        """``a % b`` with the sign of b (Python's and PyTorch's remainder); no gradient."""
        a, b = _operands(self, other, op="remainder")
        return a._compare(np.remainder, b)

    def eq(self, other: Any) -> "Tensor":
        """self == other elementwise, a bool tensor (the ``==`` operator)."""
        return self._compare(np.equal, other)

    def ne(self, other: Any) -> "Tensor":
        """self != other elementwise, a bool tensor (the ``!=`` operator)."""
        return self._compare(np.not_equal, other)

    def lt(self, other: Any) -> "Tensor":
        """self < other elementwise, a bool tensor (the ``<`` operator)."""
        return self._compare(np.less, other)

    def le(self, other: Any) -> "Tensor":
        """self <= other elementwise, a bool tensor (the ``<=`` operator)."""
        return self._compare(np.less_equal, other)

    def gt(self, other: Any) -> "Tensor":
        """self > other elementwise, a bool tensor (the ``>`` operator)."""
        return self._compare(np.greater, other)

    def ge(self, other: Any) -> "Tensor":
        """self >= other elementwise, a bool tensor (the ``>=`` operator)."""
        return self._compare(np.greater_equal, other)

    def equal(self, other: Any) -> bool:
        """True if ``other`` is a tensor of the same shape and values (PyTorch's ``torch.equal``)."""
        other = _as_tensor(other, "equal")
        _check_devices("equal", self, other)
        return self.shape == other.shape and bool(np.array_equal(self._data, other._data))

    def allclose(self, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
                 equal_nan: bool = False) -> bool:
        """True if ``|self - other| <= atol + rtol * |other|`` everywhere (broadcasting)."""
        other = _as_tensor(other, "allclose")
        _check_devices("allclose", self, other)
        try:
            return bool(np.allclose(self._data, other._data, rtol=rtol, atol=atol,
                                    equal_nan=equal_nan))
        except ValueError as e:
            raise ShapeError(f"allclose: {e} (shapes: {self.shape} and {other.shape})") from None

    # -- non-differentiable helpers ---------------------------------------------------------------
    def argmax(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> "Tensor":
        """Index of the largest value along axis (in the flattened tensor if axis is None).
        An integer tensor, not differentiable."""
        axis, keepdims = _axis_args(axis, keepdims, dim, keepdim, "argmax")
        return self._arg_reduce(np.argmax, "argmax", axis, keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> "Tensor":
        """Index of the smallest value along axis (in the flattened tensor if axis is None).
        An integer tensor, not differentiable."""
        axis, keepdims = _axis_args(axis, keepdims, dim, keepdim, "argmin")
        return self._arg_reduce(np.argmin, "argmin", axis, keepdims)

    def _arg_reduce(self, fn: Any, op: str, axis: Any, keepdims: bool) -> "Tensor":
        if axis is not None and (isinstance(axis, bool) or not isinstance(axis, (int, np.integer))):
            raise UsageError(f"{op}: axis must be an integer or None, got {axis!r}")
        try:
            return Tensor._wrap(_device.ensure_array(fn(self._data, axis=axis, keepdims=keepdims)))
        except np.exceptions.AxisError:
            raise AxisError(f"{op}: axis {axis} is out of range for a tensor of shape "
                            f"{self.shape}") from None
        except ValueError:      # NumPy: "attempt to get argmax of an empty sequence"
            where = "the tensor" if axis is None else f"axis {axis}"
            raise OpError(f"{op}: {where} is empty (shape {self.shape}); there is no index of an "
                          f"extreme value to return") from None

    def all(self) -> "Tensor":
        """True if every element is nonzero: a 0-d bool tensor (over all axes)."""
        return Tensor._wrap(_device.ensure_array(self._data.all()))

    def any(self) -> "Tensor":
        """True if at least one element is nonzero: a 0-d bool tensor (over all axes)."""
        return Tensor._wrap(_device.ensure_array(self._data.any()))

    def sign(self) -> "Tensor":
        """-1, 0 or 1 elementwise (a constant of the graph: its derivative is 0 almost everywhere)."""
        return Tensor._wrap(np.sign(self._data))

    # -- arithmetic (ops/elementwise.py, ops/linalg.py) -------------------------------------------
    def __add__(self, other: Any) -> "Tensor":
        return ops.Add.apply(*_operands(self, other, op="add"))

    def __radd__(self, other: Any) -> "Tensor":
        return ops.Add.apply(*_operands(self, other, reflected=True, op="add"))

    def __sub__(self, other: Any) -> "Tensor":
        return ops.Sub.apply(*_operands(self, other, op="sub"))

    def __rsub__(self, other: Any) -> "Tensor":
        return ops.Sub.apply(*_operands(self, other, reflected=True, op="sub"))

    def __mul__(self, other: Any) -> "Tensor":
        return ops.Mul.apply(*_operands(self, other, op="mul"))

    def __rmul__(self, other: Any) -> "Tensor":
        return ops.Mul.apply(*_operands(self, other, reflected=True, op="mul"))

    def __truediv__(self, other: Any) -> "Tensor":
        return ops.Div.apply(*_operands(self, other, op="div"))

    def __rtruediv__(self, other: Any) -> "Tensor":
        return ops.Div.apply(*_operands(self, other, reflected=True, op="div"))

    def __pow__(self, other: Any) -> "Tensor":
        return ops.Pow.apply(*_operands(self, other, op="pow"))

    def __rpow__(self, other: Any) -> "Tensor":
        return ops.Pow.apply(*_operands(self, other, reflected=True, op="pow"))

    def __matmul__(self, other: Any) -> "Tensor":
        return ops.MatMul.apply(*_operands(self, other, op="matmul"))

    def __rmatmul__(self, other: Any) -> "Tensor":
        return ops.MatMul.apply(*_operands(self, other, reflected=True, op="matmul"))

    def __neg__(self) -> "Tensor":
        return ops.Neg.apply(self)

    def __pos__(self) -> "Tensor":
        return self

    def __abs__(self) -> "Tensor":
        return ops.Abs.apply(self)

    def add(self, other: Any, *, alpha: float = 1) -> "Tensor":
        """self + alpha * other, elementwise with broadcasting (the ``+`` operator when alpha is 1).
        d/dself = 1, d/dother = alpha."""
        return self + (other if alpha == 1 else _as_operand(other, self, "add") * alpha)

    def sub(self, other: Any, *, alpha: float = 1) -> "Tensor":
        """self - alpha * other, elementwise with broadcasting (the ``-`` operator when alpha is 1).
        d/dself = 1, d/dother = -alpha."""
        return self - (other if alpha == 1 else _as_operand(other, self, "sub") * alpha)

    def mul(self, other: Any) -> "Tensor":
        """self * other, elementwise with broadcasting (the ``*`` operator).
        d/dself = other, d/dother = self."""
        return self * other

    def div(self, other: Any) -> "Tensor":
        """self / other, elementwise with broadcasting (the ``/`` operator).
        d/dself = 1/other, d/dother = -self/other**2. Integer / integer gives float32."""
        return self / other

    def pow(self, exponent: Any) -> "Tensor":
        """self ** exponent, elementwise with broadcasting (the ``**`` operator).
        d/dself = exponent * self**(exponent-1), d/dexponent = self**exponent * log(self)."""
        return self ** exponent

    def matmul(self, other: Any) -> "Tensor":
        """Matrix product self @ other (the ``@`` operator; batched as NumPy's matmul).
        dself = dout @ other^T, dother = self^T @ dout."""
        return self @ other

    def neg(self) -> "Tensor":
        """-self, elementwise (unary ``-``);  d/dx = -1."""
        return -self

    def exp(self) -> "Tensor":
        """e**x, elementwise;  d/dx = exp(x), the output itself."""
        return ops.Exp.apply(self)

    def log(self) -> "Tensor":
        """Natural logarithm, elementwise;  d/dx = 1/x. log(0) = -inf, log(-1) = nan."""
        return ops.Log.apply(self)

    def sqrt(self) -> "Tensor":
        """Square root, elementwise;  d/dx = 1 / (2 sqrt(x))."""
        return ops.Sqrt.apply(self)

    def abs(self) -> "Tensor":
        """|x|, elementwise (also ``abs(t)``);  d/dx = sign(x), and 0 at x = 0 (as PyTorch)."""
        return ops.Abs.apply(self)

    def sin(self) -> "Tensor":
        """Sine (radians), elementwise;  d/dx = cos(x)."""
        return ops.Sin.apply(self)

    def cos(self) -> "Tensor":
        """Cosine (radians), elementwise;  d/dx = -sin(x)."""
        return ops.Cos.apply(self)

    def tanh(self) -> "Tensor":
        """Hyperbolic tangent, elementwise;  d/dx = 1 - tanh(x)**2."""
        return ops.Tanh.apply(self)

    def sigmoid(self) -> "Tensor":
        """1 / (1 + exp(-x)), elementwise and stable for any x;  d/dx = s(x) (1 - s(x))."""
        return ops.Sigmoid.apply(self)

    def relu(self) -> "Tensor":
        """max(x, 0), elementwise;  d/dx = 1 for x > 0, else 0 (0 at x = 0, as PyTorch)."""
        return ops.ReLU.apply(self)

    def leaky_relu(self, negative_slope: float = 0.01) -> "Tensor":
        """x for x > 0, else negative_slope * x;  d/dx = 1 or negative_slope."""
        return ops.LeakyReLU.apply(self, negative_slope=_real(negative_slope, "leaky_relu",
                                                               "negative_slope"))

    def maximum(self, other: Any) -> "Tensor":
        """Elementwise max of self and other, with broadcasting (NumPy's ``maximum``).
        The gradient goes to the larger input; ties split it equally (as PyTorch)."""
        return ops.Maximum.apply(*_operands(self, other, op="maximum"))

    def minimum(self, other: Any) -> "Tensor":
        """Elementwise min of self and other, with broadcasting (NumPy's ``minimum``).
        The gradient goes to the smaller input; ties split it equally (as PyTorch)."""
        return ops.Minimum.apply(*_operands(self, other, op="minimum"))

    def clip(self, min: float | None = None, max: float | None = None) -> "Tensor":
        """Limit values to [min, max]; the gradient is 1 inside (bounds included), 0 outside.
        An integer tensor with a float bound gives float32 (PyTorch's promotion), with integer
        bounds it stays integer."""
        lo = None if min is None else _real(min, "clip", "min")
        hi = None if max is None else _real(max, "clip", "max")
        x = self
        if x._data.dtype.kind != "f":
            if any(isinstance(b, (float, np.floating)) for b in (min, max)):
                x = x.astype(DEFAULT_FLOAT)
            else:       # integer bounds keep an integer tensor's dtype
                lo = None if lo is None else int(lo)
                hi = None if hi is None else int(hi)
        return ops.Clip.apply(x, lo=lo, hi=hi)

    clamp = clip

    def masked_fill(self, mask: Any, value: Any) -> "Tensor":
        """``value`` where ``mask`` is true, self elsewhere (``where(mask, value, self)``);
        differentiable in self (0 where filled). ``value=float('-inf')`` masks attention scores."""
        m = _mask(mask, self.shape, "masked_fill", self)
        if isinstance(value, Tensor) and value._data.size != 1:
            raise ShapeError(f"masked_fill: value must be a number or a one-element tensor, got "
                             f"shape {value.shape}")
        return where(Tensor._wrap(m), value, self)

    def where(self, condition: Any, other: Any) -> "Tensor":
        """PyTorch's ``x.where(cond, y)``: x where cond is true, else y."""
        return where(condition, self, other)

    # -- reductions (ops/reduce.py) -------------------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
            keepdim: bool | None = None) -> "Tensor":
        """Sum over axis (all axes if None); ``keepdims`` keeps reduced axes as size 1.
        d/dx_i = 1: the gradient is broadcast back. PyTorch's ``dim``/``keepdim`` work too."""
        axis, keepdims = _axis_args(axis, keepdims, dim, keepdim, "sum")
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
             keepdim: bool | None = None) -> "Tensor":
        """Mean over axis (all axes if None), sum / N;  d/dx_i = 1/N.
        PyTorch's ``dim``/``keepdim`` work too. Over an empty axis (N = 0) it raises a ShapeError,
        where PyTorch returns nan."""
        axis, keepdims = _axis_args(axis, keepdims, dim, keepdim, "mean")
        return ops.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None) -> Any:
        """Largest value: PyTorch's ``max`` and NumPy's together, by this rule (``min`` follows it):

        - ``x.max()``: the largest value of all, a 0-d tensor;
        - ``x.max(dim)`` or ``x.max(dim=d)`` with an int: ``(values, indices)``, a named tuple
          (``ValuesIndices``) as PyTorch, so ``_, pred = out.max(1)`` works; the gradient goes to
          the element at ``indices``;
        - ``x.max(axis=a)`` (NumPy's spelling) or a tuple of dims: the values only, and ties share
          the gradient equally, as ``amax``;
        - ``x.max(other_tensor)``: the elementwise ``maximum``.

        ``keepdim``/``keepdims`` keep the reduced axis as size 1.
        """
        return self._max_min(dim, keepdim, axis, keepdims, "max")

    def min(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None) -> Any:
        """Smallest value, by the rule of ``max``: ``(values, indices)`` with an int ``dim``, values
        with ``axis=`` or no dim, ``minimum`` with a tensor."""
        return self._max_min(dim, keepdim, axis, keepdims, "min")

    def _max_min(self, dim: Any, keepdim: bool, axis: Any, keepdims: bool | None, op: str) -> Any:
        if isinstance(dim, Tensor):
            return self.maximum(dim) if op == "max" else self.minimum(dim)
        keep = bool(keepdim if keepdims is None else keepdims)
        if dim is None or axis is not None or isinstance(dim, (tuple, list)):
            axis, _ = _axis_args(axis, keep, dim, None, op)
            return (ops.Max if op == "max" else ops.Min).apply(self, axis=axis, keepdims=keep)
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise UsageError(f"{op}: dim must be an integer, got {dim!r}")
        if self.ndim == 0:      # a 0-d tensor has one position, dim 0 (or -1)
            if dim not in (0, -1):
                raise AxisError(f"{op}: dim {dim} is out of range for a 0-d tensor")
            xp = _device.array_module(self._data)
            return ValuesIndices(self.reshape(()), Tensor._wrap(xp.zeros((), dtype=np.int64)))
        indices = self._arg_reduce(np.argmax if op == "max" else np.argmin, op, dim, True)
        # the value at each index, gathered (GetItem), so the gradient goes there only (PyTorch)
        xp = _device.array_module(self._data)
        index = list(xp.ogrid[tuple(slice(n) for n in self.shape)])
        ax = int(dim) % self.ndim
        index[ax] = indices._data
        values = ops.GetItem.apply(self, index=tuple(index))
        if not keep:
            values = values.reshape(values.shape[:ax] + values.shape[ax + 1:])
            indices = Tensor._wrap(indices._data.squeeze(ax))
        return ValuesIndices(values, indices)

    def amax(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
             keepdims: bool | None = None) -> "Tensor":
        """Largest values over dim(s) (all if None), the values only; ties share the gradient
        equally (as PyTorch's ``amax``). See ``max`` for the rule of ``max``/``min``."""
        axis, keep = _axis_args(axis, keepdim if keepdims is None else keepdims, dim, None, "amax")
        return ops.Max.apply(self, axis=axis, keepdims=keep)

    def amin(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
             keepdims: bool | None = None) -> "Tensor":
        """Smallest values over dim(s) (all if None), the values only; ties share the gradient
        equally (as PyTorch's ``amin``)."""
        axis, keep = _axis_args(axis, keepdim if keepdims is None else keepdims, dim, None, "amin")
        return ops.Min.apply(self, axis=axis, keepdims=keep)

    def var(self, axis: Any = None, keepdims: bool = False, ddof: int | None = None, *,
            dim: Any = None, keepdim: bool | None = None, correction: int | None = None) -> "Tensor":
        """Variance, sum((x - mean)**2) / (N - ddof). ``correction`` is PyTorch's name for ddof; the
        default is 1 (unbiased) as PyTorch's, not NumPy's 0: ask ``ddof=0`` for the book's.
        With N - ddof <= 0 it raises a ShapeError, where PyTorch returns nan (or inf)."""
        axis, keepdims = _axis_args(axis, keepdims, dim, keepdim, "var")
        return ops.Var.apply(self, axis=axis, keepdims=keepdims, ddof=_ddof(ddof, correction, "var"))

    def std(self, axis: Any = None, keepdims: bool = False, ddof: int | None = None, *,
            dim: Any = None, keepdim: bool | None = None, correction: int | None = None) -> "Tensor":
        """Standard deviation: sqrt(var); same arguments as ``var`` (unbiased by default, as PyTorch;
        a ShapeError where N - ddof <= 0, where PyTorch returns nan)."""
        return ops.std(self, axis, keepdims, ddof, dim=dim, keepdim=keepdim, correction=correction)

    def logsumexp(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
                  keepdim: bool | None = None) -> "Tensor":
        """log(sum(exp(x))) computed stably (the max is subtracted first)."""
        axis, keepdims = _axis_args(axis, keepdims, dim, keepdim, "logsumexp")
        return ops.LogSumExp.apply(self, axis=axis, keepdims=keepdims)

    def softmax(self, axis: int | None = None, *, dim: int | None = None) -> "Tensor":
        """exp(x) / sum(exp(x)) along axis (dim), the last one by default; stable at any
        magnitude."""
        axis = _axis_args(axis, False, dim, None, "softmax")[0]
        return ops.Softmax.apply(self, axis=-1 if axis is None else axis)

    def log_softmax(self, axis: int | None = None, *, dim: int | None = None) -> "Tensor":
        """x - logsumexp(x) along axis (dim), the last one by default; stable at any magnitude."""
        axis = _axis_args(axis, False, dim, None, "log_softmax")[0]
        return ops.LogSoftmax.apply(self, axis=-1 if axis is None else axis)

    # -- shapes (ops/shape.py) ------------------------------------------------------------------
    def reshape(self, *shape: Any) -> "Tensor":
        """Same data, new shape; one dimension may be -1. ``reshape(2, 3)`` or ``reshape((2, 3))``."""
        return ops.Reshape.apply(self, shape=_shape_args(shape, "reshape"))

    view = reshape

    def transpose(self, *axes: Any) -> "Tensor":
        """No args: reverse the axes (NumPy). Two axes: swap them (PyTorch's transpose(dim0, dim1),
        also NumPy's transpose(1, 0) of a matrix). More: a permutation of all axes (NumPy)."""
        axes = _shape_args(axes, "transpose")
        if not axes:
            axes = tuple(range(self.ndim))[::-1]
        elif len(axes) == 2:
            return self.swapaxes(*axes)
        return ops.Transpose.apply(self, axes=axes)

    def permute(self, *dims: Any) -> "Tensor":
        """Reorder the axes: ``permute(2, 0, 1)`` (NumPy's ``transpose(axes)``)."""
        return ops.Transpose.apply(self, axes=_shape_args(dims, "permute"))

    def swapaxes(self, axis1: int, axis2: int) -> "Tensor":
        """Swap two axes (NumPy's ``swapaxes``; PyTorch's ``transpose(dim0, dim1)``)."""
        axes = list(range(self.ndim))
        try:
            axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
        except IndexError:
            from .errors import AxisError
            raise AxisError(f"swapaxes: axes ({axis1}, {axis2}) out of range for a tensor with "
                            f"{self.ndim} dims") from None
        return ops.Transpose.apply(self, axes=tuple(axes))

    @property
    def T(self) -> "Tensor":
        """All axes reversed (``transpose()``): the usual transpose of a matrix."""
        return self.transpose()

    @property
    def mT(self) -> "Tensor":
        """Transpose of the last two axes (batched matrices)."""
        return self.swapaxes(-2, -1)

    def broadcast_to(self, *shape: Any) -> "Tensor":
        """Repeat along size-1 (or new leading) axes to reach ``shape``, as NumPy;
        backward sums the gradient back (``sum_to``)."""
        return ops.BroadcastTo.apply(self, shape=_shape_args(shape, "broadcast_to"))

    def expand(self, *sizes: Any) -> "Tensor":
        """PyTorch's expand: broadcast_to where -1 keeps a dimension's size."""
        sizes = _shape_args(sizes, "expand")
        lead = len(sizes) - self.ndim
        shape = tuple(self.shape[i - lead] if s == -1 and i >= lead else s
                      for i, s in enumerate(sizes))
        return ops.BroadcastTo.apply(self, shape=shape)

    def sum_to(self, *shape: Any) -> "Tensor":
        """Sum over broadcast dimensions down to ``shape`` (the inverse of broadcast_to)."""
        return ops.SumTo.apply(self, shape=_shape_args(shape, "sum_to"))

    def squeeze(self, axis: Any = None, *, dim: Any = None) -> "Tensor":
        """Drop size-1 axes: all of them, or only the given ones (others are left alone)."""
        return ops.squeeze(self, _axis_args(axis, False, dim, None, "squeeze")[0])

    def unsqueeze(self, axis: int | None = None, *, dim: int | None = None) -> "Tensor":
        """Insert a size-1 axis at ``axis`` (PyTorch's ``dim``; NumPy's ``expand_dims``)."""
        axis = _axis_args(axis, False, dim, None, "unsqueeze")[0]
        if axis is None:
            raise UsageError("unsqueeze: give the position of the new axis (dim)")
        return ops.unsqueeze(self, axis)

    expand_dims = unsqueeze

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        """Merge axes start_dim..end_dim into one (all of them by default), as PyTorch."""
        return ops.flatten(self, start_dim, end_dim)

    def __getitem__(self, index: Any) -> "Tensor":
        return ops.GetItem.apply(self, index=_index(index, self._data))

    def astype(self, dtype: Any) -> "Tensor":
        """A copy in another dtype (differentiable between float dtypes)."""
        dtype = _numeric_dtype(dtype, "astype")
        if dtype == self.dtype:
            return self
        return ops.Cast.apply(self, dtype=dtype)

    def to(self, *args: Any, dtype: Any = None, device: Any = None, non_blocking: bool = False,
           copy: bool = False) -> "Tensor":
        """PyTorch's ``to``: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``,
        ``to(other_tensor)`` (its dtype and device), or ``device=``/``dtype=`` keywords.
        Returns self when nothing changes (a copy with ``copy=True``); a device that is not
        available raises ``DeviceError``. ``non_blocking`` is accepted and has no effect."""
        dev, dt = device, dtype
        rest = [a for a in args if not isinstance(a, bool)]   # torch's positional non_blocking, copy
        if len(rest) > 2:
            raise UsageError(f"to: expected at most a device and a dtype, got {args!r}")
        for a in rest:
            if isinstance(a, Tensor):
                dev, dt = a.device, a.dtype
            elif _is_device_arg(a):
                dev = a
            else:
                dt = a
        out = self if dt is None else self.astype(dt)
        if dev is not None:
            target = resolve(dev, "to")
            if target != out.device:    # a copy on the other device, in the graph (d/dx = 1)
                out = _ToDevice.apply(out, device=target)
        return out.clone() if copy and out is self else out

    def cpu(self) -> "Tensor":
        """This tensor on the CPU: self if it is there, else a copy (device to host)."""
        if type(self._data) is np.ndarray:
            return self
        return self.to("cpu")

    def cuda(self, device: Any = None, non_blocking: bool = False) -> "Tensor":
        """This tensor on a CUDA GPU (the current one, or ``device``: an index, ``"cuda:1"``...):
        self if it is there, else a copy. ``DeviceError`` without CuPy or without a GPU."""
        return self.to("cuda" if device is None else device)

    def type(self, dtype: Any = None, non_blocking: bool = False) -> Any:
        """With a dtype: the tensor converted to it (``astype``). Without: the dtype's name, e.g.
        ``'float32'`` (PyTorch returns ``'torch.FloatTensor'``)."""
        if dtype is None:
            return str(self._data.dtype)
        return self.astype(dtype)

    def long(self) -> "Tensor":
        """As int64 (``astype(int64)``): self if it is int64 already."""
        return self.astype(np.int64)

    def int(self) -> "Tensor":
        """As int32 (``astype(int32)``): self if it is int32 already."""
        return self.astype(np.int32)

    def bool(self) -> "Tensor":
        """As bool (``astype(bool)``): nonzero is True; self if it is bool already."""
        return self.astype(np.bool_)

    def half(self) -> "Tensor":
        """As float16 (``astype(float16)``): self if it is float16 already."""
        return self.astype(np.float16)

    def view_as(self, other: "Tensor") -> "Tensor":
        """Same data with ``other``'s shape (``reshape(other.shape)``)."""
        return self.reshape(_as_tensor(other, "view_as").shape)

    def reshape_as(self, other: "Tensor") -> "Tensor":
        """Same data with ``other``'s shape (``reshape(other.shape)``)."""
        return self.reshape(_as_tensor(other, "reshape_as").shape)

    def t(self) -> "Tensor":
        """Transpose of a matrix (a tensor of 0 or 1 dims is returned as it is); more dims raise
        (use ``transpose(dim0, dim1)`` or ``mT``)."""
        if self.ndim > 2:
            raise ShapeError(f"t: expects a tensor of at most 2 dims, got shape {self.shape}; "
                             f"use transpose(dim0, dim1) or .mT")
        return self.transpose()

    def float(self) -> "Tensor":
        """As float32 (``astype(float32)``): self if it is float32 already."""
        return self.astype(np.float32)

    def double(self) -> "Tensor":
        """As float64 (``astype(float64)``): self if it is float64 already."""
        return self.astype(np.float64)

    def clone(self) -> "Tensor":
        """A copy with its own memory that stays in the graph (unlike ``detach``);  d/dx = 1."""
        return ops.Clone.apply(self)


# -- argument helpers --------------------------------------------------------------------------
def _as_tensor(x: Any, op: str = "") -> Tensor:
    """x itself if it is a Tensor, else a new Tensor of it (numbers, lists, arrays); a conversion
    error names ``op``, the function the user called."""
    if isinstance(x, Tensor):
        return x
    try:
        return Tensor(x)
    except TinygradError as e:
        if not op:
            raise
        raise type(e)(f"{op}: {e}") from None


def _arr(x: Any) -> Any:
    """A Tensor's array; anything else (numbers, arrays) as it is."""
    return x._data if isinstance(x, Tensor) else x


def _check_devices(op: str, a: Tensor, b: Tensor) -> None:
    """DeviceError if two tensors are on different devices (the rule of every op)."""
    if type(a._data) is not type(b._data) and a.device != b.device:
        raise _device.DeviceError(f"{op}: expected both tensors on the same device, got {a.device} "
                                  f"and {b.device}; move one with .to(device)")


def _operand_on(t: Tensor, x: Any, op: str, scalar_ok: bool = False) -> Any:
    """The array (or number) of ``x`` to combine with ``t``'s array in an in-place op or a
    comparison. A Tensor must be on t's device (DeviceError otherwise; with ``scalar_ok`` a
    one-element CPU tensor is taken as a number, as PyTorch takes 0-d CPU tensors); numbers pass
    as they are; NumPy arrays and lists are copied to t's device."""
    data = t._data
    if isinstance(x, Tensor):
        xd = x._data
        if type(xd) is type(data) or x.device == t.device:
            return xd
        if scalar_ok and xd.size == 1 and type(xd) is np.ndarray:
            return xd.item()
        raise _device.DeviceError(f"{op}: expected both tensors on the same device, got {t.device} "
                                  f"and {x.device}; move one with .to(device)")
    if type(data) is np.ndarray or isinstance(x, (bool, int, float, np.generic)) or x is None:
        return x
    if _device.is_gpu_array(x):
        return x if x.device.id == data.device.id else _device.like(x, data)
    if isinstance(x, (list, tuple, np.ndarray)):
        return _device.like(np.asarray(x), data)
    return x


def _scaled(other: Any, alpha: Any) -> Any:
    """alpha * other as an array or number (other itself when alpha is 1), for add_/sub_."""
    if alpha == 1:
        return other
    with quiet_floats():
        return np.multiply(_arr(other), alpha)


def _as_operand(other: Any, like: Tensor, op: str) -> Tensor:
    """other as a Tensor, with the promotion rules of an operand of ``like`` (``_operands``)."""
    return other if isinstance(other, Tensor) else _operands(like, other, op=op)[1]


def _mask(mask: Any, shape: tuple[int, ...], op: str, like: Tensor | None = None) -> np.ndarray:
    """A boolean mask that broadcasts to ``shape`` (and does not grow it), on ``like``'s device."""
    if like is not None:
        m = _operand_on(like, mask, op)
        m = m if _device.is_array(m) else np.asarray(m)
    else:
        m = _arr(mask)
        m = m if _device.is_array(m) else np.asarray(m)
    if m.dtype != np.bool_:
        raise DTypeError(f"{op}: the mask must be a bool tensor, got {m.dtype}; e.g. x > 0")
    try:
        out = np.broadcast_shapes(m.shape, shape)
    except ValueError:
        out = None
    if out != shape:
        raise ShapeError(f"{op}: a mask of shape {m.shape} does not broadcast to the tensor's "
                         f"shape {shape}")
    return m


def _is_device_arg(a: Any) -> bool:
    """True for what ``to(...)`` takes as a device: a device, an int, a string that is no dtype."""
    if isinstance(a, (device, int, np.integer)):
        return True
    if isinstance(a, str):
        try:
            np.dtype(a)
        except TypeError:
            return True
    return False


def _default_rng() -> np.random.Generator:
    from . import default_generator     # tinygrad_ko/__init__ imports this module first
    return default_generator()


def _axis_args(axis: Any, keepdims: Any, dim: Any, keepdim: Any, op: str = "") -> tuple[Any, bool]:
    """Accept NumPy's axis/keepdims and PyTorch's dim/keepdim."""
    if dim is not None:
        if axis is not None:
            raise UsageError(f"{op}: give either axis or dim, not both")
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    if isinstance(axis, list):
        axis = tuple(axis)
    return axis, bool(keepdims)


def _real(value: Any, op: str, name: str) -> float:
    """A real number argument (slope, bound...), or a clear error naming the op."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                      np.floating)):
        raise UsageError(f"{op}: {name} must be a real number, got {value!r}")
    return float(value)


def _numeric_dtype(dtype: Any, op: str) -> np.dtype:
    """np.dtype(dtype) for bool, integer and float dtypes; a DTypeError for anything else."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"{op}: {dtype!r} is not a dtype") from None
    if dt.kind not in "biuf":
        raise DTypeError(f"{op}: dtype {dt} is not supported (bool, integer or float only)")
    return dt


def _ddof(ddof: int | None, correction: int | None, op: str = "") -> int:
    if ddof is not None and correction is not None:
        raise UsageError(f"{op}: give either ddof or correction, not both")
    # unbiased (N - 1) by default, as PyTorch: on the same spelling PyTorch wins over NumPy
    value = correction if correction is not None else (1 if ddof is None else ddof)
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise UsageError(f"{op}: ddof must be an integer, got {value!r}")
    return int(value)


def _shape_args(shape: Sequence[Any], op: str = "") -> tuple[int, ...]:
    """``f(2, 3)`` and ``f((2, 3))`` both mean the shape (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    try:
        return tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise UsageError(f"{op}: a shape must be integers, got {shape!r}") from None


def _index(index: Any, data: Any = None) -> Any:
    """Tensors inside an index become arrays (NumPy, or CuPy, does the indexing). For an array
    on the GPU (``data``), index arrays go to its device (as PyTorch takes CPU index tensors)."""
    if isinstance(index, Tensor):
        out = index._data
    elif isinstance(index, tuple):
        out = tuple(i._data if isinstance(i, Tensor) else i for i in index)
    elif isinstance(index, list):
        if not index:       # x[[]]: an empty list of integer indices
            out = np.empty(0, dtype=np.intp)
        else:
            out = np.asarray([_device.to_host(_arr(i)) for i in index])
    else:
        out = index
    if data is None or type(data) is np.ndarray or not _device.is_gpu_array(data):
        return out
    if isinstance(out, tuple):
        return tuple(_device.like(i, data) if isinstance(i, np.ndarray) and i.ndim else i
                     for i in out)
    return _device.like(out, data) if isinstance(out, np.ndarray) and out.ndim else out


def _operands(t: Tensor, other: Any, reflected: bool = False, op: str = "") -> tuple[Tensor, Tensor]:
    """Make ``other`` a Tensor and apply the type promotion rules.

    Python numbers take the tensor's dtype (``float32_tensor * 0.5`` stays float32); a float mixed
    with an integer tensor gives float32 (PyTorch's rule); NumPy's rules otherwise.
    """
    if not isinstance(other, Tensor):
        if isinstance(other, (bool, int, float)):
            kind = t.dtype.kind
            if isinstance(other, float) and kind != "f":
                dt = DEFAULT_FLOAT
            elif isinstance(other, bool) or kind in "fiu":
                dt = t.dtype
            else:
                dt = np.dtype(np.int64)
            if type(t._data) is np.ndarray:
                other = Tensor._wrap(np.array(other, dtype=dt))
            else:   # on the GPU: a fill kernel with the number as argument, no host copy
                other = Tensor._wrap(_device.array_module(t._data).full((), other, dtype=dt))
        else:
            try:
                other = Tensor(other)
            except TinygradError as e:
                raise type(e)(f"{op}: the other operand: {e} (this tensor: shape {t.shape})") from None
            if type(t._data) is not np.ndarray and _device.is_gpu_array(t._data):
                other = Tensor._wrap(_device.like(other._data, t._data))   # a list or array
    elif type(other._data) is not type(t._data) and type(other._data) is np.ndarray \
            and other._data.ndim == 0 and not other._requires_grad \
            and _device.is_gpu_array(t._data):
        # a 0-d CPU tensor with a GPU tensor is a number, as in PyTorch
        other = Tensor._wrap(_device.array_module(t._data).full((), other._data.item(),
                                                                dtype=other._data.dtype))
    a, b = (other, t) if reflected else (t, other)
    if a._data.dtype is not b._data.dtype:
        da, db = a._data.dtype, b._data.dtype
        if da != db:
            dt = _result_dtype(da, a._data.ndim, db, b._data.ndim)
            if da != dt:   # a cast in the graph if it requires grad (float64 -> float32)
                a = a.astype(dt) if a._requires_grad else Tensor._wrap(a._data.astype(dt))
            if db != dt:
                b = b.astype(dt) if b._requires_grad else Tensor._wrap(b._data.astype(dt))
    return a, b


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}


def _result_dtype(da: np.dtype, nda: int, db: np.dtype, ndb: int) -> np.dtype:
    """PyTorch's promotion of two tensors: categories bool < integer < float. Within the highest
    category present, tensors with dims decide over 0-d ones (``float32 (3,)`` with ``float64 ()``
    gives float32); a 0-d tensor of a higher category than every tensor with dims brings its own
    dtype (``int64 (3,)`` with ``float64 ()`` gives float64)."""
    ca, cb = _CATEGORY[da.kind], _CATEGORY[db.kind]
    if (nda == 0) != (ndb == 0):
        if nda == 0:
            da, ca, db, cb = db, cb, da, ca     # from here on a has dims, b is 0-d
        return da if ca >= cb else db
    if ca != cb:                                # same rank class: the higher category's dtype
        return da if ca > cb else db
    return np.promote_types(da, db)


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """x where condition is true, y elsewhere; gradients flow to x and y through their masks."""
    cond = _as_tensor(condition, "where")
    if cond.dtype != np.bool_:
        cond = Tensor._wrap(cond._data.astype(bool))
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):
        x = Tensor(x)
    if isinstance(x, Tensor):
        x, y = _operands(x, y, op="where")
    else:
        y, x = _operands(y, x, op="where")
    if type(cond._data) is not type(x._data) and (not isinstance(condition, Tensor)
                                                  or cond._data.ndim == 0):
        # a condition given as numbers (or a 0-d CPU tensor, a number as in PyTorch) goes to
        # the values' device (one value: a fill there, no copy); a CPU tensor condition for GPU
        # values is an error (Where says so)
        c = cond._data
        cond = Tensor._wrap(_device.array_module(x._data).full((), c.item(), dtype=c.dtype)
                            if c.ndim == 0 and type(c) is np.ndarray else _device.like(c, x._data))
    return ops.Where.apply(cond, x, y)


from . import ops  # noqa: E402  (ops import Tensor: the import must come after the class)
from .function import _ToDevice, run_backward  # noqa: E402
