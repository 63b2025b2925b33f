"""``method="auto"`` beside every certified route, on the problems where it used to
choose badly: which route it takes, its time, and the fastest route's.

    python -m emdkit.bench.auto_routes [--quick] [--publish benchmarks/results]

One process; each route once per problem (``best of 1``: these take seconds), auto
timed first. Routes: ``exact`` (its own backend choice: dense, multiscale or grid),
``exact(rtol=0.01)`` (the multiscale LP stops once certified within it, as auto runs
it; the other backends solve to optimality all the same),
``sinkhorn(rtol=0.01, backend="multiscale")`` and, where it fits in a minute,
``sinkhorn(rtol=0.01)`` on the dense kernel. ``auto / best`` is auto's time over the
fastest route's; auto's value is checked inside its own bracket and against the
exact value (``exact``'s, certified to 1e-9).
"""

from __future__ import annotations

import sys
import time
import warnings
from typing import List

import numpy as np

from . import publish_table
from ..table import markdown

RTOL = 0.01


def _affine(n, d, rng):
    """A cloud and its image by an SPD affine map (the pairing i -> i is optimal)."""
    x = rng.normal(size=(n, d))
    A = np.eye(d) + 0.25 * np.ones((d, d)) / d + np.diag(np.linspace(-0.2, 0.3, d))
    return x, x @ A + 0.5 * np.arange(1, d + 1) / d


def problems(quick: bool):
    """``(name, x, y, a_weights, b_weights, dense_sinkhorn)``."""
    import emdkit
    from .exact_bench import image

    rng = np.random.default_rng(0)
    s = 24 if quick else 64
    n_iid, n_aff, n_3d = (1500, 3000, 2000) if quick else (4096, 20_000, 10_000)
    out = [(f"{n_iid} + {n_iid} iid 2-D N(0, I)", rng.normal(size=(n_iid, 2)),
            rng.normal(size=(n_iid, 2)), None, None, True)]
    for kind in (("white noise", "GRF rough", "GRF smooth", "Cauchy") if not quick
                 else ("GRF rough",)):
        (xa, wa), (xb, wb) = emdkit.grid(image(kind, s, rng)), emdkit.grid(image(kind, s,
                                                                                  rng))
        out.append((f"{s} x {s} {kind} images", xa, xb, wa, wb, kind == "white noise"))
    x, y = _affine(n_aff, 2, rng)
    out.append((f"{n_aff:,} + {n_aff:,} 2-D SPD affine map", x, y, None, None, False))
    x, y = _affine(n_3d, 3, rng)
    out.append((f"{n_3d:,} + {n_3d:,} 3-D SPD affine map", x, y, None, None, False))
    return out


def _run(x, y, wa, wb, method, **opts):
    import emdkit

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = emdkit.solve(x, y, method, p=2, a_weights=wa, b_weights=wb, **opts)
    return r, time.perf_counter() - t


def run(quick: bool = False) -> List[dict]:
    import emdkit

    rng = np.random.default_rng(1)
    w = rng.normal(size=(2100, 2))
    emdkit.solve(w, w + 0.1, "exact", backend="multiscale")              # compiled
    emdkit.solve(w[:300], w[:300] + 0.1, "sinkhorn", rtol=RTOL, backend="multiscale")
    rows = []
    for name, x, y, wa, wb, dense in problems(quick):
        auto, t_auto = _run(x, y, wa, wb, "auto", rtol=RTOL)
        routes = {"exact": _run(x, y, wa, wb, "exact"),
                  "exact rtol": _run(x, y, wa, wb, "exact", rtol=RTOL),
                  "sinkhorn multiscale": _run(x, y, wa, wb, "sinkhorn", rtol=RTOL,
                                              backend="multiscale")}
        if dense:
            routes["sinkhorn dense"] = _run(x, y, wa, wb, "sinkhorn", rtol=RTOL)
        truth = routes["exact"][0].value
        lo, hi = auto.bounds
        row = {"problem": name, "n": int(x.shape[0]), "auto_route":
               auto.method + (f" ({auto.info['backend']})" if "backend" in auto.info
                              else ""),
               "auto_s": t_auto, "auto_in_bracket": bool(lo <= auto.value <= hi),
               "auto_rel_err": abs(auto.value - truth) / truth,
               "routes": {k: {"seconds": t, "converged": bool(r.converged),
                              "backend": r.info.get("backend")}
                          for k, (r, t) in routes.items()}}
        ok = {k: v["seconds"] for k, v in row["routes"].items() if v["converged"]}
        row["best_route"] = min(ok, key=ok.get)
        row["best_s"] = ok[row["best_route"]]
        rows.append(row)
        print(f"{name}: auto {row['auto_route']} {t_auto:.2f} s, best "
              f"{row['best_route']} {row['best_s']:.2f} s", flush=True)
    return rows


def report(rows: List[dict]) -> str:
    body = []
    for r in rows:
        routes = r["routes"]

        def t(k):
            v = routes.get(k)
            return "—" if v is None else (f"{v['seconds']:.2f}" +
                                          ("" if v["converged"] else " (not certified)"))
        body.append([r["problem"], r["auto_route"], f"{r['auto_s']:.2f}", t("exact"),
                     t("exact rtol"), t("sinkhorn multiscale"), t("sinkhorn dense"),
                     f"{r['auto_s'] / r['best_s']:.2f}", f"{r['auto_rel_err']:.0e}",
                     "yes" if r["auto_in_bracket"] else "NO"])
    return "\n".join(markdown(
        ["problem", "auto chose", "auto s", "exact s", "exact(rtol) s",
         "sinkhorn multiscale s",
         "sinkhorn dense s", "auto / best", "auto's error vs exact",
         "auto's value in its bracket"], body))


def section(rows: List[dict]) -> List[str]:
    """The suite's section of the benchmark report (``emdkit bench``): lines."""
    return (["## auto beside every certified route", "", __doc__.split("\n\n")[2], ""]
            + report(rows).splitlines() + [""])


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--publish", default=None)
    args = ap.parse_args(argv)
    rows = run(args.quick)
    text = report(rows)
    print(text)
    if args.publish:
        publish_table(args.publish, "auto_routes", "auto beside every certified route",
                      __doc__.split("\n\n")[2], rows, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
