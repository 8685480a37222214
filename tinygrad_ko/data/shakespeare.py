"""Tiny Shakespeare (karpathy/char-rnn's ``data/tinyshakespeare/input.txt``, 1,115,394 characters)
for character-level language models: the text, a character vocabulary, the usual 90% / 10%
train / validation split and a sampler of random windows.

>>> ds = CharDataset("train", block_size=64)                       # doctest: +SKIP
>>> x, y = ds.get_batch(32)         # (32, 64) int64 each; y is x shifted by one character
>>> ds.vocab.decode(x[0].numpy())[:20]                             # doctest: +SKIP

The file is looked for in ``data_dir``, ``$TINYGRAD_KO_DATA/tinyshakespeare``, ``$TINYGRAD_KO_DATA``
and ``~/.cache/tinygrad_ko/tinyshakespeare``, and downloaded into the cache when missing
(checked against its SHA-256, moved into place only when complete: see ``download.py``).
"""
from __future__ import annotations

import hashlib
import os
from typing import Sequence

import numpy as np

from ..errors import DataError, IndexOutOfRangeError, OpError
from ..tensor import Tensor
from .dataset import Dataset
from .download import describe_dirs, download_file, find_file, search_dirs

SHAKESPEARE_FILE = "input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SHAKESPEARE_URLS: tuple[str, ...] = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
)

PathLike = str | os.PathLike[str]


def load_tiny_shakespeare(data_dir: PathLike | None = None, download: bool = True,
                          verify: bool = True, urls: Sequence[str] | None = None,
                          progress: bool = True) -> str:
    """The whole text as one string. ``download=False`` never touches the network; ``verify=False``
    skips the SHA-256 check (for another text in the same place). Raises ``DataError``."""
    dirs = search_dirs("tinyshakespeare", data_dir)
    path = find_file([SHAKESPEARE_FILE], dirs)
    if path is None:
        urls = SHAKESPEARE_URLS if urls is None else tuple(urls)
        where = (f"download {' or '.join(urls) or 'input.txt'} into one of those directories, or "
                 f"pass data_dir=")
        if not download:
            raise DataError(f"Tiny Shakespeare ({SHAKESPEARE_FILE}) not found in "
                            f"{describe_dirs(dirs)} and download=False: {where}")
        try:
            path = download_file(urls, dirs[-1] / SHAKESPEARE_FILE,
                                 SHAKESPEARE_SHA256 if verify else None, progress=progress)
        except DataError as e:
            raise DataError(f"Tiny Shakespeare ({SHAKESPEARE_FILE}) not found in "
                            f"{describe_dirs(dirs)}, and downloading failed (offline?): "
                            f"{where}\n{e}") from None
    raw = path.read_bytes()
    if verify:
        got = hashlib.sha256(raw).hexdigest()
        if got != SHAKESPEARE_SHA256:
            raise DataError(f"{path} has SHA-256 {got}, expected {SHAKESPEARE_SHA256}: it is not "
                            f"the original Tiny Shakespeare (delete it to download it again, or "
                            f"pass verify=False to use your own text)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e})") from None


