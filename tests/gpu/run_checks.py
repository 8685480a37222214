"""The GPU checks of issue 20, in one command for a machine with an NVIDIA GPU (made for an H200):

    python tests/gpu/run_checks.py /path/to/mnist        # the folder with the 4 MNIST .gz files
    python tests/gpu/run_checks.py /path/to/mnist --only ops steps
    python tests/gpu/run_checks.py /tmp/none --dry-run   # no GPU: the script's own machinery

From the repository root, with CuPy (cupy-cuda12x or cupy-cuda13x, matching the driver's CUDA),
pytest and hypothesis installed, and PyTorch with CUDA for the step-time comparison. No internet is
needed. The report goes to ``$OUT/gpu_report.txt`` (``OUT`` defaults to ./gpu_out; ``--out``
overrides), rewritten after every part, so a run cut short still reports what it did; a summary of
all parts ends it (and the output).

Each part runs in its own process with its own time limit (a crash, a CUDA error or a hang in one
part cannot stop the others), and all limits together stay under ``--budget`` (default 450 s, so
the whole run takes under 8 minutes):

1. machine: GPU, driver, Python, NumPy, CuPy, PyTorch;
2. pytest: ``pytest tests/test_gpu.py`` (the real-GPU tests; hypothesis examples per op cut to
   ``--examples``, as part 3 sweeps every op again);
3. ops: every registry op on CUDA against the CPU in float64 (values and gradients, rtol 1e-9;
   create_graph where the op claims second order; float32 stays float32), a line per failing op;
4. steps: the MNIST CNN training step at batch 64 and the MLP 784-512-512-10 step at batch 256,
   tinygrad_ko against PyTorch on CUDA: medians of synchronised steps after a warm-up, and the
   ratio (target <= 3x);
5. mnist: ``examples/mnist.py --model cnn --device cuda``, all epochs: test accuracy (target
   >= 99.0%) and wall time against the 2-core CPU machine's ~100 s (target >= 5x faster);
6. char_lm: ``examples/char_lm.py --device cuda`` (its GPT) for ``--char-iters`` iterations:
   iterations/s and the validation loss. It needs Tiny Shakespeare's input.txt (checked by its
   SHA-256; no download without internet): ``--text DIR``, else a ``tinyshakespeare`` folder
   next to the MNIST folder, else $TINYGRAD_KO_DATA.
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
from dataclasses import dataclass, field
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTS = os.path.join(ROOT, "tests")
CPU_MNIST_SECONDS = 100.0       # examples/mnist.py --model cnn on the 2-core CPU machine
SUMMARY = "SUMMARY: "           # a part's child prints its one-line summary after this


# -- the report ----------------------------------------------------------------------------------
class Report:
    """Lines printed and kept in ``path`` (rewritten after each addition)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: list[str] = []

    def add(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.extend(text.split("\n"))
        with open(self.path, "w") as f:
            f.write("\n".join(self.lines) + "\n")

    def section(self, title: str) -> None:
        self.add("")
        self.add(f"== {title} " + "=" * max(0, 72 - len(title)))


@dataclass
class Part:
    """One part: the command of its own process, its time limit, and how to read its output
    (``parse`` gives the summary line; by default the child's own ``SUMMARY:`` line)."""
    name: str
    title: str
    limit: int
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    parse: Callable[[str], str] | None = None
    keep: Callable[[str], bool] | None = None   # which output lines go to the report (all: None)


@dataclass
class Outcome:
    status: str         # ok, FAILED, TIMED OUT, skipped
    seconds: float
    summary: str


def _text(x: Any) -> str:
    return x.decode(errors="replace") if isinstance(x, bytes) else (x or "")


def own_summary(text: str) -> str:
    lines = [ln[len(SUMMARY):] for ln in text.splitlines() if ln.startswith(SUMMARY)]
    return "; ".join(lines) or "(no summary line)"


def run_part(r: Report, part: Part, limit: int) -> Outcome:
    """Run one part's process for at most ``limit`` seconds; whatever happens, report it."""
    r.section(f"{part.name}: {part.title} (limit {limit} s)")
    r.add("$ " + " ".join(part.command[1:] if part.command[0] == sys.executable
                          else part.command))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p), **part.env)
    t0 = time.perf_counter()
    status = "ok"
    try:
        out = subprocess.run(part.command, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=limit)
        text = out.stdout + out.stderr
        if out.returncode != 0:
            status = f"FAILED (exit {out.returncode})"
    except subprocess.TimeoutExpired as e:
        text = _text(e.stdout) + _text(e.stderr)
        status = f"TIMED OUT after {limit} s"
    except Exception as e:          # the process could not even start
        text, status = traceback.format_exc(), f"FAILED ({type(e).__name__}: {e})"
    seconds = time.perf_counter() - t0
    lines = text.splitlines()
    kept = [ln for ln in lines if part.keep is None or part.keep(ln)]
    r.add("\n".join(kept[-200:]) or "(no output)")
    if status != "ok" and part.keep is not None:     # what a filter hid may say why
        r.add("--- last lines of the output ---")
        r.add("\n".join(lines[-60:]))
    try:
        summary = (part.parse or own_summary)(text)
    except Exception as e:
        summary = f"(the output could not be read: {type(e).__name__}: {e})"
    if status != "ok" and summary == "(no summary line)":
        summary = next((ln.strip() for ln in reversed(lines) if ln.strip()), "(no output)")[:300]
    r.add(f"-> {status} in {seconds:.0f} s: {summary}")
    return Outcome(status, seconds, summary)


