"""Draw the pictures shown in the docs: the computation graphs (with tinygrad_ko.viz) and the plots
of pages 10 and 11 (with matplotlib).

    python docs/gen_images.py     # writes docs/images/<name>.dot and, with Graphviz, <name>.png

The DOT files are always written (no Graphviz needed); tests/test_docs.py checks they match what
this script produces now, so a change in the library's drawing shows up as a stale image. The PNGs
of the graphs need Graphviz's `dot` program (apt-get install graphviz); the plots need matplotlib,
and the CNN filters MNIST (found as load_mnist finds it, e.g. through $TINYGRAD_KO_DATA).
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


# -- the plots of pages 10 and 11 (the same code as the pages' blocks) -------------------------------
def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def optimizer_paths(path: Path) -> None:
    """Page 10: SGD, Momentum, AdaGrad and Adam on the book's f(x, y) = x**2 / 20 + y**2."""
    import numpy as np

    import tinygrad_ko as tg
    from tinygrad_ko import optim
    plt = _pyplot()

    def f(p):
        return p[0] ** 2 / 20 + p[1] ** 2

    def trace(make, steps=30):
        p = tg.tensor(np.array([-7.0, 2.0]), requires_grad=True)
        opt = make([p])
        pts = [p.numpy().copy()]
        for _ in range(steps):
            opt.zero_grad()
            f(p).backward()
            opt.step()
            pts.append(p.numpy().copy())
        return np.array(pts)

    makers = {"SGD (lr 0.95)": lambda ps: optim.SGD(ps, lr=0.95),
              "Momentum (lr 0.1)": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
              "AdaGrad (lr 1.5)": lambda ps: optim.Adagrad(ps, lr=1.5),
              "Adam (lr 0.3)": lambda ps: optim.Adam(ps, lr=0.3)}
    xs, ys = np.meshgrid(np.linspace(-10, 10, 200), np.linspace(-5, 5, 100))
    fig, axes = plt.subplots(2, 2, figsize=(8, 5.2))
    for ax, (name, make) in zip(axes.ravel(), makers.items()):
        pts = trace(make)
        ax.contour(xs, ys, xs ** 2 / 20 + ys ** 2, levels=12, colors="0.75", linewidths=0.7)
        ax.plot(pts[:, 0], pts[:, 1], "o-", color="tab:red", markersize=3, linewidth=1)
        ax.plot(0, 0, "+", color="black", markersize=10)
        ax.set_title(name, fontsize=10)
        ax.set_xlim(-10, 10)
        ax.set_ylim(-5, 5)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def weight_init_activations(path: Path) -> None:
    """Page 10: histograms of 5 layers' activations for the book's initialisations."""
    import tinygrad_ko as tg
    from tinygrad_ko import nn
    plt = _pyplot()

    def activations(init, activation):
        tg.manual_seed(0)
        x = tg.randn(1000, 100)
        out = []
        with tg.no_grad():
            for _ in range(5):
                layer = nn.Linear(100, 100, bias=False)
                init(layer.weight)
                x = activation(layer(x))
                out.append(x.numpy().ravel())
        return out

    sigmoid, relu = (lambda x: x.sigmoid()), (lambda x: x.relu())
    cases = [("sigmoid, std 1", sigmoid, lambda w: nn.init.normal_(w, std=1.0)),
             ("sigmoid, std 0.01", sigmoid, lambda w: nn.init.normal_(w, std=0.01)),
             ("sigmoid, Xavier", sigmoid, nn.init.xavier_normal_),
             ("ReLU, std 0.01", relu, lambda w: nn.init.normal_(w, std=0.01)),
             ("ReLU, Xavier", relu, nn.init.xavier_normal_),
             ("ReLU, He", relu, nn.init.kaiming_normal_)]
    fig, axes = plt.subplots(len(cases), 5, figsize=(9, 8.5), sharey="row")
    for row, (name, activation, init) in zip(axes, cases):
        top = 1.0 if "sigmoid" in name else 3.0
        for i, (ax, a) in enumerate(zip(row, activations(init, activation))):
            # ReLU's zeros (half the values or more) are left out, as in the book's figures
            ax.hist(a[a > 0] if top > 1 else a, bins=30, range=(0, top), color="tab:blue")
            ax.tick_params(labelsize=7)
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(name, fontsize=8)
            if name == cases[0][0]:
                ax.set_title(f"layer {i + 1}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=60)
    plt.close(fig)


def cnn_filters(path: Path) -> None:
    """Page 11: the 30 first-layer filters of SimpleConvNet before and after one epoch on 5,000
    MNIST images (the book's figure 7-24)."""
    import numpy as np

    import tinygrad_ko as tg
    from tinygrad_ko import optim
    from tinygrad_ko.data import DataLoader, TensorDataset, load_mnist
    from tinygrad_ko.nn import functional as F
    sys.path.insert(0, str(ROOT / "examples"))
    from simple_convnet import simple_conv_net
    plt = _pyplot()
    (x_train, t_train), _ = load_mnist(flatten=False, download=False)
    tg.manual_seed(0)
    model = simple_conv_net(0.01)
    before = model[0].weight.numpy().copy()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    for xb, tb in DataLoader(TensorDataset(x_train[:5000], t_train[:5000]), batch_size=100,
                             shuffle=True, seed=0):
        loss = F.cross_entropy(model(xb), tb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = model[0].weight.numpy()
    fig, axes = plt.subplots(6, 10, figsize=(6.4, 4.4))
    for k, (weights, title) in enumerate([(before, "before training"), (after, "after training")]):
        for i in range(30):
            ax = axes[3 * k + i // 10, i % 10]
            ax.imshow(weights[i, 0], cmap="gray_r", interpolation="nearest")
            ax.set_axis_off()
        axes[3 * k, 0].set_title(title, fontsize=9, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)
    print(f"  (filters: last training loss {loss.item():.3f}; mean |w| {np.abs(after).mean():.4f})")


PLOTS = {"optimizer_paths": optimizer_paths, "weight_init_activations": weight_init_activations,
         "cnn_filters": cnn_filters}


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
    for name, draw in PLOTS.items():
        try:
            draw(IMAGES / f"{name}.png")
            print(f"wrote docs/images/{name}.png")
        except ImportError as e:
            print(f"docs/images/{name}.png not updated: {e}")
        except Exception as e:  # noqa: BLE001 (e.g. MNIST not found: say so, draw the rest)
            print(f"docs/images/{name}.png not updated: {type(e).__name__}: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
