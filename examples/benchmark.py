"""Benchmark: one full training step (forward, softmax cross-entropy, backward, update) of MLPs
and CNNs on synthetic float32 MNIST-shaped data (SGD), and of examples/char_lm.py's transformer and
LSTM on random characters (AdamW), each implementation timed alone in its own process, as a user
times the framework they would pick.

    python examples/benchmark.py                  # every table (several minutes)
    python examples/benchmark.py --quick          # a few rounds of everything
    python examples/benchmark.py --rows cnn       # rows whose name or group contains 'cnn'
    python examples/benchmark.py --threads 1      # every implementation single-threaded
    python examples/benchmark.py --in-process     # the older mode: all in one process, interleaved

How: one worker process per implementation and row, kept alive, all with the same thread count
(default: the machine's cores), set before NumPy or PyTorch load. Rounds alternate the order of the
implementations; in each round every implementation runs untimed steps for --warm seconds (a
user's loop is warm), then a burst of consecutive steps, each timed; the first rounds are warm-up.
Only one process runs at a time, and the next starts once the last one's threads are idle (a BLAS
pool spins for a while after its work). The tables give the median step time, the ratio of medians,
and in brackets the spread (min-max) of the per-round ratios, which shows the noise of the machine.
CNN and sequence rows also give the peak memory of training (the rise of a fresh process's resident
high-water mark over its first two steps, model and data built before).

Implementations (columns):
  book        the book's exact code (examples/bench/book.py): MLP rows, and SimpleConvNet
  tinygrad_ko the public API: nn.Sequential of nn layers, F.cross_entropy, optim.SGD
  torch       PyTorch on the CPU, when installed
  floor       the NumPy matmuls the step needs, alone (for CNNs: the GEMMs of im2col's shapes)
  fused       MLP rows: the step written out by hand as one in-place NumPy function

Rows are in examples/bench/steps.py: adding one is writing a step builder per implementation.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# --threads N (read before NumPy loads its BLAS, for the worker and the in-process mode)
if "--threads" in sys.argv:
    for _var in THREAD_VARS:
        os.environ[_var] = sys.argv[sys.argv.index("--threads") + 1]
if "--in-process" in sys.argv:
    # PyTorch's OpenMP threads spin-wait between ops by default; interleaved with NumPy's OpenBLAS
    # threads in one process, that starves both. Passive waiting keeps that mode fair.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from bench.steps import ROWS, Row  # noqa: E402

IMPLS = ["book", "tinygrad_ko", "torch", "floor", "fused"]
FAULTS_NOTE = 50   # minor page faults per step above which the table gets a note
PROTOCOL = "@@"    # a worker's answers start with this (anything else on its stdout is ignored)

try:
    import resource

    def minor_faults() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
except ImportError:   # Windows: not counted
    def minor_faults() -> int:
        return 0


# -- running steps ---------------------------------------------------------------------------------
def run_burst(step, k: int, warm: float = 0.0) -> dict:
    """Untimed steps for ``warm`` seconds (at least one), then k consecutive steps, each timed, and
    the minor page faults they took (glibc can give freed memory back to the system after each
    step and fault it in again on the next, which can double a step's time; counted outside the
    timing). The untimed steps wake the BLAS threads, asleep since the last burst, and bring the
    model back into the caches the other workers used meanwhile: a user's training loop runs
    warm. (Measured here, a small MLP's steps after a pause of 0.25 s took 2-3x as long at
    first and were still 10-30% slower 50 steps later.)"""
    end = time.perf_counter() + warm
    step()
    while time.perf_counter() < end:
        step()
    times, faults = [], 0
    for _ in range(k):
        before = minor_faults()
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
        faults += minor_faults() - before
    return {"times": times, "faults": faults}


def _memory_kb() -> tuple[int, int] | None:
    """(resident, high-water mark) of this process in kB, from /proc (Linux); None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


def peak_step_memory(row: Row, impl: str) -> float | None:
    """MB by which training raises a fresh process's resident high-water mark: the model and the
    data built, the high-water mark reset to the resident size, then two steps (the first sets up
    thread pools and caches, which a user's process holds too; the second is a steady one). What a
    library keeps cached between steps (PyTorch's allocator) and what it gives back and takes again
    (NumPy through glibc) both count, once."""
    import gc
    step = row.builders[impl](row.batch)
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")          # resets VmHWM to the current resident size
    except OSError:
        return None
    before = _memory_kb()
    step()
    step()
    after = _memory_kb()
    if before is None or after is None:
        return None
    return (after[1] - before[0]) / 1024


