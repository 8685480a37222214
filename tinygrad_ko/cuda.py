"""``tinygrad_ko.cuda``: PyTorch's ``torch.cuda`` queries, answered for a library with no GPU
backend yet, so scripts that pick their device with ``"cuda" if tg.cuda.is_available() else "cpu"``
run unchanged (on the CPU)."""
from __future__ import annotations


def is_available() -> bool:
    """False: tinygrad_ko has no CUDA backend (GPU support through CuPy is planned)."""
    return False


def device_count() -> int:
    """0: the number of CUDA devices tinygrad_ko can use."""
    return 0


__all__ = ["is_available", "device_count"]
