"""Tiny Shakespeare: finding, downloading (checksum, atomic rename), vocabulary and windows."""
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import DATASETS
from tinygrad_ko.data import CharDataset, CharVocab, load_tiny_shakespeare
from tinygrad_ko.data.shakespeare import SHAKESPEARE_SHA256
from tinygrad_ko.errors import DataError, IndexOutOfRangeError, OpError

HAVE_TEXT = os.path.exists(os.path.join(DATASETS, "tinyshakespeare", "input.txt"))
needs_text = pytest.mark.skipif(not HAVE_TEXT, reason=f"tinyshakespeare/input.txt not found at "
                                                      f"{DATASETS}: set TINYGRAD_KO_DATA")


@pytest.fixture
def no_env(tmp_path, monkeypatch):
    """No $TINYGRAD_KO_DATA and an empty cache: only what the test puts somewhere is found."""
    monkeypatch.delenv("TINYGRAD_KO_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


@needs_text
def test_the_real_text():
    text = load_tiny_shakespeare()
    assert len(text) == 1_115_394 and text.startswith("First Citizen:")
    train, val = CharDataset("train"), CharDataset("val")
    assert len(train.vocab) == 65 and len(train.data) + len(val.data) == 1_115_394
    assert len(train.data) == int(1_115_394 * 0.9)


def test_download_checks_the_sha_and_moves_into_place(no_env):
    src = no_env / "served.txt"
    src.write_text("to be or not to be\n")
    url = src.as_uri()
    with pytest.raises(DataError, match="wrong SHA-256"):
        load_tiny_shakespeare(urls=[url], progress=False)
    cache = no_env / "cache" / "tinygrad_ko" / "tinyshakespeare"
    assert not any(cache.iterdir())                       # nothing half-written left behind
    text = load_tiny_shakespeare(urls=[url], verify=False, progress=False)
    assert text == "to be or not to be\n" and (cache / "input.txt").is_file()
    with pytest.raises(DataError, match="not the original"):   # found now, but not the original
        load_tiny_shakespeare()


def test_missing_file_without_download(no_env):
    with pytest.raises(DataError, match="not found .* download=False"):
        load_tiny_shakespeare(download=False)


def test_data_dir_and_sha(no_env):
    (no_env / "mine").mkdir()
    (no_env / "mine" / "input.txt").write_text("abc")
    assert load_tiny_shakespeare(no_env / "mine", verify=False) == "abc"
    assert hashlib.sha256(b"abc").hexdigest() != SHAKESPEARE_SHA256


def test_vocab_round_trip_and_errors():
    v = CharVocab("hello world\n")
    assert len(v) == 9 and v.chars[0] == "\n"
    ids = v.encode("hold")
    assert ids.dtype == np.int64 and v.decode(ids) == "hold"
    with pytest.raises(IndexOutOfRangeError, match="'z'"):
        v.encode("hez")
    with pytest.raises(IndexOutOfRangeError):
        v.decode([0, 9])
    assert CharVocab("é한").decode(CharVocab("é한").encode("한é")) == "한é"


def test_windows_and_batches():
    text = "".join(chr(97 + i % 26) for i in range(1000))
    ds = CharDataset("train", 8, text=text)
    assert len(ds.data) == 900 and len(ds) == 892
    x, y = ds[3]
    np.testing.assert_array_equal(y.numpy()[:-1], x.numpy()[1:])
    g1, g2 = np.random.default_rng(0), np.random.default_rng(0)
    xb, yb = ds.get_batch(5, g1)
    assert xb.shape == yb.shape == (5, 8) and xb.dtype == np.int64
    np.testing.assert_array_equal(yb.numpy()[:, :-1], xb.numpy()[:, 1:])
    np.testing.assert_array_equal(ds.get_batch(5, g2)[0].numpy(), xb.numpy())
    val = CharDataset("val", 8, text=text)
    assert ds.vocab.decode(val.data[:3]) == text[900:903]
    with pytest.raises(OpError, match="split"):
        CharDataset("test", text=text)
    with pytest.raises(DataError, match="fewer than block_size"):
        CharDataset("val", 200, text=text)
    with pytest.raises(IndexOutOfRangeError):
        ds[892]
