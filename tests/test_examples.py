"""Smoke tests: every example runs with tiny settings and prints what it promises."""
import importlib.util
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import DATASETS

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")
HAVE_MNIST = os.path.exists(os.path.join(DATASETS, "mnist", "train-images-idx3-ubyte.gz"))
HAVE_CATS = os.path.exists(os.path.join(DATASETS, "catvnoncat", "train_catvnoncat.h5"))
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason=f"MNIST files not found at {DATASETS}: "
                                                        f"set TINYGRAD_KO_DATA")


def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["mnist", "logistic_regression", "gradient_descent",
                                  "gradient_check", "chain_rule", "fur_and_wings", "benchmark",
                                  "simple_convnet"])
def test_help(name, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [name, "--help"])
    with pytest.raises(SystemExit) as e:
        load(name).main()
    assert e.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_gradient_descent(capsys):
    num, bp = load("gradient_descent").main([])
    assert np.abs(num).max() < 1e-6 and np.abs(bp).max() < 1e-6
    np.testing.assert_allclose(num, bp, atol=1e-12)
    big, _ = load("gradient_descent").main(["--lr", "10", "--steps", "10"])
    assert np.abs(big).max() > 1e10                        # too big a learning rate diverges
    small, _ = load("gradient_descent").main(["--lr", "1e-10", "--steps", "100"])
    np.testing.assert_allclose(small, [-3.0, 4.0], atol=1e-6)   # too small: barely moves
    assert "numerical_gradient" in capsys.readouterr().out


def test_chain_rule(tmp_path, capsys):
    out = load("chain_rule").main(["--out", str(tmp_path / "graph.dot")])
    assert out["J"] == 33 and out["grads"] == (3, 6, 9)
    text = capsys.readouterr().out
    assert "J = 3(a + b*c) = 33" in text and "dJ/db = 6" in text and "local derivative" in text
    assert (tmp_path / "graph.dot").read_text().startswith("digraph")


def test_fur_and_wings(capsys):
    out = load("fur_and_wings").main([])
    assert out["accuracy"] == 1.0 and out["loss"] < 0.05
    assert "mammal" in capsys.readouterr().out


def test_logistic_regression_synthetic(capsys):
    out = load("logistic_regression").main(["--synthetic", "--iterations", "300"])
    costs = out["costs"]
    assert costs[0] == pytest.approx(np.log(2)) and all(b < a for a, b in zip(costs, costs[1:]))
    assert out["train_accuracy"] > 90
    assert "Cost after iteration 200" in capsys.readouterr().out


@pytest.mark.skipif(not HAVE_CATS, reason=f"cat/non-cat files not found at {DATASETS}")
def test_logistic_regression_matches_the_course(capsys):
    pytest.importorskip("h5py", reason="h5py is needed to read the course's HDF5 files")
    out = load("logistic_regression").main(["--data-dir", os.path.join(DATASETS, "catvnoncat")])
    costs = out["costs"]
    # the course notebook's printed values
    assert f"{costs[0]:.6f}" == "0.693147" and f"{costs[1]:.6f}" == "0.584508"
    assert f"{costs[19]:.6f}" == "0.140872"
    assert out["train_accuracy"] == pytest.approx(99.04306220095694)
    assert out["test_accuracy"] == pytest.approx(70.0)


@needs_mnist
def test_gradient_check(capsys):
    out = load("gradient_check").main(["--batch", "2", "--hidden", "4"])
    assert set(out["diffs"]) == {"W1", "b1", "W2", "b2"}
    assert max(out["diffs"].values()) < 1e-7
    assert "gradcheck(fast_mode=True) passed" in capsys.readouterr().out


@needs_mnist
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_mnist_smoke(model, tmp_path, capsys):
    out = load("mnist").main(["--model", model, "--subset", "512", "--test-subset", "200",
                              "--epochs", "1", "--max-steps", "4", "--out-dir", str(tmp_path),
                              "--no-progress"])
    h = out["history"]
    assert len(h["val_acc"]) == 1 and 0.0 <= h["val_acc"][0] <= 1.0 and np.isfinite(h["loss"][0])
    assert 0.0 <= out["test"]["acc"] <= 1.0 and np.isfinite(out["test"]["loss"])
    assert os.path.exists(out["checkpoint"])
    text = capsys.readouterr().out
    assert "validation accuracy:" in text and "test accuracy:" in text and "epoch 1/1" in text
    # the validation images are the last training images, never the test set
    assert "train (512, " in text and "validation (512, " in text and "test (200, " in text


