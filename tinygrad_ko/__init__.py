"""tinygrad_ko: a small, readable, fully tested autodiff framework on NumPy.

>>> import tinygrad_ko as tg
>>> x = tg.tensor([1.0, 2.0], requires_grad=True)
>>> (x ** 2).sum().backward()
>>> x.grad
Tensor([2., 4.], dtype=float32)
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

# tensor first: it imports ops, which import function, which needs the Tensor class defined
from .tensor import Size, Tensor, ValuesIndices, _as_tensor, where  # noqa: I001
from .autograd import grad
from .device import device, resolve as _resolve_device
from .device import _self as _devmod
from .errors import (AnomalyError, AxisError, CheckpointError, DataError, DeviceError, DTypeError,
                     GradcheckError, GraphError, IndexOutOfRangeError, OpError, ShapeError,
                     TinygradError, UsageError)
from .function import Function
from .grad_mode import (detect_anomaly, enable_grad, inference_mode, is_anomaly_enabled,
                        is_grad_enabled, no_grad, set_grad_enabled)
from .registry import REGISTRY, register
from . import memory, ops

# freed arrays' memory stays in the process for the next step (tinygrad_ko/memory.py says why;
# TINYGRAD_KO_KEEP_MEMORY=0 leaves glibc's defaults)
memory._on_import()

__version__ = "0.1.0"

float16, float32, float64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
int32, int64, bool_ = np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.bool_)

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator behind rand/randn/randint (and the nn initialisers' default), and the
    GPU's (``cuda.manual_seed``: now if CuPy is in use, else when it starts)."""
    global _rng
    _rng = np.random.default_rng(seed)
    _devmod.seed_cuda(seed)


def default_generator() -> np.random.Generator:
    """The NumPy random Generator behind rand/randn/randint (replaced by ``manual_seed``)."""
    return _rng


