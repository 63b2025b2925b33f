"""``method="exact", backend="multiscale"`` against POT's dense network simplex.

Tolerances: both solve the same LP exactly, so the values agree to rounding (1e-12
relative: the sums of up to ~10^4 products, and the multiscale solver's costs come
from the cell tree's arithmetic, a few units of roundoff from ``cdist``'s). The
certified bracket must contain POT's value (less its own rounding, 1e-12) and be at
most 1e-9 wide (the issue's target; measured 1e-12 to 1.2e-10 on these problems).
Problems of 2,100 + 2,100 points or more go through the sparse path (above
``DENSE_PAIRS``, lowered here where smaller problems are meant to take it).
"""

import numpy as np
import ot
import pytest
from scipy.spatial.distance import cdist

import emdkit
from emdkit.solvers import multiscale_exact as me

REL = 1e-12


def _pot(x, y, a, b, metric, p):
    a, b = a / a.sum(), b / b.sum()
    return ot.emd2(a, b, cdist(x, y, metric) ** p, numItermax=10 ** 8) ** (1.0 / p)


def _check(r, ref, a, b):
    assert r.info["backend"] == "multiscale"
    assert r.value == pytest.approx(ref, rel=REL)
    lo, hi = r.bounds
    assert lo <= ref * (1 + REL) and hi >= ref * (1 - REL)
    assert r.info["bracket_width"] <= 1e-9
    assert r.converged
    # the plan is a coupling of the weights (to rounding), with at most n + m - 1
    # pairs per merged point pair (a vertex), and its cost is the value
    P = r.plan
    np.testing.assert_allclose(np.asarray(P.sum(1)).ravel(), a / a.sum(), atol=1e-15)
    np.testing.assert_allclose(np.asarray(P.sum(0)).ravel(), b / b.sum(), atol=1e-15)


@pytest.fixture
def sparse_path(monkeypatch):
    """Small problems through the candidates and the pricing, not the dense LP."""
    monkeypatch.setattr(me, "DENSE_PAIRS", 2000)


@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "chebyshev"])
@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0])
def test_agrees_with_pot(rng, sparse_path, metric, p):
    n, m = 400, 330
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2)) * 1.2 + 0.3
    a, b = rng.random(n), rng.random(m)
    a[rng.random(n) < 0.3] = 0.0                # zero weights: points dropped
    r = emdkit.solve(x, y, a_weights=a, b_weights=b, metric=metric, p=p,
                     backend="multiscale")
    _check(r, _pot(x, y, a, b, metric, p), a, b)


@pytest.mark.parametrize("d", [1, 3, 5])
def test_dimensions(rng, sparse_path, d):
    x, y = rng.normal(size=(300, d)), rng.normal(size=(280, d)) + 0.5
    a, b = np.ones(300), np.ones(280)
    r = emdkit.solve(x, y, p=2, backend="multiscale")
    _check(r, _pot(x, y, a, b, "euclidean", 2), a, b)


def test_duplicates_and_clusters(rng, sparse_path):
    """Repeated points (rounded coordinates) are merged and the plan split back."""
    x = np.round(rng.normal(size=(500, 2)), 1)
    y = np.round(rng.normal(size=(450, 2)) + 0.2, 1)
    a, b = rng.random(500), np.ones(450)
    for p in (1.0, 2.0):
        r = emdkit.solve(x, y, a_weights=a, p=p, backend="multiscale")
        _check(r, _pot(x, y, a, b, "euclidean", p), a, b)


def test_coincident_and_translated(rng, sparse_path):
    x = rng.normal(size=(800, 2))
    r = emdkit.solve(x, x, backend="multiscale")
    assert r.value == 0.0 and r.converged
    t = np.array([0.3, 0.4])            # W_p(mu, mu + t) = |t| for every p
    for p in (1.0, 2.0, 3.0):
        r = emdkit.solve(x, x + t, p=p, backend="multiscale")
        assert r.value == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "chebyshev"])
