"""The two schedules that are not a plain function of the epoch: ``OneCycleLR`` (per batch, with
momentum cycling) and ``ReduceLROnPlateau`` (driven by a metric). Both follow PyTorch's
``torch.optim.lr_scheduler`` to the number; import them from ``optim.lr_scheduler``.
"""
from __future__ import annotations

import math
from typing import Any

from ..errors import CheckpointError, OpError
from .lr_scheduler import LRScheduler, _positive_int
from .optimizer import Optimizer


def _per_group(name: str, value: Any, optimizer: Optimizer, where: str) -> list[float]:
    """One float per parameter group: a list of them, or one value for all."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise OpError(f"{where}: expected {n} values of {name} (one per parameter group), got "
                          f"{len(value)}")
        return [float(v) for v in value]
    return [float(value)] * n


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin), stepped once per *batch*: the lr warms up from
    max_lr / div_factor to max_lr over the first ``pct_start`` of ``total_steps`` (or
    ``epochs * steps_per_epoch``), then anneals down to initial_lr / final_div_factor.

    With ``cycle_momentum`` (the default, as PyTorch) the momentum moves the other way, from
    max_momentum down to base_momentum and back: SGD's ``momentum``, or Adam's beta1. With
    ``three_phase`` the lr goes back to the initial lr symmetrically before the final anneal.
    ``anneal_strategy``: 'cos' (half a cosine) or 'linear'. Stepping more than total_steps
    times raises, as PyTorch."""

    def __init__(self, optimizer: Optimizer, max_lr: Any, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: Any = 0.85,
                 max_momentum: Any = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        where = "OneCycleLR"
        if not isinstance(optimizer, Optimizer):
            raise OpError(f"{where}: expected an optimizer, got {type(optimizer).__name__}")
        if total_steps is not None:
            self.total_steps = _positive_int("total_steps", total_steps, where)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (_positive_int("epochs", epochs, where)
                                * _positive_int("steps_per_epoch", steps_per_epoch, where))
        else:
            raise OpError(f"{where}: give either total_steps or both epochs and steps_per_epoch")
        if not 0.0 <= pct_start <= 1.0:
            raise OpError(f"{where}: pct_start must be in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise OpError(f"{where}: anneal_strategy must be 'cos' or 'linear', got "
                          f"{anneal_strategy!r}")
        self.pct_start = float(pct_start)
        self.anneal_strategy = anneal_strategy
        self.three_phase = bool(three_phase)
        self.cycle_momentum = bool(cycle_momentum)
        groups = optimizer.param_groups
        max_lrs = _per_group("max_lr", max_lr, optimizer, where)
        if last_epoch == -1:
            for g, m in zip(groups, max_lrs):
                g["initial_lr"] = m / div_factor
                g["max_lr"] = m
                g["min_lr"] = g["initial_lr"] / final_div_factor
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise OpError(f"{where}: cycle_momentum needs an optimizer with momentum (SGD) "
                              f"or betas (Adam); pass cycle_momentum=False")
            self.use_beta1 = "betas" in optimizer.defaults
            bases = _per_group("base_momentum", base_momentum, optimizer, where)
            maxes = _per_group("max_momentum", max_momentum, optimizer, where)
            if last_epoch == -1:
                for g, lo, hi in zip(groups, bases, maxes):
                    self._set_momentum(g, hi)
                    g["base_momentum"], g["max_momentum"] = lo, hi
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict[str, Any], m: float) -> None:
        if self.use_beta1:
            group["betas"] = (m, *group["betas"][1:])
        else:
            group["momentum"] = m

    def _phases(self) -> list[tuple[float, str, str, str, str]]:
        """(end step, start lr key, end lr key, start momentum key, end momentum key), PyTorch's."""
        n, pct = self.total_steps, self.pct_start
        if self.three_phase:
            return [(pct * n - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                    (2 * pct * n - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                    (n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        return [(pct * n - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise OpError(f"OneCycleLR: tried to step {step} times; total_steps is "
                          f"{self.total_steps}")
        lrs = []
        phases = self._phases()
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, (end_step, lr0, lr1, m0, m1) in enumerate(phases):
                if step <= end_step or i == len(phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[lr0], group[lr1], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[m0], group[m1], pct))
                    break
                start_step = end_step
        return lrs


class ReduceLROnPlateau:
    """Multiply the lr by ``factor`` when a metric has stopped improving for more than
    ``patience`` epochs: ``scheduler.step(val_loss)`` once per epoch (PyTorch's rule).

    Improving means, for mode 'min', metric < best * (1 - threshold) ('rel') or
    metric < best - threshold ('abs'); for 'max' the mirror image. After a reduction it waits
    ``cooldown`` epochs before counting bad epochs again; the lr never goes below ``min_lr``
    (one value, or one per group), and a change smaller than ``eps`` is skipped."""

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: Any = 0.0, eps: float = 1e-8) -> None:
        where = "ReduceLROnPlateau"
        if not isinstance(optimizer, Optimizer):
            raise OpError(f"{where}: expected an optimizer, got {type(optimizer).__name__}")
        if not factor < 1.0:
            raise OpError(f"{where}: factor should be < 1.0, got {factor}")
        if mode not in ("min", "max"):
            raise OpError(f"{where}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise OpError(f"{where}: threshold_mode must be 'rel' or 'abs', got "
                          f"{threshold_mode!r}")
        for name, v in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise OpError(f"{where}: {name} must be an int >= 0, got {v!r}")
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor, self.threshold, self.eps = float(factor), float(threshold), float(eps)
        self.patience, self.cooldown = patience, cooldown
        self.min_lrs = _per_group("min_lr", min_lr, optimizer, where)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [float(g["lr"]) for g in optimizer.param_groups]

    def _is_better(self, a: float) -> bool:
        best, th = self.best, self.threshold
        if self.mode == "min":
            return a < (best * (1.0 - th) if self.threshold_mode == "rel" else best - th)
        return a > (best * (th + 1.0) if self.threshold_mode == "rel" else best + th)

    def step(self, metrics: Any) -> None:
        """Record this epoch's metric (a number or a 0-d Tensor, e.g. the validation loss) and
        reduce the lr if it has not improved for more than ``patience`` epochs."""
        try:
            current = float(metrics.item() if hasattr(metrics, "item") else metrics)
        except (TypeError, ValueError):
            raise OpError(f"ReduceLROnPlateau.step: the metric must be a number, got "
                          f"{metrics!r}") from None
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, low in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, low)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The lr of each group after the last ``step()``."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer."""
        return {k: (list(v) if isinstance(v, list) else v)
                for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state saved by ``state_dict()``."""
        mine = set(self.state_dict())
        theirs = set(state_dict) if isinstance(state_dict, dict) else set()
        if mine != theirs:
            raise CheckpointError(f"ReduceLROnPlateau.load_state_dict: expected keys "
                                  f"{sorted(mine)}, got {sorted(theirs)}")
        for k, v in state_dict.items():
            self.__dict__[k] = list(v) if isinstance(v, (list, tuple)) else v

    def __repr__(self) -> str:
        return (f"ReduceLROnPlateau(mode={self.mode!r}, factor={self.factor}, "
                f"patience={self.patience}, threshold={self.threshold}, "
                f"threshold_mode={self.threshold_mode!r}, cooldown={self.cooldown})")


__all__ = ["OneCycleLR", "ReduceLROnPlateau"]