@needs_mnist
def test_mnist_device_cuda_on_a_fake_gpu(tmp_path, capsys, monkeypatch):
    """--device cuda: the model, the training and validation batches and the final test on the
    GPU (here the fake CuPy of _fake_cupy)."""
    import _fake_cupy as fc
    fc.install(monkeypatch)
    out = load("mnist").main(["--model", "cnn", "--device", "cuda", "--subset", "128",
                              "--test-subset", "100", "--val-size", "1000", "--epochs", "1",
                              "--max-steps", "2", "--out-dir", str(tmp_path), "--no-progress"])
    assert "device: cuda" in capsys.readouterr().out and 0.0 <= out["test"]["acc"] <= 1.0


@needs_mnist
def test_mnist_validation_comes_from_the_training_set(tmp_path, capsys):
    load("mnist").main(["--val-size", "5000", "--subset", "300", "--test-subset", "100",
                        "--epochs", "1", "--max-steps", "1", "--out-dir", str(tmp_path),
                        "--no-progress"])
    assert "train (300, 784), validation (300, 784), test (100, 784)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        load("mnist").main(["--val-size", "60000", "--out-dir", str(tmp_path)])


@needs_mnist
def test_simple_convnet_smoke(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the filter pictures need matplotlib")
    out = load("simple_convnet").main(["--subset", "200", "--test-subset", "100", "--epochs", "1",
                                       "--max-steps", "2", "--out-dir", str(tmp_path),
                                       "--no-progress"])
    model = out["model"]
    assert model.num_parameters() == 30 * 25 + 30 + 4320 * 100 + 100 + 100 * 10 + 10   # the book's
    assert model[0].weight.shape == (30, 1, 5, 5)
    assert 0.0 <= out["test"]["acc"] <= 1.0 and len(out["history"]["val_acc"]) == 1
    assert all(os.path.getsize(p) > 0 for p in out["filters"]) and os.path.exists(out["checkpoint"])
    text = capsys.readouterr().out
    assert "train (200, 1, 28, 28), validation (200, 1, 28, 28), test (100, 1, 28, 28)" in text
    assert "validation accuracy:" in text and "test accuracy:" in text


def test_simple_convnet_book_init():
    sc = load("simple_convnet")
    import tinygrad_ko as tg
    tg.manual_seed(0)
    w = sc.simple_conv_net(0.01)[4].weight.numpy()
    assert abs(w.std() - 0.01) < 1e-3 and abs(w.mean()) < 1e-3
    assert not sc.simple_conv_net(0.01)[4].bias.numpy().any()            # zero biases, as the book
    assert sc.simple_conv_net(None)[0].bias.numpy().any()                 # the layers' own init


def _bench():
    bench = load("benchmark")
    from bench import book, steps   # examples/bench, put on sys.path by the benchmark
    return bench, book, steps


def test_benchmark_runs_each_implementation_in_its_own_process(capsys):
    bench, _, _ = _bench()
    out = bench.main(["--quick", "--burst", "1", "--warm", "0", "--threads", "1",
                      "--skip-gradcheck", "--rows", "784-50-10,SimpleConvNet",
                      "--impls", "book,tinygrad_ko,floor,fused"])
    text = capsys.readouterr().out
    assert "each in its own process" in text and "1 threads per implementation" in text
    mlp, cnn = out["rows"]
    assert mlp["median"].keys() == {"book", "tinygrad_ko", "floor", "fused"}
    assert cnn["median"].keys() == {"book", "tinygrad_ko", "floor"}   # no fused CNN
    assert all(t > 0 for r in out["rows"] for t in r["median"].values())
    lo, hi = mlp["spread"]["book"]
    assert 0 < lo <= hi
    assert out["memory"]["SimpleConvNet b100"]["tinygrad_ko"] > 1   # MB; /proc is there on Linux
    assert "| 784-50-10 b100 |" in text and "| SimpleConvNet b100 |" in text and "tg/book" in text
    assert "MB tg/torch" in text


def test_benchmark_ratio_spread_and_alternating_order():
    """Medians over all timed steps; the spread is the min-max of the per-round ratios; the
    order of the implementations alternates from round to round."""
    bench, _, steps = _bench()
    order = []

    class Fake:
        def __init__(self, row, impl):
            self.impl, self.k = impl, 0

        def burst(self, k, warm):
            assert warm == 0.5
            order.append(self.impl)
            self.k += 1
            t = {"tinygrad_ko": 1.0, "book": 2.0 if self.k % 2 else 4.0}[self.impl]
            return {"times": [t] * k, "faults": 0}

        def close(self):
            pass
    row = steps.Row("fake", "mlp", 1, {})
    res = bench.time_row(row, ["book", "tinygrad_ko"], Fake, rounds=4, warmup=1, burst=2, warm=0.5)
    assert order[:4] == ["book", "tinygrad_ko", "tinygrad_ko", "book"]
    assert res["median"] == {"book": 3.0, "tinygrad_ko": 1.0}
    assert res["spread"]["book"] == (0.25, 0.5)


def test_benchmark_burst_starts_with_untimed_steps():
    """A burst first runs untimed steps (at least one, for ``warm`` seconds), then times k."""
    bench, _, _ = _bench()
    calls = []
    res = bench.run_burst(lambda: calls.append(1), 3)
    assert len(calls) == 4 and len(res["times"]) == 3
    calls.clear()
    start = time.perf_counter()
    bench.run_burst(lambda: (calls.append(1), time.sleep(0.01)), 2, warm=0.1)
    assert time.perf_counter() - start >= 0.1 and len(calls) >= 2 + 0.1 / 0.02


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads /proc (Linux)")
def test_benchmark_waits_for_a_worker_to_stop_spinning():
    """Before the next worker runs, the last one's threads must stop using the CPU (a BLAS pool
    spins for a while after its work); a process that spins for 0.4 s is waited for, an idle one
    is not."""
    bench, _, _ = _bench()
    code = "import time\nt = time.time()\nwhile time.time() - t < 0.4: pass\ntime.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.05)
        start = time.perf_counter()
        bench.wait_until_idle(proc.pid)
        spun = time.perf_counter() - start
        start = time.perf_counter()
        bench.wait_until_idle(proc.pid)
        idle = time.perf_counter() - start
    finally:
        proc.kill()
        proc.wait()
    assert 0.2 < spun < 1.0 and idle < 0.1


def test_benchmark_notes_page_faults(capsys, monkeypatch):
    """A step that faults its memory in again every time is named under the table, with its count."""
    bench, _, _ = _bench()
    counter = iter(range(0, 10**9, 100))        # 100 faults between any two readings
    monkeypatch.setattr(bench, "minor_faults", lambda: next(counter))
    bench.main(["--quick", "--in-process", "--skip-gradcheck", "--rows", "784-50-10",
                "--impls", "book,tinygrad_ko"])
    out = capsys.readouterr().out
    assert "in one process, interleaved" in out
    assert "note: tinygrad_ko took 100 page faults per step at 784-50-10 b100" in out
    assert "note: book took 100 page faults per step" in out


def test_benchmark_cnn_row_is_the_mnist_example_model():
    _, _, steps = _bench()
    ours = steps.cnn_tinygrad(steps.MNIST_CNN)(2).model
    example = load("mnist").make_model("cnn")
    assert [p.shape for p in ours.parameters()] == [p.shape for p in example.parameters()]
    assert [type(m) for m in ours] == [type(m) for m in example]


@pytest.mark.parametrize("net", ["SIMPLE_CONVNET", "MNIST_CNN"])
def test_benchmark_cnn_implementations_take_the_same_step(net):
    """The CNN rows compare equal work: the book's SimpleConvNet, tinygrad_ko and PyTorch give
    the same loss and the same updated weights after one step."""
    _, book, steps = _bench()
    layers = getattr(steps, net)
    tg_step = steps.cnn_tinygrad(layers)(4)
    loss = tg_step().item()
    params = [p.numpy() for p in tg_step.model.parameters()]
    w0 = steps.cnn_weights(layers)
    assert not np.allclose(params[0], w0[0][0])
    if net == "SIMPLE_CONVNET":
        b = steps.cnn_book(layers)(4)
        b()
        assert abs(b.model.last_layer.loss - loss) < 1e-5
        for key, p in zip(["W1", "b1", "W2", "b2", "W3", "b3"], params):
            ref = b.model.params[key]
            np.testing.assert_allclose(ref if ref.ndim != 2 else ref.T, p, rtol=1e-4, atol=1e-6)
    pytest.importorskip("torch")
    t_step = steps.cnn_torch(layers)(4)
    assert abs(t_step().item() - loss) < 1e-5
    for p, q in zip(params, t_step.model.parameters()):
        np.testing.assert_allclose(p, q.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_benchmark_book_and_tinygrad_take_the_same_training_step():
    """The benchmark compares equal work: one step of the book's layers, of tinygrad_ko and of the
    hand-fused NumPy step give the same loss and the same updated weights."""
    bench, book_mod, steps = _bench()
    rng = np.random.default_rng(1)
    sizes = (12, 7, 5, 3)
    weights = [(rng.standard_normal((o, i)).astype(np.float32),
                rng.standard_normal(o).astype(np.float32)) for i, o in zip(sizes[:-1], sizes[1:])]
    x = rng.random((6, 12), dtype=np.float32)
    t = rng.integers(0, 3, 6)
    book, step = book_mod.BookNet(weights), steps.make_tinygrad(weights)
    book.step(x, t, steps.LR)
    import tinygrad_ko as tg
    from tinygrad_ko import nn
    loss = step(tg.Tensor(x), tg.Tensor(t))
    assert abs(book.lastLayer.loss - loss.item()) < 1e-5
    fused = steps.make_fused(weights)
    assert abs(book.lastLayer.loss - fused(x, t)) < 1e-5
    layers = [m for m in step.model if isinstance(m, nn.Linear)]
    for k, lin in enumerate(layers, 1):
        np.testing.assert_allclose(book.params[f"W{k}"], lin.weight.numpy().T, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(book.params[f"b{k}"], lin.bias.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(book.params[f"W{k}"], fused.params[0][k - 1], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(book.params[f"b{k}"], fused.params[1][k - 1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(book.params["W1"], weights[0][0].T)   # the step did change the weights


def test_property_test_your_op_passes(monkeypatch):
    """The example's tests, run here: Softplus's class and the loss's test pass; the broken op
    only exists with TG_SHOW_BROKEN=1."""
    monkeypatch.delenv("TG_SHOW_BROKEN", raising=False)
    mod = load("property_test_your_op")
    assert not hasattr(mod, "TestMSELossBroken")
    tests = sorted(n for n in vars(mod.TestSoftplus) if n.startswith("test_"))
    assert tests == ["test_first_order", "test_float32", "test_second_order"]
    for n in tests:
        getattr(mod.TestSoftplus(), n)()
    mod.test_cross_entropy()


def test_property_test_your_op_shows_the_broken_report():
    """``TG_SHOW_BROKEN=1 python -m pytest examples/property_test_your_op.py``: the broken op fails
    with the report (the input, the worst element, the two values, the tolerances)."""
    import subprocess
    root = os.path.dirname(EXAMPLES)
    env = dict(os.environ, TG_SHOW_BROKEN="1", PYTHONPATH=root)
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                        os.path.join(EXAMPLES, "property_test_your_op.py")],
                       cwd=root, env=env, capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "1 failed, 4 passed" in out, out
    assert "FAILED examples/property_test_your_op.py::TestMSELossBroken::test_first_order" in out
    for part in ("MSELossBroken: first-order gradients", "worst element: input 0",
                 "analytic (backprop):", "numeric (central differences):"):
        assert part in out, part
    import re
    m = re.search(r"d output / d input is (\S+) by backprop, (\S+) numerically", out)
    assert m and float(m[2]) == pytest.approx(2 * float(m[1]))     # the missing factor of 2
