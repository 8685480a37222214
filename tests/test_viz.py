"""Tests of tinygrad_ko.viz: the DOT drawing of the graph, rendering it with Graphviz, and the
step-by-step trace of backward."""
import io
import re
import shutil

import numpy as np
import pytest

import tinygrad_ko as tg
from tinygrad_ko import viz
from tinygrad_ko.function import Function
from tinygrad_ko.grad_mode import STATE

requires_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz's `dot` program is not installed (apt-get install graphviz)")


def course_graph():
    """Andrew Ng's computation graph: J = 3 (a + b c) with a = 5, b = 3, c = 2."""
    a = tg.tensor(5.0, requires_grad=True)
    b = tg.tensor(3.0, requires_grad=True)
    c = tg.tensor(2.0, requires_grad=True)
    u = b * c
    v = a + u
    J = 3 * v
    return dict(a=a, b=b, c=c, u=u, v=v, J=J)


def parse_dot(text):
    """{node id: label lines} and [(from, to, edge label)] of our DOT output."""
    labels = {}
    for node_id, label in re.findall(r'^  (\w+) \[label="((?:[^"\\]|\\.)*)"', text, re.MULTILINE):
        labels[node_id] = label.split("\\n")
    edges = re.findall(r'^  (\w+) -> (\w+)(?: \[label="(\w+)"\])?;$', text, re.MULTILINE)
    return labels, edges


def row(text, label, value):
    """True when the trace has a row 'label   value' (label column, then the value)."""
    return re.search(rf"^    {re.escape(label)} +{re.escape(value)}$", text, re.MULTILINE) is not None


def node_by_name(labels, name):
    (node_id,) = [i for i, lines in labels.items() if lines[0] == name]
    return node_id


# -- to_dot ------------------------------------------------------------------------------------
def test_to_dot_has_every_op_tensor_and_edge_of_a_small_graph():
    g = course_graph()
    text = viz.to_dot(g["J"], names={t: n for n, t in g.items()})
    assert text.startswith("digraph") and text.rstrip().endswith("}")
    labels, edges = parse_dot(text)
    ops = {i: lines for i, lines in labels.items() if i.startswith("op")}
    assert sorted(lines[0] for lines in ops.values()) == ["add", "mul", "mul"]
    assert all(lines[1] == "() float32" for lines in ops.values())  # output shape and dtype
    a, b, c, u, v, J = (node_by_name(labels, n) for n in "abcuvJ")
    assert labels[a] == ["a", "() float32", "requires_grad"]
    (mul_u,) = [src for src, dst, _ in edges if dst == u]      # op -> output
    (add_v,) = [src for src, dst, _ in edges if dst == v]
    (mul_J,) = [src for src, dst, _ in edges if dst == J]
    assert labels[mul_u][0] == "mul" and labels[add_v][0] == "add" and labels[mul_J][0] == "mul"
    # input -> op, labelled with the op's argument names (so a - b is not confused with b - a)
    assert (b, mul_u, "a") in edges and (c, mul_u, "b") in edges
    assert (a, add_v, "a") in edges and (u, add_v, "b") in edges and (v, mul_J, "b") in edges
    assert len(edges) == 9                  # 3 op -> output, 6 input -> op
    (three,) = [src for src, dst, lab in edges if dst == mul_J and lab == "a"]
    assert labels[three] == ["() float32", "3"]   # an unnamed scalar constant shows its value


def test_to_dot_styles_leaves_that_require_grad_outputs_and_constants_differently():
    x = tg.tensor([1.0, 2.0])                       # data: a constant
    W = tg.tensor([[1.0], [2.0]], requires_grad=True)
    y = x @ W
    text = viz.to_dot(y, names={"x": x, "W": W, "y": y})   # names also as str -> Tensor
    lines = {line.split('"')[1].split("\\n")[0]: line for line in text.splitlines()
             if "[label=" in line}
    assert 'fillcolor="lightblue"' in lines["W"] and "requires_grad" in lines["W"]
    assert "style=dashed" in lines["x"] and "requires_grad" not in lines["x"]
    assert 'fillcolor="palegreen"' in lines["y"]


def test_to_dot_is_deterministic():
    def build():
        x = tg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        h = (x * 2).tanh()
        return x, (h + h.exp()).sum(axis=0).mean()
    x1, y1 = build()
    x2, y2 = build()
    assert viz.to_dot(y1, names={x1: "x"}) == viz.to_dot(y2, names={x2: "x"})
    assert viz.to_dot(y1) == viz.to_dot(y1)


