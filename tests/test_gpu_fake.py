"""The GPU code paths in CI, where there is no GPU: everything on the fake CuPy of _fake_cupy (NumPy
arrays of a subclass that refuses to mix with host arrays and counts host-device copies).

- every registered op (a new one joins by registering): on the fake GPU it gives the CPU's values
  and gradients in float64 from its own ``sample``'s inputs, the same create_graph gradients where
  it claims second order, float32 stays float32; and it copies nothing between host and device
  but what is listed below, with the reason;
- training steps (an MLP, a CNN, char_lm's LSTM and GPT) copy nothing and read back only the
  documented scalars, and give the CPU's losses; ``fit(..., device=)`` too;
- the sequence layers, attention and gradient clipping give the CPU's results on the device;
- tests/gpu/run_checks.py (the script of a GPU machine) parses its arguments, runs its parts
  isolated and writes its report, in a dry run.

What the fake cannot show (a real GPU run, tests/test_gpu.py, does): CuPy's own kernels and their
rounding, its synchronisations inside boolean-mask indexing, and speed.
"""
from __future__ import annotations

import collections
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import _fake_cupy as fc
import _gpu_compare as cmp
import tinygrad_ko as tg
from tinygrad_ko import nn, optim
from tinygrad_ko.data import DataLoader, TensorDataset
from tinygrad_ko.device import _reset_for_tests
from tinygrad_ko.nn import functional as F
from tinygrad_ko.registry import REGISTRY
from tinygrad_ko.testing import op_inputs
from tinygrad_ko.train import evaluate, fit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPS = sorted(REGISTRY)
EXAMPLES = 6        # hypothesis examples per op (each runs the op ~8 times): ~5 s in all

# ops that read one value back to the host on the GPU, on purpose: each checks user input that
# the GPU would not (CuPy's indexing wraps a bad index around; a probability outside [0, 1])
READS_BACK = {"cross_entropy": "class indices in range", "nll_loss": "class indices in range",
              "embedding": "row indices in range",
              "binary_cross_entropy": "probabilities in [0, 1]"}
# ops that copy host data to the GPU: dropout's registry sample passes a NumPy generator (so the
# GPU draws the CPU's mask); without one, dropout draws on the GPU
COPIES_IN = {"dropout": "a NumPy generator's mask"}


@pytest.fixture(scope="module", autouse=True)
def fake_gpu():
    """One fake GPU for the module (the hypothesis tests cannot use a function-scoped
    monkeypatch); erf's coefficient table is copied to it once per dtype, before any counting."""
    with pytest.MonkeyPatch.context() as mp:
        fc.install(mp)
        for dtype in (tg.float32, tg.float64):
            F.gelu(tg.zeros(1, dtype=dtype, device="cuda"))
        yield
    _reset_for_tests()


# -- every registry op -------------------------------------------------------------------------------
def test_the_exception_lists_name_registered_ops():
    assert set(READS_BACK) | set(COPIES_IN) <= set(REGISTRY)


@pytest.mark.parametrize("name", OPS)
def test_op_on_the_gpu_gives_the_cpus_results(name):
    spec = REGISTRY[name]
    counts: collections.Counter = collections.Counter()
    watch = lambda: fc.counting(counts)   # noqa: E731 (_gpu_compare's watch)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        args, kwargs = data.draw(op_inputs(spec), label="inputs")
        cmp.compare_first_order(spec, args, kwargs, watch=watch)
        if spec.second_order:
            cmp.compare_second_order(spec, args, kwargs, watch=watch)
        cmp.check_float32(spec, args, kwargs, watch=watch)

    run()
    assert counts["d2h"] == 0, f"{name} copied arrays back to the host: {dict(counts)}"
    assert counts["h2d"] == 0 or name in COPIES_IN, f"{name} copied host data over: {dict(counts)}"
    assert counts["scalar"] == 0 or name in READS_BACK, (
        f"{name} read values back to the host (a sync each): {dict(counts)}")


# -- training steps ----------------------------------------------------------------------------------
def _load_module(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # (dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module


def _load_example(name: str):
    return _load_module(os.path.join(ROOT, "examples", f"{name}.py"), name)


def _mlp():
    return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 10))


def _cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Dropout(0.25), nn.Linear(32, 10))


def _char_lm(kind: str):
    char_lm = _load_example("char_lm")
    if kind == "gpt":
        return char_lm.GPT(vocab=12, block_size=8, n_layer=1, n_head=2, d=16)
    return char_lm.RecurrentLM(12, kind, d_emb=8, hidden=16)


