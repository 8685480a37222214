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