def test_w1_moves_only_the_difference(rng, sparse_path, metric):
    """p = 1 between histograms on shared points (images on one grid, partly
    overlapping supports, zero weights): the mass min(a, b) at a shared point stays
    and the LP moves the rest; the value, plan and bracket are those of the whole
    problem (against POT on all the points)."""
    u = np.stack(np.meshgrid(np.arange(24), np.arange(20), indexing="ij"), -1)
    grid = u.reshape(-1, 2).astype(float)
    x, y = grid[:400], grid[80:]                    # 320 points in both
    a, b = rng.random(400), rng.random(400)
    a[rng.random(400) < 0.2] = 0.0
    r = emdkit.solve(x, y, a_weights=a, b_weights=b, p=1, metric=metric,
                     backend="multiscale")
    _check(r, _pot(x, y, a, b, metric, 1.0), a, b)
    # what stays: the smaller normalised weight at each shared point
    an, bn = a / a.sum(), b / b.sum()
    assert r.info["multiscale"]["staying_mass"] == pytest.approx(
        np.minimum(an[80:], bn[:320]).sum(), rel=1e-12)
    P = r.plan.tocsr()
    np.testing.assert_allclose(P[np.arange(80, 400), np.arange(320)].A1,
                               np.minimum(an[80:], bn[:320]), rtol=1e-12, atol=1e-17)
    # the potentials are dual feasible on every pair (g at the shared points is -f
    # there, not a search: 1e-12 is rounding on costs of up to ~30) and their
    # objective is the value
    f, g = r.potentials
    C = cdist(x, y, metric)
    assert (f[:, None] + g[None, :] <= C + 1e-12).all()
    assert an @ f + bn @ g == pytest.approx(r.value, rel=1e-12)


def test_w1_of_equal_or_nearly_equal_histograms(rng, sparse_path):
    """Equal weights on the same points: nothing moves, 0 exactly; a difference of
    1e-9 of the mass: the value of the difference alone, certified."""
    x = rng.normal(size=(500, 2))
    a = rng.random(500)
    r = emdkit.solve(x, x, a_weights=a, b_weights=a, p=1, backend="multiscale")
    assert r.value == 0.0 and r.converged and r.bounds == (0.0, 0.0)
    assert r.info["multiscale"]["staying_mass"] == pytest.approx(1.0, rel=1e-15)
    b = a.copy()
    b[:2] += np.array([1e-9, -1e-9]) * a.sum()      # 1e-9 of the mass from 1 to 0
    r = emdkit.solve(x, x, a_weights=a, b_weights=b, p=1, backend="multiscale")
    ref = 1e-9 * np.linalg.norm(x[0] - x[1])
    # 1e-6: weights equal in exact arithmetic differ by an ulp after normalising
    # (~1e-19 each, 500 of them moved over distances of ~3: ~1e-16 against 1e-9)
    assert r.bounds[0] <= ref * (1 + 1e-6) and r.bounds[1] >= ref * (1 - 1e-6)
    assert r.value == pytest.approx(ref, rel=1e-6)


def test_medium_without_lowered_threshold(rng):
    """2,100 + 2,300 points: the sparse path at its own threshold, through levels."""
    x, y = rng.normal(size=(2100, 2)), rng.normal(size=(2300, 2)) + [0.2, 0.0]
    a, b = np.ones(2100), np.ones(2300)
    r = emdkit.solve(x, y, p=2, backend="multiscale")
    _check(r, _pot(x, y, a, b, "euclidean", 2), a, b)
    assert r.info["multiscale"]["levels"][-1]["level"] is None       # the points


