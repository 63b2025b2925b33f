"""``emdkit.compare``: every method on one pair of samples, side by side."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .table import markdown

#: Methods compared when ``methods`` is not given. The critic trains a network for
#: seconds to minutes, so it runs only when asked for.
DEFAULT_METHODS = ("exact", "1d", "sinkhorn", "sliced", "max-sliced")


@dataclass
class Row:
    """One method's outcome in a :class:`Comparison`."""

    method: str
    value: Optional[float]
    seconds: Optional[float]
    error: Optional[float] = None          # value / truth - 1, when the truth is known
    converged: Optional[bool] = None
    ci: Optional[tuple] = None
    note: str = ""                         # why the method did not run, or its warning


@dataclass
class Comparison:
    """The table :func:`compare` returns: one :class:`Row` per method.

    Prints as a text table, renders as markdown or HTML in notebooks, converts with
    :meth:`to_dict`, and draws accuracy against time with :meth:`plot`.
    """

    rows: List[Row]
    p: float
    truth: Optional[float] = None
    reference: str = "truth"
    shape: tuple = ()
    info: Dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, method: str) -> Row:
        for row in self.rows:
            if row.method == method:
                return row
        raise KeyError(f"no row for method {method!r}; rows: "
                       f"{', '.join(r.method for r in self.rows)}")

    def to_dict(self) -> Dict[str, dict]:
        """``{method: {"value", "seconds", "error", "converged", "ci", "note"}}``."""
        return {r.method: {"value": r.value, "seconds": r.seconds, "error": r.error,
                           "converged": r.converged, "ci": r.ci, "note": r.note}
                for r in self.rows}

    def _cells(self) -> List[List[str]]:
        out = []
        for r in self.rows:
            if r.value is None:
                out.append([r.method, "-", "-", "-", r.note])
                continue
            err = "-" if r.error is None else f"{r.error:+.2%}"
            out.append([r.method, f"{r.value:.6g}", err, f"{r.seconds:.3f}", r.note])
        return out

    def _header(self) -> List[str]:
        ref = "error" if self.truth is None else f"error vs {self.reference}"
        return ["method", f"W_{self.p:g}", ref, "seconds", "note"]

    def _title(self) -> str:
        t = f"W_{self.p:g} between samples of shapes {self.shape[0]} and {self.shape[1]}"
        if self.truth is not None:
            t += f"; {self.reference} = {self.truth:.6g}"
        return t

    def __str__(self) -> str:
        rows = [self._header()] + self._cells()
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = [self._title()]
        for k, r in enumerate(rows):
            lines.append("  ".join(c.ljust(w) if i in (0, 4) else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(r, widths))).rstrip())
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    __repr__ = __str__

    def to_markdown(self) -> str:
        rows = [self._header()] + self._cells()
        return "\n".join([f"*{self._title()}*", ""]
                         + markdown(rows[0], rows[1:], align="lrrrl"))

    _repr_markdown_ = to_markdown

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._header())
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                       for r in self._cells())
        return (f"<table><caption>{html.escape(self._title())}</caption>"
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def plot(self, ax=None):
        """Accuracy against time: ``|error|`` against seconds on log axes (the value
        against seconds when no truth is known). Returns the matplotlib axes."""
        from .plot import comparison

        return comparison(self, ax=ax)


def compare(a: Any, b: Any = None, methods: Optional[Sequence[str]] = None, *,
            p: float = 1, metric: str = "euclidean", a_weights=None, b_weights=None,
            truth: Optional[float] = None, options: Optional[Dict[str, dict]] = None,
            seed: Optional[int] = 0) -> Comparison:
    """Every method's value, error and time on one pair of samples.

    Parameters
    ----------
    a, b : array_like
        The samples, as for :func:`emdkit.distance`; or ``a`` an
        :class:`emdkit.datasets.Pair` and ``b`` omitted, whose known truth is then used.
    methods : sequence of str, optional
        Default: ``exact``, ``1d`` (for 1-D samples), ``sinkhorn``, ``sliced`` and
        ``max-sliced``. Add ``"critic"`` to train the WGAN critic (seconds to minutes).
        A requested method that does not apply (``1d`` on 2-D samples, the critic for
        p != 1) gets a row saying why, with no value, instead of an exception.
    p, metric, a_weights, b_weights
        As for :func:`emdkit.distance`.
    truth : float, optional
        The true distance; each row then reports ``value / truth - 1``. Without it the
        rows are compared with ``exact`` when it ran.
    options : dict, optional
        Per-method options, e.g. ``{"sinkhorn": {"epsilon": 1e-3}}``.
    seed : int or None, default 0
        Passed to the randomised methods (sliced, max-sliced, critic) unless
        ``options`` sets it.

    Seconds are wall-clock time of one call after a warm-up call on 8 points, so
    imports and numba's one-off compilation are not counted (the critic has no
    warm-up: its training dominates).

    Examples
    --------
    >>> import numpy as np, emdkit
    >>> x = np.random.default_rng(0).normal(size=(300, 2))
    >>> table = emdkit.compare(x, x + [3.0, 4.0], truth=5.0)
    >>> [row.method for row in table.rows]
    ['exact', 'sinkhorn', 'sliced', 'max-sliced']
    >>> round(table["exact"].value, 9), round(table["sinkhorn"].error, 3)
    (5.0, 0.0)
    >>> print(table)                                     # doctest: +SKIP
    W_1 between samples of shapes (300, 2) and (300, 2); truth = 5
    method      W_1       error vs truth  seconds  note
    ...
    """
    from .geometry.problem import check_p, prepare

    p = check_p(p)
    a, b, truth, reference = _samples_and_truth(a, b, p, truth)
    shape = (np.shape(a), np.shape(b))
    methods, options = _methods_and_options(methods, options, shape[0])
    try:        # the samples validated once for every method (an error: every row's note)
        prob = prepare(a, b, p=p, metric=metric, a_weights=a_weights, b_weights=b_weights)
    except (ValueError, TypeError) as exc:
        prob = exc
    rows = [_run_one(m, prob, options, seed, shape[0]) for m in methods]
    ref = truth
    ex = next((r for r in rows if r.method == "exact" and r.value is not None), None)
    if ref is None and ex is not None:
        ref, reference = ex.value, "exact on the samples"
    elif reference == "population truth" and ex is not None and ref > 0 and \
            abs(ex.value / ref - 1.0) > SAMPLE_GAP_NOTE:
        d = shape[0][1] if len(shape[0]) == 2 else 1
        ex.note = ((ex.note + "; ") if ex.note else "") + (
            f"exact on the samples: its {ex.value / ref - 1:+.0%} is the finite samples' "
            f"own gap to the population, shrinking like n^(-1/{d})")
    if ref is not None and ref > 0:       # relative errors; none against a zero truth
        for r in rows:
            if r.value is not None:
                r.error = r.value / ref - 1.0
    return Comparison(rows, p=p, truth=ref, reference=reference,
                      shape=(tuple(shape[0]), tuple(shape[1])))


def _samples_and_truth(a, b, p, truth):
    """``(a, b, truth, reference)`` from two samples or a datasets.Pair."""
    from .datasets import Pair

    reference = "truth"
    if isinstance(a, Pair):
        if b is not None:
            raise TypeError("compare(pair) takes the pair alone: b must be omitted when "
                            "a is an emdkit.datasets.Pair")
        if truth is None and p in a.known_p():
            truth, reference = a.truth(p), "population truth"
        a, b = a.x, a.y
    elif b is None:
        raise TypeError("compare needs two samples a and b (or an emdkit.datasets.Pair)")
    if truth is not None:
        if isinstance(truth, bool) or not isinstance(truth, (int, float, np.floating)) \
                or not math.isfinite(truth) or truth < 0:
            raise ValueError(f"truth must be a finite non-negative number, got {truth!r}")
        truth = float(truth)
    return a, b, truth, reference


def _methods_and_options(methods, options, shape_a):
    """The methods to run (default: all that apply) and their option dicts."""
    from .api import methods as all_methods

    if options is not None and not isinstance(options, dict):
        raise TypeError(f"options must be a dict of per-method option dicts, e.g. "
                        f"{{'sinkhorn': {{'epsilon': 1e-3}}}}, got {options!r}")
    options = dict(options or {})
    for name, opts in options.items():
        if not isinstance(opts, dict):
            raise TypeError(f"options[{name!r}] must be a dict of that method's options, "
                            f"got {opts!r}")
    known = set(all_methods())
    bad = sorted(set(options) - known)
    if bad:
        raise ValueError(f"options given for unknown method(s) {', '.join(bad)}; "
                         f"methods: {', '.join(sorted(known))}")
    one_d = len(shape_a) == 1 or (len(shape_a) == 2 and shape_a[1] == 1)
    if methods is None:
        methods = [m for m in DEFAULT_METHODS if one_d or m != "1d"]
    elif isinstance(methods, str):
        methods = (methods,)
    methods = list(methods)
    for m in methods:
        if m not in known:
            raise ValueError(f"unknown method {m!r} in methods; available: "
                             f"{', '.join(sorted(known))}")
    unused = sorted(set(options) - set(methods))
    if unused:              # options that would be ignored silently
        raise ValueError(f"options given for {', '.join(map(repr, unused))}, which "
                         f"is not among the methods compared ({', '.join(methods)}): "
                         f"add it to methods, or drop its options")
    return methods, options


def _run_one(m, prob, options, seed, shape_a) -> Row:
    """One method on the validated problem ``prob`` (or the error validating it),
    timed after a warm-up; its warnings become the row's note."""
    from .api import solve
    from .dispatch import check_options, solve_problem

    opts = dict(options.get(m, {}))
    if m in ("sliced", "max-sliced", "critic") and seed is not None:
        opts.setdefault("seed", seed)
    t0 = time.perf_counter()
    try:
        if isinstance(prob, Exception):
            raise prob
        opts = check_options(m, opts)
        if m != "critic":
            _warm_up(solve, m, shape_a, prob.p, prob.metric, opts)
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = solve_problem(prob, m, opts)
    except (ValueError, TypeError, ImportError, MemoryError) as exc:
        return Row(m, None, None, note=str(exc).split("\n")[0][:160])
    secs = time.perf_counter() - t0
    note = "; ".join(sorted({str(w.message).split(".")[0][:100] for w in caught}))
    ci = None if r.ci is None else (float(r.ci[0]), float(r.ci[1]))
    if m == "auto":
        note = (note + "; " if note else "") + f"chose {r.method}"
    return Row(m, float(r.value), secs, converged=bool(r.converged), ci=ci, note=note)


#: Above this relative gap between exact on the samples and the population truth,
#: the exact row says that the gap is sampling error, not the method's.
SAMPLE_GAP_NOTE = 0.05


def _warm_up(solve, method, shape, p, metric, opts):
    """One call on 8 points so that the timed call excludes imports and numba's
    first compilation (both one-off costs per process)."""
    rng = np.random.default_rng(0)
    size = (8,) + tuple(shape[1:])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            solve(rng.normal(size=size), rng.normal(size=size), method, p=p,
                  metric=metric, **opts)
    except Exception:   # the real call reports any problem
        pass
