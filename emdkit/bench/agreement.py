"""The agreement study: when does each method agree with the truth and with the critic?

For each family of ``emdkit.datasets`` with a known population W_1, each dimension d and
sample size n, one seeded draw of n + n samples is measured by every method: ``exact``
(the LP on the samples), ``sinkhorn`` (default epsilon), ``sliced`` (raw, and divided by
the c_d factor that relates sliced and true W_1 for translations), ``max-sliced``, and
the critic under each Lipschitz mode. Each value is compared with the population truth,
with ``exact`` on the samples, and with the GroupSort critic.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Dict, List, Optional, Sequence

import emdkit
from emdkit import datasets

from ..table import markdown

FAMILIES = ("translation", "gaussian-scale", "lipschitz-rays")
MODES = ("groupsort", "gp", "spectral", "clip")
FULL = dict(dims=(1, 2, 5, 10, 32, 128), sizes=(250, 1000, 4000), critic_steps=None)
QUICK = dict(dims=(1, 2, 10), sizes=(250,), critic_steps=200)
#: The critic the others are compared with.
REFERENCE_CRITIC = "critic-groupsort"


def c_d(d: int) -> float:
    """Sliced W_1 of a translation by t is ``c_d |t|``:
    ``c_d = Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2))`` (the mean |<theta, e>| over the
    sphere)."""
    return math.exp(math.lgamma(d / 2) - math.lgamma((d + 1) / 2)) / math.sqrt(math.pi)


def _pair(family: str, n: int, d: int):
    kwargs = {"translation": dict(shift=1.0), "gaussian-scale": dict(s=2.0),
              "lipschitz-rays": dict(mean_move=1.0)}[family]
    return datasets.FAMILIES[family](n, d, seed=0, **kwargs)


def _timed(fn):
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = fn()
    return r, time.perf_counter() - t0, [str(w.message)[:120] for w in caught]


def measure_cell(family: str, d: int, n: int, critic_steps: Optional[int],
                 modes: Sequence[str] = MODES, torch_ok: bool = True) -> dict:
    """Every method on one draw of one (family, d, n)."""
    pair = _pair(family, n, d)
    truth = pair.truth(1)
    x, y = pair.x, pair.y
    runs = {
        "exact": lambda: emdkit.solve(x, y, "exact"),
        "sinkhorn": lambda: emdkit.solve(x, y, "sinkhorn"),
        "sliced": lambda: emdkit.solve(x, y, "sliced", seed=0),
        "max-sliced": lambda: emdkit.solve(x, y, "max-sliced", seed=0),
    }
    if torch_ok:
        opts = {} if critic_steps is None else {"steps": critic_steps}
        for mode in modes:
            runs[f"critic-{mode}"] = (lambda mode=mode: emdkit.solve(
                x, y, "critic", lipschitz=mode, seed=0, **opts))
    out: Dict[str, dict] = {}
    for name, fn in runs.items():
        r, secs, warned = _timed(fn)
        rec = {"value": float(r.value), "seconds": secs, "converged": bool(r.converged),
               "warnings": warned}
        if r.ci is not None:
            rec["ci"] = [float(r.ci[0]), float(r.ci[1])]
        if name.startswith("critic"):
            rec["max_grad_norm"] = r.info.get("max_grad_norm")
        out[name] = rec
    out["sliced / c_d"] = {"value": out["sliced"]["value"] / c_d(d),
                           "seconds": out["sliced"]["seconds"], "converged": True,
                           "warnings": []}
    clip = out.get("critic-clip")
    if clip and clip.get("max_grad_norm"):
        # a clipped critic is K-Lipschitz for an unknown K: rescaled by the largest
        # gradient norm measured on the held-out points and their interpolates
        out["critic-clip / K"] = {"value": clip["value"] / clip["max_grad_norm"],
                                  "seconds": clip["seconds"],
                                  "converged": clip["converged"], "warnings": []}
    ex = out["exact"]["value"]
    ref = out.get(REFERENCE_CRITIC, {}).get("value")
    for rec in out.values():
        rec["err_vs_truth"] = rec["value"] / truth - 1.0
        rec["err_vs_exact"] = rec["value"] / ex - 1.0
        if ref is not None and ref > 0:
            rec["err_vs_critic"] = rec["value"] / ref - 1.0
    return {"family": family, "d": d, "n": n, "truth": truth, "results": out}


def run(quick: bool, progress=None, torch_ok: bool = True) -> dict:
    grid = QUICK if quick else FULL
    cells = [(f, d, n) for f in FAMILIES for d in grid["dims"] for n in grid["sizes"]]
    results: List[dict] = []
    for k, (f, d, n) in enumerate(cells):
        if progress is not None:
            progress(f"agreement {f} d={d} n={n}", k, len(cells))
        results.append(measure_cell(f, d, n, grid["critic_steps"], torch_ok=torch_ok))
    return {"grid": {"families": list(FAMILIES), "dims": list(grid["dims"]),
                     "sizes": list(grid["sizes"]),
                     "critic_steps": grid["critic_steps"] or "default (1000)",
                     "modes": list(MODES) if torch_ok else []},
            "cells": results}


# ---------------------------------------------------------------------------- report


def _cell(study, family, d, n):
    for c in study["cells"]:
        if (c["family"], c["d"], c["n"]) == (family, d, n):
            return c
    return None


def _methods(study) -> List[str]:
    first = study["cells"][0]["results"]
    order = ["exact", "sinkhorn", "sliced", "sliced / c_d", "max-sliced"]
    return order + [k for k in first if k.startswith("critic")]


def findings(study) -> List[str]:
    """Plain-words statements, computed from the measurements."""
    cells, lines = study["cells"], []
    dims, sizes = study["grid"]["dims"], study["grid"]["sizes"]
    critics = [m for m in _methods(study) if m.startswith("critic")]
    for m in critics:
        for family in study["grid"]["families"]:
            parts, anywhere = [], False
            for ref, key in (("exact on the samples", "err_vs_exact"),
                             ("the truth", "err_vs_truth")):
                for tol in (0.05, 0.10):
                    per_n = []
                    for n in sizes:
                        ok = [d for d in dims if abs(_cell(study, family, d, n)["results"]
                                                     [m][key]) <= tol]
                        anywhere = anywhere or bool(ok)
                        good = _largest_prefix(dims, ok)
                        per_n.append(f"n = {n:,}: " + (f"d <= {good}" if good else "no d"))
                    parts.append(f"within {tol:.0%} of {ref} for " + ", ".join(per_n))
            if anywhere:
                lines.append(f"- {family}, {m}: " + "; ".join(parts) + ".")
            else:
                lines.append(f"- {family}, {m}: never within 10% of exact on the samples "
                             f"or of the truth on this grid.")
    for family in study["grid"]["families"]:
        for d in dims:
            if d < 10:
                continue
            c = _cell(study, family, d, sizes[-1])
            over = c["results"]["exact"]["err_vs_truth"]
            lines.append(f"- {family}, d = {d}, n = {sizes[-1]:,}: exact on the samples "
                         f"{'overshoots' if over > 0 else 'undershoots'} the population "
                         f"value by {abs(over):.0%}; the GroupSort critic is "
                         + (f"{c['results'][REFERENCE_CRITIC]['err_vs_truth']:+.0%} from "
                            f"the truth." if REFERENCE_CRITIC in c["results"] else
                            "not run (no torch)."))
    for family in study["grid"]["families"]:
        errs = [abs(_cell(study, family, d, n)["results"]["sinkhorn"]["err_vs_exact"])
                for d in dims for n in sizes]
        lines.append(f"- {family}: Sinkhorn (default epsilon) is within "
                     f"{max(errs):.2%} of exact on the samples everywhere on the grid.")
    if any(c["family"] == "translation" for c in cells):
        per_d = ", ".join(
            f"d = {d}: {_cell(study, 'translation', d, n)['results']['sliced / c_d']['err_vs_truth']:+.1%}"
            for d in dims for n in sizes[-1:])
        lines.append(f"- translation, n = {sizes[-1]:,}: sliced / c_d against the truth "
                     f"(the c_d identity holds for translations of the population; the "
                     f"rest is the samples' own error): {per_d}. On the other families "
                     f"sliced / c_d is another quantity (see the tables).")
    return lines


def _largest_prefix(dims, ok):
    good = None
    for d in dims:
        if d not in ok:
            break
        good = d
    return good


def section(study) -> List[str]:
    """The report's part: a heading and ``report``."""
    return ["# Agreement", ""] + report(study)


