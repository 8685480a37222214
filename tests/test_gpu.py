"""The GPU (issue 20): every registry op on CUDA against the CPU, training steps without a
host-device copy, devices, Module.to and checkpoints, on a real NVIDIA GPU through CuPy.

Marked ``gpu``; skipped, with the reason, where CuPy is not installed or sees no GPU (CI). The
same code paths run in CI on a fake CuPy (tests/test_gpu_fake.py, tests/test_device.py). Run on a
GPU machine with ``python -m pytest -m gpu tests/test_gpu.py`` (or tests/gpu/run_checks.py, which
also sweeps every op, times steps and runs the examples). ``TINYGRAD_KO_GPU_EXAMPLES=N`` sets the
hypothesis examples per op (default: the profile's).
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import _gpu_compare as cmp
import tinygrad_ko as tg
from tinygrad_ko import nn, optim
from tinygrad_ko.nn import functional as F
from tinygrad_ko.registry import REGISTRY
from tinygrad_ko.testing import op_inputs


def _gpu_reason() -> str:
    try:
        import cupy  # noqa: F401
    except ImportError as e:
        return f"CuPy is not installed ({e}): pip install cupy-cuda12x (or cupy-cuda13x)"
    except Exception as e:  # a broken CuPy install
        return f"CuPy fails to import: {type(e).__name__}: {e}"
    if not tg.cuda.is_available():
        return "CuPy is installed but sees no CUDA GPU"
    return ""


REASON = _gpu_reason()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(bool(REASON), reason=REASON or "GPU present")]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPS = sorted(REGISTRY)
_EXAMPLES = int(os.environ.get("TINYGRAD_KO_GPU_EXAMPLES", "0"))
# fewer hypothesis examples per op when asked (run_checks.py: its own sweep covers every op)
examples = settings(max_examples=_EXAMPLES) if _EXAMPLES else (lambda f: f)


def _cp():
    import cupy
    return cupy


# -- every registry op: CUDA gives the CPU's values and gradients (tests/_gpu_compare.py) -------------
@pytest.mark.parametrize("name", OPS)
@examples
@given(data=st.data())
def test_op_on_cuda_matches_cpu_first_order(name, data):
    spec = REGISTRY[name]
    args, kwargs = data.draw(op_inputs(spec), label="inputs")
    cmp.compare_first_order(spec, args, kwargs, "cuda")


@pytest.mark.parametrize("name", [n for n in OPS if REGISTRY[n].second_order])
@examples
@given(data=st.data())
def test_op_on_cuda_matches_cpu_second_order(name, data):
    spec = REGISTRY[name]
    args, kwargs = data.draw(op_inputs(spec), label="inputs")
    cmp.compare_second_order(spec, args, kwargs, "cuda")


@pytest.mark.parametrize("name", OPS)
@examples
@given(data=st.data())
def test_float32_stays_float32_on_cuda(name, data):
    spec = REGISTRY[name]
    args, kwargs = data.draw(op_inputs(spec), label="inputs")
    cmp.check_float32(spec, args, kwargs, "cuda")


def test_dropout_draws_its_mask_on_the_gpu():
    """Without a generator, dropout draws on the GPU (no copy): each gradient element is 0 or
    1/(1-p), and the output is the input times it."""
    x = tg.randn(1000, device="cuda").requires_grad_()
    out = F.dropout(x, 0.3, True)
    out.backward(tg.ones_like(out))
    g = x.grad.cpu().numpy()
    assert np.all((g == 0) | np.isclose(g, 1 / 0.7)) and 0.5 < (g > 0).mean() < 0.9
    np.testing.assert_allclose(out.cpu().numpy(), x.detach().cpu().numpy() * g, rtol=1e-6)


# -- no host-device copy inside a training step ------------------------------------------------------
class TransferCounter:
    """Counts host<->device copies while active.

    CuPy 14 has no transfer guard, and ``cupyx.allow_synchronize`` is deprecated (and may be gone),
    so the counter patches what every copy goes through: CuPy's Python-level functions
    (``cupy.asarray``/``cupy.array`` of host data: host to device; ``cupy.asnumpy``), and
    ``cupy._core.syncdetect._declare_synchronize``, which ``ndarray.get()`` (so ``.item()``,
    ``.tolist()``, ``float()``) and device synchronisation call. ``tinygrad_ko.device``'s own
    ``to_host``/``to_device`` are counted too. A self-test (``check_detects``) makes sure a
    real ``.get()`` is seen, so a CuPy that changed its internals fails loudly instead of
    passing silently."""

    def __init__(self, monkeypatch):
        import tinygrad_ko.device  # noqa: F401 (the module, through sys.modules below)
        cp = _cp()
        self.counts = {"sync_or_d2h": 0, "h2d": 0, "lib": 0}
        self.active = False
        dev = sys.modules["tinygrad_ko.device"]

        def counting(fn, key, only_host_args=False):
            def wrapper(*a, **k):
                if self.active and (not only_host_args or not isinstance(a[0], cp.ndarray)):
                    self.counts[key] += 1
                return fn(*a, **k)
            return wrapper

        monkeypatch.setattr(cp, "asarray", counting(cp.asarray, "h2d", True))
        monkeypatch.setattr(cp, "array", counting(cp.array, "h2d", True))
        monkeypatch.setattr(cp, "asnumpy", counting(cp.asnumpy, "sync_or_d2h"))
        monkeypatch.setattr(dev, "to_host", self._lib(dev.to_host))
        monkeypatch.setattr(dev, "to_device", self._lib(dev.to_device))
        try:
            from cupy._core import syncdetect
        except ImportError:
            syncdetect = None
        self.hooked = syncdetect is not None and hasattr(syncdetect, "_declare_synchronize")
        if self.hooked:
            monkeypatch.setattr(syncdetect, "_declare_synchronize",
                                counting(syncdetect._declare_synchronize, "sync_or_d2h"))

    def _lib(self, fn):
        def wrapper(arr, *a, **k):
            out = fn(arr, *a, **k)
            if self.active and out is not arr:
                self.counts["lib"] += 1
            return out
        return wrapper

    @contextlib.contextmanager
    def __call__(self):
        for k in self.counts:
            self.counts[k] = 0
        self.active = True
        try:
            yield self.counts
        finally:
            self.active = False

    def check_detects(self):
        x = tg.ones(3, device="cuda")
        with self() as c:
            x.sum().item()
        assert c["sync_or_d2h"] + c["lib"] >= 1, (
            "the transfer counter did not see a device-to-host copy (.item()): CuPy's internals "
            "changed; update TransferCounter")


def _mlp():
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 10))


def _cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


@pytest.mark.parametrize("kind, shape, batch", [("mlp", (784,), 256), ("cnn", (1, 28, 28), 64)])
def test_training_step_makes_no_host_device_copy(monkeypatch, kind, shape, batch):
    """No copy but one documented read-back per step: cross_entropy checks its class indices
    (one scalar, as PyTorch's device-side assert; tests/test_gpu_fake.py counts them exactly)."""
    tg.manual_seed(0)
    model = (_mlp() if kind == "mlp" else _cnn()).to("cuda")
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x = tg.randn(batch, *shape, device="cuda")
    t = tg.randint(0, 10, (batch,), device="cuda")
    counter = TransferCounter(monkeypatch)
    counter.check_detects()

    def step():
        loss = F.cross_entropy(model(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    first = step()          # the first step creates the optimizer state: not counted either way
    with counter() as counts:
        for _ in range(3):
            loss = step()
    assert counts["h2d"] == 0 and counts["lib"] == 0, counts
    assert counts["sync_or_d2h"] <= 3, counts       # the class check: one scalar per step
    assert loss.is_cuda and loss.item() < first.item() + 1.0   # it trains (and .item() works)


def test_training_reduces_the_loss_as_on_the_cpu():
    tg.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((64, 784)).astype(np.float32)
    t = np.random.default_rng(1).integers(0, 10, 64)
    losses = {}
    for dev in ("cpu", "cuda"):
        tg.manual_seed(0)
        model = _mlp().double().to(dev)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        xs, ts = tg.tensor(x, dtype=tg.float64, device=dev), tg.tensor(t, device=dev)
        run = []
        for _ in range(5):
            loss = F.cross_entropy(model(xs), ts)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses[dev] = run
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-9)


# -- devices, errors, modules and checkpoints --------------------------------------------------------
def test_devices_and_conversions():
    cp = _cp()
    x = tg.tensor([1.0, 2.0, 3.0])
    y = x.to("cuda")
    assert y.device == tg.device("cuda", 0) and y.is_cuda and isinstance(y._data, cp.ndarray)
    assert x.cuda().device == "cuda:0" and y.cpu().device == "cpu" and y.to("cuda") is y
    with pytest.raises(tg.DeviceError, match=r"t\.cpu\(\)\.numpy\(\)"):
        y.numpy()
    assert y.tolist() == [1.0, 2.0, 3.0] and y.sum().item() == 6.0 and float(y[0]) == 1.0
    assert tg.zeros(2, device="cuda").is_cuda and tg.randn(2, 2, device="cuda").is_cuda
    assert "device='cuda:0'" in repr(y)
    tg.cuda.synchronize()
    assert tg.cuda.device_count() >= 1 and tg.accelerator.current_accelerator() == "cuda"


def test_two_devices_raise_naming_both_and_the_op():
    a, b = tg.ones(3), tg.ones(3, device="cuda")
    with pytest.raises(tg.DeviceError, match="add: .*cpu.*cuda:0"):
        a + b
    with pytest.raises(tg.DeviceError, match="matmul"):
        b @ a
    with pytest.raises(tg.DeviceError, match="linear"):
        nn.Linear(3, 2)(b.reshape(1, 3))


def test_gradient_flows_back_through_to():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x.to("cuda") ** 2).sum().backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [2.0, 4.0]


def test_manual_seed_makes_gpu_randomness_reproducible():
    x = tg.ones(1000, device="cuda")
    tg.manual_seed(3)
    a = F.dropout(x, 0.5, True)
    tg.cuda.manual_seed(3)
    b = F.dropout(x, 0.5, True)
    assert a.is_cuda and a.equal(b)


def test_module_to_and_a_gpu_checkpoint_loads_without_a_gpu(tmp_path):
    m = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    m.to("cuda")
    assert all(t.is_cuda for t in list(m.parameters()) + list(m.buffers()))
    opt = optim.Adam(m.parameters())
    m(tg.randn(8, 4, device="cuda")).sum().backward()
    opt.step()
    assert all(p.grad.is_cuda for p in m.parameters())
    assert all(v.__class__.__module__.startswith("cupy") for v in opt.state[m[0].weight].values()
               if hasattr(v, "shape"))
    tg.save({"model": m.state_dict(), "opt": opt.state_dict()}, tmp_path / "ckpt.pt")
    m.save(tmp_path / "m.npz")
    expected = m[1].running_mean.cpu().tolist()
    # a process that sees no GPU (CUDA_VISIBLE_DEVICES="") loads both on the CPU
    code = textwrap.dedent(f"""
        import tinygrad_ko as tg
        from tinygrad_ko import nn, optim
        assert not tg.cuda.is_available()
        ck = tg.load({str(tmp_path / 'ckpt.pt')!r})
        m = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
        m.load_state_dict(ck["model"])
        optim.Adam(m.parameters()).load_state_dict(ck["opt"])
        m2 = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).load({str(tmp_path / 'm.npz')!r})
        print(m[1].running_mean.tolist() == m2[1].running_mean.tolist() == {expected!r})
    """)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr
    ck = tg.load(tmp_path / "ckpt.pt", map_location="cuda")
    back = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).cuda()
    back.load_state_dict(ck["model"])
    assert back[1].running_mean.is_cuda and back[1].running_mean.cpu().tolist() == expected
