"""Bad input, fuzzed: every registered op (``tinygrad_ko.registry.REGISTRY``) is called with
invalid arguments made by corrupting a valid sample drawn by the op's own ``sample``
(``tinygrad_ko.testing.op_inputs``). Every invalid call must raise a ``TinygradError`` whose
message names the op and the shapes involved: never a bare NumPy/Python error, a RuntimeWarning,
a crash or a silently wrong result. Empty tensors (size-0 dims) must give either the right result
(checked against NumPy, gradients against the numerical oracle) or such a documented error.

Corruptions (one test per op and variant, so an engine bug marks exactly one test xfail):
  shape    unbroadcastable / mismatched shapes, wrong ranks, windows that do not fit ...
  axis     out-of-range and repeated axes (kwargs axis, axes, start_dim, end_dim)
  index    out-of-bounds, too many, wrongly shaped boolean, non-integer indices; class targets
  dtype    string / object / complex arrays as operands, bad values for keyword arguments
  empty    size-0 dims everywhere the sample draws a shape
plus integer and boolean tensors for every op (valid but unusual: a result or a clear error).

Run with ``-s`` to see how many fuzzed inputs were tried.
"""
from __future__ import annotations

import collections
import re
import traceback
import warnings

import numpy as np
import pytest
from conftest import NumpySampler, use_native_tracebacks
from hypothesis import Phase, given, reject, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

import tinygrad_ko as tg
from tinygrad_ko import Tensor
from tinygrad_ko.errors import TinygradError
from tinygrad_ko.ops.shape import sum_to as np_sum_to
from tinygrad_ko.registry import REGISTRY
from tinygrad_ko.testing import HypothesisSampler, op_inputs, shapes

OPS = sorted(REGISTRY)
# no shrinking: the drawn inputs are small already, and the known-bug (xfail) tests would spend
# most of the time budget shrinking their failures on every run
FUZZ = settings(phases=(Phase.explicit, Phase.reuse, Phase.generate))
TRIED: collections.Counter = collections.Counter()   # fuzzed inputs tried, by kind


# Engine bugs found by these tests (B1-B14 in the reports to the engine owner) are all fixed. The
# KNOWN_* tables below stay, empty, as the place for the next one: a failing case listed there is
# marked xfail(strict=True) with the reason, so once the engine is fixed the test passes, XPASS(strict)
# fails the run, and the entry must be removed.


_native_tracebacks = pytest.fixture(scope="module", autouse=True)(use_native_tracebacks)


@pytest.fixture(scope="module", autouse=True)
def _report_count():
    yield
    total = sum(TRIED.values())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(TRIED.items()))
    print(f"\n[test_fuzz_errors] fuzzed inputs tried: {total} ({detail})")


# -- calling an op and judging the outcome ------------------------------------------------------
def _tensors(args, requires_grad=True):
    """ndarrays of numeric dtypes become Tensors (floats require grad); other values (bad-dtype
    arrays included) are passed as they are, as a user would."""
    out = []
    for a in args:
        if isinstance(a, np.ndarray) and a.dtype.kind in "biuf":
            out.append(Tensor(a, requires_grad=requires_grad and a.dtype.kind == "f"))
        else:
            out.append(a)
    return out


def _names(spec):
    names = {spec.name} | set(spec.methods) | {m.strip("_") for m in spec.methods}
    return {n for n in names if n}


def _squash(s):
    return re.sub(r"\s+", "", str(s))


def _check_message(spec, err, involved=(), also=()):
    msg = str(err)
    assert any(n in msg for n in _names(spec)), (
        f"{type(err).__name__} does not name the op {spec.name!r}: {msg}")
    for shape in involved:
        assert _squash(tuple(shape)) in _squash(msg), (
            f"{spec.name}: message does not show the shape {tuple(shape)}: {msg}")
    for text in also:
        assert str(text) in msg, f"{spec.name}: message does not mention {text!r}: {msg}"


def _expect_error(spec, args, kwargs, involved=(), also=(), kind="shape"):
    """The call must raise a TinygradError naming the op and the shapes involved."""
    TRIED[kind] += 1
    _LAST["call"] = ([f"{a.dtype}{a.shape}" if isinstance(a, np.ndarray) else a for a in args],
                     _short(kwargs))
    xs = _tensors(args)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            out = spec(*xs, **kwargs)
        except TinygradError as e:
            _check_message(spec, e, involved, also)
            return e
        except Exception as e:  # noqa: BLE001 (the point: nothing else may escape)
            pytest.fail(f"{spec.name}: bare {type(e).__name__} escaped (should be a TinygradError "
                        f"naming the op and the shapes {[tuple(s) for s in involved]}): {e}")
    shape = getattr(out, "shape", None)
    pytest.fail(f"{spec.name}: invalid call accepted (kind {kind}, input shapes "
                f"{[np.shape(a) for a in args]}, kwargs {_short(kwargs)}) and returned "
                f"{type(out).__name__} of shape {shape} / dtype {getattr(out, 'dtype', None)}")


