"""SGD (with momentum / Nesterov), Adagrad, RMSprop, Adam and AdamW, with PyTorch's update rules.

Notation in the docstrings: p a parameter, g its gradient, lr the learning rate, t the step count
(from 1). Every update is done in place on the parameter's NumPy array (see ``optimizer.py``).

In the book's terms (6장): ``SGD(lr)`` is SGD; ``SGD(lr, momentum=0.9)`` is Momentum (the book's
v = 0.9 v - lr g; p += v is the same sequence of parameters while lr stays constant); ``Adagrad`` is
AdaGrad; ``RMSprop`` is RMSprop; ``Adam`` is Adam (the book adds eps to sqrt(v) before the bias
correction; PyTorch, and this, after).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import OpError, ShapeError
from .optimizer import Optimizer


def _nonneg(opt: Optimizer, group: dict[str, Any], *names: str) -> None:
    for n in names:
        if not group[n] >= 0.0:
            raise OpError(f"{opt._name}: invalid {n}={group[n]} (must be >= 0)")


class _Checked(Optimizer):
    """Turns a NumPy error inside an update (a .grad of the wrong shape set by hand) into a
    ShapeError naming the parameter. try/except costs nothing when nothing is raised."""

    def _update_group(self, group: dict[str, Any]) -> None:
        try:
            self._update(group)
        except ValueError:
            for i, p in enumerate(group["params"]):
                if p.grad is not None and p.grad.shape != p.shape:
                    raise ShapeError(f"{self._name}.step: parameter {i} has shape {p.shape} but "
                                     f"its .grad has shape {p.grad.shape}") from None
            raise

    def _update(self, group: dict[str, Any]) -> None:
        raise NotImplementedError


class SGD(_Checked):
    """Stochastic gradient descent, optionally with momentum (PyTorch's rule):

        g = g + weight_decay * p
        b = g                                   (first step)
        b = momentum * b + (1 - dampening) * g  (later steps)
        g = g + momentum * b  if nesterov  else  b
        p = p - lr * g

    Without momentum this is the book's SGD: p = p - lr * g.
    """
    _state_keys = ("momentum_buffer",)

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        _nonneg(self, group, "momentum", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise OpError("SGD: Nesterov momentum requires momentum > 0 and dampening = 0")

    def _update(self, group: dict[str, Any]) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        wd, nesterov, state = group["weight_decay"], group["nesterov"], self.state
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad._data
            data = self._writable(p)
            if wd:
                g = g + wd * data               # a new array: p.grad itself is left alone
            if momentum:
                st = state.get(p)
                if not st:
                    buf = g.copy()
                    state[p] = {"momentum_buffer": buf}
                else:
                    buf = st["momentum_buffer"]
                    buf *= momentum
                    buf += g if dampening == 0 else (1 - dampening) * g
                g = g + momentum * buf if nesterov else buf
            data -= lr * g
            p._version[0] += 1


class Adagrad(_Checked):
    """AdaGrad: each weight's step shrinks with the sum of its squared gradients (PyTorch):

        g = g + weight_decay * p
        h = h + g * g                       (h starts at initial_accumulator_value)
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(h) + eps)
    """
    _state_keys = ("step", "sum")

    def __init__(self, params: Any, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        _nonneg(self, group, "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def _update(self, group: dict[str, Any]) -> None:
        lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
        wd, state = group["weight_decay"], self.state
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad._data
            data = self._writable(p)
            st = state.get(p)
            if not st:
                st = state[p] = {"step": 0, "sum": np.full_like(
                    data, group["initial_accumulator_value"])}
            st["step"] = t = st["step"] + 1
            if wd:
                g = g + wd * data
            h = st["sum"]
            h += g * g
            std = np.sqrt(h)
            std += eps
            np.divide(g, std, out=std)
            std *= lr / (1 + (t - 1) * lr_decay)
            data -= std
            p._version[0] += 1


AdaGrad = Adagrad   # the book's spelling


class Adadelta(_Checked):
    """Adadelta (Zeiler): each step is scaled by the ratio of running RMS of past steps and of
    gradients, so ``lr`` is only a final multiplier (PyTorch's rule):

        g = g + weight_decay * p
        v = rho * v + (1 - rho) * g * g
        d = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * d * d
        p = p - lr * d
    """
    _state_keys = ("step", "square_avg", "acc_delta")

    def __init__(self, params: Any, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        _nonneg(self, group, "eps", "weight_decay")
        if not 0.0 <= group["rho"] <= 1.0:
            raise OpError(f"{self._name}: invalid rho={group['rho']} (must be in [0, 1])")

    def _update(self, group: dict[str, Any]) -> None:
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        wd, state = group["weight_decay"], self.state
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad._data
            data = self._writable(p)
            st = state.get(p)
            if not st:
                st = state[p] = {"step": 0, "square_avg": np.zeros_like(data),
                                 "acc_delta": np.zeros_like(data)}
            st["step"] += 1
            if wd:
                g = g + wd * data
            v, u = st["square_avg"], st["acc_delta"]
            v *= rho
            v += (1 - rho) * (g * g)
            d = np.sqrt(u + eps)
            d /= np.sqrt(v + eps)
            d *= g
            u *= rho
            u += (1 - rho) * (d * d)
            d *= lr
            data -= d
            p._version[0] += 1


class RMSprop(_Checked):
    """RMSprop: divide by a running root-mean-square of the gradients (PyTorch's rule):

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        centered:  m = alpha * m + (1 - alpha) * g;  d = sqrt(v - m * m) + eps
        otherwise: d = sqrt(v) + eps
        momentum > 0:  b = momentum * b + g / d;  p = p - lr * b
        otherwise:     p = p - lr * g / d
    """
    _state_keys = ("step", "square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        _nonneg(self, group, "alpha", "eps", "weight_decay", "momentum")

    def _update(self, group: dict[str, Any]) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        wd, momentum, centered, state = (group["weight_decay"], group["momentum"],
                                         group["centered"], self.state)
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad._data
            data = self._writable(p)
            st = state.get(p)
            if not st:
                st = state[p] = {"step": 0, "square_avg": np.zeros_like(data)}
                if momentum > 0:
                    st["momentum_buffer"] = np.zeros_like(data)
                if centered:
                    st["grad_avg"] = np.zeros_like(data)
            st["step"] += 1
            if wd:
                g = g + wd * data
            v = st["square_avg"]
            v *= alpha
            v += (1 - alpha) * (g * g)
            if centered:
                m = st["grad_avg"]
                m += (1 - alpha) * (g - m)
                d = v - m * m
                # v >= m*m in exact arithmetic; rounding can dip below 0 (PyTorch gives nan there)
                np.maximum(d, 0, out=d)
                np.sqrt(d, out=d)
            else:
                d = np.sqrt(v)
            d += eps
            np.divide(g, d, out=d)
            if momentum > 0:
                b = st["momentum_buffer"]
                b *= momentum
                b += d
                data -= lr * b
            else:
                d *= lr
                data -= d
            p._version[0] += 1


class Adam(_Checked):
    """Adam (Kingma & Ba), PyTorch's rule:

        g = g + weight_decay * p            (AdamW instead: p = p * (1 - lr * weight_decay))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)               (amsgrad only; then v_max is used for v below)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """
    _state_keys = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _decoupled = False

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        _nonneg(self, group, "eps", "weight_decay")
        betas = group["betas"]
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise OpError(f"{self._name}: invalid betas={betas} (two numbers in [0, 1))")

    def _update(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        wd, amsgrad, state = group["weight_decay"], group["amsgrad"], self.state
        decoupled = self._decoupled
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad._data
            data = self._writable(p)
            st = state.get(p)
            if not st:
                st = state[p] = {"step": 0, "exp_avg": np.zeros_like(data),
                                 "exp_avg_sq": np.zeros_like(data)}
                if amsgrad:
                    st["max_exp_avg_sq"] = np.zeros_like(data)
            st["step"] = t = st["step"] + 1
            if wd:
                if decoupled:
                    data *= 1 - lr * wd
                else:
                    g = g + wd * data
            m, v = st["exp_avg"], st["exp_avg_sq"]
            m += (1 - beta1) * (g - m)       # = beta1 m + (1 - beta1) g  (PyTorch's lerp)
            v *= beta2
            v += (1 - beta2) * (g * g)
            if amsgrad:
                vmax = st["max_exp_avg_sq"]
                np.maximum(vmax, v, out=vmax)
                v = vmax
            denom = np.sqrt(v)
            denom /= math.sqrt(1 - beta2 ** t)
            denom += eps
            np.divide(m, denom, out=denom)
            denom *= lr / (1 - beta1 ** t)
            data -= denom
            p._version[0] += 1


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p = p * (1 - lr * weight_decay)
    before the Adam step, instead of adding weight_decay * p to the gradient."""
    _decoupled = True

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


__all__ = ["SGD", "Adagrad", "AdaGrad", "RMSprop", "Adam", "AdamW", "Adadelta"]
