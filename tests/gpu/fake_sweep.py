"""Phase-2 helper (issue 20): every registry op run on the fake CuPy of tests/_fake_cupy.py (CPU,
no GPU needed), forward, backward and create_graph; prints the ops that fail and where. Not a
test: a quick finder of NumPy-only calls in tinygrad_ko/ops before the real GPU run.

    PYTHONPATH=$PWD python tests/gpu/fake_sweep.py
"""
import os
import sys, traceback, collections
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numpy as np, _fake_cupy as fc
import tinygrad_ko as tg
from tinygrad_ko.device import _reset_for_tests
from tinygrad_ko.registry import REGISTRY
from tinygrad_ko.testing import op_inputs
from hypothesis import given, settings, strategies as st, HealthCheck
sys.modules["cupy"] = fc.make_module(); _reset_for_tests()
fails = collections.defaultdict(set)
def where(e):
    tb = traceback.extract_tb(e.__traceback__)
    fr = [f for f in tb if "tinygrad_ko" in f.filename]
    f = fr[-1] if fr else tb[-1]
    return f"{f.filename.split('tinygrad_ko/')[-1]}:{f.lineno}: {f.line.strip()[:90]}  [{type(e).__name__}: {str(e)[:80]}]"
for name in sorted(REGISTRY):
    spec = REGISTRY[name]
    @settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
    @given(data=st.data())
    def t(data):
        args, kwargs = data.draw(op_inputs(spec))
        xs = [tg.tensor(a, device="cuda").requires_grad_() if isinstance(a, np.ndarray) and a.dtype.kind=="f" else tg.tensor(a, device="cuda") if isinstance(a, np.ndarray) else a for a in args]
        stage="forward"
        try:
            out = spec(*xs, **kwargs)
            assert out.is_cuda, "output not on cuda"
            stage="backward"
            out.backward(tg.ones_like(out))
            for x in xs:
                if isinstance(x, tg.Tensor) and x.grad is not None: assert x.grad.is_cuda, "grad not cuda"
            stage="create_graph"
            xs2 = [x.detach().requires_grad_() if isinstance(x, tg.Tensor) and x.requires_grad else x for x in xs]
            out = spec(*xs2, **kwargs)
            diff=[x for x in xs2 if isinstance(x, tg.Tensor) and x.requires_grad]
            if diff:
                gs = tg.grad((out*out).sum(), diff, create_graph=True, allow_unused=True)
                s = sum((g.sum() for g in gs if g is not None), tg.zeros((), device="cuda"))
                if s.requires_grad: s.backward()
        except Exception as e:
            fails[name].add(f"{stage}: {where(e)}")
    try: t()
    except Exception as e: fails[name].add("hyp: "+str(e)[:100])
ok = [n for n in sorted(REGISTRY) if n not in fails]
print("OK under fake:", len(ok), ok)
for n in sorted(fails):
    print(f"## {n}")
    for m in sorted(fails[n])[:4]: print("   ", m)
