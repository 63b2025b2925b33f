"""method="exact" against POT, closed forms and brute force."""

import itertools
import warnings

import numpy as np
import ot
import pytest

import emdkit


def pot_wp(x, y, p, wa=None, wb=None, metric="euclidean"):
    """Independent reference: POT's emd2 returns W_p^p for cost dist ** p; root it."""
    wa = np.full(len(x), 1 / len(x)) if wa is None else wa / wa.sum()
    wb = np.full(len(y), 1 / len(y)) if wb is None else wb / wb.sum()
    M = ot.dist(x, y, metric=metric) ** p
    return ot.emd2(wa, wb, M, numItermax=10**7) ** (1 / p)


@pytest.mark.parametrize("p", [1, 1.5, 2, 3])
@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "chebyshev"])
def test_matches_pot(rng, p, metric):
    # Same LP, so only the final sum and root differ: 1e-12 relative is rounding.
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(30, 3)) + 0.5
    wa, wb = rng.random(40), rng.random(30)
    got = emdkit.distance(x, y, p=p, metric=metric, a_weights=wa, b_weights=wb)
    assert got == pytest.approx(pot_wp(x, y, p, wa, wb, metric), rel=1e-12)


def test_callable_metric_matches_named(rng):
    from scipy.spatial.distance import cdist

    x, y = rng.normal(size=(20, 2)), rng.normal(size=(25, 2))
    got = emdkit.distance(x, y, p=2, metric=lambda u, v: cdist(u, v, "cityblock"))
    assert got == pytest.approx(emdkit.distance(x, y, p=2, metric="cityblock"), rel=1e-14)


def test_callable_metric_checked():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"must return the \(3, 3\) distance matrix, got "
                                         r"shape \(3,\)"):
        emdkit.distance(x, x, metric=lambda u, v: np.zeros(3))
    with pytest.raises(ValueError, match=r"returned negative distances"):
        emdkit.distance(x, x, metric=lambda u, v: -np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"returned NaN or inf"):
        emdkit.distance(x, x, metric=lambda u, v: np.full((3, 3), np.nan))


@pytest.mark.parametrize("p", [1, 2, 3.5])
def test_translation_closed_form(rng, p):
    # W_p(mu, mu + t) = |t| for every p: the plan is the identity shift.
    x = rng.normal(size=(60, 4))
    t = np.array([0.3, -1.2, 2.0, 0.1])
    assert emdkit.distance(x, x + t, p=p) == pytest.approx(np.linalg.norm(t), rel=1e-12)


def test_scaling_closed_form(rng):
    # Scaling about the origin by s: W_1 = |1-s| mean|x|, W_2 = |1-s| sqrt(mean |x|^2).
    x = rng.normal(size=(80, 3))
    s = 1.7
    norms = np.linalg.norm(x, axis=1)
    assert emdkit.distance(x, s * x, p=1) == pytest.approx(0.7 * norms.mean(), rel=1e-12)
    assert emdkit.distance(x, s * x, p=2) == pytest.approx(
        0.7 * np.sqrt((norms ** 2).mean()), rel=1e-12)


@pytest.mark.parametrize("p", [1, 2, 1.3])
def test_brute_force_permutations(rng, p):
    # Equal sizes, uniform weights: an optimal plan is a permutation (Birkhoff).
    for _ in range(5):
        x, y = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
        C = np.linalg.norm(x[:, None] - y[None], axis=2) ** p
        best = min(C[range(6), list(perm)].mean() for perm in itertools.permutations(range(6)))
        assert emdkit.distance(x, y, p=p) == pytest.approx(best ** (1 / p), rel=1e-12)


def test_plan_and_potentials(rng):
    x, y = rng.normal(size=(15, 2)), rng.normal(size=(10, 2))
    wa, wb = rng.random(15), rng.random(10)
    r = emdkit.solve(x, y, p=2, a_weights=wa, b_weights=wb)
    C = np.linalg.norm(x[:, None] - y[None], axis=2) ** 2
    np.testing.assert_allclose(r.plan.sum(1), wa / wa.sum(), atol=1e-14)
    np.testing.assert_allclose(r.plan.sum(0), wb / wb.sum(), atol=1e-14)
    f, g = r.potentials
    # dual feasibility and strong duality
    assert (f[:, None] + g[None] <= C + 1e-12).all()
    dual = f @ (wa / wa.sum()) + g @ (wb / wb.sum())
    assert dual == pytest.approx(r.cost, rel=1e-12)
    assert r.cost == pytest.approx((r.plan * C).sum(), rel=1e-14)


