"""The ports of examples/ports/ (issue 16's "Done when"): real PyTorch scripts that run after
`import tinygrad_ko as torch` with no edit but the data loading. Each runs briefly (the settings
of ``run_all.PORTS[...].quick``) as a subprocess under tinygrad_ko, and under torch when it is
installed: it must exit 0, its printed training loss must go down and its accuracy beat chance."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from conftest import DATASETS

PORTS_DIR = Path(__file__).resolve().parent.parent / "examples" / "ports"
spec = importlib.util.spec_from_file_location("run_all", PORTS_DIR / "run_all.py")
run_all = importlib.util.module_from_spec(spec)
sys.modules["run_all"] = run_all
spec.loader.exec_module(run_all)

HAVE_MNIST = all(os.path.exists(os.path.join(DATASETS, "mnist", f + ".gz")) or
                 os.path.exists(os.path.join(DATASETS, "mnist", f))
                 for f in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
CHANCE = {"moons": 0.5}          # two classes; the MNIST ports have ten


def _libs():
    libs = [pytest.param("tinygrad_ko")]
    have_torch = importlib.util.find_spec("torch") is not None
    libs.append(pytest.param("torch", marks=pytest.mark.skipif(
        not have_torch, reason="PyTorch is an optional test dependency: pip install -e '.[compare]'")))
    return libs


@pytest.mark.parametrize("lib", _libs())
@pytest.mark.parametrize("name", sorted(run_all.PORTS))
def test_port_runs_and_learns(name, lib, tmp_path):
    port = run_all.PORTS[name]
    if port.needs_mnist and not HAVE_MNIST:
        pytest.skip(f"MNIST files not found at {DATASETS}/mnist: set TINYGRAD_KO_DATA")
    result = run_all.run(name, lib, quick=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, f"{name} under {lib} failed:\n{result.stderr[-3000:]}"
    losses, accs = run_all.parse(name, result.stdout)
    assert len(losses) >= 2 and accs, f"{name}: nothing to read in its output:\n{result.stdout}"
    assert losses[-1] < losses[0], f"{name} under {lib}: the loss did not go down: {losses}"
    chance = CHANCE.get(name, 0.1)
    assert accs[-1] > chance + 0.1, f"{name} under {lib}: accuracy {accs[-1]:.3f}, chance {chance}"


def test_ports_differ_only_in_imports_and_data():
    """Every port picks its library in one place, at the top: the two import blocks."""
    for port in run_all.PORTS.values():
        text = (PORTS_DIR / port.script).read_text()
        assert 'if choose_lib() == "torch":\n    import torch\n' in text, port.script
        assert "\nelse:\n    import tinygrad_ko as torch\n" in text, port.script
        body = text.split("import tinygrad_ko as torch", 1)[1]
        assert "tinygrad_ko" not in body.split("\n\n", 1)[1], (
            f"{port.script} names tinygrad_ko outside its import block")


def test_run_all_prints_the_final_accuracies(capsys, tmp_path):
    assert run_all.main(["--only", "moons", "--libs", "tinygrad_ko", "--quick",
                         "--workdir", str(tmp_path)]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("moons")][0]
    assert "tinygrad_ko" in line and "%" in line
