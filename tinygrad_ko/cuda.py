"""``tinygrad_ko.cuda``: PyTorch's ``torch.cuda`` for the GPU backend (CuPy).

``is_available()`` imports CuPy to find out (the first call only); without CuPy or without a GPU
it is False, so ``"cuda" if tg.cuda.is_available() else "cpu"`` picks the CPU there."""
from __future__ import annotations

from typing import Any

from .device import _self as _device


def is_available() -> bool:
    """True when CuPy is installed and sees a CUDA GPU."""
    return _device.cuda_available()


def device_count() -> int:
    """The number of CUDA GPUs (0 without CuPy or without a GPU)."""
    return _device.cuda_device_count()


def current_device() -> int:
    """The index of the current GPU (``DeviceError`` without one)."""
    return _device.resolve("cuda", "cuda.current_device").index or 0


def synchronize(device: Any = None) -> None:
    """Wait for every kernel queued on the GPU to finish (GPU work is asynchronous: time a step
    with ``synchronize()`` before reading the clock). ``DeviceError`` without a GPU."""
    dev = _device.resolve("cuda" if device is None else device, "cuda.synchronize")
    cp = _device.array_module(dev)
    cp.cuda.Device(dev.index).synchronize()


def manual_seed(seed: int) -> None:
    """Seed the GPU's random generator (what ops such as dropout draw from on the GPU). Safe
    without a GPU: then nothing happens (as PyTorch), and with CuPy not yet started the seed is
    applied when it starts."""
    _device.seed_cuda(seed)


manual_seed_all = manual_seed


__all__ = ["is_available", "device_count", "current_device", "synchronize", "manual_seed",
           "manual_seed_all"]
