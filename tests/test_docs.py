"""The documentation is tested: every ```python block of README.md and docs/**/*.md is executed.

Rules (also in docs/README.md, for whoever writes a page):

- The blocks of one page run in order in one shared namespace (a fresh one per page), with the
  working directory a temporary directory and the repository root on ``sys.path``.
- A ```python block immediately followed by an output block (```text or ```output; only blank
  lines in between) must print exactly that output, compared after stripping trailing whitespace
  from every line and blank lines at both ends. ``...`` is a wildcard (as doctest's ELLIPSIS): inside
  a line it matches any text, and a line that is only ``...`` matches any number of lines.
- A ```python block with no output block must print nothing: whatever a page prints, it shows.
- No block is ever skipped on its own. A whole page is skipped, with the reason, only when it
  declares ``<!-- docs-test: requires mnist -->`` (or ``catvnoncat``) and those dataset files are
  absent from ``$TINYGRAD_KO_DATA`` (default ``../shared/datasets``, see conftest.py).
- Each page also starts from the same library state: the op registry, the random generator and the
  grad-mode switches are restored after it, so a page that registers its own op does not leak it.
"""
from __future__ import annotations

import contextlib
import difflib
import io
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DATASETS

ROOT = Path(__file__).resolve().parent.parent
PYTHON = {"python", "py", "python3"}
OUTPUT = {"text", "output"}
NOT_SUPPORTED = {"pycon", "ipython", "doctest"}   # would look like Python but never run: refused
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[^\s`]*)[^`]*$")
REQUIRES = re.compile(r"<!--\s*docs-test:\s*requires\s+([\w ,]+?)\s*-->")

MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")
CATVNONCAT_NAMES = ("train_catvnoncat.h5", "test_catvnoncat.h5")


@dataclass
class Block:
    lang: str
    code: str
    line: int                       # 1-based line of the first code line in the markdown file
    output: str | None = None       # the expected output, for python blocks that show one
    output_line: int = 0


def parse(text: str) -> list[Block]:
    """Every fenced block of a markdown text; an output block right after a python block becomes
    that block's ``output`` (and is not listed on its own)."""
    lines = text.split("\n")
    blocks: list[Block] = []
    after_python = False      # the last thing seen (blank lines aside) was a python block
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            if lines[i].strip():
                after_python = False
            i += 1
            continue
        indent, fence, lang = m["indent"], m["fence"], m["lang"].lower()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence)
                                      and lines[j].strip().strip(fence[0]) == ""):
            line = lines[j]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            j += 1
        if j == len(lines):
            raise ValueError(f"line {i + 1}: the code block opened here is never closed")
        code = "\n".join(body)
        if lang in OUTPUT and after_python:
            blocks[-1].output, blocks[-1].output_line = code, i + 2
            after_python = False
        else:
            blocks.append(Block(lang, code, i + 2))
            after_python = lang in PYTHON
        i = j + 1
    return blocks


