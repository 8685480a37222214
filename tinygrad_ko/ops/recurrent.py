"""Recurrent cells (PyTorch's gate order and formulas) and the LSTM over a whole sequence as one op.

The cells are composites of registered ops (linear, sigmoid, tanh...): one time step each, so their
gradients and second derivatives are those ops'. ``LSTMSequence`` runs all T steps of one LSTM
layer in NumPy with backpropagation through time in ``backward_np``: an eager framework otherwise
pays Python for every op of every step (about 15 nodes a step), which dominates a char-level
model's training time. Its Tensor ``backward`` rebuilds the same computation from the cells and
differentiates that, so ``create_graph=True`` works as for every op.

Weights, as PyTorch: ``w_ih`` (G*H, I), ``w_hh`` (G*H, H), ``b_ih`` and ``b_hh`` (G*H,), G = 1 (RNN),
3 (GRU: r, z, n) or 4 (LSTM: i, f, g, o) gate blocks stacked along the rows.
"""
from __future__ import annotations

import numpy as np

from ..device import array_module
from ..errors import ShapeError
from ..function import Function
from ..registry import register


def _linear(x, w, b):
    from .nn import Linear
    return Linear.apply(x, w, b) if b is not None else Linear.apply(x, w)


def _cell_sample(gates):
    def sample(s):
        n, i, h = s.integers(1, 3), s.integers(1, 3), s.integers(1, 2)
        args = [s.array((n, i)), s.array((n, h)), s.array((gates * h, i), -1.0, 1.0),
                s.array((gates * h, h), -1.0, 1.0)]
        if gates == 4:
            args.insert(2, s.array((n, h)))           # c
        if s.boolean():
            args += [s.array((gates * h,)), s.array((gates * h,))]
        return tuple(args), {}
    return sample


@register("rnn_tanh_cell", sample=_cell_sample(1))
def rnn_tanh_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (the book's RNN layer)."""
    return (_linear(x, w_ih, b_ih) + _linear(h, w_hh, b_hh)).tanh()


def _relu_cell_sample(s):
    """One row, and a bias that puts every pre-activation at least 0.3 away from relu's kink
    (small inputs and weights keep that bias within [-4, 4], like other samples' values)."""
    i, h = s.integers(1, 3), s.integers(1, 2)
    x, h0 = s.array((1, i), -0.5, 0.5), s.array((1, h), -0.5, 0.5)
    w_ih, w_hh = s.array((h, i), -0.5, 0.5), s.array((h, h), -0.5, 0.5)
    pre = x @ w_ih.T + h0 @ w_hh.T
    want = s.array(pre.shape[1:], -2.0, 2.0, avoid=(0.0,))
    want = np.where(np.abs(want) < 0.3, np.sign(want) * 0.3, want)
    b_hh = s.array(want.shape, -0.5, 0.5)
    return (x, h0, w_ih, w_hh, want - pre[0] - b_hh, b_hh), {}


@register("rnn_relu_cell", sample=_relu_cell_sample)
def rnn_relu_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    return (_linear(x, w_ih, b_ih) + _linear(h, w_hh, b_hh)).relu()


def _both(hc):
    """The oracle checks one output: h' and c' mixed (both must be right)."""
    return hc[0] * 1.5 + hc[1]


@register("lstm_cell", sample=_cell_sample(4), call=lambda *a: _both(lstm_cell(*a)))
def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """(h', c'): gates = x W_ih^T + b_ih + h W_hh^T + b_hh split into i, f, g, o;
    c' = sigmoid(f) c + sigmoid(i) tanh(g), h' = sigmoid(o) tanh(c')."""
    gates = _linear(x, w_ih, b_ih) + _linear(h, w_hh, b_hh)
    H = h.shape[-1]
    i, f = gates[..., :H].sigmoid(), gates[..., H:2 * H].sigmoid()
    g, o = gates[..., 2 * H:3 * H].tanh(), gates[..., 3 * H:].sigmoid()
    c2 = f * c + i * g
    return o * c2.tanh(), c2


@register("gru_cell", sample=_cell_sample(3))
def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = (1 - z) n + z h, with r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz), n = tanh(W_in x + b_in + r (W_hn h + b_hn))."""
    gi, gh = _linear(x, w_ih, b_ih), _linear(h, w_hh, b_hh)
    H = h.shape[-1]
    r = (gi[..., :H] + gh[..., :H]).sigmoid()
    z = (gi[..., H:2 * H] + gh[..., H:2 * H]).sigmoid()
    n = (gi[..., 2 * H:] + r * gh[..., 2 * H:]).tanh()
    return (1 - z) * n + z * h


def _lstm_seq_sample(s):
    t, n, i, h = s.integers(1, 3), s.integers(1, 2), s.integers(1, 2), s.integers(1, 2)
    args = [s.array((t, n, i)), s.array((n, h)), s.array((n, h)),
            s.array((4 * h, i), -1.0, 1.0), s.array((4 * h, h), -1.0, 1.0)]
    if s.boolean():
        args += [s.array((4 * h,)), s.array((4 * h,))]
    return tuple(args), {}


def _gate_affine(H: int, dtype, xp=np) -> tuple[np.ndarray, np.ndarray]:
    """sigmoid(x) = (1 + tanh(x / 2)) / 2, so all four gates take one tanh over (N, 4H) if the
    i, f, o columns are scaled by 1/2 before it and mapped by a / 2 + 1/2 after: the scale and
    shift vectors (1/2 or 1, 1/2 or 0) per column, made by the inputs' array library ``xp``."""
    scale = xp.full(4 * H, 0.5, dtype=dtype)
    scale[2 * H:3 * H] = 1
    shift = xp.full(4 * H, 0.5, dtype=dtype)
    shift[2 * H:3 * H] = 0
    return scale, shift


