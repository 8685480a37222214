"""The GPU checks of issue 20, run once on a GPU machine; everything goes to $OUT/gpu_report.txt.

    python tests/gpu/run_checks.py /path/to/mnist            # the folder with the 4 MNIST .gz files
    python tests/gpu/run_checks.py /path/to/mnist --out runs/gpu --epochs 6

From the repository root, with CuPy (cupy-cuda12x or cupy-cuda13x, matching the driver's CUDA),
pytest and hypothesis installed; PyTorch with CUDA is optional (the comparison is skipped without
it). No internet is needed. In order, each part with its own time limit, the report written after
each part (so a run cut short still reports what it did):

1. the machine: GPU, driver, Python, NumPy, CuPy and PyTorch versions;
2. step times: the MNIST CNN (examples/mnist.py's) at batch 64 and the MLP 784-512-512-10 at
   batch 256, Adam, on CUDA, tinygrad_ko against PyTorch (median of synchronised steps), with the
   issue's targets (<= 3x PyTorch);
3. ``pytest tests/test_gpu.py``: every registry op on CUDA against the CPU, and the rest;
4. ``examples/mnist.py --model cnn --device cuda``: test accuracy (target >= 99.0%) and wall time.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import traceback
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


class Report:
    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: list[str] = []

    def add(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)
        with open(self.path, "w") as f:       # rewritten each time: a cut-short run keeps it
            f.write("\n".join(self.lines) + "\n")

    def section(self, title: str) -> None:
        self.add("")
        self.add(f"== {title} " + "=" * max(0, 70 - len(title)))


def machine(r: Report) -> None:
    import numpy as np
    r.add(f"python {platform.python_version()} ({sys.executable}), numpy {np.__version__}")
    try:
        import cupy as cp
        props = cp.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        r.add(f"cupy {cp.__version__}, CUDA runtime {cp.cuda.runtime.runtimeGetVersion()}, "
              f"driver {cp.cuda.runtime.driverGetVersion()}, {cp.cuda.runtime.getDeviceCount()} "
              f"GPU(s), GPU 0: {name}, {props['totalGlobalMem'] / 2**30:.0f} GiB")
    except Exception as e:
        r.add(f"cupy: not usable ({type(e).__name__}: {e})")
    try:
        import torch
        r.add(f"torch {torch.__version__}, cuda available: {torch.cuda.is_available()}")
    except Exception as e:
        r.add(f"torch: not usable ({type(e).__name__}: {e})")
    import tinygrad_ko as tg
    r.add(f"tinygrad_ko {tg.__version__} from {os.path.dirname(tg.__file__)}; "
          f"tg.cuda.is_available() = {tg.cuda.is_available()}")
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
        r.add(f"nvidia-smi: {out.stdout.strip() or out.stderr.strip()}")
    except Exception as e:
        r.add(f"nvidia-smi: {type(e).__name__}: {e}")


def _time_steps(step: Callable[[], Any], sync: Callable[[], None], warmup: int,
                steps: int) -> tuple[float, float]:
    """(median of synchronised single steps, mean of a back-to-back run), in milliseconds."""
    for _ in range(warmup):
        step()
    sync()
    single = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        single.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return statistics.median(single) * 1e3, (time.perf_counter() - t0) / steps * 1e3


def _tg_step(kind: str, batch: int) -> tuple[Callable[[], Any], Callable[[], None]]:
    import tinygrad_ko as tg
    from tinygrad_ko import nn, optim
    from tinygrad_ko.nn import functional as F
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    tg.manual_seed(0)
    if kind == "cnn":
        from mnist import make_model
        model, shape = make_model("cnn"), (1, 28, 28)
    else:
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                              nn.Linear(512, 10))
        shape = (784,)
    model.to("cuda")
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x = tg.randn(batch, *shape, device="cuda")
    t = tg.randint(0, 10, (batch,), device="cuda")

    def step() -> Any:
        loss = F.cross_entropy(model(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step, tg.cuda.synchronize


def _torch_step(kind: str, batch: int) -> tuple[Callable[[], Any], Callable[[], None]]:
    import torch
    from torch import nn
    torch.manual_seed(0)
    if kind == "cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
        shape = (1, 28, 28)
    else:
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                              nn.Linear(512, 10))
        shape = (784,)
    model.to("cuda")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, *shape, device="cuda")
    t = torch.randint(0, 10, (batch,), device="cuda")

    def step() -> Any:
        loss = torch.nn.functional.cross_entropy(model(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step, torch.cuda.synchronize


def step_times(r: Report, steps: int) -> None:
    r.add(f"median of {steps} synchronised steps (and the mean of {steps} back-to-back steps), "
          f"after warm-up; Adam, cross-entropy, float32, random data on the GPU")
    for kind, batch, torch_ref in (("cnn", 64, 2.0), ("mlp", 256, 1.1)):
        label = (f"MNIST CNN, batch {batch}" if kind == "cnn"
                 else f"MLP 784-512-512-10, batch {batch}")
        res: dict[str, tuple[float, float]] = {}
        for who, make in (("tinygrad_ko", _tg_step), ("torch", _torch_step)):
            try:
                step, sync = make(kind, batch)
                res[who] = _time_steps(step, sync, warmup=10, steps=steps)
                r.add(f"{label}: {who:11s} {res[who][0]:8.3f} ms/step (back-to-back "
                      f"{res[who][1]:.3f} ms)")
            except Exception as e:
                r.add(f"{label}: {who} FAILED: {type(e).__name__}: {e}")
                r.add(traceback.format_exc(limit=6).rstrip())
        if "tinygrad_ko" in res:
            base = res["torch"][0] if "torch" in res else torch_ref
            src = "this run" if "torch" in res else f"the issue's ~{torch_ref} ms"
            ratio = res["tinygrad_ko"][0] / base
            r.add(f"{label}: tinygrad_ko / torch = {ratio:.2f}x (torch from {src}); target <= 3x: "
                  f"{'MET' if ratio <= 3 else 'NOT MET'}")


def run_pytest(r: Report, timeout: int) -> None:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs",
           "tests/test_gpu.py", "tests/test_device.py"]
    r.add("$ " + " ".join(cmd[1:]))
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        text = out.stdout + out.stderr
        r.add(f"exit {out.returncode} in {time.perf_counter() - t0:.0f} s")
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        r.add(f"TIMED OUT after {timeout} s")
    summary = [ln for ln in text.splitlines() if re.search(r"(passed|failed|error|skipped)", ln)
               and ("==" in ln or ln.startswith(("FAILED", "ERROR", "SKIPPED")))]
    r.add("\n".join(summary[-80:]) or "(no summary line)")
    fails = re.findall(r"^(?:FAILED|ERROR) (\S+)", text, re.M)
    if fails:           # which registry ops fail on CUDA: the list phase 2 works through
        ops = sorted({m.group(1) for f in fails for m in [re.search(r"\[(\w+)\]", f)] if m})
        r.add(f"failing parametrised cases by op: {', '.join(ops) or '-'}")
        r.add("--- tail of the pytest output ---")
        r.add(text[-12000:])


def run_example(r: Report, data_dir: str, out_dir: str, epochs: int | None,
                timeout: int) -> None:
    cmd = [sys.executable, "examples/mnist.py", "--model", "cnn", "--device", "cuda",
           "--data-dir", data_dir, "--out-dir", os.path.join(out_dir, "mnist_runs"),
           "--no-progress"]
    if epochs:
        cmd += ["--epochs", str(epochs)]
    r.add("$ " + " ".join(cmd[1:]))
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        text = out.stdout + out.stderr
        r.add(f"exit {out.returncode}, wall time {time.perf_counter() - t0:.1f} s "
              f"(python start and data loading included)")
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        r.add(f"TIMED OUT after {timeout} s")
    for ln in text.splitlines():
        if ln.startswith(("epoch", "test accuracy", "device", "MNIST")):
            r.add(ln)
    m = re.search(r"test accuracy: ([\d.]+)%", text)
    if m:
        acc = float(m.group(1))
        r.add(f"accuracy {acc:.2f}%: target >= 99.0%: {'MET' if acc >= 99.0 else 'NOT MET'}; "
              f"compare the wall time with the same command on the 2-core CPU machine "
              f"(--device cpu; README: ~5 min), target >= 5x faster")
    else:
        r.add("--- tail of the output ---")
        r.add(text[-6000:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir", help="folder with the MNIST .gz files (train-images-idx3-ubyte.gz...)")
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu_out"),
                    help="where gpu_report.txt goes (default $OUT, else ./gpu_out)")
    ap.add_argument("--steps", type=int, default=50, help="timed steps per model (default 50)")
    ap.add_argument("--epochs", type=int, help="epochs of the MNIST example (default: its own, 6)")
    ap.add_argument("--pytest-timeout", type=int, default=420)
    ap.add_argument("--example-timeout", type=int, default=600)
    ap.add_argument("--skip", nargs="*", default=[], choices=["times", "tests", "example"])
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    r = Report(os.path.join(args.out, "gpu_report.txt"))
    r.add(f"tinygrad_ko GPU checks (issue 20), {time.strftime('%Y-%m-%d %H:%M:%S')}")
    parts = [("machine", lambda: machine(r)),
             ("step times", lambda: step_times(r, args.steps)),
             ("tests", lambda: run_pytest(r, args.pytest_timeout)),
             ("example", lambda: run_example(r, os.path.abspath(args.data_dir), args.out,
                                             args.epochs, args.example_timeout))]
    skip = {"times": "step times", "tests": "tests", "example": "example"}
    for title, fn in parts:
        if title in {skip[s] for s in args.skip}:
            continue
        r.section(title)
        try:
            fn()
        except Exception as e:
            r.add(f"{title} FAILED: {type(e).__name__}: {e}")
            r.add(traceback.format_exc(limit=8).rstrip())
    r.add("")
    r.add(f"report: {r.path}")


if __name__ == "__main__":
    main()
