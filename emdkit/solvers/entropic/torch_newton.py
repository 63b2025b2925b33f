"""The Newton finish of a torch batch: the one loop of ``newton.run`` (trust region,
line search, ridges), with the direction of B problems at once on the tensors' device:
the Schur complement ``diag(c) - P^T diag(1/r) P`` of the dual Hessian, factored by a
batched Cholesky (or solved by batched conjugate gradients beyond
``DENSE_SCHUR_MAX`` columns or ``DENSE_BYTES``). Items stop one by one as they
converge or run out of ridges.
"""

from __future__ import annotations

from . import torch_terms
from . import newton as one_finish
from .newton import CG_MAX_ITER, TRUST

#: The dense Newton systems take ``B m^2`` floats: beyond this many bytes (or beyond
#: ``newton.DENSE_SCHUR_MAX`` columns, as numpy's) they are solved by conjugate
#: gradients on the plan, two batched matrix-vector products an iteration.
DENSE_BYTES = 2 ** 30


def plan(C, a, b, f, g, e):
    """The plan of the potentials (``torch_terms.plan``), ``e`` of shape (B, 1)."""
    return torch_terms.plan(C, a, b, f, g, e[:, 0])


def marginal_error(P, a, b):
    return (P.sum(2) - a).abs().sum(1) + (P.sum(1) - b).abs().sum(1)


def _step(P, a, b, e, ridge):
    """Newton directions (df, dg) for each item at its plan, ``ridge`` (B,) adding
    ``ridge diag(r, c)`` to its Hessian, shortened to the trust region."""
    import torch

    B, n, m = P.shape
    r, c = P.sum(2), P.sum(1)
    inv_r = torch.where(r > 0, 1.0 / torch.where(r > 0, r, torch.ones_like(r)),
                        torch.zeros_like(r)) / (1.0 + ridge[:, None])
    ra, rb = e * (a - r), e * (b - c)
    rhs = (rb - (P.transpose(1, 2) @ (ra * inv_r)[:, :, None])[:, :, 0])[:, :, None]
    if m > one_finish.DENSE_SCHUR_MAX or B * m * m * P.element_size() > DENSE_BYTES:
        dg = _cg(P, inv_r, c * (1.0 + ridge[:, None]), rhs[:, :, 0])
    else:
        dg = _dense(P, inv_r, c * (1.0 + ridge[:, None]), rhs)
    df = (ra - (P @ dg[:, :, None])[:, :, 0]) * inv_r
    size = torch.maximum(df.abs().amax(1), dg.abs().amax(1))
    shrink = (TRUST * e[:, 0] / size.clamp_min(torch.finfo(P.dtype).tiny)).clamp(max=1.0)
    return df * shrink[:, None], dg * shrink[:, None]


def _dense(P, inv_r, c, rhs):
    """``(diag(c) - P^T diag(inv_r) P + 1/m) w = rhs`` by a batched Cholesky; LU
    with a tiny ridge where it is not positive definite (a plan that underflowed
    into blocks), as the numpy driver."""
    import torch

    m = c.shape[1]
    Q = P * inv_r.sqrt()[:, :, None]
    S = -(Q.transpose(1, 2) @ Q) + 1.0 / m
    S.diagonal(dim1=1, dim2=2).add_(c)
    L, info = torch.linalg.cholesky_ex(S)
    dg = torch.cholesky_solve(rhs, L)[:, :, 0]
    bad = info != 0
    if bool(bad.any()):     # a plan that underflowed into blocks: a tiny ridge
        Sb = S[bad]
        Sb.diagonal(dim1=1, dim2=2).add_(1e-10 * c[bad].mean(1, keepdim=True))
        dg[bad] = torch.linalg.solve(Sb, rhs[bad])[:, :, 0]
    return dg


def _cg(P, inv_r, c, rhs, rtol=1e-8):
    """The same system by preconditioned conjugate gradients (Jacobi), batched, on
    its range: the complement ``diag(c) - P^T diag(inv_r) P`` has 1 in its kernel
    and ``rhs`` is made orthogonal to it; each item stops at its own residual."""
    import torch

    Pt = P.transpose(1, 2)

    def apply(w):
        return c * w - (Pt @ (inv_r * (P @ w[:, :, None])[:, :, 0])[:, :, None])[:, :, 0]

    diag = c - ((P * P).transpose(1, 2) @ inv_r[:, :, None])[:, :, 0]
    inv_diag = 1.0 / torch.maximum(diag, 1e-12 * c.amax(1, keepdim=True))
    b = rhs - rhs.mean(1, keepdim=True)
    w = torch.zeros_like(b)
    r = b.clone()
    z = inv_diag * r
    d = z.clone()
    rz = (r * z).sum(1)
    stop = rtol * b.norm(dim=1)
    for _ in range(min(4 * c.shape[1], CG_MAX_ITER)):
        Ad = apply(d)
        dAd = (d * Ad).sum(1)
        live = (r.norm(dim=1) > stop) & (dAd > 0) & torch.isfinite(dAd)
        if not bool(live.any()):
            break
        step = torch.where(live, rz / torch.where(live, dAd, torch.ones_like(dAd)),
                           torch.zeros_like(dAd))
        w = w + step[:, None] * d
        r = r - step[:, None] * Ad
        z = inv_diag * r
        rz_new = (r * z).sum(1)
        beta = torch.where(live, rz_new / torch.where(rz > 0, rz, torch.ones_like(rz)),
                           torch.zeros_like(rz))
        d = torch.where(live[:, None], z + beta[:, None] * d, d)
        rz = torch.where(live, rz_new, rz)
    return w - w.mean(1, keepdim=True)


class _Batch:
    """What ``newton.run`` needs of a torch batch: states ``(P, err)``, directions
    by :func:`_step`, per-item moves and choices by ``torch.where``."""

    stale = False
    accept = None

    def __init__(self, C, a, b, e):
        self.C, self.a, self.b, self.e = C, a, b, e

    def plan(self, f, g):
        P = plan(self.C, self.a, self.b, f, g, self.e)
        err = marginal_error(P, self.a, self.b)
        return _BatchState(P, err)

    def direction(self, state, ridges):
        import torch

        ridge = torch.tensor(ridges, dtype=state.P.dtype, device=state.P.device)
        return _step(state.P, self.a, self.b, self.e, ridge)

    def step(self, f, g, df, dg, alphas):
        import torch

        alpha = torch.tensor(alphas, dtype=f.dtype, device=f.device)[:, None]
        return f + alpha * df, g + alpha * dg

    def keep(self, ok, new, old):
        import torch

        sel = torch.tensor(ok, dtype=torch.bool, device=new[0].device)
        f = torch.where(sel[:, None], new[0], old[0])
        g = torch.where(sel[:, None], new[1], old[1])
        P = torch.where(sel[:, None, None], new[2].P, old[2].P)
        return f, g, _BatchState(P, torch.where(sel, new[2].errt, old[2].errt))


class _BatchState:
    def __init__(self, P, errt):
        self.P, self.errt, self.err = P, errt, errt.tolist()


def newton(C, a, b, f, g, e, tol, budget):
    """Newton steps on the B problems (``newton.run``) until each item's L1 marginal
    error is below ``tol``, it runs out of ridges, or ``budget`` steps were taken.
    Returns ``(f, g, err (B,), steps)``."""
    from .newton import run

    f, g, state, steps = run(_Batch(C, a, b, e), f, g, tol, budget)
    return f, g, state.errt, steps
