"""``cost=``: two histograms over the rows and columns of a ground-cost matrix, against
POT's ``ot.emd2`` / ``ot.sinkhorn`` on the same input, torch gradients, and clear
errors."""

import numpy as np
import pytest

import emdkit

ot = pytest.importorskip("ot")


def histograms(rng, n, m, zeros=True):
    a, b = rng.random(n), rng.random(m)
    if zeros:
        a[::7], b[::5] = 0.0, 0.0                 # empty bins carry no mass
    M = rng.random((n, m)) * 3.0
    return a / a.sum(), b / b.sum(), M


@pytest.mark.parametrize("p", [1, 2, 1.5])
def test_exact_equals_pot_emd2(rng, p):
    # the transport cost is cost ** p, so W_p ** p is emd2 on M ** p
    a, b, M = histograms(rng, 40, 33)
    r = emdkit.solve(a, b, cost=M, p=p)
    ref = ot.emd2(a, b, M ** p)
    assert r.cost == pytest.approx(ref, rel=1e-9)
    assert r.value == pytest.approx(ref ** (1 / p), rel=1e-9)
    assert r.plan.shape == (40, 33) and np.allclose(r.plan.sum(1), a, atol=1e-12)
    lo, hi = r.bounds
    assert lo <= r.value <= hi


def test_sinkhorn_is_pots_entropic_problem(rng):
    # the KL to a x b and POT's entropy differ by a constant on the couplings of
    # (a, b): the same plan, so the same transport cost (tight tolerances both)
    a, b, M = histograms(rng, 30, 25, zeros=False)
    r = emdkit.solve(a, b, "sinkhorn", cost=M, epsilon=0.01, tol=1e-11)
    P = ot.sinkhorn(a, b, M, 0.01, stopThr=1e-13, numItermax=200_000)
    assert r.value == pytest.approx(float((P * M).sum()), rel=1e-8)
    lo, hi = r.bounds
    assert lo <= emdkit.distance(a, b, cost=M) <= hi


def test_auto_takes_cost_and_certifies(rng):
    a, b, M = histograms(rng, 20, 20)
    r = emdkit.solve(a, b, "auto", cost=M, p=2)
    assert r.value == pytest.approx(ot.emd2(a, b, M ** 2) ** 0.5, rel=1e-2)
    lo, hi = r.bounds
    assert hi - lo <= 1e-2 * lo


def test_torch_gradients_with_respect_to_cost_and_weights(rng):
    torch = pytest.importorskip("torch", reason="torch is optional")
    a, b, M = histograms(rng, 12, 9, zeros=False)
    Mt = torch.tensor(M, requires_grad=True)
    at = torch.tensor(a, requires_grad=True)
    v = emdkit.distance(at, b, cost=Mt)           # p = 1: dW/dM_ij is the plan
    v.backward()
    plan = emdkit.solve(a, b, cost=M).plan
    assert isinstance(v, torch.Tensor) and v.dtype == torch.float64
    assert np.allclose(Mt.grad.numpy(), plan, atol=1e-12)
    # the weights: central differences along a direction that keeps the total
    d = rng.normal(size=12)
    d -= d.mean()
    h = 1e-6
    fd = (emdkit.distance(a + h * d, b, cost=M) - emdkit.distance(a - h * d, b, cost=M)) / (2 * h)
    assert float(at.grad @ torch.tensor(d)) == pytest.approx(fd, rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(method="sliced"), ValueError, r"cost= is taken by the methods exact"),
    (dict(method="1d"), ValueError, r"cost= is taken by the methods"),
    (dict(a_weights=np.ones(4)), TypeError, r"a and b are the weights themselves"),
    (dict(metric="cityblock"), TypeError, r"pass no metric"),
    (dict(method="sinkhorn", debias=True), ValueError, r"debias=True needs the costs"),
])
def test_cost_refuses_what_it_cannot_mean(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        emdkit.distance(np.ones(4), np.ones(3), cost=np.ones((4, 3)), **kwargs)


@pytest.mark.parametrize("a,b,M,match", [
    (np.ones(4), np.ones(3), np.ones((3, 4)), r"a is the histogram over the 3 rows"),
    (np.ones(4), np.ones(2), np.ones((4, 3)), r"b is the histogram over the 3 columns"),
    (np.ones(4), np.ones(3), np.ones(12), r"cost must be the \(n, m\) matrix"),
    (np.ones(4), np.ones(3), -np.ones((4, 3)), r"cost must be non-negative"),
    (np.ones(4), np.ones(3), np.full((4, 3), np.nan), r"cost contains NaN"),
    (-np.ones(4), np.ones(3), np.ones((4, 3)), r"a must be non-negative"),
    (np.zeros(4), np.ones(3), np.ones((4, 3)), r"a sum to 0.0"),
])
def test_cost_input_errors_name_the_argument(a, b, M, match):
    with pytest.raises(ValueError, match=match):
        emdkit.distance(a, b, cost=M)