def _short(kwargs):
    return {k: (f"array{v.shape}" if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}


def _like(a, shape):
    """An array of ``a``'s dtype and the given shape (values do not matter for shape errors)."""
    if a.dtype == np.bool_:
        return np.ones(shape, dtype=bool)
    if a.dtype.kind in "iu":
        return np.zeros(shape, dtype=a.dtype)
    return np.full(shape, 0.5, dtype=a.dtype)


def _draw_valid(data, spec):
    args, kwargs = data.draw(op_inputs(spec), label="valid inputs")
    _LAST["valid sample"] = (args, kwargs)
    return args, kwargs


_LAST: dict = {}   # what the running example drew, to show when it fails


def _fuzz(body):
    """Run ``body(data)`` over hypothesis examples, now. The first failure is re-raised as it is,
    with the drawn inputs as a note, instead of letting hypothesis handle it: hypothesis' pytest
    plugin would otherwise parse this whole file (libcst) to write a patch for every failing
    example, ~0.5 s per known-bug (xfail) test. The drawn inputs are small already (no
    shrinking needed)."""
    __tracebackhide__ = True
    failures = []

    @FUZZ
    @given(data=st.data())
    def run(data):
        _LAST.clear()
        try:
            body(data)          # every example runs (hypothesis replays them: stay consistent)
        except HypothesisException:
            raise
        except (Exception, pytest.fail.Exception) as e:  # noqa: BLE001
            if not failures:
                e.add_note(f"drawn: {_LAST}")
                failures.append(e)

    run()
    if failures:
        # re-raised without its (deep: hypothesis, the engine) traceback, whose long-format
        # report pytest builds even for xfail tests (~0.3 s each); the last frames are in a note
        e = failures[0]
        e.add_note("raised at:\n" + "".join(traceback.format_tb(e.__traceback__)[-3:]))
        raise e.with_traceback(None)
    return body


def _all_raise(cases):
    """Run every (label, call, check) case: ``call()`` must raise a TinygradError that
    ``check(err)`` accepts. All failures are reported together, in one shallow AssertionError
    (cheap for pytest to report, also for xfail tests)."""
    problems = []
    for label, call, check in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                out = call()
            except TinygradError as e:
                if not check(e):
                    problems.append(f"{label}: {type(e).__name__}: {e}")
                continue
            except Exception as e:  # noqa: BLE001
                problems.append(f"{label}: bare {type(e).__name__}: {e}")
                continue
        problems.append(f"{label}: no error, returned {out!r:.80}")
    assert not problems, "\n".join(problems)


def _probe(name, n=30):
    """(args, kwargs) of ``n`` samples of the op, drawn by NumpySampler."""
    return [REGISTRY[name].sample(NumpySampler(seed)) for seed in range(n)]


# -- shape corruptions, per op and variant ------------------------------------------------------
def _unbroadcastable(draw, args, kwargs):
    args, kwargs = list(args), dict(kwargs)
    if "exponent" in kwargs:                 # pow with a constant exponent: make it an array
        args.append(np.full((), float(kwargs.pop("exponent"))))
    pos = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    i, j = draw(st.permutations(pos))[:2]
    sj = args[j].shape
    nj = sj if (sj and sj[-1] >= 2) else (sj[:-1] + (2,) if sj else (2,))
    ni = args[i].shape[:-1] + (nj[-1] + draw(st.integers(1, 3)),) if args[i].shape else \
        (nj[-1] + 1,)
    args[j], args[i] = _like(args[j], nj), _like(args[i], ni)
    return args, kwargs, (ni, nj)


def _different_shape(draw, shape):
    """A shape that differs from ``shape`` (never broadcast-equal for same-shape checks)."""
    how = draw(st.sampled_from(["last+1", "extra", "drop"] if shape else ["last+1", "extra"]))
    if how == "extra":
        return (2,) + tuple(shape)
    if how == "drop":
        return tuple(shape[1:]) if shape[0] != 1 else tuple(shape[1:]) + (2,)
    return tuple(shape[:-1]) + (shape[-1] + 1,) if shape else (2,)


def _target_shape(draw, args, kwargs):
    args = list(args)
    new = _different_shape(draw, args[1].shape)
    args[1] = _like(args[1], new)
    return args, kwargs, (args[0].shape, new)


def _matmul_inner(draw, args, kwargs):
    a, b = args
    d = draw(st.integers(1, 3))
    nb = b.shape[:-2] + (b.shape[-2] + d, b.shape[-1]) if b.ndim > 1 else (b.shape[0] + d,)
    return [a, _like(b, nb)], kwargs, (a.shape, nb)


def _matmul_batch(draw, args, kwargs):
    a, b = args
    na = (2,) + (a.shape[-2:] if a.ndim > 1 else (1,) + a.shape)    # batch 2 against batch 3
    nb = (3,) + (b.shape[-2:] if b.ndim > 1 else b.shape + (1,))
    return [_like(a, na), _like(b, nb)], kwargs, (na, nb)


def _matmul_scalar(draw, args, kwargs):
    a, b = list(args)
    if draw(st.booleans()):
        a = _like(a, ())
    else:
        b = _like(b, ())
    return [a, b], kwargs, (a.shape, b.shape)


def _linear_in(draw, args, kwargs):
    args = list(args)
    x = args[0]
    nx = (x.shape[:-1] + (x.shape[-1] + draw(st.integers(1, 3)),))
    args[0] = _like(x, nx)
    return args, kwargs, (nx, args[1].shape)


def _linear_weight_rank(draw, args, kwargs):
    args = list(args)
    w = args[1]
    nw = draw(st.sampled_from([(w.shape[1],), (1,) + w.shape]))
    args[1] = _like(w, nw)
    return args, kwargs, (nw,)


def _linear_bias(draw, args, kwargs):
    args = list(args)
    w = args[1]
    nb = draw(st.sampled_from([(w.shape[0] + 1,), (1, w.shape[0]), ()]))
    if len(args) == 2:
        args.append(_like(w, nb))
    else:
        args[2] = _like(args[2], nb)
    return args, kwargs, (nb, w.shape)


def _linear_scalar_input(draw, args, kwargs):
    args = list(args)
    args[0] = _like(args[0], ())
    return args, kwargs, ((), args[1].shape)


def _conv_channels(draw, args, kwargs):
    args = list(args)
    x = args[0]
    nx = (x.shape[0], x.shape[1] + draw(st.integers(1, 2))) + x.shape[2:]
    args[0] = _like(x, nx)
    return args, kwargs, (nx, args[1].shape)


def _conv_rank(draw, args, kwargs):
    args = list(args)
    x = args[0]
    # (C, H, W) is one image (unbatched, as PyTorch): valid; (H, W) and 5-d are not
    nx = x.shape[2:] if draw(st.booleans()) else (1,) + x.shape
    args[0] = _like(x, nx)
    return args, kwargs, (nx,)


def _conv_kernel_too_big(draw, args, kwargs):
    args = list(args)
    x, w = args[0], args[1]
    p = kwargs.get("padding", 0)
    k = max(x.shape[2], x.shape[3]) + 2 * p + 1
    nw = w.shape[:2] + (k, k)
    args[1] = _like(w, nw)
    return args, kwargs, (x.shape, nw)


def _conv_bias(draw, args, kwargs):
    args = list(args)
    w = args[1]
    nb = (w.shape[0] + 1,)
    if len(args) == 2:
        args.append(_like(w, nb))
    else:
        args[2] = _like(args[2], nb)
    return args, kwargs, (nb,)


def _pieces(args):
    return [a for a in args if isinstance(a, np.ndarray)]


def _cat_other_dim(draw, args, kwargs):
    xs = list(_pieces(args))
    if len(xs) == 1:
        xs.append(xs[0].copy())
    ndim = xs[0].ndim
    axis = kwargs.get("axis", 0) % ndim
    j = draw(st.integers(1, len(xs) - 1))
    if ndim >= 2:
        k = draw(st.sampled_from([d for d in range(ndim) if d != axis]))
        shape = list(xs[j].shape)
        shape[k] += 1
    else:                                            # 1-D: only a different rank can clash
        shape = [2] + list(xs[j].shape)
    xs[j] = _like(xs[j], tuple(shape))
    return xs, kwargs, (xs[0].shape, tuple(shape))


def _cat_scalars(draw, args, kwargs):
    xs = [_like(a, ()) for a in _pieces(args)]
    return xs, {"axis": 0}, ((),)


def _stack_shape(draw, args, kwargs):
    xs = list(_pieces(args))
    if len(xs) == 1:
        xs.append(xs[0].copy())
    j = draw(st.integers(1, len(xs) - 1))
    new = _different_shape(draw, xs[j].shape)
    xs[j] = _like(xs[j], new)
    return xs, kwargs, (xs[0].shape, new)


def _ce_target_shape(draw, args, kwargs):
    logits, target = args
    n, c = logits.shape
    if target.dtype.kind in "iu":
        nt = draw(st.sampled_from([(n + 1,), (n, 1), (n, c)]))
        new = np.zeros(nt, dtype=target.dtype)
    else:
        nt = draw(st.sampled_from([(n, c + 1), (n + 1, c), (n,)]))
        new = np.full(nt, 0.5)
    return [logits, new], kwargs, (logits.shape, nt)


def _ce_logits_rank(draw, args, kwargs):
    logits, target = args
    nl = draw(st.sampled_from([logits.shape[1:], (1,) + logits.shape, ()]))
    return [_like(logits, nl), target], kwargs, (nl,)


def _bn_weight(draw, args, kwargs):
    x, w, _ = args
    j = draw(st.integers(1, 2))
    new = list(args)
    ns = draw(st.sampled_from([(w.shape[0] + 1,), (1, w.shape[0]), ()]))
    new[j] = _like(args[j], ns)
    return new, kwargs, (ns, x.shape)


def _bn_rank(draw, args, kwargs):
    x, w, b = args
    nx = x.shape[:-1] if x.ndim == 4 else x.shape + (1,)
    return [_like(x, nx), w, b], kwargs, (nx,)


def _bn_running(draw, args, kwargs):
    kwargs = dict(kwargs)
    c = args[0].shape[1]
    key = draw(st.sampled_from(["running_mean", "running_var"]))
    kwargs[key] = np.ones(c + 1)
    return list(args), kwargs, ((c + 1,), args[0].shape)


def _image_rank(draw, args, kwargs):
    x = args[0]
    nx = x.shape[1:] if draw(st.booleans()) else (1,) + x.shape
    return [_like(x, nx)] + list(args[1:]), kwargs, (nx,)


def _pool_rank(draw, args, kwargs):
    x = args[0]
    nx = x.shape[2:] if draw(st.booleans()) else (1,) + x.shape   # (C, H, W) is valid (unbatched)
    return [_like(x, nx)] + list(args[1:]), kwargs, (nx,)


def _im2col_window(draw, args, kwargs):
    x = args[0]
    kwargs = dict(kwargs)
    ph = kwargs.get("padding", (0, 0))[0]
    kwargs["kernel"] = (x.shape[2] + 2 * ph + 1, 1)
    return list(args), kwargs, (x.shape,)


def _col2im_rows(draw, args, kwargs):
    cols = args[0]
    nc = (cols.shape[0] + 1, cols.shape[1])
    return [_like(cols, nc)], kwargs, (nc,)


def _pool_window(draw, args, kwargs):
    x = args[0]
    kwargs = dict(kwargs, padding=0, stride=None)
    kwargs["kernel_size"] = max(x.shape[2], x.shape[3]) + 1
    return list(args), kwargs, (x.shape,)


def _pool_padding(draw, args, kwargs):
    kwargs = dict(kwargs, kernel_size=1, padding=1, stride=None)
    return list(args), kwargs, ()


def _reshape_count(draw, args, kwargs):
    x = args[0]
    n = x.size
    target = draw(st.sampled_from([(n + 1,), (n, 2), (-1, n + 1), (2, -1) if n % 2 else (3, n)]))
    if int(np.prod([t for t in target if t != -1])) == n or (n % 3 == 0 and target == (3, n)):
        target = (n + 1,)
    return list(args), dict(kwargs, shape=target), (x.shape,)


def _reshape_two_unknowns(draw, args, kwargs):
    return list(args), dict(kwargs, shape=(-1, -1)), (args[0].shape,)


def _broadcast_incompatible(draw, args, kwargs):
    x = args[0]
    big = [i for i, d in enumerate(x.shape) if d >= 2]
    if big:
        i = draw(st.sampled_from(big))
        target = list(x.shape)
        target[i] += 1
        target = tuple(target)
    elif x.ndim:
        target = x.shape[1:]
        if x.ndim == 1:
            target = (2,) if x.shape == (1,) else ()
        target = (2,) + target if target == x.shape else target
        if np.broadcast_shapes(x.shape, target) == target and len(target) >= x.ndim:
            target = (-2,) + tuple(target)
    else:
        target = (-2,)
    return list(args), dict(kwargs, shape=target), (x.shape,)


def _sum_to_incompatible(draw, args, kwargs):
    x = args[0]
    big = [i for i, d in enumerate(x.shape) if d >= 2]
    if big and draw(st.booleans()):
        i = draw(st.sampled_from(big))
        target = list(x.shape)
        target[i] += 1
        target = tuple(target)
    else:
        target = (2,) + x.shape        # more dims than the input: cannot be summed down to
    return list(args), dict(kwargs, shape=target), (x.shape,)


def _scatter_g_shape(draw, args, kwargs):
    g = args[0]    # g must fit x[index], g's valid shape: 2 more on its last dim never broadcasts
    ng = g.shape[:-1] + (g.shape[-1] + 2,) if g.ndim else (2,)     # (even into a size-0 dim)
    return [_like(g, ng)], kwargs, (ng,)


def _ddof_too_big(draw, args, kwargs):
    x = args[0]
    axes = kwargs.get("axis")
    if axes is None:
        n = x.size
    else:
        axes = (axes,) if isinstance(axes, int) else axes
        n = int(np.prod([x.shape[a] for a in axes]))
    return list(args), dict(kwargs, ddof=n + draw(st.integers(0, 2))), (x.shape,)


def _dropout_p(draw, args, kwargs):
    return list(args), dict(kwargs, p=draw(st.sampled_from([1.5, -0.1, 2.0]))), ()


def _clip_no_bounds(draw, args, kwargs):
    return list(args), dict(kwargs, min=None, max=None), (args[0].shape,)


def _embedding_weight_rank(draw, args, kwargs):
    args = list(args)
    w = args[1]
    nw = w.shape[:1] if draw(st.booleans()) else w.shape + (1,)
    args[1] = _like(w, nw)
    return args, kwargs, (nw,)


def _layer_norm_shape(draw, args, kwargs):
    norm = tuple(kwargs["normalized_shape"])
    bad = norm[:-1] + (norm[-1] + draw(st.integers(1, 3)),)
    return list(args), dict(kwargs, normalized_shape=bad), (args[0].shape,)


def _layer_norm_weight(draw, args, kwargs):
    args = list(args)
    if len(args) < 2:
        return _layer_norm_shape(draw, args, kwargs)
    w = args[1]
    nw = w.shape[:-1] + (w.shape[-1] + 1,)
    args[1] = _like(w, nw)
    return args, kwargs, (nw,)


def _tri_rank(draw, args, kwargs):
    x = args[0]
    nx = x.shape[-1:] if draw(st.booleans()) else ()
    return [_like(x, nx)] + list(args[1:]), kwargs, (nx,)


def _sdpa_key_dim(draw, args, kwargs):
    args = list(args)
    k = args[1]
    nk = k.shape[:-1] + (k.shape[-1] + draw(st.integers(1, 2)),)
    args[1] = _like(k, nk)
    return args, kwargs, (nk,)


def _cell_input_features(draw, args, kwargs):
    args = list(args)
    x = args[0]
    nx = x.shape[:-1] + (x.shape[-1] + draw(st.integers(1, 2)),)
    args[0] = _like(x, nx)
    return args, kwargs, (nx,)


BROADCASTING = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "where")
SAME_SHAPE = ("mse_loss", "sum_squared_error", "binary_cross_entropy",
              "binary_cross_entropy_with_logits")

