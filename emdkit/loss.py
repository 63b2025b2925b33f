"""``emdkit.WassersteinLoss``: a torch module for training, batched and warm-started.

``loss(x, y)`` is ``emdkit.distance(x, y, method, p=p, **options)`` as a loss: the
same value, differentiable; ``x`` and ``y`` of shape (n, d), or batched (B, n, d) for
a (B,) result (1-D samples: (n,) or (B, n, 1)). Where each method runs:

- ``"sinkhorn"`` (the default, debiased): batched Sinkhorn in torch on the input's
  device and dtype (``solvers/entropic/torch_loop.py``: the numpy driver's
  log-stabilised scalings, over-relaxation and Newton finish, batched), or on the
  CPU the numpy driver itself. Gradients (``solvers/entropic/torch_terms.py``): by
  the envelope theorem for the divergence (no iteration replayed, no linear solve);
  with ``debias=False``, the transport cost ``<P, C>`` (as ``distance``'s value), by
  implicit differentiation (one batched (m, m) solve on the device). The potentials
  of the last call are kept per batch item and start the next call when the shapes
  match: consecutive training steps are close problems, so a warm step takes a few
  iterations at the final epsilon instead of a whole epsilon schedule
  (``loss.reset()`` forgets them; ``warm_start=False`` never keeps them).
- ``"sliced"``: batched in torch on the device, weighted or not, any sizes
  (directions drawn as ``distance`` draws them, so with a ``seed`` the value is the
  same).
- ``"exact"``, ``"1d"``: item by item through ``emdkit.distance``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from .solvers.entropic import torch_loop

__all__ = ["WassersteinLoss"]

_METHODS = ("sinkhorn", "sliced", "exact", "1d")


class WassersteinLoss(torch.nn.Module):
    """W_p (or the Sinkhorn divergence, rooted) between two point clouds, as a loss.

    Parameters
    ----------
    method : {"sinkhorn", "sliced", "exact", "1d"}, default "sinkhorn"
    p : float, default 2
    debias : bool, default True
        ``sinkhorn`` only: the Sinkhorn divergence ``S ** (1/p)`` (zero for equal
        inputs, no epsilon bias of the first order), as ``distance(..., debias=True)``;
        ``False``: the transport cost ``<P, C> ** (1/p)`` of the entropic plan, as
        ``distance(..., "sinkhorn")``, differentiated implicitly.
    epsilon : float, optional
        ``sinkhorn`` only, in the units of ``|x - y| ** p``; default ``1e-3`` times
        the mean cost of the independent coupling, per batch item (as ``distance``,
        which beyond 2000 points estimates that mean from 2000 of them: pass
        ``epsilon`` for the same value there).
    tol, max_iter, scaling : ``sinkhorn``'s stopping rule (L1 error of the
        marginals), iteration budget per call, epsilon scaling factor.
    warm_start : bool, default True
        Keep the potentials between calls (``sinkhorn``).
    solver : {"auto", "torch"}, default "auto"
        ``sinkhorn``: ``auto`` solves CPU tensors with emdkit's numpy driver (in
        float64 whatever the input's dtype) and tensors on other devices with the
        batched torch loop on the device, in their dtype; ``torch`` always the torch
        loop. Both take relaxed iterations and a Newton finish: a few hundred
        iterations at epsilon 0.0025 where plain Sinkhorn takes over ten thousand.
    **options
        The method's other options for ``emdkit.distance`` (``sliced``:
        ``n_projections``, ``seed``, ``directions``).

    Examples
    --------
    >>> import torch, emdkit
    >>> loss = emdkit.WassersteinLoss("sinkhorn", p=2, epsilon=1e-3)
    >>> x = torch.zeros(50, 2, dtype=torch.float64, requires_grad=True)
    >>> y = torch.zeros(50, 2, dtype=torch.float64) + torch.tensor([3.0, 4.0])
    >>> value = loss(x, y)
    >>> round(float(value.detach()), 6)     # the divergence of a translation: |t| = 5
    5.0
    >>> value.backward()
    >>> [round(float(v), 6) for v in x.grad.sum(0)]     # d|t|/dx = -t/|t|
    [-0.6, -0.8]
    """

    def __init__(self, method: str = "sinkhorn", p: float = 2, *, debias: bool = True,
                 epsilon: Optional[float] = None, tol: float = 1e-6,
                 max_iter: int = 10_000, scaling: float = 0.5, warm_start: bool = True,
                 solver: str = "auto", **options):
        super().__init__()
        from .geometry.problem import check_p
        from .solvers import check_method_options
        from .solvers.options import did_you_mean

        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
        self.method, self.p = method, check_p(p)
        if not isinstance(debias, (bool, np.bool_)):
            raise TypeError(f"debias must be True or False, got {debias!r}")
        if method != "sinkhorn" and (epsilon is not None or not debias):
            raise TypeError(f"epsilon and debias are options of 'sinkhorn', not of "
                            f"{method!r}")
        # the options the loss shares with method="sinkhorn", by its checks
        shared = check_method_options("sinkhorn", dict(
            debias=debias, epsilon=epsilon, tol=tol, max_iter=max_iter, scaling=scaling))
        self.debias, self.epsilon = shared["debias"], shared["epsilon"]
        self.tol, self.max_iter, self.scaling = (shared["tol"], shared["max_iter"],
                                                 shared["scaling"])
        self.warm_start = bool(warm_start)
        if solver not in ("auto", "torch"):
            raise ValueError(f"solver must be 'auto' or 'torch', got {solver!r}")
        self.solver = solver
        if method == "sinkhorn" and options:
            takes = ("p", "debias", "epsilon", "tol", "max_iter", "scaling",
                     "warm_start", "solver")
            unknown = sorted(options)
            raise TypeError(f"WassersteinLoss('sinkhorn') got unexpected option(s) "
                            f"{', '.join(unknown)}{did_you_mean(unknown, takes)}; "
                            f"it takes "
                            f"{', '.join(takes)}")
        # a misspelt option is an error, not ignored
        self.options = check_method_options(method, options)
        self.last = {}            # of the last call: n_iter, converged, err (sinkhorn)
        self._warm = None

    def reset(self) -> None:
        """Forget the kept potentials: the next call starts from scratch."""
        self._warm = None

    def forward(self, x, y, x_weights=None, y_weights=None):
        X, Y, a, b, batched = _batch(x, y, x_weights, y_weights)
        if X.shape[0] == 0:         # an empty batch: an empty result, every method
            return torch.zeros(0, dtype=X.dtype, device=X.device)
        if self.method == "sinkhorn":
            out = self._sinkhorn(X, Y, a, b)
        elif self.method == "sliced":
            out = self._sliced(X, Y, a, b)
        else:
            out = self._items(X, Y, a, b)
        return out if batched else out[0]

    # ---------------------------------------------------------------- sinkhorn
    def _sinkhorn(self, X, Y, a, b):
        """The divergence's three problems (``debias``) or the (a, b) one, solved
        batched, warm-started; the value from ``torch_terms`` at the potentials."""
        from .geometry.units import safe_root
        from .solvers.entropic import torch_terms

        a = _uniform(X) if a is None else a
        b = _uniform(Y) if b is None else b
        sides = [(X, Y, a, b, False), (X, X, a, a, True), (Y, Y, b, b, True)]
        with torch.no_grad():
            costs = [_cost(X, Y, self.p)]
            if self.debias:
                costs += [_cost(X, X, self.p), _cost(Y, Y, self.p)]
            costs = [_capped(C, u, v) for C, (_, _, u, v, _) in zip(costs, sides)]
            eps = self._epsilon(costs[0], a, b)
            _warn_lost_costs(X, Y, a, b, costs[0], self.p)
        sols = self._solve([(C, *side) for C, side in zip(costs, sides)], eps)
        p = self.p
        if not self.debias:
            f, g = sols[0].f, sols[0].g
            return safe_root(torch_terms.transport_term(
                X, Y, costs[0], a, b, f, g, eps, p).clamp_min(0.0), p)
        from .bounds import divergence_rounding

        S = [torch_terms.dual_term(U, V, C, u, v, s.f, s.g, eps, p)
             for (C, (U, V, u, v, _)), s in zip(zip(costs, sides), sols)]
        div = S[0] - 0.5 * S[1] - 0.5 * S[2]
        # what rounding alone may make of it, per item, is 0, not its p-th root
        # (equal inputs gave 1.5e-8); S * 0 keeps NaN
        noise = divergence_rounding(*(t.detach() for t in S), X.shape[1] + Y.shape[1])
        return safe_root(torch.where(div > noise, div, div * 0.0 + 0.0).clamp_min(0.0), p)

    def _epsilon(self, C, a, b):
        """Per batch item: the user's, or the default of ``distance``
        (``geometry.epsilon.default``) on the mean cost of the independent coupling."""
        from .geometry import epsilon as eps_rules

        if self.epsilon is not None:
            return torch.full((C.shape[0],), self.epsilon, dtype=C.dtype,
                              device=C.device)
        eps = eps_rules.default(torch.einsum("bi,bij,bj->b", a, C, b))
        return torch.where(eps > 0, eps, torch.ones_like(eps))

    def _solve(self, terms, eps):
        """The potentials of each ``(C, U, V, u, v, symmetric)`` problem, warm-started
        from the last call's where the shapes match; ``last`` and the warning."""
        C0, X = terms[0][0], terms[0][1]
        key = (tuple(C0.shape), len(terms), X.dtype, X.device)
        warm = self._warm[1] if self._warm is not None and self._warm[0] == key else None
        on_cpu = X.device.type == "cpu" and self.solver == "auto"
        solve = _numpy_solve if on_cpu else torch_loop.solve
        opts = dict(tol=self.tol, max_iter=self.max_iter, scaling=self.scaling)
        sols = [solve(C, u, v, eps, symmetric=sym,
                      warm=None if warm is None else warm[k], **opts)
                for k, (C, _, _, u, v, sym) in enumerate(terms)]
        if self.warm_start:
            self._warm = (key, [(s.f, s.g) for s in sols])
        self.last = {"n_iter": sum(s.n_iter for s in sols),
                     "converged": all(s.converged for s in sols),
                     "err": max(s.err for s in sols), "warm": warm is not None}
        if not self.last["converged"]:
            import warnings

            hint = ("" if X.dtype == torch.float64 or on_cpu else
                    f"; in {str(X.dtype).replace('torch.', '')} the rounding of the "
                    f"potentials (relative {torch.finfo(X.dtype).eps:.0e}, divided by "
                    f"epsilon in the plan) can keep the error above tol: raise tol, "
                    f"or pass float64")
            warnings.warn(f"emdkit WassersteinLoss: Sinkhorn stopped at marginal error "
                          f"{self.last['err']:.3g} > tol={self.tol:g} after "
                          f"{self.last['n_iter']} iterations (max_iter={self.max_iter})"
                          f"{hint}", RuntimeWarning, stacklevel=6)   # the caller of the module
        return sols

    # ---------------------------------------------------------------- sliced
    def _sliced(self, X, Y, a, b):
        """Every batch item and direction at once on the device
        (``sliced.torch_sliced_cost``), the directions drawn as ``distance`` draws
        them (with a ``seed``, the same value)."""
        from .geometry.units import safe_root
        from .solvers import REGISTRY
        from .solvers.sliced import check_projections, draw_directions, torch_sliced_cost

        d = X.shape[2]
        o = {**REGISTRY["sliced"].defaults, **self.options}     # checked in __init__
        if o["projections"] is not None:
            theta = check_projections(o["projections"], d)
        else:
            theta = draw_directions(d, o["n_projections"], o["directions"], o["seed"])[0]
        th = torch.as_tensor(theta, dtype=X.dtype, device=X.device)
        cost, top = torch_sliced_cost(X @ th.T, Y @ th.T, a, b, self.p)
        return top * safe_root(cost, self.p)

    # ---------------------------------------------------------------- others
    def _items(self, X, Y, a, b):
        from .api import distance

        kw = dict(self.options)
        return torch.stack([distance(X[k], Y[k], self.method, p=self.p,
                                     a_weights=None if a is None else a[k],
                                     b_weights=None if b is None else b[k], **kw)
                            for k in range(X.shape[0])])


