"""The numba kernels on their own: the radix sort against np.sort."""

import numpy as np
import pytest

from emdkit.kernels.sort import radix_sort, radix_sort_with


def datasets(rng):
    n = 20_000
    yield "normal", rng.normal(size=n)
    yield "uniform", rng.uniform(size=n)
    yield "ties", rng.integers(-5, 5, size=n).astype(float)
    yield "constant", np.full(n, 3.25)
    yield "negative", -rng.exponential(size=n)
    yield "wide", rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, size=n)
    yield "subnormal", rng.normal(size=n) * 1e-310
    yield "extremes", np.array([1.7e308, -1.7e308, 5e-324, -5e-324, 0.0, 1.0, -1.0] * 9)
    yield "sorted", np.arange(n, dtype=float)
    yield "reversed", np.arange(n, dtype=float)[::-1].copy()
    yield "single", np.array([2.0])


def test_radix_sort_equals_np_sort(rng):
    for name, x in datasets(rng):
        np.testing.assert_array_equal(radix_sort(x), np.sort(x), err_msg=name)


def test_radix_sort_with_payload_is_stable(rng):
    for name, x in datasets(rng):
        w = rng.random(x.shape[0])
        xs, ws = radix_sort_with(x, w)
        order = np.argsort(x, kind="stable")
        np.testing.assert_array_equal(xs, x[order], err_msg=name)
        np.testing.assert_array_equal(ws, w[order], err_msg=name)


def test_negative_zero_sorts_first():
    # -0.0 and +0.0 are equal as numbers; the radix order puts -0.0 first, which
    # changes no distance.
    out = radix_sort(np.array([0.0, -0.0, 0.0, -0.0]))
    assert np.array_equal(np.signbit(out), [True, True, False, False])


def test_input_untouched(rng):
    x = rng.normal(size=5000)
    x0 = x.copy()
    radix_sort(x)
    radix_sort_with(x, np.ones_like(x))
    np.testing.assert_array_equal(x, x0)