SHAPE_CORRUPTIONS = {
    **{name: {"unbroadcastable": _unbroadcastable} for name in BROADCASTING},
    **{name: {"target_shape": _target_shape} for name in SAME_SHAPE},
    "matmul": {"inner_dim": _matmul_inner, "batch_dims": _matmul_batch, "scalar": _matmul_scalar},
    "linear": {"in_features": _linear_in, "weight_rank": _linear_weight_rank,
               "bias": _linear_bias, "scalar_input": _linear_scalar_input},
    "conv2d": {"channels": _conv_channels, "input_rank": _conv_rank,
               "kernel_too_big": _conv_kernel_too_big, "bias": _conv_bias},
    "cat": {"other_dim": _cat_other_dim, "scalars": _cat_scalars},
    "stack": {"shape": _stack_shape},
    "cross_entropy": {"target_shape": _ce_target_shape, "logits_rank": _ce_logits_rank},
    "nll_loss": {"target_shape": _ce_target_shape, "logits_rank": _ce_logits_rank},
    "batch_norm": {"weight_or_bias": _bn_weight, "input_rank": _bn_rank,
                   "running_stats": _bn_running},
    "im2col": {"input_rank": _image_rank, "window": _im2col_window},
    "col2im": {"rows": _col2im_rows},
    "max_pool2d": {"input_rank": _pool_rank, "window": _pool_window, "padding": _pool_padding},
    "avg_pool2d": {"input_rank": _pool_rank, "window": _pool_window, "padding": _pool_padding},
    "adaptive_avg_pool2d": {"input_rank": _pool_rank},
    "reshape": {"count": _reshape_count, "two_unknowns": _reshape_two_unknowns},
    "broadcast_to": {"incompatible": _broadcast_incompatible},
    "sum_to": {"incompatible": _sum_to_incompatible},
    "scatter_add": {"g_shape": _scatter_g_shape},
    "var": {"ddof_too_big": _ddof_too_big},
    "std": {"ddof_too_big": _ddof_too_big},
    "dropout": {"p_out_of_range": _dropout_p},
    "clip": {"no_bounds": _clip_no_bounds},
    "embedding": {"weight_rank": _embedding_weight_rank},
    "layer_norm": {"normalized_shape": _layer_norm_shape, "weight": _layer_norm_weight},
    "tril": {"input_rank": _tri_rank},
    "triu": {"input_rank": _tri_rank},
    "scaled_dot_product_attention": {"key_dim": _sdpa_key_dim},
    **{name: {"input_features": _cell_input_features}
       for name in ("rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell", "lstm_sequence")},
}
# Ops that take one tensor and no shape-like argument: every shape is valid for them.
ANY_SHAPE = {"abs", "astype", "clone", "cos", "exp", "leaky_relu", "log", "neg", "relu", "sigmoid",
             "sin", "sqrt", "tanh", "sum", "mean", "max", "min", "logsumexp", "softmax",
             "log_softmax", "squeeze", "unsqueeze", "flatten", "transpose", "getitem",
             "gelu", "gelu_grad", "silu"}
ANY_SHAPE |= {"softplus", "elu"}

# (op, variant) -> why it is expected to fail until the engine is fixed (see the final report).
KNOWN_SHAPE_BUGS: dict[tuple[str, str], str] = {}


def _params(table, known):
    out = []
    for op in OPS:
        for variant in table.get(op, {}):
            marks = ()
            if (op, variant) in known:
                marks = pytest.mark.xfail(strict=True, reason=f"engine bug: {known[(op, variant)]}")
            out.append(pytest.param(op, variant, marks=marks, id=f"{op}-{variant}"))
    return out


@pytest.mark.parametrize("name, variant", _params(SHAPE_CORRUPTIONS, KNOWN_SHAPE_BUGS))
def test_shape_corruption_raises_a_clear_error(name, variant):
    @_fuzz
    def body(data):
        spec = REGISTRY[name]
        args, kwargs = _draw_valid(data, spec)
        args, kwargs, involved = SHAPE_CORRUPTIONS[name][variant](data.draw, args, kwargs)
        _expect_error(spec, args, kwargs, involved, kind="shape")


def test_every_op_is_shape_fuzzed_or_accepts_any_shape():
    """A newly registered op must get a shape corruption here (or be listed in ANY_SHAPE)."""
    missing = sorted(set(OPS) - set(SHAPE_CORRUPTIONS) - ANY_SHAPE)
    assert not missing, f"registered ops with no shape fuzzing: {missing}"


# -- axis corruptions ----------------------------------------------------------------------------
def _bad_axis(draw, ndim, extra=0):
    """An int axis out of range for ``ndim`` dims (0-d tensors accept 0 and -1, as PyTorch)."""
    n = max(ndim, 1) + extra
    k = draw(st.integers(0, 3))
    return draw(st.sampled_from([n + k, -n - 1 - k]))


def _axis_out_of_range(draw, args, kwargs):
    return list(args), dict(kwargs, axis=_bad_axis(draw, args[0].ndim)), (args[0].shape,)


def _axis_in_tuple_out_of_range(draw, args, kwargs):
    ndim = args[0].ndim
    return list(args), dict(kwargs, axis=(0, _bad_axis(draw, ndim))), (args[0].shape,)