@register("lstm_sequence", sample=_lstm_seq_sample)
class LSTMSequence(Function):
    """One LSTM layer over a sequence x (T, N, I) from (h0, c0): the output (T + 1, N, H) holds
    h_1..h_T and, in its last row, c_T. Backward: backpropagation through time,
    for t = T..1: dc_t += dh_t o tanh'(c_t); di = dc g, df = dc c_{t-1}, dg = dc i, do = dh tanh c_t;
    through the gates' activations to d(gates), then dh_{t-1} = d(gates) W_hh, dc_{t-1} = dc f."""
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):
        if x.ndim != 3 or w_ih.ndim != 2 or x.shape[2] != w_ih.shape[1]:
            raise ShapeError(f"lstm_sequence: input of shape {x.shape} does not fit weight_ih of "
                             f"shape {w_ih.shape}: expected (T, N, {w_ih.shape[-1]})")
        T, N, _ = x.shape
        H = w_hh.shape[1]
        if T == 0:
            raise ShapeError("lstm_sequence: the sequence is empty (input of shape "
                             f"{x.shape}); it needs at least one time step")
        if h0.shape != (N, H) or c0.shape != (N, H) or w_hh.shape != (4 * H, H) or \
                w_ih.shape[0] != 4 * H:
            raise ShapeError(f"lstm_sequence: states {h0.shape}, {c0.shape} and weights "
                             f"{w_ih.shape}, {w_hh.shape} do not fit (N={N}, H={H})")
        xp = array_module(x)
        scale, shift = _gate_affine(H, np.result_type(x.dtype, w_ih.dtype), xp)
        # the input's part of every step's gates in one product, pre-scaled for the one-tanh trick
        xw = (x.reshape(T * N, -1) @ w_ih.T).reshape(T, N, 4 * H)
        if b_ih is not None:
            xw += b_ih + b_hh
        xw *= scale
        whT = w_hh.T * scale                  # (H, 4H), scaled columns as well
        acts = xw                      # overwritten step by step with the activated gates
        out = xp.empty((T + 1, N, H), dtype=xw.dtype)
        cs = xp.empty((T + 1, N, H), dtype=xw.dtype)       # c_0..c_T
        tcs = xp.empty((T, N, H), dtype=xw.dtype)          # tanh(c_1..c_T)
        cs[0] = c0
        h = h0
        hw = xp.empty((N, 4 * H), dtype=xw.dtype)
        for t in range(T):
            a = acts[t]
            a += np.matmul(h, whT, out=hw)
            np.tanh(a, out=a)
            a *= scale
            a += shift                         # i, f, o: sigmoid; g: tanh
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            c = cs[t + 1]
            np.multiply(f, cs[t], out=c)
            c += i * g
            np.tanh(c, out=tcs[t])
            h = out[t]
            np.multiply(o, tcs[t], out=h)
        out[T] = cs[T]
        ctx.save_for_backward(acts, cs, tcs, out)
        return out

    def backward(ctx, grad):
        # rebuild the steps from the cells (Tensor ops) and differentiate them: create_graph
        from ..autograd import grad as autograd_grad
        inputs = ctx.inputs
        out = _lstm_sequence_composite(*inputs)
        wanted = [t for t, need in zip(inputs, ctx.needs_input_grad) if need]
        gs = iter(autograd_grad([out], wanted, [grad], create_graph=True, allow_unused=True))
        return tuple(next(gs) if need else None for need in ctx.needs_input_grad)

    def backward_np(ctx, grad):
        inputs = ctx.inputs
        x, h0, w_ih, w_hh = inputs[0]._data, inputs[1]._data, inputs[3]._data, inputs[4]._data
        acts, cs, tcs, out = ctx.saved_tensors
        T, N, _ = x.shape
        H = w_hh.shape[1]
        # Everything that does not depend on the incoming gradient, for all steps at once (big
        # arrays, few NumPy calls), so the loop over time is 6 calls and one matmul per step:
        # d(gates_pre) = [dc g i', dc c_{t-1} f', dc i g', dh tanh(c) o'] with ' the activation's
        # derivative (s (1 - s) for a sigmoid, 1 - g^2 for tanh)
        i, f, g, o = (acts[:, :, k * H:(k + 1) * H] for k in range(4))
        xp = array_module(acts)
        coef = xp.empty((T, N, 3, H), dtype=acts.dtype)      # what dc multiplies
        np.multiply(g, i * (1 - i), out=coef[:, :, 0])
        np.multiply(cs[:T], f * (1 - f), out=coef[:, :, 1])
        np.multiply(i, 1 - g * g, out=coef[:, :, 2])
        coef_o = tcs * (o * (1 - o))                         # what dh multiplies
        through_c = o * (1 - tcs * tcs)                      # d h_t / d c_t = o tanh'(c_t)
        dgates = np.empty_like(acts)
        dh = xp.zeros((N, H), dtype=acts.dtype)
        dc = grad[T].copy()
        for t in range(T - 1, -1, -1):
            dh += grad[t]
            dc += dh * through_c[t]
            d = dgates[t]
            np.multiply(dc[:, None, :], coef[t], out=d.reshape(N, 4, H)[:, :3])
            np.multiply(dh, coef_o[t], out=d[:, 3 * H:])
            dc *= f[t]
            dh = d @ w_hh
        need = ctx.needs_input_grad
        d2 = dgates.reshape(T * N, 4 * H)
        gx = (d2 @ w_ih).reshape(x.shape) if need[0] else None
        gw_ih = d2.T @ x.reshape(T * N, -1) if need[3] else None
        if need[4]:
            hprev = np.concatenate([h0[None], out[:T - 1]]).reshape(T * N, H)
            gw_hh = d2.T @ hprev
        else:
            gw_hh = None
        grads = [gx, dh if need[1] else None, dc if need[2] else None, gw_ih, gw_hh]
        if len(inputs) > 5:
            gb = xp.ones(T * N, d2.dtype) @ d2
            grads += [gb if need[5] else None, gb.copy() if need[6] else None]
        return tuple(grads)


def _lstm_sequence_composite(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):
    """What LSTMSequence computes, step by step with lstm_cell (for its Tensor backward)."""
    from .. import stack
    h, c = h0, c0
    hs = []
    for t in range(x.shape[0]):
        h, c = lstm_cell(x[t], h, c, w_ih, w_hh, b_ih, b_hh)
        hs.append(h)
    return stack(hs + [c])


def lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):
    """Run one LSTM layer over x (T, N, I): returns (output (T, N, H), (h_T, c_T))."""
    extra = (b_ih, b_hh) if b_ih is not None else ()
    out = LSTMSequence.apply(x, h0, c0, w_ih, w_hh, *extra)
    T = x.shape[0]
    return out[:T], (out[T - 1], out[T])
