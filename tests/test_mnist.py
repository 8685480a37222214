"""The MNIST loader: the IDX reader on small files written here, the search order, and the real
files when $TINYGRAD_KO_DATA (or ../shared/datasets) has them. No test here touches the network:
each one either finds its files or passes download=False."""
import gzip
import os

import numpy as np
import pytest

import tinygrad_ko as tg
from conftest import DATASETS
from tinygrad_ko.data import (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, MNIST, DataLoader, load_mnist,
                              mnist_datasets, read_idx)
from tinygrad_ko.errors import DataError

MNIST_DIR = os.path.join(DATASETS, "mnist")
NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def idx_bytes(arr, magic=None):
    arr = np.asarray(arr, dtype=np.uint8)
    magic = (0x0800 | arr.ndim) if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return header + arr.tobytes()


def write_idx(path, arr, magic=None, gz=True, cut=0):
    """An IDX file (gzip-compressed when gz), with the last `cut` bytes missing."""
    data = idx_bytes(arr, magic)
    data = data[:len(data) - cut]
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_small_mnist(d, n_train=6, n_test=4, gz=True, seed=0):
    """Four small MNIST-format files (28x28, like the real ones) in d; returns the arrays."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) + seed) % 10
        for name, arr in zip(NAMES[prefix], (images, labels)):
            write_idx(d / (name + (".gz" if gz else "")), arr, gz=gz)
        out[prefix] = (images, labels)
    return out


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No $TINYGRAD_KO_DATA and an empty cache in tmp_path: only what a test writes is found."""
    monkeypatch.delenv("TINYGRAD_KO_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


# -- the IDX reader --------------------------------------------------------------------------------
def test_read_idx_gzip_and_raw(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    a = read_idx(write_idx(tmp_path / "a.gz", images), IDX_IMAGES_MAGIC)
    b = read_idx(write_idx(tmp_path / "b", images, gz=False), IDX_IMAGES_MAGIC)
    np.testing.assert_array_equal(a, images)
    np.testing.assert_array_equal(b, images)
    labels = read_idx(write_idx(tmp_path / "l", [3, 1, 4], gz=False), IDX_LABELS_MAGIC)
    assert labels.tolist() == [3, 1, 4] and labels.dtype == np.uint8


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_payload_names_file_and_sizes(tmp_path, gz):
    path = write_idx(tmp_path / "imgs", np.zeros((3, 28, 28), np.uint8), gz=gz, cut=10)
    expected = 16 + 3 * 28 * 28
    with pytest.raises(DataError, match=rf"imgs is truncated.*{expected} bytes.*{expected - 10}"):
        read_idx(path, IDX_IMAGES_MAGIC)


def test_too_long_and_shorter_than_header(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes([1, 2, 3]) + b"\0")
    with pytest.raises(DataError, match="too long"):
        read_idx(path, IDX_LABELS_MAGIC)
    path.write_bytes(b"\0\0\x08\x01\0\0")
    with pytest.raises(DataError, match="6 bytes, shorter than its 8-byte IDX header"):
        read_idx(path, IDX_LABELS_MAGIC)


def test_truncated_gzip_stream(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(5000) % 256))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match="cut.gz is a truncated or corrupted gzip file"):
        read_idx(path, IDX_LABELS_MAGIC)


def test_wrong_magic(tmp_path):
    path = write_idx(tmp_path / "labels", [1, 2, 3])   # a label file where images are expected
    with pytest.raises(DataError, match="magic number 0x00000801, expected 0x00000803"):
        read_idx(path, IDX_IMAGES_MAGIC)


def test_checksum_checked_unless_verify_false(isolated):
    d = isolated / "mine"
    write_small_mnist(d)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz has SHA-256 .*verify=False"):
        load_mnist(data_dir=d, download=False)
    (x, _), _ = load_mnist(data_dir=d, download=False, verify=False)
    assert x.shape == (6, 784)


# -- load_mnist on small files ---------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_variants_on_small_files(isolated, gz):
    d = isolated / "mine"
    arrays = write_small_mnist(d, gz=gz)
    kw = {"data_dir": d, "download": False, "verify": False}
    (x, t), (xt, _) = load_mnist(**kw)
    assert x.shape == (6, 784) and x.dtype == np.float32 and xt.shape == (4, 784)
    np.testing.assert_allclose(x * 255, arrays["train"][0].reshape(6, -1), atol=1e-4)
    assert t.dtype == np.int64 and t.tolist() == arrays["train"][1].tolist()
    (x, t), _ = load_mnist(normalize=False, flatten=False, one_hot_label=True, **kw)
    assert x.shape == (6, 1, 28, 28) and x.dtype == np.uint8 and x.flags.writeable
    np.testing.assert_array_equal(x[:, 0], arrays["train"][0])
    assert t.shape == (6, 10) and t.dtype == np.float32
    np.testing.assert_array_equal(t.argmax(1), arrays["train"][1])
    assert t.sum() == 6


