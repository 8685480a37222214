"""Dataset / TensorDataset / DataLoader, and the cat/non-cat loader."""
import os
import sys

import numpy as np
import pytest

import tinygrad_ko as tg
from conftest import DATASETS
from tinygrad_ko.data import DataLoader, Dataset, TensorDataset, default_collate, load_catvnoncat
from tinygrad_ko.errors import DataError, DTypeError, OpError, ShapeError


def _xy(n=10):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    t = np.arange(n, dtype=np.int64)
    return x, t


class ListDataset(Dataset):
    """A plain Dataset (not a TensorDataset): exercises the per-sample path and default_collate."""

    def __init__(self, n):
        self.x, self.t = _xy(n)

    def __len__(self):
        return len(self.t)

    def __getitem__(self, i):
        return self.x[i], int(self.t[i])


# -- TensorDataset ---------------------------------------------------------------------------------
def test_tensordataset_len_getitem_keeps_dtypes():
    x, t = _xy()
    ds = TensorDataset(x, tg.Tensor(t))
    assert len(ds) == 10
    xi, ti = ds[3]
    assert isinstance(xi, tg.Tensor) and isinstance(ti, tg.Tensor)
    assert xi.dtype == np.float32 and ti.dtype == np.int64
    np.testing.assert_array_equal(xi.numpy(), x[3])
    assert ti.item() == 3
    assert [a.shape for a in ds.tensors] == [(10, 3), (10,)]


def test_tensordataset_converts_lists_like_tensor():
    ds = TensorDataset([[1.0, 2.0], [3.0, 4.0]], [0, 1])
    assert ds.arrays[0].dtype == np.float32 and ds.arrays[1].dtype == np.int64


def test_tensordataset_mismatched_first_dims():
    with pytest.raises(ShapeError, match=r"same first dimension.*\(10, 3\), \(9,\)"):
        TensorDataset(np.zeros((10, 3)), np.zeros(9))


def test_tensordataset_needs_arrays_with_a_sample_axis():
    with pytest.raises(OpError, match="at least one array"):
        TensorDataset()
    with pytest.raises(ShapeError, match="first dimension"):
        TensorDataset(np.float32(1.0))


def test_dataset_base_class_must_be_subclassed():
    with pytest.raises(NotImplementedError, match="__len__"):
        len(Dataset())
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]


# -- DataLoader ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, bs, drop_last, expected", [
    (10, 3, False, [3, 3, 3, 1]), (10, 3, True, [3, 3, 3]), (9, 3, False, [3, 3, 3]),
    (9, 3, True, [3, 3, 3]), (2, 5, False, [2]), (2, 5, True, []), (0, 4, False, []),
])
def test_batch_sizes_and_len(n, bs, drop_last, expected):
    x, t = _xy(n)
    for ds in (TensorDataset(x, t), ListDataset(n)):
        loader = DataLoader(ds, batch_size=bs, drop_last=drop_last)
        assert len(loader) == len(expected)
        assert [len(xb) for xb, tb in loader] == expected


def test_batches_in_order_without_shuffle_and_last_partial_batch():
    x, t = _xy(10)
    batches = list(DataLoader(TensorDataset(x, t), batch_size=4))
    assert all(isinstance(b, tuple) and len(b) == 2 for b in batches)
    np.testing.assert_array_equal(batches[0][0].numpy(), x[:4])
    np.testing.assert_array_equal(batches[-1][0].numpy(), x[8:])
    np.testing.assert_array_equal(np.concatenate([tb.numpy() for _, tb in batches]), t)


def test_dtypes_kept_on_both_paths():
    x, t = _xy()
    for ds in (TensorDataset(x, t), ListDataset(10)):
        xb, tb = next(iter(DataLoader(ds, batch_size=4)))
        assert isinstance(xb, tg.Tensor) and xb.dtype == np.float32 and xb.shape == (4, 3)
        assert isinstance(tb, tg.Tensor) and tb.dtype == np.int64 and tb.shape == (4,)
        assert not xb.requires_grad


def _epoch(loader):
    return np.concatenate([tb.numpy() for _, tb in loader])


