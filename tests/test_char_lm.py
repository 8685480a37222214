"""Smoke test of examples/char_lm.py: each model trains a few steps on a slice of the text."""
import importlib.util
import os
import sys

import pytest

import _fake_cupy as fc
from conftest import DATASETS

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "char_lm.py")
HAVE_TEXT = os.path.exists(os.path.join(DATASETS, "tinyshakespeare", "input.txt"))


def load():
    spec = importlib.util.spec_from_file_location("char_lm", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["char_lm", "--help"])
    with pytest.raises(SystemExit) as e:
        load().main()
    assert e.value.code == 0 and "--model" in capsys.readouterr().out


@pytest.mark.skipif(not HAVE_TEXT, reason=f"tinyshakespeare not found at {DATASETS}")
@pytest.mark.parametrize("model", ["gpt", "lstm", "rnn"])
def test_trains_a_few_steps(model, tmp_path, capsys):
    out = load().main(["--model", model, "--max-iters", "6", "--eval-interval", "3",
                       "--eval-batches", "1", "--batch-size", "4", "--block-size", "16",
                       "--text-chars", "20000", "--sample-chars", "25", "--no-progress",
                       "--out-dir", str(tmp_path)])
    text = capsys.readouterr().out
    assert "val loss" in text and "--- sample" in text
    h = out["history"]
    assert h["iter"] == [3, 6] and all(1.0 < v < 5.0 for v in h["val_loss"])
    assert len(out["sample"]) == 25 and os.path.exists(out["checkpoint"])


@pytest.mark.skipif(not HAVE_TEXT, reason=f"tinyshakespeare not found at {DATASETS}")
@pytest.mark.parametrize("model", ["gpt", "lstm"])
def test_device_cuda_on_a_fake_gpu(model, tmp_path, capsys, monkeypatch):
    """--device cuda runs the whole script on the GPU (here the fake CuPy of _fake_cupy): the
    model, every batch, the evaluation and the sampling."""
    fc.install(monkeypatch)
    out = load().main(["--model", model, "--device", "cuda", "--max-iters", "2",
                       "--eval-interval", "2", "--eval-batches", "1", "--batch-size", "2",
                       "--block-size", "8", "--text-chars", "5000", "--sample-chars", "5",
                       "--no-progress", "--out-dir", str(tmp_path)])
    assert out["device"] == "cuda" and out["iters_per_s"] > 0 and len(out["sample"]) == 5
    assert "on cuda" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        load().main(["--device", "gpu"])
