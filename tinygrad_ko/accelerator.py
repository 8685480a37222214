"""``tinygrad_ko.accelerator``: PyTorch's ``torch.accelerator`` queries. The accelerator is an
NVIDIA GPU through CuPy (``"cuda"``), when there is one, so scripts that write
``tg.accelerator.current_accelerator() if tg.accelerator.is_available() else "cpu"`` run there,
and on the CPU elsewhere."""
from __future__ import annotations

from .device import _self as _device
from .device import device


def is_available() -> bool:
    """True when a CUDA GPU is usable (CuPy installed, a GPU found)."""
    return _device.cuda_available()


def current_accelerator() -> device | None:
    """``device(type='cuda')`` when a GPU is usable, else None."""
    return device("cuda") if _device.cuda_available() else None


def device_count() -> int:
    """The number of accelerator devices (CUDA GPUs)."""
    return _device.cuda_device_count()


__all__ = ["is_available", "current_accelerator", "device_count"]
