"""Checkpoints: exact round trips, full training checkpoints, and every kind of bad file giving a
CheckpointError (never a NumPy traceback, never an unpickled object, never silently wrong data)."""
import io
import os
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_ko as tg
from tinygrad_ko import nn, optim


def model(dtype=np.float32):
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8, 3, dtype=dtype), nn.BatchNorm1d(3))


def trained(seed=0):
    tg.manual_seed(seed)
    m = model()
    m(tg.randn(4, 1, 4, 4))               # moves the BatchNorm running statistics
    return m


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype, k
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


# -- round trips ------------------------------------------------------------------------------
def test_module_save_load_round_trips_bit_exactly(tmp_path):
    src = trained(0)
    path = tmp_path / "model"                           # no suffix: written exactly there
    src.save(path)
    assert os.path.exists(path) and not os.path.exists(str(path) + ".npz")
    dst = trained(1)
    assert dst.load(path) is dst
    assert_same_state(src, dst)
    assert int(dst[1].num_batches_tracked.item()) == 1
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]   # no temp file left


def test_float64_and_plain_npz_and_file_objects(tmp_path):
    src = trained(0).double()
    nn.save_state(src.state_dict(), tmp_path / "m.npz")
    sd = nn.load_state(tmp_path / "m.npz")
    assert all(v.dtype == np.float64 for k, v in sd.items() if "num_batches" not in k)
    with np.load(tmp_path / "m.npz") as f:                # readable with NumPy alone
        np.testing.assert_array_equal(f["4.weight"], src[4].weight.numpy())
    # a plain np.savez archive (e.g. the book's saved params) loads as a flat dict
    np.savez(tmp_path / "plain.npz", W1=np.ones((2, 2)), b1=np.zeros(2))
    plain = nn.load(tmp_path / "plain.npz")
    assert list(plain) == ["W1", "b1"] and plain["W1"].shape == (2, 2)
    buf = io.BytesIO()
    nn.save(src.state_dict(), buf)
    buf.seek(0)
    dst = model(np.float64).double()
    dst.load_state_dict(nn.load(buf))
    assert_same_state(src, dst)


def test_nested_checkpoint_keeps_structure_and_types(tmp_path):
    m = trained(0)
    opt = optim.Adam(m.parameters(), lr=0.01, betas=(0.8, 0.9))
    for p in m.parameters():
        p.grad = tg.ones_like(p)
    opt.step()
    ckpt = {"model": m.state_dict(), "optimizer": opt.state_dict(), "epoch": 7, "lr": 0.01,
            "best": None, "done": False, "note": "run 1", "history": [1.5, 0.75],
            "scale": np.float32(0.5), "pair": (1, "a")}
    nn.save(ckpt, tmp_path / "ckpt.npz")
    back = nn.load(tmp_path / "ckpt.npz")
    assert list(back) == list(ckpt)
    assert back["epoch"] == 7 and type(back["epoch"]) is int and back["lr"] == 0.01
    assert back["best"] is None and back["done"] is False and back["note"] == "run 1"
    assert back["history"] == [1.5, 0.75] and back["pair"] == (1, "a")
    assert back["scale"].dtype == np.float32 and back["scale"] == 0.5
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.8, 0.9)
    assert set(back["optimizer"]["state"]) == set(range(len(list(m.parameters()))))
    np.testing.assert_array_equal(back["optimizer"]["state"][0]["exp_avg"],
                                  ckpt["optimizer"]["state"][0]["exp_avg"])
    with np.load(tmp_path / "ckpt.npz") as f:
        assert "model/4.weight" in f.files and "optimizer/state/0/exp_avg" in f.files


def test_unsavable_objects_are_refused_and_the_old_file_survives(tmp_path):
    path = tmp_path / "m.npz"
    trained(0).save(path)
    with pytest.raises(tg.CheckpointError, match="'w' is an object array"):
        nn.save({"w": np.array([object()], dtype=object)}, path)
    with pytest.raises(tg.CheckpointError, match="cannot store a set at 'a/0'"):
        nn.save({"a": [{1, 2}]}, path)
    with pytest.raises(tg.CheckpointError, match="dict keys must be str or int"):
        nn.save({(1, 2): 3}, path)
    assert_same_state(trained(0), model().load(path))        # the previous checkpoint is intact
    with pytest.raises(tg.CheckpointError, match="not arrays"):
        nn.save_state({"epoch": 3}, path)


# -- bad files -----------------------------------------------------------------------------------
class Boom:
    """Unpickling this would run code; a checkpoint loader must never get that far."""
    ran = False

    def __reduce__(self):
        return (Boom._explode, ())

    @staticmethod
    def _explode():
        Boom.ran = True
        return "exploded"


