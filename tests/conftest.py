import os
import warnings

import numpy as np
import pytest

from tinygrad_ko.testing import register_profiles

register_profiles()

DATASETS = os.environ.get("TINYGRAD_KO_DATA",
                          os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets"))
if os.path.isdir(DATASETS):  # the examples' loaders look here too (they read the variable)
    DATASETS = os.path.abspath(DATASETS)
    os.environ.setdefault("TINYGRAD_KO_DATA", DATASETS)


@pytest.fixture(autouse=True)
def _no_numpy_warnings():
    """Any NumPy RuntimeWarning (overflow, invalid value...) inside a test is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def use_native_tracebacks(request):
    """pytest formats a long traceback for every failed test, xfail ones included (not shown),
    re-parsing a big test file for each frame: ~0.1 s per known-bug test here. Python's own
    (native) tracebacks are cheap. Modules opt in with
    ``pytest.fixture(scope="module", autouse=True)(use_native_tracebacks)``; --tb still wins."""
    option = request.config.option
    old = getattr(option, "tbstyle", "auto")
    if old == "auto":
        option.tbstyle = "native"
    yield
    option.tbstyle = old


class NumpySampler:
    """A deterministic Sampler (registry.Sampler) on NumPy's generator, without hypothesis: for
    tests that need fixed cases (whatever the hypothesis profile) or samples at collection time."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def shape(self, min_dims=0, max_dims=3, min_side=1, max_side=4):
        return tuple(int(self.rng.integers(min_side, max_side + 1))
                     for _ in range(int(self.rng.integers(min_dims, max_dims + 1))))

    def broadcastable_shapes(self, n, min_dims=0, max_dims=3, max_side=4):
        base = self.shape(min_dims, max_dims, 1, max_side)
        return [tuple(1 if self.rng.random() < 0.3 else d for d in base[int(self.rng.integers(
            0, len(base) + 1)):]) for _ in range(n)]

    def array(self, shape, low=-2.0, high=2.0, avoid=(), distinct=False):
        a = self.rng.uniform(low, high, size=shape)
        for k in avoid:                      # keep away from kinks and poles, as testing.py does
            a = np.where(np.abs(a - k) < 0.1, k + 0.1, a)
        return a

    def arrays(self, shapes_, low=-2.0, high=2.0, avoid=(), distinct=False):
        return [self.array(s, low, high, avoid) for s in shapes_]

    def integers(self, low, high):
        return int(self.rng.integers(low, high + 1))

    def floats(self, low, high):
        return float(self.rng.uniform(low, high))

    def boolean(self):
        return bool(self.rng.integers(0, 2))

    def choice(self, options):
        return options[int(self.rng.integers(0, len(options)))]

    def axis(self, ndim, allow_none=True, allow_tuple=True):
        return None if ndim == 0 else int(self.rng.integers(-ndim, ndim))

    def permutation(self, n):
        return tuple(int(i) for i in self.rng.permutation(n))