def _numpy_solve(C, a, b, eps, *, symmetric, warm, tol, max_iter, scaling):
    """The numpy driver (relaxed Sinkhorn, Newton finish) item by item, in float64:
    on the CPU a little faster per item than the torch loop (section *Training loss*
    of the benchmark report). BLAS on one thread meanwhile
    (``threads.one_blas_thread``: torch's spinning threads share the cores).
    Potentials back as tensors."""
    from .threads import one_blas_thread
    from .solvers.sinkhorn import STAGE_TOL

    opts = dict(tol=tol, max_iter=max_iter, scaling=scaling, stage_tol=STAGE_TOL)
    Cn, an, bn = (t.detach().cpu().double().numpy() for t in (C, a, b))
    with one_blas_thread():
        sols = [_numpy_item(Cn[k], an[k], bn[k], float(eps[k]), symmetric, opts,
                            None if warm is None else (warm[0][k], warm[1][k]))
                for k in range(Cn.shape[0])]
    like = dict(dtype=C.dtype, device=C.device)
    return torch_loop.TorchSolution(
        torch.as_tensor(np.stack([s.f for s in sols]), **like),
        torch.as_tensor(np.stack([s.g for s in sols]), **like),
        sum(s.n_iter for s in sols), max(s.err for s in sols),
        all(s.converged for s in sols))


