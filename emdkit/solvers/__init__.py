"""The methods, one module per method, each holding a function
``f(problem, *, options) -> Result`` and ``CHECKS``, the checks of its options.

``REGISTRY`` maps the public method name to its function, a one-line summary and its
checks; the options a method takes are its keyword-only parameters (their defaults
the only defaults), each checked once by :func:`check_method_options` before the
method runs. The ``entropic`` package is the Sinkhorn engine, ``options`` the checks.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Dict, Mapping, NamedTuple, Tuple

# the modules, not their functions, are the package's attributes: emdkit.solvers.exact
# is the module and emdkit.solvers.exact.exact the method (no name shadows another)
from . import critic, exact, max_sliced, oned, sinkhorn, sliced


class MethodSpec(NamedTuple):
    func: Callable
    summary: str
    checks: Mapping[str, Callable]

    @property
    def options(self) -> Tuple[str, ...]:
        return _keyword_only(self.func)

    @property
    def defaults(self) -> Dict[str, Any]:
        """The options' defaults, from the method's signature (the only place)."""
        return dict(_defaults(self.func))


@functools.lru_cache(maxsize=None)
def _defaults(func) -> Tuple[Tuple[str, Any], ...]:
    params = inspect.signature(func).parameters.values()
    return tuple((p.name, p.default) for p in params
                 if p.kind is inspect.Parameter.KEYWORD_ONLY)


@functools.lru_cache(maxsize=None)
def _keyword_only(func) -> Tuple[str, ...]:
    """A method's options, its keyword-only parameters (read once: ``inspect`` is
    slow next to a small solve)."""
    params = inspect.signature(func).parameters.values()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


REGISTRY: Dict[str, MethodSpec] = {
    "exact": MethodSpec(exact.exact, "linear programme by network simplex; exact W_p "
                               "for any metric with a certified bracket: dense (POT's "
                               "ot.emd, O(n m) memory), multiscale (large clouds up to "
                               "5-D, sparse) or grid (W_1 cityblock on a grid)",
                               exact.CHECKS),
    "1d": MethodSpec(oned.oned, "closed form through quantile functions (numba); exact "
                           "for 1-D samples, O((n+m) log(n+m))", oned.CHECKS),
    "sinkhorn": MethodSpec(sinkhorn.sinkhorn, "entropic OT, log-stabilised with epsilon scaling; "
                                     "biased by epsilon (debias=True for the divergence; "
                                     "rtol for a value certified within rtol of W_p), "
                                     "O(n m) per iteration, online mode for large n", sinkhorn.CHECKS),
    "sliced": MethodSpec(sliced.sliced, "mean W_p^p over random 1-D projections, rooted (numba, "
                                 "O(L (n+m)) memory-bounded); with a confidence interval", sliced.CHECKS),
    "max-sliced": MethodSpec(max_sliced.max_sliced, "largest 1-D W_p over directions, the direction "
                                         "optimised by gradient ascent on the sphere", max_sliced.CHECKS),
    "critic": MethodSpec(critic.critic, "W_1 by a trained 1-Lipschitz critic (the WGAN dual, "
                                 "torch), on held-out samples with a bootstrap interval", critic.CHECKS),
}

AUTO_SUMMARY = ("a value certified within rtol (default 1e-2) at the best predicted "
                "time: '1d' for 1-D samples, else 'exact' or 'sinkhorn' with rtol by a "
                "measured cost model; refuses when neither fits in memory")


def check_method_options(method: str, options: Mapping[str, Any]) -> Dict[str, Any]:
    """``options`` of the registered ``method``, each checked (``options.check_options``):
    what the method then receives."""
    from .options import check_options

    return check_options(method, options, REGISTRY[method].checks)
