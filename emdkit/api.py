"""distance / solve / methods: validate once, look the method up, call it."""

from __future__ import annotations

import warnings
from typing import Any, Dict

import numpy as np

from .threads import one_blas_thread, one_torch_thread
from .geometry.problem import Metric, prepare
from .solvers import AUTO_SUMMARY, REGISTRY
from .result import Result


def methods() -> Dict[str, str]:
    """The available methods, each with a one-line description.

    Examples
    --------
    >>> import emdkit
    >>> sorted(emdkit.methods())
    ['1d', 'auto', 'critic', 'exact', 'max-sliced', 'sinkhorn', 'sliced']
    """
    out = {name: spec.summary for name, spec in REGISTRY.items()}
    out["auto"] = AUTO_SUMMARY
    return out


#: ``auto``'s default accuracy: the value is certified within 1% of W_p.
AUTO_RTOL = 1e-2


def _auto_options(options: dict):
    """auto's own options (``rtol``, ``memory_limit``) apart from the rest."""
    from .checks import check_positive

    rest = dict(options)
    rtol = check_positive("rtol", rest.pop("rtol", AUTO_RTOL))
    memory_limit = rest.pop("memory_limit", None)
    if memory_limit is not None:
        memory_limit = check_positive("memory_limit", memory_limit)
    return rtol, memory_limit, rest


#: Option names users bring from other libraries, and emdkit's name for each.
OPTION_ALIASES = {"reg": "epsilon", "eps": "epsilon", "blur": "epsilon",
                  "numItermax": "max_iter", "numitermax": "max_iter",
                  "n_iter": "max_iter", "niter": "max_iter", "stopThr": "tol",
                  "stop_thr": "tol", "n_projections_": "n_projections",
                  "random_state": "seed"}


