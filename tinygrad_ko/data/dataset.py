"""``Dataset``, ``TensorDataset``, ``Subset``, ``random_split`` and ``DataLoader``, as in
``torch.utils.data`` (also importable as ``tinygrad_ko.utils.data``).

>>> ds = TensorDataset(np.zeros((10, 3), np.float32), np.arange(10))
>>> loader = DataLoader(ds, batch_size=4, shuffle=True, seed=0)
>>> [tuple(x.shape) for x, t in loader], len(loader)
([(4, 3), (4, 3), (2, 3)], 3)
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from ..errors import DTypeError, IndexOutOfRangeError, OpError, ShapeError, UsageError
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
    """Samples are rows of the given tensors: ``ds[i] == (a[i], b[i], ...)`` as tensors.

    Tensors (as PyTorch), NumPy arrays or nested lists (converted like ``Tensor()``) keep their
    dtype.
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


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order: ``Subset(ds, [4, 0])[1] ==
    ds[0]``. ``random_split`` makes these."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        idx = np.asarray(indices._data if isinstance(indices, Tensor) else indices)
        if idx.size == 0:
            idx = idx.astype(np.int64)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise UsageError(f"Subset: indices must be a 1-d sequence of ints, got {indices!r}")
        n = len(dataset)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexOutOfRangeError(f"Subset: an index is out of range for a dataset of {n} "
                                       f"samples (indices from {idx.min()} to {idx.max()})")
        self.dataset = dataset
        self.indices = [int(i) for i in idx]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (list, np.ndarray)):
            return [self.dataset[self.indices[int(i)]] for i in index]
        return self.dataset[self.indices[index]]

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {len(self.dataset)} samples)"