def _axis_repeated(draw, args, kwargs):
    ndim = args[0].ndim
    a = draw(st.integers(0, max(ndim, 1) - 1))
    axis = draw(st.sampled_from([(a, a), (a, a - max(ndim, 1))]))
    return list(args), dict(kwargs, axis=axis), (args[0].shape,)


def _unsqueeze_axis(draw, args, kwargs):
    return list(args), dict(kwargs, axis=_bad_axis(draw, args[0].ndim + 1)), (args[0].shape,)


def _stack_axis(draw, args, kwargs):
    x = _pieces(args)[0]
    return list(args), dict(kwargs, axis=_bad_axis(draw, x.ndim + 1)), (x.shape,)


def _cat_axis(draw, args, kwargs):
    x = _pieces(args)[0]
    return list(args), dict(kwargs, axis=_bad_axis(draw, x.ndim)), (x.shape,)


def _flatten_dims(draw, args, kwargs):
    x = args[0]
    key = draw(st.sampled_from(["start_dim", "end_dim"]))
    return list(args), dict(kwargs, **{key: _bad_axis(draw, x.ndim)}), (x.shape,)


def _flatten_order(draw, args, kwargs):
    x = args[0]
    if x.ndim < 2:
        return _flatten_dims(draw, args, kwargs)
    start = draw(st.integers(1, x.ndim - 1))
    end = draw(st.integers(0, start - 1))
    return list(args), dict(kwargs, start_dim=start, end_dim=end), (x.shape,)


def _transpose_axes(draw, args, kwargs):
    x = args[0]
    n = x.ndim
    how = draw(st.sampled_from(["short", "long", "range", "repeat"] if n >= 2 else
                               ["long", "range"] if n == 1 else ["long"]))
    if how == "short":
        axes = tuple(range(n - 1))
    elif how == "long":
        axes = tuple(range(n + 1))
    elif how == "range":
        axes = tuple(range(n - 1)) + (_bad_axis(draw, n),)
    else:
        axes = (0,) * n
    return list(args), dict(kwargs, axes=axes), (x.shape,)


REDUCTIONS_WITH_TUPLES = ("sum", "mean", "max", "min", "var", "std", "logsumexp")
AXIS_CORRUPTIONS = {
    **{name: {"out_of_range": _axis_out_of_range, "tuple_out_of_range": _axis_in_tuple_out_of_range,
              "repeated": _axis_repeated} for name in REDUCTIONS_WITH_TUPLES},
    "softmax": {"out_of_range": _axis_out_of_range},
    "log_softmax": {"out_of_range": _axis_out_of_range},
    "squeeze": {"out_of_range": _axis_out_of_range},
    "unsqueeze": {"out_of_range": _unsqueeze_axis},
    "cat": {"out_of_range": _cat_axis},
    "stack": {"out_of_range": _stack_axis},
    "flatten": {"out_of_range": _flatten_dims, "start_after_end": _flatten_order},
    "transpose": {"bad_permutation": _transpose_axes},
}
KNOWN_AXIS_BUGS: dict[tuple[str, str], str] = {}


@pytest.mark.parametrize("name, variant", _params(AXIS_CORRUPTIONS, KNOWN_AXIS_BUGS))
def test_axis_corruption_raises_a_clear_error(name, variant):
    @_fuzz
    def body(data):
        spec = REGISTRY[name]
        args, kwargs = _draw_valid(data, spec)
        args, kwargs, involved = AXIS_CORRUPTIONS[name][variant](data.draw, args, kwargs)
        err = _expect_error(spec, args, kwargs, involved, kind="axis")
        assert isinstance(err, (tg.AxisError, tg.ShapeError)), type(err)


def test_every_op_with_an_axis_argument_is_axis_fuzzed():
    has_axis = {name for name in OPS for _, kwargs in _probe(name)
                if {"axis", "axes", "start_dim", "end_dim"} & set(kwargs)}
    missing = sorted(has_axis - set(AXIS_CORRUPTIONS))
    assert not missing, f"ops taking an axis with no axis fuzzing: {missing}"


# -- index corruptions -----------------------------------------------------------------------
def _index_int(draw, args, kwargs):
    x = args[0]
    n = x.shape[0]
    return list(args), dict(kwargs, index=draw(st.sampled_from([n, n + 3, -n - 1]))), (x.shape,)


def _index_array(draw, args, kwargs):
    x = args[0]
    n = x.shape[0]
    bad = draw(st.sampled_from([n, n + 5, -n - 1]))
    return list(args), dict(kwargs, index=np.array([0, bad])), (x.shape,)


def _index_too_many(draw, args, kwargs):
    x = args[0]
    return list(args), dict(kwargs, index=(0,) * (x.ndim + 1)), (x.shape,)


def _index_bool_shape(draw, args, kwargs):
    x = args[0]
    mask = np.ones(x.shape[0] + 1, dtype=bool)
    return list(args), dict(kwargs, index=mask), (x.shape,)


def _index_not_integer(draw, args, kwargs):
    x = args[0]
    bad = draw(st.sampled_from([1.5, "a", np.array([0.5, 1.0]), 2.0 + 1j]))
    return list(args), dict(kwargs, index=bad), (x.shape,)


def _scatter_index(draw, args, kwargs):
    g = args[0]
    shape = tuple(kwargs["shape"])
    index = np.array([shape[0] + draw(st.integers(0, 2))])     # one row past the end (or more)
    g = _like(g, (1,) + shape[1:])
    return [g], dict(kwargs, index=index), (g.shape,)


def _target_class(draw, args, kwargs):
    logits, _ = args
    n, c = logits.shape
    bad = draw(st.sampled_from([c, c + 2, -1]))
    t = np.zeros(n, dtype=np.int64)
    t[draw(st.integers(0, n - 1))] = bad
    return [logits, t], kwargs, (logits.shape,)


INDEX_CORRUPTIONS = {
    "getitem": {"int": _index_int, "array": _index_array, "too_many": _index_too_many,
                "bool_shape": _index_bool_shape, "not_integer": _index_not_integer},
    "scatter_add": {"out_of_range": _scatter_index},
    "cross_entropy": {"target_class": _target_class},
    "nll_loss": {"target_class": _target_class},
}
KNOWN_INDEX_BUGS: dict[tuple[str, str], str] = {}


@pytest.mark.parametrize("name, variant", _params(INDEX_CORRUPTIONS, KNOWN_INDEX_BUGS))
def test_index_corruption_raises_a_clear_error(name, variant):
    @_fuzz
    def body(data):
        spec = REGISTRY[name]
        args, kwargs = _draw_valid(data, spec)
        args, kwargs, involved = INDEX_CORRUPTIONS[name][variant](data.draw, args, kwargs)
        err = _expect_error(spec, args, kwargs, involved, kind="index")
        assert isinstance(err, (IndexError, TypeError, tg.ShapeError)), type(err)


# -- dtype corruptions ---------------------------------------------------------------------
BAD_ARRAYS = {
    "str": lambda shape: np.full(shape, "a", dtype="<U1"),
    "object": lambda shape: np.full(shape, None, dtype=object),
    "complex": lambda shape: np.full(shape, 1 + 2j),
}


def _n_tensor_args(name):
    """How many array operands the op's samples have at most (drawn deterministically)."""
    return max(sum(isinstance(a, np.ndarray) for a in args) for args, _ in _probe(name))


MULTI_INPUT = [name for name in OPS if _n_tensor_args(name) >= 2]
KNOWN_OPERAND_DTYPE_BUGS: dict[str, str] = {}


def _operand_params():
    out = []
    for name in MULTI_INPUT:
        marks = ()
        if name in KNOWN_OPERAND_DTYPE_BUGS:
            marks = pytest.mark.xfail(strict=True,
                                      reason=f"engine bug: {KNOWN_OPERAND_DTYPE_BUGS[name]}")
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.mark.parametrize("name", _operand_params())
def test_non_numeric_operand_raises_a_type_error_naming_the_op(name):
    @_fuzz
    def body(data):
        spec = REGISTRY[name]
        args, kwargs = _draw_valid(data, spec)
        pos = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)][1:]
        if not pos:
            return   # this sample has one operand (cat of one piece, pow with a number exponent)
        j = data.draw(st.sampled_from(pos), label="operand")
        for kind, make in BAD_ARRAYS.items():
            bad = list(args)
            bad[j] = make(args[j].shape)
            err = _expect_error(spec, bad, kwargs, kind="dtype")
            # DTypeError or UsageError: both TypeErrors, as a Python user expects
            assert isinstance(err, TypeError), f"{name} with a {kind} operand: {type(err).__name__}"
            msg = _squash(err)      # what is involved: the operand's dtype, or its shape
            assert str(bad[j].dtype) in msg or _squash(args[j].shape) in msg, (
                f"{name}: neither the dtype {bad[j].dtype} nor the shape {args[j].shape} of the "
                f"bad operand in: {err}")


