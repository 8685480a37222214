import os
import warnings

import numpy as np
import pytest

from tinygrad_ko.testing import register_profiles

register_profiles()

DATASETS = os.environ.get("TINYGRAD_KO_DATA",
                          os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets"))


@pytest.fixture(autouse=True)
def _no_numpy_warnings():
    """Any NumPy RuntimeWarning (overflow, invalid value...) inside a test is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)
