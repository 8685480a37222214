"""``Parameter`` and ``Module``: the base of every layer and model (PyTorch's ``torch.nn.Module``).

A Module finds its own parameters: assigning a ``Parameter`` or another ``Module`` as an attribute
registers it, so ``model.parameters()`` lists every weight of every sub-layer, with dotted names
(``"fc1.weight"``) in ``named_parameters()`` and in ``state_dict()``::

    class TwoLayerNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 50)       # registered as child "fc1"
            self.fc2 = nn.Linear(50, 10)

        def forward(self, x):
            return self.fc2(self.fc1(x).relu())

Design notes (why, not what):
- Parameters and children are kept in ordered registries *and* in the instance ``__dict__``, so
  ``self.fc1`` in ``forward`` is a plain attribute lookup (no ``__getattr__`` on the hot path).
- Assigning a Python list of layers, or a leaf tensor with ``requires_grad=True``, raises: PyTorch
  silently ignores both, and the optimizer then never trains them (a classic silent bug).
- ``state_dict()`` returns copies, and ``load_state_dict`` checks every entry before changing any,
  so a failed load never leaves a half-loaded model.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import numpy as np

from ..errors import CheckpointError, UsageError
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a learnable weight of a Module: ``requires_grad=True`` by default, and
    registered by the Module it is assigned to. Python numbers and lists become float32; NumPy
    arrays and Tensors keep their dtype (and share memory, as ``torch.nn.Parameter``)."""
    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty(0, dtype=np.float32)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` skipped (PyTorch's ``_IncompatibleKeys``)."""
    missing_keys: list[str]
    unexpected_keys: list[str]


def _holds_module_or_param(value: Any) -> bool:
    """True for a list/tuple/dict with a Module or Parameter directly inside."""
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple)):
        return False
    return any(isinstance(v, (Module, Parameter)) for v in value)


class Module:
    """Base class of layers and models. Subclasses set parameters and sub-modules as attributes
    in ``__init__`` (after ``super().__init__()``) and define ``forward``; call the module itself
    (``model(x)``), which runs ``forward``."""

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _modules: dict[str, "Module | None"]
    _non_persistent: set[str]

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent"] = set()
        d["_modules"] = {}

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The module's computation: define it in every subclass, then call the module
        itself (``model(x)``), not ``forward``."""
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define "
                                  f"`def forward(self, x): ...` in the class")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- registration ------------------------------------------------------------------------------
    def _registries(self, what: str, name: str) -> tuple[dict, dict, dict]:
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"{type(self).__name__}: cannot assign {what} '{name}' before "
                                 f"Module.__init__() ran; call super().__init__() first in "
                                 f"your __init__")
        return d["_parameters"], d["_buffers"], d["_modules"]

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Parameter):
            params, buffers, modules = self._registries("parameter", name)
            buffers.pop(name, None)
            modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params, buffers, modules = self._registries("module", name)
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
        else:
            d = self.__dict__
            if name in d.get("_parameters", ()):
                if value is not None:
                    raise UsageError(f"{type(self).__name__}: cannot assign {type(value).__name__} "
                                    f"as parameter '{name}' (nn.Parameter or None expected)")
                d["_parameters"][name] = None
            elif name in d.get("_modules", ()):
                if value is not None:
                    raise UsageError(f"{type(self).__name__}: cannot assign {type(value).__name__} "
                                    f"as child module '{name}' (nn.Module or None expected)")
                d["_modules"][name] = None
            elif name in d.get("_buffers", ()):
                if value is not None and not isinstance(value, Tensor):
                    raise UsageError(f"{type(self).__name__}: cannot assign "
                                    f"{type(value).__name__} as buffer '{name}' (Tensor or None "
                                    f"expected)")
                d["_buffers"][name] = value
            elif isinstance(value, Tensor) and value.requires_grad and value.grad_fn is None:
                raise UsageError(
                    f"{type(self).__name__}.{name}: a plain Tensor with requires_grad=True would "
                    f"not be registered, so parameters() and the optimizer would never see it; "
                    f"wrap it: self.{name} = nn.Parameter(...) (or register_buffer for a constant)")
            elif _holds_module_or_param(value):
                kind = "nn.ModuleDict" if isinstance(value, dict) else "nn.ModuleList"
                raise UsageError(
                    f"{type(self).__name__}.{name}: layers or parameters inside a plain "
                    f"{type(value).__name__} are not registered, so parameters() and the optimizer "
                    f"would never see them; use {kind}(...) (or nn.ParameterList/ParameterDict "
                    f"for parameters)")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            d.get(reg, {}).pop(name, None)
        d.get("_non_persistent", set()).discard(name)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or None, a declared-but-absent one such as ``bias=False``)."""
        if param is not None and not isinstance(param, Parameter):
            raise UsageError(f"{type(self).__name__}.register_parameter('{name}'): expected "
                            f"nn.Parameter or None, got {type(param).__name__}")
        self._registries("parameter", name)[0][name] = None
        setattr(self, name, param)

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Add a buffer: state that is saved in ``state_dict`` (if persistent) and converted by
        ``to(dtype)`` but is not a parameter, e.g. BatchNorm's running mean."""
        _, buffers, _ = self._registries("buffer", name)
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        if name in self._parameters or name in self._modules:
            raise KeyError(f"{type(self).__name__}.register_buffer: '{name}' is already a "
                           f"parameter or child module")
        buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Register a child module under ``name`` (same as ``setattr``; name may be "0", "1"...)."""
        if module is not None and not isinstance(module, Module):
            raise UsageError(f"{type(self).__name__}.add_module('{name}'): expected nn.Module, got "
                            f"{type(module).__name__}")
        self._registries("module", name)[2][name] = None
        setattr(self, name, module)

    register_module = add_module

    # -- walking the tree --------------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """This module and every descendant, with dotted names ('' for self); a module shared by
        two parents appears once (unless ``remove_duplicate=False``)."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                               remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        """This module and every descendant, each once (``named_modules`` without names)."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        """(name, module) for each direct child, each once (no grandchildren)."""
        seen: set[int] = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator["Module"]:
        """Each direct child module once (``named_children`` without the names)."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, registry: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Tensor]]:
        mods = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse
                else [(prefix, self)])
        seen: set[int] = set()
        for mod_prefix, mod in mods:
            for name, t in getattr(mod, registry).items():
                if t is None:
                    continue
                if remove_duplicate:
                    if id(t) in seen:     # a shared (tied) weight is listed once
                        continue
                    seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs: ``("0.weight", W)``, ``("fc1.bias", b)``..."""
        members = self._named_members("_parameters", prefix, recurse, remove_duplicate)
        yield from members  # type: ignore[misc]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter once, in registration order (what an optimizer needs)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) pairs: ``("bn1.running_mean", t)``..."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer once (e.g. BatchNorm's running statistics); not the parameters."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self, only_trainable: bool = False) -> int:
        """Total number of parameter elements (weights + biases)."""
        return sum(p.numel() for p in self.parameters()
                   if p.requires_grad or not only_trainable)

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call ``fn`` on every sub-module (children first) and on self, e.g. for custom init."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- modes, gradients, dtypes -----------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Training mode (Dropout drops, BatchNorm uses batch statistics), recursively."""
        for m in self.modules():
            m.__dict__["training"] = bool(mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze every parameter."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of the previous step (they accumulate otherwise)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            elif p.grad.grad_fn is not None:       # a grad recorded with create_graph
                p.grad = Tensor._wrap(np.zeros_like(p.grad._data))
            else:
                p.grad._data[...] = 0

    def to(self, *args: Any, dtype: Any = None, device: Any = None,
           non_blocking: bool = False) -> "Module":
        """PyTorch's ``Module.to``: ``to(device)``, ``to(dtype)``, ``to(device, dtype)``,
        ``to(tensor)`` or the keywords, in place; returns self. A device moves every parameter,
        its gradient and every buffer (BatchNorm's running statistics) there, keeping the
        Parameter objects (an optimizer made before still holds them); ``DeviceError`` if the
        device is not available. A dtype converts the floating-point parameters, their gradients
        and buffers (``model.double()`` before ``gradcheck``); integer buffers are left alone."""
        from ..device import resolve
        from ..tensor import _is_device_arg
        name = f"{type(self).__name__}.to"
        dev, dt = device, dtype
        rest = [a for a in args if not isinstance(a, bool)]
        if len(rest) > 2:
            raise UsageError(f"{name}: expected at most a device and a dtype, got {args!r}")
        for a in rest:
            if isinstance(a, Tensor):
                dev, dt = a.device, a.dtype
            elif _is_device_arg(a):
                dev = a
            else:
                dt = a
        if dev is not None:
            self._move(resolve(dev, name))
        if dt is None:
            return self
        try:
            dt = np.dtype(dt)
        except TypeError:
            raise UsageError(f"{name}: {dt!r} is neither a device nor a dtype") from None
        if dt.kind != "f":
            raise UsageError(f"{name}: expected a floating dtype, got {dt}")
        for t in list(self.parameters()) + list(self.buffers()):
            if t.dtype.kind == "f" and t.dtype != dt:
                t.data = t._data.astype(dt)       # the setter bumps the version counter
                if t.grad is not None:
                    t.grad = Tensor._wrap(t.grad._data.astype(dt))
        return self

    def _move(self, dev: Any) -> None:
        """Every parameter, gradient and buffer onto ``dev`` (a resolved device), in place."""
        from ..device import device_of, to_device
        for t in list(self.parameters()) + list(self.buffers()):
            if device_of(t._data) != dev:
                t._data = to_device(t._data, dev)
                t._version[0] += 1      # a graph that saved the old array is stale
            g = t._grad
            if g is not None and device_of(g._data) != dev:
                t._grad = Tensor._wrap(to_device(g._data, dev))

    def cpu(self) -> "Module":
        """Move every parameter and buffer to the CPU (in place); returns self."""
        return self.to("cpu")

    def cuda(self, device: Any = None) -> "Module":
        """Move every parameter and buffer to the GPU (in place; ``device``: an index or
        ``"cuda:1"``); returns self. ``DeviceError`` without CuPy or without a GPU."""
        return self.to("cuda" if device is None else device)

    def float(self) -> "Module":
        """Convert floating-point parameters and buffers to float32 in place (``to``)."""
        return self.to(np.float32)

    def double(self) -> "Module":
        """Convert floating-point parameters and buffers to float64 in place (``to``),
        e.g. before ``gradcheck``."""
        return self.to(np.float64)

    # -- state_dict --------------------------------------------------------------------------------
    def _state_tensors(self) -> "OrderedDict[str, Tensor]":
        """name -> Tensor for everything saved: parameters, then persistent buffers, module by
        module. Shared weights appear under every name (as PyTorch)."""
        out: OrderedDict[str, Tensor] = OrderedDict()
        for prefix, mod in self.named_modules(remove_duplicate=False):
            dot = prefix + "." if prefix else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    out[dot + name] = p
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    out[dot + name] = b
        return out

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Every parameter and persistent buffer by dotted name, as NumPy copies (host copies
        for a model on the GPU, so a saved state loads anywhere)."""
        from ..device import is_gpu_array
        return OrderedDict((k, t._data.get() if is_gpu_array(t._data) else t._data.copy())
                           for k, t in self._state_tensors().items())

    def load_state_dict(self, state_dict: Mapping[str, Any],
                        strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's tensors, in place (their dtype kept).

        Every entry is checked before anything changes. Missing or unexpected names (with
        ``strict=True``), wrong shapes and non-numeric values raise ``CheckpointError`` naming each
        one. Returns the missing and unexpected names (PyTorch's ``_IncompatibleKeys``).
        """
        from ..device import is_gpu_array, like, to_host, writable
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise CheckpointError(f"{where}: expected a mapping name -> array (a state_dict), got "
                                  f"{type(state_dict).__name__}")
        own = self._state_tensors()
        missing = [k for k in own if k not in state_dict]
        unexpected = [str(k) for k in state_dict if k not in own]
        problems: list[str] = []
        if strict:
            problems += [f"missing key '{k}' (shape {own[k].shape})" for k in missing]
            problems += [f"unexpected key '{k}'" for k in unexpected]
        values: list[tuple[Tensor, np.ndarray]] = []
        for k, t in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            v = v._data if isinstance(v, Tensor) else v if is_gpu_array(v) else np.asarray(v)
            if v.dtype.kind not in "biuf":
                problems.append(f"'{k}' has non-numeric dtype {v.dtype}")
            elif v.shape != t.shape:
                problems.append(f"'{k}' has shape {v.shape} in the checkpoint, the model has "
                                f"{t.shape}")
            elif t.dtype.kind in "biu" and v.dtype.kind == "f":
                problems.append(f"'{k}' is {v.dtype} in the checkpoint, the model needs {t.dtype}")
            else:
                values.append((t, v))
        if problems:
            hint = (" (is this checkpoint from another model?)" if missing or unexpected
                    or len(problems) > 1 else "")
            raise CheckpointError(f"{where}: {len(problems)} problem(s){hint}:\n  "
                                  + "\n  ".join(problems))
        for t, v in values:
            if not writable(t._data):
                t._data = t._data.copy()
            if type(v) is not type(t._data):        # onto the tensor's device (host <-> GPU)
                v = like(to_host(v), t._data)
            np.copyto(t._data, v, casting="unsafe")  # kinds were checked above; float64 -> float32
            t._version[0] += 1
        return IncompatibleKeys(missing, unexpected)

    def save(self, path: Any) -> None:
        """Write ``state_dict()`` to an .npz file (exactly at ``path``; nothing is pickled)."""
        from .checkpoint import save
        save(self.state_dict(), path)

    def load(self, path: Any, strict: bool = True) -> "Module":
        """Load a file written by ``save`` into this module (in place); returns self."""
        from .checkpoint import load_state
        self.load_state_dict(load_state(path), strict=strict)
        return self

    # -- printing ----------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses, e.g. 'in_features=784, out_features=50, bias=True'."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = [f"({name}): " + repr(m).replace("\n", "\n  ")
                    for name, m in self._modules.items()]
        head = type(self).__name__ + "("
        if len(lines) == 1 and not children:
            return head + lines[0] + ")"
        if lines or children:
            return head + "\n  " + "\n  ".join(lines + children) + "\n)"
        return head + ")"


__all__ = ["Parameter", "Module", "IncompatibleKeys"]
