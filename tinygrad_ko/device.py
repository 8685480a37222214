"""Devices: where a tensor's memory lives (PyTorch's ``torch.device``).

A tensor's array is a NumPy array (the CPU) or a CuPy array (an NVIDIA GPU, ``"cuda"``). This
module is the one place that knows about CuPy; everything else asks it:

- ``device``: the class, ``device("cpu")``, ``device("cuda:0")``, ``device("cuda", 1)``;
- ``resolve(arg)``: a user's device argument checked to be available here;
- ``array_module(x)``: the array library of an array, a Tensor or a device (``numpy`` or ``cupy``);
- ``device_of(arr)``, ``to_device(arr, dev)``, ``to_host(arr)``, ``like(values, arr)``: where an
  array is, and the explicit copies between host and device (the only ones the library makes);
- ``scatter_add(out, index, values)``: ``np.add.at`` for both libraries (CuPy's is
  ``cupyx.scatter_add``).

An op stays readable as NumPy: ``np.exp(x)``, ``x.sum()``, ``np.where(...)`` dispatch to CuPy for a
CuPy array. What does not dispatch is taken from the inputs: creating arrays
(``xp = array_module(x); xp.zeros(...)``), a number as an array (``x.dtype.type(0.5)``, a NumPy
scalar, is a kernel argument on the GPU, where ``np.asarray(0.5, x.dtype)`` would be a host array
CuPy refuses), and ``scatter_add``. An op never branches on array values on the GPU (``if
mask.any():`` reads the value back, a synchronisation) unless it checks user input, which says so
in a comment.

CuPy is imported lazily, the first time a GPU is asked for (``resolve("cuda")``,
``tg.cuda.is_available()``...): ``import tinygrad_ko`` never imports it. Without CuPy, or with
CuPy but no GPU, asking for ``"cuda"`` raises ``DeviceError`` saying which is missing.
"""
from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np

from .errors import DeviceError, UsageError

# every device type PyTorch knows, so a typo ("gpu") and a real device we lack ("mps") get
# different messages
_KNOWN_TYPES = ("cpu", "cuda", "mps", "xpu", "xla", "meta", "hip", "mtia", "ipu", "hpu", "vulkan",
                "privateuseone")
_INSTALL = ("install CuPy for your CUDA version: pip install cupy-cuda12x (CUDA 12.x) or "
            "pip install cupy-cuda13x (CUDA 13.x); `nvidia-smi` shows the CUDA version")


class device:
    """A device type and optional index, as ``torch.device``: ``device("cpu")``,
    ``device("cuda:0")``, ``device("cuda", 0)``. It compares equal to a device of the same type and
    index, and to its string (``device("cpu") == "cpu"``). Making one does not check that the device
    exists; using it (``t.to(dev)``, ``zeros(..., device=dev)``) does."""
    __slots__ = ("type", "index")
    type: str
    index: int | None

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002 (torch's name)
        if isinstance(type, device):
            if index is not None:
                raise UsageError(f"device: give the index in the device or as index, not both "
                                 f"({type!r}, {index})")
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise UsageError(f"device: expected a string such as 'cpu' or a device, got {type!r}")
        name, sep, idx = type.strip().partition(":")
        if sep:
            if index is not None:
                raise UsageError(f"device: '{type}' has an index already; do not pass index={index}")
            if not idx.isdigit():
                raise UsageError(f"device: invalid device string '{type}' (expected e.g. 'cpu' or "
                                 f"'cuda:0')")
            index = int(idx)
        if name not in _KNOWN_TYPES:
            raise UsageError(f"device: unknown device type '{name}' (expected one of "
                             f"{', '.join(_KNOWN_TYPES[:4])}...)")
        if index is not None and (isinstance(index, bool) or not isinstance(index, (int, np.integer))
                                  or index < 0):
            raise UsageError(f"device: the index must be an integer >= 0, got {index!r}")
        object.__setattr__(self, "type", name)
        object.__setattr__(self, "index", None if index is None else int(index))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("device is immutable")

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return (f"device(type='{self.type}')" if self.index is None
                else f"device(type='{self.type}', index={self.index})")

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except UsageError:
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self) -> Any:
        return (device, (self.type, self.index))


CPU = device("cpu")
# this module, for the modules that read its state (GPU_TYPES changes when CuPy loads): the
# package's name ``tinygrad_ko.device`` is the device class, so ``from . import device`` would
# give the class, not this module
_self = sys.modules[__name__]


# -- CuPy, loaded on first use ------------------------------------------------------------------
class _Cupy:
    """What is known about CuPy in this process (one instance, ``_CP``)."""
    module: ModuleType | None = None    # cupy, once it imported and found a GPU
    error: str | None = None            # why "cuda" is unavailable, once that was found out
    count: int = 0                      # number of CUDA devices
    pending_seed: int | None = None     # manual_seed before CuPy was loaded: applied on load
    devices: dict[int, device] = {}