def _normalise_method(method: Any) -> str:
    """The registered name for ``method`` (case and ``_`` / ``-`` do not matter), or
    a clear error with a suggestion."""
    import difflib

    if not isinstance(method, str):
        from .checks import describe

        try:
            matrix = np.ndim(method) == 2
        except (ValueError, TypeError):     # ragged nested lists
            matrix = False
        hint = (" (a matrix where the method goes: for histograms a, b over the rows "
                "and columns of a ground-cost matrix M, as in POT's emd2(a, b, M), "
                "pass it as cost=M: distance(a, b, cost=M))" if matrix else "")
        raise TypeError(f"method must be a string, one of {sorted(methods())}, got "
                        f"{describe(method)}{hint}")
    key = method.strip().lower().replace("_", "-")
    if key in REGISTRY or key == "auto":
        return key
    near = difflib.get_close_matches(key, list(methods()), n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise ValueError(f"unknown method {method!r}{hint}; available methods: "
                     f"{', '.join(sorted(methods()))}")


def _check_options(method: str, options: dict) -> None:
    allowed = REGISTRY[method].options
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = (f"it takes {', '.join(allowed)}" if allowed
                 else "it takes no options")
        raise TypeError(f"method {method!r} got unexpected option(s) "
                        f"{', '.join(unknown)}{did_you_mean(unknown, allowed)}; {takes}")


def did_you_mean(unknown, allowed) -> str:
    """`` (did you mean 'epsilon' for 'eps'?)`` for the unknown option names that
    another library's name (``OPTION_ALIASES``) or a near spelling maps to one of
    ``allowed``; empty where none does."""
    import difflib

    hints = []
    for name in unknown:
        near = OPTION_ALIASES.get(name)
        if near not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            near = close[0] if close else None
        if near is not None:
            hints.append(f"{near!r} for {name!r}")
    return f" (did you mean {', '.join(hints)}?)" if hints else ""


def _solve(a, b, method, p, metric, a_weights, b_weights, options, stacklevel,
           cost=None):
    method = _normalise_method(method)
    if method != "auto":
        _check_options(method, options)
    prob = None
    if cost is not None:
        from .geometry.histograms import cost_input

        a, b, metric, a_weights, b_weights, prob = cost_input(
            a, b, cost, method, metric, a_weights, b_weights, options, p)
    if prob is None:
        prob = prepare(a, b, p=p, metric=metric, a_weights=a_weights,
                       b_weights=b_weights)
    # points of zero weight are taken out before anything sees them (the scale, the
    # bracket's allowance, auto's sizes), and put back in the result (_live)
    from ._live import expand, live_part

    full, live = prob, live_part(prob, method)
    if live is not None:
        prob = live[0]
    chosen, reason = method, None
    if method == "auto":
        from ._auto import choose

        rtol, memory_limit, rest = _auto_options(options)
        chosen, own, reason = choose(prob, rtol, memory_limit)
        _check_options(chosen, rest)
        options = {**rest, **own}
    # numpy's floating-point warnings are the methods' business: overflow and
    # underflow are expected and handled inside, and a RuntimeWarning from emdkit
    # must mean one thing, that the value is not to be trusted. BLAS on one thread:
    # the methods' parallel work is on emdkit's pool (threads.one_blas_thread);
    # the critic's small networks run torch on one thread (threads.one_torch_thread)
    blas = one_blas_thread() if chosen != "critic" else one_torch_thread()
    with np.errstate(all="ignore"), blas:
        result = REGISTRY[chosen].func(prob, **options)
        if live is not None:
            result = expand(result, full, live[1], live[2])
    if reason is not None:
        result.info.update(requested="auto", reason=reason)
        _check_auto_promise(result, rtol)
    _check_value(result)
    if not result.converged:
        warnings.warn(result.info.get("warning", f"method {chosen!r} did not converge"),
                      RuntimeWarning, stacklevel=stacklevel + 1)
    return result


def _check_auto_promise(result: Result, rtol: float) -> None:
    """auto promises a value certified within rtol: where the chosen method's bracket
    is wider (an LP precision floor, a tiny rtol), the result says so."""
    from .bounds import within

    if result.converged and result.bounds is not None and not within(
            result.bounds, rtol, float(result)):
        lo, hi = result.bounds
        result.converged = False
        result.info["warning"] = (
            f"emdkit method 'auto' could not keep its promise: {result.method!r} "
            f"certified W_p only to [{lo:.6g}, {hi:.6g}], wider than rtol={rtol:g}; "
            f"Result.converged is False.")


def _check_value(result: Result) -> None:
    """Valid input never gives NaN; if a method ever did, fail loudly, not silently."""
    value = result.value
    value = float(value.detach()) if hasattr(value, "detach") else float(value)
    if value != value:
        raise FloatingPointError(
            f"method {result.method!r} produced NaN on valid input; this is a bug in "
            f"emdkit, please report it with the input that caused it")


def solve(a: Any, b: Any, method: str = "exact", *, p: float = 1,
          metric: Metric = "euclidean", a_weights: Any = None, b_weights: Any = None,
          cost: Any = None, **options: Any) -> Result:
    """Like :func:`distance`, but return the full :class:`Result`: the value, the
    method used, convergence, the plan and dual potentials where the method has them,
    and the time taken.

    Examples
    --------
    >>> import emdkit
    >>> r = emdkit.solve([0.0, 1.0, 2.0], [0.5, 1.5], method="auto", p=2)
    >>> r.method, round(r.value, 6)
    ('1d', 0.5)
    """
    return _solve(a, b, method, p, metric, a_weights, b_weights, options, stacklevel=2,
                  cost=cost)


def distance(a: Any, b: Any, method: str = "exact", *, p: float = 1,
             metric: Metric = "euclidean", a_weights: Any = None, b_weights: Any = None,
             cost: Any = None, **options: Any):
    r"""The Wasserstein distance W_p between two samples.

    .. math:: W_p(a, b) = \Big(\min_{\pi \in \Pi(a, b)} \sum_{ij} \pi_{ij}\,
              \mathrm{metric}(a_i, b_j)^p\Big)^{1/p}

    The value is W_p itself (rooted), never W_p^p; ``Result.cost`` from
    :func:`solve` holds W_p^p.

    Parameters
    ----------
    a, b : array_like or torch.Tensor
        Samples of shape (n,) or (n, d) and (m,) or (m, d); lists, numpy arrays or
        torch tensors. Integers become floats. With ``cost``: the two histograms.
    method : str, default "exact"
        One of :func:`methods`: ``"exact"`` (network simplex), ``"1d"`` (closed form
        for 1-D samples), ``"sinkhorn"`` (entropic), ``"sliced"``, ``"max-sliced"``,
        ``"critic"`` (the WGAN dual, W_1), or ``"auto"``: a value certified within
        ``rtol`` (option, default 1e-2) by the method a measured cost model predicts
        fastest (``"1d"`` for 1-D input, else ``"exact"`` or ``"sinkhorn"`` with
        ``rtol``); it refuses at once when no method fits in memory.
    p : float, default 1
        Order, any real p >= 1; the ground cost is ``metric(x, y) ** p``.
    metric : str or callable, default "euclidean"
        ``"euclidean"``, ``"cityblock"``, ``"chebyshev"``, or a callable
        ``metric(x, y)`` returning the (n, m) distance matrix (numpy arrays, or torch
        tensors for torch input): ``exact``, ``sinkhorn`` (dense) and ``auto``.
    a_weights, b_weights : array_like, optional
        Non-negative weights, one per sample; normalised to sum to 1. Default uniform.
    cost : array_like or torch.Tensor, optional
        The (n, m) matrix of ground distances between two histograms: ``a`` (n,) and
        ``b`` (m,) are then the non-negative weights over its rows and columns (no
        samples, no metric, no ``a_weights``/``b_weights``) and the transport cost is
        ``cost ** p``, so with p = 1 the value is POT's ``ot.emd2(a, b, cost)``.
        Methods ``exact``, ``sinkhorn`` (dense, not debiased) and ``auto``; for torch
        input differentiable with respect to ``a``, ``b`` and ``cost``.
    **options
        Keyword-only options of the method (``exact``: ``max_iter``,
        ``memory_limit``; ``1d``: none; ``sinkhorn``: ``epsilon``, ``rtol``, ``tol``,
        ...; ``auto``: ``rtol``, ``memory_limit``; see each method's documentation).
        An unknown option is a ``TypeError``.

    Returns
    -------
    float or torch.Tensor
        A float for numpy input; for torch input a 0-d tensor on the same device and
        dtype, differentiable with respect to the samples and the weights.

    Raises
    ------
    ValueError, TypeError
        For invalid input, naming the argument and the value received.
    emdkit.ProblemTooLargeError
        When ``exact`` would need more memory than is available.

    Warns
    -----
    RuntimeWarning
        When the solver does not converge (see ``Result.converged``).

    Examples
    --------
    >>> import emdkit
    >>> emdkit.distance([0.0, 1.0], [3.0, 4.0])
    3.0
    >>> emdkit.distance([[0, 0], [1, 1]], [[0, 1], [1, 2]], p=2)
    1.0
    >>> emdkit.distance([0.5, 0.5], [1.0], cost=[[1.0], [3.0]])   # histograms
    2.0
    """
    return _solve(a, b, method, p, metric, a_weights, b_weights, options,
                  stacklevel=2, cost=cost).value
