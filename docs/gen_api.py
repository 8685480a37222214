"""Generate docs/api.md, the API reference: every public name of every public module, with its
signature and the first line of its docstring, and every public ``Tensor`` method and property.

    python docs/gen_api.py            # rewrite docs/api.md
    python docs/gen_api.py --check    # exit 1 if docs/api.md is stale (tests/test_api_reference.py)
    python docs/gen_api.py --missing  # list the public names that have no docstring

Public names: the module's ``__all__``; for a module without ``__all__``, the names that do not
start with an underscore and are defined at the top level of the module's own source file.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
API_MD = ROOT / "docs" / "api.md"

MODULES = [
    "tinygrad_ko", "tinygrad_ko.nn", "tinygrad_ko.nn.functional", "tinygrad_ko.nn.init",
    "tinygrad_ko.optim", "tinygrad_ko.optim.lr_scheduler", "tinygrad_ko.data",
    "tinygrad_ko.gradcheck", "tinygrad_ko.testing", "tinygrad_ko.viz", "tinygrad_ko.train",
    "tinygrad_ko.errors", "tinygrad_ko.registry", "tinygrad_ko.cuda", "tinygrad_ko.accelerator",
    "tinygrad_ko.utils", "tinygrad_ko.memory",
]

# Values cannot carry docstrings: what the public constants are.
CONSTANTS = {
    "REGISTRY": "Every registered op: name -> OpSpec (what tests/test_ops_oracle.py iterates over).",
    "float16": "NumPy dtype float16.", "float32": "NumPy dtype float32 (the default float).",
    "float64": "NumPy dtype float64.", "int32": "NumPy dtype int32.",
    "int64": "NumPy dtype int64 (integer tensors, class labels).", "bool_": "NumPy dtype bool.",
    "uint8": "NumPy dtype uint8 (images).", "float": "float32, PyTorch's alias (torch.float).",
    "double": "float64, PyTorch's alias (torch.double).", "half": "float16 (torch.half).",
    "long": "int64, PyTorch's alias (torch.long).", "int": "int32, PyTorch's alias (torch.int).",
    "bool": "NumPy dtype bool, PyTorch's alias (torch.bool).",
    "MNIST_FILES": "The four MNIST file names -> SHA-256 of their decompressed content.",
    "MNIST_MIRRORS": "The URLs tried in order to download MNIST.",
    "IDX_IMAGES_MAGIC": "Magic number of an IDX image file (0x00000803).",
    "IDX_LABELS_MAGIC": "Magic number of an IDX label file (0x00000801).",
    "CATVNONCAT_FILES": "The two HDF5 file names of the cat/non-cat dataset.",
    "ENV_VAR": "The environment variable naming the datasets folder (TINYGRAD_KO_DATA).",
    "GAP": "How far generated inputs stay from kinks and from each other (0.1).",
    "SampleFn": "Type of a registry ``sample`` function: Sampler -> (args, kwargs).",
    "Metric": "Type of a metric: (output, target) -> float.",
}


def public_names(module: ModuleType) -> list[str]:
    """``__all__``, or the public names defined at the top level of the module's source."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in dict.fromkeys(names) if not n.startswith("_")]


def tensor_members() -> list[str]:
    import tinygrad_ko
    return sorted(n for n, _ in inspect.getmembers(tinygrad_ko.Tensor) if not n.startswith("_"))


# -- text helpers -----------------------------------------------------------------------------------
def first_line(doc: str | None) -> str:
    """The first sentence-line of a docstring (its first paragraph joined), RST `` made Markdown `."""
    if not doc:
        return ""
    para = inspect.cleandoc(doc).split("\n\n")[0]
    text = " ".join(line.strip() for line in para.splitlines())
    return text.replace("``", "`").replace("|", "\\|")


def own_doc(obj: Any) -> str | None:
    """The docstring written for this object (inherited ones count for methods, not for classes)."""
    if inspect.isclass(obj):
        return obj.__dict__.get("__doc__")
    if isinstance(obj, property):
        return obj.__doc__
    return inspect.getdoc(obj)


