"""emdkit.datasets: every family's samples really have the stated distance."""

import math

import numpy as np
import pytest

import emdkit
from emdkit import datasets


@pytest.mark.parametrize("family, kwargs, p", [
    ("translation", dict(d=2, shift=1.5), 1),
    ("translation", dict(d=2, shift=1.5), 2),
    ("gaussian-scale", dict(d=2, s=2.0), 1),
    ("gaussian-scale", dict(d=3, s=0.5), 2),
    ("gaussians", dict(d=2), 2),
    ("lipschitz-rays", dict(d=2, mean_move=1.0), 1),
    ("lipschitz-rays", dict(d=3, mean_move=2.0), 1),
])
def test_exact_on_samples_matches_the_truth(family, kwargs, p):
    # |W(x^, y^) - W(mu, nu)| <= W(x^, mu) + W(y^, nu) (triangle inequality), and
    # W_p^p(x^, mu) <= E W_p^p(x^, x'') for a fresh sample x'' of mu (convexity of
    # W_p^p in each argument). So the distances between fresh same-law samples (the
    # noise floor) bound the error of one draw, up to that draw's own fluctuation.
    fn = datasets.FAMILIES[family]
    n = 1500
    pair = fn(n, seed=0, **kwargs)
    value = emdkit.distance(pair.x, pair.y, "exact", p=p)
    a, b = fn(n, seed=1, **kwargs), fn(n, seed=2, **kwargs)
    floor = emdkit.distance(a.x, b.x, p=p) + emdkit.distance(a.y, b.y, p=p)
    assert abs(value - pair.truth(p)) <= floor, (value, pair.truth(p), floor)
    assert floor < 0.6 * pair.truth(p)        # the check has teeth at this n


@pytest.mark.parametrize("family, kwargs, p", [
    ("gaussians-1d", dict(mean_b=1.0, std_b=2.0), 1),
    ("gaussians-1d", dict(mean_b=1.0, std_b=2.0), 2),
    ("gaussians-1d", dict(mean_b=-0.5, std_b=0.3), 3),
    ("uniforms-1d", dict(a=(0, 1), b=(0.5, 2.5)), 1),
    ("uniforms-1d", dict(a=(0, 1), b=(-1, 0.2)), 1.5),
    ("uniforms-1d", dict(a=(0, 1), b=(0.5, 2.5)), 2),
])
def test_one_dimensional_families(family, kwargs, p):
    # 1-D: W_p of n = 200,000 samples is within ~1% of the population value; the
    # noise floor (as above) bounds the error of the draw.
    fn = datasets.FAMILIES[family]
    n = 200_000
    pair = fn(n, seed=0, **kwargs)
    value = emdkit.distance(pair.x[:, 0], pair.y[:, 0], "1d", p=p)
    xa, xb = fn(n, seed=1, **kwargs).x[:, 0], fn(n, seed=2, **kwargs).x[:, 0]
    ya, yb = fn(n, seed=3, **kwargs).y[:, 0], fn(n, seed=4, **kwargs).y[:, 0]
    floor = emdkit.distance(xa, xb, "1d", p=p) + emdkit.distance(ya, yb, "1d", p=p)
    assert abs(value - pair.truth(p)) <= floor
    assert floor < 0.05 * pair.truth(p)


def test_one_dimensional_closed_forms_against_quadrature():
    # the quantile-difference integral, computed independently on a fine grid
    from scipy import stats

    u = (np.arange(400_000) + 0.5) / 400_000
    pair = datasets.gaussians_1d(10, mean_a=0.3, std_a=1.2, mean_b=-0.4, std_b=0.5)
    diff = stats.norm.ppf(u, -0.4, 0.5) - stats.norm.ppf(u, 0.3, 1.2)
    for p in (1, 2, 3.5):
        ref = np.mean(np.abs(diff) ** p) ** (1 / p)
        assert pair.truth(p) == pytest.approx(ref, rel=2e-4)   # midpoint rule, tails
    pair = datasets.uniforms_1d(10, a=(0, 1), b=(-1, 0.2))
    diff = (-1 + 1.2 * u) - u
    for p in (1, 1.5, 2, 4):
        ref = np.mean(np.abs(diff) ** p) ** (1 / p)
        assert pair.truth(p) == pytest.approx(ref, rel=1e-6)


def test_gaussian_scale_w1_formula():
    # d = 1: E|Z| = sqrt(2/pi); d = 2: Rayleigh mean sqrt(pi/2); large d ~ sqrt(d - 1/2)
    assert datasets.gaussian_scale(5, d=1, s=2).truth(1) == pytest.approx(math.sqrt(2 / math.pi))
    assert datasets.gaussian_scale(5, d=2, s=3).truth(1) == pytest.approx(2 * math.sqrt(math.pi / 2))
    assert datasets.gaussian_scale(5, d=400, s=2).truth(1) == pytest.approx(
        math.sqrt(399.5), rel=1e-5)
    assert datasets.gaussian_scale(5, d=7, s=0.5).truth(2) == pytest.approx(0.5 * math.sqrt(7))