# -- parts that run inside a child process (``--part NAME``) --------------------------------------
def part_machine(args: argparse.Namespace) -> None:
    import numpy as np
    print(f"python {platform.python_version()} ({sys.executable}), numpy {np.__version__}")
    found = []
    try:
        import cupy as cp
        props = cp.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        print(f"cupy {cp.__version__}, CUDA runtime {cp.cuda.runtime.runtimeGetVersion()}, "
              f"driver {cp.cuda.runtime.driverGetVersion()}, {cp.cuda.runtime.getDeviceCount()} "
              f"GPU(s), GPU 0: {name}, {props['totalGlobalMem'] / 2**30:.0f} GiB")
        found.append(f"{name}, cupy {cp.__version__}")
    except Exception as e:
        print(f"cupy: not usable ({type(e).__name__}: {e})")
        found.append("no CuPy GPU")
    try:
        import torch
        print(f"torch {torch.__version__}, cuda available: {torch.cuda.is_available()}")
        found.append(f"torch {torch.__version__}" + ("" if torch.cuda.is_available() else " (CPU)"))
    except Exception as e:
        print(f"torch: not usable ({type(e).__name__}: {e})")
        found.append("no torch")
    import tinygrad_ko as tg
    print(f"tinygrad_ko {tg.__version__} from {os.path.dirname(tg.__file__)}; "
          f"tg.cuda.is_available() = {tg.cuda.is_available()}")
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
        print(f"nvidia-smi: {out.stdout.strip() or out.stderr.strip()}")
    except Exception as e:
        print(f"nvidia-smi: {type(e).__name__}: {e}")
    print(SUMMARY + ", ".join(found))


def part_ops(args: argparse.Namespace) -> None:
    """Every registry op on CUDA against the CPU, ``--seeds`` fixed samples each, stopping at
    ``--deadline`` seconds (the ops not reached are listed)."""
    sys.path.insert(0, TESTS)
    import _gpu_compare as cmp
    from conftest import NumpySampler
    from tinygrad_ko.registry import REGISTRY
    if args.dry_run:
        raise RuntimeError("FAILED (deliberately, dry run): a part that raises must not stop "
                           "the others")
    t0 = time.perf_counter()
    passed, failed, missed = [], {}, []
    for name in sorted(REGISTRY):
        if time.perf_counter() - t0 > args.deadline:
            missed.append(name)
            continue
        spec = REGISTRY[name]
        start = time.perf_counter()
        try:
            for seed in range(args.seeds):
                inputs, kwargs = spec.sample(NumpySampler(seed))
                cmp.compare_first_order(spec, inputs, kwargs)
                if spec.second_order:
                    cmp.compare_second_order(spec, inputs, kwargs)
                cmp.check_float32(spec, inputs, kwargs)
            passed.append(name)
            print(f"ok     {name} ({time.perf_counter() - start:.1f} s)", flush=True)
        except Exception as e:
            first = " ".join(str(e).split())[:400]
            failed[name] = f"{type(e).__name__}: {first}"
            print(f"FAILED {name} (seed {seed}): {failed[name]}", flush=True)
    if missed:
        print(f"not reached in {args.deadline} s: {', '.join(missed)}")
    print(SUMMARY + f"{len(passed)}/{len(REGISTRY)} ops give the CPU's values and gradients "
          f"(rtol {cmp.RTOL})" + (f"; failing: {', '.join(failed)}" if failed else "")
          + (f"; {len(missed)} not reached" if missed else ""))