def _batch(kind: str, rng: np.random.Generator):
    if kind == "mlp":
        return rng.standard_normal((16, 20)).astype(np.float32), rng.integers(0, 10, 16)
    if kind == "cnn":
        return rng.standard_normal((8, 1, 8, 8)).astype(np.float32), rng.integers(0, 10, 8)
    ids = rng.integers(0, 12, (4, 9))
    return ids[:, :-1], ids[:, 1:]


def _loss(kind: str, model, x, t):
    if kind in ("mlp", "cnn"):
        return F.cross_entropy(model(x), t)
    logits, _ = model(x)
    B, T, V = logits.shape
    return F.cross_entropy(logits.reshape(B * T, V), t.reshape(B * T))


# values read back per step: cross_entropy's class check, and each embedding's row check
STEP_READS = {"mlp": 1, "cnn": 1, "lstm": 2, "gpt": 3}


@pytest.mark.parametrize("kind", ["mlp", "cnn", "lstm", "gpt"])
def test_a_training_step_copies_nothing_and_matches_the_cpu(kind):
    make = {"mlp": _mlp, "cnn": _cnn, "lstm": lambda: _char_lm("lstm"),
            "gpt": lambda: _char_lm("gpt")}[kind]
    x, t = _batch(kind, np.random.default_rng(0))
    losses = {}
    for device in ("cpu", "cuda"):
        tg.manual_seed(0)
        model = make().to(device)
        if kind == "cnn":
            model.eval()        # dropout draws differently on the two devices
        opt = optim.AdamW(model.parameters(), lr=1e-2)
        xs, ts = tg.tensor(x, device=device), tg.tensor(t, device=device)

        def step():
            loss = _loss(kind, model, xs, ts)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            return loss

        run = [step()]              # the first step makes the optimizer's state
        with fc.counting() as counts:
            run += [step() for _ in range(2)]
        if device == "cuda":
            assert counts == {"h2d": 0, "d2h": 0, "scalar": 2 * STEP_READS[kind]}, counts
            assert all(p.is_cuda and p.grad.is_cuda for p in model.parameters())
        losses[device] = [loss.item() for loss in run]
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-6)
    assert losses["cuda"][-1] < losses["cuda"][0]


def test_a_training_step_with_dropout_draws_on_the_gpu():
    tg.manual_seed(0)
    model = _cnn().to("cuda")
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, t = (tg.tensor(a, device="cuda") for a in _batch("cnn", np.random.default_rng(1)))
    for i in range(3):
        with fc.counting() as counts:
            loss = F.cross_entropy(model(x), t)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if i:
            assert counts == {"h2d": 0, "d2h": 0, "scalar": 1}, counts
    assert model[1].running_mean.is_cuda and np.isfinite(loss.item())


def test_fit_moves_each_batch_and_reads_back_only_the_loss():
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((48, 20)).astype(np.float32), rng.integers(0, 10, 48)
    tg.manual_seed(0)
    model = _mlp().to("cuda")
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loader = DataLoader(TensorDataset(x, t), batch_size=16)
    with fc.counting() as counts:
        history = fit(model, F.cross_entropy, opt, loader, epochs=1, progress_bar=False,
                      log=None, device="cuda")
    # per step: the batch's two arrays in; loss.item() and cross_entropy's class check back
    assert counts == {"h2d": 2 * 3, "d2h": 0, "scalar": 2 * 3}, counts
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    ev = evaluate(model, F.cross_entropy, loader, {"acc": F.accuracy}, device="cuda")
    assert 0.0 <= ev["acc"] <= 1.0


# -- layers on the device ----------------------------------------------------------------------------
def _same_on_both(make, *inputs, out=lambda y: y, copies=0, reads=0):
    """The module's output and every gradient on the fake GPU equal the CPU's (float64), and its
    forward and backward there make ``copies`` host-to-device copies and ``reads`` read-backs."""
    results = {}
    for device in ("cpu", "cuda"):
        tg.manual_seed(0)
        m = make().double().to(device)
        xs = [tg.tensor(a, device=device).requires_grad_() if a.dtype.kind == "f"
              else tg.tensor(a, device=device) for a in inputs]
        with fc.counting() as forward:
            y = out(m(*xs))
        upstream = tg.tensor(np.random.default_rng(1).standard_normal(y.shape), device=device)
        with fc.counting() as backward:
            y.backward(upstream)
        if device == "cuda":
            counts = {k: forward[k] + backward[k] for k in forward}
            assert y.is_cuda and counts == {"h2d": copies, "d2h": 0, "scalar": reads}, counts
        grads = [p.grad for p in m.parameters()] + [x.grad for x in xs if x.requires_grad]
        results[device] = [y.cpu().numpy()] + [g.cpu().numpy() for g in grads]
    for a, b in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


