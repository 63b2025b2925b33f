"""Invariants of W_p, as hypothesis properties."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import emdkit

finite = st.floats(-100, 100, allow_nan=False, allow_infinity=False, width=64)
ps = st.sampled_from([1.0, 1.5, 2.0, 3.0])


@st.composite
def clouds(draw, d=None, max_n=12):
    d = d or draw(st.integers(1, 3))
    n = draw(st.integers(1, max_n))
    m = draw(st.integers(1, max_n))
    a = draw(arrays(np.float64, (n, d), elements=finite))
    b = draw(arrays(np.float64, (m, d), elements=finite))
    return a, b


positive_weights = st.floats(0.01, 10.0)


def close(x, y, scale, p):
    # The network simplex is exact up to a tolerance that is absolute on the cost
    # matrix, which emdkit normalises to order one: W_p^p is right to about 1e-14
    # times the largest cost (scale^p here, scale the largest |coordinate|). So the
    # comparison is on W_p^p with 1e-12 * scale^p; on W_p itself that allows
    # (1e-12)^(1/p) * scale, which only matters where W_p is tiny against the data.
    return abs(x ** p - y ** p) <= 1e-12 * float(scale) ** p + 1e-300


@given(clouds(), ps)
def test_symmetry(ab, p):
    a, b = ab
    scale = np.abs(np.concatenate([a.ravel(), b.ravel()])).max()
    assert close(emdkit.distance(a, b, p=p), emdkit.distance(b, a, p=p), scale, p)


@given(clouds(), ps)
def test_self_distance_is_zero(ab, p):
    # The 1-D closed form pairs equal points exactly: 0.0. The LP is zero up to its
    # tolerance (see close()).
    a, _ = ab
    assert close(emdkit.distance(a, a, p=p), 0.0, np.abs(a).max(), p)
    assert emdkit.distance(a[:, :1], a[::-1, :1], p=p, method="1d") == 0.0


@given(clouds(d=2), ps, arrays(np.float64, (2,), elements=st.floats(-50, 50)))
def test_translation(ab, p, t):
    # W_p(a + t, b + t) = W_p(a, b) and W_p(a, a + t) = |t|.
    a, b = ab
    scale = np.abs(np.concatenate([a.ravel(), b.ravel()])).max() + np.abs(t).max()
    assert close(emdkit.distance(a + t, b + t, p=p), emdkit.distance(a, b, p=p), scale, p)
    assert close(emdkit.distance(a, a + t, p=p), float(np.hypot(*t)), scale, p)


@given(clouds(), ps, st.floats(-20, 20).filter(lambda s: abs(s) > 1e-3))
def test_scaling_multiplies_by_abs_s(ab, p, s):
    a, b = ab
    scale = np.abs(np.concatenate([a.ravel(), b.ravel()])).max() * max(1.0, abs(s))
    assert close(emdkit.distance(s * a, s * b, p=p), abs(s) * emdkit.distance(a, b, p=p),
                 scale, p)


@given(clouds(max_n=6), ps, st.data())
def test_weights_equal_repeated_samples(ab, p, data):
    a, b = ab
    reps = np.array(data.draw(st.lists(st.integers(1, 4), min_size=len(a),
                                       max_size=len(a))))
    scale = np.abs(np.concatenate([a.ravel(), b.ravel()])).max()
    weighted = emdkit.distance(a, b, p=p, a_weights=reps.astype(float))
    repeated = emdkit.distance(np.repeat(a, reps, axis=0), b, p=p)
    assert close(weighted, repeated, scale, p)


@given(clouds(d=1, max_n=30), ps, st.booleans(), st.data())
def test_exact_equals_1d_on_1d_input(ab, p, weighted, data):
    a, b = ab
    kw = {}
    if weighted:
        kw["a_weights"] = data.draw(arrays(np.float64, (len(a),), elements=positive_weights))
        kw["b_weights"] = data.draw(arrays(np.float64, (len(b),), elements=positive_weights))
    scale = np.abs(np.concatenate([a.ravel(), b.ravel()])).max()
    assert close(emdkit.distance(a, b, method="1d", p=p, **kw),
                 emdkit.distance(a, b, method="exact", p=p, **kw), scale, p)


@given(clouds(d=2, max_n=8), st.sampled_from(["euclidean", "cityblock", "chebyshev"]))
def test_triangle_inequality(ab, metric):
    # W_p is a metric: W(a, b) <= W(a, c) + W(c, b) with c the midpoint cloud.
    a, b = ab
    c = (a[:1] + b[:1]) / 2 + np.zeros_like(a[:3])
    scale = np.abs(np.concatenate([a.ravel(), b.ravel()])).max()
    d_ab = emdkit.distance(a, b, p=2, metric=metric)
    d_ac = emdkit.distance(a, c, p=2, metric=metric)
    d_cb = emdkit.distance(c, b, p=2, metric=metric)
    assert d_ab <= d_ac + d_cb + 1e-6 * scale   # (1e-12)^(1/2): see close()


@given(clouds(d=1, max_n=40), st.floats(1.0, 6.0))
def test_1d_nondecreasing_in_p(ab, p):
    # For probability measures W_p is non-decreasing in p (Jensen).
    a, b = ab
    scale = np.abs(np.concatenate([a.ravel(), b.ravel()])).max()
    lo = emdkit.distance(a, b, method="1d", p=p)
    hi = emdkit.distance(a, b, method="1d", p=p + 0.5)
    assert lo <= hi * (1 + 1e-12)   # closed form: rounding only
