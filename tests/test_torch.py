"""torch in, torch out: same value as numpy, same device and dtype, gradients
through the coupling checked against finite differences in float64."""

import warnings

import numpy as np
import pytest

import emdkit

torch = pytest.importorskip("torch", reason="torch is an optional dependency")

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def t64(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("method,d", [("exact", 2), ("exact", 1), ("1d", 1), ("auto", 1),
                                      ("auto", 3)])
@pytest.mark.parametrize("p", [1, 2, 2.5])
def test_same_value_as_numpy(rng, method, d, p):
    x, y = rng.normal(size=(12, d)), rng.normal(size=(9, d))
    wa, wb = rng.random(12), rng.random(9)
    ref = emdkit.distance(x, y, method, p=p, a_weights=wa, b_weights=wb)
    got = emdkit.distance(t64(x), t64(y), method, p=p, a_weights=t64(wa), b_weights=t64(wb))
    assert torch.is_tensor(got) and got.ndim == 0 and got.dtype == torch.float64
    # The torch value re-sums the same plan: rounding only.
    assert got.item() == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_device_and_dtype_follow_input(rng, device, dtype):
    x = torch.tensor(rng.normal(size=(10, 2)), dtype=dtype, device=device)
    for method, a, b in (("exact", x, x + 1), ("1d", x[:, 0], x[:, 0] + 1)):
        r = emdkit.solve(a, b, method=method, p=2)
        assert r.value.device.type == torch.device(device).type and r.value.dtype == dtype
        tol = 1e-6 if dtype == torch.float32 else 1e-12
        expected = np.sqrt(2.0) if method == "exact" else 1.0
        assert r.value.item() == pytest.approx(expected, rel=tol)
    plan = emdkit.solve(x, x + 1).plan
    assert torch.is_tensor(plan) and plan.dtype == dtype


def test_integer_tensors_become_default_float():
    got = emdkit.distance(torch.tensor([0, 1]), torch.tensor([2, 3]))
    assert got.dtype == torch.get_default_dtype() and got.item() == 2.0


def test_mixed_numpy_and_torch(rng):
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2))
    got = emdkit.distance(t64(x), y)
    assert torch.is_tensor(got)
    assert got.item() == pytest.approx(emdkit.distance(x, y), rel=1e-12)


def test_nan_in_tensor_rejected():
    with pytest.raises(ValueError, match=r"a contains NaN or inf"):
        emdkit.distance(torch.tensor([0.0, float("nan")]), torch.tensor([1.0]))


def test_complex_tensor_rejected():
    with pytest.raises(TypeError, match=r"b must hold real numbers, got a complex tensor"):
        emdkit.distance(torch.tensor([0.0]), torch.tensor([1j]))


@pytest.mark.parametrize("p", [1, 1.5, 2, 3])
@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "chebyshev"])
def test_gradcheck_exact(rng, p, metric):
    # Random weights and unequal sizes make the LP non-degenerate, so the value is
    # differentiable in positions and weights; gradcheck compares with central
    # finite differences (eps 1e-6, atol 1e-5, rtol 1e-3: torch's defaults).
    x, y = t64(rng.normal(size=(7, 2)), True), t64(rng.normal(size=(5, 2)), True)
    wa, wb = t64(rng.random(7) + 0.1, True), t64(rng.random(5) + 0.1, True)

    def f(x, y, wa, wb):
        return emdkit.distance(x, y, "exact", p=p, metric=metric, a_weights=wa,
                               b_weights=wb)

    assert torch.autograd.gradcheck(f, (x, y, wa, wb))


@pytest.mark.parametrize("p", [1, 1.5, 2, 3])
@pytest.mark.parametrize("method", ["1d", "exact"])
def test_gradcheck_1d(rng, p, method):
    x, y = t64(rng.normal(size=9), True), t64(rng.normal(size=6) + 0.5, True)
    wa, wb = t64(rng.random(9) + 0.1, True), t64(rng.random(6) + 0.1, True)

    def f(x, y, wa, wb):
        return emdkit.distance(x, y, method, p=p, a_weights=wa, b_weights=wb)

    assert torch.autograd.gradcheck(f, (x, y, wa, wb))


