"""``method="auto"``: a certified value within ``rtol`` at the best predicted time.

The choice rests on a cost model fitted to measurements on this project's machines
(2-core AMD EPYC; ``python -m emdkit.bench.auto_model`` measures and fits it and writes
``benchmarks/results/auto_model.json``, whose ``model`` section these constants copy;
a test checks that they agree):

- every route's time depends on ``ratio`` (``solvers.oned.spacing_ratio``, a probe
  of O(n log n)): how many spacings of the points W_p reaches. Two samples of one
  distribution give a few, a shifted pair or two images of distinct shapes tens to
  hundreds;
- the dense routes, ``exact`` (``backend="dense"``) and ``sinkhorn`` (measured with
  ``rtol=0.01``): time ``= c * (n m) ** alpha * (d / 2) ** beta * (1 + ratio) **
  gamma`` seconds, per method and p (p <= 1.5 uses the p = 1 fit, larger p the
  p = 2 fit), fitted on shifted and iid Gaussian pairs and small images; peak memory
  ``= bytes_per_pair * n m`` (resident, measured in a fresh process);
- every route's time is multiplied by a fitted factor ``grid`` where both clouds lie
  on one regular grid (``solvers.grid_flow.on_grid``, O(n log n): pixels), whose
  ties between distances slow the network simplex (fitted: the dense LP 1.7x at
  p = 1, 2.0x at p = 2);
- ``exact(rtol=..., backend="multiscale")`` (named metric, up to 5 dimensions, more
  than ``DENSE_PAIRS`` pairs: below, it is the dense
  LP; pricing stops once its certified bracket is within ``rtol``): time
  ``= c * (n + m) ** alpha * (d / 2) ** beta * (1 + ratio) ** gamma``, fitted on
  shifted and on iid pairs, whose times differed by up to 11x at one size, and on
  images, with ``rtol=0.01``; memory ``= bytes_per_point * (n + m)`` above its
  coarsest level's dense LP;
- ``sinkhorn(rtol=..., backend="multiscale")`` (numpy input, the same reach, p > 1.5,
  and W_p reaching at least ``SINKHORN_MULTISCALE_MIN_RATIO`` spacings; any size):
  the same form, fitted at p = 2 on those of the same pairs and of smaller ones (it
  is fast where W_p reaches far, slow on two samples of one distribution: the
  reverse of the exact solver).

1-D samples with a named metric go to the closed form (exact, O(n log n)); W_1 with
the cityblock metric between numpy histograms on one grid to ``exact``'s grid
backend (a min-cost flow on neighbour arcs, exact and faster than any other route);
up to ``SMALL_PAIRS`` pairs to the dense exact LP, without the probes.
Otherwise the route predicted fastest among those whose memory fits is run; a
problem that fits none goes to Sinkhorn's sparse multiscale backend in up to 5
dimensions (numpy input, named metric), and is refused at once otherwise, with the
figures and what to do instead.
"""

from __future__ import annotations

import math
from typing import Optional

#: The fitted model (see the module docstring); keys ``method/p=P``.
MODEL = {
    "exact/p=1": {"c": 1.02424e-08, "alpha": 1.15585, "beta": 0.361475,
                  "gamma": 0.0283886, "grid": 1.73212},
    "exact/p=2": {"c": 3.69631e-09, "alpha": 1.21693, "beta": 0.442216,
                  "gamma": 0.148017, "grid": 1.98054},
    "exact/bytes_per_pair": 40.9487,
    "sinkhorn/p=1": {"c": 2.19615e-07, "alpha": 1.11199, "beta": -0.495818,
                     "gamma": -0.365808, "grid": 0.817398},
    "sinkhorn/p=2": {"c": 2.57218e-07, "alpha": 1.10533, "beta": -0.501935,
                     "gamma": -0.446341, "grid": 0.924187},
    "sinkhorn/bytes_per_pair": 26.5933,
    "exact-multiscale/p=1": {"c": 2.86951e-07, "alpha": 1.4813, "beta": 1.64759,
                             "gamma": 0.246163, "grid": 0.616978},
    "exact-multiscale/p=2": {"c": 1.95155e-06, "alpha": 1.29041, "beta": 1.78392,
                             "gamma": 0.138753, "grid": 1.47983},
    "exact-multiscale/bytes_per_point": 580.915,
    "sinkhorn-multiscale/p=2": {"c": 0.00349881, "alpha": 0.807989, "beta": -0.117599,
                                "gamma": -0.536027, "grid": 1.18356},
    "sinkhorn-multiscale/bytes_per_point": 271.514,
    "sinkhorn-multiscale/min_ratio": 10,
}
#: The routes, as named in ``info["reason"]``: (method, its options).
ROUTES = {"exact": ("exact", {"backend": "dense"}),
          "exact multiscale": ("exact", {"backend": "multiscale"}),
          "sinkhorn": ("sinkhorn", {}),
          "sinkhorn multiscale": ("sinkhorn", {"backend": "multiscale"})}