def worker(row_name: str, impl: str, threads: int, memory: bool) -> None:
    """A worker process: build the step, then run bursts on request (one line with k on stdin ->
    one line with the times on stdout), until stdin closes."""
    if impl == "torch":
        import torch
        torch.set_num_threads(threads)
    row = next(r for r in ROWS if r.name == row_name)
    if memory:
        print(PROTOCOL + json.dumps({"memory_mb": peak_step_memory(row, impl)}), flush=True)
        return
    step = row.builders[impl](row.batch)
    print(PROTOCOL + json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:   # "k warm"
        k, warm = line.split()
        print(PROTOCOL + json.dumps(run_burst(step, int(k), float(warm))), flush=True)


def _cpu_ns(pid: int) -> int | None:
    """CPU time used so far by all the threads of process ``pid``, in ns (Linux); None elsewhere."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):   # a thread that just ended
            continue
    return total


def wait_until_idle(pid: int, window: float = 0.01, busy: float = 0.1,
                    timeout: float = 1.0) -> None:
    """Return once the worker's threads use less than ``busy`` of a core over ``window`` seconds.

    After a burst, a BLAS or OpenMP thread pool keeps spinning for a while, waiting for more
    work (OpenBLAS's threads: about 0.12 s here). Started at once, the next worker would time its
    steps with that spinning thread on one of its cores, a neighbour a user's process does not
    have; on 2 cores that slowed steps several-fold in some rounds. Without /proc: a fixed pause."""
    prev = _cpu_ns(pid)
    if prev is None:
        time.sleep(0.2)
        return
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        time.sleep(window)
        now = _cpu_ns(pid)
        if now is None or now - prev < busy * window * 1e9:
            return
        prev = now


class ProcessRunner:
    """One implementation of one row in its own worker process, kept alive between bursts."""

    def __init__(self, row: Row, impl: str, threads: int, memory: bool = False) -> None:
        env = dict(os.environ, **{v: str(threads) for v in THREAD_VARS})
        env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), env.get("PYTHONPATH", "")])
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", row.name, impl,
               "--threads", str(threads)] + (["--memory-worker"] if memory else [])
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)
        self.first = self._read()

    def _read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith(PROTOCOL):
                return json.loads(line[len(PROTOCOL):])
        raise RuntimeError(f"benchmark worker exited with code {self.proc.wait()}")

    def burst(self, k: int, warm: float) -> dict:
        self.proc.stdin.write(f"{k} {warm}\n")
        self.proc.stdin.flush()
        result = self._read()
        wait_until_idle(self.proc.pid)   # before the next worker runs
        return result

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()


class LocalRunner:
    """--in-process: every implementation of the row in this process."""

    def __init__(self, row: Row, impl: str) -> None:
        self.step = row.builders[impl](row.batch)

    def burst(self, k: int, warm: float) -> dict:
        return run_burst(self.step, k, warm)

    def close(self) -> None:
        pass


def time_row(row: Row, impls: list[str], make_runner, rounds: int, warmup: int,
             burst: int, warm: float = 0.0) -> dict[str, Any]:
    """Rounds alternate the order of the implementations; each runs a burst per round."""
    runners = {impl: make_runner(row, impl) for impl in impls}
    times: dict[str, list[float]] = {i: [] for i in impls}
    rounds_med: dict[str, list[float]] = {i: [] for i in impls}
    faults = dict.fromkeys(impls, 0)
    try:
        for r in range(warmup + rounds):
            for impl in (impls if r % 2 == 0 else impls[::-1]):
                res = runners[impl].burst(burst, warm)
                if r >= warmup:
                    times[impl] += res["times"]
                    rounds_med[impl].append(statistics.median(res["times"]))
                    faults[impl] += res["faults"]
    finally:
        for runner in runners.values():
            runner.close()
    median = {i: statistics.median(v) for i, v in times.items()}
    spread = {}
    if "tinygrad_ko" in impls:
        tg = rounds_med["tinygrad_ko"]
        for i in impls:
            ratios = [a / b for a, b in zip(tg, rounds_med[i])]
            spread[i] = (min(ratios), max(ratios))
    return {"row": row.name, "group": row.group, "median": median, "spread": spread,
            "faults": {i: faults[i] / len(times[i]) for i in impls}}


# -- tables ----------------------------------------------------------------------------------------
def format_table(results: list[dict], impls: list[str], memory: dict) -> str:
    cols = [i for i in IMPLS if i in impls and any(i in r["median"] for r in results)]
    others = [i for i in cols if i != "tinygrad_ko"]
    with_memory = any(r["row"] in memory for r in results)
    head = (["step"] + [f"{i} ms" for i in cols] + [f"tg/{i}" for i in others]
            + (["tg MB", "torch MB", "MB tg/torch"] if with_memory else []))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        m, sp = r["median"], r["spread"]
        cells = [r["row"]] + [f"{m[i] * 1e3:.3g}" if i in m else "-" for i in cols]
        for i in others:
            if i in m and "tinygrad_ko" in m:
                lo, hi = sp[i]
                cells.append(f"{m['tinygrad_ko'] / m[i]:.2f} [{lo:.2f}-{hi:.2f}]")
            else:
                cells.append("-")
        if with_memory:
            mem = memory.get(r["row"], {})
            a, b = mem.get("tinygrad_ko"), mem.get("torch")
            cells += [f"{a:.1f}" if a else "-", f"{b:.1f}" if b else "-",
                      f"{a / b:.2f}" if a and b else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def gradcheck_benchmark(quick: bool) -> dict[str, float]:
    """The fast (random-direction) gradcheck of the 39,760-parameter 784-50-10 net, against the
    full central-difference gradient (two forward passes per parameter)."""
    import tinygrad_ko as tg
    from tinygrad_ko.gradcheck import gradcheck
    from tinygrad_ko.nn import functional as F
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
    ps = [tg.Tensor(p) for p in params]
    n_params = sum(p.size for p in params)
    sample = 2000 if quick else n_params
    start = time.perf_counter()
    done = 0
    with tg.no_grad():
        for p in ps:
            flat = p._data.reshape(-1)
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


def select_rows(spec: str | None) -> list[Row]:
    if not spec:
        return list(ROWS)
    keys = [k.strip().lower() for k in spec.split(",") if k.strip()]
    rows = [r for r in ROWS if any(k in r.name.lower() or k == r.group for k in keys)]
    if not rows:
        raise SystemExit(f"--rows {spec!r} matches none of: {', '.join(r.name for r in ROWS)}")
    return rows


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", help="comma-separated parts of row names, or a group (mlp, cnn, seq)")
    ap.add_argument("--impls", help=f"comma-separated implementations (default: all of "
                                    f"{', '.join(IMPLS)} that the row has)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="threads for every implementation (default: the machine's cores, "
                         "%(default)s)")
    ap.add_argument("--rounds", type=int, help="timed rounds per row (default: per row)")
    ap.add_argument("--burst", type=int, help="steps per implementation per round (default: per "
                                              "row, 4 for MLPs, 3 for CNNs)")
    ap.add_argument("--warm", type=float, default=0.2,
                    help="seconds of untimed steps before each burst (default %(default)s; at "
                         "least one step)")
    ap.add_argument("--quick", action="store_true", help="3 rounds per row; extrapolate the full "
                                                         "gradient")
    ap.add_argument("--in-process", action="store_true",
                    help="all implementations in this process, interleaved (not the headline)")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-gradcheck", action="store_true")
    ap.add_argument("--worker", nargs=2, metavar=("ROW", "IMPL"), help=argparse.SUPPRESS)
    ap.add_argument("--memory-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(*args.worker, args.threads, args.memory_worker)
        return {}
    try:
        import importlib.util
        has_torch = importlib.util.find_spec("torch") is not None
    except ImportError:
        has_torch = False
    wanted = [i.strip() for i in args.impls.split(",")] if args.impls else IMPLS
    if not has_torch and "torch" in wanted:
        wanted = [i for i in wanted if i != "torch"]
        print("(PyTorch not installed: its column is skipped; pip install torch to compare)")
    rows = select_rows(args.rows)
    mode = "in one process, interleaved" if args.in_process else "each in its own process"
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, {args.threads} threads per "
          f"implementation, {mode}\n")
    if args.in_process:
        make_runner = LocalRunner
    else:
        def make_runner(row, impl):
            return ProcessRunner(row, impl, args.threads)
    results, memory = [], {}
    for row in rows:
        impls = [i for i in IMPLS if i in row.builders and i in wanted]
        rounds = 3 if args.quick else args.rounds or row.rounds
        warmup = 1 if args.quick else max(rounds // 10, 2)
        res = time_row(row, impls, make_runner, rounds, warmup, args.burst or row.burst,
                       args.warm)
        results.append(res)
        if row.memory and not args.skip_memory and not args.in_process:
            memory[row.name] = {i: ProcessRunner(row, i, args.threads, memory=True).first.get(
                "memory_mb") for i in row.memory if i in impls}
        print(f"  {row.name}: " + ", ".join(f"{i} {t * 1e3:.3g} ms"
                                            for i, t in res["median"].items()), flush=True)
    for group in dict.fromkeys(r["group"] for r in results):
        print(f"\n{group.upper()} (median ms per step; tg/x: ratio of medians [min-max of the "
              f"per-round ratios])")
        print(format_table([r for r in results if r["group"] == group], wanted, memory))
    for r in results:
        for impl, per_step in r["faults"].items():
            if per_step > FAULTS_NOTE:
                print(f"note: {impl} took {per_step:.0f} page faults per step at {r['row']} "
                      f"(likely memory given back to the system and taken again each step): its "
                      f"time includes them; see docs/benchmarks.md")
    out: dict[str, Any] = {"rows": results, "memory": memory}
    if not args.skip_gradcheck:
        g = gradcheck_benchmark(args.quick)
        kind = "extrapolated" if g["full_extrapolated"] else "measured"
        print(f"\ngradcheck of the {int(g['n_params']):,}-parameter 784-50-10 net: fast mode "
              f"{g['fast_gradcheck_s'] * 1e3:.1f} ms; full central differences "
              f"{g['full_numerical_gradient_s']:.1f} s ({kind}); "
              f"ratio {g['full_numerical_gradient_s'] / g['fast_gradcheck_s']:.0f}x")
        out["gradcheck"] = g
    return out


if __name__ == "__main__":
    main()