def tensor(data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Make a Tensor from data (the PyTorch spelling). Python floats become float32 unless ``dtype``
    says otherwise (then they are converted exactly, with no float32 detour); ``device="cuda"``
    puts it on the GPU (``DeviceError`` when there is none). An array or a Tensor is copied, as
    ``torch.tensor`` copies (the result is a new leaf): later writes to one are not seen by the
    other. ``from_numpy`` and ``as_tensor`` share memory instead."""
    if isinstance(data, Tensor):
        data = data._data
    if _devmod.is_array(data):
        data = data.copy()
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a Tensor without a copy where it can be: an array of the asked dtype on the
    asked device shares its memory (a Tensor is returned as it is); anything else is converted
    (``torch.as_tensor``)."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)      # itself when nothing changes
    return Tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing memory with a NumPy array (no copy, dtype kept): writes through either
    are seen by both."""
    if not isinstance(array, np.ndarray):
        raise UsageError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def is_tensor(obj: Any) -> bool:
    """True if ``obj`` is a Tensor (or a Parameter)."""
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:  # noqa: A002 (torch's name)
    """Number of elements of a tensor (``Tensor.numel``)."""
    return _as_tensor(input, "numel").numel()


def _shape(shape: Sequence[Any]) -> tuple[int, ...]:
    from .tensor import _shape_args
    return _shape_args(shape)


def _xp(device: Any, op: str) -> Any:
    """The array module (numpy or cupy) that creates arrays on ``device``, checked available."""
    dev = _resolve_device(device, op)
    return np if dev.type == "cpu" else _devmod.array_module(dev)


def _on(arr: np.ndarray, device: Any, op: str) -> np.ndarray:
    """A host array (random draws, arange...) moved to ``device`` (None: stays on the CPU)."""
    if device is None:
        return arr
    return _devmod.to_device(arr, _resolve_device(device, op))


def _made(arr: Any, requires_grad: bool) -> Tensor:
    t = Tensor(arr)
    return t.requires_grad_() if requires_grad else t


def zeros(*shape: Any, dtype: Any = float32, requires_grad: bool = False,
          device: Any = None) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``; float32 by default."""
    xp = _xp(device, "zeros")
    if device is None or xp is np:
        return Tensor(np.zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)
    with xp.cuda.Device(_resolve_device(device).index):
        return _made(xp.zeros(_shape(shape), dtype=np.dtype(dtype)), requires_grad)


def ones(*shape: Any, dtype: Any = float32, requires_grad: bool = False,
          device: Any = None) -> Tensor:
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``; float32 by default."""
    xp = _xp(device, "ones")
    if device is None or xp is np:
        return Tensor(np.ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)
    with xp.cuda.Device(_resolve_device(device).index):
        return _made(xp.ones(_shape(shape), dtype=np.dtype(dtype)), requires_grad)


def full(shape: Sequence[int], fill_value: float, dtype: Any = float32,
         requires_grad: bool = False, device: Any = None) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``; float32 by default."""
    xp = _xp(device, "full")
    if device is None or xp is np:
        return Tensor(np.full(tuple(shape), fill_value, dtype=dtype), requires_grad=requires_grad)
    with xp.cuda.Device(_resolve_device(device).index):
        return _made(xp.full(tuple(shape), fill_value, dtype=np.dtype(dtype)), requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
               device: Any = None) -> Tensor:
    """Zeros with the shape of ``t`` (its dtype and device, unless ``dtype``/``device`` is
    given)."""
    return zeros(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad,
                 device=t.device if device is None and t.is_cuda else device)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
               device: Any = None) -> Tensor:
    """Ones with the shape of ``t`` (its dtype and device, unless ``dtype``/``device`` is
    given)."""
    return ones(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad,
                device=t.device if device is None and t.is_cuda else device)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           device: Any = None, requires_grad: bool = False) -> Tensor:
    """As NumPy; whole-number arguments give int64, others float32. On a GPU the numbers are
    made there (no copy from the host: positions in a model's forward, ``arange(T, device=)``)."""
    xp = _xp(device, "arange")
    stop = end
    if stop is None:
        start, stop = 0, start
    arr = xp.arange(start, stop, step)
    arr = arr.astype(dtype or (np.int64 if arr.dtype.kind in "iu" else np.float32))
    return Tensor(arr, requires_grad=requires_grad)


def linspace(start: float, stop: float, num: int = 50, dtype: Any = float32,
             device: Any = None) -> Tensor:
    """``num`` evenly spaced values from start to stop, both included (as NumPy)."""
    return Tensor(_on(np.linspace(start, stop, num, dtype=dtype), device, "linspace"))


def eye(n: int, m: int | None = None, dtype: Any = float32, device: Any = None) -> Tensor:
    """Identity matrix of n rows and m columns (m defaults to n): ones on the diagonal."""
    return Tensor(_on(np.eye(n, m, dtype=dtype), device, "eye"))


def rand(*shape: Any, dtype: Any = float32, requires_grad: bool = False,
         generator: np.random.Generator | None = None, device: Any = None) -> Tensor:
    """Uniform on [0, 1). Drawn with the library's NumPy generator (``manual_seed``) and copied
    to ``device``: a seed gives the same numbers on every device."""
    _resolve_device(device, "rand")
    g = generator or _rng
    return Tensor(_on(g.random(_shape(shape)).astype(dtype), device, "rand"),
                  requires_grad=requires_grad)


def randn(*shape: Any, dtype: Any = float32, requires_grad: bool = False,
          generator: np.random.Generator | None = None, device: Any = None) -> Tensor:
    """Standard normal (drawn on the host, as ``rand``)."""
    _resolve_device(device, "randn")
    g = generator or _rng
    return Tensor(_on(g.standard_normal(_shape(shape)).astype(dtype), device, "randn"),
                  requires_grad=requires_grad)


def randint(low: int, high: int, size: Sequence[int],
            generator: np.random.Generator | None = None, dtype: Any = None,
            device: Any = None) -> Tensor:
    """Random integers in [low, high) of shape ``size`` (int64 unless ``dtype``)."""
    _resolve_device(device, "randint")
    g = generator or _rng
    return Tensor(g.integers(low, high, size=tuple(size)), dtype=dtype, device=device)


def randperm(n: int, *, generator: np.random.Generator | None = None, dtype: Any = int64,
             device: Any = None, requires_grad: bool = False) -> Tensor:
    """A random permutation of 0..n-1 (int64 unless ``dtype``)."""
    _resolve_device(device, "randperm")
    g = generator or _rng
    return Tensor(g.permutation(n), dtype=dtype, requires_grad=requires_grad, device=device)


def cat(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis (``concatenate``)."""
    ts = [_as_tensor(t, "cat") for t in tensors]
    return ops.Concatenate.apply(*ts, axis=axis if dim is None else dim)


concatenate = cat


def stack(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along a new axis."""
    ts = [_as_tensor(t, "stack") for t in tensors]
    return ops.Stack.apply(*ts, axis=axis if dim is None else dim)



def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product ``a @ b`` (``Tensor.matmul``); a may be an array or a list too."""
    return _as_tensor(a, "matmul") @ b


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max of a and b, with broadcasting (``Tensor.maximum``)."""
    return _as_tensor(a, "maximum").maximum(b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min of a and b, with broadcasting (``Tensor.minimum``)."""
    return _as_tensor(a, "minimum").minimum(b)


def exp(input: Any) -> Tensor:  # noqa: A002 (the top-level functions keep torch's names)
    """e**x, elementwise (``Tensor.exp``);  d/dx = exp(x)."""
    return _as_tensor(input, "exp").exp()


def log(input: Any) -> Tensor:
    """Natural logarithm, elementwise (``Tensor.log``);  d/dx = 1/x."""
    return _as_tensor(input, "log").log()


def sin(input: Any) -> Tensor:
    """Sine (radians), elementwise (``Tensor.sin``);  d/dx = cos(x)."""
    return _as_tensor(input, "sin").sin()


def cos(input: Any) -> Tensor:
    """Cosine (radians), elementwise (``Tensor.cos``);  d/dx = -sin(x)."""
    return _as_tensor(input, "cos").cos()


def abs(input: Any) -> Tensor:  # noqa: A001 (as torch.abs)
    """|x|, elementwise (``Tensor.abs``);  d/dx = sign(x), 0 at 0."""
    return _as_tensor(input, "abs").abs()


def sqrt(input: Any) -> Tensor:
    """Square root, elementwise (``Tensor.sqrt``);  d/dx = 1 / (2 sqrt(x))."""
    return _as_tensor(input, "sqrt").sqrt()


def pow(input: Any, exponent: Any) -> Tensor:  # noqa: A001 (as torch.pow)
    """input ** exponent, elementwise with broadcasting (``Tensor.pow``); either may be a
    number."""
    if not isinstance(input, Tensor) and isinstance(exponent, Tensor):
        return exponent.__rpow__(input)
    return _as_tensor(input, "pow").pow(exponent)


def tanh(input: Any) -> Tensor:
    """Hyperbolic tangent, elementwise (``Tensor.tanh``);  d/dx = 1 - tanh(x)**2."""
    return _as_tensor(input, "tanh").tanh()


def sigmoid(input: Any) -> Tensor:
    """1 / (1 + exp(-x)), elementwise (``Tensor.sigmoid``);  d/dx = s(x) (1 - s(x))."""
    return _as_tensor(input, "sigmoid").sigmoid()


def relu(input: Any) -> Tensor:
    """max(x, 0), elementwise (``Tensor.relu``);  d/dx = 1 for x > 0, else 0."""
    return _as_tensor(input, "relu").relu()


def clamp(input: Any, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Limit values to [min, max] (``Tensor.clamp``); gradient 1 inside, 0 outside."""
    return _as_tensor(input, "clamp").clamp(min, max)


clip = clamp


def sum(input: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,  # noqa: A001
        keepdims: bool | None = None) -> Tensor:
    """Sum over dim (all dims if None), ``torch.sum(x, dim=1, keepdim=True)`` (``Tensor.sum``);
    NumPy's ``axis``/``keepdims`` work too."""
    return _as_tensor(input, "sum").sum(axis, keepdim if keepdims is None else keepdims, dim=dim)


def mean(input: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: bool | None = None) -> Tensor:
    """Mean over dim (all dims if None) (``Tensor.mean``); NumPy's ``axis``/``keepdims`` work too."""
    return _as_tensor(input, "mean").mean(axis, keepdim if keepdims is None else keepdims, dim=dim)


def max(input: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,  # noqa: A001
        keepdims: bool | None = None) -> Any:
    """``Tensor.max``: the largest value; ``(values, indices)`` with an int dim (see its rule);
    ``max(a, b)`` with two tensors is the elementwise maximum."""
    return _as_tensor(input, "max").max(dim, keepdim, axis=axis, keepdims=keepdims)


def min(input: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,  # noqa: A001
        keepdims: bool | None = None) -> Any:
    """``Tensor.min``: the smallest value; ``(values, indices)`` with an int dim (rule of ``max``)."""
    return _as_tensor(input, "min").min(dim, keepdim, axis=axis, keepdims=keepdims)


def argmax(input: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest value along dim (of the flattened tensor if None) (``Tensor.argmax``)."""
    return _as_tensor(input, "argmax").argmax(dim, keepdim)


def argmin(input: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest value along dim (of the flattened tensor if None)."""
    return _as_tensor(input, "argmin").argmin(dim, keepdim)


def var(input: Any, dim: Any = None, keepdim: bool = False, *, correction: int | None = None,
        ddof: int | None = None) -> Tensor:
    """Variance over dim (``Tensor.var``): divided by N - correction, and correction defaults to
    0 as in the method (PyTorch's default is 1: pass ``correction=1`` for the unbiased one)."""
    return _as_tensor(input, "var").var(dim, keepdim, ddof, correction=correction)


def std(input: Any, dim: Any = None, keepdim: bool = False, *, correction: int | None = None,
        ddof: int | None = None) -> Tensor:
    """Standard deviation over dim, sqrt(var) (``Tensor.std``); correction defaults to 0 as ``var``."""
    return _as_tensor(input, "std").std(dim, keepdim, ddof, correction=correction)


def softmax(input: Any, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along dim (the last by default), stable (``Tensor.softmax``)."""
    return _as_tensor(input, "softmax").softmax(axis, dim=dim)


def log_softmax(input: Any, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """x - logsumexp(x) along dim (the last by default), stable (``Tensor.log_softmax``)."""
    return _as_tensor(input, "log_softmax").log_softmax(axis, dim=dim)


def logsumexp(input: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
              keepdims: bool | None = None) -> Tensor:
    """log(sum(exp(x))) over dim, computed stably (``Tensor.logsumexp``)."""
    return _as_tensor(input, "logsumexp").logsumexp(
        axis, keepdim if keepdims is None else keepdims, dim=dim)


def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one, all by default (``Tensor.flatten``)."""
    return _as_tensor(input, "flatten").flatten(start_dim, end_dim)


def reshape(input: Any, shape: Sequence[int]) -> Tensor:
    """Same data, new shape; one size may be -1 (``Tensor.reshape``)."""
    return _as_tensor(input, "reshape").reshape(shape)


def transpose(input: Any, dim0: int, dim1: int) -> Tensor:
    """Swap two dims (``Tensor.transpose(dim0, dim1)``)."""
    return _as_tensor(input, "transpose").transpose(dim0, dim1)


def permute(input: Any, dims: Sequence[int]) -> Tensor:
    """Reorder the dims (``Tensor.permute``)."""
    return _as_tensor(input, "permute").permute(dims)


def squeeze(input: Any, dim: Any = None) -> Tensor:
    """Drop size-1 dims, all or the given ones (``Tensor.squeeze``)."""
    return _as_tensor(input, "squeeze").squeeze(dim)


def unsqueeze(input: Any, dim: int) -> Tensor:
    """Insert a size-1 dim at ``dim`` (``Tensor.unsqueeze``)."""
    return _as_tensor(input, "unsqueeze").unsqueeze(dim)


def allclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """True if ``|input - other| <= atol + rtol * |other|`` everywhere (``Tensor.allclose``)."""
    return _as_tensor(input, "allclose").allclose(other, rtol, atol, equal_nan)


def equal(input: Any, other: Any) -> bool:
    """True if both have the same shape and values (``Tensor.equal``)."""
    return _as_tensor(input, "equal").equal(other)


def save(obj: Any, f: Any) -> None:
    """Write a Tensor, or nested dicts/lists/tuples of Tensors, arrays, numbers and strings (a
    state_dict, an optimizer's, a whole checkpoint) to ``f``, a path or a binary file, in the
    ``.npz`` format of ``nn.save``: nothing is pickled. Other objects raise ``CheckpointError``."""
    from .nn.checkpoint import save as _save
    _save(obj, f)


def load(f: Any, map_location: Any = None, *, weights_only: Any = True, mmap: Any = None) -> Any:
    """Read what ``save`` wrote (Tensors come back as Tensors, arrays as arrays), never
    unpickling. ``weights_only=False`` is refused with ``CheckpointError``: a checkpoint here
    holds data only, and unpickling a file can run any code.

    Checkpoints hold host arrays (a model saved from the GPU loads on a machine without one), so
    Tensors load on the CPU; ``map_location`` puts them elsewhere, as in PyTorch: a device
    (``"cuda"``, ``tg.device("cuda", 0)``), or a dict from the saved location to the target
    (every tensor was saved from ``"cpu"``, so ``{"cpu": "cuda:0"}``; other keys match nothing).
    A callable ``map_location`` is refused with ``UsageError`` (it receives storages in
    PyTorch; there are none here)."""
    from .nn.checkpoint import load as _load
    if weights_only is not True and weights_only is not None:
        raise CheckpointError(
            "load: weights_only=False asks to unpickle arbitrary objects, which tinygrad_ko never "
            "does (a pickle can run any code); its checkpoints hold tensors, arrays, numbers and "
            "strings, which load with the default weights_only=True")
    target = None
    if isinstance(map_location, dict):
        for k, v in map_location.items():      # check both sides, as torch does when used
            _resolve_device(v, "load")
            if device(k) == "cpu":
                target = _resolve_device(v, "load")
    elif callable(map_location):
        raise UsageError("load: a callable map_location is not supported (there are no storages "
                         "to remap); pass a device such as 'cpu' or 'cuda', or a dict")
    elif map_location is not None:
        target = _resolve_device(map_location, "load")
    obj = _load(f)
    if target is None or target.type == "cpu":
        return obj
    from .nn.checkpoint import map_tensors
    return map_tensors(obj, lambda t: t.to(target))


__all__ = [
    "Tensor", "tensor", "Function", "grad", "no_grad", "enable_grad", "set_grad_enabled",
    "is_grad_enabled", "detect_anomaly", "is_anomaly_enabled", "REGISTRY", "register", "ops",
    "zeros", "ones", "full", "zeros_like", "ones_like", "arange", "linspace", "eye", "rand", "randn",
    "randint", "manual_seed", "default_generator", "cat", "concatenate", "stack", "where", "matmul",
    "maximum", "minimum", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "sum", "mean", "softmax",
    "log_softmax", "logsumexp", "float16", "float32", "float64", "int32", "int64", "bool_",
    "TinygradError", "OpError", "ShapeError", "AxisError", "IndexOutOfRangeError", "DTypeError",
    "GraphError", "AnomalyError", "GradcheckError", "CheckpointError", "DataError", "UsageError",
    "DeviceError", "device", "Size", "ValuesIndices", "inference_mode", "from_numpy", "as_tensor",
    "is_tensor",
    "numel", "randperm", "sin", "cos", "abs", "pow", "clamp", "clip", "max", "min", "argmax",
    "argmin", "var", "std", "flatten", "reshape", "transpose", "permute", "squeeze", "unsqueeze",
    "allclose", "equal", "save", "load", "uint8", "float", "double", "half", "long", "int", "bool",
]

from .ops.sequence import tril, triu  # noqa: E402
__all__ += ["tril", "triu"]

# the toolkit on top of the engine, importable as tg.nn, tg.optim, tg.data, tg.viz
from . import data, nn, optim, viz  # noqa: E402
from . import accelerator, cuda  # noqa: E402  (torch.cuda / torch.accelerator queries)
from . import utils  # noqa: E402  (PyTorch's path: tg.utils.data.DataLoader)

__all__ += ["nn", "optim", "data", "viz", "cuda", "accelerator", "utils"]

# PyTorch's dtype aliases. They shadow the builtins float, int and bool in this module only, so
# they come last and nothing above calls those builtins (tg.float is float32, as torch.float).
uint8 = np.dtype(np.uint8)
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001
bool = bool_  # noqa: A001
