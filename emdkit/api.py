"""distance / solve / methods: validate once, then one call (``dispatch``)."""

from __future__ import annotations

from typing import Any, Dict

from . import dispatch
from .geometry.problem import Metric, prepare
from .result import Result


def methods() -> Dict[str, str]:
    """The available methods, each with a one-line description.

    Examples
    --------
    >>> import emdkit
    >>> sorted(emdkit.methods())
    ['1d', 'auto', 'critic', 'exact', 'max-sliced', 'sinkhorn', 'sliced']
    """
    return dispatch.methods()


def _solve(a, b, method, p, metric, a_weights, b_weights, options, stacklevel,
           cost=None):
    """Validate (the method's name and options, then the input), and solve."""
    method = dispatch.normalise_method(method)
    options = dispatch.check_options(method, options)
    prob = None
    if cost is not None:
        from .geometry.histograms import cost_input

        a, b, metric, a_weights, b_weights, prob = cost_input(
            a, b, cost, method, metric, a_weights, b_weights, options, p)
    if prob is None:
        prob = prepare(a, b, p=p, metric=metric, a_weights=a_weights,
                       b_weights=b_weights)
    return dispatch.solve_problem(prob, method, options, stacklevel=stacklevel + 1)


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
