"""Draw the computation graphs shown in the docs, with tinygrad_ko.viz.

    python docs/gen_images.py     # writes docs/images/<name>.dot and, with Graphviz, <name>.png

The DOT files are always written (no Graphviz needed); tests/test_docs.py checks they match what
this script produces now, so a change in the library's drawing shows up as a stale image. The PNGs
need Graphviz's `dot` program (apt-get install graphviz).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"


def course_graph():
    """J = 3(a + b c) with a = 5, b = 3, c = 2 (Andrew Ng's course), left to right."""
    import tinygrad_ko as tg
    a = tg.tensor(5.0, requires_grad=True)
    b = tg.tensor(3.0, requires_grad=True)
    c = tg.tensor(2.0, requires_grad=True)
    u = b * c
    v = a + u
    J = 3 * v
    return J, dict(a=a, b=b, c=c, u=u, v=v, J=J), dict(rankdir="LR", show_data=True)


def mlp_graph():
    """The book's two-layer net on a batch of 4: Affine - Relu - Affine - SoftmaxWithLoss."""
    import numpy as np

    import tinygrad_ko as tg
    from tinygrad_ko.nn import functional as F
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.random((4, 3), dtype=np.float32))
    t = tg.tensor([0, 1, 1, 0])
    W1 = tg.tensor(rng.standard_normal((5, 3), dtype=np.float32), requires_grad=True)
    b1 = tg.zeros(5, requires_grad=True)
    W2 = tg.tensor(rng.standard_normal((2, 5), dtype=np.float32), requires_grad=True)
    b2 = tg.zeros(2, requires_grad=True)
    h = F.linear(x, W1, b1).relu()
    loss = F.cross_entropy(F.linear(h, W2, b2), t)
    names = dict(x=x, t=t, W1=W1, b1=b1, W2=W2, b2=b2, h=h, loss=loss)
    return loss, names, dict(rankdir="TB")


GRAPHS = {"course_graph": course_graph, "mlp_graph": mlp_graph}


def dot_texts() -> dict[str, str]:
    """name -> the DOT text of each graph, as the library draws it now."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tinygrad_ko.viz import to_dot
    out = {}
    for name, make in GRAPHS.items():
        root, names, options = make()
        out[name] = to_dot(root, names=names, **options)
    return out


def main() -> int:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tinygrad_ko.viz import GraphvizNotFoundError, render
    IMAGES.mkdir(parents=True, exist_ok=True)
    for name, text in dot_texts().items():
        try:
            render(text, IMAGES / f"{name}.png")
            print(f"wrote docs/images/{name}.dot and {name}.png")
        except GraphvizNotFoundError:
            print(f"wrote docs/images/{name}.dot (no Graphviz: {name}.png not updated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