_CP = _Cupy()
# (cupy.ndarray,) once CuPy is loaded, () before: ``isinstance(x, GPU_TYPES)`` is the engine's
# fast test for a device array (a NumPy array is tested first with ``type(x) is np.ndarray``)
GPU_TYPES: tuple[type, ...] = ()


def _load_cupy() -> ModuleType:
    """cupy, imported and checked to see a GPU; ``DeviceError`` saying what is missing."""
    global GPU_TYPES
    if _CP.module is not None:
        return _CP.module
    if _CP.error is None:
        try:
            import cupy
        except ImportError as e:
            _CP.error = f"CuPy is not installed ({e}); {_INSTALL}"
        except Exception as e:      # a broken install: CUDA libraries missing, wrong wheel...
            _CP.error = (f"CuPy is installed but fails to import ({type(e).__name__}: {e}); check "
                         f"that the wheel matches your CUDA version: {_INSTALL}")
        else:
            try:
                count = int(cupy.cuda.runtime.getDeviceCount())
                reason = ""
            except Exception as e:  # CUDARuntimeError: no driver, no device
                count, reason = 0, f" ({type(e).__name__}: {e})"
            if count <= 0:
                _CP.error = (f"CuPy is installed but no CUDA GPU was found{reason}; on a notebook, "
                             f"turn the GPU runtime on (e.g. Colab: Runtime > Change runtime type)")
            else:
                _CP.module, _CP.count = cupy, count
                GPU_TYPES = (cupy.ndarray,)
                if _CP.pending_seed is not None:
                    cupy.random.seed(_CP.pending_seed)
                return cupy
    raise DeviceError(f"device 'cuda' is not available: {_CP.error}")


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one GPU (imports CuPy to find out)."""
    try:
        _load_cupy()
    except DeviceError:
        return False
    return True


def cuda_device_count() -> int:
    """The number of CUDA GPUs CuPy sees (0 without CuPy or without a GPU)."""
    return _CP.count if cuda_available() else 0


def cupy_if_loaded() -> ModuleType | None:
    """cupy if a GPU was used already in this process, else None (never imports it)."""
    return _CP.module


def seed_cuda(seed: int) -> None:
    """Seed CuPy's random generator (what ops draw from on the GPU, e.g. dropout): now if CuPy is
    loaded, else when it is (so seeding never imports CuPy)."""
    _CP.pending_seed = int(seed)
    if _CP.module is not None:
        _CP.module.random.seed(int(seed))


def _reset_for_tests() -> None:
    """Forget what was learnt about CuPy (tests install and remove a fake one)."""
    global GPU_TYPES
    _CP.module, _CP.error, _CP.count, _CP.pending_seed = None, None, 0, None
    _CP.devices = {}
    GPU_TYPES = ()


# -- resolving a user's device argument ---------------------------------------------------------
def resolve(dev: Any, op: str = "") -> device:
    """The device named by ``dev`` (a string, a ``device``, an int for a CUDA ordinal, or None
    for the CPU), checked to be available here: ``DeviceError`` naming it otherwise. ``"cuda"``
    (no index) means the current GPU, and resolves to it with its index (``cuda:0``)."""
    if dev is None:
        return CPU
    if isinstance(dev, (int, np.integer)) and not isinstance(dev, bool):
        dev = device("cuda", int(dev))          # torch: an integer means a CUDA ordinal
    where = f"{op}: " if op else ""
    if not isinstance(dev, device):
        try:
            dev = device(dev)
        except UsageError as e:
            raise DeviceError(f"{where}{e}") from None
    if dev.type == "cpu":
        if dev.index not in (None, 0):
            raise DeviceError(f"{where}device '{dev}' is not available: there is one cpu device, "
                              f"index 0")
        return CPU
    if dev.type != "cuda":
        raise DeviceError(f"{where}device '{dev}' is not available: tinygrad_ko runs on the CPU "
                          f"(NumPy) and on NVIDIA GPUs (device 'cuda', through CuPy)")
    try:
        cp = _load_cupy()
    except DeviceError as e:
        raise DeviceError(f"{where}{e}") from None
    index = cp.cuda.runtime.getDevice() if dev.index is None else dev.index
    if index >= _CP.count:
        raise DeviceError(f"{where}device '{dev}' is not available: CuPy sees {_CP.count} GPU(s), "
                          f"cuda:0 to cuda:{_CP.count - 1}")
    return _cuda(index)


def _cuda(index: int) -> device:
    d = _CP.devices.get(index)
    if d is None:
        d = _CP.devices[index] = device("cuda", index)
    return d


# -- arrays and their devices ---------------------------------------------------------------------
def is_gpu_array(x: Any) -> bool:
    """True for a CuPy array (False for everything else, and always before CuPy is loaded)."""
    return bool(GPU_TYPES) and isinstance(x, GPU_TYPES)


def is_array(x: Any) -> bool:
    """True for a NumPy or a CuPy array (the arrays a Tensor may hold)."""
    return type(x) is np.ndarray or isinstance(x, np.ndarray) or is_gpu_array(x)


def ensure_array(x: Any) -> Any:
    """x as an array of its own device: NumPy and CuPy arrays pass through; NumPy scalars (what
    NumPy's reductions return) and Python numbers become 0-d NumPy arrays."""
    if type(x) is np.ndarray or (GPU_TYPES and isinstance(x, GPU_TYPES)):
        return x
    return np.asarray(x)


def array_module(x: Any = None) -> ModuleType:
    """The array library for an array, a Tensor or a device: ``cupy`` for a CuPy array or a CUDA
    device, ``numpy`` otherwise (and for None). Ops take the module from their inputs where they
    create arrays: ``xp = array_module(x); xp.zeros(...)``."""
    if x is None or type(x) is np.ndarray:
        return np
    if GPU_TYPES and isinstance(x, GPU_TYPES):
        return _CP.module  # type: ignore[return-value]
    if isinstance(x, (device, str)):
        return np if resolve(x).type == "cpu" else _load_cupy()
    data = getattr(x, "_data", None)        # a Tensor
    if data is not None:
        return array_module(data)
    return np


def device_of(arr: Any) -> device:
    """The device an array lives on: the CPU for NumPy arrays (and numbers), ``cuda:N`` for a
    CuPy array on GPU N."""
    if GPU_TYPES and isinstance(arr, GPU_TYPES):
        return _cuda(int(arr.device.id))
    return CPU


def to_host(arr: Any) -> Any:
    """A NumPy copy of a CuPy array (a device-to-host transfer); anything else as it is."""
    if GPU_TYPES and isinstance(arr, GPU_TYPES):
        return arr.get()
    return arr


def to_device(arr: Any, dev: device) -> Any:
    """``arr`` on device ``dev`` (a resolved device): the same array if it is there already, else
    a copy there (host to device, device to host, or GPU to GPU)."""
    if dev.type == "cpu":
        return to_host(arr)
    cp = _load_cupy()
    index = dev.index if dev.index is not None else cp.cuda.runtime.getDevice()
    if isinstance(arr, GPU_TYPES) and int(arr.device.id) == index:
        return arr
    with cp.cuda.Device(index):
        if isinstance(arr, GPU_TYPES):          # another GPU: a device-to-device copy
            return cp.array(arr, copy=True)
        return cp.asarray(np.asarray(arr))      # host to device


def like(values: Any, arr: Any) -> Any:
    """``values`` (a host array or a number) as an array on ``arr``'s device: what writes into a
    tensor's array from NumPy (initialisers, load_state_dict, copy_) go through."""
    if type(arr) is np.ndarray or not (GPU_TYPES and isinstance(arr, GPU_TYPES)):
        return values
    if isinstance(values, GPU_TYPES) and values.device.id == arr.device.id:
        return values
    if isinstance(values, (bool, int, float, np.generic)):
        return values                           # a scalar is a kernel argument: no copy
    return to_device(values, _cuda(int(arr.device.id)))


def scatter_add(out: Any, index: Any, values: Any) -> None:
    """``out[index] += values``, in place, where repeated indices add up (``np.add.at``). CuPy's
    ufuncs have no ``at`` method in every version; ``cupyx.scatter_add`` is its documented
    equivalent (atomic adds: their order, so a float32 sum's last bits, may vary between runs)."""
    if GPU_TYPES and isinstance(out, GPU_TYPES):
        import cupyx                            # part of every CuPy install
        cupyx.scatter_add(out, index, values)
    else:
        np.add.at(out, index, values)


def writable(arr: Any) -> bool:
    """False for a read-only NumPy array (``np.load``, broadcast views); CuPy arrays are always
    writable (and have no ``writeable`` flag)."""
    return not (isinstance(arr, np.ndarray) and not arr.flags.writeable)


def default_rng(x: Any = None) -> Any:
    """The random generator for arrays like ``x``: the library's NumPy Generator
    (``tinygrad_ko.manual_seed``) on the CPU, ``cupy.random`` on the GPU (seeded by
    ``tg.cuda.manual_seed`` and ``tg.manual_seed``). Both have ``random(size, dtype=)`` and
    ``standard_normal(size, dtype=)``, so an op draws with ``default_rng(x).random(shape)``."""
    if GPU_TYPES and isinstance(getattr(x, "_data", x), GPU_TYPES):
        return _CP.module.random  # type: ignore[union-attr]
    from . import default_generator        # late: tinygrad_ko/__init__ imports this module first
    return default_generator()


__all__ = ["device", "resolve", "array_module", "DeviceError", "device_of", "to_host", "to_device",
           "like", "is_gpu_array", "ensure_array", "writable", "default_rng", "cuda_available",
           "cuda_device_count", "scatter_add"]
