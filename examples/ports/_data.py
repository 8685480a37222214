"""What the ports share and that is no part of their PyTorch code: choosing the library, and the
data (MNIST read from its IDX files, the two moons), as NumPy arrays that each library wraps in its
own TensorDataset. It imports neither library."""
from __future__ import annotations

import argparse
import gzip
import os
import struct
import sys
from pathlib import Path

import numpy as np

LIBS = ("tinygrad_ko", "torch")
MNIST_FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def choose_lib(argv: list[str] | None = None) -> str:
    """``--lib torch|tinygrad_ko`` on the command line, else $PORT_LIB, else tinygrad_ko."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--lib", choices=LIBS, default=os.environ.get("PORT_LIB", "tinygrad_ko"))
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return args.lib


def add_common_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every port has: the library, and a way to run it in seconds."""
    parser.add_argument("--lib", choices=LIBS, default=os.environ.get("PORT_LIB", "tinygrad_ko"),
                        help="run the PyTorch code with torch or with tinygrad_ko (default)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="use only the first N training examples (and N test examples)")
    return parser


def mnist_dir() -> Path:
    root = os.environ.get("TINYGRAD_KO_DATA",
                          str(Path(__file__).resolve().parents[3] / "shared" / "datasets"))
    return Path(root) / "mnist"


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (raw or .gz) of unsigned bytes as an array of its shape."""
    for candidate in (path, path.with_name(path.name + ".gz")):
        if candidate.exists():
            opener = gzip.open if candidate.suffix == ".gz" else open
            with opener(candidate, "rb") as f:
                data = f.read()
            break
    else:
        sys.exit(f"{path}(.gz) not found: set TINYGRAD_KO_DATA to the folder that holds mnist/")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def mnist(train: bool, limit: int | None = None, flatten: bool = False,
          normalize: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST as (images float32 of shape (N, 1, 28, 28) or (N, 784), scaled to [0, 1] as
    torchvision's ToTensor, then (x - mean) / std if ``normalize``; labels int64)."""
    images, labels = (_read_idx(mnist_dir() / name) for name in MNIST_FILES[train])
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = images.astype(np.float32) / 255.0
    if normalize is not None:
        x = (x - normalize[0]) / normalize[1]
    x = x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, 28, 28)
    return x, labels.astype(np.int64)


def make_moons(n_samples: int = 100, noise: float = 0.1, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's make_moons: two interleaving half circles, with Gaussian noise."""
    rng = np.random.default_rng(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    outer, inner = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    x = np.concatenate([np.stack([np.cos(outer), np.sin(outer)], axis=1),
                        np.stack([1 - np.cos(inner), 1 - np.sin(inner) - 0.5], axis=1)])
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    x = x + rng.normal(scale=noise, size=x.shape)
    order = rng.permutation(n_samples)
    return x[order].astype(np.float32), y[order]