# keyword arguments that are harness details (seeds, buffers), flags any value of which is valid
# (bool(...)), or covered by the index tests
NOT_FUZZED_KWARGS = {"seed", "running_mean", "running_var", "training", "keepdims", "index"}
BAD_VALUES = {"str": "bogus", "complex": 1.5 + 2j, "list_of_str": ["a", "b"]}


def _kwarg_params():
    out = []
    for name in OPS:
        seen = {k for _, kwargs in _probe(name) for k in kwargs if k not in NOT_FUZZED_KWARGS}
        for key in sorted(seen):
            marks = ()
            if (name, key) in KNOWN_KWARG_BUGS:
                marks = pytest.mark.xfail(strict=True,
                                          reason=f"engine bug: {KNOWN_KWARG_BUGS[(name, key)]}")
            out.append(pytest.param(name, key, marks=marks, id=f"{name}-{key}"))
    return out


KNOWN_KWARG_BUGS: dict[tuple[str, str], str] = {}


@pytest.mark.parametrize("name, key", _kwarg_params())
def test_bad_keyword_value_raises_a_clear_error(name, key):
    @_fuzz
    def body(data):
        spec = REGISTRY[name]
        args, kwargs = _draw_valid(data, spec)
        if key not in kwargs:
            return   # this sample does not use the keyword (e.g. pow with two tensors)
        for value in BAD_VALUES.values():
            bad = dict(kwargs, **{key: value})
            _expect_error(spec, args, bad, involved=(), also=(), kind="dtype")


# -- empty tensors -----------------------------------------------------------------------------
class EmptySampler(HypothesisSampler):
    """Draws shapes with at least one size-0 dim (mutually broadcastable ones stay so)."""

    def shape(self, min_dims=0, max_dims=3, min_side=1, max_side=4):
        shape = list(self.draw(shapes(max(min_dims, 1), max(max_dims, 1), 1, max_side)))
        shape[self.draw(st.integers(0, len(shape) - 1))] = 0
        return tuple(shape)

    def broadcastable_shapes(self, n, min_dims=0, max_dims=3, max_side=4):
        found = [list(s) for s in super().broadcastable_shapes(n, max(min_dims, 1),
                                                               max(max_dims, 1), max_side)]
        ndim = max(len(s) for s in found)
        k = self.draw(st.integers(1, ndim))
        holders = [s for s in found if len(s) >= k]
        for s in holders:
            if s[-k] != 1:
                s[-k] = 0
        if all(s[-k] != 0 for s in holders):
            holders[0][-k] = 0
        return [tuple(s) for s in found]

    def integers(self, low, high):
        # samples index into their shapes (integers(0, n - 1)): with n == 0 there is no valid
        # index, so draw from the swapped range; the op must then fail cleanly or cope
        return self.draw(st.integers(min(low, high), max(low, high)))


@st.composite
def empty_inputs(draw, spec):
    try:
        return spec.sample(EmptySampler(draw))
    except (IndexError, ValueError):   # the sample itself indexes into the empty array
        reject()


def _np_softmax(x, axis):
    if x.size == 0:   # empty in, empty out (as PyTorch)
        return x.copy()
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _np_squeeze(x, axis=None):
    if axis is None:
        return x.reshape(tuple(n for n in x.shape if n != 1))
    axes = {a % max(x.ndim, 1) for a in ((axis,) if isinstance(axis, int) else axis)}
    return x.reshape(tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))


def _np_flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return x.reshape(1)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape(x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:])


def _np_scatter(g, shape, index):
    out = np.zeros(shape, dtype=g.dtype)
    np.add.at(out, index, g)
    return out


def _ax(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _np_reduce(f):
    return lambda x, axis=None, keepdims=False, **kw: f(x, axis=_ax(axis), keepdims=keepdims, **kw)


def _np_linear(x, w, b=None):
    y = x @ w.T
    return y + b if b is not None else y


def _np_reduction(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](loss)


REF = {
    "abs": np.abs, "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "neg": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "sin": np.sin,
    "cos": np.cos, "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x, negative_slope=0.01: np.where(x > 0, x, x * negative_slope),
    "softplus": lambda x, beta=1.0, threshold=20.0: np.where(
        beta * x > threshold, x, np.logaddexp(0, beta * x) / beta),
    "elu": lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))),
    "maximum": np.maximum, "minimum": np.minimum,
    "clip": lambda x, min=None, max=None: np.clip(x, min, max),
    "where": np.where, "matmul": np.matmul,
    "pow": lambda x, y=None, exponent=None: np.power(x, y if exponent is None else exponent),
    "sum": _np_reduce(np.sum), "mean": _np_reduce(np.mean), "max": _np_reduce(np.max),
    "min": _np_reduce(np.min), "var": _np_reduce(np.var), "std": _np_reduce(np.std),
    "logsumexp": lambda x, axis=None, keepdims=False: np.log(np.sum(np.exp(x), axis=_ax(axis),
                                                                      keepdims=keepdims)),
    "softmax": lambda x, axis=-1: _np_softmax(x, axis),
    "log_softmax": lambda x, axis=-1: np.log(_np_softmax(x, axis)),
    "reshape": lambda x, shape: x.reshape(shape),
    "transpose": lambda x, axes: np.transpose(x, axes),
    "broadcast_to": lambda x, shape: np.broadcast_to(x, shape),
    "sum_to": lambda x, shape: np_sum_to(x, tuple(shape)),
    "squeeze": _np_squeeze, "unsqueeze": lambda x, axis: np.expand_dims(x, axis),
    "flatten": _np_flatten, "getitem": lambda x, index: x[index],
    "scatter_add": _np_scatter,
    "cat": lambda *xs, axis=0: np.concatenate(xs, axis=axis),
    "stack": lambda *xs, axis=0: np.stack(xs, axis=axis),
    "astype": lambda x, dtype: x.astype(dtype), "clone": lambda x: x.copy(),
    "linear": _np_linear,
    "mse_loss": lambda a, b, reduction="mean": _np_reduction((a - b) ** 2, reduction),
    "sum_squared_error": lambda a, b: 0.5 * np.sum((a - b) ** 2),
    "binary_cross_entropy_with_logits": lambda x, t, reduction="mean": _np_reduction(
        np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x))), reduction),
    "binary_cross_entropy": lambda p, t, reduction="mean": _np_reduction(
        -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log1p(-p), -100)), reduction),
}


def _expect_result_or_clear_error(spec, args, kwargs, kind, involved):
    TRIED[kind] += 1
    _LAST["call"] = (args, _short(kwargs))
    xs = _tensors(args)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            out = spec(*xs, **kwargs)
        except TinygradError as e:
            _check_message(spec, e, involved)
            return None
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"{spec.name} on shapes {[np.shape(a) for a in args]}: bare "
                        f"{type(e).__name__} escaped: {e}")
        assert isinstance(out, Tensor), f"{spec.name} returned {type(out).__name__}, not a Tensor"
        return out


def _reference(spec, args, kwargs):
    ref = REF.get(spec.name)
    if ref is None:
        return None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(ref(*args, **kwargs))


KNOWN_EMPTY_BUGS: dict[str, str] = {}


def _empty_params():
    return [pytest.param(n, id=n, marks=(pytest.mark.xfail(strict=True, reason=f"engine bug: "
                                                           f"{KNOWN_EMPTY_BUGS[n]}"),)
                         if n in KNOWN_EMPTY_BUGS else ()) for n in OPS]


@pytest.mark.parametrize("name", _empty_params())
def test_empty_tensors_give_the_right_result_or_a_clear_error(name):
    @_fuzz
    def body(data):
        spec = REGISTRY[name]
        args, kwargs = data.draw(empty_inputs(spec), label="inputs with size-0 dims")
        empty = [a.shape for a in args if isinstance(a, np.ndarray) and a.size == 0]
        out = _expect_result_or_clear_error(spec, args, kwargs, "empty", empty[:1])
        if out is None:
            return
        expected = _reference(spec, args, kwargs)
        if expected is not None:
            assert out.shape == expected.shape, f"{name}: shape {out.shape}, NumPy gives {expected.shape}"
            np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-12, equal_nan=True)
        if out.dtype.kind == "f" and out.requires_grad and np.isfinite(out.numpy()).all():
            from tinygrad_ko.gradcheck import gradcheck
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                assert gradcheck(lambda *xs: spec(*xs, **kwargs), list(args), eps=spec.eps,
                                 atol=spec.atol, rtol=spec.rtol)


def _xfail(reason):
    return pytest.mark.xfail(strict=True, reason=f"engine bug: {reason}")


@pytest.mark.parametrize("case", ["matmul (2,0)@(0,3)", "matmul (0,3)@(3,2)", "matmul (0,)@(0,)",
                                  "matmul batch (0,2,3)@(3,4)", "linear batch 0",
                                  "linear in_features 0",
                                  "cross_entropy batch 0 sum",
                                  pytest.param("cross_entropy batch 0 mean"),
                                  "nll_loss batch 0 sum", "mse_loss empty sum",
                                  "bce_with_logits empty sum"])