def _time_steps(step: Callable[[], Any], sync: Callable[[], None], warmup: int,
                steps: int) -> float:
    """The median of ``steps`` synchronised single steps, in milliseconds, after a warm-up."""
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


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
    if kind == "cnn":       # examples/mnist.py's CNN
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


STEP_CASES = (("cnn", 64, "MNIST CNN, batch 64"), ("mlp", 256, "MLP 784-512-512-10, batch 256"))


def part_steps(args: argparse.Namespace) -> None:
    warmup = getattr(args, "warmup", 10)
    print(f"median of {args.steps} synchronised steps after {warmup} warm-up steps; Adam, "
          f"cross-entropy, float32, random data already on the GPU")
    found = []
    for kind, batch, label in STEP_CASES:
        ms: dict[str, float] = {}
        for who, make in (("tinygrad_ko", _tg_step), ("torch", _torch_step)):
            if args.dry_run:
                ms[who] = {"tinygrad_ko": 3.0, "torch": 1.5}[who]
                continue
            try:
                step, sync = make(kind, batch)
                ms[who] = _time_steps(step, sync, warmup=warmup, steps=args.steps)
                print(f"{label}: {who:11s} {ms[who]:8.3f} ms/step", flush=True)
            except Exception as e:
                print(f"{label}: {who} FAILED: {type(e).__name__}: {e}")
                print(traceback.format_exc(limit=6).rstrip(), flush=True)
        if "tinygrad_ko" in ms and "torch" in ms:
            ratio = ms["tinygrad_ko"] / ms["torch"]
            found.append(f"{kind} {ms['tinygrad_ko']:.2f} ms vs torch {ms['torch']:.2f} ms = "
                         f"{ratio:.2f}x ({'MET' if ratio <= 3 else 'NOT MET'}: <= 3x)")
        elif "tinygrad_ko" in ms:
            found.append(f"{kind} {ms['tinygrad_ko']:.2f} ms (no torch)")
        else:
            found.append(f"{kind} FAILED")
        print(found[-1], flush=True)
    print(SUMMARY + "; ".join(found))


PARTS_IN_PROCESS = {"machine": part_machine, "ops": part_ops, "steps": part_steps}


# -- parts that run a program: how to read its output ------------------------------------------------
def parse_pytest(text: str) -> str:
    m = re.findall(r"^=+ (.*(?:passed|failed|error|skipped).*?) =+$", text, re.M)
    counts = m[-1] if m else "(no pytest summary line)"
    failing = sorted(set(re.findall(r"^(?:FAILED|ERROR) \S+?::(\w+)", text, re.M)))
    return counts + (f"; failing tests: {', '.join(failing[:20])}" if failing else "")


def parse_mnist(text: str) -> str:
    m = re.search(r"test accuracy: ([\d.]+)%.*?total ([\d.]+)s", text)
    if not m:
        return "no test accuracy in the output"
    acc, seconds = float(m.group(1)), float(m.group(2))
    speedup = CPU_MNIST_SECONDS / seconds
    return (f"test accuracy {acc:.2f}% ({'MET' if acc >= 99.0 else 'NOT MET'}: >= 99.0%), "
            f"{seconds:.1f} s = {speedup:.1f}x faster than the CPU's ~{CPU_MNIST_SECONDS:.0f} s "
            f"({'MET' if speedup >= 5 else 'NOT MET'}: >= 5x)")


