"""Run every port under both libraries and print the final accuracies (for issue 16's closing
note): each script is run as it is, with its own defaults (the full trainings: hours on a CPU for
mnist.py), or with ``--quick`` with the few-seconds settings the tests use.

    python examples/ports/run_all.py                     # full runs, torch and tinygrad_ko
    python examples/ports/run_all.py --quick --libs tinygrad_ko --only moons quickstart
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


@dataclass
class Port:
    script: str
    quick: list[str]              # settings for a run of seconds (the tests use them)
    loss: str                     # regex: one printed training loss per match
    accuracy: str                 # regex: one printed accuracy per match (the last one counts)
    percent: bool                 # the accuracy is printed as a percentage
    needs_mnist: bool = True
    source: str = field(default="")


PORTS = {
    "mnist": Port("mnist.py", ["--epochs", "1", "--limit", "512", "--log-interval", "1",
                               "--test-batch-size", "256"],
                  r"Loss: ([0-9.]+)", r"Accuracy: \d+/\d+ \(([0-9.]+)%\)", True,
                  source="pytorch/examples mnist/main.py"),
    "quickstart": Port("quickstart.py", ["--epochs", "2", "--limit", "1000", "--lr", "0.1",
                                         "--log-interval", "4"],
                       r"loss: ([0-9.]+)", r"Accuracy: ([0-9.]+)%", True,
                       source="PyTorch quickstart tutorial"),
    "two_layer_net": Port("two_layer_net.py", ["--epochs", "3", "--limit", "2000", "--lr", "0.5"],
                          r"\| loss ([0-9.]+)", r"train acc, test acc \| [0-9.]+, ([0-9.]+)", False,
                          source="the book's ch05 TwoLayerNet"),
    "simple_conv_net": Port("simple_conv_net.py", ["--epochs", "1", "--limit", "600", "--lr",
                                                   "0.005", "--log-interval", "1"],
                            r"train loss: ([0-9.]+)", r"test acc:([0-9.]+)", False,
                            source="the book's ch07 SimpleConvNet"),
    "moons": Port("moons.py", ["--steps", "40"], r"step \d+ loss ([0-9.e-]+)",
                  r"accuracy ([0-9.]+)%", True, needs_mnist=False,
                  source="micrograd's demo.ipynb"),
}


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def run(name: str, lib: str, quick: bool, timeout: float | None = None,
        cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run one port as a subprocess in ``cwd`` (where quickstart.py writes model.pth), with this
    checkout's tinygrad_ko first on the path."""
    port = PORTS[name]
    cmd = [sys.executable, str(HERE / port.script), "--lib", lib] + (port.quick if quick else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=cwd)


def parse(name: str, stdout: str) -> tuple[list[float], list[float]]:
    """(the printed training losses, the printed accuracies as fractions)."""
    port = PORTS[name]
    losses = [float(v) for v in re.findall(port.loss, stdout)]
    accs = [float(v) / (100 if port.percent else 1) for v in re.findall(port.accuracy, stdout)]
    return losses, accs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libs", nargs="+", default=["torch", "tinygrad_ko"],
                        choices=["torch", "tinygrad_ko"])
    parser.add_argument("--only", nargs="+", choices=sorted(PORTS), default=sorted(PORTS))
    parser.add_argument("--quick", action="store_true", help="the tests' few-seconds settings")
    parser.add_argument("--workdir", default=None, help="where the ports run (and write files)")
    args = parser.parse_args(argv)
    libs = [lib for lib in args.libs if lib != "torch" or torch_available()]
    failed = 0
    print(f"{'port':<16} {'library':<12} {'final accuracy':>14} {'seconds':>8}  source")
    for name in args.only:
        for lib in libs:
            start = time.perf_counter()
            result = run(name, lib, args.quick, cwd=args.workdir)
            seconds = time.perf_counter() - start
            _, accs = parse(name, result.stdout)
            if result.returncode != 0 or not accs:
                failed += 1
                shown = f"FAILED ({result.returncode})"
                print(result.stderr[-2000:], file=sys.stderr)
            else:
                shown = f"{100 * accs[-1]:.2f}%"
            print(f"{name:<16} {lib:<12} {shown:>14} {seconds:>8.1f}  {PORTS[name].source}",
                  flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
