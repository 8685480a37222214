"""``tinygrad_ko.accelerator``: PyTorch's ``torch.accelerator`` queries. There is no accelerator
backend yet (everything runs on the CPU with NumPy), so scripts that write
``tg.accelerator.current_accelerator() if tg.accelerator.is_available() else "cpu"`` run on the
CPU unchanged."""
from __future__ import annotations

from .device import device


def is_available() -> bool:
    """False: no accelerator (GPU) backend is available."""
    return False


def current_accelerator() -> device | None:
    """None: there is no accelerator; a device when a GPU backend is added."""
    return None


def device_count() -> int:
    """0: the number of accelerator devices."""
    return 0


__all__ = ["is_available", "current_accelerator", "device_count"]