def test_auto_chooses(rng):
    small = rng.normal(size=(50, 2))
    assert emdkit.solve(small, small + 1).info["backend"] == "dense"
    x = np.zeros((10 ** 6, 2))          # dense would need 36 TiB: multiscale, merged
    r = emdkit.solve(x, x)
    assert r.info["backend"] == "multiscale" and r.value == 0.0 and r.converged
    # a callable metric or more than 5 dimensions stays dense
    hi = rng.normal(size=(40, 6))
    assert emdkit.solve(hi, hi + 1).info["backend"] == "dense"


def test_method_auto_takes_the_sparse_routes(rng):
    # method="auto" (not only exact's backend="auto"): the grid flow for W_1 cityblock
    # histograms on one grid, the multiscale exact LP where its model predicts it
    # fastest (2500 iid 2-D points a side: about 0.4 s, the dense routes several s)
    A, B = rng.random((20, 20)), rng.random((20, 20))
    xa, wa = emdkit.grid(A)
    xb, wb = emdkit.grid(B)
    r = emdkit.solve(xa, xb, "auto", a_weights=wa, b_weights=wb, metric="cityblock", p=1)
    assert r.method == "exact" and r.info["backend"] == "grid"
    assert "grid" in r.info["reason"] and r.info["route"] == "exact grid"
    ref = _pot(xa, xb, wa, wb, "cityblock", 1.0)
    assert r.value == pytest.approx(ref, rel=1e-12)
    x, y = rng.normal(size=(2500, 2)), rng.normal(size=(2500, 2))
    r = emdkit.solve(x, y, "auto", p=2)
    assert r.method == "exact" and r.info["backend"] == "multiscale"
    assert "exact multiscale is the fastest" in r.info["reason"]
    # auto passes its rtol (0.01 by default): pricing may stop once the certified
    # bracket is within it; the value is a plan's cost, within rtol above W_2
    assert r.converged and r.info["bracket_width"] <= 0.01
    lo, hi = r.bounds
    ref = _pot(x, y, np.full(2500, 0.0004), np.full(2500, 0.0004), "euclidean", 2.0)
    assert lo <= ref * (1 + 1e-12) and ref * (1 - 1e-12) <= r.value <= ref * 1.01
    # the record: the route, every compared route's prediction, the probe, the time
    # the choice took (a small part of the solve)
    pred = r.info["predicted_s"]
    assert r.info["route"] == "exact multiscale" == min(pred, key=pred.get)
    # (two samples of one distribution: W_2 within a few spacings, below the
    # multiscale Sinkhorn's threshold, which is then no route)
    assert set(pred) == {"exact", "exact multiscale", "sinkhorn"}
    assert 0 < r.info["spacing_ratio"] < 10 and 0 < r.info["choice_s"] < 0.1
    assert r.info["on_grid"] is False
    # a translated copy (W_2 = 2 exactly, 283 spacings): the multiscale Sinkhorn,
    # predicted 2.4x faster than the multiscale exact solver there
    big = rng.normal(size=(10_000, 2))
    t = emdkit.solve(big, big + [2.0, 0.0], "auto", p=2)
    assert t.method == "sinkhorn" and t.info["backend"] == "multiscale"
    assert "sinkhorn multiscale is the fastest" in t.info["reason"]
    assert t.info["spacing_ratio"] >= 10 and "sinkhorn multiscale" in t.info["predicted_s"]
    lo, hi = t.bounds
    assert lo <= 2.0 * (1 + 1e-12) and hi >= 2.0 * (1 - 1e-12) and hi - lo <= 0.01 * lo
    # a backend the caller names is kept, not replaced by the route's
    dense = emdkit.solve(x, y, "auto", p=2, backend="dense")
    assert dense.method == "exact" and dense.info["backend"] == "dense"
    assert dense.info["route"] == "exact"
    assert dense.value == pytest.approx(ref, rel=1e-12)


