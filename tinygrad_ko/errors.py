"""The exceptions tinygrad_ko raises.

Every error the library raises on bad input is a ``TinygradError``. Each one also derives from the
built-in exception a Python user would expect (``ValueError`` for bad shapes, ``TypeError`` for bad
dtypes, ``IndexError`` for bad indices, ``RuntimeError`` for graph misuse), so ``except ValueError``
keeps working.
"""
from __future__ import annotations


class TinygradError(Exception):
    """Base class of every error raised by tinygrad_ko."""


class OpError(TinygradError, ValueError):
    """An op was called with arguments it cannot work with."""


class ShapeError(OpError):
    """Shapes do not fit: broadcasting, matmul, reshape, a layer's expected input..."""


class AxisError(ShapeError, IndexError):
    """An axis is out of range for the tensor's number of dimensions."""


class IndexOutOfRangeError(TinygradError, IndexError):
    """An index is out of bounds for the axis it indexes."""


class UsageError(TinygradError, TypeError):
    """An API was called the wrong way: an argument of the wrong kind, or two that conflict."""


class DTypeError(TinygradError, TypeError):
    """A dtype is not allowed here (e.g. an integer tensor that should require grad)."""


class GraphError(TinygradError, RuntimeError):
    """The computation graph was misused: backward twice through a freed graph, a tensor saved
    for backward modified in place, backward on a tensor that does not require grad..."""


class AnomalyError(TinygradError, FloatingPointError):
    """Raised inside ``detect_anomaly()`` when an op produces nan or inf."""


class GradcheckError(TinygradError, AssertionError):
    """Backprop disagrees with the numerical gradient (or the check could not be run)."""


class CheckpointError(TinygradError, ValueError):
    """A checkpoint file is missing, truncated, corrupted, not an .npz, or from another model."""


class DataError(TinygradError, OSError):
    """A dataset file is missing, truncated, corrupted or has the wrong checksum."""


class DeviceError(TinygradError, RuntimeError):
    """A device was asked for that is not available here (tinygrad_ko runs on the CPU: 'cuda',
    'mps'... raise this), or a device string is malformed."""


__all__ = [
    "TinygradError", "OpError", "ShapeError", "AxisError", "IndexOutOfRangeError", "DTypeError",
    "UsageError",
    "GraphError", "AnomalyError", "GradcheckError", "CheckpointError", "DataError",
    "DeviceError",
]