#: The multiscale Sinkhorn is a route only where W_p reaches at least this many
#: spacings of the points (the probe): with ``rtol`` it stops at the first level of
#: cells whose bracket is within it, which is coarse only there. On two samples of one
#: distribution (ratio about 1 to 5) it needs every level: measured slower than the
#: multiscale exact solver at every size of the fit (2500 to 10^4 points, 1.8 to 5x),
#: and at 10^5 iid 2-D points (W_2) still 2.7% wide after 294 s, where the exact
#: solver took 31 to 49 s. Its model is fitted on the pairs past this threshold.
SINKHORN_MULTISCALE_MIN_RATIO = MODEL["sinkhorn-multiscale/min_ratio"]
#: Up to this many pairs ``auto`` runs the dense exact LP without the probes: at
#: 250 + 250 points it took 4 to 7 ms on every pair of the fits, Sinkhorn 17 to 30
#: ms, and at 100 + 100 points the probes and the model took a third of its time.
SMALL_PAIRS = 62_500
#: The torch path of Sinkhorn keeps (4 + d) more dense (n, m) tensors.
_TORCH_EXTRA_MATRICES = 4


def predict_seconds(method: str, n: int, m: int, d: int, p: float,
                    ratio: float = 0.0, grid: bool = False) -> float:
    """``method``: ``"exact"`` (dense), ``"sinkhorn"`` (dense, ``rtol=0.01``),
    ``"exact-multiscale"`` or ``"sinkhorn-multiscale"``; ``ratio``:
    ``solvers.oned.spacing_ratio``; ``grid``: both clouds on one regular grid
    (``solvers.grid_flow.on_grid``: pixels; ties between their distances)."""
    fit = MODEL[f"{method}/p={1 if p <= 1.5 else 2}"]
    size = float(n + m) if method.endswith("multiscale") else float(n) * float(m)
    t = fit["c"] * size ** fit["alpha"] * (max(d, 1) / 2.0) ** fit["beta"]
    return t * (1.0 + ratio) ** fit["gamma"] * (fit["grid"] if grid else 1.0)


def predict_bytes(method: str, n: int, m: int, d: int, torch: bool) -> float:
    if method == "exact-multiscale":
        from .solvers.multiscale_exact import DENSE_PAIRS

        # the coarsest level's dense LP is at most DENSE_PAIRS pairs
        return (MODEL["exact-multiscale/bytes_per_point"] * float(n + m)
                + MODEL["exact/bytes_per_pair"] * DENSE_PAIRS)
    if method == "sinkhorn-multiscale":
        return MODEL["sinkhorn-multiscale/bytes_per_point"] * float(n + m)
    need = MODEL[f"{method}/bytes_per_pair"] * float(n) * float(m)
    if torch and method == "sinkhorn":
        need += 8.0 * (_TORCH_EXTRA_MATRICES + d) * n * m
    return need


def _multiscale_applies(prob) -> bool:
    """Low dimension, a named metric, numpy input: the sparse multiscale backend."""
    from .solvers.sinkhorn import MULTISCALE_MAX_DIM

    return prob.dim <= MULTISCALE_MAX_DIM and not callable(prob.metric) and not prob.torch


def _exact_multiscale_applies(prob) -> bool:
    """``exact``'s multiscale backend: a named metric, up to 5 dimensions, and more
    pairs than its coarsest level solves densely (``multiscale_exact.DENSE_PAIRS``;
    below, it is the dense LP)."""
    from .solvers.exact import MULTISCALE_MAX_DIM
    from .solvers.multiscale_exact import DENSE_PAIRS

    return (prob.dim <= MULTISCALE_MAX_DIM and not callable(prob.metric)
            and float(prob.n) * prob.m > DENSE_PAIRS)