def _numpy_item(C, a, b, eps, symmetric, opts, warm):
    """One problem by the numpy driver, the costs rescaled by a power of two as
    ``distance`` does; the potentials back in the costs' units."""
    from .geometry.units import pow2_scale
    from .geometry.clouds import DenseCost
    from .solvers.entropic import terms

    s = pow2_scale(float(C.max()))
    e = eps / s
    w = None if warm is None else (warm[0].double().numpy() / s,
                                   warm[1].double().numpy() / s)
    geom = terms.DenseSolve(DenseCost(np.ascontiguousarray(C / s)))
    eps0 = e if w is not None else max(e, float(C.max()) / s)
    sol, _ = terms.solve_term(geom, a, b, symmetric, e, eps0, opts, w)
    sol.f, sol.g = sol.f * s, sol.g * s
    return sol


def _capped(C, u, v):
    """``C`` with the cost of every pair that carries no mass (a zero weight on
    either side) capped at the largest cost between points with mass. A
    far point of zero weight then sets neither the scale, nor epsilon, nor the
    stages (its cost may even overflow to inf); the plan is zero on those pairs, so
    the value and the gradients in the points are those without the point. Its
    potential (the gradient in its weight) is the soft c-transform against the
    capped costs."""
    if bool((u > 0).all()) and bool((v > 0).all()):    # O(n + m): the usual case
        return C
    live = (u[:, :, None] > 0) & (v[:, None, :] > 0)
    top = torch.where(live, C, torch.zeros_like(C)).amax((1, 2))[:, None, None]
    return torch.where(live, C, torch.minimum(C, top))


