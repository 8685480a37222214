"""A finder, not a test: every registry op on the fake CuPy of tests/_fake_cupy.py (CPU, no GPU
needed) against the CPU, forward, backward, create_graph and float32, with the host-device copies
and the values read back that each op makes on the device. Prints the ops that fail and where.
tests/test_gpu_fake.py is the CI test of the same; this prints everything at once.

    PYTHONPATH=$PWD python tests/gpu/fake_sweep.py [--examples 15] [op ...]
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import traceback

TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, ".."))

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

import _fake_cupy as fc  # noqa: E402
import _gpu_compare as cmp  # noqa: E402
from tinygrad_ko.device import _reset_for_tests  # noqa: E402
from tinygrad_ko.registry import REGISTRY  # noqa: E402
from tinygrad_ko.testing import op_inputs  # noqa: E402


def where(e: BaseException) -> str:
    """The innermost tinygrad_ko frame of an exception, and the exception."""
    tb = traceback.extract_tb(e.__traceback__)
    frames = [f for f in tb if "tinygrad_ko" in f.filename] or tb
    f = frames[-1]
    return (f"{f.filename.split('tinygrad_ko/')[-1]}:{f.lineno}: {(f.line or '').strip()[:80]}  "
            f"[{type(e).__name__}: {str(e)[:160]}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("ops", nargs="*", help="only these ops (default: all)")
    ap.add_argument("--examples", type=int, default=15)
    args = ap.parse_args()
    sys.modules["cupy"], sys.modules["cupyx"] = fc.make_module(), fc.make_cupyx()
    _reset_for_tests()
    fails: dict[str, set[str]] = collections.defaultdict(set)
    copies: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for name in args.ops or sorted(REGISTRY):
        spec = REGISTRY[name]

        @settings(max_examples=args.examples, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def run(data: st.DataObject) -> None:
            inputs, kwargs = data.draw(op_inputs(spec))
            for stage, check in (("first order", cmp.compare_first_order),
                                 ("create_graph", cmp.compare_second_order),
                                 ("float32", cmp.check_float32)):
                if stage == "create_graph" and not spec.second_order:
                    continue
                try:
                    check(spec, inputs, kwargs, watch=lambda: fc.counting(copies[name]))
                except Exception as e:
                    fails[name].add(f"{stage}: {where(e)}")

        try:
            run()
        except Exception as e:
            fails[name].add(f"hypothesis: {where(e)}")
    ok = [n for n in sorted(copies) if n not in fails]
    print(f"{len(ok)} ops pass on the fake GPU, {len(fails)} fail")
    print("ops that copy between host and device on the GPU, over all their examples: "
          "host->device / device->host / values read back")
    for n in sorted(copies):
        c = copies[n]
        if any(c.values()):
            print(f"    {n}: {c['h2d']} / {c['d2h']} / {c['scalar']}")
    for n in sorted(fails):
        print(f"## {n}")
        for m in sorted(fails[n])[:4]:
            print("   ", m)


if __name__ == "__main__":
    main()
