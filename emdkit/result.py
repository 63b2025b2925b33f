"""The one record every method returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class Result:
    """The outcome of :func:`emdkit.solve`, the same record for every method.

    Attributes
    ----------
    value : float or torch.Tensor
        The distance W_p itself (rooted), a float for numpy input and a 0-d tensor
        (same device and dtype, differentiable) for torch input.
    method : str
        The method that computed it. For ``method="auto"`` this is the method chosen;
        ``info["requested"]`` is then ``"auto"``, ``info["reason"]`` says why,
        ``info["route"]`` names the route (``"exact multiscale"``, say),
        ``info["predicted_s"]`` holds each compared route's predicted seconds,
        ``info["spacing_ratio"]`` and ``info["on_grid"]`` what the model saw (how
        many spacings of the points W_p reaches; whether both clouds are pixels of
        one grid) and ``info["choice_s"]`` the seconds spent choosing (the probes
        and the model).
    p : float
        The order: the ground cost is ``metric(x, y) ** p``.
    metric : str or callable
        The ground metric.
    converged : bool
        False when the solver stopped before optimality, or when the certified
        bracket is wider than the method promises (a ``RuntimeWarning`` is issued as
        well, and ``info["warning"]`` says which); the value is then not to be
        trusted.
    n_iter : int or None
        Iterations the solver used, where it counts them.
    cost : float or torch.Tensor
        The transport cost ``value ** p`` (W_p^p), the number POT's ``emd2`` returns.
    plan : array, tensor, sparse matrix or None
        The optimal coupling (n, m), where the method builds one (a
        ``scipy.sparse`` CSR matrix for Sinkhorn's multiscale backend, whose plan
        lives on a truncated support; None where, with ``rtol``, it stopped at a
        level of cells, see ``info["multiscale"]["level"]``).
    potentials : tuple or None
        The dual potentials ``(f, g)`` with ``f_i + g_j <= cost_ij``, where available.
    bounds : tuple or None
        A *certified* bracket ``(lower, upper)`` on the exact W_p between the two
        given samples (floats, rooted like ``value``): ``exact`` (rounded plan and
        c-transformed dual), ``1d`` (closed form, rounding only), ``sinkhorn``
        (the entropic plan rounded onto the marginals, and the c-transform of its
        potentials), ``max-sliced`` (a lower bound only: upper is inf). None where
        no certificate exists (``sliced``, ``critic``: their intervals are ``ci``).
    ci : tuple or None
        A *statistical* interval for the value, for estimators that have one
        (``sliced``: Monte Carlo error over directions; ``critic``: bootstrap).
        Not a bound on W_p.
    error_bound : float or None
        A bound on the error of the value, where the method gives one.
    objective : float, tensor or None
        The optimum of the problem the method solves, where it differs from ``cost``
        (for ``sinkhorn``: the entropic objective OT_eps).
    marginal_error : float or None
        L1 distance between the plan's marginals and the weights, for iterative
        solvers (the quantity ``tol`` bounds).
    time : float
        Wall-clock seconds spent in the method (validation and the imports of POT,
        torch and numba excluded; the first call in a process still loads the
        method's compiled kernels from numba's cache, a few tenths of a second).
    info : dict
        Anything else the method reports.

    Examples
    --------
    >>> import emdkit
    >>> r = emdkit.solve([0.0, 1.0], [2.0, 3.0], method="exact")
    >>> r.value, r.method, r.converged
    (2.0, 'exact', True)
    """

    value: Any
    method: str
    p: float
    metric: Any
    converged: bool = True
    n_iter: Optional[int] = None
    cost: Any = None
    plan: Any = None
    potentials: Optional[tuple] = None
    bounds: Optional[tuple] = None
    ci: Optional[tuple] = None
    error_bound: Optional[float] = None
    objective: Any = None
    marginal_error: Optional[float] = None
    time: float = 0.0
    info: dict = field(default_factory=dict)

    def __float__(self) -> float:
        return float(_detached(self.value))

    def __repr__(self) -> str:
        value = _detached(self.value)
        text = f"{float(value):.10g}" if _is_scalar(value) else repr(value)
        metric = self.metric if isinstance(self.metric, str) else "callable"
        parts = [f"value={text}", f"method={self.method!r}", f"p={self.p:g}",
                 f"metric={metric!r}", f"converged={self.converged}"]
        if self.n_iter is not None:
            parts.append(f"n_iter={self.n_iter}")
        if self.bounds is not None:
            parts.append(f"bounds=({self.bounds[0]:.6g}, {self.bounds[1]:.6g})")
        if self.ci is not None:
            parts.append(f"ci=({float(_detached(self.ci[0])):.6g}, "
                         f"{float(_detached(self.ci[1])):.6g})")
        if self.plan is not None:
            parts.append(f"plan=<{tuple(self.plan.shape)}>")
        parts.append(f"time={self.time:.3g}s")
        return f"Result({', '.join(parts)})"


def _detached(value: Any) -> Any:
    """A tensor without its graph (float() of one that requires grad warns)."""
    return value.detach() if hasattr(value, "detach") else value


def _is_scalar(value: Any) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError, RuntimeError):
        return False