def test_zero_weights(rng):
    # Points of zero weight do not change the distance.
    x, y = rng.normal(size=(10, 2)), rng.normal(size=(8, 2))
    wa = rng.random(10)
    wa[[1, 4]] = 0
    got = emdkit.distance(x, y, a_weights=wa)
    ref = emdkit.distance(np.delete(x, [1, 4], axis=0), y, a_weights=np.delete(wa, [1, 4]))
    assert got == pytest.approx(ref, rel=1e-12)


def test_identical_is_zero(rng):
    x = rng.normal(size=(30, 3))
    assert emdkit.distance(x, x, p=2) == 0.0


def test_non_convergence_warns(rng):
    x, y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    with pytest.warns(RuntimeWarning, match=r"'exact' did not converge.*max_iter=10"):
        r = emdkit.solve(x, y, max_iter=10)
    assert r.converged is False
    assert r.info["result_code"] == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert emdkit.solve(x, y).converged is True


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "100"])
def test_bad_max_iter(bad):
    with pytest.raises(ValueError, match=r"max_iter must be a positive integer, got"):
        emdkit.distance([0.0], [1.0], max_iter=bad)


def test_too_large_raises_before_allocating():
    x = np.zeros((5000, 2))
    with pytest.raises(emdkit.ProblemTooLargeError,
                       match=r"method='exact' needs about 953.7 MiB .*5000 x 5000.*only "
                             r"1.0 MiB.*'1d'"):
        emdkit.distance(x, x, memory_limit=2 ** 20, backend="dense")
    assert issubclass(emdkit.ProblemTooLargeError, MemoryError)


def test_too_large_for_dense_goes_multiscale():
    """backend='auto' takes the multiscale solver where the dense matrices would not
    fit (here a 1 MiB limit): no error, the exact value (coincident clouds: 0)."""
    x = np.random.default_rng(0).normal(size=(3000, 2))
    r = emdkit.solve(x, x, memory_limit=2 ** 20)
    assert r.info["backend"] == "multiscale"
    assert r.value == 0.0 and r.converged


@pytest.mark.parametrize("bad", [0, -1.0, "1GB", True])
def test_bad_memory_limit(bad):
    with pytest.raises(ValueError, match=r"memory_limit must be a positive finite number"):
        emdkit.distance([0.0], [1.0], memory_limit=bad)


def test_too_large_by_default():
    # 10^6 x 10^6 float64 matrices need 16 TB: dense refuses before any allocation
    # (backend='auto' solves it multiscale: tests/test_exact_multiscale.py).
    x = np.zeros((10 ** 6, 2))
    with pytest.raises(emdkit.ProblemTooLargeError, match=r"needs about 36.4 TiB"):
        emdkit.distance(x, x, backend="dense")


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e-30, 1e-12, 1.0, 1e12, 1e160, 1e300])
def test_units_do_not_matter(rng, scale):
    # POT's emd2 alone is wrong by 160% when every cost is 1e-30 (its tolerance is
    # absolute); emdkit rescales by a power of two, exact, so W(s a, s b) = s W(a, b)
    # to rounding at any scale, including where |x|^2 over/underflows.
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(25, 2)) + 1
    for p in (1, 2, 3):
        ref = emdkit.distance(x, y, p=p)
        assert emdkit.distance(scale * x, scale * y, p=p) == pytest.approx(scale * ref,
                                                                          rel=1e-12)
        assert emdkit.distance(scale * x[:, 0], scale * y[:, 0], method="1d", p=p) == \
            pytest.approx(scale * emdkit.distance(x[:, 0], y[:, 0], method="1d", p=p),
                          rel=1e-12)


def test_values_near_float64_limit():
    # W_2 between {+-1.5e308} and {+-0.75e308}: 0.75e308, finite, though W_2^2 is inf.
    x = np.array([1.5e308, -1.5e308])
    for method in ("exact", "1d"):
        r = emdkit.solve(x, 0.5 * x, method=method, p=2)
        assert r.value == pytest.approx(0.75e308, rel=1e-12)
        assert r.cost == np.inf


