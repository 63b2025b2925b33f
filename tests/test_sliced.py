"""method="sliced" and "max-sliced" against POT, closed forms and the 1d method."""

import numpy as np
import ot
import pytest
from scipy.special import gamma

import emdkit


def unit_rows(rng, L, d):
    g = rng.normal(size=(L, d))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def c_d(d):
    return gamma(d / 2) / (np.sqrt(np.pi) * gamma((d + 1) / 2))


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("n,m", [(300, 300), (250, 170)])
def test_matches_pot_with_same_directions(rng, p, n, m):
    # POT's sliced distance is rooted after averaging, like ours; it takes the
    # directions as (d, L). Same directions: the same sorted sums, to rounding.
    x, y = rng.normal(size=(n, 4)), rng.normal(size=(m, 4)) + 0.3
    theta = unit_rows(rng, 60, 4)
    ref = ot.sliced_wasserstein_distance(x, y, p=p, projections=theta.T)
    got = emdkit.distance(x, y, "sliced", p=p, projections=theta)
    assert got == pytest.approx(ref, rel=1e-10)


def test_matches_pot_weighted(rng):
    x, y = rng.normal(size=(200, 3)), rng.normal(size=(150, 3)) + 0.5
    wa, wb = rng.random(200), rng.random(150)
    theta = unit_rows(rng, 40, 3)
    ref = ot.sliced_wasserstein_distance(x, y, wa / wa.sum(), wb / wb.sum(), p=2,
                                         projections=theta.T)
    got = emdkit.distance(x, y, "sliced", p=2, projections=theta, a_weights=wa,
                          b_weights=wb)
    assert got == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_one_dimensional_input_is_exactly_1d(rng, p):
    # In 1-D every direction is +1 or -1 and W_p is the same along both.
    x, y = rng.normal(size=500), rng.exponential(size=300)
    for directions in ("random", "orthogonal"):
        got = emdkit.distance(x, y, "sliced", p=p, seed=0, directions=directions)
        assert got == pytest.approx(emdkit.distance(x, y, "1d", p=p), rel=1e-12)


def test_weights_equal_repeated_samples(rng):
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(25, 3))
    reps = rng.integers(1, 4, size=30)
    theta = unit_rows(rng, 50, 3)
    weighted = emdkit.distance(x, y, "sliced", p=2, projections=theta,
                               a_weights=reps.astype(float))
    repeated = emdkit.distance(np.repeat(x, reps, axis=0), y, "sliced", p=2,
                               projections=theta)
    assert weighted == pytest.approx(repeated, rel=1e-12)


@pytest.mark.parametrize("d", [2, 5, 20])
@pytest.mark.parametrize("directions", ["random", "orthogonal"])
def test_translation_closed_form_within_interval(rng, d, directions):
    # SW_1 of a translation by t is c_d |t| (the mean of |theta . t| over the sphere).
    # The 95% interval must cover it; with 20 (d, directions) cases and fixed seeds,
    # a miss would be a 5% event per case, so the check uses the 99.9% interval.
    x = rng.normal(size=(400, d))
    t = rng.normal(size=d)
    r = emdkit.solve(x, x + t, "sliced", p=1, seed=7, directions=directions,
                     n_projections=400, confidence=0.999)
    lo, hi = r.ci
    truth = c_d(d) * np.linalg.norm(t)
    assert lo <= truth <= hi
    assert r.info["standard_error"] > 0


def test_orthogonal_directions_lower_the_error(rng):
    x = rng.normal(size=(300, 6))
    t = rng.normal(size=6)
    se = {kind: emdkit.solve(x, x + t, "sliced", seed=3, directions=kind,
                             n_projections=300).info["standard_error"]
          for kind in ("random", "orthogonal")}
    assert se["orthogonal"] < 0.5 * se["random"]


def test_seed_reproducible_and_fresh_by_default(rng):
    x, y = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    assert emdkit.distance(x, y, "sliced", seed=5) == emdkit.distance(x, y, "sliced", seed=5)
    assert emdkit.distance(x, y, "sliced", seed=5) != emdkit.distance(x, y, "sliced", seed=6)
    assert emdkit.distance(x, y, "sliced") != emdkit.distance(x, y, "sliced")


def test_sliced_at_most_exact(rng):
    x, y = rng.normal(size=(80, 3)), rng.normal(size=(70, 3)) + 0.5
    assert emdkit.distance(x, y, "sliced", p=2, seed=0) <= emdkit.distance(x, y, p=2)
    assert emdkit.distance(x, y, "max-sliced", p=2, seed=0) <= \
        emdkit.distance(x, y, p=2) * (1 + 1e-12)


def test_user_projections_validated(rng):
    x = rng.normal(size=(10, 3))
    with pytest.raises(ValueError, match=r"projections must have shape \(n_projections, 3\)"):
        emdkit.distance(x, x, "sliced", projections=np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"projections must be unit vectors: row 1 has norm 2"):
        emdkit.distance(x, x, "sliced", projections=[[1, 0, 0], [0, 2, 0]])
    with pytest.raises(ValueError, match=r"projections contains NaN or inf"):
        emdkit.distance(x, x, "sliced", projections=[[np.nan, 0, 0]])