def test_bures_formula_special_cases():
    rng = np.random.default_rng(0)
    # commuting (diagonal) covariances: sum of (sqrt(l1) - sqrt(l2))^2
    l1, l2 = rng.random(4) + 0.1, rng.random(4) + 0.1
    m1, m2 = rng.normal(size=4), rng.normal(size=4)
    ref = math.sqrt(((m1 - m2) ** 2).sum() + ((np.sqrt(l1) - np.sqrt(l2)) ** 2).sum())
    assert datasets.bures_w2(m1, np.diag(l1), m2, np.diag(l2)) == pytest.approx(ref, rel=1e-12)
    # symmetric in its arguments, zero on equal Gaussians
    A = rng.normal(size=(3, 3)); S1 = A @ A.T + np.eye(3)
    B = rng.normal(size=(3, 3)); S2 = B @ B.T + np.eye(3)
    assert datasets.bures_w2(m1[:3], S1, m2[:3], S2) == pytest.approx(
        datasets.bures_w2(m2[:3], S2, m1[:3], S1), rel=1e-10)
    assert datasets.bures_w2(m1[:3], S1, m1[:3], S1) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("d", [1, 3, 32])
def test_paired_samples_have_the_exact_distance(d):
    # The population argument holds for the empirical measures themselves: the paired
    # translation's W_p is |t| and the paired rays' W_1 is the mean drawn move, to
    # the LP's precision (1e-9 relative).
    pair = datasets.translation(300, d=d, shift=0.7, paired=True, seed=3)
    for p in (1, 2):
        assert emdkit.distance(pair.x, pair.y, "exact", p=p) == pytest.approx(0.7, rel=1e-9)
    rays = datasets.lipschitz_rays(300, d=d, paired=True, seed=3)
    assert emdkit.distance(rays.x, rays.y, "exact") == pytest.approx(
        rays.params["sample_mean_move"], rel=1e-9)


def test_rays_potential_certifies_the_move():
    # phi rises by exactly t along each sample's ray (the construction's key identity)
    rays = datasets.lipschitz_rays(500, d=10, paired=True, seed=1)
    U, c = rays.params["directions"], rays.params["offsets"]

    def phi(z):
        return (z @ U.T + c).max(axis=1)
    moves = np.linalg.norm(rays.y - rays.x, axis=1)
    np.testing.assert_allclose(phi(rays.y) - phi(rays.x), moves, atol=1e-12)


def test_law_seed_fixes_the_law_and_seed_the_samples():
    a, b = datasets.lipschitz_rays(20, d=3, seed=1), datasets.lipschitz_rays(20, d=3, seed=2)
    np.testing.assert_array_equal(a.params["directions"], b.params["directions"])
    assert not np.array_equal(a.x, b.x)
    c = datasets.lipschitz_rays(20, d=3, seed=1, law_seed=5)
    assert not np.array_equal(a.params["directions"], c.params["directions"])
    g1, g2 = datasets.gaussians(20, d=3, seed=1), datasets.gaussians(20, d=3, seed=2)
    assert g1.truth(2) == g2.truth(2) != datasets.gaussians(20, d=3, law_seed=1).truth(2)


def test_seeded_and_reproducible():
    a, b = datasets.lipschitz_rays(50, d=4, seed=7), datasets.lipschitz_rays(50, d=4, seed=7)
    np.testing.assert_array_equal(a.y, b.y)
    c = datasets.lipschitz_rays(50, d=4, seed=8)
    assert not np.array_equal(a.y, c.y)
    g = np.random.default_rng(0)
    assert datasets.translation(5, seed=g).x.shape == (5, 2)


def test_unknown_truth_and_bad_arguments():
    with pytest.raises(ValueError, match="no known W_p for p=3"):
        datasets.gaussian_scale(10, d=2).truth(3)
    with pytest.raises(ValueError, match="no known W_p for p=1"):
        datasets.gaussians(10).truth(1)
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        datasets.translation(0)
    with pytest.raises(ValueError, match="d must be a positive integer, got 2.5"):
        datasets.translation(10, d=2.5)
    with pytest.raises(ValueError, match="s must be a positive finite number, got -1"):
        datasets.gaussian_scale(10, s=-1)
    with pytest.raises(ValueError, match=r"a must be an interval \(lo, hi\) with lo < hi"):
        datasets.uniforms_1d(10, a=(1, 0))
    with pytest.raises(ValueError, match="shift must be a finite real number, got nan"):
        datasets.translation(10, shift=float("nan"))
    with pytest.raises(TypeError, match="seed must be a non-negative integer"):
        datasets.translation(10, seed="x")
    with pytest.raises(ValueError, match="p must be a finite real number >= 1"):
        datasets.translation(10).truth(0.5)


def test_pair_repr_is_short():
    pair = datasets.lipschitz_rays(2000, d=10, seed=0)
    text = repr(pair)
    assert len(text) < 300 and "x: 2000 x 10" in text and "W_1 = 1" in text
    assert "<array (" in text                # arrays summarised, not dumped
