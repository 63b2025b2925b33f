"""Newton's method on the entropic dual in torch, batched: the torch loop's finish.

The numpy driver's dense Newton finish (``newton.py``: Brauer et al. 2017) for B
problems at once on the tensors' device: the Schur complement
``diag(c) - P^T diag(1/r) P`` of the dual Hessian, factored by a batched Cholesky;
the same trust region (no potential moves by more than ``TRUST`` epsilons), line
search on the L1 marginal error (halving the step) and increasing
Levenberg-Marquardt ridges for an item whose step finds no decrease. Items stop
one by one as they converge or run out of ridges.
"""

from __future__ import annotations

from . import torch_terms
from .newton import _CG_MAX_ITER, _DENSE_SCHUR_MAX, RIDGES, TRUST

#: Halvings of the step in the line search (down to about 1e-3, as the numpy one).
_HALVINGS = 10
#: The dense Newton systems take ``B m^2`` floats: beyond this many bytes (or beyond
#: ``_DENSE_SCHUR_MAX`` columns, as the numpy driver) they are solved by conjugate
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
    if m > _DENSE_SCHUR_MAX or B * m * m * P.element_size() > DENSE_BYTES:
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
    for _ in range(min(4 * c.shape[1], _CG_MAX_ITER)):
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


def newton(C, a, b, f, g, e, tol, budget):
    """Newton steps on the B problems until each item's L1 marginal error is below
    ``tol``, it runs out of ridges, or ``budget`` steps were taken. Returns
    ``(f, g, err (B,), steps)``."""
    import torch

    P = plan(C, a, b, f, g, e)
    err = marginal_error(P, a, b)
    B = f.shape[0]
    rung = torch.zeros(B, dtype=torch.long, device=f.device)     # index into RIDGES
    ridges = torch.tensor(RIDGES, dtype=f.dtype, device=f.device)
    steps = 0
    while steps < budget:
        todo = (err > tol) & (rung < len(RIDGES))
        if not bool(todo.any()):
            break
        df, dg = _step(P, a, b, e, ridges[rung.clamp(max=len(RIDGES) - 1)])
        alpha = torch.ones(B, dtype=f.dtype, device=f.device)
        moved = torch.zeros_like(todo)
        for _ in range(_HALVINGS):
            ft, gt = f + alpha[:, None] * df, g + alpha[:, None] * dg
            Pt = plan(C, a, b, ft, gt, e)
            et = marginal_error(Pt, a, b)
            ok = todo & ~moved & (et < err)
            f, g = torch.where(ok[:, None], ft, f), torch.where(ok[:, None], gt, g)
            P = torch.where(ok[:, None, None], Pt, P)
            err = torch.where(ok, et, err)
            moved |= ok
            if bool((moved | ~todo).all()):
                break
            alpha = torch.where(moved, alpha, 0.5 * alpha)
        # a step that moved resets the ridge; one that found nothing tries the next
        rung = torch.where(moved, torch.zeros_like(rung),
                           torch.where(todo, rung + 1, rung))
        steps += 1
    return f, g, err, steps