def test_auto_compares_the_multiscale_lp_wherever_exact_would_run_its_levels(rng):
    # past the dense limit (DENSE_PAIRS, where exact's backend="auto" goes to the
    # levels) auto compares the multiscale LP, for every p; at or below it, not
    from emdkit._auto import choose
    from emdkit.geometry.problem import prepare
    from emdkit.solvers.multiscale_exact import DENSE_PAIRS

    for n, compared in ((1000, False), (1100, True)):
        x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
        for p in (1, 2):
            assert (n * n > DENSE_PAIRS) is compared
            record = choose(prepare(x, y, p=p), 0.01, None)[3]
            assert ("exact multiscale" in record["predicted_s"]) is compared
            r = emdkit.solve(x, y, "exact", p=p)
            assert r.info["backend"] == ("multiscale" if compared else "dense")


def test_spacing_ratio_tells_iid_from_shifted(rng):
    # auto's probe: two samples of one Gaussian reach a few spacings (W_2 ~ n^-1/2 in
    # 2-D, about sqrt(log n) spacings), a pair shifted by one standard deviation
    # about 1 / (n^-1/2) = 45 spacings at 2 x 1000 points
    from emdkit.solvers.oned import spacing_ratio
    from emdkit.geometry.problem import prepare

    x, y = rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2))
    iid = spacing_ratio(prepare(x, y, p=2))
    shifted = spacing_ratio(prepare(x, y + [1.0, 0.0], p=2))
    assert 0.0 <= iid < 10.0 < 30.0 < shifted < 200.0
    assert spacing_ratio(prepare(x, x, p=2)) == 0.0


def test_refuses_what_it_cannot_do(rng):
    x = rng.normal(size=(20, 6))
    with pytest.raises(ValueError, match=r"backend='multiscale' works up to 5 dim.*got 6"):
        emdkit.distance(x, x, backend="multiscale")
    with pytest.raises(ValueError, match=r"backend='multiscale' needs a named metric"):
        emdkit.distance(x[:, :2], x[:, :2], backend="multiscale",
                        metric=lambda u, v: cdist(u, v))
    with pytest.raises(ValueError, match=r"backend must be one of 'auto', 'dense', "
                                         r"'multiscale'.*got 'sparse'"):
        emdkit.distance(x, x, backend="sparse")


def test_torch_gradient_matches_dense(rng, sparse_path):
    """The envelope gradient through the plan's pairs equals the dense solver's."""
    torch = pytest.importorskip("torch", reason="torch is the optional autodiff path")
    x = torch.tensor(rng.normal(size=(300, 2)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(260, 2)) + 0.4)
    grads = []
    for backend in ("dense", "multiscale"):
        v = emdkit.distance(x, y, p=2, backend=backend)
        (gx,) = torch.autograd.grad(v, x)
        grads.append(gx.numpy())
    # a unique optimal plan (continuous data): the same gradient to rounding
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-9, atol=1e-12)


def test_sparse_path_is_taken(rng, sparse_path):
    """The fixture's problems go through candidates and pricing (not a dense LP)."""
    x, y = rng.normal(size=(400, 2)), rng.normal(size=(330, 2))
    levels = emdkit.solve(x, y, backend="multiscale").info["multiscale"]["levels"]
    assert levels[-1]["level"] is None and "dense" not in levels[-1]
    assert levels[-1]["rounds"] >= 1 and levels[-1]["candidates"] < 400 * 330 / 4