def parse_char_lm(text: str) -> str:
    m = re.search(r"final: train loss ([\d.]+), val loss ([\d.]+).*?total ([\d.]+)s, training "
                  r"([\d.]+) iterations/s", text)
    if not m:
        return "no final line in the output"
    return (f"{float(m.group(4)):.1f} iterations/s, val loss {m.group(2)} "
            f"(train {m.group(1)}), total {m.group(3)} s")


def _example_lines(ln: str) -> bool:
    return ln.startswith(("epoch", "validation accuracy", "test accuracy", "device", "MNIST",
                          "model", "iter", "final", "Tiny Shakespeare", "Traceback", "  File")) \
        or "Error" in ln


CANNED = {          # what a dry run's stand-in programs print: the parsers' own test
    "pytest": "..s.\n===== 3 passed, 1 skipped in 1.00s =====",
    "mnist": "device: cuda\nepoch 1/6  loss 0.1\nvalidation accuracy: 99.00%  test accuracy: "
             "99.10%  (total 20.0s, data loading included)",
    "char_lm": "iter 300: train loss 2.000, val loss 2.100 (9s)\nfinal: train loss 2.000, val "
               "loss 2.100 nats/char  (total 10.0s, training 40.0 iterations/s)",
}


def _text_dir(mnist_dir: str) -> str | None:
    """Tiny Shakespeare next to the MNIST folder (datasets/mnist, datasets/tinyshakespeare) or in
    it, if there; else None (char_lm then searches $TINYGRAD_KO_DATA and its cache)."""
    here = os.path.abspath(mnist_dir)
    for d in (os.path.join(os.path.dirname(here), "tinyshakespeare"),
              os.path.join(here, "tinyshakespeare")):
        if os.path.exists(os.path.join(d, "input.txt")):
            return d
    return None