def test_gradcheck_unweighted_1d(rng):
    x, y = t64(rng.normal(size=11), True), t64(rng.normal(size=11), True)
    assert torch.autograd.gradcheck(lambda x, y: emdkit.distance(x, y, "1d", p=2), (x, y))


def test_gradcheck_callable_metric(rng):
    x, y = t64(rng.normal(size=(6, 3)), True), t64(rng.normal(size=(8, 3)))
    wa = t64(rng.random(6) + 0.1, True)

    def metric(u, v):
        return torch.cdist(u, v, compute_mode="donot_use_mm_for_euclid_dist")

    def f(x, wa):
        return emdkit.distance(x, y, p=2, metric=metric, a_weights=wa)

    assert torch.autograd.gradcheck(f, (x, wa))
    assert f(x, wa).item() == pytest.approx(emdkit.distance(x, y, p=2, a_weights=wa).item(),
                                            rel=1e-12)


def test_translation_gradient_closed_form(rng):
    # d/dt W_p(x, x + t) = t / |t|: moving the copy away increases W at unit rate.
    x = t64(rng.normal(size=(20, 2)))
    t = t64([0.6, 0.8], True)
    for p in (1, 2, 3):
        t.grad = None
        emdkit.distance(x, x + t, p=p).backward()
        np.testing.assert_allclose(t.grad.numpy(), [0.6, 0.8], rtol=1e-10)


@pytest.mark.parametrize("method", ["exact", "1d"])
@pytest.mark.parametrize("p", [1, 2, 3])
def test_identical_inputs_have_finite_zero_gradient(method, p):
    # W is not differentiable at a == b; the gradient returned is 0, never NaN.
    x = t64([[0.0], [1.0], [3.0]], True)
    value = emdkit.distance(x, x.detach().clone(), method, p=p)
    value.backward()
    assert value.item() == 0.0
    assert torch.isfinite(x.grad).all() and (x.grad == 0).all()


def test_weights_without_grad_and_samples_with(rng):
    x = t64(rng.normal(size=(5, 2)), True)
    y = t64(rng.normal(size=(4, 2)))
    value = emdkit.distance(x, y, a_weights=np.ones(5), b_weights=t64(np.ones(4)))
    value.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


# ------------------------------------------------------------------------- sinkhorn


@pytest.mark.parametrize("debias", [False, True])
@pytest.mark.parametrize("p", [1, 2, 1.5])
def test_gradcheck_sinkhorn(rng, debias, p):
    # debias=False: <P_eps, C> by implicit differentiation of the optimality
    # conditions; debias=True: the divergence by the envelope theorem. tol=1e-12 so
    # that the finite differences (eps 1e-6) see the converged solution.
    x, y = t64(rng.normal(size=(6, 2)), True), t64(rng.normal(size=(5, 2)) + 0.5, True)
    wa, wb = t64(rng.random(6) + 0.1, True), t64(rng.random(5) + 0.1, True)

    def f(x, y, wa, wb):
        return emdkit.distance(x, y, "sinkhorn", p=p, epsilon=0.3, debias=debias,
                               tol=1e-12, a_weights=wa, b_weights=wb)

    assert torch.autograd.gradcheck(f, (x, y, wa, wb))


def test_gradcheck_sinkhorn_callable_metric(rng):
    x, y = t64(rng.normal(size=(5, 3)), True), t64(rng.normal(size=(6, 3)))

    # debias evaluates metric(a, a), whose diagonal is 0: the callable must have a
    # finite gradient there (abs does: 0; a plain sqrt of squares would give NaN).
    def metric(u, v):
        return (u[:, None, :] - v[None, :, :]).abs().sum(-1)

    def f(x):
        return emdkit.distance(x, y, "sinkhorn", p=2, metric=metric, epsilon=0.2,
                               tol=1e-12, debias=True)

    assert torch.autograd.gradcheck(f, (x,))
    assert f(x).item() == pytest.approx(emdkit.distance(
        x.detach().numpy(), y.numpy(), "sinkhorn", p=2, metric="cityblock", epsilon=0.2,
        tol=1e-12, debias=True), rel=1e-9)


