import os

import numpy as np
import pytest
from hypothesis import settings

# numba compiles on first use; a deadline would time that, not the property.
settings.register_profile("emdkit", deadline=None, max_examples=60)
settings.register_profile("ci", deadline=None, max_examples=60, derandomize=True)
# CI also runs the property tests randomised, with a larger budget, under fixed seeds
# (.ci/run: EMDKIT_HYPOTHESIS=fuzz and --hypothesis-seed), so that what only a random
# profile finds (a subnormal sample in 1d) is found there too, reproducibly
settings.register_profile("fuzz", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("EMDKIT_HYPOTHESIS")
                      or ("ci" if os.environ.get("CI") else "emdkit"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
