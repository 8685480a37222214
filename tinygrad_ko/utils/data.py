"""``torch.utils.data`` under its PyTorch path: the same objects as ``tinygrad_ko.data``.

    from tinygrad_ko.utils.data import DataLoader, TensorDataset, random_split
"""
from ..data.dataset import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "default_collate"]
