"""Smoke test of examples/char_lm.py: each model trains a few steps on a slice of the text."""
import importlib.util
import os
import sys

import pytest

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