def test_images_and_labels_must_match(isolated):
    d = isolated / "mine"
    write_small_mnist(d)
    write_idx(d / "train-labels-idx1-ubyte.gz", [1, 2])
    with pytest.raises(DataError, match="6 images but 2 labels"):
        load_mnist(data_dir=d, download=False, verify=False)


def test_one_hot_needs_digit_labels(isolated):
    d = isolated / "mine"
    write_small_mnist(d)
    write_idx(d / "train-labels-idx1-ubyte.gz", [1, 2, 3, 4, 5, 12])
    with pytest.raises(DataError, match="labels 0..9, found 12"):
        load_mnist(one_hot_label=True, data_dir=d, download=False, verify=False)


def test_search_order_data_dir_then_env_subdir_then_env_then_cache(isolated, monkeypatch):
    # every location holds a different "MNIST" (labels start at its seed): which one was read?
    explicit, env = isolated / "explicit", isolated / "env"
    cache = isolated / "cache" / "tinygrad_ko" / "mnist"
    for seed, d in enumerate([explicit, env / "mnist", env, cache], start=1):
        write_small_mnist(d, seed=seed)
    monkeypatch.setenv("TINYGRAD_KO_DATA", str(env))

    def first_label(**kw):
        return load_mnist(download=False, verify=False, **kw)[0][1][0]

    assert first_label(data_dir=explicit) == 1
    assert first_label() == 2
    for p in (env / "mnist").iterdir():
        p.unlink()
    assert first_label() == 3
    monkeypatch.delenv("TINYGRAD_KO_DATA")
    assert first_label() == 4


def test_missing_with_download_false_says_where(isolated):
    with pytest.raises(DataError) as e:
        load_mnist(data_dir=isolated / "empty", download=False, mirrors=["http://127.0.0.1:9/x/"])
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz not found in" in msg and str(isolated / "empty") in msg
    assert str(isolated / "cache" / "tinygrad_ko" / "mnist") in msg
    assert "http://127.0.0.1:9/x/train-images-idx3-ubyte.gz" in msg and "data_dir=" in msg


def test_mnist_dataset_on_small_files(isolated):
    d = isolated / "mine"
    arrays = write_small_mnist(d)
    train, test = mnist_datasets(data_dir=d, download=False, verify=False, flatten=False)
    assert len(train) == 6 and len(test) == 4 and train.train and not test.train
    assert train.data.shape == (6, 1, 28, 28) and train.targets.dtype == np.int64
    x0, t0 = train[0]
    assert isinstance(x0, tg.Tensor) and x0.shape == (1, 28, 28) and t0.item() == arrays["train"][1][0]
    xb, tb = list(DataLoader(test, batch_size=3))[-1]
    assert xb.shape == (1, 1, 28, 28) and xb.dtype == np.float32 and tb.tolist() == [3]


# -- the real files --------------------------------------------------------------------------------
def _need_real():
    if not all(os.path.isfile(os.path.join(MNIST_DIR, n + ".gz")) for p in NAMES for n in NAMES[p]):
        pytest.skip(f"MNIST files not found at {MNIST_DIR}: set TINYGRAD_KO_DATA")


@pytest.fixture(scope="module")
def real():
    _need_real()
    return load_mnist(data_dir=MNIST_DIR, download=False)


TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist_default(real):
    (x, t), (xt, tt) = real
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    assert x.dtype == np.float32 and xt.dtype == np.float32
    assert t.shape == (60000,) and tt.shape == (10000,) and t.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0 and xt.min() == 0.0 and xt.max() == 1.0
    assert t[:5].tolist() == [5, 0, 4, 1, 9] and tt[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(t).tolist() == TRAIN_COUNTS and np.bincount(tt).tolist() == TEST_COUNTS


def test_real_mnist_raw_unflattened_one_hot(real):
    (x, t), (xt, tt) = load_mnist(normalize=False, flatten=False, one_hot_label=True,
                                  data_dir=MNIST_DIR, download=False)
    assert x.shape == (60000, 1, 28, 28) and xt.shape == (10000, 1, 28, 28) and x.dtype == np.uint8
    assert x.max() == 255 and x.min() == 0
    np.testing.assert_array_equal(x[:500].reshape(500, 784) / np.float32(255), real[0][0][:500])
    assert t.shape == (60000, 10) and t.dtype == np.float32 and tt.shape == (10000, 10)
    np.testing.assert_array_equal(t.argmax(1), real[0][1])
    np.testing.assert_array_equal(t.sum(1), 1)


def test_real_mnist_through_env_var_and_dataset(real, monkeypatch, tmp_path):
    monkeypatch.setenv("TINYGRAD_KO_DATA", os.path.dirname(MNIST_DIR))   # finds <it>/mnist
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    test = MNIST(train=False, download=False)
    assert len(test) == 10000 and test.targets[:5].tolist() == [7, 2, 1, 0, 4]
    np.testing.assert_array_equal(test.data, real[1][0])
    loader = DataLoader(test, batch_size=1000, shuffle=True, seed=0)
    counts = sum(np.bincount(tb.numpy(), minlength=10) for _, tb in loader)
    assert len(loader) == 10 and counts.tolist() == TEST_COUNTS