def report(study) -> List[str]:
    g = study["grid"]
    lines = ["## Agreement: every method against the truth, exact, and the critic", "",
             f"Grid: families {', '.join(g['families'])}; d in {g['dims']}; n in "
             f"{g['sizes']} (n + n samples, one seeded draw per cell); critic steps "
             f"{g['critic_steps']}, modes {', '.join(g['modes']) or 'none (no torch)'}. "
             "W_1 throughout (p = 1, Euclidean). Errors are relative: value / reference "
             "- 1. *sliced / c_d* divides the sliced W_1 by c_d = Gamma(d/2) / (sqrt(pi) "
             "Gamma((d+1)/2)), which makes it equal W_1 for translations only. "
             "*critic-clip / K* divides the weight-clipped critic's value by its largest "
             "gradient norm on the held-out points and their interpolates: the "
             "estimate of a 1-Lipschitz critic if its Lipschitz constant K is reached "
             "there (else it overestimates).", "",
             "### Findings", ""] + findings(study) + [""]
    methods = _methods(study)
    with_critic = any("err_vs_critic" in r for c in study["cells"]
                      for r in c["results"].values())
    for family in g["families"]:
        cells = [_cell(study, family, d, n) for d in g["dims"] for n in g["sizes"]]

        def table(first, cell_text):
            return markdown(["d", "n"] + first + methods,
                            [[c["d"], f"{c['n']:,}"] + [f(c) for f in cell_text]
                             for c in cells], align="r" * (2 + len(first) + len(methods)))

        lines += [f"### {family}", "",
                  "Error against the population truth (and against exact on the samples):",
                  ""] + table(["truth"], [lambda c: f"{c['truth']:.3f}"] + [
                      lambda c, m=m: f"{c['results'][m]['err_vs_truth']:+.1%} "
                                     f"({c['results'][m]['err_vs_exact']:+.1%})"
                      for m in methods])
        if with_critic:
            lines += ["", "Error against the GroupSort critic's estimate "
                          f"({REFERENCE_CRITIC}):", ""] + table([], [
                              lambda c, m=m: f"{c['results'][m]['err_vs_critic']:+.1%}"
                              if "err_vs_critic" in c["results"][m] else "-"
                              for m in methods])
        lines += ["", "Seconds per method:", ""] + table([], [
            lambda c, m=m: f"{c['results'][m]['seconds']:.2f}" for m in methods]) + [""]
    return lines


def print_progress(label, k, total):   # pragma: no cover - console output
    print(f"[bench] ({k + 1}/{total}) {label}", file=sys.stderr, flush=True)
