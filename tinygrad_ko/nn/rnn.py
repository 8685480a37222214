"""Recurrent layers with PyTorch's signatures, parameter names, shapes and gate order:
``RNN``, ``LSTM``, ``GRU`` (all time steps, several layers) and ``RNNCell``, ``LSTMCell``,
``GRUCell`` (one step).

In the book's second volume, ``RNN(input_size, hidden_size)`` over a whole sequence is
``TimeRNN`` and ``LSTM`` is ``TimeLSTM``; ``weight_ih_l0.T`` is its ``Wx``, ``weight_hh_l0.T`` its
``Wh``, and ``bias_ih_l0 + bias_hh_l0`` its ``b``. Its gate order (f, g, i, o) differs: PyTorch's,
used here, is (i, f, g, o).

The LSTM runs each layer's whole sequence as one op (``ops.recurrent.LSTMSequence``: the loop over
time and backpropagation through time in NumPy); RNN and GRU call their cell once per time step.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..device import array_module
from ..errors import OpError, ShapeError
from ..ops.recurrent import gru_cell, lstm_cell, lstm_sequence, rnn_relu_cell, rnn_tanh_cell
from ..tensor import Tensor, _as_tensor
from . import functional as F
from . import init
from .layers import _dtype, _size
from .module import Module, Parameter

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _stack(ts: list[Tensor]) -> Tensor:
    from .. import stack
    return stack(ts)


def _cat(ts: list[Tensor], axis: int) -> Tensor:
    from .. import cat
    return cat(ts, axis=axis)


class RNNBase(Module):
    """What RNN, LSTM and GRU share: parameters ``weight_ih_l{k}`` (G*H, in), ``weight_hh_l{k}``
    (G*H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (G*H,) per layer k (``_reverse`` for the backward
    direction when bidirectional), all drawn from U(-1/sqrt(H), 1/sqrt(H)) as PyTorch."""

    mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = _size(name, "input_size", input_size)
        self.hidden_size = H = _size(name, "hidden_size", hidden_size)
        self.num_layers = _size(name, "num_layers", num_layers)
        if not 0.0 <= dropout <= 1.0:
            raise OpError(f"{name}: dropout must be in [0, 1], got {dropout}")
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        dt = _dtype(name, dtype)
        G, D = _GATES[self.mode], 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        for layer in range(self.num_layers):
            n_in = self.input_size if layer == 0 else H * D
            for suffix in ("", "_reverse")[:D]:
                shapes = {"weight_ih": (G * H, n_in), "weight_hh": (G * H, H)}
                if bias:
                    shapes.update(bias_ih=(G * H,), bias_hh=(G * H,))
                for kind, shape in shapes.items():
                    pname = f"{kind}_l{layer}{suffix}"
                    setattr(self, pname, Parameter(np.empty(shape, dtype=dt)))
                    self._flat_weights_names.append(pname)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def _params(self, layer: int, direction: int) -> list[Tensor]:
        suffix = "_reverse" if direction else ""
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if self.bias else [])
        return [getattr(self, f"{n}_l{layer}{suffix}") for n in names]

    # -- shapes -----------------------------------------------------------------------------------
    def _input(self, input: Any) -> tuple[Tensor, bool]:
        """The input as (T, N, I), and whether it came without a batch axis."""
        name = type(self).__name__
        x = _as_tensor(input, name)
        if x.ndim not in (2, 3):
            raise ShapeError(f"{name}: expects input of shape {self._layout()} (or (T, "
                             f"{self.input_size}) without a batch), got {x.shape}")
        if x.shape[-1] != self.input_size:
            raise ShapeError(f"{name}(input_size={self.input_size}): input of shape {x.shape} has "
                             f"{x.shape[-1]} features in its last axis, expected {self.input_size}")
        if x.ndim == 2:
            return x.unsqueeze(1), True
        return (x.swapaxes(0, 1) if self.batch_first else x), False

    def _layout(self) -> str:
        return f"(N, T, {self.input_size})" if self.batch_first else f"(T, N, {self.input_size})"

    def _state(self, h: Any, n: int, unbatched: bool, what: str, x: Tensor) -> Tensor:
        """The given state checked, or zeros of x's dtype on x's device."""
        D = 2 if self.bidirectional else 1
        shape = (self.num_layers * D, n, self.hidden_size)
        if h is None:
            return Tensor._wrap(array_module(x._data).zeros(shape, dtype=x.dtype))
        h = _as_tensor(h, type(self).__name__)
        if unbatched and h.ndim == 2:
            h = h.unsqueeze(1)
        if h.shape != shape:
            want = shape if not unbatched else (shape[0], shape[2])
            raise ShapeError(f"{type(self).__name__}: {what} has shape "
                             f"{h.shape if not unbatched else h.shape[::2]}, expected {want}")
        return h

    # -- the layers --------------------------------------------------------------------------------
    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Any]:
        x, unbatched = self._input(input)
        n = x.shape[1]
        lstm = self.mode == "LSTM"
        if lstm:
            h0, c0 = (None, None) if hx is None else hx
            h0 = self._state(h0, n, unbatched, "h_0", x)
            c0 = self._state(c0, n, unbatched, "c_0", x)
        else:
            h0 = self._state(hx, n, unbatched, "h_0", x)
        D = 2 if self.bidirectional else 1
        hs, cs = [], []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                seq = layer_in[::-1] if d else layer_in
                params = self._params(layer, d)
                if lstm:
                    out, (h, c) = lstm_sequence(seq, h0[k], c0[k], *params)
                    cs.append(c)
                else:
                    out, h = self._run(seq, h0[k], params)
                hs.append(h)
                outs.append(out[::-1] if d else out)
            layer_in = outs[0] if D == 1 else _cat(outs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, True)
        output, h_n = layer_in, _stack(hs)
        c_n = _stack(cs) if lstm else None
        if unbatched:
            output, h_n = output.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if lstm else None
        elif self.batch_first:
            output = output.swapaxes(0, 1)
        return output, ((h_n, c_n) if lstm else h_n)

    def _run(self, x: Tensor, h: Tensor, params: list[Tensor]) -> tuple[Tensor, Tensor]:
        """One direction of one layer, a cell per time step (RNN, GRU)."""
        cell = {"RNN_TANH": rnn_tanh_cell, "RNN_RELU": rnn_relu_cell, "GRU": gru_cell}[self.mode]
        outs = []
        for t in range(x.shape[0]):
            h = cell(x[t], h, *params)
            outs.append(h)
        return _stack(outs), h

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (``nonlinearity='relu'``
    for relu). Input (T, N, input_size) (``batch_first``: (N, T, input_size)); returns
    ``output`` (every h_t of the last layer) and ``h_n`` (num_layers * directions, N, H)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise OpError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype)


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o = split(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh),
    c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g), h_t = sigmoid(o) tanh(c_t). Returns
    ``output, (h_n, c_n)``; ``hx`` is an optional ``(h_0, c_0)``."""
    mode = "LSTM"


class GRU(RNNBase):
    """Gated recurrent unit (PyTorch's gates r, z, n): h_t = (1 - z) n + z h_{t-1}. Returns
    ``output, h_n``."""
    mode = "GRU"


# -- one time step --------------------------------------------------------------------------------
class RNNCellBase(Module):
    """Parameters ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh`` (G*H,),
    drawn from U(-1/sqrt(H), 1/sqrt(H))."""
    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = _size(name, "input_size", input_size)
        self.hidden_size = H = _size(name, "hidden_size", hidden_size)
        self.bias = bool(bias)
        dt = _dtype(name, dtype)
        G = self.gates
        self.weight_ih = Parameter(np.empty((G * H, self.input_size), dtype=dt))
        self.weight_hh = Parameter(np.empty((G * H, H), dtype=dt))
        if bias:
            self.bias_ih = Parameter(np.empty(G * H, dtype=dt))
            self.bias_hh = Parameter(np.empty(G * H, dtype=dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters

    def _params(self) -> list[Any]:
        return [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]

    def _input(self, input: Any) -> tuple[Tensor, bool]:
        name = type(self).__name__
        x = _as_tensor(input, name)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ShapeError(f"{name}(input_size={self.input_size}): expects input of shape "
                             f"(N, {self.input_size}) or ({self.input_size},), got {x.shape}")
        return (x.unsqueeze(0), True) if x.ndim == 1 else (x, False)

    def _state(self, h: Any, n: int, unbatched: bool, x: Tensor) -> Tensor:
        """The given state checked, or zeros of x's dtype on x's device."""
        if h is None:
            return Tensor._wrap(array_module(x._data).zeros((n, self.hidden_size), dtype=x.dtype))
        h = _as_tensor(h, type(self).__name__)
        if unbatched and h.ndim == 1:
            h = h.unsqueeze(0)
        if h.shape != (n, self.hidden_size):
            raise ShapeError(f"{type(self).__name__}: hidden state of shape {h.shape}, expected "
                             f"{(n, self.hidden_size)}")
        return h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(RNNCellBase):
    """One step of RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise OpError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        x, unbatched = self._input(input)
        h = self._state(hx, x.shape[0], unbatched, x)
        cell = rnn_tanh_cell if self.nonlinearity == "tanh" else rnn_relu_cell
        h = cell(x, h, *self._params())
        return h.squeeze(0) if unbatched else h


class LSTMCell(RNNCellBase):
    """One step of LSTM: returns (h', c'); ``hx`` is an optional (h, c)."""
    gates = 4

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        x, unbatched = self._input(input)
        h, c = (None, None) if hx is None else hx
        h = self._state(h, x.shape[0], unbatched, x)
        c = self._state(c, x.shape[0], unbatched, x)
        h, c = lstm_cell(x, h, c, *self._params())
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(RNNCellBase):
    """One step of GRU: h' = (1 - z) n + z h."""
    gates = 3

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        x, unbatched = self._input(input)
        h = self._state(hx, x.shape[0], unbatched, x)
        h = gru_cell(x, h, *self._params())
        return h.squeeze(0) if unbatched else h


__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]