def signature(obj: Any) -> str:
    """The call signature without annotations; object addresses removed so the text is stable."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return ""
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    text = str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))
    return re.sub(r" at 0x[0-9a-f]+", "", text)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def kind_of(obj: Any) -> str:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if inspect.isroutine(obj) or type(obj).__name__ == "partial":
        return "function"
    return "constant"          # values, dtypes, and typing aliases such as Callable[...]


def constant_text(name: str, obj: Any) -> str:
    r = repr(obj)
    if isinstance(obj, dict):
        r = "{...}"            # contents left out: they change whenever an op is added
    elif len(r) > 60:
        r = r[:57] + "..."
    return f"`{r}`"


# -- rendering --------------------------------------------------------------------------------------
class Book:
    """Which section documents each object, so re-exports link to it instead of repeating it."""

    def __init__(self, modules: list[ModuleType]) -> None:
        self.home: dict[int, tuple[str, str]] = {}    # id(obj) -> (module name, public name)
        listed = {m.__name__: public_names(m) for m in modules}
        for m in modules:          # first pass: the module that defines the object
            for n in listed[m.__name__]:
                obj = getattr(m, n)
                if kind_of(obj) in ("constant", "module"):
                    continue
                if getattr(obj, "__module__", None) == m.__name__ or (
                        getattr(obj, "__module__", "").startswith(m.__name__ + ".")
                        and not any(getattr(obj, "__module__", "") == o for o in listed)):
                    self.home.setdefault(id(obj), (m.__name__, n))
        for m in modules:          # then: the first module listing it
            for n in listed[m.__name__]:
                obj = getattr(m, n)
                if kind_of(obj) not in ("constant", "module"):
                    self.home.setdefault(id(obj), (m.__name__, n))


def render_class_members(cls: type, lines: list[str], missing: list[str], qual: str) -> None:
    """The public methods and properties a class introduces (not the ones it overrides)."""
    members = []
    bases = [b for b in cls.__mro__[1:] if b is not object]
    for n, v in cls.__dict__.items():
        if n.startswith("_") or any(n in b.__dict__ for b in bases):
            continue   # private, or an override (Linear.forward): documented where introduced
        if isinstance(v, (staticmethod, classmethod)):
            v = v.__func__
        if isinstance(v, property) or inspect.isfunction(v):
            members.append((n, v))
    for n, v in members:
        if isinstance(v, property):
            doc = first_line(v.__doc__)
            head = f"  - **`{n}`** (property)"
        else:
            doc = first_line(inspect.getdoc(getattr(cls, n)))
            head = f"  - **`{n}`**`{signature(v)}`"
        if not doc:
            missing.append(f"{qual}.{n}")
        lines.append(head + (f" — {doc}" if doc else " — *(no docstring)*"))


def render_module(module: ModuleType, book: Book, missing: list[str]) -> list[str]:
    name = module.__name__
    lines = [f"## `{name}`", ""]
    summary = first_line(module.__doc__)
    if summary:
        lines += [summary, ""]
    for n in public_names(module):
        obj = getattr(module, n)
        kind = kind_of(obj)
        if kind == "module":
            target = obj.__name__
            link = f" — see [`{target}`](#{anchor(f'`{target}`')})" if target in MODULES else ""
            lines.append(f"- **`{n}`** (module){link} — {first_line(obj.__doc__)}")
            continue
        if kind == "constant":
            desc = CONSTANTS.get(n, "")
            if not desc:
                missing.append(f"{name}.{n} (constant: add it to CONSTANTS in docs/gen_api.py)")
            lines.append(f"- **`{n}`** = {constant_text(n, obj)}" + (f" — {desc}" if desc else ""))
            continue
        home_mod, home_name = book.home[id(obj)]
        if (home_mod, home_name) != (name, n):
            same_module = home_mod == name
            ref = f"`{home_name}`" if same_module else f"`{home_mod}.{home_name}`"
            what = "alias of" if same_module else "re-export of"
            lines.append(f"- **`{n}`** — {what} [{ref}](#{anchor(f'`{home_mod}`')})")
            continue
        doc = first_line(own_doc(obj))
        if not doc:
            missing.append(f"{name}.{n}")
        label = "exception " if kind == "exception" else "class " if kind == "class" else ""
        sig = "" if kind == "exception" else signature(obj)
        lines.append(f"- {label}**`{n}`**`{sig}`" + (f" — {doc}" if doc else " — *(no docstring)*"))
        if kind == "class" and not (name == "tinygrad_ko" and n == "Tensor"):
            render_class_members(obj, lines, missing, f"{name}.{n}")
    lines.append("")
    return lines


def render_tensor(missing: list[str]) -> list[str]:
    from tinygrad_ko import Tensor
    lines = ["## `Tensor` methods and properties", "",
             "Every public member of `tinygrad_ko.Tensor`. Operators `+ - * / ** @`, unary `-`, "
             "`abs()`, comparisons and indexing `t[...]` work as in NumPy/PyTorch.", ""]
    members = tensor_members()
    for n in members:
        raw = inspect.getattr_static(Tensor, n)
        if isinstance(raw, property):
            doc = first_line(raw.__doc__)
            if not doc:
                missing.append(f"Tensor.{n}")
            lines.append(f"- **`{n}`** (property)" + (f" — {doc}" if doc else " — *(no docstring)*"))
            continue
        func = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
        canonical = getattr(func, "__name__", n)
        if canonical != n and canonical in members:     # clamp = clip, amax = max ...
            lines.append(f"- **`{n}`** — alias of `{canonical}`")
            continue
        if not callable(func):
            lines.append(f"- **`{n}`** (attribute)")
            continue
        doc = first_line(inspect.getdoc(func))
        if not doc:
            missing.append(f"Tensor.{n}")
        lines.append(f"- **`{n}`**`{signature(func)}`" + (f" — {doc}" if doc else " — *(no docstring)*"))
    lines.append("")
    return lines


def render() -> tuple[str, list[str]]:
    """(the text of docs/api.md, the public names with no docstring)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    modules = [importlib.import_module(m) for m in MODULES]
    book = Book(modules)
    missing: list[str] = []
    out = ["# API reference", "",
           "Generated from the docstrings by `python docs/gen_api.py`: do not edit by hand. "
           "`tests/test_api_reference.py` fails when a public name is missing here or when this "
           "file is older than the code. Names are listed as in each module's `__all__`; "
           "signatures are shown without type annotations.", "",
           "Tutorials: [한국어](ko/index.md) · [English](en/index.md) · "
           "[design](design.md)", "",
           "## Contents", ""]
    out += [f"- [`{m}`](#{anchor(f'`{m}`')})" for m in MODULES]
    out += [f"- [`Tensor` methods and properties](#{anchor('`Tensor` methods and properties')})", ""]
    for m in modules:
        out += render_module(m, book, missing)
    out += render_tensor(missing)
    return "\n".join(out).rstrip() + "\n", missing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is stale")
    ap.add_argument("--missing", action="store_true", help="list public names without docstrings")
    args = ap.parse_args(argv)
    text, missing = render()
    if args.missing:
        print("\n".join(missing) if missing else "every public name has a docstring")
        return 0
    if args.check:
        current = API_MD.read_text(encoding="utf-8") if API_MD.exists() else ""
        if current != text:
            print(f"{API_MD} is stale: run python docs/gen_api.py", file=sys.stderr)
            return 1
        return 0
    API_MD.write_text(text, encoding="utf-8")
    print(f"wrote {API_MD.relative_to(ROOT)} ({text.count(chr(10))} lines, "
          f"{len(missing)} public names without a docstring: --missing lists them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
