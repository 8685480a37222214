"""The "cat vs non-cat" images of Andrew Ng's Deep Learning course (week 2 and 4 assignments).

Same return values as the course's ``load_dataset()``::

    train_x, train_y, test_x, test_y, classes = load_catvnoncat()
    train_x.shape  # (209, 64, 64, 3) uint8      test_x.shape  # (50, 64, 64, 3) uint8
    train_y.shape  # (1, 209) int64 (a row!)     test_y.shape  # (1, 50)
    classes        # array([b'non-cat', b'cat'], dtype='|S7')

As in the course, flatten and scale yourself: ``train_x.reshape(len(train_x), -1).T / 255``.
Reading the HDF5 files needs h5py (``pip install h5py``). There is no stable public mirror, so
nothing is downloaded: put the two files in one of the searched directories (see ``download.py``).
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import DataError
from .download import describe_dirs, find_file, search_dirs

CATVNONCAT_FILES: tuple[str, str] = ("train_catvnoncat.h5", "test_catvnoncat.h5")


def _read(path: Any, prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        import h5py
    except ImportError:
        raise ImportError("load_catvnoncat needs h5py to read .h5 files: pip install h5py "
                          "(or pip install 'tinygrad_ko[examples]')") from None
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in (f"{prefix}_set_x", f"{prefix}_set_y", "list_classes") if k not in f]
            if missing:
                raise DataError(f"{path} has no dataset {', '.join(missing)} (it has "
                                f"{', '.join(f.keys()) or 'nothing'}): not a cat/non-cat file")
            x = np.asarray(f[f"{prefix}_set_x"][:])
            y = np.asarray(f[f"{prefix}_set_y"][:])
            classes = np.asarray(f["list_classes"][:])
    except OSError as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"cannot read {path}: {e} (truncated or not an HDF5 file?)") from None
    if x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
        raise DataError(f"{path}: expected {prefix}_set_x (m, height, width, 3) and {prefix}_set_y "
                        f"(m,), got shapes {x.shape} and {y.shape}")
    return x, y.reshape(1, -1), classes   # y as a (1, m) row, as the course's load_dataset


def load_catvnoncat(data_dir: str | os.PathLike[str] | None = None,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(train_x, train_y, test_x, test_y, classes)`` exactly like the course's ``load_dataset``.

    x: (m, 64, 64, 3) uint8; y: (1, m) int64 (0 non-cat, 1 cat); classes: ``[b'non-cat', b'cat']``.
    Searches ``data_dir``, ``$TINYGRAD_KO_DATA/catvnoncat``, ``$TINYGRAD_KO_DATA`` and
    ``~/.cache/tinygrad_ko/catvnoncat``; raises ``DataError`` if the files are missing or bad.
    """
    dirs = search_dirs("catvnoncat", data_dir)
    paths = []
    for fname in CATVNONCAT_FILES:
        path = find_file([fname], dirs)
        if path is None:
            raise DataError(
                f"cat/non-cat file {fname} not found in {describe_dirs(dirs)}. It is not "
                f"downloaded automatically (no stable public mirror). Where it comes from: "
                f"Coursera's Deep Learning Specialization, course 1 (Neural Networks and Deep "
                f"Learning), week 2 programming assignment 'Logistic Regression with a Neural "
                f"Network mindset'; in its notebook, File > Open... shows the folder 'datasets' "
                f"with train_catvnoncat.h5 and test_catvnoncat.h5 (the week 4 assignment has "
                f"them too). Download both and put them in {dirs[-1]} "
                f"(mkdir -p {dirs[-1]}), or set $TINYGRAD_KO_DATA to their folder, or pass "
                f"load_catvnoncat(data_dir=...)")
        paths.append(path)
    train_x, train_y, classes = _read(paths[0], "train")
    test_x, test_y, _ = _read(paths[1], "test")
    return train_x, train_y, test_x, test_y, classes