def _mix(outputs):
    """One tensor from a layer's (output, state) for the comparison."""
    out, state = outputs
    states = state if isinstance(state, tuple) else (state,)
    return out.sum() + sum(s.sum() * (k + 2) for k, s in enumerate(states))


SEQ = np.random.default_rng(2).standard_normal((5, 3, 4))


@pytest.mark.parametrize("make, out", [
    (lambda: nn.RNN(4, 6, num_layers=2, bidirectional=True), _mix),
    (lambda: nn.RNN(4, 6, nonlinearity="relu", batch_first=True), _mix),
    (lambda: nn.LSTM(4, 6, num_layers=2), _mix),
    (lambda: nn.LSTM(4, 6, bidirectional=True, batch_first=True), _mix),
    (lambda: nn.GRU(4, 6, num_layers=2), _mix),
], ids=["rnn", "rnn_relu", "lstm", "lstm_bi", "gru"])
def test_recurrent_layers_on_the_gpu(make, out):
    _same_on_both(make, SEQ, out=out)


@pytest.mark.parametrize("make, n_state", [
    (lambda: nn.RNNCell(4, 6), 0), (lambda: nn.LSTMCell(4, 6), 2), (lambda: nn.GRUCell(4, 6), 0)],
    ids=["rnn_cell", "lstm_cell", "gru_cell"])
def test_recurrent_cells_on_the_gpu(make, n_state):
    out = (lambda hc: hc[0] * 1.5 + hc[1]) if n_state else (lambda h: h)
    _same_on_both(make, SEQ[0], out=out)


def test_embedding_layer_norm_and_attention_on_the_gpu():
    ids = np.random.default_rng(3).integers(0, 7, (2, 5))
    _same_on_both(lambda: nn.Embedding(7, 4, padding_idx=0), ids, reads=1)   # the row check
    _same_on_both(lambda: nn.LayerNorm(4), SEQ)
    x = np.random.default_rng(4).standard_normal((2, 5, 8))
    mask = np.triu(np.ones((5, 5), dtype=bool), 1)
    pad = np.zeros((2, 5), dtype=bool)
    pad[1, 4] = True
    _same_on_both(lambda: _MHA(mask, pad), x, copies=2)     # the two host masks, copied over


class _MHA(nn.Module):
    """MultiheadAttention with a causal and a key-padding mask given as host arrays (the layer
    puts them on its device)."""

    def __init__(self, mask: np.ndarray, pad: np.ndarray) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.mask, self.pad = mask, pad

    def forward(self, x):
        out, weights = self.attn(x, x, x, attn_mask=self.mask, key_padding_mask=self.pad)
        return out.sum() + (weights * weights).sum()


@pytest.mark.parametrize("kw", [{"is_causal": True}, {"attn_mask": "bool"}, {"attn_mask": "float"}])
def test_scaled_dot_product_attention_on_the_gpu(kw):
    rng = np.random.default_rng(5)
    q, k, v = (rng.standard_normal((2, 3, 4, 5)) for _ in range(3))
    masks = {"bool": np.tril(np.ones((4, 4), dtype=bool)), "float": rng.standard_normal((4, 4))}
    results = {}
    for device in ("cpu", "cuda"):
        ts = [tg.tensor(a, device=device, requires_grad=True) for a in (q, k, v)]
        args = dict(kw)
        if "attn_mask" in kw:
            args["attn_mask"] = tg.tensor(masks[kw["attn_mask"]], device=device)
        with fc.counting() as counts:
            y = F.scaled_dot_product_attention(*ts, **args)
            y.backward(tg.ones_like(y))
        if device == "cuda":
            assert counts == {"h2d": 0, "d2h": 0, "scalar": 0}, counts
        results[device] = [y.cpu().numpy()] + [t.grad.cpu().numpy() for t in ts]
    for a, b in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("norm_type, scale", [(2.0, 1.0), (2.0, 1e3), (float("inf"), 1e3),
                                              (1.0, 1e3)])