def test_shuffle_reproducible_with_seed_and_reshuffles_each_epoch():
    x, t = _xy(50)
    a = DataLoader(TensorDataset(x, t), batch_size=8, shuffle=True, seed=123)
    b = DataLoader(TensorDataset(x, t), batch_size=8, shuffle=True, seed=123)
    a1, a2 = _epoch(a), _epoch(a)
    np.testing.assert_array_equal(a1, _epoch(b))   # same seed: same sequence of epochs
    np.testing.assert_array_equal(a2, _epoch(b))
    assert not np.array_equal(a1, a2)               # a new order each epoch
    assert not np.array_equal(a1, t)
    np.testing.assert_array_equal(np.sort(a1), t)   # each epoch is a permutation
    c = DataLoader(TensorDataset(x, t), batch_size=8, shuffle=True, seed=124)
    assert not np.array_equal(a1, _epoch(c))


def test_shuffle_pairs_stay_together_and_paths_agree():
    x, t = _xy(23)
    fast = DataLoader(TensorDataset(x, t), batch_size=5, shuffle=True, seed=7)
    slow = DataLoader(ListDataset(23), batch_size=5, shuffle=True, seed=7)
    for (xf, tf), (xs, ts) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(xf.numpy(), x[tf.numpy()])   # rows still match labels
        np.testing.assert_array_equal(xf.numpy(), xs.numpy())
        np.testing.assert_array_equal(tf.numpy(), ts.numpy())


def test_shuffle_with_generator_and_with_manual_seed():
    x, t = _xy(30)
    ds = TensorDataset(x, t)
    e1 = _epoch(DataLoader(ds, 4, shuffle=True, generator=np.random.default_rng(5)))
    e2 = _epoch(DataLoader(ds, 4, shuffle=True, generator=np.random.default_rng(5)))
    np.testing.assert_array_equal(e1, e2)
    tg.manual_seed(11)
    m1 = _epoch(DataLoader(ds, 4, shuffle=True))
    tg.manual_seed(11)
    m2 = _epoch(DataLoader(ds, 4, shuffle=True))
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(np.sort(m1), t)


def test_drop_last_with_shuffle_drops_only_the_remainder():
    x, t = _xy(10)
    seen = _epoch(DataLoader(TensorDataset(x, t), batch_size=4, shuffle=True, drop_last=True, seed=0))
    assert len(seen) == 8 and len(set(seen.tolist())) == 8


def test_changing_a_batch_does_not_change_the_dataset():
    x, t = _xy()
    xb, _ = next(iter(DataLoader(TensorDataset(x, t), batch_size=4)))
    xb.numpy()[:] = -1
    assert x.min() == 0


def test_subclass_with_own_getitem_is_not_bypassed():
    class Doubled(TensorDataset):
        def __getitem__(self, i):
            xi, ti = super().__getitem__(i)
            return xi * 2, ti

    x, t = _xy()
    xb, _ = next(iter(DataLoader(Doubled(x, t), batch_size=3)))
    np.testing.assert_array_equal(xb.numpy(), 2 * x[:3])


def test_collate_fn_and_single_field_samples():
    x, t = _xy()
    loader = DataLoader(TensorDataset(x, t), batch_size=4, collate_fn=lambda s: len(s))
    assert list(loader) == [4, 4, 2]

    class Single(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return float(i)

    batches = list(DataLoader(Single(), batch_size=2))
    assert isinstance(batches[0], tg.Tensor) and batches[0].dtype == np.float32
    assert [b.tolist() for b in batches] == [[0.0, 1.0], [2.0, 3.0], [4.0]]


def test_default_collate_errors_and_bools():
    assert default_collate([True, False]).dtype == np.bool_
    with pytest.raises(DTypeError, match="cannot batch samples of type str"):
        default_collate(["a", "b"])
    with pytest.raises(ShapeError, match="different shapes"):
        default_collate([np.zeros(2), np.zeros(3)])


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "positive integer"), ({"batch_size": 2.5}, "positive integer"),
    ({"seed": 1, "generator": np.random.default_rng(1)}, "either seed or generator"),
])
def test_dataloader_bad_arguments(kwargs, match):
    with pytest.raises(OpError, match=match):
        DataLoader(TensorDataset(*_xy()), **kwargs)