def test_nothing_is_ever_unpickled(tmp_path):
    bad = tmp_path / "evil.npz"
    with zipfile.ZipFile(bad, "w") as z:                     # an .npz with an object array
        buf = io.BytesIO()
        np.save(buf, np.array([Boom()], dtype=object), allow_pickle=True)
        z.writestr("weight.npy", buf.getvalue())
    with pytest.raises(tg.CheckpointError, match="object array.*unpickling"):
        nn.load(bad)
    raw = tmp_path / "evil.pkl"                              # a bare pickle
    raw.write_bytes(pickle.dumps({"weight": Boom()}))
    with pytest.raises(tg.CheckpointError, match="pickles are never loaded"):
        nn.load(raw)
    with pytest.raises(tg.CheckpointError):
        model().load(raw)
    assert not Boom.ran


def test_not_a_checkpoint(tmp_path):
    cases = {"empty": b"", "text": b"hello, world\n" * 10, "npy": None, "zip": None}
    for name, content in cases.items():
        path = tmp_path / name
        if name == "npy":
            with open(path, "wb") as f:
                np.save(f, np.ones(3))
        elif name == "zip":
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("readme.txt", "not an array")
        else:
            path.write_bytes(content)
        with pytest.raises(tg.CheckpointError, match="load"):
            model().load(path)
    with pytest.raises(tg.CheckpointError, match="no checkpoint file"):
        nn.load(tmp_path / "missing.npz")
    with pytest.raises(tg.CheckpointError, match="single array"):
        nn.load(tmp_path / "npy")


def test_checkpoint_of_another_model_names_every_difference(tmp_path):
    path = tmp_path / "other.npz"
    nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2), nn.Linear(2, 1)).save(path)
    net = nn.Sequential(nn.Linear(5, 3), nn.Linear(3, 2))
    with pytest.raises(tg.CheckpointError) as info:
        net.load(path)
    msg = str(info.value)
    assert "'0.weight' has shape (3, 4) in the checkpoint, the model has (3, 5)" in msg
    assert "unexpected key '2.weight'" in msg and "unexpected key '2.bias'" in msg
    assert "another model" in msg


def test_full_checkpoint_given_to_module_load_explains(tmp_path):
    path = tmp_path / "ckpt.npz"
    m = trained(0)
    nn.save({"model": m.state_dict(), "epoch": 1}, path)
    with pytest.raises(tg.CheckpointError, match=r"not a model state_dict.*ckpt\['model'\]"):
        m.load(path)
    nn.save([np.ones(2)], tmp_path / "list.npz")
    with pytest.raises(tg.CheckpointError, match="expected a state_dict"):
        nn.load_state(tmp_path / "list.npz")


def test_corrupted_metadata(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, **{"__tinygrad_ko__": np.array("{not json"), "w": np.ones(2)})
    with pytest.raises(tg.CheckpointError, match="unreadable"):
        nn.load(path)
    np.savez(path, **{"__tinygrad_ko__": np.array(
        '{"format": "tinygrad_ko-checkpoint", "version": 1, "tree": {"__array__": "gone"}}')})
    with pytest.raises(tg.CheckpointError, match="array 'gone' is missing"):
        nn.load(path)
    np.savez(path, **{"__tinygrad_ko__": np.array(
        '{"format": "tinygrad_ko-checkpoint", "version": 99, "tree": null}')})
    with pytest.raises(tg.CheckpointError, match="newer tinygrad_ko"):
        nn.load(path)


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "good.npz"
    trained(0).save(path)
    return path.read_bytes()


def load_bytes(raw):
    """Load a checkpoint's bytes into a fresh model: CheckpointError, or the model."""
    m = model()
    m.load(io.BytesIO(bytes(raw)))
    return m


def test_every_truncation_and_a_sweep_of_byte_flips(good_file):
    """Deterministic sweeps over the whole file (local headers, array data, the structure entry,
    the central directory): truncations raise; a flipped byte raises or changes nothing."""
    reference = trained(0)
    for cut in range(0, len(good_file), 13):
        with pytest.raises(tg.CheckpointError):
            load_bytes(good_file[:cut])
    for i in range(0, len(good_file), 7):
        raw = bytearray(good_file)
        raw[i] ^= 0x5A
        try:
            m = load_bytes(raw)
        except tg.CheckpointError:
            continue
        assert_same_state(reference, m)


@given(data=st.data())
def test_truncated_files_raise(good_file, tmp_path_factory, data):
    cut = data.draw(st.integers(0, len(good_file) - 1), label="truncate at")
    path = tmp_path_factory.mktemp("cut") / "m.npz"
    path.write_bytes(good_file[:cut])
    with pytest.raises(tg.CheckpointError):
        model().load(path)


@given(data=st.data())
def test_corrupted_bytes_raise_or_load_the_exact_values(good_file, tmp_path_factory, data):
    """Flip bytes anywhere: either a CheckpointError, or (a byte nobody reads, like a timestamp)
    the very same values. Never a NumPy error, never wrong numbers."""
    raw = bytearray(good_file)
    for _ in range(data.draw(st.integers(1, 3), label="flips")):
        i = data.draw(st.integers(0, len(raw) - 1), label="position")
        raw[i] ^= data.draw(st.integers(1, 255), label="xor")
    path = tmp_path_factory.mktemp("bad") / "m.npz"
    path.write_bytes(bytes(raw))
    m = model()
    try:
        m.load(path)
    except tg.CheckpointError:
        return
    assert_same_state(trained(0), m)