def test_to_dot_of_several_outputs_draws_shared_parts_once():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    text = viz.to_dot(h.sum(), h.mean(), names={x: "x", h: "h"})
    labels, edges = parse_dot(text)
    assert [lines[0] for lines in labels.values()].count("exp") == 1
    assert [lines[0] for lines in labels.values()].count("h") == 1
    assert sum(1 for _, dst, _ in edges if dst == node_by_name(labels, "h")) == 1


@pytest.mark.slow
def test_to_dot_of_a_100k_op_chain_has_no_recursion_error():
    x = tg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = -y
    text = viz.to_dot(y)
    assert text.count('[label="neg\\n') == 100_000
    assert len(re.findall(r"^  \w+ -> \w+;$", text, re.MULTILINE)) == 200_000


def test_to_dot_refuses_a_graph_freed_by_backward():
    g = course_graph()
    g["J"].backward()
    with pytest.raises(tg.GraphError, match="retain_graph=True"):
        viz.to_dot(g["J"])


def test_to_dot_refuses_a_partly_freed_graph_instead_of_drawing_part_of_it():
    x = tg.tensor(2.0, requires_grad=True)
    y = x * 3
    z = y + 1
    y.backward()                             # frees the mul node that z also goes through
    with pytest.raises(tg.GraphError, match="mul"):
        viz.to_dot(z)


def test_to_dot_works_after_backward_with_retain_graph():
    g = course_graph()
    g["J"].backward(retain_graph=True)
    labels, _ = parse_dot(viz.to_dot(g["J"]))
    assert sum(1 for i in labels if i.startswith("op")) == 3


def test_to_dot_escapes_labels():
    x = tg.tensor(1.0, requires_grad=True)
    y = x * 2
    text = viz.to_dot(y, names={x: 'say "hi"\\n', y: "two\nlines"})
    assert r'say \"hi\"\\n' in text          # quote and backslash escaped
    assert "two\\nlines" in text             # a real newline becomes DOT's \n
    for line in text.splitlines():           # every quoted string is closed on its line
        assert len(re.sub(r'\\.', "", line).split('"')) % 2 == 1


def test_to_dot_show_data_prints_small_arrays_and_summarises_large_ones():
    small = tg.tensor([0.5, 1.25], requires_grad=True)
    big = tg.tensor(np.ones((10, 10)), requires_grad=True)
    text = viz.to_dot((small * 2).sum() + big.sum(), show_data=True)
    assert "[0.5, 1.25]" in text
    assert "mean 1, min 1, max 1, norm 10" in text


def test_to_dot_checks_its_arguments():
    x = tg.tensor(1.0, requires_grad=True)
    with pytest.raises(TypeError, match="at least one tensor"):
        viz.to_dot()
    with pytest.raises(TypeError, match="Tensor"):
        viz.to_dot(np.ones(3))
    with pytest.raises(TypeError, match="names"):
        viz.to_dot(x, names={x: 3})
    with pytest.raises(ValueError, match="rankdir"):
        viz.to_dot(x, rankdir="sideways")
    assert "requires_grad" in viz.to_dot([x])  # a list of tensors is fine, and a lone leaf


# -- render ------------------------------------------------------------------------------------
@requires_dot
@pytest.mark.parametrize("ext, magic", [("png", b"\x89PNG"), ("svg", b"<svg")])
def test_render_writes_a_picture_and_the_dot_text(tmp_path, ext, magic):
    g = course_graph()
    out = viz.render(g["J"], tmp_path / f"graph.{ext}", names={t: n for n, t in g.items()})
    assert out == tmp_path / f"graph.{ext}"
    data = out.read_bytes()
    assert len(data) > 0 and magic in data[:400]
    assert (tmp_path / "graph.dot").read_text().startswith("digraph")


@requires_dot
def test_render_accepts_dot_text_awkward_names_and_an_explicit_format(tmp_path):
    x = tg.tensor(1.0, requires_grad=True)
    text = viz.to_dot(x * 2, names={x: 'W"1 \\ \n'})
    out = viz.render(text, tmp_path / "graph", format="svg")
    assert b"<svg" in out.read_bytes()[:400]


@requires_dot
def test_render_reports_a_dot_failure(tmp_path):
    with pytest.raises(viz.GraphvizError, match="failed"):
        viz.render("digraph { this is not dot", tmp_path / "bad.png")


