"""``Optimizer``: the base class (PyTorch's ``torch.optim.Optimizer``).

An optimizer holds ``param_groups``, a list of dicts, each with its ``"params"`` and its own
hyperparameters (``lr``...), and ``state``, a dict parameter -> that parameter's buffers (momentum,
Adam's moments...): as PyTorch's, a ``defaultdict(dict)``, so ``opt.state[p]`` of a parameter not
stepped yet is an empty dict, not a KeyError. ``step()`` updates every parameter that has a
gradient, in place.

Design notes (why, not what):
- Updates write straight into the parameter's NumPy array with in-place ufuncs (``out=``): no graph
  is recorded and no new arrays are kept, exactly what hand-written NumPy does. Each updated array's
  version counter is bumped, so a graph built before the step that saved the parameter refuses to
  backward instead of giving a wrong gradient.
- Hyperparameters are stored as Python floats: NumPy 2 keeps ``float32_array * python_float`` in
  float32, while a NumPy float64 scalar would silently upcast the update.
- ``state_dict()`` returns copies (PyTorch returns references), so a saved state cannot change
  under you as training goes on; ``load_state_dict`` copies in, so resuming is bit-exact.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any, Callable

import numpy as np

from ..device import is_array, like, to_host, writable
from ..errors import CheckpointError, DTypeError, GraphError, OpError
from ..grad_mode import enable_grad, quiet_enter, quiet_exit
from ..tensor import Tensor


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


def _hyper(name: str, value: Any, default: Any, where: str) -> Any:
    """A hyperparameter in the type of its default: Python float (or a tuple of them, or bool).
    NumPy scalars would otherwise leak float64 into float32 updates."""
    if isinstance(default, bool):
        if not isinstance(value, (bool, np.bool_)):
            raise OpError(f"{where}: hyperparameter {name}={value!r} should be True or False")
        return bool(value)
    try:
        if isinstance(default, tuple):
            return tuple(float(v) for v in value)
        return float(value)
    except (TypeError, ValueError):
        raise OpError(f"{where}: hyperparameter {name}={value!r} is not a number") from None


def _extra(value: Any) -> Any:
    """Other group entries (a scheduler's initial_lr, user tags) are kept; NumPy scalars become
    Python numbers."""
    return value.item() if isinstance(value, np.generic) else value


class Optimizer:
    """Base class: keeps the parameter groups and per-parameter state; subclasses write
    ``step``, declare their ``defaults`` and the names of their per-parameter ``_state_keys``."""

    _state_keys: tuple[str, ...] = ()

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = []
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        if isinstance(params, Tensor):
            raise OpError(f"{self._name}: params should be an iterable of Tensors (or of dicts), "
                          f"got a single Tensor; wrap it in a list ([w]) or pass "
                          f"model.parameters()")
        groups = list(params)
        if not groups:
            raise OpError(f"{self._name}: got an empty parameter list; did the model register its "
                          f"parameters (nn.Parameter attributes, nn.ModuleList for lists)?")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    @property
    def _name(self) -> str:
        return type(self).__name__

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones take the
        optimizer's defaults), e.g. a smaller lr for a pretrained backbone."""
        if not isinstance(param_group, dict):
            raise OpError(f"{self._name}: a param group must be a dict with 'params', got "
                          f"{type(param_group).__name__}")
        params = param_group.get("params")
        if params is None:
            raise OpError(f"{self._name}: a param group needs a 'params' entry")
        params = [params] if isinstance(params, Tensor) else list(params)
        seen: set[int] = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise OpError(f"{self._name}: parameter {i} is a {type(p).__name__}, not a Tensor")
            if p.grad_fn is not None:
                raise GraphError(f"{self._name}: parameter {i} (shape {p.shape}) is not a leaf "
                                 f"(it was computed by {type(p.grad_fn).__name__}); optimize the "
                                 f"tensors you created, not results of ops")
            if p.dtype.kind != "f":
                raise DTypeError(f"{self._name}: parameter {i} has dtype {p.dtype}; only "
                                 f"floating-point tensors can be optimized")
            if id(p) in seen:
                raise OpError(f"{self._name}: parameter {i} (shape {p.shape}) appears twice in "
                              f"one group; it would be updated twice per step")
            seen.add(id(p))
        for g in self.param_groups:
            if any(id(p) in seen for p in g["params"]):
                raise OpError(f"{self._name}: some parameters appear in more than one parameter "
                              f"group")
        group: dict[str, Any] = {"params": params}
        for k, default in self.defaults.items():
            v = param_group.get(k, default)
            if v is required:
                raise OpError(f"{self._name}: parameter group didn't specify a value of required "
                              f"hyperparameter '{k}'")
            group[k] = _hyper(k, v, default, self._name)
        for k, v in param_group.items():    # extra keys (e.g. a scheduler's initial_lr) are kept
            if k not in group:
                group[k] = _extra(v)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate hyperparameters (subclasses raise OpError naming the bad one)."""
        if "lr" in group and not group["lr"] >= 0.0:
            raise OpError(f"{self._name}: invalid learning rate lr={group['lr']} (must be >= 0)")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of the previous step (they accumulate otherwise)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                elif p.grad.grad_fn is not None:
                    p.grad = Tensor._wrap(np.zeros_like(p.grad._data))
                else:
                    p.grad._data[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient. ``closure`` (optional) recomputes the loss
        and its gradients first, and its value is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        token = quiet_enter()   # a huge step gives a quiet inf (grad_mode.quiet_floats)
        try:
            for group in self.param_groups:
                self._update_group(group)
        finally:
            quiet_exit(token)
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    @staticmethod
    def _writable(p: Tensor) -> np.ndarray:
        """The parameter's array, made writable if it is a read-only view (np.load, broadcast)."""
        data = p._data
        if not writable(data):
            data = p._data = data.copy()
        return data

    # -- saving and resuming -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{'state': {index: {name: array or number}}, 'param_groups': [{hyperparameters...,
        'params': [indices]}]}: parameters are numbered in group order, as PyTorch. Copies."""
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed = {k: v for k, v in g.items() if k != "params"}
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if self.state.get(p):      # an empty entry (a look-up by the user) is no state
                    st = self.state[p]      # arrays copied on their device (CuPy's too)
                    state[index[id(p)]] = ({k: v.copy() if is_array(v) else copy.deepcopy(v)
                                            for k, v in st.items()} if isinstance(st, dict)
                                           else copy.deepcopy(st))
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and per-parameter state saved by ``state_dict`` (from this
        optimizer type, for parameters of the same shapes). Everything is checked before anything
        changes; any mismatch raises ``CheckpointError`` naming it."""
        where = f"{self._name}.load_state_dict"
        try:
            saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        except (KeyError, TypeError):
            raise CheckpointError(f"{where}: expected a dict with 'state' and 'param_groups' (from "
                                  f"optimizer.state_dict()), got {type(state_dict).__name__}"
                                  ) from None
        if len(saved_groups) != len(self.param_groups):
            raise CheckpointError(f"{where}: the saved state has {len(saved_groups)} parameter "
                                  f"group(s), this optimizer has {len(self.param_groups)}")
        params: dict[int, Tensor] = {}
        new_groups = []
        for gi, (mine, saved) in enumerate(zip(self.param_groups, saved_groups)):
            ids = list(saved.get("params", []))
            if len(ids) != len(mine["params"]):
                raise CheckpointError(f"{where}: group {gi} has {len(ids)} parameter(s) in the "
                                      f"saved state, {len(mine['params'])} here")
            absent = [k for k in self.defaults if k not in saved]
            if absent:
                raise CheckpointError(f"{where}: group {gi} of the saved state has no {absent}; "
                                      f"was it saved by another optimizer type?")
            for i, p in zip(ids, mine["params"]):
                params[int(i)] = p
            group = {k: _hyper(k, v, self.defaults[k], where) if k in self.defaults else _extra(v)
                     for k, v in saved.items() if k != "params"}
            group["params"] = mine["params"]
            new_groups.append(group)
        new_state: dict[Tensor, dict[str, Any]] = {}
        for i, entry in dict(saved_state).items():
            p = params.get(int(i))
            if p is None:
                raise CheckpointError(f"{where}: state for parameter {i}, which no group has")
            new_state[p] = self._load_param_state(p, int(i), entry, where)
        self.param_groups = new_groups
        self.state = defaultdict(dict, new_state)

    def _load_param_state(self, p: Tensor, i: int, entry: Any, where: str) -> dict[str, Any]:
        if not isinstance(entry, dict):
            raise CheckpointError(f"{where}: state of parameter {i} is a {type(entry).__name__}, "
                                  f"expected a dict")
        # a user's own optimizer (no _state_keys) may keep anything
        unknown = [k for k in entry if k not in self._state_keys] if self._state_keys else []
        if unknown:
            raise CheckpointError(f"{where}: state of parameter {i} has {unknown}, which "
                                  f"{self._name} does not use; was it saved by another optimizer "
                                  f"type?")
        out: dict[str, Any] = {}
        for k, v in entry.items():
            if k == "step":
                out[k] = int(v)
            elif v is None:
                out[k] = None
            elif not self._state_keys:   # a user's own optimizer: kept as saved (copied)
                out[k] = Tensor(v._data.copy()) if isinstance(v, Tensor) else copy.deepcopy(v)
            else:
                arr = np.asarray(to_host(v._data if isinstance(v, Tensor) else v))
                if arr.shape != p.shape or arr.dtype.kind != "f":
                    raise CheckpointError(f"{where}: state '{k}' of parameter {i} has shape "
                                          f"{arr.shape} ({arr.dtype}), the parameter has shape "
                                          f"{p.shape}")
                # own copy, in the parameter's dtype, on the parameter's device
                out[k] = like(arr.astype(p.dtype, copy=True), p._data)
        return out

    def __repr__(self) -> str:
        lines = [f"{self._name} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


__all__ = ["Optimizer", "required"]
