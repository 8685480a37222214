"""Memory does not grow over long training: 5,000 steps of an MNIST-sized MLP (784-50-10, a batch
of 32 random float32 samples): forward, log_softmax + NLL by indexing, backward, a manual SGD
update under no_grad, grads set to None. Memory is measured with tracemalloc (NumPy reports its
array buffers to it): the current traced memory after step 5,000 must be within 1 MB of the value
after step 500. A second test does the same with tinygrad_ko.nn / optim (Sequential, Linear,
ReLU, cross_entropy, SGD with momentum).

Each run happens in a fresh interpreter (``python tests/test_memory.py raw``) with one BLAS
thread: pytest's own allocations stay out of the figures, and tiny matmuls on a multi-threaded
BLAS on a shared 2-core machine spend most of their time spinning (20x slower). The figures are
printed (run with ``-s``): for the closing note.
"""
import gc
import json
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

STEPS, WARMUP, SLACK = 5_000, 500, 1 << 20
N, D, H, C = 32, 784, 50, 10


# -- the measured runs (executed in a child interpreter) --------------------------------------
def _measure(step, steps):
    """Run ``step`` under tracemalloc; the traced memory after WARMUP steps and at the end, and
    the first and last losses (a list of every loss would itself grow ~32 bytes a step)."""
    gc.collect()
    tracemalloc.start()
    try:
        for i in range(1, steps + 1):
            loss = step()
            if i == 1:
                first = loss
            if i == WARMUP:
                gc.collect()
                at_warmup = tracemalloc.get_traced_memory()[0]
        gc.collect()
        at_end, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {"steps": steps, "at_warmup": at_warmup, "at_end": at_end, "peak": peak,
            "first_loss": first, "last_loss": loss}


def _raw_mlp(steps):
    import tinygrad_ko as tg
    from tinygrad_ko import Tensor
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((N, D)).astype(np.float32))
    labels, rows = rng.integers(0, C, N), np.arange(N)
    w1 = Tensor((rng.standard_normal((D, H)) * np.sqrt(2 / D)).astype(np.float32), requires_grad=True)
    b1 = Tensor(np.zeros(H, np.float32), requires_grad=True)
    w2 = Tensor((rng.standard_normal((H, C)) * np.sqrt(1 / H)).astype(np.float32), requires_grad=True)
    b2 = Tensor(np.zeros(C, np.float32), requires_grad=True)
    params = [w1, b1, w2, b2]

    def step():
        h = (x @ w1 + b1).relu()
        logp = (h @ w2 + b2).log_softmax(-1)
        loss = -logp[rows, labels].mean()
        loss.backward()
        with tg.no_grad():
            for p in params:
                p -= 0.05 * p.grad
                p.grad = None
        return loss.item()

    result = _measure(step, steps)
    result["grads_cleared"] = all(p.grad is None and p.is_leaf for p in params)
    return result


def _nn_mlp(steps):
    import tinygrad_ko as tg
    import tinygrad_ko.nn.functional as F
    from tinygrad_ko import Tensor, nn, optim
    tg.manual_seed(0)
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((N, D)).astype(np.float32))
    target = Tensor(rng.integers(0, C, N))
    model = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, C))
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), target)
        loss.backward()
        opt.step()
        return loss.item()

    return _measure(step, steps)


RUNS = {"raw": _raw_mlp, "nn": _nn_mlp}


def _child_env(**extra: str) -> dict:
    """The environment of a child interpreter that imports this checkout's tinygrad_ko."""
    env = dict(os.environ, **extra)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run_in_child(kind, steps=STEPS):
    env = _child_env(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", os.path.abspath(__file__),
                           kind, str(steps)], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert proc.returncode == 0, f"the {kind} run failed:\n{proc.stdout}\n{proc.stderr}"
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    mb = 1 / (1 << 20)
    print(f"\n[test_memory] {kind}: after step {WARMUP}: {r['at_warmup'] * mb:.3f} MB, after step "
          f"{r['steps']}: {r['at_end'] * mb:.3f} MB (growth {(r['at_end'] - r['at_warmup']) * mb:+.3f}"
          f" MB, traced peak {r['peak'] * mb:.3f} MB); loss {r['first_loss']:.3f} -> "
          f"{r['last_loss']:.4f}")
    return r


# -- the tests ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_training_5000_steps_of_a_raw_tensor_mlp_does_not_grow_memory():
    r = _run_in_child("raw")
    assert r["at_end"] - r["at_warmup"] < SLACK, f"memory grew by {r['at_end'] - r['at_warmup']} B"
    assert r["last_loss"] < 0.05 < np.log(C) - 0.5 < r["first_loss"], r    # and it learns
    assert r["grads_cleared"]


@pytest.mark.slow
def test_training_5000_steps_with_nn_and_optim_does_not_grow_memory():
    pytest.importorskip("tinygrad_ko.nn")
    pytest.importorskip("tinygrad_ko.optim")
    r = _run_in_child("nn")
    assert r["at_end"] - r["at_warmup"] < SLACK, f"memory grew by {r['at_end'] - r['at_warmup']} B"
    assert r["last_loss"] < 0.05 < np.log(C) - 0.5 < r["first_loss"], r


# -- freed memory kept for the next step (tinygrad_ko/memory.py) -------------------------------
FAULTS_CHILD = """
import resource, sys
import numpy as np
import tinygrad_ko
from tinygrad_ko.memory import _mallopt
if _mallopt() is None:
    print("no-glibc"); sys.exit()
def step():                             # as a training step: 8 arrays of 4 MB alive, then freed
    return sum(float(a[0]) for a in [np.ones(1 << 20, dtype=np.float32) for _ in range(8)])
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def _faults_per_array(keep: str) -> float | None:
    out = subprocess.run([sys.executable, "-c", FAULTS_CHILD], capture_output=True, text=True,
                         env=_child_env(TINYGRAD_KO_KEEP_MEMORY=keep), timeout=60,
                         check=True).stdout.strip()
    return None if out == "no-glibc" else float(out)


def test_import_keeps_freed_memory_for_the_next_step():
    """With glibc, a 'step' that holds 32 MB of arrays and frees them is served from the kept
    heap the next time: no page faults (about 4,500 a step with glibc's defaults,
    TINYGRAD_KO_KEEP_MEMORY=0: the heap is trimmed after each step, the cost this removes)."""
    kept = _faults_per_array("1")
    if kept is None:
        pytest.skip("not glibc's malloc (macOS, Windows, musl): tinygrad_ko/memory.py does nothing")
    given_back = _faults_per_array("0")
    assert kept < 100 and given_back > 2000, (kept, given_back)


def test_keep_freed_memory_switches_both_ways():
    from tinygrad_ko.memory import _mallopt, keep_freed_memory
    if _mallopt() is None:
        assert keep_freed_memory() is False
        return
    try:
        assert keep_freed_memory(False) is True
    finally:
        assert keep_freed_memory(True) is True


if __name__ == "__main__":
    print(json.dumps(RUNS[sys.argv[1]](int(sys.argv[2]))))
