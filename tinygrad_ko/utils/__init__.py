"""PyTorch's ``torch.utils`` import paths: ``from tinygrad_ko.utils.data import DataLoader``."""
from . import data

__all__ = ["data"]
