"""MNIST: the book's ``load_mnist`` (NumPy arrays) and a ``MNIST`` dataset for ``DataLoader``.

>>> (x_train, t_train), (x_test, t_test) = load_mnist()       # doctest: +SKIP
>>> x_train.shape, x_train.dtype, t_train[:5]                  # doctest: +SKIP
((60000, 784), dtype('float32'), array([5, 0, 4, 1, 9]))

Files are looked for in ``data_dir``, ``$TINYGRAD_KO_DATA/mnist``, ``$TINYGRAD_KO_DATA`` and
``~/.cache/tinygrad_ko/mnist`` (see ``download.py``), as ``name.gz`` or unpacked ``name``, and
downloaded into the cache when missing. Every file's content is checked against its SHA-256.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np

from ..errors import DataError
from .dataset import TensorDataset
from .download import describe_dirs, download_file, find_file, open_maybe_gzip, search_dirs

# SHA-256 of the decompressed IDX files (the .gz wrappers differ between mirrors; the content does not)
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# tried in order; each serves "<mirror><name>.gz"
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
IDX_IMAGES_MAGIC = 0x00000803   # uint8 data, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801   # uint8 data, 1 dimension

PathLike = str | os.PathLike[str]


def read_idx(path: PathLike, magic: int, sha256: str | None = None) -> np.ndarray:
    """Read one uint8 IDX file (gzip or raw) into an array, checking everything that can be wrong.

    ``magic`` is the expected header (``IDX_IMAGES_MAGIC`` or ``IDX_LABELS_MAGIC``); ``sha256``,
    when given, must match the decompressed bytes.
    """
    try:
        with open_maybe_gzip(path) as f:
            buf = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"MNIST file {path} is a truncated or corrupted gzip file ({e}); "
                        f"delete it and download it again") from None
    ndim = magic & 0xFF
    header = 4 * (1 + ndim)
    got_magic = int.from_bytes(buf[:4], "big")
    if len(buf) >= 4 and got_magic != magic:
        raise DataError(f"MNIST file {path} has magic number 0x{got_magic:08x}, expected "
                        f"0x{magic:08x}: it is not an IDX {'image' if ndim == 3 else 'label'} file")
    if len(buf) < header:
        raise DataError(f"MNIST file {path} is truncated: {len(buf)} bytes, shorter than its "
                        f"{header}-byte IDX header")
    dims = tuple(int.from_bytes(buf[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(dims)
    if len(buf) != expected:
        what = "truncated" if len(buf) < expected else "too long"
        raise DataError(f"MNIST file {path} is {what}: its header says {dims} so it should have "
                        f"{expected} bytes (decompressed), it has {len(buf)}")
    if sha256 is not None:
        got = hashlib.sha256(buf).hexdigest()
        if got != sha256:
            raise DataError(f"MNIST file {path} has SHA-256 {got}, expected {sha256}: it is "
                            f"corrupted or not the original MNIST. Delete it (it will be downloaded "
                            f"again), or pass verify=False to load your own files in MNIST format")
    return np.frombuffer(buf, dtype=np.uint8, offset=header).reshape(dims)


def mnist_file(name: str, data_dir: PathLike | None = None, download: bool = True,
               mirrors: Sequence[str] | None = None, progress: bool = True) -> Path:
    """Path of one MNIST file (``name`` without ``.gz``), downloading it into the cache if missing."""
    dirs = search_dirs("mnist", data_dir)
    found = find_file([name + ".gz", name], dirs)
    if found is not None:
        return found
    mirrors = MNIST_MIRRORS if mirrors is None else tuple(mirrors)
    urls = [m.rstrip("/") + "/" + name + ".gz" for m in mirrors]
    where = (f"download it from {' or '.join(urls) or 'an MNIST mirror'} and put it in one of "
             f"those directories, or pass data_dir=")
    if not download:
        raise DataError(f"MNIST file {name}.gz not found in {describe_dirs(dirs)} and download=False: "
                        f"{where}")
    try:
        return download_file(urls, dirs[-1] / (name + ".gz"), MNIST_FILES.get(name), progress=progress)
    except DataError as e:
        raise DataError(f"MNIST file {name}.gz not found in {describe_dirs(dirs)}, and downloading "
                        f"failed (offline?): {where}\n{e}") from None


def _load_split(prefix: str, data_dir: PathLike | None, download: bool, verify: bool,
                mirrors: Sequence[str] | None, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Raw (images (N, rows, cols) uint8, labels (N,) uint8) of "train" or "t10k"."""
    arrays = []
    for kind, magic in (("images-idx3", IDX_IMAGES_MAGIC), ("labels-idx1", IDX_LABELS_MAGIC)):
        name = f"{prefix}-{kind}-ubyte"
        path = mnist_file(name, data_dir, download, mirrors, progress)
        arrays.append(read_idx(path, magic, MNIST_FILES[name] if verify else None))
    images, labels = arrays
    if len(images) != len(labels):
        raise DataError(f"MNIST {prefix}: {len(images)} images but {len(labels)} labels")
    return images, labels


