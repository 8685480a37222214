"""Containers that register what they hold: ``Sequential``, ``ModuleList``, ``ModuleDict``,
``ParameterList``, ``ParameterDict`` (PyTorch's). A plain Python list of layers is not registered
(its parameters would never be trained), so Module refuses it and points here."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Iterator, Mapping

from ..errors import IndexOutOfRangeError
from .module import Module, Parameter


def _check_index(owner: Any, idx: int) -> int:
    n = len(owner)
    if not -n <= idx < n:
        raise IndexOutOfRangeError(f"{type(owner).__name__}: index {idx} is out of range for "
                                   f"{n} item(s)")
    return idx % n


class _IndexedModules(Module):
    """Modules kept under the names "0", "1", ... (shared by Sequential and ModuleList)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> "_IndexedModules":
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "_IndexedModules":
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        mods: list[Any] = list(self._modules.values())
        mods.insert(index, module)
        self._renumber(mods)

    def _renumber(self, mods: list[Any]) -> None:
        for name in list(self._modules):
            delattr(self, name)
        for m in mods:
            self.append(m)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._modules.values()))

    def __getitem__(self, idx: int | slice) -> Any:
        mods: list[Any] = list(self._modules.values())
        if isinstance(idx, slice):   # a slice shares the layers (and, for Sequential, names)
            if isinstance(self, ModuleList):
                return ModuleList(mods[idx])
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return mods[_check_index(self, idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(str(_check_index(self, idx)), module)

    def __delitem__(self, idx: int | slice) -> None:
        mods: list[Any] = list(self._modules.values())
        if isinstance(idx, slice):
            del mods[idx]
        else:
            del mods[_check_index(self, idx)]
        self._renumber(mods)   # PyTorch keeps the names consecutive: "0", "1", ...


class Sequential(_IndexedModules):
    """Layers applied one after another: ``Sequential(Linear(784, 50), ReLU(), Linear(50, 10))``.
    Also ``Sequential(OrderedDict(fc1=..., act=...))`` to name them. Indexable, iterable, len."""

    def __init__(self, *args: Any) -> None:
        if len(args) == 1 and isinstance(args[0], Mapping):
            Module.__init__(self)
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            super().__init__(args)

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)  # type: ignore[misc]
        return x


class ModuleList(_IndexedModules):
    """A list of modules whose parameters are registered: ``ModuleList([Linear(4, 4) for _ in
    range(3)])``. It has no forward; iterate it in your own."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__(modules or ())

    def __iadd__(self, modules: Iterable[Module]) -> "ModuleList":
        self.extend(modules)
        return self

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleList has no forward(); loop over it in your module's "
                                  "forward (`for layer in self.layers: x = layer(x)`), or use "
                                  "nn.Sequential")


class ModuleDict(Module):
    """A dict of modules whose parameters are registered (keys are the names)."""

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        try:
            return self._modules[key]  # type: ignore[return-value]
        except KeyError:
            raise KeyError(f"ModuleDict has no key {key!r}; keys: {list(self._modules)}") from None

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        self[key]  # the helpful KeyError
        delattr(self, key)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._modules))

    def keys(self) -> list[str]:
        """The names of the modules, in insertion order."""
        return list(self._modules)

    def values(self) -> list[Module]:
        """The modules, in insertion order."""
        return list(self._modules.values())  # type: ignore[arg-type]

    def items(self) -> list[tuple[str, Module]]:
        """(name, module) pairs, in insertion order."""
        return list(self._modules.items())  # type: ignore[arg-type]

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add (or replace) modules from a mapping or from (name, module) pairs."""
        items = modules.items() if isinstance(modules, Mapping) else modules
        for k, m in items:
            self[k] = m

    def pop(self, key: str) -> Module:
        """Remove the module named ``key`` and return it."""
        m = self[key]
        del self[key]
        return m

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleDict has no forward(); pick a module by key in yours")


class ParameterList(Module):
    """A list of parameters that are registered (names "0", "1", ...)."""

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        for v in values or ():
            self.append(v)

    def append(self, value: Any) -> "ParameterList":
        """Add a parameter at the end (other values are wrapped in ``Parameter``);
        returns self."""
        self.register_parameter(str(len(self._parameters)),
                                value if isinstance(value, Parameter) else Parameter(value))
        return self

    def extend(self, values: Iterable[Any]) -> "ParameterList":
        """Append each of ``values``; returns self."""
        for v in values:
            self.append(v)
        return self

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(list(self._parameters.values()))  # type: ignore[arg-type]

    def __getitem__(self, idx: int) -> Parameter:
        params: list[Any] = list(self._parameters.values())
        return params[_check_index(self, idx)]

    def __setitem__(self, idx: int, value: Any) -> None:
        self.register_parameter(str(_check_index(self, idx)),
                                value if isinstance(value, Parameter) else Parameter(value))

    def extra_repr(self) -> str:
        return "\n".join(f"({k}): Parameter of shape {p.shape}, dtype {p.dtype}"
                         for k, p in self._parameters.items() if p is not None)


class ParameterDict(Module):
    """A dict of parameters that are registered (keys are the names)."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        for k, v in (values or {}).items():
            self[k] = v

    def __getitem__(self, key: str) -> Parameter:
        try:
            return self._parameters[key]  # type: ignore[return-value]
        except KeyError:
            raise KeyError(f"ParameterDict has no key {key!r}; keys: "
                           f"{list(self._parameters)}") from None

    def __setitem__(self, key: str, value: Any) -> None:
        self.register_parameter(key, value if isinstance(value, Parameter) else Parameter(value))

    def __contains__(self, key: str) -> bool:
        return key in self._parameters

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._parameters))

    def keys(self) -> list[str]:
        """The names of the parameters, in insertion order."""
        return list(self._parameters)

    def values(self) -> list[Parameter]:
        """The parameters, in insertion order."""
        return list(self._parameters.values())  # type: ignore[arg-type]

    def items(self) -> list[tuple[str, Parameter]]:
        """(name, parameter) pairs, in insertion order."""
        return list(self._parameters.items())  # type: ignore[arg-type]

    def extra_repr(self) -> str:
        return "\n".join(f"({k}): Parameter of shape {p.shape}, dtype {p.dtype}"
                         for k, p in self._parameters.items() if p is not None)


__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]
