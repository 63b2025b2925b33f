"""``method="auto"``: a certified value within ``rtol`` at the best predicted time.

The choice rests on a cost model fitted to measurements on this project's machines
(2-core AMD EPYC; ``python -m emdkit.bench.auto_model`` measures and fits it and writes
``benchmarks/results/auto_model.json``, whose ``model`` section these constants copy;
a test checks that they agree):

- time ``= c * (n m) ** alpha * (d / 2) ** beta`` seconds, per method and p (p <= 1.5
  uses the p = 1 fit, larger p the p = 2 fit), ``sinkhorn`` measured with
  ``rtol=0.01``;
- peak memory ``= bytes_per_pair * n m`` (resident, measured in a fresh process).

1-D samples with a named metric go to the closed form (exact, O(n log n)). Otherwise
the fastest method whose memory fits is run; a problem that fits no dense method goes
to Sinkhorn's sparse multiscale backend in up to 5 dimensions (numpy input, named
metric), and is refused at once otherwise, with the figures and what to do instead.
"""

from __future__ import annotations

import math
from typing import Optional

#: The fitted model (see the module docstring); keys ``method/p=P``.
MODEL = {
    "exact/p=1": {"c": 8.82238e-09, "alpha": 1.15332, "beta": 0.241433},
    "exact/p=2": {"c": 7.6253e-09, "alpha": 1.17733, "beta": 0.131373},
    "exact/bytes_per_pair": 40.9413,
    "sinkhorn/p=1": {"c": 3.59483e-07, "alpha": 0.994137, "beta": 0.0871151},
    "sinkhorn/p=2": {"c": 2.97529e-06, "alpha": 0.812292, "beta": 0.463596},
    "sinkhorn/bytes_per_pair": 25.5721,
}
#: The torch path of Sinkhorn keeps (4 + d) more dense (n, m) tensors.
_TORCH_EXTRA_MATRICES = 4


def predict_seconds(method: str, n: int, m: int, d: int, p: float) -> float:
    fit = MODEL[f"{method}/p={1 if p <= 1.5 else 2}"]
    return fit["c"] * float(n * m) ** fit["alpha"] * (max(d, 1) / 2.0) ** fit["beta"]


def predict_bytes(method: str, n: int, m: int, d: int, torch: bool) -> float:
    need = MODEL[f"{method}/bytes_per_pair"] * float(n) * float(m)
    if torch and method == "sinkhorn":
        need += 8.0 * (_TORCH_EXTRA_MATRICES + d) * n * m
    return need


def _multiscale_applies(prob) -> bool:
    """Low dimension, a named metric, numpy input: the sparse multiscale backend."""
    from .solvers.sinkhorn import MULTISCALE_MAX_DIM

    return prob.dim <= MULTISCALE_MAX_DIM and not callable(prob.metric) and not prob.torch


def choose(prob, rtol: float, memory_limit: Optional[float]):
    """``(method, options, reason)`` for ``method="auto"``, or raise
    :class:`emdkit.ProblemTooLargeError` when no method fits in memory."""
    from .memory import ProblemTooLargeError, fmt_bytes, available_memory

    if prob.dim == 1 and not callable(prob.metric):
        return "1d", {}, "1-D samples with a named metric: the closed form is exact"
    limit = memory_limit if memory_limit is not None else available_memory()
    limit = math.inf if limit is None else limit
    preds = {}
    for method in ("exact", "sinkhorn"):
        preds[method] = (predict_seconds(method, prob.n, prob.m, prob.dim, prob.p),
                         predict_bytes(method, prob.n, prob.m, prob.dim, prob.torch))
    figures = "; ".join(f"{k} about {t:.3g} s and {fmt_bytes(b)}"
                        for k, (t, b) in preds.items())
    fits = [k for k, (_, b) in preds.items() if b <= limit]
    if not fits and _multiscale_applies(prob):
        options = {"rtol": rtol, "backend": "multiscale"}
        if memory_limit is not None:
            options["memory_limit"] = memory_limit
        return "sinkhorn", options, (
            f"{prob.dim}-D samples, n*m = {prob.n * prob.m:,}: no dense method fits in "
            f"{fmt_bytes(limit)} (predicted {figures}); the multiscale Sinkhorn keeps "
            f"O((n + m) k) pairs and certifies rtol={rtol:g}")
    if not fits:
        raise ProblemTooLargeError(
            f"method='auto' cannot certify W_p within rtol={rtol:g} for {prob.n} x "
            f"{prob.m} points in memory: predicted {figures}, but "
            f"{fmt_bytes(limit)} is available. Instead: method='sliced' (another "
            f"distance, SW_p <= W_p, O(n + m) memory, with a confidence interval) or "
            f"'max-sliced' (a certified lower bound on W_p), or subsample both "
            f"clouds.")
    best = min(fits, key=lambda k: preds[k][0])
    reason = (f"{prob.dim}-D samples, n*m = {prob.n * prob.m:,}: predicted {figures}; "
              f"{best} is the fastest that fits in {fmt_bytes(limit)} and certifies "
              f"rtol={rtol:g}")
    options = {"rtol": rtol} if best == "sinkhorn" else {}
    if memory_limit is not None:
        options["memory_limit"] = memory_limit
    return best, options, reason
