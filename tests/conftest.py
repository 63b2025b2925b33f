import os

import numpy as np
import pytest
from hypothesis import settings

# numba compiles on first use; a deadline would time that, not the property.
settings.register_profile("emdkit", deadline=None, max_examples=60)
settings.register_profile("ci", deadline=None, max_examples=60, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "emdkit")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