def test_clip_grad_norm_on_the_gpu(norm_type, scale):
    rng = np.random.default_rng(6)
    grads = [rng.standard_normal(s).astype(np.float32) * scale for s in ((3, 4), (5,), (0,))]
    out = {}
    for device in ("cpu", "cuda"):
        ps = [tg.zeros(g.shape, device=device, requires_grad=True) for g in grads]
        for p, g in zip(ps, grads):
            p.grad = tg.tensor(g.copy(), device=device)   # (clipping works in place)
        with fc.counting() as counts:
            total = nn.utils.clip_grad_norm_(ps, 1.0, norm_type)
        if device == "cuda":
            assert total.is_cuda and counts == {"h2d": 0, "d2h": 0, "scalar": 0}, counts
        out[device] = [total.item()] + [p.grad.cpu().numpy() for p in ps]
    assert out["cuda"][0] == out["cpu"][0]
    for a, b in zip(out["cpu"][1:], out["cuda"][1:]):
        np.testing.assert_array_equal(b, a)


def test_clip_grad_norm_of_a_nonfinite_norm_on_the_gpu():
    p = tg.zeros(3, device="cuda", requires_grad=True)
    p.grad = tg.tensor([1.0, float("inf"), 2.0], device="cuda")
    total = nn.utils.clip_grad_norm_([p], 1.0)
    assert total.item() == float("inf") and p.grad.cpu().tolist()[0] == 0.0
    p.grad = tg.tensor([1.0, float("nan"), 2.0], device="cuda")
    with pytest.raises(tg.OpError, match="total norm"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_bad_indices_raise_on_the_gpu_as_on_the_cpu():
    """CuPy's indexing wraps an out-of-range index around: the library checks first."""
    w = tg.randn(5, 3, device="cuda")
    with pytest.raises(tg.IndexOutOfRangeError, match="index 5 is out of range"):
        F.embedding(tg.tensor([1, 5], device="cuda"), w)
    with pytest.raises(tg.IndexOutOfRangeError, match="target class -1"):
        F.cross_entropy(w, tg.tensor([0, 1, 2, -1, 0], device="cuda"))
    with pytest.raises(tg.OpError, match="probabilities"):
        F.binary_cross_entropy(w.sigmoid() * 2, tg.zeros(5, 3, device="cuda"))


# -- tests/gpu/run_checks.py -------------------------------------------------------------------------
def test_run_checks_dry_run(tmp_path):
    """The GPU machine's script parses its arguments, runs every part isolated (a failing part
    does not stop the others) and writes its report: in a dry run, without a GPU."""
    env = dict(os.environ, PYTHONPATH=ROOT, OUT=str(tmp_path))
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "gpu", "run_checks.py"),
                          str(tmp_path / "mnist"), "--dry-run"], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    report = (tmp_path / "gpu_report.txt").read_text()
    for part in ("machine", "pytest", "ops", "steps", "mnist", "char_lm", "summary"):
        assert f"== {part}" in report, report
    assert "dry run" in report and "FAILED (deliberately" in report
    summary = report.split("== summary")[1]
    assert "ops      FAILED" in summary and "mnist    TIMED OUT" in summary
    assert "test accuracy 99.10% (MET" in summary and "40.0 iterations/s" in summary
    assert "3 passed, 1 skipped" in summary and "ms vs torch" in summary


def test_run_checks_gpu_parts_on_the_fake_gpu(capsys):
    """The parts that need a GPU, run here on the fake one: the op sweep and the step timing
    (PyTorch's side fails without CUDA, and says so)."""
    import argparse
    run_checks = _load_module(os.path.join(ROOT, "tests", "gpu", "run_checks.py"), "run_checks")
    run_checks.part_ops(argparse.Namespace(dry_run=False, deadline=60, seeds=1))
    out = capsys.readouterr().out
    summary = [ln for ln in out.splitlines() if ln.startswith(run_checks.SUMMARY)]
    assert summary == [f"{run_checks.SUMMARY}{len(REGISTRY)}/{len(REGISTRY)} ops give the CPU's "
                       f"values and gradients (rtol 1e-09)"], out
    run_checks.part_steps(argparse.Namespace(dry_run=False, steps=1, warmup=1))
    out = capsys.readouterr().out
    assert "MNIST CNN, batch 64: tinygrad_ko" in out and "MLP 784-512-512-10, batch 256: " \
        "tinygrad_ko" in out, out
    assert "SUMMARY: cnn " in out