def _warn_lost_costs(X, Y, a, b, C, p):
    """A RuntimeWarning where distinct points are so close, next to the largest
    distance, that their cost underflowed to (nearly) 0 in ``C`` (as
    ``costs.tiny_coordinates`` then ``costs.lost_pairs`` for ``distance``): first a
    screen of the coordinates against their span (at least the largest distance,
    O((n + m) d) per step), the count on ``C`` only where it fires."""
    import warnings

    from .geometry.units import lost_below, tiny_limit

    # the span of the points with mass (a far point of zero weight moves nothing)
    ma, mb = (a > 0)[:, :, None], (b > 0)[:, :, None]
    inf = torch.tensor(float("inf"), dtype=X.dtype, device=X.device)
    lo = torch.minimum(torch.where(ma, X, inf).amin(1), torch.where(mb, Y, inf).amin(1))
    hi = torch.maximum(torch.where(ma, X, -inf).amax(1), torch.where(mb, Y, -inf).amax(1))
    span = torch.linalg.vector_norm(hi - lo, dim=1)
    lim = (span * tiny_limit(p))[:, None, None]
    if not any(bool(((T.abs() > 0) & (T.abs() < lim) & m).any())
               for T, m in ((X, ma), (Y, mb))):
        return
    top = C.amax((1, 2))[:, None, None]              # the largest cost per item
    live = (a[:, :, None] > 0) & (b[:, None, :] > 0)
    k, i, j = ((C < lost_below(p) * top) & live).nonzero(as_tuple=True)
    count = int((X[k, i] != Y[k, j]).any(-1).sum()) if len(k) else 0
    if count:
        warnings.warn(f"emdkit WassersteinLoss: {count} pair(s) of distinct points are "
                      f"closer than float64 resolves next to the largest distance: "
                      f"their costs underflow and the Sinkhorn value misses them "
                      f"(method='exact' costs them at their own scale)", RuntimeWarning,
                      stacklevel=6)       # the caller of the module, as in _solve