def test_empty_cases_the_sampler_cannot_reach(case):
    """Ops whose samples draw sizes with integers(1, n): their empty cases, written out."""
    import tinygrad_ko.nn.functional as F
    rng = np.random.default_rng(0)
    a = lambda *s: Tensor(rng.standard_normal(s), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            if case.startswith("matmul"):
                sa, sb = {"matmul (2,0)@(0,3)": ((2, 0), (0, 3)), "matmul (0,3)@(3,2)": ((0, 3), (3, 2)),
                          "matmul (0,)@(0,)": ((0,), (0,)),
                          "matmul batch (0,2,3)@(3,4)": ((0, 2, 3), (3, 4))}[case]
                x, y = a(*sa), a(*sb)
                out = x @ y
                np.testing.assert_array_equal(out.numpy(), x.numpy() @ y.numpy())
                (out * 1.0).sum().backward()
                assert x.grad.shape == sa and y.grad.shape == sb
                assert not np.any(x.grad.numpy()) and not np.any(y.grad.numpy())
            elif case == "linear batch 0":
                x, w, b = a(0, 3), a(2, 3), a(2)
                out = F.linear(x, w, b)
                assert out.shape == (0, 2)
                out.sum().backward()
                assert w.grad.shape == (2, 3) and not np.any(w.grad.numpy())
                assert b.grad.shape == (2,) and not np.any(b.grad.numpy())
            elif case == "linear in_features 0":
                x, w, b = a(4, 0), a(2, 0), a(2)
                out = F.linear(x, w, b)
                np.testing.assert_allclose(out.numpy(), np.broadcast_to(b.numpy(), (4, 2)))
                out.sum().backward()
                np.testing.assert_array_equal(b.grad.numpy(), [4.0, 4.0])
            elif case.startswith("cross_entropy"):
                reduction = case.split()[-1]
                z = a(0, 3)
                out = F.cross_entropy(z, Tensor(np.zeros(0, dtype=np.int64)), reduction=reduction)
                if reduction == "sum":
                    assert out.item() == 0.0
                else:
                    assert np.isnan(out.item())       # as PyTorch: the mean of nothing
                out.backward()
                assert z.grad.shape == (0, 3)
            elif case == "nll_loss batch 0 sum":
                z = a(0, 3)
                out = F.nll_loss(z, Tensor(np.zeros(0, dtype=np.int64)), reduction="sum")
                assert out.item() == 0.0
                out.backward()
                assert z.grad.shape == (0, 3)
            elif case == "mse_loss empty sum":
                x, t = a(0, 2), a(0, 2)
                out = F.mse_loss(x, t, reduction="sum")
                assert out.item() == 0.0
                out.backward()
                assert x.grad.shape == (0, 2)
            elif case == "bce_with_logits empty sum":
                x, t = a(0, 2), Tensor(np.zeros((0, 2)))
                out = F.binary_cross_entropy_with_logits(x, t, reduction="sum")
                assert out.item() == 0.0
                out.backward()
                assert x.grad.shape == (0, 2)
        except TinygradError as e:
            assert re.search(r"\(\s*0|0\s*,", str(e)), f"{case}: error does not show the shape: {e}"
    TRIED["empty"] += 1


# -- integer and boolean tensors: valid but unusual ----------------------------------------------
KNOWN_INT_BUGS: dict[str, str] = {}


def _int_params():
    return [pytest.param(n, id=n, marks=(pytest.mark.xfail(strict=True, reason=f"engine bug: "
                                                           f"{KNOWN_INT_BUGS[n]}"),)
                         if n in KNOWN_INT_BUGS else ()) for n in OPS]


@pytest.mark.parametrize("name", _int_params())
def test_integer_and_bool_tensors_give_the_right_result_or_a_clear_error(name):
    @_fuzz
    def body(data):
        kind = data.draw(st.sampled_from(["bool", "int64", "int32"]), label="dtype")
        spec = REGISTRY[name]
        args, kwargs = _draw_valid(data, spec)
        if kind == "bool":
            conv = [np.asarray(a > 0) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
                    for a in args]
        else:
            conv = [np.asarray(np.round(a * 2)).astype(kind)
                    if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args]
        out = _expect_result_or_clear_error(spec, conv, kwargs, "int/bool", ())
        if out is None:
            return
        assert out.dtype.kind in "biuf", f"{name}: result dtype {out.dtype}"
        assert not out.requires_grad
        if kind != "bool":
            # the same numbers as floats: an integer tensor must give the same values
            expected = _reference(spec, [a.astype(np.float64) if isinstance(a, np.ndarray) and
                                         a.dtype.kind in "iu" else a for a in conv], kwargs)
            if expected is not None and np.isfinite(expected).all():
                np.testing.assert_allclose(out.numpy().astype(np.float64), expected, rtol=1e-6,
                                           atol=1e-6, err_msg=f"{name} on {kind} tensors")


# -- plain tests: construction, backward, item ------------------------------------------------
@pytest.mark.parametrize("data, error", [
    ([[1.0, 2.0], [3.0]], tg.ShapeError),
    ([[1.0], [2.0, 3.0]], tg.ShapeError),
    (["a", "b"], tg.DTypeError),
    ("abc", tg.DTypeError),
    (None, tg.DTypeError),
    ({"a": 1}, tg.DTypeError),
    ([1.0, None], tg.DTypeError),
    (1 + 2j, tg.DTypeError),
    (np.array([1 + 2j]), tg.DTypeError),
    (np.array([object()]), tg.DTypeError),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), tg.DTypeError),
    (object(), tg.DTypeError),
])
def test_tensor_from_bad_data_raises_a_clear_error(data, error):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(error, match="Tensor"):
            Tensor(data)
        with pytest.raises(error):
            tg.tensor(data, requires_grad=True)


@pytest.mark.parametrize("dtype", ["bogus", "U3", object, complex, "datetime64[s]"])
def test_tensor_with_bad_dtype_argument_raises_a_dtype_error(dtype):
    with pytest.raises(tg.DTypeError, match="Tensor"):
        Tensor([1.0, 2.0], dtype=dtype)


def test_tensor_from_strings_with_a_float_dtype_raises_a_dtype_error():
    with pytest.raises(tg.DTypeError, match="Tensor"):
        Tensor(["a"], dtype=np.float32)


def test_none_in_data_with_a_float_dtype_raises_instead_of_becoming_nan():
    with pytest.raises(tg.DTypeError, match="Tensor"):
        Tensor([1.0, None], dtype=np.float32)


def test_requires_grad_on_non_float_data_raises():
    for data in ([1, 2], [True, False], np.arange(3, dtype=np.uint8)):
        with pytest.raises(tg.DTypeError, match="floating-point"):
            Tensor(data, requires_grad=True)
        t = Tensor(data)
        with pytest.raises(tg.DTypeError, match="floating-point"):
            t.requires_grad_()


def test_assigning_non_numeric_data_raises_a_dtype_error():
    t = Tensor([1.0, 2.0])
    for bad in (np.array(["a", "b"]), np.array([1 + 2j, 0j]), np.array([None, None])):
        with pytest.raises(tg.DTypeError, match="data"):
            t.data = bad
    assert t.dtype == np.float32


@pytest.mark.parametrize("shape, grad_shape", [((3,), (3, 1)), ((3,), (1, 3)), ((2, 3), (3, 2)),
                                               ((2, 3), (6,)), ((), (1,)), ((4,), ())])
def test_backward_with_a_gradient_of_the_wrong_shape(shape, grad_shape):
    x = Tensor(np.ones(shape), requires_grad=True)
    y = x * 2
    with pytest.raises(tg.ShapeError, match=re.escape(str(grad_shape)) + ".*" + re.escape(str(shape))):
        y.backward(gradient=np.ones(grad_shape))
    assert x.grad is None
    y.backward(gradient=np.ones(shape))                     # the graph is still usable
    np.testing.assert_array_equal(x.grad.numpy(), np.full(shape, 2.0))


@pytest.mark.parametrize("gradient", ["abc", np.array(["a", "b", "c"]), None, [1.0, None, 2.0]])
def test_backward_with_a_non_numeric_gradient(gradient):
    x = Tensor(np.ones(3), requires_grad=True)
    y = x * 2
    if gradient is None:
        with pytest.raises(tg.GraphError, match=r"shape \(3,\)"):
            y.backward(gradient=gradient)
        return
    with pytest.raises(tg.TinygradError, match="backward"):
        y.backward(gradient=gradient)


def test_grad_with_mismatched_grad_outputs_raises_a_tinygrad_error():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(tg.TinygradError, match="grad"):
        tg.grad([x.sum()], [x], [None, None])