@pytest.mark.parametrize("shape", [(12, 15), (6, 5, 4)])
def test_grid_w1_agrees_with_pot(rng, shape):
    """W_1 cityblock between histograms on one grid: the min-cost flow on neighbours
    (backend='grid', chosen by auto) against POT's dense solver; empty cells included."""
    A, B = rng.random(shape), rng.random(shape) ** 3
    A[A < 0.3] = 0.0
    xa, wa = emdkit.grid(A, spacing=0.5, origin=-2.0)
    xb, wb = emdkit.grid(B, spacing=0.5, origin=-2.0)
    r = emdkit.solve(xa, xb, a_weights=wa, b_weights=wb, metric="cityblock", p=1)
    assert r.info["backend"] == "grid" and r.plan is None and r.converged
    ref = _pot(xa, xb, wa, wb, "cityblock", 1.0)
    assert r.value == pytest.approx(ref, rel=REL)
    lo, hi = r.bounds
    assert lo <= ref * (1 + REL) and hi >= ref * (1 - REL) and r.info["bracket_width"] <= 1e-9
    # the potentials are 1-Lipschitz (cityblock) and their objective is the lower end
    f, g = r.potentials
    D = cdist(xa, xb, "cityblock")
    assert (f[:, None] + g[None, :] <= D + 1e-12).all()


def test_grid_refusals_and_fallback(rng):
    A = rng.random((8, 8))
    xa, wa = emdkit.grid(A)
    xb = xa + 0.3 * rng.random(xa.shape)          # off the grid
    assert emdkit.solve(xa, xb, a_weights=wa, metric="cityblock", p=1
                        ).info["backend"] == "dense"
    with pytest.raises(ValueError, match=r"backend='grid' solves W_1 .*got p=2"):
        emdkit.distance(xa, xa, metric="cityblock", p=2, backend="grid")


def test_on_grid_finds_pixels_whatever_the_metric(rng):
    # auto's cost model asks whether both clouds are pixels of one grid (their ties
    # slow the network simplex), for any metric and p
    from emdkit.solvers.grid_flow import on_grid

    xa, wa = emdkit.grid(rng.random((6, 9)))
    xb, wb = emdkit.grid(rng.random((6, 9)))
    origin, spacing, shape, ix, iy = on_grid(xa[wa > 0.5], xb)
    assert shape == (6, 9) and np.array_equal(iy, np.arange(54))
    assert on_grid(xa, xb + 0.3 * rng.random(xb.shape)) is None
    assert on_grid(rng.normal(size=(50, 2)), rng.normal(size=(50, 2))) is None
    xc, wc = emdkit.grid(rng.random((16, 17)))     # past auto's small-problem rule
    r = emdkit.solve(xc, xc[::-1], "auto", a_weights=wc, b_weights=wc, p=2)
    assert r.info["on_grid"] is True


def test_iteration_limit_is_reported(rng, sparse_path):
    """max_iter reached: converged=False and a RuntimeWarning, the bracket still valid."""
    x, y = rng.normal(size=(400, 2)), rng.normal(size=(330, 2))
    with pytest.warns(RuntimeWarning, match=r"'exact' did not converge.*max_iter"):
        r = emdkit.solve(x, y, p=2, backend="multiscale", max_iter=50)
    assert r.converged is False
    ref = _pot(x, y, np.ones(400), np.ones(330), "euclidean", 2)
    assert r.bounds[0] <= ref * (1 + REL) and r.bounds[1] >= ref * (1 - REL)


@pytest.mark.parametrize("priced", [False, True])
def test_sparse_simplex_against_pot(rng, priced):
    """The network simplex on an arc list, cold and with prices shaping its artificial
    start, arcs added between solves: the optimum of POT's dense LP on the same arcs
    (the others cost 1e3, far above any path through the given ones, so POT's optimum
    uses them only if the given arcs admit no plan, which the arcs here always do).
    Costs are below 3 and the LPs small: 1e-12 is many times their rounding."""
    from emdkit.solvers.sparse_simplex import SparseSimplex

    n, m = 30, 40
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    b *= a.sum() / b.sum()
    C = rng.random((n, m)) * 3.0
    keep = rng.random((n, m)) < 0.25
    keep[np.arange(n), np.arange(n) % m] = True       # every row and column an arc
    keep[np.arange(m) % n, np.arange(m)] = True
    rows, cols = np.nonzero(keep)
    half = rng.random(rows.size) < 0.5
    prices = (rng.normal(size=n), rng.normal(size=m)) if priced else None
    s = SparseSimplex(a, b, prices=prices)
    assert s.add(rows[half], cols[half], C[rows[half], cols[half]]) == half.sum()
    s.solve()
    assert s.add(rows, cols, C[rows, cols]) == (~half).sum()     # the rest, warm
    assert s.solve() == 1
    M = np.where(keep, C, 1e3)
    want = ot.emd2(a, b, M, numItermax=10 ** 7)
    r, c, mass = s.plan()
    assert keep[r, c].all()
    np.testing.assert_allclose(np.bincount(r, mass, n), a, atol=1e-12)
    np.testing.assert_allclose(np.bincount(c, mass, m), b, atol=1e-12)
    assert s.cost() == pytest.approx(want, rel=1e-12)
    f, g = s.duals()
    assert (C[rows, cols] - f[rows] - g[cols]).min() > -1e-12     # dual feasible