# --- the network simplex called on the bins with mass, and its one-pass bracket ------

def _histograms(rng, n, m, zeros_a=(), zeros_b=()):
    a, b = rng.random(n), rng.random(m)
    a[list(zeros_a)], b[list(zeros_b)] = 0.0, 0.0
    return a / a.sum(), b / b.sum(), rng.random((n, m)) * 1.7


@pytest.mark.parametrize("zeros_a,zeros_b", [((), ()), ((0, 5), ()), ((), (3,)),
                                             ((1, 2, 9), (0, 4, 7))])
def test_network_simplex_against_ot_emd(rng, zeros_a, zeros_b):
    from emdkit.solvers._simplex import _through_ot, network_simplex

    a, b, M = _histograms(rng, 12, 10, zeros_a, zeros_b)
    plan, (ii, jj, mass), f, g, code, message = network_simplex(a, b, M, 100000)
    assert code == 1 and message is None
    # same LP value as POT's wrapper (the same solver: rounding only)
    assert float((plan * M).sum()) == pytest.approx(ot.emd2(a, b, M), rel=1e-13)
    np.testing.assert_allclose(plan.sum(1), a, atol=1e-15)
    np.testing.assert_allclose(plan.sum(0), b, atol=1e-15)
    # the support is the plan's positive entries
    assert np.array_equal(np.sort(np.ravel_multi_index((ii, jj), M.shape)),
                          np.flatnonzero(plan > 0))
    np.testing.assert_array_equal(plan[ii, jj], mass)
    # dual feasible on every pair, empty bins included, and optimal (strong duality)
    assert (f[:, None] + g[None, :] <= M + 1e-12).all()
    assert a @ f + b @ g == pytest.approx(ot.emd2(a, b, M), rel=1e-12)
    other = _through_ot(a, b, M, 100000)
    assert float((other[0] * M).sum()) == pytest.approx(float((plan * M).sum()), rel=1e-13)


def test_vertex_bracket_contains_the_lp_value_and_is_tight(rng):
    from emdkit.bounds import plan_bracket, vertex_bracket
    from emdkit.solvers._simplex import network_simplex

    for trial in range(20):
        a, b, M = _histograms(rng, 15, 11, zeros_a=(trial % 15,), zeros_b=(trial % 11,))
        plan, support, f, g, _, _ = network_simplex(a, b, M, 100000)
        value = ot.emd2(a, b, M)
        lo, hi = vertex_bracket(M, a, b, support, f, 1.0, 1.0)
        assert lo <= value <= hi
        assert hi - lo <= 1e-12 * value
        dense = plan_bracket(M, a, b, plan, f, 1.0, 1.0)      # the general bracket
        assert lo >= dense[0] - 1e-12 * value and hi <= dense[1] + 1e-12 * value


def test_vertex_bracket_upper_end_holds_for_any_plan(rng):
    # a plan off the marginals (here: the LP plan perturbed) is rounded onto them
    from emdkit.bounds import vertex_bracket
    from emdkit.solvers._simplex import network_simplex

    a, b, M = _histograms(rng, 9, 8)
    plan, (ii, jj, mass), f, _, _, _ = network_simplex(a, b, M, 100000)
    bent = mass * (1 + 0.2 * rng.random(mass.shape[0]))
    lo, hi = vertex_bracket(M, a, b, (ii, jj, bent), f, 1.0, 1.0)
    assert hi >= ot.emd2(a, b, M) >= lo


def test_column_ctransform_against_numpy(rng):
    from emdkit.kernels.ctransform import column_ctransform

    C, f = rng.random((7, 5)), rng.normal(size=7)
    live = np.array([True, False, True, True, False, True, True])
    g, cmax = column_ctransform(C, f, live)
    np.testing.assert_array_equal(g, (C[live] - f[live][:, None]).min(0))
    assert cmax == C.max()


@pytest.mark.parametrize("p", [1, 2])
def test_the_callers_cost_matrix_is_never_modified(rng, p):
    a, b, M = _histograms(rng, 6, 5, zeros_a=(2,))
    M[0, 0] = 1.5                     # entries in [1, 2): nothing to rescale at p = 1
    before = M.copy()
    emdkit.distance(a, b, cost=M, p=p)
    emdkit.distance(a, b, "sinkhorn", cost=M, p=p)
    np.testing.assert_array_equal(M, before)