@pytest.mark.parametrize("debias", [False, True])
def test_sinkhorn_same_value_as_numpy(rng, debias):
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(30, 2)) + 1
    ref = emdkit.solve(x, y, "sinkhorn", p=2, epsilon=0.05, debias=debias)
    got = emdkit.solve(t64(x), t64(y), "sinkhorn", p=2, epsilon=0.05, debias=debias)
    assert got.value.item() == pytest.approx(ref.value, rel=1e-10)
    assert torch.is_tensor(got.plan) and torch.is_tensor(got.potentials[0])


@pytest.mark.parametrize("device", DEVICES)
def test_sinkhorn_device_and_dtype(rng, device):
    x = torch.tensor(rng.normal(size=(20, 2)), dtype=torch.float32, device=device)
    v = emdkit.distance(x, x + 1.0, "sinkhorn", p=2, debias=True)
    assert v.dtype == torch.float32 and v.device.type == torch.device(device).type
    assert v.item() == pytest.approx(2 ** 0.5, rel=1e-4)


def test_sinkhorn_torch_refuses_online(rng):
    x = t64(rng.normal(size=(50, 2)))
    with pytest.raises(ValueError, match=r"torch input needs the dense"):
        emdkit.distance(x, x, "sinkhorn", backend="online")


# --------------------------------------------------------------------- sliced


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("p", [1, 2, 1.5])
def test_gradcheck_sliced(rng, weighted, p):
    # Fixed directions (seed): the value is a finite sum of sorted-matching costs,
    # smooth where no projected ties occur (generic random data).
    x = t64(rng.normal(size=(7, 3)), True)
    y = t64(rng.normal(size=(7 if not weighted else 5, 3)) + 0.3, True)
    kw = {}
    if weighted:
        kw = {"a_weights": t64(rng.random(7) + 0.1, True),
              "b_weights": t64(rng.random(5) + 0.1, True)}

    def f(x, y, *w):
        extra = dict(zip(("a_weights", "b_weights"), w))
        return emdkit.distance(x, y, "sliced", p=p, seed=4, n_projections=12, **extra)

    assert torch.autograd.gradcheck(f, (x, y, *kw.values()))


def test_sliced_torch_equals_numpy(rng):
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(40, 4))
    for kw in ({}, {"a_weights": rng.random(50)}):
        ref = emdkit.distance(x, y, "sliced", p=2, seed=2, **kw)
        got = emdkit.distance(t64(x), t64(y), "sliced", p=2, seed=2, **kw)
        assert got.item() == pytest.approx(ref, rel=1e-12)


def test_gradcheck_max_sliced(rng):
    # envelope theorem: the optimal direction is held fixed. Checked where the
    # maximum is smooth (a translation plus a small distortion): with a handful of
    # random points the maximum often sits on a kink of theta -> W_p(theta), where
    # no gradient exists.
    base = rng.normal(size=(8, 3))
    x = t64(base, True)
    y = t64(base * 1.1 + np.array([1.0, -2.0, 0.5]), True)
    r = emdkit.solve(x, y, "max-sliced", p=2, seed=0)
    assert r.value.item() == pytest.approx(
        emdkit.distance(x.detach().numpy(), y.detach().numpy(), "max-sliced", p=2,
                        seed=0), rel=1e-12)
    r.value.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # at a maximum over theta, the total derivative in x equals the partial one:
    # compare with finite differences of the max-sliced value itself
    h = 1e-6
    e = torch.zeros_like(x)
    e[2, 1] = h
    up = emdkit.distance((x + e).detach().numpy(), y.detach().numpy(), "max-sliced", p=2,
                         seed=0)
    dn = emdkit.distance((x - e).detach().numpy(), y.detach().numpy(), "max-sliced", p=2,
                         seed=0)
    assert x.grad[2, 1].item() == pytest.approx((up - dn) / (2 * h), rel=1e-4, abs=1e-7)


def test_result_repr_and_float_of_a_tensor_value_do_not_warn():
    # float() of a tensor that requires grad warns in torch; printing a Result must not
    x = torch.tensor(np.arange(5.0), requires_grad=True)
    r = emdkit.solve(x, torch.tensor(np.arange(4.0)), "1d")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text, value = repr(r), float(r)
    assert "value=0.5" in text and value == pytest.approx(0.5, rel=1e-12)
    assert r.value.requires_grad