def test_row_ids_are_numpys_unique_inverse(rng):
    from emdkit.solvers.multiscale_exact import _row_ids

    pts = rng.integers(0, 4, size=(500, 3)).astype(float)      # many repeats
    pts[::7, 1] = -0.0                      # -0.0 == 0.0: one point
    for q in (pts, pts[:1], rng.normal(size=(50, 2))):
        ref = np.unique(q, axis=0, return_inverse=True)[1].ravel()
        assert np.array_equal(_row_ids(q), ref)


@pytest.mark.parametrize("p", [1.0, 2.0])
def test_rtol_stops_pricing_once_certified(rng, sparse_path, p):
    # W_1 between clouds far apart: the last pricing rounds add pairs for the last
    # digits. With rtol the loop on the points stops once its bracket is within it:
    # the value is a plan's cost, at most rtol above W_p (POT's, to rounding), the
    # bracket holds W_p and is at most rtol wide, and the points took fewer rounds
    n = 700
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + np.array([1.5, 0.5])
    a, b = np.ones(n), np.ones(n)
    ref = _pot(x, y, a, b, "euclidean", p)
    full = emdkit.solve(x, y, p=p, backend="multiscale")
    rtol = 1e-3
    r = emdkit.solve(x, y, p=p, backend="multiscale", rtol=rtol)
    assert r.converged and r.info["backend"] == "multiscale"
    lo, hi = r.bounds
    assert lo <= ref * (1 + REL) and hi >= ref * (1 - REL)
    assert hi <= lo * (1 + rtol)
    assert ref * (1 - REL) <= r.value <= ref * (1 + rtol)
    last, last_full = (res.info["multiscale"]["levels"][-1] for res in (r, full))
    assert "gap" in last and 0.0 <= last["gap"] and last["rounds"] < last_full["rounds"]
    P = r.plan                      # still a coupling of the weights
    np.testing.assert_allclose(np.asarray(P.sum(1)).ravel(), a / n, atol=1e-15)
    np.testing.assert_allclose(np.asarray(P.sum(0)).ravel(), b / n, atol=1e-15)


@pytest.mark.parametrize("bad", [0.0, -1e-3, 1.0, float("nan"), "1e-3"])
def test_rtol_is_checked(rng, bad):
    x = rng.normal(size=(20, 2))
    with pytest.raises((ValueError, TypeError), match="rtol"):
        emdkit.solve(x, x + 1.0, method="exact", rtol=bad)


def test_rtol_leaves_the_dense_solve_exact(rng):
    # the dense backend solves to optimality whatever rtol says
    x, y = rng.normal(size=(60, 2)), rng.normal(size=(50, 2)) + 1.0
    r = emdkit.solve(x, y, method="exact", backend="dense", rtol=0.5)
    ref = _pot(x, y, np.ones(60), np.ones(50), "euclidean", 1.0)
    assert r.value == pytest.approx(ref, rel=REL) and r.info["bracket_width"] <= 1e-9