def _normalize(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def output_matches(expected: str, actual: str) -> bool:
    """Compare as the module docstring says: trailing whitespace ignored, ``...`` a wildcard."""
    pattern = []
    for line in _normalize(expected):
        if line.strip() == "...":
            pattern.append(r"(?:[^\n]*\n)*?")        # any number of whole lines, none included
        else:
            pattern.append(r"[\s\S]*?".join(re.escape(p) for p in line.split("...")) + r"\n")
    text = "".join(line + "\n" for line in _normalize(actual))
    return re.fullmatch("".join(pattern), text) is not None


class DocError(AssertionError):
    """A page's block raised, or printed something other than what the page shows."""


def missing_requirements(text: str, datasets: str | os.PathLike[str]) -> str | None:
    """Why the page cannot run here (its declared dataset files are absent), or None."""
    wanted = {w.strip() for m in REQUIRES.finditer(text) for w in re.split(r"[ ,]+", m[1]) if w}
    reasons = []
    for name in sorted(wanted):
        if name == "mnist":
            folder = Path(datasets) / "mnist"
            absent = [n for n in MNIST_NAMES
                      if not (folder / (n + ".gz")).exists() and not (folder / n).exists()]
        elif name == "catvnoncat":
            folder = Path(datasets) / "catvnoncat"
            absent = [n for n in CATVNONCAT_NAMES if not (folder / n).exists()]
            try:
                import h5py  # noqa: F401
            except ImportError:
                absent.append("the h5py package (pip install h5py)")
        else:
            raise ValueError(f"unknown docs-test requirement {name!r} (known: mnist, catvnoncat)")
        if absent:
            reasons.append(f"needs the {name} dataset files, not found in {folder}: "
                           f"{', '.join(absent)} (set TINYGRAD_KO_DATA)")
    return "; ".join(reasons) or None


def run_page(text: str, filename: str) -> int:
    """Run every python block of a page in one fresh namespace, checking the shown outputs.
    Returns the number of blocks run; raises ``DocError`` at the first failing block."""
    namespace: dict = {"__name__": "__main__"}
    n = 0
    for block in parse(text):
        if block.lang in NOT_SUPPORTED:
            raise DocError(f"{filename}:{block.line}: ```{block.lang} blocks are not run by the "
                           f"docs test; write ```python and put the output in a ```text block")
        if block.lang not in PYTHON:
            continue
        n += 1
        # leading newlines put the code at its markdown line: tracebacks point into the page
        code = compile("\n" * (block.line - 1) + block.code, filename, "exec")
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                exec(code, namespace)  # noqa: S102
        except Exception as e:
            printed = buf.getvalue()
            raise DocError(f"{filename}:{block.line}: the block raised {type(e).__name__}: {e}"
                           + (f"\n--- it printed first:\n{printed}" if printed else "")) from e
        actual = buf.getvalue()
        expected = block.output if block.output is not None else ""
        if not output_matches(expected, actual):
            where = (f"the output shown at line {block.output_line}" if block.output is not None
                     else "no output (the page shows none: add a ```text block after it)")
            diff = "\n".join(difflib.unified_diff(_normalize(expected), _normalize(actual),
                                                  "shown in the page", "printed", lineterm=""))
            raise DocError(f"{filename}:{block.line}: the block's output differs from {where}:\n"
                           f"{diff}")
    return n


def pages() -> list[Path]:
    return [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A temporary working directory, the repository on sys.path, the datasets folder in the
    environment, and the library's global state put back afterwards."""
    import tinygrad_ko
    from tinygrad_ko.grad_mode import STATE
    from tinygrad_ko.registry import REGISTRY
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    if os.path.isdir(DATASETS):
        monkeypatch.setenv("TINYGRAD_KO_DATA", os.path.abspath(DATASETS))
    registry, rng = dict(REGISTRY), tinygrad_ko._rng
    flags = (STATE.grad_enabled, STATE.anomaly, STATE.tracer)
    modules = set(sys.modules)
    yield tmp_path
    REGISTRY.clear()
    REGISTRY.update(registry)
    tinygrad_ko._rng = rng
    STATE.grad_enabled, STATE.anomaly, STATE.tracer = flags
    for name in set(sys.modules) - modules:   # modules a page imported from the temp directory
        if getattr(sys.modules[name], "__file__", None) and \
                str(tmp_path) in str(sys.modules[name].__file__):
            del sys.modules[name]


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_page(page, isolated):
    text = page.read_text(encoding="utf-8")
    reason = missing_requirements(text, DATASETS)
    if reason:
        pytest.skip(f"{page.relative_to(ROOT)} {reason}")
    run_page(text, str(page.relative_to(ROOT)))


def test_no_code_block_goes_unnoticed():
    """A code block with no language tag, or with a Python-like tag the harness does not run,
    would be untested without anybody noticing."""
    for page in pages():
        blocks = parse(page.read_text(encoding="utf-8"))
        langs = {b.lang for b in blocks}
        assert not langs & NOT_SUPPORTED, page
        assert "" not in langs, f"{page}: a code block without a language tag (```python, ```bash...)"


def test_korean_and_english_pages_match():
    """docs/ko and docs/en hold the same pages (the English design document is docs/design.md),
    with the same number of python blocks."""
    ko, en = ROOT / "docs" / "ko", ROOT / "docs" / "en"
    english = {p.name: p for p in en.glob("*.md")}
    english["design.md"] = ROOT / "docs" / "design.md"
    assert sorted(p.name for p in ko.glob("*.md")) == sorted(english)
    for page in ko.glob("*.md"):
        n_ko = sum(b.lang in PYTHON for b in parse(page.read_text(encoding="utf-8")))
        n_en = sum(b.lang in PYTHON for b in parse(english[page.name].read_text(encoding="utf-8")))
        assert n_ko == n_en, f"{page.name}: {n_ko} python blocks in Korean, {n_en} in English"


def test_links_between_pages_resolve():
    link = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
    for page in pages():
        for target in link.findall(page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)}: broken link {target}"


def test_graph_images_are_up_to_date():
    """docs/images/*.dot are what docs/gen_images.py draws now (run it to update, PNGs included)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("gen_images", ROOT / "docs" / "gen_images.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for name, text in gen.dot_texts().items():
        dot = ROOT / "docs" / "images" / f"{name}.dot"
        assert dot.exists() and (ROOT / "docs" / "images" / f"{name}.png").exists(), name
        assert dot.read_text(encoding="utf-8") == text, \
            f"docs/images/{name}.dot is stale: run python docs/gen_images.py (needs Graphviz)"


# -- the harness itself ----------------------------------------------------------------------------
PAGE = """# A page

```python
x = 1 + 1
print(x)
```

```text
2
```

Text between blocks.

```python
print(x * 10)   # the namespace is shared within a page
```
```text
20
```

```bash
this is not run
```
"""


def test_parse_pairs_python_blocks_with_their_output():
    blocks = parse(PAGE)
    assert [b.lang for b in blocks] == ["python", "python", "bash"]
    assert blocks[0].code == "x = 1 + 1\nprint(x)" and blocks[0].line == 4
    assert blocks[0].output == "2" and blocks[0].output_line == 9
    assert blocks[1].output == "20"
    assert blocks[2].output is None


def test_a_correct_page_passes():
    assert run_page(PAGE, "page.md") == 2


def test_a_wrong_output_fails_and_names_the_line():
    wrong = PAGE.replace("```text\n20\n```", "```text\n21\n```")
    with pytest.raises(DocError, match=r"page\.md:15: the block's output differs") as e:
        run_page(wrong, "page.md")
    assert "-21" in str(e.value) and "+20" in str(e.value)


def test_unshown_output_fails():
    with pytest.raises(DocError, match="no output"):
        run_page("```python\nprint('hidden')\n```\n", "page.md")


def test_an_exception_fails_with_the_markdown_line():
    with pytest.raises(DocError, match=r"page\.md:3: the block raised ZeroDivisionError"):
        run_page("Intro\n```python\n1 / 0\n```\n", "page.md")


def test_a_text_block_after_prose_is_not_an_output():
    blocks = parse("```python\nx = 1\n```\n\nsome prose\n\n```text\nnot an output\n```\n")
    assert blocks[0].output is None and blocks[1].lang == "text"


def test_pycon_blocks_are_refused_rather_than_skipped():
    with pytest.raises(DocError, match="not run"):
        run_page("```pycon\n>>> 1\n1\n```\n", "page.md")


def test_unclosed_block_is_an_error():
    with pytest.raises(ValueError, match="never closed"):
        parse("```python\nprint(1)\n")


@pytest.mark.parametrize("expected, actual, ok", [
    ("1\n2", "1\n2\n", True),
    ("1  \n2", "1\n2   ", True),                   # trailing whitespace
    ("\n1\n", "1", True),                          # blank lines at both ends
    ("1\n2", "1\n3", False),
    ("loss 0.12...", "loss 0.12345", True),         # inline ellipsis
    ("a ... b", "a xyz b", True),
    ("a ... b", "a xyz c", False),
    ("first\n...\nlast", "first\nx\ny\nlast", True),  # a line of ... : any number of lines
    ("first\n...\nlast", "first\nlast", True),
    ("first\n...\nlast", "first\nx\nlast\nmore", False),
    ("epoch 1 ...s", "epoch 1 loss 0.3 12.7s", True),
    ("", "", True),
    ("", "x", False),
])
def test_output_matches(expected, actual, ok):
    assert output_matches(expected, actual) is ok


def test_requirements_skip_only_when_files_are_absent(tmp_path):
    text = "<!-- docs-test: requires mnist -->\n# MNIST\n"
    reason = missing_requirements(text, tmp_path)
    assert reason is not None and "mnist" in reason and "t10k-labels-idx1-ubyte" in reason
    (tmp_path / "mnist").mkdir()
    for name in MNIST_NAMES:
        (tmp_path / "mnist" / (name + ".gz")).write_bytes(b"")
    assert missing_requirements(text, tmp_path) is None
    assert missing_requirements("# no requirement\n", tmp_path) is None
    with pytest.raises(ValueError, match="unknown"):
        missing_requirements("<!-- docs-test: requires imagenet -->", tmp_path)
