"""Pairs of distributions with a known population Wasserstein distance.

Each function draws seeded samples from two distributions mu and nu whose W_p is known
in closed form, and returns them as a :class:`Pair` with the true value(s):

>>> from emdkit import datasets
>>> pair = datasets.translation(500, d=3, shift=2.0, seed=0)
>>> pair.x.shape, pair.truth(1), pair.truth(2)
((500, 3), 2.0, 2.0)

The truth is the distance between the *populations*; the samples' own distance differs
from it by the sampling error, which in dimension d shrinks like n^(-1/d) for the exact
value (so in high dimension "exact on samples" is far from the truth). With
``paired=True`` the translation and ray families draw y from the same x as the
population coupling, and then the samples' own W_1 equals the mean move exactly.

Families: :func:`translation`, :func:`gaussian_scale`, :func:`gaussians_1d`,
:func:`uniforms_1d`, :func:`gaussians` (general covariances, W_2 by the Bures formula)
and :func:`lipschitz_rays` (a hard high-dimensional family with a known W_1, built from
a 1-Lipschitz potential and its transport rays). :data:`FAMILIES` maps their names to
the functions.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Union

import numpy as np

from .geometry.problem import check_p
from .checks import check_positive

Seed = Union[None, int, np.random.Generator]


@dataclass(frozen=True)
class Pair:
    """Samples ``x`` (from mu) and ``y`` (from nu), shape (n, d), and the population
    distance ``truth(p)`` where it is known."""

    name: str
    x: np.ndarray
    y: np.ndarray
    params: Dict[str, object] = field(default_factory=dict)
    _wp: Optional[Callable[[float], Optional[float]]] = field(default=None, repr=False)

    def __repr__(self) -> str:
        known = ", ".join(f"W_{q:g} = {self.truth(q):.6g}" for q in self.known_p())
        params = ", ".join(f"{k}=" + (f"<array {v.shape}>" if isinstance(v, np.ndarray)
                                      else f"{v:.6g}" if isinstance(v, float) else repr(v))
                           for k, v in self.params.items())
        return (f"Pair({self.name!r}, x: {self.x.shape[0]} x {self.x.shape[1]}, y: "
                f"{self.y.shape[0]} x {self.y.shape[1]}" + (f", {params}" if params else "")
                + (f"; population {known}" if known else "") + ")")

    def truth(self, p: float = 1) -> float:
        """The population W_p(mu, nu); ``ValueError`` where this family has no closed
        form for that p."""
        p = check_p(p)
        value = self._wp(p) if self._wp is not None else None
        if value is None:
            raise ValueError(f"the {self.name!r} pair has no known W_p for p={p:g}; "
                             f"known: {', '.join(f'p={q:g}' for q in self.known_p()) or 'none'}")
        return float(value)

    def known_p(self):
        """The p among 1 and 2 whose truth is known."""
        return tuple(q for q in (1.0, 2.0) if self._wp is not None and self._wp(q) is not None)

    @property
    def d(self) -> int:
        return self.x.shape[1]

    @property
    def n(self) -> int:
        return self.x.shape[0]


def _rng(seed: Seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)
                        and seed >= 0):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be a non-negative integer, a numpy Generator or None, "
                    f"got {seed!r}")


def _size(n, d):
    n = check_positive("n", n, integer=True)
    d = check_positive("d", d, integer=True)
    return n, d


def _real(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def translation(n: int, d: int = 2, *, shift: float = 1.0, paired: bool = False,
                seed: Seed = 0) -> Pair:
    """mu = N(0, I_d), nu = mu translated by ``shift`` along (1, ..., 1) / sqrt(d).

    ``W_p = |shift|`` for every p. With ``paired=True``, y = x + t exactly, and then the
    samples' own W_p is also exactly ``|shift|``.

    >>> translation(4, d=1, shift=0.5, paired=True, seed=1).y[:, 0] - \\
    ...     translation(4, d=1, shift=0.5, paired=True, seed=1).x[:, 0]
    array([0.5, 0.5, 0.5, 0.5])
    """
    n, d = _size(n, d)
    shift = _real("shift", shift)
    rng = _rng(seed)
    x = rng.normal(size=(n, d))
    base = x if paired else rng.normal(size=(n, d))
    y = base + shift / math.sqrt(d)
    return Pair("translation", x, y, {"d": d, "shift": shift, "paired": bool(paired)},
                lambda p: abs(shift))


def gaussian_scale(n: int, d: int = 2, *, s: float = 2.0, seed: Seed = 0) -> Pair:
    """mu = N(0, I_d), nu = N(0, s^2 I_d).

    ``W_1 = |1 - s| sqrt(2) Gamma((d + 1)/2) / Gamma(d/2)`` (the mean of a chi variable,
    by the 1-Lipschitz potential ``|x|``) and ``W_2 = |1 - s| sqrt(d)``.

    >>> round(gaussian_scale(10, d=1, s=3.0).truth(1), 6)   # 2 sqrt(2/pi)
    1.595769
    """
    n, d = _size(n, d)
    s = check_positive("s", s)
    rng = _rng(seed)
    x, y = rng.normal(size=(n, d)), s * rng.normal(size=(n, d))
    chi_mean = math.sqrt(2.0) * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))
    known = {1.0: abs(1 - s) * chi_mean, 2.0: abs(1 - s) * math.sqrt(d)}
    return Pair("gaussian-scale", x, y, {"d": d, "s": s}, known.get)


def gaussians_1d(n: int, *, mean_a: float = 0.0, std_a: float = 1.0,
                 mean_b: float = 1.0, std_b: float = 2.0, seed: Seed = 0) -> Pair:
    """Two 1-D Gaussians. Their quantile functions differ by ``dm + ds * z`` with
    z standard normal (dm, ds the differences of the means and standard deviations),
    so ``W_p^p = E|dm + ds Z|^p``: ``W_2^2 = dm^2 + ds^2``, W_1 the folded-normal mean,
    other p by quadrature.

    >>> gaussians_1d(10, mean_b=3.0, std_b=1.0).truth(1)
    3.0
    """
    n = check_positive("n", n, integer=True)
    std_a, std_b = check_positive("std_a", std_a), check_positive("std_b", std_b)
    mean_a, mean_b = _real("mean_a", mean_a), _real("mean_b", mean_b)
    rng = _rng(seed)
    x = mean_a + std_a * rng.normal(size=(n, 1))
    y = mean_b + std_b * rng.normal(size=(n, 1))
    dm, ds = mean_b - mean_a, abs(std_b - std_a)

    def wp(p):
        if ds == 0.0:
            return abs(dm)
        if p == 2.0:
            return math.sqrt(dm * dm + ds * ds)
        if p == 1.0:
            r = dm / ds
            return ds * math.sqrt(2 / math.pi) * math.exp(-r * r / 2) + dm * math.erf(
                r / math.sqrt(2))
        from scipy import integrate

        def integrand(z):
            return abs(dm + ds * z) ** p * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
        kink = -dm / ds
        val = sum(integrate.quad(integrand, lo, hi, epsabs=0, epsrel=1e-12)[0]
                  for lo, hi in ((-math.inf, kink), (kink, math.inf)))
        return val ** (1 / p)
    return Pair("gaussians-1d", x, y, {"mean_a": mean_a, "std_a": std_a,
                                       "mean_b": mean_b, "std_b": std_b}, wp)


def uniforms_1d(n: int, *, a: tuple = (0.0, 1.0), b: tuple = (0.5, 2.5),
                seed: Seed = 0) -> Pair:
    """U(a) against U(b) on intervals ``a = (lo, hi)``, ``b = (lo, hi)``. The quantile
    difference is ``v(u) = da + dw u`` (differences of the lower ends and widths), so
    ``W_p^p = [|v|^p v / ((p + 1) dw)]_0^1`` for every p.

    >>> uniforms_1d(10, a=(0, 1), b=(2, 3)).truth(3)
    2.0
    """
    n = check_positive("n", n, integer=True)
    (a0, a1), (b0, b1) = _interval("a", a), _interval("b", b)
    rng = _rng(seed)
    x = rng.uniform(a0, a1, size=(n, 1))
    y = rng.uniform(b0, b1, size=(n, 1))
    da, dw = b0 - a0, (b1 - b0) - (a1 - a0)

    def wp(p):
        if dw == 0.0:
            return abs(da)
        prim = [abs(v) ** p * v / ((p + 1) * dw) for v in (da, da + dw)]
        return (prim[1] - prim[0]) ** (1 / p)
    return Pair("uniforms-1d", x, y, {"a": (a0, a1), "b": (b0, b1)}, wp)


def _interval(name, iv):
    try:
        lo, hi = (_real(name, float(v)) for v in iv)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an interval (lo, hi) of finite numbers with "
                         f"lo < hi, got {iv!r}") from None
    if not lo < hi:
        raise ValueError(f"{name} must be an interval (lo, hi) with lo < hi, got {iv!r}")
    return lo, hi


def bures_w2(mean_a, cov_a, mean_b, cov_b) -> float:
    """W_2 between N(mean_a, cov_a) and N(mean_b, cov_b):
    ``|m_a - m_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)``, rooted.

    >>> round(bures_w2([0, 0], [[1, 0], [0, 1]], [3, 4], [[4, 0], [0, 4]]), 12)
    5.196152422707
    """
    ma, mb = np.asarray(mean_a, float), np.asarray(mean_b, float)
    Sa, Sb = np.asarray(cov_a, float), np.asarray(cov_b, float)
    ra = _psd_sqrt(Sa)
    cross = _psd_sqrt(ra @ Sb @ ra)
    w2 = float(((ma - mb) ** 2).sum() + np.trace(Sa) + np.trace(Sb) - 2 * np.trace(cross))
    return math.sqrt(max(w2, 0.0))


def _psd_sqrt(S):
    lam, V = np.linalg.eigh((S + S.T) / 2)
    return (V * np.sqrt(np.clip(lam, 0, None))) @ V.T


def gaussians(n: int, d: int = 2, *, seed: Seed = 0, law_seed: int = 0) -> Pair:
    """Two Gaussians with random means and general (non-commuting) covariances;
    W_2 by the Bures formula (:func:`bures_w2`). W_1 has no closed form here.
    ``law_seed`` draws the means and covariances, ``seed`` the samples (so different
    ``seed`` give fresh samples of the same pair of laws).

    >>> pair = gaussians(100, d=3, seed=0)
    >>> pair.known_p()
    (2.0,)
    """
    n, d = _size(n, d)
    rng, law = _rng(seed), _rng(law_seed)
    covs, means = [], []
    for _ in range(2):
        A = law.normal(size=(d, d)) / math.sqrt(d)
        covs.append(A @ A.T + 0.25 * np.eye(d))
        means.append(law.normal(size=d) / math.sqrt(d))
    x = rng.multivariate_normal(means[0], covs[0], size=n)
    y = rng.multivariate_normal(means[1], covs[1], size=n)
    w2 = bures_w2(means[0], covs[0], means[1], covs[1])
    return Pair("gaussians", x, y, {"d": d, "means": means, "covs": covs},
                {2.0: w2}.get)


def lipschitz_rays(n: int, d: int = 2, *, mean_move: float = 1.0, n_pieces: int = 8,
                   paired: bool = False, seed: Seed = 0, law_seed: int = 0) -> Pair:
    """A pair with a known W_1 in any dimension, built from a 1-Lipschitz potential and
    its transport rays (in the manner of Korotin et al., NeurIPS 2022).

    mu = N(0, I_d). The potential ``phi(x) = max_k <u_k, x> + c_k`` has unit vectors
    u_k, so it is 1-Lipschitz and rises at rate exactly 1 along its active gradient:
    ``phi(x + t u_k(x)) = phi(x) + t``. nu is the law of ``y = x + t u_k(x)`` with
    ``t ~ U(0, 2 mean_move)``. That coupling costs ``E t`` and phi certifies it
    (``E phi(y) - E phi(x) = E t``), so ``W_1 = mean_move`` exactly. Each point moves
    along one of ``n_pieces`` directions chosen by where it lies, so nu is not a
    translate or a rescaling of mu, and a critic must find phi's pieces.

    With ``paired=True`` the same argument holds for the samples themselves: their W_1
    is exactly the mean of the drawn t. ``law_seed`` draws the potential (u_k, c_k),
    ``seed`` the samples.

    >>> pair = lipschitz_rays(1000, d=5, paired=True, seed=0)
    >>> bool(abs(pair.params["sample_mean_move"] - pair.truth(1)) < 0.1)
    True
    """
    n, d = _size(n, d)
    mean_move = check_positive("mean_move", mean_move)
    n_pieces = check_positive("n_pieces", n_pieces, integer=True)
    rng, law = _rng(seed), _rng(law_seed)
    U = law.normal(size=(n_pieces, d))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    c = 0.5 * law.normal(size=n_pieces)
    x = rng.normal(size=(n, d))
    base = x if paired else rng.normal(size=(n, d))
    t = rng.uniform(0.0, 2.0 * mean_move, size=n)
    k = np.argmax(base @ U.T + c, axis=1)
    y = base + t[:, None] * U[k]
    return Pair("lipschitz-rays", x, y,
                {"d": d, "mean_move": mean_move, "n_pieces": n_pieces,
                 "paired": bool(paired), "sample_mean_move": float(t.mean()),
                 "directions": U, "offsets": c},
                {1.0: mean_move}.get)


#: The families by name.
FAMILIES: Dict[str, Callable[..., Pair]] = {
    "translation": translation, "gaussian-scale": gaussian_scale,
    "gaussians-1d": gaussians_1d, "uniforms-1d": uniforms_1d, "gaussians": gaussians,
    "lipschitz-rays": lipschitz_rays,
}
