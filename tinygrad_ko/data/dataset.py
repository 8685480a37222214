"""``Dataset``, ``TensorDataset`` and ``DataLoader``, as in ``torch.utils.data``.

>>> ds = TensorDataset(np.zeros((10, 3), np.float32), np.arange(10))
>>> loader = DataLoader(ds, batch_size=4, shuffle=True, seed=0)
>>> [tuple(x.shape) for x, t in loader], len(loader)
([(4, 3), (4, 3), (2, 3)], 3)
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..errors import DTypeError, OpError, ShapeError
from ..device import like
from ..tensor import Tensor


class Dataset:
    """A sized collection of samples: subclass it and define ``__len__`` and ``__getitem__``.

    ``__getitem__(i)`` returns one sample, usually a tuple such as ``(image, label)`` of arrays,
    tensors or Python numbers; ``DataLoader`` stacks samples into batches.
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")


class TensorDataset(Dataset):
    """Samples are rows of the given arrays: ``ds[i] == (a[i], b[i], ...)`` as tensors.

    Arrays keep their dtype (NumPy arrays, Tensors, or nested lists converted like ``Tensor()``).
    The arrays are stored once; ``DataLoader`` fetches a whole batch with one fancy index.
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise OpError("TensorDataset: give at least one array, e.g. TensorDataset(x, t)")
        # Tensor() applies the library's conversion rules (lists of floats -> float32)
        # a Tensor's array as it is (on the GPU too: batches are then on the GPU, as in PyTorch)
        self.arrays: tuple[np.ndarray, ...] = tuple(
            a._data if isinstance(a, Tensor) else Tensor(a)._data for a in arrays)
        if any(a.ndim == 0 for a in self.arrays):
            raise ShapeError("TensorDataset: every array needs a first dimension (the samples); "
                             f"got shapes {', '.join(str(a.shape) for a in self.arrays)}")
        if len({len(a) for a in self.arrays}) != 1:
            raise ShapeError("TensorDataset: all arrays must have the same first dimension (the "
                             "number of samples); got shapes "
                             + ", ".join(str(a.shape) for a in self.arrays))

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        """The arrays as Tensors (PyTorch's attribute; shares memory)."""
        return tuple(Tensor(a) for a in self.arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(Tensor(a[index]) for a in self.arrays)

    def __repr__(self) -> str:
        return f"TensorDataset({', '.join(f'{a.shape} {a.dtype}' for a in self.arrays)})"


def default_collate(samples: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch: tuples field by field, each field into one Tensor.

    Python ints become int64, floats float32, bools bool; arrays and Tensors keep their dtype.
    """
    first = samples[0]
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise ShapeError("DataLoader: samples have different numbers of fields")
        return tuple(default_collate([s[i] for s in samples]) for i in range(len(first)))
    if isinstance(first, (Tensor, np.ndarray, np.generic)):
        try:
            arr = np.stack([np.asarray(s) for s in samples])
        except ValueError as e:
            raise ShapeError(f"DataLoader: cannot stack samples of different shapes ({e})") from None
    elif isinstance(first, bool):
        arr = np.array(samples, dtype=np.bool_)
    elif isinstance(first, int):
        arr = np.array(samples, dtype=np.int64)
    elif isinstance(first, float):
        arr = np.array(samples, dtype=np.float32)
    else:
        raise DTypeError(f"DataLoader: cannot batch samples of type {type(first).__name__}; return "
                        f"arrays, Tensors or numbers from __getitem__, or pass collate_fn=")
    return Tensor(arr)


class DataLoader:
    """Iterate over a dataset in batches of Tensors (``torch.utils.data.DataLoader``).

    - ``shuffle``: a new order every epoch (every ``iter()``); ``seed`` (or your own NumPy
      ``generator``) makes the sequence of orders reproducible; with neither, the library's
      generator (``tinygrad_ko.manual_seed``) is used.
    - ``drop_last``: skip the last batch when it is smaller than ``batch_size``.
    - ``collate_fn``: turns a list of samples into a batch (default ``default_collate``).

    A ``TensorDataset`` is batched with one fancy index per array, with no per-sample Python loop.
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None,
                 generator: np.random.Generator | None = None,
                 collate_fn: Callable[[list[Any]], Any] | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise OpError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if seed is not None and generator is not None:
            raise OpError("DataLoader: give either seed or generator, not both")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.generator = np.random.default_rng(seed) if seed is not None else generator

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        if self.generator is not None:
            return self.generator.permutation(n)
        import tinygrad_ko   # late: manual_seed() replaces the library's generator object
        return tinygrad_ko.default_generator().permutation(n)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()    # drawn when iteration starts: each epoch gets a fresh order
        # the fast path is only right when __getitem__ is TensorDataset's own (a subclass may
        # transform samples) and the default collate is wanted
        fast = (isinstance(self.dataset, TensorDataset) and self.collate_fn is None
                and type(self.dataset).__getitem__ is TensorDataset.__getitem__)
        collate = self.collate_fn or default_collate
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            if fast:
                # fancy indexing copies, so changing a batch in place never changes the dataset
                yield tuple(Tensor(a[like(idx, a)]) for a in self.dataset.arrays)
            else:
                yield collate([self.dataset[int(j)] for j in idx])

    def __repr__(self) -> str:
        return (f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, {len(self)} batches)")
