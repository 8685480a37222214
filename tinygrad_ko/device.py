"""Devices: where a tensor's memory lives (PyTorch's ``torch.device``).

tinygrad_ko runs on the CPU with NumPy, so ``"cpu"`` is the only device today. Everything that
touches devices goes through the three names below, so a GPU backend (CuPy) is added here and
nowhere else:

- ``device``: the class, ``device("cpu")``, ``device("cpu:0")``, ``device("cuda", 1)``;
- ``resolve(arg)``: a user's device argument (a string or a ``device``) checked to be available;
- ``array_module(x)``: the array library of a device or an array (``numpy`` today).

Asking for a device that is not there (``"cuda"``, ``"mps"``...) raises ``DeviceError`` naming it,
instead of silently computing somewhere else.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from .errors import DeviceError, UsageError

# every device type PyTorch knows, so a typo ("gpu") and a real device we lack ("cuda") get
# different messages
_KNOWN_TYPES = ("cpu", "cuda", "mps", "xpu", "xla", "meta", "hip", "mtia", "ipu", "hpu", "vulkan",
                "privateuseone")
_AVAILABLE = ("cpu",)   # the GPU issue adds "cuda" here when CuPy is importable
_NO_GPU = ("no {what} backend: tinygrad_ko runs on the CPU with NumPy (GPU support through CuPy is "
           "planned); use device='cpu', or leave device out")


class device:
    """A device type and optional index, as ``torch.device``: ``device("cpu")``,
    ``device("cpu:0")``, ``device("cuda", 0)``. It compares equal to a device of the same type and
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


def resolve(dev: Any, op: str = "") -> device:
    """The device named by ``dev`` (a string, a ``device``, or None for the CPU), checked to be
    available here; ``DeviceError`` naming it otherwise. The one door every ``device=`` goes
    through."""
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
    if dev.type not in _AVAILABLE:
        raise DeviceError(f"{where}device '{dev}' is not available: "
                          + _NO_GPU.format(what=dev.type.upper() if dev.type != "cuda" else "CUDA"))
    if dev.index not in (None, 0):
        raise DeviceError(f"{where}device '{dev}' is not available: there is one {dev.type} "
                          f"device, index 0")
    return CPU


def array_module(x: Any = None) -> ModuleType:
    """The array library for a device or an array: ``numpy`` today (the GPU issue returns
    ``cupy`` for a CUDA device or a CuPy array)."""
    return np


__all__ = ["device", "resolve", "array_module", "DeviceError"]