def choose(prob, rtol: float, memory_limit: Optional[float]):
    """``(method, options, reason, record)`` for ``method="auto"``, or raise
    :class:`emdkit.ProblemTooLargeError` when no method fits in memory. ``record``
    goes into ``Result.info``: ``route`` (the route's name), and where routes were
    compared, ``predicted_s`` (each one's predicted seconds), ``spacing_ratio`` and
    ``on_grid`` (the probes)."""
    from .memory import ProblemTooLargeError, fmt_bytes, available_memory
    from .solvers.grid_flow import on_grid
    from .solvers.oned import spacing_ratio

    if prob.dim == 1 and not callable(prob.metric):
        return "1d", {}, "1-D samples with a named metric: the closed form is exact", {
            "route": "1d"}
    if prob.p == 1.0 and prob.metric == "cityblock" and not prob.torch:
        from .solvers.grid_flow import lattice

        if lattice(prob) is not None:
            return "exact", {"backend": "grid"}, (
                "W_1 with the cityblock metric between histograms on one grid: exact's "
                "min-cost flow on the grid's neighbour arcs"), {"route": "exact grid"}
    if float(prob.n) * prob.m <= SMALL_PAIRS and (
            memory_limit is None or predict_bytes("exact", prob.n, prob.m, prob.dim,
                                                  prob.torch) <= memory_limit):
        options = {"backend": "dense"}
        if memory_limit is not None:
            options["memory_limit"] = memory_limit
        return "exact", options, (
            f"{prob.n} x {prob.m} points: the dense exact LP, the fastest route at "
            f"every pair of this size measured (the probes would cost a good part of "
            f"its time)"), {"route": "exact"}
    limit = memory_limit if memory_limit is not None else available_memory()
    limit = math.inf if limit is None else limit
    # O(n log n) each: every route's time depends on them
    ratio, grid = spacing_ratio(prob), on_grid(prob.x, prob.y) is not None
    preds = {}
    for route in ROUTES:
        if route == "exact multiscale" and not _exact_multiscale_applies(prob):
            continue
        if route == "sinkhorn multiscale" and not (
                _multiscale_applies(prob) and prob.p > 1.5
                and ratio >= SINKHORN_MULTISCALE_MIN_RATIO):
            continue        # fitted at p = 2 only (p = 1 is several times slower
            # there), and slow where W_p is within a few spacings: every level needed
        key = route.replace(" ", "-")
        preds[route] = (predict_seconds(key, prob.n, prob.m, prob.dim, prob.p, ratio,
                                        grid),
                        predict_bytes(key, prob.n, prob.m, prob.dim, prob.torch))
    figures = "; ".join(f"{k} about {t:.3g} s and {fmt_bytes(b)}"
                        for k, (t, b) in preds.items())
    record = {"predicted_s": {k: t for k, (t, _) in preds.items()},
              "spacing_ratio": ratio, "on_grid": grid}
    fits = [k for k, (_, b) in preds.items() if b <= limit]
    if not fits and _multiscale_applies(prob):
        options = {"rtol": rtol, "backend": "multiscale"}
        if memory_limit is not None:
            options["memory_limit"] = memory_limit
        return "sinkhorn", options, (
            f"{prob.dim}-D samples, n*m = {prob.n * prob.m:,}: no dense method fits in "
            f"{fmt_bytes(limit)} (predicted {figures}); the multiscale Sinkhorn keeps "
            f"O((n + m) k) pairs and certifies rtol={rtol:g}"), dict(
                record, route="sinkhorn multiscale")
    if not fits:
        raise ProblemTooLargeError(
            f"method='auto' cannot certify W_p within rtol={rtol:g} for {prob.n} x "
            f"{prob.m} points in memory: predicted {figures}, but "
            f"{fmt_bytes(limit)} is available. Instead: method='sliced' (another "
            f"distance, SW_p <= W_p, O(n + m) memory, with a confidence interval) or "
            f"'max-sliced' (a certified lower bound on W_p), or subsample both "
            f"clouds.")
    best = min(fits, key=lambda k: preds[k][0])
    reason = (f"{prob.dim}-D samples, n*m = {prob.n * prob.m:,}: W_p reaches "
              f"{ratio:.3g} spacings; predicted "
              f"{figures}; "
              f"{best} is the fastest that fits in {fmt_bytes(limit)} and certifies "
              f"rtol={rtol:g}")
    method, options = ROUTES[best]
    # the multiscale LP stops pricing once its certified bracket is within rtol (on
    # W_1 between clouds far apart the last rounds add most of its pivots)
    options = (dict(options, rtol=rtol) if method == "sinkhorn" or
               best == "exact multiscale" else dict(options))
    if memory_limit is not None:
        options["memory_limit"] = memory_limit
    return method, options, reason, dict(record, route=best)