def random_split(dataset: Any, lengths: Sequence[float],
                 generator: np.random.Generator | None = None) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping ``Subset``s of the given lengths: ints
    that add up to ``len(dataset)``, or fractions that add up to 1 (as PyTorch >= 1.13: each
    gets floor(n * fraction) samples, and what is left over goes one each to the first splits).

    ``generator`` (a NumPy Generator) makes the split repeatable; without one the library's
    generator is used (``tinygrad_ko.manual_seed``). PyTorch's generator draws other numbers:
    the same seed gives another split than in PyTorch."""
    n = len(dataset)
    try:
        lengths = list(lengths)
        total = sum(lengths)
    except TypeError:
        raise UsageError(f"random_split: lengths must be a list of ints or fractions, got "
                         f"{lengths!r}") from None
    if all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in lengths) \
            and total == n and all(x >= 0 for x in lengths):
        sizes = [int(x) for x in lengths]
    elif math.isclose(total, 1) and total <= 1 and all(0 <= x <= 1 for x in lengths):
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):       # the remainder, round-robin
            sizes[i % len(sizes)] += 1
    else:
        raise OpError(f"random_split: lengths {lengths} must be ints adding up to the dataset's "
                      f"{n} samples, or fractions adding up to 1")
    if generator is None:
        import tinygrad_ko   # late: manual_seed() replaces the library's generator object
        generator = tinygrad_ko.default_generator()
    order = generator.permutation(n)
    out, start = [], 0
    for size in sizes:
        out.append(Subset(dataset, order[start:start + size]))
        start += size
    return out


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
    """Iterate over a dataset in batches of Tensors (``torch.utils.data.DataLoader``, same
    arguments).

    - ``shuffle``: a new order every epoch (every ``iter()``); ``seed`` (or your own NumPy
      ``generator``) makes the sequence of orders reproducible; with neither, the library's
      generator (``tinygrad_ko.manual_seed``) is used.
    - ``sampler``: your own order of indices (any iterable with a length, drawn again each epoch),
      instead of ``shuffle``; ``batch_sampler``: your own batches of indices, instead of
      ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last``.
    - ``drop_last``: skip the last batch when it is smaller than ``batch_size``.
    - ``collate_fn``: turns a list of samples into a batch (default ``default_collate``).
    - ``num_workers``: accepted, and batches are always loaded in the main process: the same
      batches in the same order as PyTorch's workers would give, without the parallelism
      (NumPy datasets in memory rarely need it). ``pin_memory``, ``timeout``, ``prefetch_factor``
      and ``persistent_workers`` are accepted and do nothing (there is no GPU to pin memory for);
      ``worker_init_fn`` and ``multiprocessing_context`` need worker processes and are refused.

    A ``TensorDataset`` (or a ``Subset`` of one) is batched with one fancy index per array, with
    no per-sample Python loop.
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = False,
                 sampler: Iterable[int] | None = None,
                 batch_sampler: Iterable[Sequence[int]] | None = None, num_workers: int = 0,
                 collate_fn: Callable[[list[Any]], Any] | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: Any = None,
                 generator: np.random.Generator | None = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 seed: int | None = None) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) \
                or num_workers < 0:
            raise OpError(f"DataLoader: num_workers must be an int >= 0, got {num_workers!r}")
        if worker_init_fn is not None or multiprocessing_context is not None:
            raise UsageError("DataLoader: batches are loaded in the main process (there are no "
                             "worker processes), so worker_init_fn and multiprocessing_context "
                             "cannot be used; leave them out")
        if seed is not None and generator is not None:
            raise OpError("DataLoader: give either seed or generator, not both")
        shuffle = bool(shuffle)
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise OpError("DataLoader: batch_sampler is mutually exclusive with batch_size, "
                              "shuffle, sampler and drop_last")
            batch_size = None
        elif batch_size is None:
            raise OpError("DataLoader: batch_size=None (no batching) is not supported; give a "
                          "positive batch_size")
        elif isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise OpError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise OpError("DataLoader: sampler is mutually exclusive with shuffle (the sampler "
                          "gives the order)")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = shuffle
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)   # no-op: CPU only
        self.generator = np.random.default_rng(seed) if seed is not None else generator

    def __len__(self) -> int:
        """Number of batches per epoch."""
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        if self.generator is not None:
            return self.generator.permutation(n)
        import tinygrad_ko   # late: manual_seed() replaces the library's generator object
        return tinygrad_ko.default_generator().permutation(n)

    def _batches(self) -> Iterator[np.ndarray]:
        if self.batch_sampler is not None:
            for idx in self.batch_sampler:
                yield np.asarray([int(i) for i in idx], dtype=np.int64)
            return
        order = self._order()    # drawn when iteration starts: each epoch gets a fresh order
        bs = self.batch_size
        n = len(order) // bs if self.drop_last else -(-len(order) // bs)
        for i in range(n):
            yield order[i * bs:(i + 1) * bs]

    def _fast_arrays(self) -> tuple[tuple[np.ndarray, ...], np.ndarray | None] | None:
        """A TensorDataset's arrays (and a Subset's index map) when batches can be fancy
        indices: only when __getitem__ is TensorDataset's own (a subclass may transform
        samples) and the default collate is wanted."""
        if self.collate_fn is not None:
            return None
        ds, mapping = self.dataset, None
        while type(ds) is Subset:
            idx = np.asarray(ds.indices, dtype=np.int64)
            mapping = idx if mapping is None else idx[mapping]
            ds = ds.dataset
        if isinstance(ds, TensorDataset) and type(ds).__getitem__ is TensorDataset.__getitem__:
            return ds.arrays, mapping
        return None

    def __iter__(self) -> Iterator[Any]:
        fast = self._fast_arrays()
        collate = self.collate_fn or default_collate
        for idx in self._batches():
            if fast is not None:
                arrays, mapping = fast
                if mapping is not None:
                    idx = mapping[idx]
                # fancy indexing copies, so changing a batch in place never changes the dataset
                yield tuple(Tensor(a[like(idx, a)]) for a in arrays)
            else:
                yield collate([self.dataset[int(j)] for j in idx])

    def __repr__(self) -> str:
        return (f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, {len(self)} batches)")
