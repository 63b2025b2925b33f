"""method="critic" and emdkit.wgan: the WGAN dual as a W_1 estimate."""

import numpy as np
import pytest

import emdkit

torch = pytest.importorskip("torch", reason="the critic is a torch network")
from emdkit import wgan  # noqa: E402


def test_translation_recovered(rng):
    # For a translation by t the optimal critic is linear, f(x) = -t.x / |t|, which a
    # GroupSort network reaches in a few hundred steps: the held-out estimate is
    # within its bootstrap interval's width (about 5%) of |t| = 3.
    x = rng.normal(size=(500, 2))
    y = rng.normal(size=(500, 2)) + np.array([3.0, 0.0])
    r = emdkit.solve(x, y, "critic", steps=300, seed=0)
    assert r.value == pytest.approx(3.0, rel=0.05)
    lo, hi = r.ci
    assert lo < r.value < hi and hi - lo < 0.5
    assert r.info["max_grad_norm"] <= 1.0 + 1e-4
    # early stopping (the default): each critic stopped where its curve levelled
    assert r.converged and all(100 <= k <= 300 for k in r.info["steps_run"])
    assert r.info["curve"][-1][0] == r.info["steps_run"][0] - 1
    assert r.n_iter == sum(r.info["steps_run"])


def test_early_stopping_off_runs_every_step(rng):
    x = rng.normal(size=(300, 2))
    y = rng.normal(size=(300, 2)) + np.array([3.0, 0.0])
    r = emdkit.solve(x, y, "critic", steps=300, seed=0, early_stopping=False)
    assert r.info["steps_run"] == [300, 300] and r.info["curve"][-1][0] == 299


def test_early_stopping_waits_for_a_rising_curve(rng):
    # weight clipping at RMSprop's lr 5e-5 climbs slowly towards K * W_1 for a far
    # translation: its objective is still rising at every check, so both critics run
    # every step (and the result says it had not levelled off)
    x = rng.normal(size=(300, 2))
    y = rng.normal(size=(300, 2)) + np.array([20.0, 0.0])
    with pytest.warns(RuntimeWarning, match="still rising"):
        r = emdkit.solve(x, y, "critic", lipschitz="clip", steps=300, seed=0)
    assert not r.converged and r.info["steps_run"] == [300, 300]


def test_early_stopping_decides_at_checks_only(rng, monkeypatch):
    """The stop is tried at the checks (every tenth of ``steps`` from ``EARLY_FROM``),
    once the objective was flat at two in a row, and at every later flat check: here
    flat always and levelled from the fourth check on, so the critics stop there
    (trying between checks, or only at the second flat check, would not)."""
    from emdkit.solvers import critic as c

    first = max(c.MIN_STEPS, int(np.ceil(c.EARLY_FROM * 300)))
    checks = [first + 30 * k for k in range(4)]
    calls = []
    monkeypatch.setattr(c, "_flat", lambda objs, window: True)
    monkeypatch.setattr(c, "_levelled", lambda curve, steps: calls.append(steps) or
                        steps >= checks[3])
    x = rng.normal(size=(200, 2))
    r = emdkit.solve(x, x + 1.0, "critic", steps=300, seed=0)
    assert r.info["steps_run"] == [checks[3], checks[3]]
    assert set(calls) == set(checks[1:])        # from the second flat check on


def test_early_stopping_check_is_the_levelled_test():
    from emdkit.solvers import critic as c

    flat = [(k, 1.0 + 0.001 * (-1) ** k) for k in range(60)]
    rising = [(k, 0.01 * k) for k in range(60)]
    assert c._levelled(flat, 200) and not c._levelled(rising, 200)
    assert not c._levelled(flat, c.MIN_STEPS - 1)       # too few steps to tell


def test_groupsort_critic_is_one_lipschitz():
    # 1-Lipschitz by construction, whatever the weights: gradient norms <= 1 (up to
    # the Björck iterations' precision) at random weights and random points.
    for seed in range(3):
        f = wgan.make_critic(5, width=32, depth=3, lipschitz="groupsort", seed=seed)
        with torch.no_grad():
            for p in f.parameters():
                p.mul_(10.0)                 # wild weights: still 1-Lipschitz
        x = torch.randn(2000, 5, requires_grad=True)
        (g,) = torch.autograd.grad(f(x).sum(), x)
        assert g.norm(dim=1).max().item() <= 1.0 + 1e-4


