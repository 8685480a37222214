"""Benchmark: one full training step (forward, softmax cross-entropy, backward, SGD update) of an
MLP on synthetic float32 MNIST-shaped data, implementations interleaved round by round in one
process (a burst of 4 consecutive steps of each per round, as a training loop runs its step back to
back; --burst 1 alternates single steps); prints each one's median step time and its ratio to the
baseline.

    python examples/benchmark.py            # everything (about a minute)
    python examples/benchmark.py --quick    # fewer rounds, extrapolated full gradient check

Implementations:
  book        the book's hand-written NumPy layers (Affine, Relu, SoftmaxWithLoss), float32 -- baseline
  tinygrad_ko nn.Linear / nn.ReLU / F.cross_entropy / optim.SGD through the public API
  torch       PyTorch on the CPU, when installed
  floor       just the NumPy matmuls the step needs (forward, dW of every layer, dX of all but the first)
  fused       the same step written out by hand as one NumPy function, in place wherever it owns the
              array (no variant we tried was faster at 784-512-512-10): what plain NumPy can do
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import OrderedDict
from typing import Callable

# PyTorch's OpenMP threads spin-wait between ops by default; interleaved with NumPy's OpenBLAS
# threads in one process, that starves both (steps 10-50x slower). Passive waiting keeps the
# comparison fair. It must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# --threads N (read here, before NumPy loads its BLAS) gives every implementation N threads: with
# another busy process on a 2-core machine, threaded matmuls stall, and 1 thread is the fair setting.
if "--threads" in sys.argv:
    _n = sys.argv[sys.argv.index("--threads") + 1]
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _n

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tinygrad_ko as tg  # noqa: E402
from tinygrad_ko import nn, optim  # noqa: E402
from tinygrad_ko.nn import functional as F  # noqa: E402

CONFIGS = [((784, 50, 10), 100), ((784, 100, 10), 100), ((784, 512, 512, 10), 256)]
LR = 0.1


# -- the book's layers (밑바닥부터 시작하는 딥러닝, common/functions.py and common/layers.py, and
# ch05/two_layer_net.py's gradient() and training loop), as the book writes them; float32 data ----
def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)   # overflow guard
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def cross_entropy_error(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:   # one-hot targets -> class indices
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = (x <= 0)
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        dx = dout
        return dx


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x
        out = np.dot(self.x, self.W) + self.b
        return out

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        dx = dx.reshape(*self.original_x_shape)
        return dx


class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        if self.t.size == self.y.size:   # one-hot targets
            dx = (self.y - self.t) / batch_size
        else:
            dx = self.y.copy()
            dx[np.arange(batch_size), self.t] -= 1
            dx = dx / batch_size
        return dx


class BookNet:
    """The book's TwoLayerNet (ch05/two_layer_net.py), for any number of Affine-Relu layers."""

    def __init__(self, weights):
        self.params = {}
        self.layers = OrderedDict()
        for k, (W, b) in enumerate(weights, 1):
            self.params[f"W{k}"], self.params[f"b{k}"] = W.T.copy(), b.copy()   # W is (in, out)
            self.layers[f"Affine{k}"] = Affine(self.params[f"W{k}"], self.params[f"b{k}"])
            if k < len(weights):
                self.layers[f"Relu{k}"] = Relu()
        self.lastLayer = SoftmaxWithLoss()
        self.n = len(weights)

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        y = self.predict(x)
        return self.lastLayer.forward(y, t)

    def gradient(self, x, t):
        self.loss(x, t)
        dout = 1
        dout = self.lastLayer.backward(dout)
        layers = list(self.layers.values())
        layers.reverse()
        for layer in layers:
            dout = layer.backward(dout)
        grads = {}
        for k in range(1, self.n + 1):
            grads[f"W{k}"], grads[f"b{k}"] = self.layers[f"Affine{k}"].dW, self.layers[f"Affine{k}"].db
        return grads

    def step(self, x, t):   # ch05/train_neuralnet.py's loop body
        grad = self.gradient(x, t)
        for key in self.params:
            self.params[key] -= LR * grad[key]