def make_parts(args: argparse.Namespace) -> list[Part]:
    me = [sys.executable, os.path.abspath(__file__), args.data_dir, "--steps", str(args.steps),
          "--seeds", str(args.seeds)] + (["--dry-run"] if args.dry_run else [])
    py = sys.executable
    mnist = [py, "examples/mnist.py", "--model", "cnn", "--device", "cuda", "--data-dir",
             os.path.abspath(args.data_dir), "--out-dir", os.path.join(args.out, "mnist_runs"),
             "--no-progress"] + (["--epochs", str(args.epochs)] if args.epochs else [])
    text = args.text or _text_dir(args.data_dir)
    char = [py, "examples/char_lm.py", "--device", "cuda", "--max-iters", str(args.char_iters),
            "--eval-interval", str(max(1, args.char_iters // 3)), "--sample-chars", "100",
            "--out-dir", os.path.join(args.out, "char_lm_runs"), "--no-progress"] + (
        ["--data-dir", os.path.abspath(text)] if text else [])
    pytest_cmd = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs", "tests/test_gpu.py"]
    if args.dry_run:        # stand-ins that print what the real programs print
        pytest_cmd, mnist, char = ([py, "-c", f"print({CANNED[k]!r})"]
                                   for k in ("pytest", "mnist", "char_lm"))
        # mnist's stand-in prints, then runs past its limit: what it printed is still read
        mnist = [py, "-c", f"import time; print({CANNED['mnist']!r}, flush=True); time.sleep(30)"]
    ops_deadline = ["--deadline", str(max(10, args.limit_ops - 25))]
    parts = [
        Part("machine", "the GPU and the libraries", 30, me + ["--part", "machine"]),
        Part("pytest", "pytest tests/test_gpu.py", args.limit_pytest, pytest_cmd,
             env={"TINYGRAD_KO_GPU_EXAMPLES": str(args.examples)}, parse=parse_pytest,
             keep=lambda ln: bool(re.match(r"(FAILED|ERROR|SKIPPED|=+ )", ln))),
        Part("ops", "every registry op on CUDA against the CPU (float64)", args.limit_ops,
             me + ["--part", "ops"] + ops_deadline),
        Part("steps", "training step times against PyTorch", args.limit_steps,
             me + ["--part", "steps"]),
        Part("mnist", "examples/mnist.py --model cnn --device cuda", args.limit_mnist, mnist,
             parse=parse_mnist, keep=_example_lines),
        Part("char_lm", f"examples/char_lm.py --device cuda, {args.char_iters} iterations",
             args.limit_char, char, parse=parse_char_lm, keep=_example_lines),
    ]
    if args.dry_run:
        for p in parts:
            if p.name == "mnist":
                p.limit = 2
    return parts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir", help="folder with the MNIST .gz files (train-images-idx3-ubyte.gz...)")
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu_out"),
                    help="where gpu_report.txt goes (default $OUT, else ./gpu_out)")
    ap.add_argument("--only", nargs="*", choices=["machine", "pytest", "ops", "steps", "mnist",
                                                  "char_lm"], help="only these parts")
    ap.add_argument("--budget", type=int, default=450,
                    help="seconds for everything (default 450: the run ends within 8 minutes)")
    ap.add_argument("--steps", type=int, default=50, help="timed steps per model (default 50)")
    ap.add_argument("--seeds", type=int, default=2, help="samples per op in part ops (default 2)")
    ap.add_argument("--examples", type=int, default=3,
                    help="hypothesis examples per op in tests/test_gpu.py (default 3)")
    ap.add_argument("--epochs", type=int, help="epochs of the MNIST example (default: its own, 6)")
    ap.add_argument("--char-iters", type=int, default=300, help="char_lm iterations (default 300)")
    ap.add_argument("--text", help="folder with tinyshakespeare's input.txt (default: char_lm's "
                                   "own search, $TINYGRAD_KO_DATA...)")
    # each part's limit in seconds; together they are cut to --budget (the later parts first)
    ap.add_argument("--limit-pytest", type=int, default=110)
    ap.add_argument("--limit-ops", type=int, default=80)
    ap.add_argument("--limit-steps", type=int, default=60)
    ap.add_argument("--limit-mnist", type=int, default=140)
    ap.add_argument("--limit-char", type=int, default=50)
    ap.add_argument("--dry-run", action="store_true",
                    help="no GPU needed: stand-ins for the programs, one part failing and one "
                         "timing out on purpose (tests/test_gpu_fake.py runs this)")
    ap.add_argument("--part", choices=sorted(PARTS_IN_PROCESS), help=argparse.SUPPRESS)
    ap.add_argument("--deadline", type=float, default=60, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.part:           # a child: one part, its output read by the parent
        PARTS_IN_PROCESS[args.part](args)
        return 0

    os.makedirs(args.out, exist_ok=True)
    r = Report(os.path.join(args.out, "gpu_report.txt"))
    r.add(f"tinygrad_ko GPU checks (issue 20), {time.strftime('%Y-%m-%d %H:%M:%S')}"
          + (" -- dry run: stand-ins, no GPU" if args.dry_run else ""))
    start = time.perf_counter()
    parts = [p for p in make_parts(args) if not args.only or p.name in args.only]
    outcomes: dict[str, Outcome] = {}
    for i, part in enumerate(parts):
        left = args.budget - (time.perf_counter() - start) - 5 * (len(parts) - i - 1)
        limit = int(min(part.limit, left))
        if limit < 10 and not args.dry_run:
            outcomes[part.name] = Outcome("skipped", 0.0, f"no time left in the {args.budget} s "
                                          f"budget")
            continue
        try:
            outcomes[part.name] = run_part(r, part, limit)
        except Exception as e:      # the runner itself: still the other parts and the summary
            outcomes[part.name] = Outcome(f"FAILED ({type(e).__name__}: {e})", 0.0, "")
    r.section("summary")
    for name, o in outcomes.items():
        r.add(f"{name:8s} {o.status:22s} {o.seconds:5.0f} s  {o.summary}")
    r.add(f"total {time.perf_counter() - start:.0f} s; report: {os.path.abspath(r.path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