def _convert(images: np.ndarray, labels: np.ndarray, normalize: bool, flatten: bool,
             one_hot_label: bool) -> tuple[np.ndarray, np.ndarray]:
    x = images.reshape(len(images), -1) if flatten else images.reshape(len(images), 1, *images.shape[1:])
    if normalize:
        x = x.astype(np.float32)
        x /= 255.0              # in place: no second 188 MB float array
    else:
        x = x.copy()            # frombuffer arrays are read-only; give the user an ordinary array
    if one_hot_label:
        if labels.size and labels.max() > 9:
            raise DataError(f"one_hot_label=True needs labels 0..9, found {labels.max()}")
        t = np.zeros((len(labels), 10), dtype=np.float32)
        t[np.arange(len(labels)), labels] = 1.0
    else:
        t = labels.astype(np.int64)
    return x, t


def load_mnist(normalize: bool = True, flatten: bool = True, one_hot_label: bool = False, *,
               data_dir: PathLike | None = None, download: bool = True, verify: bool = True,
               mirrors: Sequence[str] | None = None, progress: bool = True,
               ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """MNIST as in the book: ``((x_train, t_train), (x_test, t_test))``, NumPy arrays.

    - ``normalize``: images float32 in [0, 1] (else uint8 0..255);
    - ``flatten``: images (N, 784) (else (N, 1, 28, 28));
    - ``one_hot_label``: labels (N, 10) float32 one-hot (else (N,) int64).

    ``data_dir`` is searched first; ``download=False`` never touches the network; ``verify=False``
    skips the SHA-256 check (for your own files in MNIST's format, e.g. Fashion-MNIST);
    ``mirrors`` replaces ``MNIST_MIRRORS``. Raises ``DataError`` for missing or bad files.
    """
    out = []
    for prefix in ("train", "t10k"):
        images, labels = _load_split(prefix, data_dir, download, verify, mirrors, progress)
        out.append(_convert(images, labels, normalize, flatten, one_hot_label))
    return out[0], out[1]


class MNIST(TensorDataset):
    """MNIST as a ``Dataset`` of ``(image, label)`` for ``DataLoader`` (torchvision's name; its
    ``root`` is our ``data_dir``). ``data`` and ``targets`` hold the whole split as arrays; the
    other arguments are ``load_mnist``'s.

    >>> loader = DataLoader(MNIST(train=True), batch_size=100, shuffle=True)   # doctest: +SKIP
    """
    classes: ClassVar[list[str]] = [str(i) for i in range(10)]

    def __init__(self, train: bool = True, *, normalize: bool = True, flatten: bool = True,
                 one_hot_label: bool = False, data_dir: PathLike | None = None,
                 download: bool = True, verify: bool = True, mirrors: Sequence[str] | None = None,
                 progress: bool = True) -> None:
        images, labels = _load_split("train" if train else "t10k", data_dir, download, verify,
                                     mirrors, progress)
        x, t = _convert(images, labels, normalize, flatten, one_hot_label)
        super().__init__(x, t)
        self.train = train
        self.data, self.targets = x, t

    def __repr__(self) -> str:
        return f"MNIST(train={self.train}, {len(self)} samples, images {self.data.shape[1:]})"


def mnist_datasets(**kwargs: object) -> tuple[MNIST, MNIST]:
    """``(train, test)`` MNIST datasets; keyword arguments as ``MNIST`` (``normalize``, ...)."""
    return MNIST(train=True, **kwargs), MNIST(train=False, **kwargs)  # type: ignore[arg-type]