@pytest.mark.parametrize("name,value,match", [
    ("n_projections", 0, "n_projections must be a positive integer"),
    ("directions", "sobol", "directions must be one of 'orthogonal', 'random'"),
    ("confidence", 1.5, "confidence must be a positive finite number below 1"),
])
def test_bad_options(name, value, match):
    with pytest.raises(ValueError, match=match):
        emdkit.distance([[0.0, 1.0]], [[1.0, 0.0]], "sliced", **{name: value})


@pytest.mark.parametrize("p", [1, 2])
def test_max_sliced_translation_is_norm(rng, p):
    x = rng.normal(size=(300, 5))
    t = rng.normal(size=5)
    r = emdkit.solve(x, x + t, "max-sliced", p=p, seed=1)
    assert r.converged and r.value == pytest.approx(np.linalg.norm(t), rel=1e-10)
    direction = r.info["direction"]
    assert abs(direction @ t) == pytest.approx(np.linalg.norm(t), rel=1e-10)
    assert r.info["best_random"] < r.value      # optimisation, not best-of-draws


def test_max_sliced_beats_pot_best_of_draws(rng):
    # POT's max-sliced is the best of its random directions; ours optimises from
    # there, so it is at least as large with the same number of draws.
    x, y = rng.normal(size=(200, 10)), rng.normal(size=(200, 10)) * 1.3
    ours = emdkit.distance(x, y, "max-sliced", p=2, seed=0, n_projections=50)
    pot = ot.max_sliced_wasserstein_distance(x, y, p=2, n_projections=50, seed=0)
    assert ours >= pot - 1e-12


def test_max_sliced_one_dimensional_is_1d(rng):
    x, y = rng.normal(size=100), rng.normal(size=80) + 1
    assert emdkit.distance(x, y, "max-sliced", p=2, seed=0) == pytest.approx(
        emdkit.distance(x, y, "1d", p=2), rel=1e-12)


def test_streaming_memory_is_per_direction(rng):
    # No (n, L) matrix: many directions on a large sample cost no more memory than a
    # few. Checked through tracemalloc on numpy's allocations.
    import tracemalloc

    x = rng.normal(size=(200_000, 3))
    y = rng.normal(size=(200_000, 3))
    emdkit.distance(x[:100], y[:100], "sliced", seed=0)     # compile outside the trace
    peaks = []
    for L in (4, 64):
        tracemalloc.start()
        emdkit.distance(x, y, "sliced", seed=0, n_projections=L)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.5 * peaks[0] + 2 ** 20


@pytest.mark.parametrize("method", ["sliced", "max-sliced"])
def test_metric_other_than_default_rejected(method):
    with pytest.raises(ValueError, match=rf"method='{method}' compares 1-D projections .* "
                                         r"got metric='cityblock'"):
        emdkit.distance([[0.0, 1.0]], [[1.0, 0.0]], method, metric="cityblock")


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0])
def test_max_sliced_one_pass_value_and_gradient_match_the_coupling_formula(rng, p):
    # the numba pass over the monotone coupling (no pow() at p = 1, 2) against the
    # vectorised formula on the coupling's pairs, unequal weights and sizes; the
    # sums differ only in their order (1e-12 relative is far above that rounding)
    from emdkit.kernels.oned import coupling_edges
    from emdkit.solvers.max_sliced import _value_grad
    from emdkit.solvers.oned import cumulative

    x, y = rng.normal(size=(300, 3)), rng.normal(size=(250, 3)) + 0.3
    wa, wb = rng.random(300), rng.random(250)
    wa, wb = wa / wa.sum(), wb / wb.sum()
    theta = rng.normal(size=3)
    theta /= np.linalg.norm(theta)
    value, grad, (oa, ob) = _value_grad(x, y, wa, wb, p, theta)
    px, py = x @ theta, y @ theta
    assert np.array_equal(oa, np.argsort(px, kind="stable"))
    ca, cb = cumulative(wa[oa]), cumulative(wb[ob])
    ii, jj = coupling_edges(ca, cb)
    before_a, before_b = np.r_[0.0, ca[:-1]], np.r_[0.0, cb[:-1]]
    mass = np.maximum(np.minimum(ca[ii], cb[jj]) - np.maximum(before_a[ii], before_b[jj]),
                      0.0)
    i, j = oa[ii], ob[jj]
    delta = px[i] - py[j]
    top = np.abs(delta[mass > 0]).max()
    u = delta / top
    assert value == pytest.approx(top * (mass * np.abs(u) ** p).sum() ** (1 / p),
                                  rel=1e-12)
    ref = (mass * np.abs(u) ** (p - 1) * np.sign(u)) @ (x[i] - y[j])
    np.testing.assert_allclose(grad, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    # a nearby direction's order as the start of the sort gives the same sort
    near = theta + 0.01 * rng.normal(size=3)
    near /= np.linalg.norm(near)
    _, _, (oa2, _) = _value_grad(x, y, wa, wb, p, near, (oa, ob))
    assert np.array_equal(oa2, np.argsort(x @ near, kind="stable"))
