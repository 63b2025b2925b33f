"""Options, validated once: each method's checks by option name, and the one function
that applies them (:func:`check_options`).

A method's options are the keyword-only parameters of its function, whose defaults
are the only defaults (the documentation shows them); ``CHECKS`` in the method's
module maps every one of them to a check that returns the value as the method uses
it or raises a ``ValueError``/``TypeError`` naming the option and the value received.
What depends on the problem (the dimension of ``projections``, the metric a method
accepts) is checked by the method, against the problem.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Dict, Iterable, Mapping, Optional

from ..checks import check_device, check_positive, check_seed

Check = Callable[[Any], Any]

#: Option names users bring from other libraries, and emdkit's name for each.
OPTION_ALIASES = {"reg": "epsilon", "eps": "epsilon", "blur": "epsilon",
                  "numItermax": "max_iter", "numitermax": "max_iter",
                  "n_iter": "max_iter", "niter": "max_iter", "stopThr": "tol",
                  "stop_thr": "tol", "n_projections_": "n_projections",
                  "random_state": "seed"}


def positive(name: str, *, integer: bool = False, below: Optional[float] = None,
             optional: bool = False) -> Check:
    """A positive (integer) number, ``< below`` where given; None too if ``optional``."""
    def check(value):
        if optional and value is None:
            return None
        return check_positive(name, value, integer=integer, below=below)
    return check


def choice(name: str, values: Iterable[str]) -> Check:
    """One of ``values``."""
    values = tuple(values)

    def check(value):
        if not isinstance(value, str) or value not in values:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, values))}, "
                             f"got {value!r}")
        return value
    return check


def flag(name: str) -> Check:
    """True or False (numpy's bools too)."""
    import numpy as np

    def check(value):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {value!r}")
        return bool(value)
    return check


def seed(name: str = "seed") -> Check:
    return lambda value: check_seed(value, name)


def device(name: str = "device") -> Check:
    return lambda value: check_device(value, name)


def anything(value):
    """An option checked by the method against the problem (e.g. ``projections``)."""
    return value


def check_options(method: str, options: Mapping[str, Any],
                  checks: Mapping[str, Check]) -> Dict[str, Any]:
    """``options`` validated by ``checks`` (the method's ``CHECKS``): an unknown name
    is a ``TypeError`` with a suggestion, a bad value the check's error."""
    unknown = sorted(set(options) - set(checks))
    if unknown:
        allowed = tuple(checks)
        takes = f"it takes {', '.join(allowed)}" if allowed else "it takes no options"
        raise TypeError(f"method {method!r} got unexpected option(s) "
                        f"{', '.join(unknown)}{did_you_mean(unknown, allowed)}; {takes}")
    return {name: checks[name](value) for name, value in options.items()}


def did_you_mean(unknown, allowed) -> str:
    """`` (did you mean 'epsilon' for 'eps'?)`` for the unknown option names that
    another library's name (``OPTION_ALIASES``) or a near spelling maps to one of
    ``allowed``; empty where none does."""
    hints = []
    for name in unknown:
        near = OPTION_ALIASES.get(name)
        if near not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            near = close[0] if close else None
        if near is not None:
            hints.append(f"{near!r} for {name!r}")
    return f" (did you mean {', '.join(hints)}?)" if hints else ""
