"""A point or bin of zero weight changes nothing: not the value, the bracket, the
convergence flag, the scale or the gradient in the other points, for every method
and entry point, whatever its coordinates or costs (issue: a far point of zero
weight made ``exact`` return a wrong value with a "certified" bracket).

References: the same call without the point (the definition: a zero weight carries
no mass), and POT's ``emd2`` on the renormalised histograms. Tolerances: the values
are compared at 1e-12 relative (the same solver on the same live problem, up to the
order of sums) unless stated.
"""

import warnings

import numpy as np
import pytest
import torch

import emdkit

FAR = [1e3, 1e16, 1e200, 1e307]


def _live_and_dead(seed=0, n=6, m=7, d=2):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, d)), rng.random((m, d))
    w = np.ones(n)
    w[2] = 0.0
    return x, y, w


def _quiet(f, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no warning either
        return f(*args, **kw)


def test_the_issue_examples_are_right():
    import ot

    rng = np.random.default_rng(0)
    u = rng.random(5)
    u /= u.sum()
    v = rng.random(7)
    v /= v.sum()
    M = rng.random((5, 7)) * 3
    u[0] = 0
    M[0, :] = 1e16
    ref = ot.emd2(u / u.sum(), v, M)                 # 1.24980...
    for method, kw in (("exact", {}), ("auto", {}), ("sinkhorn", {"rtol": 0.01})):
        r = _quiet(emdkit.solve, u, v, method, cost=M, **kw)
        assert r.converged and r.bounds[0] <= ref * (1 + 1e-12)
        assert r.bounds[1] >= ref * (1 - 1e-12)
        rtol = 1e-6 if method != "sinkhorn" else 0.01
        assert r.bounds[1] - r.bounds[0] <= rtol * r.value
        assert r.value == pytest.approx(ref, rel=rtol)
    x = np.random.default_rng(0).random((5, 2))
    y = np.random.default_rng(1).random((7, 2))
    ref = emdkit.distance(x, y)                      # 0.33321...
    r = _quiet(emdkit.solve, np.r_[x, [[1e16, 0]]], y, a_weights=[1, 1, 1, 1, 1, 0])
    assert r.value == pytest.approx(ref, rel=1e-12)
    assert r.bounds[1] - r.bounds[0] <= 1e-6 * ref


@pytest.mark.parametrize("far", FAR)
@pytest.mark.parametrize("method,kw", [
    ("exact", {}), ("auto", {}), ("sinkhorn", {}), ("sinkhorn", {"rtol": 1e-2}),
    ("sinkhorn", {"debias": True}), ("sinkhorn", {"backend": "multiscale"}),
    ("sinkhorn", {"backend": "online", "epsilon": 0.01}), ("sliced", {"seed": 0}),
    ("max-sliced", {"seed": 0})])
@pytest.mark.parametrize("p", [1, 2])
def test_a_far_point_of_zero_weight_changes_nothing(far, method, kw, p):
    x, y, w = _live_and_dead()
    xf = x.copy()
    xf[2] = [far, -far]
    ref = _quiet(emdkit.solve, np.delete(x, 2, 0), y, method, p=p, **kw)
    ref_b = _quiet(emdkit.solve, y, np.delete(x, 2, 0), method, p=p, **kw)
    got = _quiet(emdkit.solve, xf, y, method, p=p, a_weights=w, **kw)
    got_b = _quiet(emdkit.solve, y, xf, method, p=p, b_weights=w, **kw)
    for r, ref in ((got, ref), (got_b, ref_b)):
        assert r.value == pytest.approx(ref.value, rel=1e-12)
        assert r.converged == ref.converged
        assert (r.bounds is None) == (ref.bounds is None)
        if r.bounds is not None:
            assert r.bounds == pytest.approx(ref.bounds, rel=1e-12)
    ref = _quiet(emdkit.solve, np.delete(x, 2, 0), y, method, p=p, **kw)
    if got.plan is not None:
        plan = got.plan.toarray() if hasattr(got.plan, "toarray") else got.plan
        ref_plan = ref.plan.toarray() if hasattr(ref.plan, "toarray") else ref.plan
        assert plan.shape == (6, 7) and not plan[2].any()
        np.testing.assert_allclose(np.delete(plan, 2, 0), ref_plan, rtol=0, atol=1e-15)


@pytest.mark.parametrize("far", [1e16, 1e300])
def test_1d_and_critic_ignore_a_far_point_of_zero_weight(far):
    rng = np.random.default_rng(3)
    x, y = rng.random(6), rng.random(7)
    w = np.ones(6)
    w[4] = 0
    xf = x.copy()
    xf[4] = far
    for p in (1, 1.5, 2, 3):
        ref = emdkit.distance(np.delete(x, 4), y, "1d", p=p)
        assert _quiet(emdkit.distance, xf, y, "1d", p=p, a_weights=w) == \
            pytest.approx(ref, rel=1e-12)
    kw = dict(steps=100, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a short training run
        ref = emdkit.distance(np.delete(x, 4)[:, None], y[:, None], "critic", **kw)
        got = emdkit.distance(xf[:, None], y[:, None], "critic", a_weights=w, **kw)
    assert got == ref          # the same training on the same live points


def test_exact_potentials_of_empty_bins_keep_dual_feasibility_everywhere():
    rng = np.random.default_rng(1)
    u, v = rng.random(8), rng.random(9)
    u[[1, 5]] = 0
    v[[0, 8]] = 0
    M = rng.random((8, 9)) * 3
    M[1] = 1e12
    M[:, 8] = 1e9
    r = _quiet(emdkit.solve, u, v, cost=M)
    f, g = r.potentials
    assert np.all(f[:, None] + g[None, :] <= M * (1 + 1e-12) + 1e-12)
    assert f @ (u / u.sum()) + g @ (v / v.sum()) == pytest.approx(r.cost, rel=1e-12)
    assert r.plan.shape == (8, 9) and not r.plan[[1, 5]].any()
    assert not r.plan[:, [0, 8]].any()


def test_torch_gradients_ignore_the_point_and_give_its_weight_its_potential():
    x, y, w = _live_and_dead(seed=2)
    xf = x.copy()
    xf[2] = [1e16, 5.0]
    xt = torch.tensor(xf, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    r = _quiet(emdkit.solve, xt, torch.tensor(y), p=2, a_weights=wt)
    r.value.backward()
    xr = torch.tensor(np.delete(x, 2, 0), requires_grad=True)
    ref = emdkit.distance(xr, torch.tensor(y), p=2)
    ref.backward()
    assert float(r.value.detach()) == pytest.approx(float(ref.detach()), rel=1e-12)
    assert not xt.grad[2].any()
    np.testing.assert_allclose(np.delete(xt.grad.numpy(), 2, 0), xr.grad.numpy(),
                               rtol=1e-10, atol=1e-14)
    # the empty bin's weight: its potential (a c-transform), through dW = dC / (p W)
    f = r.potentials[0].numpy()
    W, wn = float(r.value.detach()), w / w.sum()
    expected = (f[2] - f @ wn) / w.sum() / (2 * W)
    assert float(wt.grad[2]) == pytest.approx(expected, rel=1e-9)
    assert np.isfinite(wt.grad.numpy()).all()


@pytest.mark.parametrize("method,kw", [("exact", {}), ("sliced", {"seed": 0}),
                                       ("1d", {}), ("sinkhorn", {"epsilon": 0.01})])
@pytest.mark.parametrize("far", [1e16, 1e307])
def test_pairwise_ignores_far_points_of_zero_weight(method, kw, far):
    d = 1 if method == "1d" else 2
    x, y, w = _live_and_dead(seed=4, d=d)
    xf = x.copy()
    xf[2] = far
    live = np.delete(x, 2, 0)
    D = _quiet(emdkit.pairwise, [xf, y, live], weights=[w, None, None], method=method,
               p=2, **kw)
    ref = emdkit.distance(live, y, method, p=2, **kw)
    assert D[0, 1] == pytest.approx(ref, rel=1e-12)
    if method != "sinkhorn":           # the entropic cost of a cloud with itself is not 0
        assert D[0, 2] == 0.0           # the same distribution: exactly 0


@pytest.mark.parametrize("method", ["sinkhorn", "sliced", "exact"])
@pytest.mark.parametrize("far", [1e3, 1e200])
def test_the_loss_ignores_far_points_of_zero_weight(method, far):
    x, y, w = _live_and_dead(seed=5)
    xf = x.copy()
    xf[2] = [far, -far]
    opts = {"seed": 0} if method == "sliced" else {}
    xt = torch.tensor(xf, requires_grad=True)
    v = _quiet(emdkit.WassersteinLoss(method, p=2, **opts), xt, torch.tensor(y),
               torch.tensor(w))
    v.backward()
    xr = torch.tensor(np.delete(x, 2, 0), requires_grad=True)
    ref = emdkit.WassersteinLoss(method, p=2, **opts)(xr, torch.tensor(y))
    ref.backward()
    assert float(v.detach()) == pytest.approx(float(ref.detach()), rel=1e-10)
    assert not xt.grad[2].any() and torch.isfinite(xt.grad).all()
    np.testing.assert_allclose(np.delete(xt.grad.numpy(), 2, 0), xr.grad.numpy(),
                               rtol=1e-7, atol=1e-12)


def test_the_torch_sinkhorn_loop_ignores_far_points_of_zero_weight():
    x, y, w = _live_and_dead(seed=6)
    xf = x.copy()
    xf[2] = [1e200, 0.0]
    for debias in (True, False):
        loss = emdkit.WassersteinLoss("sinkhorn", p=2, solver="torch", debias=debias,
                                      epsilon=0.01)
        got = _quiet(loss, torch.tensor(xf), torch.tensor(y), torch.tensor(w))
        ref = emdkit.WassersteinLoss("sinkhorn", p=2, solver="torch", debias=debias,
                                     epsilon=0.01)(torch.tensor(np.delete(x, 2, 0)),
                                                   torch.tensor(y))
        assert float(got) == pytest.approx(float(ref), rel=1e-9)


def test_equal_distributions_weighted_differently_are_exactly_zero_apart():
    # weights 0.2 summed against a uniform k / 5: cumulative sums rounded apart;
    # the p-th root of that sliver was 2e-9 for p = 2
    x = np.random.default_rng(7).random(5)
    for p in (1, 2, 3):
        assert emdkit.distance(x, x, "1d", p=p, a_weights=np.full(5, 0.2)) == 0.0
        D = emdkit.pairwise([x, x], weights=[np.full(5, 0.2), None], method="1d", p=p)
        assert D[0, 1] == 0.0


@pytest.mark.parametrize("debias", [False, True])
def test_sinkhorn_gradient_in_an_empty_bins_weight_matches_differences(debias):
    # the live part is solved; the empty bins' weights get their derivative from the
    # potentials (the divergence: less the (a, a) / (b, b) terms; the transport cost:
    # implicitly, with the adjoint). Checked against one-sided differences of the
    # numpy value (step 1e-7 from 0 at tol 1e-12: agreement to 1e-5 relative)
    rng = np.random.default_rng(0)
    x, y = rng.random((6, 2)), rng.random((7, 2)) + 0.3
    wa, wb = rng.random(6) + 0.5, rng.random(7) + 0.5
    wa[2], wb[4] = 0.0, 0.0
    kw = dict(p=2, epsilon=0.05, tol=1e-12, debias=debias)
    ta, tb = torch.tensor(wa, requires_grad=True), torch.tensor(wb, requires_grad=True)
    emdkit.distance(torch.tensor(x), torch.tensor(y), "sinkhorn", a_weights=ta,
                    b_weights=tb, **kw).backward()
    base = emdkit.distance(x, y, "sinkhorn", a_weights=wa, b_weights=wb, **kw)
    h = 1e-7
    up_a, up_b = wa.copy(), wb.copy()
    up_a[2], up_b[4] = h, h
    fd_a = (emdkit.distance(x, y, "sinkhorn", a_weights=up_a, b_weights=wb, **kw)
            - base) / h
    fd_b = (emdkit.distance(x, y, "sinkhorn", a_weights=wa, b_weights=up_b, **kw)
            - base) / h
    assert float(ta.grad[2]) == pytest.approx(fd_a, rel=1e-5)
    assert float(tb.grad[4]) == pytest.approx(fd_b, rel=1e-5)


@pytest.mark.parametrize("kw", [{}, {"rtol": 0.01}, {"debias": True}])
def test_torch_weights_that_require_grad_and_a_far_empty_point(kw):
    x, y, w = _live_and_dead(seed=8)
    xf = x.copy()
    xf[2] = [1e200, -1e200]
    ref = emdkit.distance(np.delete(x, 2, 0), y, "sinkhorn", p=2, **kw)
    wt = torch.tensor(w, requires_grad=True)
    v = _quiet(emdkit.distance, torch.tensor(xf), torch.tensor(y), "sinkhorn", p=2,
               a_weights=wt, **kw)
    v.backward()
    assert float(v.detach()) == pytest.approx(ref, rel=1e-10)
    assert torch.isfinite(wt.grad[[0, 1, 3, 4, 5]]).all()