# -- cat / non-cat ---------------------------------------------------------------------------------
@pytest.fixture
def no_env(monkeypatch, tmp_path):
    """No $TINYGRAD_KO_DATA, and a cache directory inside tmp_path."""
    monkeypatch.delenv("TINYGRAD_KO_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _write_h5(h5py, path, prefix, m, classes=(b"non-cat", b"cat")):
    rng = np.random.default_rng(m)
    with h5py.File(path, "w") as f:
        f[f"{prefix}_set_x"] = rng.integers(0, 256, (m, 64, 64, 3), dtype=np.uint8)
        f[f"{prefix}_set_y"] = rng.integers(0, 2, m).astype(np.int64)
        f["list_classes"] = np.array(classes, dtype="S7")


def test_catvnoncat_tiny_files(tmp_path, no_env):
    h5py = pytest.importorskip("h5py", reason="h5py not installed (pip install h5py)")
    _write_h5(h5py, tmp_path / "train_catvnoncat.h5", "train", 4)
    _write_h5(h5py, tmp_path / "test_catvnoncat.h5", "test", 3)
    train_x, train_y, test_x, test_y, classes = load_catvnoncat(data_dir=tmp_path)
    assert train_x.shape == (4, 64, 64, 3) and train_x.dtype == np.uint8
    assert train_y.shape == (1, 4) and test_y.shape == (1, 3) and test_x.shape == (3, 64, 64, 3)
    assert classes.tolist() == [b"non-cat", b"cat"]


def test_catvnoncat_found_through_env_var_subdir(tmp_path, no_env, monkeypatch):
    h5py = pytest.importorskip("h5py", reason="h5py not installed (pip install h5py)")
    (tmp_path / "catvnoncat").mkdir()
    _write_h5(h5py, tmp_path / "catvnoncat" / "train_catvnoncat.h5", "train", 2)
    _write_h5(h5py, tmp_path / "catvnoncat" / "test_catvnoncat.h5", "test", 1)
    monkeypatch.setenv("TINYGRAD_KO_DATA", str(tmp_path))
    assert load_catvnoncat()[1].shape == (1, 2)


def test_catvnoncat_bad_files(tmp_path, no_env):
    h5py = pytest.importorskip("h5py", reason="h5py not installed (pip install h5py)")
    with h5py.File(tmp_path / "train_catvnoncat.h5", "w") as f:
        f["something_else"] = np.zeros(3)
    (tmp_path / "test_catvnoncat.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match="no dataset train_set_x, train_set_y, list_classes"):
        load_catvnoncat(data_dir=tmp_path)
    _write_h5(h5py, tmp_path / "train_catvnoncat.h5", "train", 2)
    with pytest.raises(DataError, match="cannot read .*test_catvnoncat.h5"):
        load_catvnoncat(data_dir=tmp_path)


def test_catvnoncat_missing_files_say_where_to_put_them(tmp_path, no_env):
    with pytest.raises(DataError) as e:
        load_catvnoncat(data_dir=tmp_path / "nowhere")
    msg = str(e.value)
    assert "train_catvnoncat.h5 not found" in msg and str(tmp_path / "nowhere") in msg
    assert str(tmp_path / "cache" / "tinygrad_ko" / "catvnoncat") in msg and "data_dir=" in msg


def test_catvnoncat_without_h5py_names_the_pip_command(tmp_path, no_env, monkeypatch):
    for name in ("train_catvnoncat.h5", "test_catvnoncat.h5"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setitem(sys.modules, "h5py", None)    # makes `import h5py` raise ImportError
    with pytest.raises(ImportError, match="pip install h5py"):
        load_catvnoncat(data_dir=tmp_path)


def test_catvnoncat_real_files():
    pytest.importorskip("h5py", reason="h5py not installed (pip install h5py)")
    where = os.path.join(DATASETS, "catvnoncat")
    if not os.path.isfile(os.path.join(where, "train_catvnoncat.h5")):
        pytest.skip(f"cat/non-cat files not found at {where}: set TINYGRAD_KO_DATA")
    train_x, train_y, test_x, test_y, classes = load_catvnoncat(data_dir=where)
    assert train_x.shape == (209, 64, 64, 3) and train_x.dtype == np.uint8
    assert test_x.shape == (50, 64, 64, 3) and test_x.dtype == np.uint8
    assert train_y.shape == (1, 209) and test_y.shape == (1, 50)
    assert set(np.unique(train_y)) == {0, 1} and set(np.unique(test_y)) == {0, 1}
    assert classes.tolist() == [b"non-cat", b"cat"]


# -- issue 16: PyTorch's DataLoader arguments, Subset, random_split, tinygrad_ko.utils.data ---------
def test_utils_data_is_pytorchs_import_path():
    from tinygrad_ko.utils.data import DataLoader as DL, Dataset as DS, Subset, TensorDataset as TD
    from tinygrad_ko.utils.data import random_split
    assert (DL, DS, TD) == (DataLoader, Dataset, TensorDataset)
    assert tg.utils.data.DataLoader is DataLoader and tg.data.Subset is Subset
    assert tg.data.random_split is random_split


def test_tensor_dataset_takes_tensors():
    x, t = _xy()
    ds = TensorDataset(tg.tensor(x), tg.tensor(t))
    xb, tb = ds[3]
    assert xb.numpy().tolist() == x[3].tolist() and tb.item() == 3 and tb.dtype == np.int64


def test_dataloader_accepts_pytorchs_arguments():
    x, t = _xy()
    ds = TensorDataset(x, t)
    plain = [tb.numpy().tolist() for _, tb in DataLoader(ds, batch_size=4)]
    # num_workers > 0 loads in the main process: the same batches; pin_memory etc. are no-ops
    same = DataLoader(ds, batch_size=4, shuffle=False, num_workers=2, pin_memory=True,
                      timeout=0, prefetch_factor=2, persistent_workers=True)
    assert [tb.numpy().tolist() for _, tb in same] == plain == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(isinstance(b, tg.Tensor) for batch in same for b in batch)
    loader = DataLoader(ds, 4, False, None, None, 0, None, False, True)   # PyTorch's order
    assert len(loader) == 2 and loader.drop_last
    with pytest.raises(OpError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(tg.UsageError, match="main process"):
        DataLoader(ds, num_workers=2, worker_init_fn=lambda i: None)


def test_dataloader_sampler_and_batch_sampler():
    x, t = _xy()
    for ds in (TensorDataset(x, t), ListDataset(10)):
        got = [tb.numpy().tolist() for _, tb in DataLoader(ds, batch_size=3, sampler=[9, 8, 7, 0])]
        assert got == [[9, 8, 7], [0]]
        got = [tb.numpy().tolist() for _, tb in DataLoader(ds, batch_sampler=[[0, 5], [2]])]
        assert got == [[0, 5], [2]]
    assert len(DataLoader(TensorDataset(x, t), batch_sampler=[[0, 5], [2]])) == 2
    with pytest.raises(OpError, match="mutually exclusive"):
        DataLoader(TensorDataset(x, t), sampler=[0, 1], shuffle=True)
    with pytest.raises(OpError, match="mutually exclusive"):
        DataLoader(TensorDataset(x, t), batch_size=2, batch_sampler=[[0]])


def test_subset_and_random_split():
    from tinygrad_ko.data import Subset, random_split
    x, t = _xy()
    ds = TensorDataset(x, t)
    sub = Subset(ds, [4, 0, 7])
    assert len(sub) == 3 and sub[1][1].item() == 0
    a, b = random_split(ds, [7, 3], generator=np.random.default_rng(0))
    assert len(a) == 7 and len(b) == 3
    assert sorted(a.indices + b.indices) == list(range(10))
    # fractions, as PyTorch >= 1.13: floor(11 * 0.5) = 5 each, the one left over goes to the first
    assert [len(s) for s in random_split(ListDataset(11), [0.5, 0.5])] == [6, 5]
    assert [len(s) for s in random_split(ListDataset(10), [0.25, 0.25, 0.5])] == [3, 2, 5]
    tg.manual_seed(1)
    first = random_split(ds, [0.5, 0.5])[0].indices
    tg.manual_seed(1)
    assert random_split(ds, [0.5, 0.5])[0].indices == first      # the library's generator
    # a DataLoader over a split of a TensorDataset (the fast path) gives the split's samples
    got = np.concatenate([tb.numpy() for _, tb in DataLoader(a, batch_size=3)])
    assert got.tolist() == a.indices
    nested = Subset(a, [2, 0])
    assert [tb.numpy().tolist() for _, tb in DataLoader(nested, batch_size=2)] == \
        [[a.indices[2], a.indices[0]]]
    with pytest.raises(OpError, match="adding up"):
        random_split(ds, [5, 4])
    with pytest.raises(tg.IndexOutOfRangeError):
        Subset(ds, [10])


def test_random_split_sizes_match_torch():
    torch = pytest.importorskip("torch", reason="PyTorch (optional) is the reference")
    from tinygrad_ko.data import random_split
    for n, fractions in [(11, [0.5, 0.5]), (10, [0.3, 0.3, 0.4]), (7, [0.1, 0.9]), (5, [1.0])]:
        theirs = [len(s) for s in torch.utils.data.random_split(range(n), fractions)]
        assert [len(s) for s in random_split(list(range(n)), fractions)] == theirs