def test_ortho_linear_warm_iterations_and_retraction():
    # cold from a raw weight; after retract_ the raw weight is orthonormal and the
    # warm forward pass (one differentiated iteration, more after a step) keeps it so
    torch.manual_seed(0)
    for shape in ((16, 5), (1, 16), (32, 32)):
        layer = wgan.OrthoLinear(shape[1], shape[0]).double()
        k = min(shape)
        # the cold forward pass: spectral norm at most 1 (1-Lipschitz)
        assert float(torch.linalg.matrix_norm(layer.ortho_weight().detach(), 2)) <= 1 + 1e-12
        layer.retract_()
        w = layer.weight
        gram = w @ w.t() if shape[0] < shape[1] else w.t() @ w
        assert torch.allclose(gram, torch.eye(k, dtype=torch.float64), atol=1e-12)
        with torch.no_grad():
            layer.weight.add_(1e-3 * torch.randn(shape, dtype=torch.float64))  # a step
        w = layer.ortho_weight()
        gram = w @ w.t() if shape[0] < shape[1] else w.t() @ w
        assert torch.allclose(gram, torch.eye(k, dtype=torch.float64), atol=1e-12)
        # the gradient through the warm iteration at an orthonormal W lies in the
        # tangent space: W^T G + G^T W = 0 (for W with orthonormal columns)
        layer.retract_()
        layer.weight.grad = None
        target = torch.randn(shape, dtype=torch.float64)
        (layer.ortho_weight() * target).sum().backward()
        W, G = layer.weight.detach(), layer.weight.grad
        if shape[0] < shape[1]:
            W, G = W.t(), G.t()
        sym = W.t() @ G + G.t() @ W
        assert float(sym.abs().max()) < 1e-10 * float(G.abs().max())


def test_critic_loss_generator_loss_formulas():
    f = wgan.make_critic(3, lipschitz="gp", seed=1)
    real, fake = torch.randn(32, 3), torch.randn(32, 3)
    assert torch.equal(wgan.critic_loss(f, real, fake), f(fake).mean() - f(real).mean())
    assert torch.equal(wgan.generator_loss(f, fake), -f(fake).mean())


def test_gradient_penalty_zero_for_unit_slope_linear_critic():
    u = torch.tensor([0.6, 0.8])

    def f(x):
        return x @ u

    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    assert wgan.gradient_penalty(f, real, fake).item() == pytest.approx(0.0, abs=1e-12)
    assert wgan.gradient_penalty(lambda x: 3 * f(x), real, fake, weight=1.0).item() == \
        pytest.approx(4.0, rel=1e-6)     # (3 - 1)^2
    with pytest.raises(ValueError, match="one shape"):
        wgan.gradient_penalty(f, real, fake[:3])


def test_clip_weights():
    f = wgan.make_critic(2, lipschitz="clip", seed=0)
    wgan.clip_weights(f, 0.01)
    assert all(p.abs().max().item() <= 0.01 for p in f.parameters())


@pytest.mark.filterwarnings("ignore:emdkit method 'critic' did not converge")
def test_reproducible_and_numpy_torch_agree(rng):
    # 50 steps keep this fast; too few to show convergence (tested in test_trust)
    x, y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 1
    a = emdkit.distance(x, y, "critic", steps=50, seed=3)
    b = emdkit.distance(x, y, "critic", steps=50, seed=3)
    assert a == b
    t = emdkit.distance(torch.tensor(x, requires_grad=True), torch.tensor(y), "critic",
                        steps=50, seed=3)
    assert torch.is_tensor(t) and t.dtype == torch.float64
    assert t.item() == pytest.approx(a, rel=1e-5)    # float32 network, float64 sums
    t.backward()


@pytest.mark.parametrize("kwargs,error,match", [
    ({"p": 2}, ValueError, r"Kantorovich-Rubinstein duality, which holds for p = 1"),
    ({"metric": "cityblock"}, ValueError, r"needs metric='euclidean'"),
    ({"lipschitz": "weight-decay"}, ValueError, r"lipschitz must be one of 'groupsort'"),
    ({"test_size": 1.0}, ValueError, r"test_size must be a positive finite number below 1"),
    ({"steps": 0}, ValueError, r"steps must be a positive integer"),
    ({"early_stopping": "no"}, TypeError, r"early_stopping must be True or False, got 'no'"),
])
def test_bad_options(kwargs, error, match):
    x = np.zeros((10, 2))
    with pytest.raises(error, match=match):
        emdkit.distance(x, x + 1, "critic", **kwargs)


@pytest.mark.parametrize("mode", ["gp", "spectral", "clip"])
def test_other_modes_run(rng, mode):
    x, y = rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 2
    with pytest.warns(RuntimeWarning, match="critic' did not converge"):
        r = emdkit.solve(x, y, "critic", lipschitz=mode, steps=30, seed=0)
    assert np.isfinite(r.value) and r.info["lipschitz"] == mode and not r.converged


def test_bootstrap_resamples_have_the_mean_s_spread():
    # equal weights (drawn indices) and unequal ones (multinomial counts): the
    # resampled means scatter by sd(f; v) / sqrt(n), the standard error of a mean; with
    # 2000 resamples the scatter's own relative error is about 1 / sqrt(4000) = 1.6%,
    # so 8% is five of those
    from emdkit.solvers.critic import _resampled_means

    rng = np.random.default_rng(0)
    f = rng.normal(size=500) ** 2
    for v in (np.full(500, 1 / 500), rng.random(500)):
        v = v / v.sum()
        means = _resampled_means(f, v, 2000, rng)
        mu = v @ f
        sd = np.sqrt(v @ (f - mu) ** 2 / 500)
        assert means.mean() == pytest.approx(mu, abs=4 * sd / np.sqrt(2000))
        assert means.std() == pytest.approx(sd, rel=0.08)