@pytest.mark.parametrize("how", ["which", "PATH"])
def test_render_without_graphviz_says_how_to_install_it(tmp_path, monkeypatch, how):
    if how == "which":
        monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    else:
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    g = course_graph()
    with pytest.raises(viz.GraphvizNotFoundError) as info:
        viz.render(g["J"], tmp_path / "graph.png")
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, tg.TinygradError)
    msg = str(info.value)
    assert "apt-get install graphviz" in msg and "brew install graphviz" in msg
    assert "online viewer" in msg
    assert (tmp_path / "graph.dot").read_text().startswith("digraph")  # the DOT is kept


def test_render_to_a_dot_path_needs_no_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    x = tg.tensor(1.0, requires_grad=True)
    out = viz.render(x.exp(), tmp_path / "g.dot")
    assert "exp" in out.read_text()
    with pytest.raises(ValueError, match="format"):
        viz.render(x.exp(), tmp_path / "g.jpeg2000")


# -- trace_backward ----------------------------------------------------------------------------
def test_summed_axes():
    assert viz.summed_axes((32, 10), (10,)) == (0,)
    assert viz.summed_axes((4, 3), (1, 3)) == (0,)
    assert viz.summed_axes((2, 3, 4), (3, 1)) == (0, 2)
    assert viz.summed_axes((5, 1, 3), (1, 3)) == (0,)
    assert viz.summed_axes((2, 3), (2, 3)) == ()


def test_trace_of_the_course_graph_shows_the_chain_rule():
    g = course_graph()
    out = io.StringIO()
    text = viz.trace_backward(g["J"], names={t: n for n, t in g.items()}, file=out)
    assert out.getvalue() == text
    assert "Backward pass from J = 33" in text
    assert "starting from dJ/dJ = 1" in text
    steps = text.split("\nstep ")[1:]
    assert [s.split("\n")[0] for s in steps] == [
        "1: J = mul(3, v)", "2: v = add(a, u)", "3: u = mul(b, c)"]
    # mul's docstring rule 'd/da = b, d/db = a' in the step's own names: the op's a, b never show
    assert row(steps[0], "local derivative", "dJ/d3 = v, dJ/dv = 3")
    assert row(steps[1], "local derivative", "dv/da = 1, dv/du = 1")
    assert row(steps[2], "local derivative", "du/db = c, du/dc = b")
    assert row(steps[0], "to 3", "no gradient (it is a constant)")
    assert row(steps[0], "to v", "dJ/dv = 3")
    assert row(steps[1], "value", "v = 11") and row(steps[1], "upstream", "dJ/dv = 3")
    assert row(steps[1], "to a", "dJ/da = 3") and row(steps[1], "to u", "dJ/du = 3")
    assert row(steps[2], "value", "u = 6")
    assert row(steps[2], "to b", "dJ/db = 6") and row(steps[2], "to c", "dJ/dc = 9")
    assert "dJ/da = 3\n    dJ/db = 6\n    dJ/dc = 9" in text   # the leaves' summary
    assert (g["a"].grad.item(), g["b"].grad.item(), g["c"].grad.item()) == (3.0, 6.0, 9.0)


def test_trace_shows_the_sum_that_undoes_broadcasting():
    logits = tg.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3), requires_grad=True)
    bias = tg.zeros(3, requires_grad=True)
    z = logits + bias
    loss = (z * z).mean()
    text = viz.trace_backward(loss, names=dict(logits=logits, bias=bias, z=z, L=loss),
                              file=io.StringIO())
    assert row(text, "to bias", "sum over axis 0: (4, 3) -> (3,)   (bias was broadcast in forward)")
    assert "dL/dz" in text and "(the sum of the 2 gradients sent to z)" in text  # z * z
    np.testing.assert_allclose(bias.grad.numpy(), (2 * z.numpy() / 12).sum(axis=0), rtol=1e-6)


