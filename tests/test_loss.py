"""emdkit.WassersteinLoss: the same values as emdkit.distance, batched, warm-started,
with gradients checked against finite differences."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="WassersteinLoss is a torch module")

import emdkit  # noqa: E402


def _pair(seed, n=60, m=50, d=2, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    y = 0.7 * torch.randn(m, d, generator=g, dtype=dtype) + 0.5
    return x, y


# Both solve the same strictly convex problem to an L1 marginal error of tol = 1e-6
# (the torch loop) or run the same numpy driver (CPU, solver="auto"): the values agree
# to the stopping rule's effect on the objective, far below 1e-6 relative.
@pytest.mark.parametrize("solver", ["auto", "torch"])
@pytest.mark.parametrize("epsilon", [None, 0.05])
def test_sinkhorn_divergence_equals_distance(solver, epsilon):
    x, y = _pair(0)
    loss = emdkit.WassersteinLoss("sinkhorn", p=2, epsilon=epsilon, solver=solver)
    want = emdkit.distance(x.numpy(), y.numpy(), "sinkhorn", p=2, debias=True,
                           epsilon=epsilon)
    assert float(loss(x, y)) == pytest.approx(want, rel=1e-6)
    assert loss.last["converged"]


# The torch loop's hard cases against the numpy driver: a small epsilon (the Newton
# finish), p = 1, weights with zeros (their potentials are soft c-transforms), one
# batch of different problems. Both solve to an L1 marginal error of 1e-6: 1e-6
# relative on the value is far above what that leaves (tested: below 1e-10).
@pytest.mark.parametrize("p,epsilon,zeros", [(2, 1e-3, False), (1, 1e-3, False),
                                             (1.5, 1e-4, False), (2, 1e-2, True)])
def test_torch_loop_equals_the_numpy_driver(p, epsilon, zeros):
    x, y = _pair(11, n=120, m=90)
    wa = torch.rand(120, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    if zeros:
        wa[:4] = 0.0
    loss = emdkit.WassersteinLoss("sinkhorn", p=p, epsilon=epsilon, solver="torch")
    value = loss(x, y, wa)
    assert loss.last["converged"]
    want = emdkit.distance(x.numpy(), y.numpy(), "sinkhorn", p=p, debias=True,
                           epsilon=epsilon, a_weights=wa.numpy())
    assert float(value) == pytest.approx(want, rel=1e-6)
    X, Y = torch.stack([x, x + 0.5]), torch.stack([y, 2 * y])
    batch = loss(X, Y, torch.stack([wa, wa]))
    assert float(batch[0]) == pytest.approx(want, rel=1e-6)


def test_torch_loop_newton_finish_needs_few_iterations():
    # plain Sinkhorn needs over 20,000 iterations at epsilon 0.0025 on these 300 + 300
    # points; relaxation and the Newton finish, a few hundred (as the numpy driver)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 2, generator=g, dtype=torch.float64)
    angle = 2 * torch.pi * torch.rand(300, generator=g, dtype=torch.float64)
    y = 2.0 * torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    loss = emdkit.WassersteinLoss("sinkhorn", p=2, epsilon=0.0025, solver="torch")
    loss(x, y)
    assert loss.last["converged"] and loss.last["n_iter"] < 1000


def test_float32_warning_names_the_floor():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 2, generator=g)
    y = torch.randn(150, 2, generator=g) + 1.0
    loss = emdkit.WassersteinLoss("sinkhorn", p=2, epsilon=1e-3, solver="torch")
    with pytest.warns(RuntimeWarning, match="float32"):
        loss(x, y)


def test_translation_closed_form():
    # S_eps of a translation by t is |t|^2 for p = 2 at every epsilon
    x, _ = _pair(1)
    t = torch.tensor([0.3, -0.4], dtype=torch.float64)
    loss = emdkit.WassersteinLoss("sinkhorn", p=2, epsilon=0.1)
    assert float(loss(x, x + t)) == pytest.approx(0.5, rel=1e-6)


@pytest.mark.parametrize("method,kw", [("exact", {}), ("1d", {}),
                                       ("sliced", {"seed": 3, "n_projections": 40}),
                                       ("sinkhorn", {"debias": False, "epsilon": 0.05})])
def test_other_methods_equal_distance(method, kw):
    x, y = _pair(2, n=40, m=40, d=1 if method == "1d" else 3)
    loss = emdkit.WassersteinLoss(method, p=2, **kw)
    want = emdkit.distance(x.numpy(), y.numpy(), method, p=2, **kw)
    assert float(loss(x, y)) == pytest.approx(want, rel=1e-10)


def test_batched_equals_item_by_item():
    xs, ys = zip(*[_pair(s, n=30, m=30) for s in range(4)])
    X, Y = torch.stack(xs), torch.stack(ys)
    for method, kw in (("sinkhorn", {"epsilon": 0.05}), ("sliced", {"seed": 0}),
                       ("exact", {})):
        loss = emdkit.WassersteinLoss(method, p=2, warm_start=False, **kw)
        batch = loss(X, Y)
        assert batch.shape == (4,)
        single = torch.stack([loss(x, y) for x, y in zip(xs, ys)])
        torch.testing.assert_close(batch, single, rtol=1e-7, atol=0)


def test_weights_as_repeated_points():
    x, y = _pair(3, n=20, m=25)
    w = torch.ones(20, dtype=torch.float64)
    w[:5] = 2.0
    rep = torch.cat([x, x[:5]])
    loss = emdkit.WassersteinLoss("sinkhorn", p=2, epsilon=0.05, warm_start=False)
    assert float(loss(x, y, w)) == pytest.approx(float(loss(rep, y)), rel=1e-6)


def test_warm_start_takes_fewer_iterations_and_reset_forgets():
    x, y = _pair(4, n=80, m=80)
    loss = emdkit.WassersteinLoss("sinkhorn", p=2, epsilon=0.01)
    cold = float(loss(x, y))
    n_cold = loss.last["n_iter"]
    warm = float(loss(x + 1e-3, y))
    assert loss.last["warm"] and loss.last["n_iter"] < n_cold / 3
    loss.reset()
    again = float(loss(x + 1e-3, y))
    assert not loss.last["warm"] and again == pytest.approx(warm, rel=1e-6)
    assert cold != warm


@pytest.mark.parametrize("solver", ["auto", "torch"])
def test_gradient_against_finite_differences(solver):
    # the envelope theorem: the gradient of the dual objective at converged potentials
    # is that of S_eps; tol 1e-12 so that the potentials' error does not show
    x, y = _pair(5, n=8, m=7)
    x.requires_grad_(True)
    loss = emdkit.WassersteinLoss("sinkhorn", p=2, epsilon=0.1, tol=1e-12,
                                  warm_start=False, solver=solver)
    assert torch.autograd.gradcheck(lambda u: loss(u, y), (x,), eps=1e-6, atol=1e-6)


def test_float32():
    x, y = _pair(6, dtype=torch.float32)
    loss = emdkit.WassersteinLoss("sinkhorn", p=2, epsilon=0.05, tol=1e-4)
    value = loss(x.requires_grad_(True), y)
    assert value.dtype == torch.float32
    value.backward()
    assert torch.isfinite(x.grad).all()
    want = emdkit.distance(x.detach().double().numpy(), y.double().numpy(), "sinkhorn",
                           p=2, debias=True, epsilon=0.05)
    assert float(value.detach()) == pytest.approx(want, rel=1e-4)


@pytest.mark.parametrize("call,match", [
    (lambda: emdkit.WassersteinLoss("nope"), "method must be"),
    (lambda: emdkit.WassersteinLoss("exact", epsilon=0.1), "options of 'sinkhorn'"),
    (lambda: emdkit.WassersteinLoss(solver="gpu"), "solver must be"),
    (lambda: emdkit.WassersteinLoss("sliced", n_projection=10), "n_projections"),
    (lambda: emdkit.WassersteinLoss("sinkhorn", rtol=0.01), "takes p, debias"),
    (lambda: emdkit.WassersteinLoss()(np.zeros((3, 2)), torch.zeros(3, 2)),
     "takes torch tensors"),
    (lambda: emdkit.WassersteinLoss()(torch.zeros(2, 3, 2), torch.zeros(3, 2)),
     "both be batched"),
    (lambda: emdkit.WassersteinLoss()(torch.zeros(3, 2), torch.zeros(3, 2),
                                      torch.ones(4)), "x_weights must have shape"),
    (lambda: emdkit.WassersteinLoss()(torch.tensor([[0.0, float("nan")]]),
                                      torch.zeros(3, 2)), "x contains NaN"),
    (lambda: emdkit.WassersteinLoss()(torch.zeros(3, 2), torch.zeros(0, 2)),
     "y is empty"),
])
def test_clear_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


@pytest.mark.parametrize("p", [1.5, 3.0])
def test_gradient_other_p_and_weights(p):
    # the written-out envelope gradients (DualTerm) for |x - y| ** p and the weights
    x, y = _pair(7, n=6, m=5)
    w = torch.rand(6, dtype=torch.float64) + 0.5
    x.requires_grad_(True)
    w.requires_grad_(True)
    loss = emdkit.WassersteinLoss("sinkhorn", p=p, epsilon=0.2, tol=1e-12,
                                  warm_start=False)
    assert torch.autograd.gradcheck(lambda u, v: loss(u, y, v), (x, w), eps=1e-6,
                                    atol=1e-6)


@pytest.mark.parametrize("solver", ["auto", "torch"])
@pytest.mark.parametrize("p", [2.0, 1.5])
def test_transport_cost_gradient_by_implicit_differentiation(solver, p):
    # debias=False: <P, C> is not the optimised objective, so the potentials move with
    # the points and the weights (the adjoint system, torch_terms.adjoint); against
    # finite differences, both sides' weights too. tol 1e-12: the potentials exact.
    x, y = _pair(8, n=6, m=5)
    wa = torch.rand(6, dtype=torch.float64) + 0.5
    wb = torch.rand(5, dtype=torch.float64) + 0.5
    for t in (x, y, wa, wb):
        t.requires_grad_(True)
    loss = emdkit.WassersteinLoss("sinkhorn", p=p, debias=False, epsilon=0.1,
                                  tol=1e-12, warm_start=False, solver=solver)
    assert torch.autograd.gradcheck(lambda *t: loss(*t), (x, y, wa, wb), eps=1e-6,
                                    atol=1e-6)


def test_transport_cost_batched_on_the_torch_loop_equals_distance():
    xs, ys = zip(*[_pair(s, n=40, m=30) for s in range(3)])
    loss = emdkit.WassersteinLoss("sinkhorn", p=2, debias=False, epsilon=0.01,
                                  solver="torch")
    batch = loss(torch.stack(xs), torch.stack(ys))
    for k in range(3):
        want = emdkit.distance(xs[k].numpy(), ys[k].numpy(), "sinkhorn", p=2,
                               epsilon=0.01)
        assert float(batch[k]) == pytest.approx(want, rel=1e-6)
    # warm: the next call starts from these potentials
    loss(torch.stack(xs) + 1e-3, torch.stack(ys))
    assert loss.last["warm"]


def test_adjoint_of_a_plan_split_into_blocks():
    # a plan of two blocks: the Schur complement is exactly singular (each block's
    # potentials have a free constant; the LU solve reports it) and the adjoint is
    # the solution of minimum norm, by the eigendecomposition: the numpy adjoint's
    # (least squares) to rounding
    from emdkit.solvers.entropic import autodiff, torch_terms

    P = np.zeros((4, 4))
    P[:2, :2] = P[2:, 2:] = 1 / 8
    C = np.arange(16.0).reshape(4, 4) / 10
    want_f, want_g = autodiff._adjoint(P, C)
    lam_f, lam_g = torch_terms.adjoint(torch.tensor(P)[None], torch.tensor(C)[None])
    np.testing.assert_allclose(lam_f[0].numpy(), want_f, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(lam_g[0].numpy(), want_g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.5])
def test_sliced_weighted_unequal_batched_equals_distance(p):
    # every item and direction at once in torch (oned.torch_quantile_costs) against
    # distance's numba merge per pair: the same sums in other orders, 1e-10 relative;
    # the gradients against distance's own torch path (the same formula) likewise
    g = torch.Generator().manual_seed(9)
    X = torch.randn(3, 30, 3, generator=g, dtype=torch.float64)
    Y = torch.randn(3, 45, 3, generator=g, dtype=torch.float64) + 0.3
    wa = torch.rand(3, 30, generator=g, dtype=torch.float64)
    wb = torch.rand(3, 45, generator=g, dtype=torch.float64)
    wa[:, :3] = 0.0
    X[:, 5] = X[:, 6]                                       # a tie
    X.requires_grad_(True)
    wa.requires_grad_(True)
    loss = emdkit.WassersteinLoss("sliced", p=p, seed=4, n_projections=30)
    batch = loss(X, Y, wa, wb)
    gx, gw = torch.autograd.grad(batch.sum(), [X, wa])
    for k in range(3):
        want = emdkit.distance(X[k].detach().numpy(), Y[k].numpy(), "sliced", p=p,
                               seed=4, n_projections=30, a_weights=wa[k].detach().numpy(),
                               b_weights=wb[k].numpy())
        assert float(batch[k].detach()) == pytest.approx(want, rel=1e-10)
        xk = X[k].detach().clone().requires_grad_(True)
        wk = wa[k].detach().clone().requires_grad_(True)
        value = emdkit.distance(xk, Y[k], "sliced", p=p, seed=4, n_projections=30,
                                a_weights=wk, b_weights=wb[k])
        dx, dw = torch.autograd.grad(value, [xk, wk])
        # at the tie the split between the two equal points depends on the sort
        # (distance sorts without the points of zero weight): their sum is unique
        tie = lambda t: torch.cat([t[:5], t[5:7].sum(0, keepdim=True), t[7:]])
        torch.testing.assert_close(tie(gx[k]), tie(dx), rtol=1e-9, atol=1e-12)
        # distance normalises the weights inside: compare the tangential parts
        torch.testing.assert_close(gw[k] - gw[k].mean(), dw - dw.mean(), rtol=1e-9,
                                   atol=1e-12)


def test_torch_loop_newton_by_conjugate_gradients(monkeypatch):
    # beyond 1500 columns (or 1 GiB of systems) the Newton systems are solved by
    # batched conjugate gradients on the plan: forced here on a small problem, the
    # same converged value as the numpy driver, in few iterations
    from emdkit.solvers.entropic import newton

    monkeypatch.setattr(newton, "DENSE_SCHUR_MAX", 10)
    x, y = _pair(13, n=120, m=100)
    loss = emdkit.WassersteinLoss("sinkhorn", p=2, epsilon=1e-3, solver="torch")
    value = loss(torch.stack([x, x]), torch.stack([y, y + 0.5]))
    assert loss.last["converged"] and loss.last["n_iter"] < 2000
    for k, shift in enumerate((0.0, 0.5)):
        want = emdkit.distance(x.numpy(), (y + shift).numpy(), "sinkhorn", p=2,
                               debias=True, epsilon=1e-3)
        assert float(value[k]) == pytest.approx(want, rel=1e-6)


def test_torch_loop_restarts_where_the_kernel_underflows():
    # warm potentials far too low: every kernel entry underflows to 0, the products
    # are 0 and the scalings would be inf; an exact log-domain step restarts them,
    # and the solution is the cold one
    from emdkit.solvers.entropic import torch_loop

    x, y = _pair(14, n=50, m=40)
    C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)[None]
    a = torch.full((1, 50), 1 / 50, dtype=torch.float64)
    b = torch.full((1, 40), 1 / 40, dtype=torch.float64)
    eps = torch.tensor([0.01], dtype=torch.float64)
    cold = torch_loop.solve(C, a, b, eps, tol=1e-9)
    low = (torch.full((1, 50), -1e3, dtype=torch.float64),
           torch.full((1, 40), -1e3, dtype=torch.float64))
    op = torch_loop._Scaled(C, a, b, *low, eps[:, None], False)
    op.stage(1.0, None, True)                             # the kernel at epsilon
    assert float(op.K.max()) == 0.0                       # the case of the test
    warm = torch_loop.solve(C, a, b, eps, tol=1e-9, warm=low)
    assert warm.converged and cold.converged
    f0 = cold.f - cold.f.mean()
    torch.testing.assert_close(warm.f - warm.f.mean(), f0, rtol=0, atol=1e-8)


def test_torch_loop_goes_on_with_the_items_still_moving(monkeypatch):
    # six problems at epsilons from 0.005 to 0.5 converge at very different rates:
    # once at most half still move, the loop narrows to those (no kernel rebuilt),
    # the others' potentials kept; each item's solution is then the one it has alone.
    # Compared: the dual value <f, a> + <g, b> to 1e-10 relative (flat at the optimum:
    # its error is of the second order in the potentials'; seen: 8e-13), not the
    # potentials, which at epsilon 0.005 move by 1e-5 within the 1e-9 marginal error
    from emdkit.solvers.entropic import torch_loop

    narrowed = []
    narrow = torch_loop._Scaled.narrow

    def counted(self, keep):
        narrowed.append(len(keep))
        return narrow(self, keep)

    monkeypatch.setattr(torch_loop._Scaled, "narrow", counted)
    pairs = [_pair(20 + k, n=40, m=30) for k in range(6)]
    eps = torch.tensor([0.005, 0.5, 0.01, 0.2, 0.02, 0.1], dtype=torch.float64)
    for symmetric in (False, True):
        narrowed.clear()
        X = [y if symmetric else x for x, y in pairs]
        C = torch.stack([((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
                         for x, (_, y) in zip(X, pairs)])
        a = torch.full(C.shape[:2], 1 / C.shape[1], dtype=torch.float64)
        b = torch.full((6, C.shape[2]), 1 / C.shape[2], dtype=torch.float64)
        batch = torch_loop.solve(C, a, b, eps, symmetric=symmetric, tol=1e-9)
        assert batch.converged and narrowed and max(narrowed) <= 3
        for k in range(6):
            one = torch_loop.solve(C[k:k + 1], a[k:k + 1], b[k:k + 1], eps[k:k + 1],
                                   symmetric=symmetric, tol=1e-9)
            assert one.converged

            def value(s, i):
                return float((s.f[i] * a[k]).sum() + (s.g[i] * b[k]).sum())

            assert value(batch, k) == pytest.approx(value(one, 0), rel=1e-10, abs=0)


def test_sinkhorn_warns_where_costs_underflow():
    # two points 1e-170 apart beside coordinates of size one: their cost underflows
    # to 0 (as in test_trust); exact costs it at its own scale, sinkhorn warns
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([[1e-170, 0.0], [1.0, 1.0]], dtype=torch.float64)
    for solver in ("auto", "torch"):
        with pytest.warns(RuntimeWarning, match="1 pair.s. of distinct points"):
            emdkit.WassersteinLoss("sinkhorn", solver=solver)(x, y)
    want = 0.5 ** 0.5 * 1e-170
    assert float(emdkit.WassersteinLoss("exact")(x, y)) == pytest.approx(want, rel=1e-14,
                                                                         abs=0)
    import warnings

    with warnings.catch_warnings():     # a tiny coordinate with no close pair: silent
        warnings.simplefilter("error")
        emdkit.WassersteinLoss("sinkhorn")(x, torch.tensor([[1e-170, 5.0], [1.0, 2.0]],
                                                           dtype=torch.float64))