class CharVocab:
    """The sorted set of characters of a text: ``encode`` maps a string to int64 ids,
    ``decode`` ids back to a string (the book's ``char_to_id`` / ``id_to_char``)."""

    def __init__(self, text: str) -> None:
        if not text:
            raise DataError("CharVocab: the text is empty")
        self.chars: list[str] = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        # code point -> id, for encoding a long text with one NumPy lookup instead of a Python loop
        codes = np.array([ord(c) for c in self.chars])
        self._table = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
        self._table[codes] = np.arange(len(codes))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """int64 ids of the characters of ``text``; a character outside the vocabulary raises."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        ids = np.full(codes.shape, -1, dtype=np.int64)
        inside = codes < len(self._table)
        ids[inside] = self._table[codes[inside]]
        if (ids < 0).any():
            bad = text[int(np.argmax(ids < 0))]
            raise IndexOutOfRangeError(f"CharVocab.encode: the character {bad!r} is not in the "
                                       f"vocabulary of {len(self)} characters")
        return ids

    def decode(self, ids: Sequence[int] | np.ndarray | Tensor) -> str:
        """The string of the given ids."""
        arr = np.asarray(ids._data if isinstance(ids, Tensor) else ids).reshape(-1)
        if arr.size and (arr.min() < 0 or arr.max() >= len(self)):
            raise IndexOutOfRangeError(f"CharVocab.decode: ids must be in [0, {len(self)}), got "
                                       f"{arr.min()}..{arr.max()}")
        return "".join(self.chars[i] for i in arr.tolist())

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} characters)"


class CharDataset(Dataset):
    """Windows of ``block_size`` characters of one split of a text: ``ds[i] == (x, y)`` with
    x = ids[i : i + block_size] and y = ids[i + 1 : i + block_size + 1] (the next characters).

    ``split``: "train" (the first ``train_fraction`` of the text, 90% by default), "val" (the
    rest) or "all". ``text`` defaults to Tiny Shakespeare (``load_tiny_shakespeare``, with
    ``data_dir`` and ``download``); the vocabulary is built from the whole text, so both splits
    share it. ``get_batch`` samples random windows, the usual way to train a language model."""

    def __init__(self, split: str = "train", block_size: int = 64, *, text: str | None = None,
                 train_fraction: float = 0.9, data_dir: PathLike | None = None,
                 download: bool = True) -> None:
        if split not in ("train", "val", "all"):
            raise OpError(f"CharDataset: split must be 'train', 'val' or 'all', got {split!r}")
        if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) \
                or block_size < 1:
            raise OpError(f"CharDataset: block_size must be a positive integer, got {block_size!r}")
        if not 0.0 < train_fraction < 1.0:
            raise OpError(f"CharDataset: train_fraction must be in (0, 1), got {train_fraction}")
        if text is None:
            text = load_tiny_shakespeare(data_dir, download)
        self.vocab = CharVocab(text)
        ids = self.vocab.encode(text)
        cut = int(len(ids) * train_fraction)
        self.data = {"train": ids[:cut], "val": ids[cut:], "all": ids}[split]
        self.split, self.block_size = split, int(block_size)
        if len(self.data) < self.block_size + 1:
            raise DataError(f"CharDataset: the {split} split has {len(self.data)} characters, "
                            f"fewer than block_size + 1 = {self.block_size + 1}")

    def __len__(self) -> int:
        return len(self.data) - self.block_size

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        n = len(self)
        if not -n <= index < n:
            raise IndexOutOfRangeError(f"CharDataset: index {index} out of range for {n} windows")
        i = index % n
        return Tensor(self.data[i:i + self.block_size]), \
            Tensor(self.data[i + 1:i + 1 + self.block_size])

    def get_batch(self, batch_size: int, generator: np.random.Generator | None = None
                  ) -> tuple[Tensor, Tensor]:
        """``batch_size`` windows at random starts: (x, y), each (batch_size, block_size) int64."""
        if generator is None:
            import tinygrad_ko   # late: manual_seed() replaces the library's generator object
            generator = tinygrad_ko.default_generator()
        starts = generator.integers(0, len(self), size=int(batch_size))
        rows = starts[:, None] + np.arange(self.block_size)   # one gather, no Python loop
        return Tensor(self.data[rows]), Tensor(self.data[rows + 1])

    def __repr__(self) -> str:
        return (f"CharDataset({self.split!r}, {len(self.data):,} characters, "
                f"block_size={self.block_size}, vocab {len(self.vocab)})")


__all__ = ["load_tiny_shakespeare", "CharVocab", "CharDataset", "SHAKESPEARE_FILE",
           "SHAKESPEARE_SHA256", "SHAKESPEARE_URLS"]
