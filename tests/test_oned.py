"""method="1d" against SciPy, POT, the exact LP and closed forms."""

import numpy as np
import ot
import pytest
from scipy import stats

import emdkit


@pytest.mark.parametrize("n,m", [(50, 50), (37, 61), (1, 9), (200, 3)])
def test_matches_scipy_p1(rng, n, m):
    # SciPy's wasserstein_distance is W_1 (its p != 1 CDF distance is not W_p).
    # Both sum O(n + m) float64 terms in different orders: 1e-12 relative.
    x, y = rng.normal(size=n), rng.exponential(size=m)
    wa, wb = rng.random(n), rng.random(m)
    assert emdkit.distance(x, y, method="1d") == pytest.approx(
        stats.wasserstein_distance(x, y), rel=1e-12)
    assert emdkit.distance(x, y, method="1d", a_weights=wa, b_weights=wb) == pytest.approx(
        stats.wasserstein_distance(x, y, wa, wb), rel=1e-12)


@pytest.mark.parametrize("p", [1, 1.5, 2, 3, 7.25])
def test_matches_pot_wasserstein_1d(rng, p):
    # POT's wasserstein_1d returns W_p^p: take the p-th root.
    x, y = rng.normal(size=70), rng.normal(size=45) * 2
    wa, wb = rng.random(70), rng.random(45)
    ref = ot.wasserstein_1d(x, y, wa / wa.sum(), wb / wb.sum(), p=p) ** (1 / p)
    got = emdkit.distance(x, y, method="1d", p=p, a_weights=wa, b_weights=wb)
    assert got == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("p", [1, 2, 2.5])
def test_matches_exact(rng, p):
    # The LP on 1-D samples solves the same problem: agreement to rounding.
    x, y = rng.normal(size=40), rng.normal(size=25) + 0.3
    wa, wb = rng.random(40), rng.random(25)
    kw = dict(p=p, a_weights=wa, b_weights=wb)
    assert emdkit.distance(x, y, method="1d", **kw) == pytest.approx(
        emdkit.distance(x, y, method="exact", **kw), rel=1e-10)


def test_shapes_n_and_n_by_1(rng):
    x, y = rng.normal(size=30), rng.normal(size=20)
    v = emdkit.distance(x, y, method="1d", p=2)
    assert emdkit.distance(x[:, None], y[:, None], method="1d", p=2) == v
    assert emdkit.distance(x.tolist(), y[:, None], method="1d", p=2) == v


def test_rejects_multidimensional(rng):
    with pytest.raises(ValueError, match=r"method='1d' needs 1-D samples, got samples of "
                                         r"dimension d=2"):
        emdkit.distance(rng.normal(size=(5, 2)), rng.normal(size=(5, 2)), method="1d")


def test_rejects_callable_metric():
    with pytest.raises(ValueError, match=r"method='1d' .* takes no callable metric"):
        emdkit.distance([0.0], [1.0], method="1d", metric=lambda x, y: abs(x - y.T))


def test_ties(rng):
    # Heavy ties: integers 0..4. Against the LP and against the CDF formula.
    x = rng.integers(0, 5, size=300).astype(float)
    y = rng.integers(1, 6, size=200).astype(float)
    assert emdkit.distance(x, y, method="1d") == pytest.approx(
        emdkit.distance(x, y, method="exact"), rel=1e-12)
    grid = np.arange(0, 6)
    F = np.array([(x <= t).mean() for t in grid])
    G = np.array([(y <= t).mean() for t in grid])
    assert emdkit.distance(x, y, method="1d") == pytest.approx(np.abs(F - G)[:-1].sum(),
                                                                rel=1e-12)


def test_zero_weights(rng):
    x, y = rng.normal(size=20), rng.normal(size=15)
    wa = rng.random(20)
    wa[[0, 5, 19]] = 0.0
    wa_sorted_first = wa.copy()
    got = emdkit.distance(x, y, method="1d", p=2, a_weights=wa)
    keep = wa_sorted_first > 0
    ref = emdkit.distance(x[keep], y, method="1d", p=2, a_weights=wa[keep])
    assert got == pytest.approx(ref, rel=1e-12)
    # a zero weight on the extreme point must not pull mass to it
    x2 = np.append(x, 1e6)
    wa2 = np.append(wa, 0.0)
    assert emdkit.distance(x2, y, method="1d", p=2, a_weights=wa2) == pytest.approx(
        got, rel=1e-12)


