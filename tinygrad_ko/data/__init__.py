"""Datasets and data loading (``torch.utils.data`` names) plus the two datasets of the books.

Usage::

    from tinygrad_ko.data import load_mnist, MNIST, DataLoader
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)   # as in the book
    for x, t in DataLoader(MNIST(train=True), batch_size=100, shuffle=True):
        ...

Dataset files are searched in ``data_dir``, ``$TINYGRAD_KO_DATA/<name>``, ``$TINYGRAD_KO_DATA``
and ``~/.cache/tinygrad_ko/<name>``; MNIST is downloaded into the cache when missing.
"""
from .catvnoncat import CATVNONCAT_FILES, load_catvnoncat
from .dataset import DataLoader, Dataset, TensorDataset, default_collate
from .dataset import Subset, random_split
from .download import ENV_VAR, cache_dir, content_sha256, download_file, search_dirs
from .shakespeare import CharDataset, CharVocab, load_tiny_shakespeare
from .mnist import (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, MNIST, MNIST_FILES, MNIST_MIRRORS, load_mnist,
                    mnist_datasets, read_idx)

__all__ = [
    "Dataset", "TensorDataset", "DataLoader", "default_collate",
    "load_mnist", "MNIST", "mnist_datasets", "read_idx", "MNIST_FILES", "MNIST_MIRRORS",
    "IDX_IMAGES_MAGIC", "IDX_LABELS_MAGIC", "load_catvnoncat", "CATVNONCAT_FILES",
    "ENV_VAR", "cache_dir", "search_dirs", "download_file", "content_sha256",
    "Subset", "random_split",
]
__all__ += ["load_tiny_shakespeare", "CharVocab", "CharDataset"]
