"""Learning-rate schedules (PyTorch's ``torch.optim.lr_scheduler``): call ``scheduler.step()`` once
per epoch, after ``optimizer.step()``; it sets ``lr`` in every parameter group.

Each schedule is written in closed form, lr_t = f(base_lr, t), where base_lr is the group's lr when
the scheduler was made (kept in the group as ``initial_lr``, as PyTorch) and t counts ``step()``
calls. PyTorch computes the same values recursively from the previous lr; the closed form reads
like the formula and does not accumulate rounding.
"""
from __future__ import annotations

import bisect
import math
from typing import Any, Callable

from ..errors import CheckpointError, OpError
from .optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses define ``get_lr()`` from ``self.base_lrs`` and ``self.last_epoch``."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise OpError(f"{type(self).__name__}: expected an optimizer, got "
                          f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise OpError(f"{type(self).__name__}: resuming at last_epoch={last_epoch} needs "
                              f"'initial_lr' in param group {i}; load the optimizer's state_dict "
                              f"first")
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr: list[float] = []
        self.step()      # as PyTorch: sets the lr for epoch last_epoch + 1 (the first: base_lr)

    def get_lr(self) -> list[float]:
        """The lr of each group at epoch ``self.last_epoch``: each schedule's formula."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set each group's lr."""
        self.last_epoch += 1
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = lrs

    def get_last_lr(self) -> list[float]:
        """The lr of each group set by the last ``step()``."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer (its state is saved by ``optimizer.state_dict()``)."""
        return {k: (list(v) if isinstance(v, list) else v)
                for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state saved by ``state_dict()``; the keys and the number of
        parameter groups must match."""
        mine = set(self.state_dict())
        theirs = set(state_dict) if isinstance(state_dict, dict) else set()
        if mine != theirs:
            raise CheckpointError(f"{type(self).__name__}.load_state_dict: expected keys "
                                  f"{sorted(mine)}, got {sorted(theirs)}; was it saved by another "
                                  f"scheduler type?")
        if len(state_dict["base_lrs"]) != len(self.optimizer.param_groups):
            raise CheckpointError(f"{type(self).__name__}.load_state_dict: the saved state has "
                                  f"{len(state_dict['base_lrs'])} group(s), the optimizer has "
                                  f"{len(self.optimizer.param_groups)}")
        for k, v in state_dict.items():
            self.__dict__[k] = list(v) if isinstance(v, (list, tuple)) else v

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.state_dict().items()
                         if k not in ("base_lrs", "_last_lr"))
        return f"{type(self).__name__}({args})"


_LRScheduler = LRScheduler   # PyTorch's older name


def _positive_int(name: str, value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise OpError(f"{where}: {name} must be a positive int, got {value!r}")
    return value


class StepLR(LRScheduler):
    """lr_t = base_lr * gamma ** (t // step_size): multiply by gamma every step_size epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = _positive_int("step_size", step_size, "StepLR")
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size)
                for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr_t = base_lr * gamma ** t: multiply by gamma every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2: from base_lr down to
    eta_min over T_max epochs along half a cosine (then back up, as PyTorch's SGDR without
    restarts)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self.T_max = _positive_int("T_max", T_max, "CosineAnnealingLR")
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        c = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * c for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr_t = base_lr * gamma ** (number of milestones <= t): multiply by gamma at each milestone
    epoch (a milestone given twice multiplies twice, as PyTorch)."""

    def __init__(self, optimizer: Optimizer, milestones: Any, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        try:
            ms = sorted(int(m) for m in milestones)
        except (TypeError, ValueError):
            raise OpError(f"MultiStepLR: milestones must be a list of ints, got "
                          f"{milestones!r}") from None
        self.milestones = ms
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        k = bisect.bisect_right(self.milestones, self.last_epoch)
        return [base * self.gamma ** k for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr_t = base_lr * lr_lambda(t): your own schedule as a function of the epoch (one function,
    or a list with one per parameter group). The functions are not in ``state_dict()`` (as
    PyTorch: a function cannot be saved); make the scheduler with them again before loading."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Any, last_epoch: int = -1) -> None:
        n = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        fns = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(fns) != n:
            raise OpError(f"LambdaLR: expected {n} lr_lambdas (one per parameter group), got "
                          f"{len(fns)}")
        if not all(callable(f) for f in fns):
            raise OpError(f"LambdaLR: lr_lambda must be a function of the epoch (or a list of "
                          f"them), got {lr_lambda!r}")
        self.lr_lambdas: list[Callable[[int], float]] = fns
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * float(f(self.last_epoch)) for base, f in zip(self.base_lrs, self.lr_lambdas)]

    def state_dict(self) -> dict[str, Any]:
        sd = super().state_dict()
        del sd["lr_lambdas"]
        return sd


from .schedules import OneCycleLR, ReduceLROnPlateau  # noqa: E402  (they build on LRScheduler)

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "MultiStepLR",
           "LambdaLR", "OneCycleLR", "ReduceLROnPlateau"]