def test_translation_and_single_points(rng):
    x = rng.normal(size=1000)
    for p in (1, 2, 4.5):
        assert emdkit.distance(x, x + 2.5, method="1d", p=p) == pytest.approx(2.5, rel=1e-12)
    assert emdkit.distance([3.0], [-1.0], method="1d", p=3) == pytest.approx(4.0, rel=1e-15)


def test_large_unequal_sizes_match_scipy(rng):
    x, y = rng.normal(size=100_000), rng.normal(size=77_777) * 1.1
    assert emdkit.distance(x, y, method="1d") == pytest.approx(
        stats.wasserstein_distance(x, y), rel=1e-9)


@pytest.mark.parametrize("p", [1.5, 2, 3])
def test_distances_far_below_the_span_do_not_underflow(p):
    """Points 1e-300 apart in data of size 1: ``(d / span) ** p`` underflows to 0 for
    every p > 1 (hypothesis found W_1.5 = 0.0), so the costs are divided by the
    largest distance moved. Closed form: half the mass moves 1e-300, W_p =
    0.5 ** (1/p) * 1e-300; rounding only (a few ulps)."""
    torch = pytest.importorskip("torch", reason="the torch path is checked as well")
    a, b = np.array([0.0, 1.0]), np.array([1e-300, 1.0])
    want = 0.5 ** (1 / p) * 1e-300
    for value in (emdkit.distance(a, b, "1d", p=p),
                  emdkit.distance(a, b, "1d", p=p, a_weights=[0.5, 0.5]),
                  emdkit.distance(a, b, "sliced", p=p, seed=0),
                  emdkit.pairwise([a, b], "1d", p=p)[0, 1],
                  float(emdkit.distance(torch.tensor(a), torch.tensor(b), "1d", p=p))):
        assert value == pytest.approx(want, rel=1e-14, abs=0.0)


def test_unit_quantile_closed_form():
    # Uniform grids on [0, 1] and [0, 2] (midpoints): the quantile functions are
    # t and 2t at the midpoints, so W_p^p = mean |t_i|^p over midpoints exactly.
    n = 1000
    t = (np.arange(n) + 0.5) / n
    for p in (1, 2, 3):
        assert emdkit.distance(t, 2 * t, method="1d", p=p) == pytest.approx(
            np.mean(t ** p) ** (1 / p), rel=1e-12)


@pytest.mark.parametrize("n,m", [(5000, 5000), (100_000, 100_000), (60_000, 9_000)])
def test_large_weighted_match_scipy_and_pot(rng, n, m):
    # Sizes that take the radix-sort and two-thread paths.
    x, y = rng.standard_t(3, size=n), rng.normal(size=m)
    wa, wb = rng.random(n), rng.random(m)
    assert emdkit.distance(x, y, method="1d", a_weights=wa, b_weights=wb) == pytest.approx(
        stats.wasserstein_distance(x, y, wa, wb), rel=1e-9)
    ref2 = ot.wasserstein_1d(x, y, wa / wa.sum(), wb / wb.sum(), p=2) ** 0.5
    assert emdkit.distance(x, y, method="1d", p=2, a_weights=wa, b_weights=wb) == \
        pytest.approx(ref2, rel=1e-9)
    assert emdkit.distance(x, y, method="1d", p=2) == pytest.approx(
        ot.wasserstein_1d(x, y, p=2) ** 0.5, rel=1e-9)


def _child_distance(queue):
    rng = np.random.default_rng(3)
    x = rng.normal(size=100_000)
    queue.put(emdkit.distance(x, x + 1.0, method="1d"))


def test_works_in_forked_child_after_parent_used_threads(rng):
    # The parent's sorting thread does not survive fork(); the child must not wait on
    # it forever.
    import multiprocessing as mp

    x = rng.normal(size=100_000)
    assert emdkit.distance(x, x + 2.0, method="1d") == pytest.approx(2.0, rel=1e-12)
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("fork start method not available on this platform")
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_distance, args=(queue,))
    proc.start()
    proc.join(timeout=60)
    if proc.is_alive():
        proc.kill()
        pytest.fail("1d distance hung in a forked child")
    assert queue.get(timeout=5) == pytest.approx(1.0, rel=1e-12)