@pytest.mark.parametrize("shape", [(2,), (0,), (2, 3), (1, 2), (3, 1, 1)])
def test_item_float_int_bool_of_a_non_scalar_raise(shape):
    t = Tensor(np.ones(shape))
    for f in (lambda: t.item(), lambda: float(t), lambda: int(t), lambda: bool(t)):
        with pytest.raises(tg.OpError, match=re.escape(str(shape))):
            f()


@pytest.mark.parametrize("shape", [(), (1,), (1, 1), (1, 1, 1)])
def test_item_of_a_one_element_tensor_works(shape):
    t = Tensor(np.full(shape, 2.5))
    assert t.item() == 2.5 and float(t) == 2.5 and int(t) == 2 and bool(t)


def test_len_of_a_0d_tensor_raises_a_tinygrad_type_error():
    with pytest.raises(tg.TinygradError):
        len(Tensor(1.0))
    with pytest.raises(TypeError):               # and still a TypeError, as PyTorch
        len(Tensor(1.0))


@pytest.mark.parametrize("call, name", [(c, n) for c, n in (
    ("x.sum(axis=1, dim=1)", "sum"), ("x.var(ddof=1, correction=1)", "var"),
    ("x.reshape('ab')", "reshape"), ("x.view('ab')", "view|reshape"),
    ("x.permute('a', 'b')", "permute"),
    ("x.astype('bogus')", "astype"), ("x.leaky_relu('a')", "leaky_relu"),
    ("x.expand('a')", "expand"))] + [("x.reshape(1.5, 4)", "reshape")])
def test_bad_python_arguments_raise_tinygrad_errors_naming_the_method(call, name):
    x = Tensor(np.ones((2, 3)), requires_grad=True)  # noqa: F841 (used by eval)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TinygradError, match=name):
            eval(call)


@pytest.mark.parametrize("dtype", [np.complex64, "U3", object, "bogus"])
def test_astype_to_a_non_numeric_dtype_raises(dtype):
    x = Tensor(np.ones(3))
    with pytest.raises(tg.DTypeError, match="astype"):
        x.astype(dtype)


BAD_DATA = ["abc", None, [1.0, "a"], 1 + 2j, np.array(["a", "b"]), np.array([1j, 2j]),
            [None, None]]


@pytest.mark.parametrize("fn", ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "sum", "mean",
                                "softmax", "log_softmax", "logsumexp", "matmul", "maximum",
                                "minimum", "where", "cat", "stack"])
def test_module_functions_name_themselves_on_bad_data(fn):
    ok = Tensor(np.ones(2))
    call = {"matmul": lambda b: tg.matmul(ok, b), "maximum": lambda b: tg.maximum(ok, b),
            "minimum": lambda b: tg.minimum(ok, b), "where": lambda b: tg.where(True, ok, b),
            "cat": lambda b: tg.cat([ok, b]), "stack": lambda b: tg.stack([ok, b])}.get(
        fn, getattr(tg, fn))
    _all_raise([(f"tg.{fn}({bad!r})", lambda bad=bad: call(bad),
                 lambda e: isinstance(e, tg.DTypeError) and fn in str(e)) for bad in BAD_DATA])


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**", "@"])
def test_operators_name_themselves_on_bad_operands(op):
    x = Tensor(np.ones(2))
    name = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow", "@": "matmul"}[op]
    cases = []
    for bad in BAD_DATA:
        env = {"x": x, "bad": bad}
        cases.append((f"x {op} {bad!r}", lambda env=env: eval(f"x {op} bad", env),
                      lambda e: isinstance(e, tg.DTypeError) and name in str(e)))
        cases.append((f"{bad!r} {op} x", lambda env=env: eval(f"bad {op} x", env),
                      lambda e: isinstance(e, tg.DTypeError) and name in str(e)))
    _all_raise(cases)


FLOAT_VALUED = ["exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "softmax", "log_softmax",
                "logsumexp", "mean", "var", "std"]


@pytest.mark.parametrize("op", FLOAT_VALUED + ["div"])
def test_float_valued_ops_on_integer_tensors_give_float32(op):
    """As PyTorch (and as div and mean already do): pixels as uint8, labels as int64..."""
    problems = []
    for dtype in ("int64", "int32", "uint8", "bool"):
        x = Tensor(np.array([[1, 0, 1], [1, 1, 0]]).astype(dtype))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with np.errstate(divide="ignore"):
                try:
                    y = x / 2 if op == "div" else getattr(x, op)()
                except tg.DTypeError as e:       # a clear refusal (bool - bool...) is fine too
                    assert op in str(e) or "sub" in str(e), str(e)
                    continue
        if y.dtype != np.float32:
            problems.append(f"{op} on {dtype}: {y.dtype}")
    assert not problems, "; ".join(problems)


# -- layers and loss modules (tinygrad_ko.nn) ----------------------------------------------------
nn = pytest.importorskip("tinygrad_ko.nn")


def _shape_not(draw, ndim, dim, avoid):
    """A shape of ``ndim`` dims (sides 1..4) whose ``dim`` is not ``avoid``."""
    shape = list(draw(shapes(ndim, ndim, 1, 4)))
    shape[dim] = draw(st.sampled_from([v for v in range(1, 6) if v != avoid]))
    return tuple(shape)


def _rank_not(draw, ranks):
    return draw(shapes(0, 5, 1, 3).filter(lambda s: len(s) not in ranks))


def _image(draw, c=2, min_side=1, max_side=2):
    return (draw(st.integers(1, 2)), c, draw(st.integers(min_side, max_side)),
            draw(st.integers(min_side, max_side)))


# layer -> (constructor, {variant: draw -> bad input shape}); inputs are float32 arrays
LAYER_CORRUPTIONS = {
    "Linear": (lambda: nn.Linear(3, 2), {
        "in_features": lambda d: _shape_not(d, d(st.integers(1, 3)), -1, 3),
        "scalar": lambda d: ()}),
    "Conv2d": (lambda: nn.Conv2d(2, 3, kernel_size=3), {
        "channels": lambda d: _shape_not(d, 4, 1, 2),
        "rank": lambda d: _rank_not(d, (3, 4)),   # (C, H, W): one image, valid
        "image_smaller_than_kernel": lambda d: _image(d, 2, 1, 2)}),
    "MaxPool2d": (lambda: nn.MaxPool2d(3), {
        "rank": lambda d: _rank_not(d, (3, 4)),   # (C, H, W): one image, valid
        "image_smaller_than_kernel": lambda d: _image(d, 2, 1, 2)}),
    "AvgPool2d": (lambda: nn.AvgPool2d(3), {
        "rank": lambda d: _rank_not(d, (3, 4)),   # (C, H, W): one image, valid
        "image_smaller_than_kernel": lambda d: _image(d, 2, 1, 2)}),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d(2), {
        "rank": lambda d: _rank_not(d, (3, 4))}),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), {
        "features": lambda d: _shape_not(d, d(st.integers(2, 3)), 1, 3),
        "rank": lambda d: _rank_not(d, (2, 3)),
        "one_value_per_channel": lambda d: (1, 3)}),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), {
        "channels": lambda d: _shape_not(d, 4, 1, 3),
        "rank": lambda d: _rank_not(d, (4,))}),
    "Flatten": (lambda: nn.Flatten(1, 2), {"rank": lambda d: _rank_not(d, (0, 3, 4, 5)),
                                           "scalar": lambda d: ()}),
    "Softmax": (lambda: nn.Softmax(dim=2), {"dim": lambda d: _rank_not(d, (3, 4, 5))}),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=-3), {"dim": lambda d: _rank_not(d, (3, 4, 5))}),
}
LAYER_NAMES = {"Linear": "linear", "Conv2d": "conv2d", "MaxPool2d": "max_pool2d",
               "AdaptiveAvgPool2d": "adaptive_avg_pool2d",
               "AvgPool2d": "avg_pool2d", "BatchNorm1d": "batch_norm", "BatchNorm2d": "batch_norm",
               "Flatten": "flatten", "Softmax": "softmax", "LogSoftmax": "log_softmax"}
KNOWN_LAYER_BUGS: dict[tuple[str, str], str] = {}
KNOWN_LAYER_DTYPE_BUGS: dict[str, str] = {}


def _layer_call(layer_name, label, call, involved, kind):
    """call() must raise a TinygradError naming the layer (or its op) and the input shapes."""
    TRIED[kind] += 1
    _LAST["call"] = label
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            out = call()
        except TinygradError as e:
            msg = str(e)
            assert layer_name in msg or LAYER_NAMES.get(layer_name, "\0") in msg, (
                f"{label}: {type(e).__name__} does not name {layer_name}: {msg}")
            for shape in involved:
                assert _squash(tuple(shape)) in _squash(msg), f"{label}: no shape {shape}: {msg}"
            return e
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"{label}: bare {type(e).__name__} escaped: {e}")
    pytest.fail(f"{label}: invalid input accepted, returned shape {getattr(out, 'shape', None)}")


