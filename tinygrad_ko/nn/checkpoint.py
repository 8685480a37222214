"""Checkpoints: ``.npz`` files that never unpickle anything.

    nn.save(model.state_dict(), "model.npz")            # or model.save("model.npz")
    model.load_state_dict(nn.load("model.npz"))        # or model.load("model.npz")
    nn.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, "ckpt.npz")

``save`` takes what ``torch.save`` usually gets: nested dicts, lists and tuples of arrays, Tensors,
numbers, strings, booleans and None; ``load`` gives back Tensors where Tensors were saved (their
values and dtype; not the graph, nor ``requires_grad``) and arrays where arrays were. Arrays go into the archive under their path
(``np.load("ckpt.npz")["model/fc1.weight"]`` works), the structure around them goes into one JSON
string entry. ``load`` opens the file with ``allow_pickle=False``: a malicious or corrupted file can
only produce a ``CheckpointError``, never run code. Files written by plain ``np.savez(path, **d)``
load as a flat dict too.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import OrderedDict
from typing import Any

import numpy as np

from ..device import is_gpu_array, to_host
from ..errors import CheckpointError
from ..tensor import Tensor

META_KEY = "__tinygrad_ko__"
FORMAT = "tinygrad_ko-checkpoint"
VERSION = 2     # 2 added {"__tensor__": key}; a file without Tensors is still written as version 1


def _encode(obj: Any, path: list[str], arrays: dict[str, np.ndarray]) -> Any:
    """The JSON skeleton of ``obj``; arrays are stored aside in ``arrays`` under their path."""
    if isinstance(obj, Tensor):
        node = _encode(obj._data, path, arrays)
        return {"__tensor__": node["__array__"]}
    if isinstance(obj, np.generic):     # a NumPy scalar keeps its dtype as a 0-d array
        obj = np.asarray(obj)
    if is_gpu_array(obj):               # a checkpoint holds host arrays: it loads without a GPU
        obj = to_host(obj)
    if isinstance(obj, np.ndarray):
        where = "/".join(path) or "<root>"
        if obj.dtype.hasobject:
            raise CheckpointError(f"save: '{where}' is an object array (dtype {obj.dtype}), which "
                                  f"could only be stored by pickling; convert it to a numeric "
                                  f"dtype")
        key = where if where not in arrays and where != META_KEY else f"{where}#{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        pairs = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise CheckpointError(f"save: dict keys must be str or int, got {k!r} at "
                                      f"'{'/'.join(path) or '<root>'}'")
            pairs.append([k, _encode(v, path + [str(k)], arrays)])
        return {"__dict__": pairs}
    if isinstance(obj, (list, tuple)):
        items = [_encode(v, path + [str(i)], arrays) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    raise CheckpointError(f"save: cannot store a {type(obj).__name__} at "
                          f"'{'/'.join(path) or '<root>'}'; checkpoints hold arrays, Tensors, "
                          f"numbers, strings, None and dicts/lists/tuples of them")


def _decode(node: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    if isinstance(node, list):
        return [_decode(v, arrays, where) for v in node]
    if not isinstance(node, dict):
        return node
    if "__array__" in node or "__tensor__" in node:
        key = node.get("__array__", node.get("__tensor__"))
        if not isinstance(key, str) or key not in arrays:
            raise CheckpointError(f"load: {where} is corrupted: array '{key}' is missing")
        return arrays[key] if "__array__" in node else Tensor(arrays[key])
    if "__tuple__" in node:
        return tuple(_decode(v, arrays, where) for v in node["__tuple__"])
    if "__dict__" in node:
        return {k: _decode(v, arrays, where) for k, v in node["__dict__"]}
    raise CheckpointError(f"load: {where} is corrupted: unknown entry {str(node)[:80]}")


def save(obj: Any, path: Any) -> None:
    """Write ``obj`` (a state_dict, or nested dicts/lists of arrays and numbers) to an .npz file
    at exactly ``path`` (no '.npz' is appended). The file is written under a temporary name and
    renamed, so a crash mid-save never destroys the previous checkpoint."""
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, [], arrays)
    text = json.dumps(tree)
    # the oldest format version that holds it, so older readers still open files without Tensors
    version = VERSION if '{"__tensor__": ' in text else 1
    meta = np.array(json.dumps({"format": FORMAT, "version": version, "tree": tree}))
    # the structure goes first: if a damaged archive loses entries, it is the last ones, and the
    # structure then reports exactly which arrays are missing
    arrays = {META_KEY: meta, **arrays}
    if hasattr(path, "write"):          # an open binary file
        np.savez(path, **arrays)  # type: ignore[arg-type]
        return
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz",
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _read_arrays(path: Any) -> tuple[dict[str, np.ndarray], str]:
    """Every array in the archive, read (and CRC-checked) now, with pickles refused."""
    where = repr(path) if not hasattr(path, "read") else "the file"
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CheckpointError(f"load: no checkpoint file at {where}") from None
    except ValueError as e:
        if "pickle" in str(e):
            raise CheckpointError(f"load: {where} is not an .npz checkpoint (it looks like a "
                                  f"pickle or another format; pickles are never loaded)") from None
        raise CheckpointError(f"load: {where} is not a valid .npz checkpoint ({e})") from None
    except EOFError:
        raise CheckpointError(f"load: {where} is empty") from None
    except Exception as e:  # BadZipFile, OSError, struct.error...: all mean a corrupted file
        raise CheckpointError(f"load: {where} is not a valid .npz checkpoint "
                              f"({type(e).__name__}: {e})") from None
    if isinstance(loaded, np.ndarray):
        raise CheckpointError(f"load: {where} holds a single array (.npy), not an .npz checkpoint")
    try:
        with loaded:
            return {k: loaded[k] for k in loaded.files}, where
    except ValueError as e:
        if "Object arrays" in str(e):
            raise CheckpointError(f"load: {where} contains an object array, which could only be "
                                  f"read by unpickling it; refused") from None
        raise CheckpointError(f"load: {where} is truncated or corrupted ({e})") from None
    except Exception as e:  # CRC errors (BadZipFile), zlib errors...: a damaged archive
        raise CheckpointError(f"load: {where} is truncated or corrupted "
                              f"({type(e).__name__}: {e})") from None


def load(path: Any) -> Any:
    """Read a file written by ``save`` (or a plain ``np.savez`` archive, as a dict of arrays)."""
    arrays, where = _read_arrays(path)
    if META_KEY not in arrays:
        return OrderedDict(arrays)
    meta_arr = arrays.pop(META_KEY)
    try:
        meta = json.loads(str(meta_arr[()]))
        ok = meta.get("format") == FORMAT and "tree" in meta
    except (ValueError, TypeError, AttributeError, IndexError):
        ok = False
    if not ok:
        raise CheckpointError(f"load: {where} is corrupted: its {META_KEY} entry is unreadable")
    if meta.get("version", 0) > VERSION:
        raise CheckpointError(f"load: {where} was written by a newer tinygrad_ko (format version "
                              f"{meta['version']} > {VERSION})")
    try:
        obj = _decode(meta["tree"], arrays, where)
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"load: {where} is corrupted: bad structure ({e})") from None
    return OrderedDict(obj) if isinstance(obj, dict) else obj


def map_tensors(obj: Any, fn: Any) -> Any:
    """``obj`` (what ``load`` returns) with every Tensor replaced by ``fn(tensor)`` (``load``'s
    ``map_location``); the structure is kept."""
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        out = {k: map_tensors(v, fn) for k, v in obj.items()}
        return OrderedDict(out) if isinstance(obj, OrderedDict) else out
    if isinstance(obj, list):
        return [map_tensors(v, fn) for v in obj]
    if isinstance(obj, tuple):
        return tuple(map_tensors(v, fn) for v in obj)
    return obj


def save_state(state_dict: Any, path: Any) -> None:
    """Save a model's ``state_dict()`` (name -> array); same as ``save``, checked to be flat."""
    _check_flat(state_dict, "save_state")
    save(state_dict, path)


def load_state(path: Any) -> "OrderedDict[str, np.ndarray]":
    """Load a state_dict (name -> array) saved by ``save_state`` / ``Module.save``."""
    obj = load(path)
    _check_flat(obj, "load_state", path)
    return obj


def _check_flat(obj: Any, where: str, path: Any = None) -> None:
    src = f" {path!r}" if path is not None and not hasattr(path, "read") else ""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{where}:{src} expected a state_dict (name -> array), got a "
                              f"{type(obj).__name__}")
    nested = [k for k, v in obj.items() if not isinstance(v, (np.ndarray, Tensor))
              and not is_gpu_array(v)]
    if nested:
        raise CheckpointError(
            f"{where}:{src} is not a model state_dict: entries {nested[:5]} are not arrays. A full "
            f"checkpoint? load it with nn.load(path) and pass e.g. ckpt['model'] to "
            f"model.load_state_dict")


__all__ = ["save", "load", "save_state", "load_state", "map_tensors"]