def _batch(x, y, wx, wy):
    """``(X (B, n, d), Y (B, m, d), a (B, n) or None, b (B, m) or None, batched)``."""
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"WassersteinLoss takes torch tensors; {name} is "
                            f"{type(t).__name__} (emdkit.distance takes numpy arrays)")
        if t.ndim not in (1, 2, 3):
            raise ValueError(f"{name} must have shape (n,), (n, d) or (B, n, d), got "
                             f"{tuple(t.shape)}")
    batched = x.ndim == 3
    if (y.ndim == 3) != batched:
        raise ValueError(f"x and y must both be batched (B, n, d) or neither, got "
                         f"shapes {tuple(x.shape)} and {tuple(y.shape)}")
    X = x if batched else (x[:, None] if x.ndim == 1 else x)[None]
    Y = y if batched else (y[:, None] if y.ndim == 1 else y)[None]
    if X.shape[0] != Y.shape[0] or X.shape[2] != Y.shape[2]:
        raise ValueError(f"x and y must have the same batch size and dimension, got "
                         f"shapes {tuple(x.shape)} and {tuple(y.shape)}")
    if not X.dtype.is_floating_point or X.dtype != Y.dtype:
        raise TypeError(f"x and y must be floating point of one dtype, got {X.dtype} "
                        f"and {Y.dtype}")
    for name, T in (("x", X), ("y", Y)):
        if T.shape[1] == 0 or T.shape[2] == 0:
            raise ValueError(f"{name} is empty (shape {tuple(T.shape)}): at least one "
                             f"point of dimension at least 1 is needed")
        if not bool(torch.isfinite(T).all()):
            raise ValueError(f"{name} contains NaN or inf: a loss of it would be NaN")
    return X, Y, _weights(wx, X, "x_weights"), _weights(wy, Y, "y_weights"), batched


def _weights(w, X, name):
    if w is None:
        return None
    w = torch.as_tensor(w, dtype=X.dtype, device=X.device)
    w = w[None] if w.ndim == 1 else w
    if w.shape != X.shape[:2]:
        raise ValueError(f"{name} must have shape {tuple(X.shape[:2])} (one weight per "
                         f"point), got {tuple(w.shape)}")
    if not torch.isfinite(w).all() or (w < 0).any() or (w.sum(1) <= 0).any():
        raise ValueError(f"{name} must be finite and non-negative with a positive sum")
    return w / w.sum(1, keepdim=True)


def _uniform(X):
    B, n = X.shape[:2]
    return torch.full((B, n), 1.0 / n, dtype=X.dtype, device=X.device)


def _cost(X, Y, p):
    """``|x_i - y_j| ** p`` (B, n, m)."""
    from .geometry.costs import paired_cost_torch

    return paired_cost_torch(X[:, :, None, :], Y[:, None, :, :], "euclidean", p)