def _layer_params():
    out = []
    for layer, (_, variants) in LAYER_CORRUPTIONS.items():
        for variant in variants:
            marks = ()
            if (layer, variant) in KNOWN_LAYER_BUGS:
                marks = _xfail(KNOWN_LAYER_BUGS[(layer, variant)])
            out.append(pytest.param(layer, variant, marks=marks, id=f"{layer}-{variant}"))
    return out


@pytest.mark.parametrize("layer, variant", _layer_params())
def test_layer_with_a_bad_input_shape_raises_a_clear_error(layer, variant):
    make, variants = LAYER_CORRUPTIONS[layer]

    @_fuzz
    def body(data):
        shape = variants[variant](data.draw)
        module = make()
        x = Tensor(np.full(shape, 0.5, dtype=np.float32), requires_grad=True)
        _layer_call(layer, f"{module!r}(input of shape {shape})", lambda: module(x), (shape,),
                    "layer")


@pytest.mark.parametrize("layer", [pytest.param(n, marks=_xfail(KNOWN_LAYER_DTYPE_BUGS[n]) if n in
                                                KNOWN_LAYER_DTYPE_BUGS else ())
                                   for n in sorted(LAYER_CORRUPTIONS)])
def test_layer_with_non_numeric_input_raises_a_dtype_error_naming_it(layer):
    module = LAYER_CORRUPTIONS[layer][0]()
    cases = [(f"{layer}({bad!r})", lambda bad=bad: module(bad),
              lambda e, bad=bad: isinstance(e, tg.DTypeError) and (
                  layer in str(e) or LAYER_NAMES[layer] in str(e))) for bad in BAD_DATA]
    TRIED["layer"] += len(cases)
    _all_raise(cases)


@pytest.mark.parametrize("layer, shape", [("Linear", (0, 3)), ("Conv2d", (0, 2, 4, 4)),
                                          ("MaxPool2d", (0, 2, 3, 3)), ("AvgPool2d", (0, 2, 3, 3)),
                                          ("BatchNorm1d", (0, 3)), ("BatchNorm2d", (0, 3, 2, 2)),
                                          ("Flatten", (0, 2, 3)), ("Softmax", (0, 2, 3)),
                                          ("LogSoftmax", (0, 2, 3))])
def test_layer_on_an_empty_batch_gives_an_empty_result_or_a_clear_error(layer, shape):
    module = LAYER_CORRUPTIONS[layer][0]()
    x = Tensor(np.zeros(shape, dtype=np.float32), requires_grad=True)
    TRIED["empty"] += 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            y = module(x)
        except TinygradError as e:
            assert layer in str(e) or LAYER_NAMES[layer] in str(e), str(e)
            assert _squash(shape) in _squash(str(e)), str(e)
            return
        assert y.shape[0] == 0 and y.dtype == np.float32
        y.sum().backward()
    assert x.grad.shape == shape
    for p in module.parameters():
        assert p.grad is None or not np.any(p.grad.numpy())


LAYER_CONSTRUCTORS = [
    ("Linear", lambda: nn.Linear(-1, 2)), ("Linear", lambda: nn.Linear(2.5, 3)),
    ("Linear", lambda: nn.Linear("a", 3)), ("Linear", lambda: nn.Linear(3, 2, dtype=np.int64)),
    ("Linear", lambda: nn.Linear(3, 2, dtype="bogus")),
    ("Conv2d", lambda: nn.Conv2d(0, 2, 3)), ("Conv2d", lambda: nn.Conv2d(1, 2, kernel_size=0)),
    ("Conv2d", lambda: nn.Conv2d(1, 2, kernel_size=(2, 2, 2))),
    ("Conv2d", lambda: nn.Conv2d(1, 2, 3, stride=0)), ("Conv2d", lambda: nn.Conv2d(1, 2, 3, padding=-1)),
    ("Conv2d", lambda: nn.Conv2d(1, 2, "a")),
    ("MaxPool2d", lambda: nn.MaxPool2d(2, padding=2)), ("AvgPool2d", lambda: nn.AvgPool2d(0)),
    ("MaxPool2d", lambda: nn.MaxPool2d("a")),
    ("BatchNorm1d", lambda: nn.BatchNorm1d(0)), ("BatchNorm1d", lambda: nn.BatchNorm1d(3, eps=0)),
    ("BatchNorm2d", lambda: nn.BatchNorm2d(3, momentum=2.0)),
    ("Dropout", lambda: nn.Dropout(1.5)), ("Dropout", lambda: nn.Dropout("a")),
    ("LeakyReLU", lambda: nn.LeakyReLU("a")), ("Softmax", lambda: nn.Softmax("a")),
    ("Flatten", lambda: nn.Flatten("a")),
    ("CrossEntropyLoss", lambda: nn.CrossEntropyLoss(reduction="bogus")),
    ("CrossEntropyLoss", lambda: nn.CrossEntropyLoss(label_smoothing=2.0)),
    ("MSELoss", lambda: nn.MSELoss(reduction=None)),
]


KNOWN_CONSTRUCTOR_BUGS: dict[int, str] = {}   # index in LAYER_CONSTRUCTORS


@pytest.mark.parametrize("layer, make", [
    pytest.param(n, f, marks=_xfail(KNOWN_CONSTRUCTOR_BUGS[i]) if i in KNOWN_CONSTRUCTOR_BUGS else ())
    for i, (n, f) in enumerate(LAYER_CONSTRUCTORS)],
    ids=[f"{n}-{i}" for i, (n, _) in enumerate(LAYER_CONSTRUCTORS)])
def test_layer_constructor_with_bad_arguments_raises_a_clear_error(layer, make):
    TRIED["layer"] += 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TinygradError, match=layer):
            make()


LOSS_CASES = {
    "CrossEntropyLoss": [
        ("target length", (4, 3), np.zeros(5, dtype=np.int64)),
        ("target class", (4, 3), np.array([0, 1, 3, 0])),
        ("negative class", (4, 3), np.array([0, -1, 2, 0])),
        ("1-D logits", (3,), np.zeros(3, dtype=np.int64)),
        ("prob target shape", (4, 3), np.full((4, 2), 0.5)),
        ("str target", (4, 3), np.array(["a"] * 4)),
        ("float class target", (4, 3), np.array([0.0, 1.0, 2.0, 0.0]))],
    "NLLLoss": [
        ("target length", (4, 3), np.zeros(5, dtype=np.int64)),
        ("target class", (4, 3), np.array([0, 1, 3, 0])),
        ("3-D input", (4, 3, 2), np.zeros(4, dtype=np.int64))],
    "MSELoss": [("shape", (4, 3), np.zeros((4, 2), dtype=np.float32)),
                ("str target", (4, 3), np.full((4, 3), "a"))],
    "BCELoss": [("shape", (4,), np.zeros(5, dtype=np.float32)),
                ("not probabilities", (4,), np.zeros(4, dtype=np.float32))],
    "BCEWithLogitsLoss": [("shape", (4,), np.zeros((4, 1), dtype=np.float32)),
                          ("complex target", (4,), np.full(4, 1j))],
}
KNOWN_LOSS_BUGS: dict[str, str] = {}


@pytest.mark.parametrize("loss", [pytest.param(n, marks=_xfail(KNOWN_LOSS_BUGS[n]) if n in
                                               KNOWN_LOSS_BUGS else ()) for n in LOSS_CASES])
def test_loss_module_with_bad_targets_raises_a_clear_error(loss):
    criterion = getattr(nn, loss)()
    op = {"CrossEntropyLoss": "cross_entropy", "NLLLoss": "nll_loss", "MSELoss": "mse_loss",
          "BCELoss": "binary_cross_entropy",
          "BCEWithLogitsLoss": "binary_cross_entropy_with_logits"}[loss]
    cases = []
    for label, shape, target in LOSS_CASES[loss]:
        x = np.full(shape, 1.5 if label == "not probabilities" else 0.5, dtype=np.float32)
        cases.append((f"{loss} {label}: input {shape}, target {target.dtype}{target.shape}",
                      lambda x=x, target=target: criterion(Tensor(x, requires_grad=True), target),
                      lambda e, x=x, label=label: (loss in str(e) or op in str(e)) and (
                          label == "not probabilities" or _squash(x.shape) in _squash(str(e)))))
    TRIED["layer"] += len(cases)
    _all_raise(cases)


def test_sequential_names_the_failing_layer():
    """A shape error deep in a model says which layer (by its index) got the wrong input."""
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(5, 2))
    with pytest.raises(tg.ShapeError, match=r"Linear\(5 -> 2\).*\(2, 3\)"):
        model(Tensor(np.ones((2, 4), dtype=np.float32)))
