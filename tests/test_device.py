"""The device API on the CPU (issue 20): what runs in CI, where there is no GPU.

CuPy is simulated: missing (``sys.modules["cupy"] = None``), present without a GPU, or present
with one, the last by ``_fake_cupy`` (NumPy arrays of a subclass that refuses to mix with plain
NumPy arrays, as CuPy does). The real GPU is tested by tests/test_gpu.py.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import _fake_cupy as fc
import tinygrad_ko as tg
from tinygrad_ko import nn, optim
from tinygrad_ko.device import _reset_for_tests, array_module, device_of, resolve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _forget_cupy():
    """Every test starts and ends with the library knowing nothing about CuPy."""
    _reset_for_tests()
    yield
    _reset_for_tests()


@pytest.fixture
def gpu(monkeypatch):
    """A fake CuPy with one 'GPU' (see _fake_cupy)."""
    return fc.install(monkeypatch)


def _run(code: str, env_path: str = "") -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (env_path, ROOT) if p))
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


# -- CuPy is imported only when a GPU is asked for ---------------------------------------------------
def test_import_never_imports_cupy(tmp_path):
    # a 'cupy' package that is importable, so only the library's own restraint keeps it out
    pkg = tmp_path / "cupy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise ImportError('this cupy is a test stub')\n")
    out = _run("""
        import sys
        import tinygrad_ko as tg
        x = tg.tensor([1.0, 2.0], requires_grad=True)
        (x * 2).sum().backward()
        tg.manual_seed(0); tg.nn.Linear(2, 2)(x); repr(x); x.device
        print('cupy' in sys.modules)
        print(tg.cuda.is_available(), 'cupy' in sys.modules)
    """, str(tmp_path))
    # the last line: asking (is_available) tried the import, which failed, so it is not there
    assert out.splitlines() == ["False", "False False"]


# -- errors saying what is missing -------------------------------------------------------------------
def test_cuda_without_cupy_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)      # import cupy -> ImportError
    with pytest.raises(tg.DeviceError, match=r"CuPy is not installed.*cupy-cuda12x.*cupy-cuda13x"):
        tg.zeros(2, device="cuda")
    with pytest.raises(tg.DeviceError, match="to: device 'cuda' is not available"):
        tg.zeros(2).to("cuda")
    assert not tg.cuda.is_available() and tg.cuda.device_count() == 0
    assert tg.accelerator.current_accelerator() is None
    with pytest.raises(tg.DeviceError, match="CuPy is not installed"):
        tg.cuda.synchronize()
    tg.cuda.manual_seed(3)                               # safe without a GPU, as PyTorch


@pytest.mark.parametrize("kw", [{"device_count": 0}, {"count_error": RuntimeError("no driver")}])
def test_cuda_with_cupy_but_no_gpu(monkeypatch, kw):
    fc.install(monkeypatch, **kw)
    with pytest.raises(tg.DeviceError, match="CuPy is installed but no CUDA GPU was found"):
        tg.tensor([1.0], device="cuda")
    assert tg.cuda.is_available() is False


def test_other_devices_and_bad_indices(gpu):
    with pytest.raises(tg.DeviceError, match="'mps' is not available"):
        tg.zeros(2, device="mps")
    with pytest.raises(tg.DeviceError, match="CuPy sees 1 GPU"):
        tg.zeros(2, device="cuda:1")
    with pytest.raises(tg.DeviceError, match="unknown device type 'gpu'"):
        tg.zeros(2).to("gpu")


# -- the device API with a (fake) GPU ----------------------------------------------------------------
def test_queries_and_resolve(gpu):
    assert tg.cuda.is_available() and tg.cuda.device_count() == 1 and tg.cuda.current_device() == 0
    assert tg.accelerator.is_available() and tg.accelerator.current_accelerator() == "cuda"
    assert resolve("cuda") == tg.device("cuda", 0) == resolve(0) == resolve("cuda:0")
    assert array_module(tg.device("cuda")) is gpu and array_module("cpu") is np
    tg.cuda.synchronize()
    assert fc.STATS["sync"] == 1


def test_to_cuda_and_back(gpu):
    x = tg.tensor([1.0, 2.0, 3.0])
    y = x.to("cuda")
    assert y.device == tg.device("cuda", 0) and y.is_cuda and not x.is_cuda
    assert type(y._data) is gpu.ndarray and array_module(y) is gpu and y.dtype == np.float32
    assert y.to("cuda") is y and y.cuda() is y and x.cpu() is x
    back = y.cpu()
    assert type(back._data) is np.ndarray and back.tolist() == [1.0, 2.0, 3.0]
    assert x.cuda().device == "cuda:0" and x.to(tg.device("cuda"), tg.float64).dtype == np.float64
    assert y.to(x).device == "cpu"                       # to(other): its device and dtype
    assert "device='cuda:0'" in repr(y) and "device" not in repr(x)


def test_numpy_of_a_gpu_tensor_raises_with_the_hint(gpu):
    y = tg.tensor([1.5, 2.5], device="cuda")
    with pytest.raises(tg.DeviceError, match=r"t\.cpu\(\)\.numpy\(\)"):
        y.numpy()
    with pytest.raises(tg.DeviceError):
        np.asarray(y)
    assert y.tolist() == [1.5, 2.5] and y[1].item() == 2.5 and float(y.sum()) == 4.0


@pytest.mark.parametrize("make", [
    lambda: tg.tensor([1.0, 2.0], device="cuda"), lambda: tg.zeros(2, device="cuda"),
    lambda: tg.ones(2, device="cuda"), lambda: tg.full((2,), 3.0, device="cuda"),
    lambda: tg.rand(2, device="cuda"), lambda: tg.randn(2, device="cuda"),
    lambda: tg.arange(2, device="cuda"), lambda: tg.linspace(0, 1, 2, device="cuda"),
    lambda: tg.eye(2, device="cuda"), lambda: tg.randint(0, 3, (2,), device="cuda"),
    lambda: tg.randperm(2, device="cuda"), lambda: tg.zeros_like(tg.ones(2, device="cuda")),
    lambda: tg.ones_like(tg.ones(2), device="cuda"), lambda: tg.Tensor([1.0], device="cuda")])
def test_creation_functions_on_the_gpu(gpu, make):
    t = make()
    assert t.device == "cuda:0" and type(t._data) is gpu.ndarray


def test_random_draws_match_the_cpu_for_a_seed(gpu):
    tg.manual_seed(5)
    a = tg.randn(3, 2)
    tg.manual_seed(5)
    b = tg.randn(3, 2, device="cuda")
    assert b.is_cuda and b.cpu().tolist() == a.tolist()
    assert fc.STATS["seed"] is None or fc.STATS["seed"] == 5


def test_seeds_wait_for_cupy(monkeypatch):
    tg.manual_seed(7)                       # before any GPU use: nothing is imported...
    assert "cupy" not in sys.modules or sys.modules["cupy"] is None
    fc.install(monkeypatch)
    from tinygrad_ko import device as _  # noqa: F401
    tg.cuda.manual_seed(11)                 # ...and a seed given before loading waits for it
    assert fc.STATS["seed"] is None
    assert tg.cuda.is_available() and fc.STATS["seed"] == 11
    tg.manual_seed(12)                      # loaded: seeds it now
    assert fc.STATS["seed"] == 12


def test_gradients_flow_back_across_devices(gpu):
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.to("cuda")
    assert y.grad_fn is not None and not y.is_leaf
    z = (y * y + 1.0).sum()
    assert z.is_cuda
    z.backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [2.0, 4.0, 6.0]


def test_ops_on_two_devices_raise_naming_both_and_the_op(gpu):
    a, b = tg.ones(2), tg.ones(2, device="cuda")
    for f, op in [(lambda: a + b, "add"), (lambda: b * a, "mul"), (lambda: a @ b, "matmul"),
                  (lambda: tg.where(a > 0, a, b), "where"), (lambda: b == a, "equal"),
                  (lambda: b.add_(a), "add_"), (lambda: (b.copy_(a), b.mul_(a)), "mul_")]:
        with pytest.raises(tg.DeviceError, match=rf"{op}: .*(cuda:0.*cpu|cpu.*cuda:0)"):
            f()
    assert (b + 1.0).is_cuda and (b + tg.tensor(2.0)).tolist() == [3.0, 3.0]  # 0-d CPU: a number
    with pytest.raises(tg.DeviceError):
        b.grad = tg.ones(2)                  # a gradient lives on its tensor's device
    with pytest.raises(tg.DeviceError, match="backward: the gradient is on cpu"):
        (b.requires_grad_() * 2.0).backward(tg.ones(2))


def test_in_place_and_indexing_on_the_gpu(gpu):
    b = tg.zeros(3, device="cuda")
    b.fill_(tg.tensor(2.0))                  # a one-element CPU tensor is a number
    b.copy_(np.array([1.0, 2.0, 3.0]))       # copy_ moves host data onto the device
    b[0] = 5.0
    b.masked_fill_(b > 2.5, 0.0)
    assert b.is_cuda and b.tolist() == [0.0, 2.0, 0.0]
    b += tg.ones(3, device="cuda")
    assert b.tolist() == [1.0, 3.0, 1.0] and b[[0, 2]].tolist() == [1.0, 1.0]
    assert b.argmax().item() == 1 and b.max(0).indices.item() == 1


def test_module_to_moves_parameters_gradients_and_buffers(gpu):
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    for p in m.parameters():
        p.grad = tg.zeros_like(p)
    ids = [id(p) for p in m.parameters()]
    assert m.to("cuda") is m and [id(p) for p in m.parameters()] == ids
    assert all(p.is_cuda and p.grad.is_cuda for p in m.parameters())
    assert all(b.is_cuda for b in m.buffers())          # running_mean/var, num_batches_tracked
    sd = m.state_dict()                                  # host copies
    assert all(type(v) is np.ndarray for v in sd.values())
    m.cpu()
    assert not any(t.is_cuda for t in list(m.parameters()) + list(m.buffers()))
    m.cuda().load_state_dict(sd)                         # host values into device tensors
    assert m[0].weight.is_cuda and m[0].weight.cpu().tolist() == sd["0.weight"].tolist()


def test_optimizer_state_is_made_on_the_parameters_device(gpu):
    w = nn.Parameter(np.ones((2, 2), np.float32)).to("cuda")
    w = nn.Parameter(w.detach())
    for opt in (optim.SGD([w], lr=0.1, momentum=0.9), optim.Adam([w]), optim.RMSprop([w]),
                optim.Adagrad([w])):
        w.grad = tg.ones_like(w)
        opt.step()
        assert w.is_cuda
        for v in opt.state[w].values():
            assert not isinstance(v, np.ndarray) or type(v) is gpu.ndarray
        state = opt.state_dict()
        opt.load_state_dict(state)
        assert all(type(v) is gpu.ndarray for v in opt.state[w].values() if hasattr(v, "shape"))


def test_checkpoint_saved_from_the_gpu_loads_without_one(gpu, monkeypatch, tmp_path):
    m = nn.Linear(3, 2).to("cuda")
    opt = optim.Adam(m.parameters())
    for p in m.parameters():
        p.grad = tg.ones_like(p)
    opt.step()
    tg.save({"model": m.state_dict(), "opt": opt.state_dict(), "w": m.weight}, tmp_path / "c.pt")
    m.save(tmp_path / "m.npz")
    weights = m.weight.cpu().tolist()
    monkeypatch.setitem(sys.modules, "cupy", None)       # now a machine without CuPy
    _reset_for_tests()
    ck = tg.load(tmp_path / "c.pt", map_location="cpu")
    assert type(ck["w"]._data) is np.ndarray and ck["w"].tolist() == weights
    cpu_model = nn.Linear(3, 2).load(tmp_path / "m.npz")
    assert cpu_model.weight.tolist() == weights
    optim.Adam(cpu_model.parameters()).load_state_dict(ck["opt"])
    with pytest.raises(tg.DeviceError, match="CuPy is not installed"):
        tg.load(tmp_path / "c.pt", map_location="cuda")


def test_load_map_location(gpu, tmp_path):
    tg.save({"w": tg.ones(2), "n": 3, "a": np.zeros(1)}, tmp_path / "c.pt")
    assert tg.load(tmp_path / "c.pt")["w"].device == "cpu"
    for loc in ("cuda", tg.device("cuda", 0), {"cpu": "cuda:0"}):
        ck = tg.load(tmp_path / "c.pt", map_location=loc)
        assert ck["w"].is_cuda and ck["n"] == 3 and type(ck["a"]) is np.ndarray
    assert tg.load(tmp_path / "c.pt", map_location={"cuda:0": "cpu"})["w"].device == "cpu"
    with pytest.raises(tg.UsageError, match="callable map_location"):
        tg.load(tmp_path / "c.pt", map_location=lambda s, loc: s)


def test_map_location_on_the_cpu(tmp_path):
    tg.save({"w": tg.ones(2)}, tmp_path / "c.pt")
    for loc in (None, "cpu", tg.device("cpu"), {"cpu": "cpu"}, {"cuda:0": "cpu"}):
        assert tg.load(tmp_path / "c.pt", map_location=loc)["w"].device == "cpu"


def test_dataloader_yields_cpu_tensors_to_move(gpu):
    from tinygrad_ko.data import DataLoader, TensorDataset
    x, t = np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6)
    for xb, tb in DataLoader(TensorDataset(x, t), batch_size=4, shuffle=True, seed=0):
        assert xb.device == "cpu" and tb.device == "cpu"
        assert xb.to("cuda").is_cuda
    gpu_ds = TensorDataset(tg.tensor(x, device="cuda"), tg.tensor(t, device="cuda"))
    xb, tb = next(iter(DataLoader(gpu_ds, batch_size=4, shuffle=True, seed=0)))
    assert xb.is_cuda and tb.is_cuda                       # GPU tensors batch on the GPU


def test_no_transfer_in_an_elementwise_step(gpu):
    """The engine itself copies nothing between host and device: numbers become device scalars
    by a fill, gradients start from device ones, leaves accumulate on the device."""
    w = tg.tensor([0.5, -1.0, 2.0], device="cuda").requires_grad_()
    fc.STATS.update(h2d=0, d2h=0)
    for _ in range(3):
        loss = ((w * 3.0 - 1.0) * w).sum()
        loss.backward()
        with tg.no_grad():
            w -= 0.1 * w.grad
        w.grad = None
    assert fc.STATS["h2d"] == 0 and fc.STATS["d2h"] == 0