# -- the others ----------------------------------------------------------------------------------
def make_tinygrad(weights):
    layers = []
    for k, (W, b) in enumerate(weights):
        lin = nn.Linear(W.shape[1], W.shape[0])
        lin.weight.numpy()[...] = W
        lin.bias.numpy()[...] = b
        layers.append(lin)
        if k < len(weights) - 1:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    opt = optim.SGD(model.parameters(), lr=LR)

    def step(x, t):
        loss = F.cross_entropy(model(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    step.model = model   # for the test that every implementation takes the same step
    return step


def make_torch(weights):
    import torch
    layers = []
    for k, (W, b) in enumerate(weights):
        lin = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if k < len(weights) - 1:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=LR)

    def step(x, t):
        loss = torch.nn.functional.cross_entropy(model(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step


def make_floor(weights):
    Ws = [W.T.copy() for W, _ in weights]   # (in, out), row-major: BLAS's faster orientation

    def step(x, t):
        acts = [x]
        for W in Ws:
            acts.append(acts[-1] @ W)
        g = acts[-1]
        for k in reversed(range(len(Ws))):
            acts[k].T @ g                  # dW
            if k:
                g = g @ Ws[k].T            # dX (not needed for the input layer)
    return step


def make_fused(weights):
    """The step as one hand-written NumPy function, with no framework and no layer objects: row-major
    (in, out) weights, bias added in place, ReLU and its backward in place (this function owns those
    arrays; a framework's ReLU must not overwrite its input, which its user may hold), the stable
    softmax cross-entropy and its gradient (y - t) / N, and p -= lr * g. Its distance from the floor
    is NumPy's own elementwise work; tinygrad_ko's distance from it is the framework's cost."""
    Ws = [W.T.copy() for W, _ in weights]
    bs = [b.copy() for _, b in weights]

    def step(x, t):
        acts = [x]
        for k, (W, b) in enumerate(zip(Ws, bs)):
            y = acts[-1] @ W
            y += b
            if k < len(Ws) - 1:
                np.maximum(y, 0, out=y)
            acts.append(y)
        z = acts[-1]
        shifted = z - z.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(len(t))
        loss = np.log(s[:, 0]).mean() - shifted[rows, t].mean()   # reported, as by the others
        g = e / s                                     # softmax
        g[rows, t] -= 1                               # y - t
        g *= np.float32(1 / len(t))
        for k in reversed(range(len(Ws))):
            gW = acts[k].T @ g
            gb = np.ones(len(g), g.dtype) @ g
            if k:
                gx = g @ Ws[k].T
                gx *= acts[k] > 0
            Ws[k] -= LR * gW
            bs[k] -= LR * gb
            if k:
                g = gx
        return loss
    step.params = (Ws, bs)   # for the test that every implementation takes the same step
    return step


BURST = 4   # consecutive steps of one implementation per round (--burst)
FAULTS_NOTE = 50   # minor page faults per step above which the table gets a note


try:
    import resource

    def minor_faults() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
except ImportError:   # Windows: not counted
    def minor_faults() -> int:
        return 0


def median_times(steps: dict[str, Callable[[], object]], rounds: int, warmup: int,
                 burst: int | None = None, faults: dict[str, float] | None = None
                 ) -> dict[str, float]:
    """Interleave the implementations round by round so machine noise hits them alike; in each
    round every implementation runs ``burst`` consecutive steps, each timed, as a training loop
    runs its step back to back. (A single step squeezed between other libraries' steps starts
    with the CPU caches full of their code and data: every implementation is slower that way,
    the one with the most Python code per step the most. --burst 1 measures it.)

    ``faults``, if given, receives each implementation's minor page faults per timed step: glibc's
    allocator can give freed memory back to the system after every step and fault it in again on
    the next, which can double a step's time (docs/benchmarks.md); counted outside the timing."""
    burst = BURST if burst is None else burst
    times: dict[str, list[float]] = {k: [] for k in steps}
    faulted = dict.fromkeys(steps, 0)
    for r in range(warmup + rounds):
        for name, step in steps.items():
            for _ in range(burst):
                before = minor_faults()
                start = time.perf_counter()
                step()
                elapsed = time.perf_counter() - start
                if r >= warmup:
                    times[name].append(elapsed)
                    faulted[name] += minor_faults() - before
    if faults is not None:
        faults.update({k: faulted[k] / len(v) for k, v in times.items()})
    return {k: float(np.median(v)) for k, v in times.items()}


def mlp_benchmark(rounds: int) -> list[dict]:
    try:
        import torch
        torch.manual_seed(0)
    except ImportError:
        torch = None
        print("(PyTorch not installed: its column is skipped; pip install torch to compare)")
    rng = np.random.default_rng(0)
    rows = []
    for sizes, batch in CONFIGS:
        weights = [((rng.standard_normal((o, i)) * np.sqrt(2.0 / i)).astype(np.float32),
                    np.zeros(o, np.float32)) for i, o in zip(sizes[:-1], sizes[1:])]
        x = rng.random((batch, sizes[0]), dtype=np.float32)
        t = rng.integers(0, sizes[-1], batch)
        book, tgs, floor = BookNet(weights), make_tinygrad(weights), make_floor(weights)
        fused = make_fused(weights)
        xt, tt = tg.Tensor(x), tg.Tensor(t)
        steps = {"book": lambda: book.step(x, t), "tinygrad_ko": lambda: tgs(xt, tt),
                 "floor": lambda: floor(x, t), "fused": lambda: fused(x, t)}
        if torch is not None:
            ts, xp, tp = make_torch(weights), torch.from_numpy(x), torch.from_numpy(t)
            steps["torch"] = lambda: ts(xp, tp)
        n = rounds if batch <= 100 else max(rounds // 5, 30)
        faults: dict[str, float] = {}
        med = median_times(steps, n, warmup=max(n // 10, 5), faults=faults)
        rows.append({"config": "-".join(map(str, sizes)) + f" b{batch}", "median": med,
                     "faults": faults})
    return rows


def cnn_benchmark(rounds: int) -> dict[str, float]:
    """A training step of the small CNN of examples/mnist.py --model cnn, batch 64."""
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 64)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    opt = optim.SGD(model.parameters(), lr=0.01)
    xt, tt = tg.Tensor(x), tg.Tensor(t)

    def tg_step():
        loss = F.cross_entropy(model(xt), tt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    steps = {"tinygrad_ko": tg_step}
    try:
        import torch
        tm = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Conv2d(16, 32, 3, padding=1),
                                 torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                                 torch.nn.Linear(32 * 7 * 7, 10))
        topt = torch.optim.SGD(tm.parameters(), lr=0.01)
        xp, tp = torch.from_numpy(x), torch.from_numpy(t)

        def torch_step():
            loss = torch.nn.functional.cross_entropy(tm(xp), tp)
            topt.zero_grad()
            loss.backward()
            topt.step()
        steps["torch"] = torch_step
    except ImportError:
        pass
    return median_times(steps, rounds, warmup=5)


def gradcheck_benchmark(quick: bool) -> dict[str, float]:
    """The fast (random-direction) gradcheck of the 39,760-parameter 784-50-10 net, against the
    full central-difference gradient (two forward passes per parameter)."""
    from tinygrad_ko.gradcheck import gradcheck
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.random((100, 784)))
    t = tg.Tensor(rng.integers(0, 10, 100))
    params = [rng.standard_normal((50, 784)) * 0.05, np.zeros(50),
              rng.standard_normal((10, 50)) * 0.1, np.zeros(10)]

    def loss(W1, b1, W2, b2):
        return F.cross_entropy(F.linear(F.linear(x, W1, b1).relu(), W2, b2), t)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        assert gradcheck(loss, params, fast_mode=True)
        times.append(time.perf_counter() - start)
    out = {"fast_gradcheck_s": float(np.median(times))}
    # the full numerical gradient: 2 forward passes per parameter
    ps = [tg.Tensor(p) for p in params]
    n_params = sum(p.size for p in params)
    sample = 2000 if quick else n_params
    start = time.perf_counter()
    done = 0
    with tg.no_grad():
        for p in ps:
            flat = p.numpy().reshape(-1)
            for k in range(flat.size):
                if done >= sample:
                    break
                old = flat[k]
                flat[k] = old + 1e-6
                loss(*ps)
                flat[k] = old - 1e-6
                loss(*ps)
                flat[k] = old
                done += 1
    elapsed = time.perf_counter() - start
    out["full_numerical_gradient_s"] = elapsed * n_params / done
    out["full_extrapolated"] = float(done < n_params)
    out["n_params"] = float(n_params)
    return out


def main() -> None:
    global BURST
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=100, help="rounds per small config (a fifth, at "
                                                            "least 30, for the big one)")
    ap.add_argument("--burst", type=int, default=BURST, help="consecutive steps of each "
                    "implementation per round (default %(default)s; 1 = strict alternation)")
    ap.add_argument("--quick", action="store_true", help="fewer rounds; extrapolate the full gradient")
    ap.add_argument("--skip-gradcheck", action="store_true")
    ap.add_argument("--skip-cnn", action="store_true")
    ap.add_argument("--threads", type=int, help="BLAS/OpenMP threads for every implementation "
                                                "(default: the libraries' own choice)")
    args = ap.parse_args()
    BURST = max(args.burst, 1)
    rounds = 15 if args.quick else args.rounds
    print(f"numpy {np.__version__}, tinygrad_ko {tg.__version__}, {os.cpu_count()} CPUs, "
          f"threads: {args.threads or 'default'}, bursts of {BURST} steps")
    rows = mlp_benchmark(rounds)
    names = ["book", "tinygrad_ko", "torch", "floor", "fused"]
    others = [n for n in names if n != "tinygrad_ko"]
    print(f"\n{'config':<20}" + "".join(f"{n + ' ms':>15}" for n in names)
          + "".join(f"{'tg/' + n:>10}" for n in others))
    for row in rows:
        m = row["median"]
        cells = "".join(f"{m[n] * 1e3:>15.3f}" if n in m else f"{'-':>15}" for n in names)
        tg_t = m["tinygrad_ko"]
        ratios = "".join(f"{tg_t / m[n]:>10.2f}" if n in m else f"{'-':>10}" for n in others)
        print(f"{row['config']:<20}{cells}{ratios}")
    for row in rows:
        for name, per_step in row["faults"].items():
            if per_step > FAULTS_NOTE:
                print(f"note: {name} took {per_step:.0f} page faults per step at {row['config']} "
                      f"(likely memory given back to the system and taken again each step): its time "
                      f"includes them; see docs/benchmarks.md")
    if not args.skip_cnn:
        c = cnn_benchmark(5 if args.quick else 15)
        line = f"\nCNN step (b64, conv16-conv32): tinygrad_ko {c['tinygrad_ko'] * 1e3:.1f} ms"
        if "torch" in c:
            line += f", torch {c['torch'] * 1e3:.1f} ms, ratio {c['tinygrad_ko'] / c['torch']:.2f}"
        print(line)
    if not args.skip_gradcheck:
        g = gradcheck_benchmark(args.quick)
        kind = "extrapolated" if g["full_extrapolated"] else "measured"
        print(f"\ngradcheck of the {int(g['n_params']):,}-parameter 784-50-10 net: fast mode "
              f"{g['fast_gradcheck_s'] * 1e3:.1f} ms; full central differences "
              f"{g['full_numerical_gradient_s']:.1f} s ({kind}); "
              f"ratio {g['full_numerical_gradient_s'] / g['fast_gradcheck_s']:.0f}x")


if __name__ == "__main__":
    main()