def test_local_rule_is_written_with_the_steps_names():
    from tinygrad_ko.viz.trace import local_rule_for
    # the op's names swapped all at once: a -> b and b -> c never become c and c
    assert local_rule_for("d/da = b, d/db = a", ["a", "b"], ["b", "c"], "u") == "du/db = c, du/dc = b"
    assert local_rule_for("d/da = 1/b, d/db = -a/b**2", ["a", "b"], ["x", "-2"], "q") == \
        "dq/dx = 1/(-2), dq/d-2 = -x/(-2)**2"                  # a negative constant in parentheses
    assert local_rule_for("d/dx = 1 for x > 0, else 0 (0 at x = 0, as PyTorch)", ["x"], ["h"],
                          "r") == "dr/dh = 1 for h > 0, else 0 (0 at h = 0, as PyTorch)"
    assert local_rule_for("d/dz_i = softmax(z_i) - q_i", ["z", "q"], ["s", "t"], "L") == \
        "dL/ds_i = softmax(s_i) - t_i"                          # indexed names, and exp/softmax kept
    assert local_rule_for("d/dx = exp(x), the output itself", ["x"], ["e"], "y") == \
        "dy/de = exp(e), the output itself"
    # a rule in its own letters (matmul's) is left as written
    rule = "dA = dC @ B^T,  dB = A^T @ dC"
    assert local_rule_for(rule, ["a", "b"], ["x", "W"], "t0") == rule
    text = viz.trace_backward(tg.tensor([[1.0, 2.0]], requires_grad=True) @ tg.ones(2, 2),
                              file=io.StringIO(), gradient=tg.ones(1, 2))
    assert "loss = matmul(t0, t1)" in text and "dA = dC @ B^T" in text


def test_trace_steps_as_data():
    g = course_graph()
    with viz.BackwardTrace(names={g["a"]: "a", g["b"]: "b", g["c"]: "c"}) as tr:
        g["J"].backward()
    assert [s.op for s in tr.steps] == ["mul", "add", "mul"]
    assert tr.steps[0].output == "loss"           # the unnamed root
    assert tr.steps[0].inputs[0] == "3"
    assert [s.upstream.item() for s in tr.steps] == [1.0, 3.0, 3.0]
    assert tr.steps[0].input_grads[0] is None
    assert [g_.item() for g_ in tr.steps[2].input_grads] == [6.0, 9.0]
    assert "dloss/dc = 9" in str(tr)
    assert STATE.tracer is None


def test_trace_names_unnamed_tensors_and_summarises_large_arrays():
    x = tg.tensor(np.full((5, 5), 2.0, dtype=np.float32), requires_grad=True)
    text = viz.trace_backward((x * x).sum(), file=io.StringIO(), max_elements=10)
    assert "t0 = mul(t1, t1)" in text          # made-up names, the same for the same tensor
    assert "dloss/dt1 = <(5, 5) float32: mean 4, min 4, max 4, norm 20>" in text


def test_trace_with_a_gradient_for_a_non_scalar_output():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    text = viz.trace_backward(x * 3, names={x: "x"}, gradient=tg.tensor([1.0, 10.0]),
                              file=io.StringIO())
    assert "dloss/dx = [3, 30]" in text
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 30.0])


def test_trace_of_a_leaf_says_there_is_no_op():
    x = tg.tensor(1.0, requires_grad=True)
    assert "no op was visited" in viz.trace_backward(x, file=io.StringIO())


def test_tracing_does_not_change_the_gradients():
    def grads(trace):
        x = tg.tensor(np.linspace(-2, 2, 6).reshape(2, 3), requires_grad=True)
        w = tg.tensor(np.linspace(0, 1, 3), requires_grad=True)
        loss = ((x * w).sigmoid() + x.tanh()).sum()
        if trace:
            viz.trace_backward(loss, file=io.StringIO())
        else:
            loss.backward()
        return x.grad.numpy(), w.grad.numpy()
    for plain, traced in zip(grads(False), grads(True)):
        np.testing.assert_array_equal(plain, traced)


class _Boom(Function):
    """x;  d/dx: raises, to test that the tracer is put back."""
    def forward(ctx, x):
        return x.copy()

    def backward(ctx, grad):
        raise ValueError("boom")


def test_the_tracer_is_restored_after_an_exception():
    x = tg.tensor(1.0, requires_grad=True)
    loss = _Boom.apply(x) * 2
    out = io.StringIO()
    with pytest.raises(ValueError, match="boom"):
        viz.trace_backward(loss, file=out)
    assert STATE.tracer is None
    assert "step 1: loss = mul(t0, 2)" in out.getvalue()       # the steps before the error
    assert "backward stopped by ValueError: boom" in out.getvalue()


def test_a_trace_inside_another_puts_the_outer_one_back():
    x = tg.tensor(1.0, requires_grad=True)
    with viz.BackwardTrace() as outer:
        with viz.BackwardTrace() as inner:
            assert STATE.tracer is inner
        assert STATE.tracer is outer
        (x * 2).backward()
    assert STATE.tracer is None
    assert len(outer.steps) == 1 and not inner.steps
