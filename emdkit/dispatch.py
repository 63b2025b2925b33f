"""One way from a validated problem to a result: :func:`solve_problem`.

``api`` (``distance``, ``solve``), ``many`` (``pairwise``, ``cdist``) and ``compare``
validate their input once (a :class:`~emdkit.geometry.problem.Problem`, the method's
name by :func:`normalise_method`, its options by :func:`check_options`), then call
:func:`solve_problem`, which:

- takes the points of zero weight out before any method sees them, and puts them
  back in the result (``_live``);
- for ``auto``, chooses the method (``_auto``) and checks the options left against it;
- runs the method with numpy's floating-point warnings off and BLAS on one thread
  (the methods' parallel work is on emdkit's pool), torch on one thread for the critic;
- checks the value (never NaN on valid input), auto's promise, and turns
  ``converged=False`` into a ``RuntimeWarning``.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Dict, Mapping

import numpy as np

from .checks import check_positive, describe
from .result import Result
from .solvers import AUTO_SUMMARY, REGISTRY, check_method_options
from .threads import one_blas_thread, one_torch_thread

#: ``auto``'s default accuracy: the value is certified within 1% of W_p.
AUTO_RTOL = 1e-2


def methods() -> Dict[str, str]:
    """The method names, each with its one-line summary."""
    out = {name: spec.summary for name, spec in REGISTRY.items()}
    out["auto"] = AUTO_SUMMARY
    return out


def normalise_method(method: Any) -> str:
    """The registered name for ``method`` (case and ``_`` / ``-`` do not matter), or
    a clear error with a suggestion."""
    import difflib

    if not isinstance(method, str):
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


def check_options(method: str, options: Mapping[str, Any]) -> Dict[str, Any]:
    """The options of ``method`` (normalised), each checked once. For ``auto``: its
    own (``rtol``, ``memory_limit``) checked; the others are checked against the
    method it chooses."""
    if method != "auto":
        return check_method_options(method, options)
    out = dict(options)
    out["rtol"] = check_positive("rtol", out.get("rtol", AUTO_RTOL))
    if out.get("memory_limit") is not None:
        out["memory_limit"] = check_positive("memory_limit", out["memory_limit"])
    return out


def solve_problem(prob, method: str, options: Mapping[str, Any], *,
                  stacklevel: int = 1) -> Result:
    """Solve the validated ``prob`` by ``method`` (normalised) with ``options``
    (checked by :func:`check_options`). The warning of a result that did not
    converge points ``stacklevel`` frames above the caller."""
    from ._live import expand, live_part

    full, live = prob, live_part(prob, method)
    if live is not None:
        prob = live[0]
    chosen, reason = method, None
    if method == "auto":
        from ._auto import choose

        rest = dict(options)
        rtol, memory_limit = rest.pop("rtol"), rest.pop("memory_limit", None)
        start = time.perf_counter()
        chosen, own, reason, record = choose(prob, rtol, memory_limit)
        record["choice_s"] = time.perf_counter() - start
        # an option the caller gave (a backend, say) is theirs to keep; the route's
        # own options fill in the rest
        options = {**own, **check_method_options(chosen, rest)}
        if options.get("backend", "dense") != own.get("backend", "dense"):
            record["route"] = chosen + ("" if options["backend"] == "dense"
                                        else f" {options['backend']}")
    # numpy's floating-point warnings are the methods' business: overflow and
    # underflow are expected and handled inside, and a RuntimeWarning from emdkit
    # must mean one thing, that the value is not to be trusted
    blas = one_blas_thread() if chosen != "critic" else one_torch_thread()
    with np.errstate(all="ignore"), blas:
        result = REGISTRY[chosen].func(prob, **options)
        if live is not None:
            result = expand(result, full, live[1], live[2])
    if reason is not None:
        result.info.update(requested="auto", reason=reason, **record)
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
