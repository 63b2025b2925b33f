"""``method="auto"`` on a held-out grid: every certified route timed beside it.

    python -m emdkit.bench.auto_grid [--quick] [--publish benchmarks/results]

Problems none of auto's fits saw (other seeds, another shift, other image sizes):
clouds of 10^3 to 10^6 points (and one of 100, for auto's overhead) in 1, 2, 3 and
5 dimensions, p = 1 and 2, two samples of one N(0, I) ("iid") or the second
shifted by 0.8 along the diagonal ("shifted"), and
pairs of 32 x 32 and 128 x 128 images (white noise, a Gaussian random field, a
disc: mostly empty), W_p with the Euclidean metric, ``rtol=0.01``. auto runs
first; then every other route that applies (``1d``; ``exact`` dense, and
multiscale with ``rtol=0.01`` as auto runs it; ``sinkhorn(rtol=0.01)`` dense and
multiscale), each in a worker process that is stopped once the route runs past
1.25x auto's time (at least 5 s): such a route is slower than auto and cannot
change its ratio. Dense routes whose two n x m float64 matrices exceed half the
free memory are not run; a route that refuses the problem for memory
(``ProblemTooLargeError``) is reported so. A run shorter than a second is repeated
three times (best of 3). The chosen route's own time is auto's less its choice
(``info["choice_s"]``: the probe and the model), so ``auto / best`` is auto's time
over the fastest route's, auto's overhead included. auto's value is checked inside
its own bracket, and within ``rtol`` of the exact value where an exact route
finished with a rounding-wide bracket. ``predicted`` is the cost model's time for
the route auto took; the last table sets every prediction beside its measurement.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ..table import markdown

RTOL = 0.01
#: A route is stopped past ``SLACK`` x auto's time (and at least ``FLOOR`` s).
SLACK, FLOOR = 1.25, 5.0
#: auto itself is stopped here (a failure of the grid, reported as such).
AUTO_CAP = 900.0
#: The routes timed beside auto: ``emdkit.solve`` method and options.
ROUTES = {"1d": ("1d", {}),
          "exact": ("exact", {"backend": "dense"}),
          "exact multiscale": ("exact", {"backend": "multiscale", "rtol": RTOL}),
          "sinkhorn": ("sinkhorn", {"rtol": RTOL}),
          "sinkhorn multiscale": ("sinkhorn", {"rtol": RTOL, "backend": "multiscale"})}
IMAGES = ("white noise", "GRF medium", "disc")
#: A bracket at most this wide (relative) certifies an exact route's value as the
#: truth against which auto's is checked (the multiscale LP with ``rtol`` may stop
#: with a wider one).
EXACT_WIDTH = 1e-9


def _grid(clouds, images):
    out = [{"kind": kind, "n": n, "d": d, "p": p} for d, sizes in clouds
           for n in sizes for p in (1, 2) for kind in ("iid", "shifted")]
    out += [{"kind": kind, "s": s, "d": 2, "p": p} for s in images for kind in IMAGES
            for p in (1, 2)]
    return out


FULL = ([{"kind": "iid", "n": 100, "d": 2, "p": 2}]        # auto's overhead at n = 100
        + _grid([(1, (1000, 1_000_000)), (2, (1000, 10_000, 100_000)),
               (3, (1000, 10_000)), (5, (1000, 10_000))], (32, 128))
        + [{"kind": "shifted", "n": 100_000, "d": 3, "p": 2},
           {"kind": "shifted", "n": 1_000_000, "d": 2, "p": 2}])
QUICK = [{"kind": "iid", "n": 500, "d": 1, "p": 1},
         {"kind": "iid", "n": 2500, "d": 2, "p": 2},
         {"kind": "shifted", "n": 2500, "d": 2, "p": 2},
         {"kind": "GRF medium", "s": 24, "d": 2, "p": 1}]


def name(spec: dict) -> str:
    if "s" in spec:
        return f"{spec['s']}x{spec['s']} {spec['kind']} images, W_{spec['p']}"
    return f"{spec['n']:,} {spec['d']}-D {spec['kind']}, W_{spec['p']}"


def make(spec: dict):
    """``(x, y, a_weights, b_weights)`` of one problem (seeded by its name, so held
    out from the fits' seeds)."""
    import zlib

    rng = np.random.default_rng(zlib.crc32(name(spec).encode()) + 7)
    if "s" in spec:
        import emdkit
        from .exact_bench import image

        (x, a), (y, b) = (emdkit.grid(image(spec["kind"], spec["s"], rng))
                          for _ in range(2))
        return x, y, a, b
    n, d = spec["n"], spec["d"]
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    if spec["kind"] == "shifted":
        y += 0.8 / math.sqrt(d)
    return x, y, None, None


def applies(route: str, spec: dict, n: int, m: int) -> bool:
    """Whether ``route`` is one for this problem (and, for the dense routes, fits:
    two n x m float64 matrices in half the free memory)."""
    from ..memory import available_memory
    from ..solvers import sinkhorn
    from ..solvers.exact import MULTISCALE_MAX_DIM
    from ..solvers.multiscale_exact import DENSE_PAIRS

    d = spec["d"]
    if route == "1d":
        return d == 1
    if route in ("exact", "sinkhorn"):
        return 16.0 * n * m <= 0.5 * (available_memory() or math.inf)
    if route == "exact multiscale":
        return d <= MULTISCALE_MAX_DIM and float(n) * m > DENSE_PAIRS
    return d <= sinkhorn.MULTISCALE_MAX_DIM


# -- the worker: one process that keeps emdkit compiled and the current problem --

def _serve(conn) -> None:
    import emdkit

    rng = np.random.default_rng(0)
    w = rng.normal(size=(2100, 2))          # past DENSE_PAIRS: the sparse paths
    for method, opts in ROUTES.values():    # compiled (or loaded), untimed
        k = 2100 if opts.get("backend") == "multiscale" else 200
        c = w[:k, :1] if method == "1d" else w[:k]
        emdkit.solve(c, c + 0.3, method, **opts)
    emdkit.solve(w, w + 0.3, "auto")      # auto's own imports
    cached = [None, None]
    while True:
        job = conn.recv()
        if job is None:
            return
        try:
            conn.send(_time(*job, cached))
        except emdkit.ProblemTooLargeError as exc:      # the route refuses, by memory
            conn.send({"seconds": None, "refused": str(exc).split(".")[0]})
        except Exception:           # a bug, not a slow route: the parent raises it
            import traceback

            conn.send({"error": traceback.format_exc()})


def _time(spec: dict, route: str, cached: list) -> dict:
    """Solve ``spec`` by ``route`` (best of 3 below a second): the figures kept."""
    import emdkit

    if cached[0] != spec:
        cached[:] = [spec, make(spec)]
    x, y, a, b = cached[1]
    method, opts = ("auto", {"rtol": RTOL}) if route == "auto" else ROUTES[route]
    best, r = math.inf, None
    for rep in range(3):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = emdkit.solve(x, y, method, p=spec["p"], a_weights=a, b_weights=b, **opts)
        best = min(best, time.perf_counter() - start)
        if best >= 1.0:
            break
    keep = ("route", "predicted_s", "choice_s", "spacing_ratio", "backend")
    return {"seconds": best, "value": float(r.value),
            "bounds": None if r.bounds is None else [float(v) for v in r.bounds],
            "converged": bool(r.converged), **{k: r.info[k] for k in keep if k in r.info}}


class Worker:
    """The worker process; :meth:`run` returns None (and starts a fresh worker)
    when a route runs past its time."""

    def __init__(self):
        self.proc, self.warm = None, False

    def _start(self):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()

    def run(self, spec: dict, route: str, timeout: float) -> Optional[dict]:
        if self.proc is None:
            self._start()
        self.conn.send((spec, route))
        # a fresh worker first compiles (or loads) every route: up to 2 minutes more
        if self.conn.poll(timeout + (0.0 if self.warm else 120.0)):
            self.warm = True
            out = self.conn.recv()
            if "error" in out:
                raise RuntimeError(f"{route} on {name(spec)} failed in the worker:\n"
                                   f"{out['error']}")
            return out
        self.close(kill=True)
        return None

    def close(self, kill: bool = False) -> None:
        if self.proc is not None:
            if kill:
                self.proc.kill()
            else:
                self.conn.send(None)
            self.proc.join()
            self.proc, self.warm = None, False


def run(quick: bool = False, progress=print, checkpoint: Optional[str] = None,
        only: Optional[str] = None, why: Optional[str] = None) -> Dict:
    """The grid; every row is also appended, as it is measured, to ``checkpoint``
    (JSON lines; for the full grid by default ``auto_grid.jsonl`` in the temporary
    folder) so that a long run is never lost to a later failure. ``only`` (a regular
    expression, ``--only``): the problems whose name it finds; published, they
    replace their rows of the published grid (``publish``), the report giving
    ``why`` (``--why``) they were re-measured."""
    import json
    import os
    import re
    import tempfile

    if checkpoint is None:
        checkpoint = (os.devnull if quick else
                      os.path.join(tempfile.gettempdir(), "auto_grid.jsonl"))
    worker = Worker()
    rows, stamp = [], {"measured": time.strftime("%Y-%m-%d %H:%M"), "why": why}
    try:
        for spec in (QUICK if quick else FULL):
            if only is not None and re.search(only, name(spec)) is None:
                continue
            x, y, _, _ = make(spec)
            n, m = x.shape[0], y.shape[0]
            auto = worker.run(spec, "auto", AUTO_CAP)
            row = {"problem": name(spec), **spec, "n": n, "auto": auto, "routes": {},
                   **stamp}
            rows.append(row)
            if auto is not None:
                _time_routes(worker, row, spec, n, m)
            with open(checkpoint, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            progress(f"{row['problem']}: auto ran past {AUTO_CAP:.0f} s" if auto is None
                     else f"{row['problem']}: auto {auto['route']} "
                          f"{auto['seconds']:.2f} s, best {row['best']} "
                          f"{row['best_s']:.2f} s ({row['ratio']:.2f}x)")
    finally:
        worker.close()
    out = {"rows": rows, "summary": summary(rows)}
    if only is not None:
        out.update(only=only, why=why or "after a change")
    return out


def _time_routes(worker: Worker, row: dict, spec: dict, n: int, m: int) -> None:
    """Every other route beside auto's, each stopped past ``SLACK`` x auto's time;
    then the row scored."""
    auto = row["auto"]
    own = max(auto["seconds"] - auto["choice_s"], 1e-9)
    row["routes"][auto["route"]] = {"seconds": own, "converged": auto["converged"],
                                    "value": auto["value"], "via": "auto"}
    limit = max(SLACK * auto["seconds"], FLOOR)
    for route in ROUTES:
        if route != auto["route"] and applies(route, spec, n, m):
            out = worker.run(spec, route, limit)
            row["routes"][route] = out or {"seconds": None, "past_s": limit}
    _score(row)


def _score(row: dict) -> None:
    auto, routes = row["auto"], row["routes"]
    done = {k: v["seconds"] for k, v in routes.items()
            if v.get("seconds") is not None and v["converged"]}
    row["best"] = min(done, key=done.get)
    row["best_s"] = done[row["best"]]
    row["ratio"] = auto["seconds"] / row["best_s"]
    # the exact value from another route than auto's own where one finished (else
    # auto's own, where its route is exact: certified by its bracket); the multiscale
    # LP stops within rtol, so it counts only where its bracket is rounding-wide
    finished = [v for k, v in routes.items() if k.startswith(("exact", "1d"))
                and v.get("seconds") is not None and v["converged"]
                and _exact(v.get("bounds") or (auto["bounds"] if v.get("via") == "auto"
                                               else None))]
    exact = ([v["value"] for v in finished if v.get("via") != "auto"]
             + [v["value"] for v in finished if v.get("via") == "auto"])
    lo, hi = auto["bounds"] or (-math.inf, math.inf)
    row["in_bracket"] = bool(lo <= auto["value"] <= hi)
    row["rel_err"] = (abs(auto["value"] - exact[0]) / exact[0] if exact and exact[0] > 0
                      else None)


def _exact(bounds) -> bool:
    """Whether a route's bracket (None: a route without one, the closed form)
    certifies its value to rounding (``EXACT_WIDTH``, relative)."""
    if bounds is None:
        return True
    lo, hi = bounds
    return hi - lo <= EXACT_WIDTH * max(abs(hi), 1e-300)


def summary(rows: List[dict]) -> dict:
    scored = [r for r in rows if "ratio" in r]
    ratios = [r["ratio"] for r in scored]
    errs = [r["rel_err"] for r in scored if r["rel_err"] is not None]
    big = [r for r in scored if r["n"] >= 10_000]
    return {"problems": len(rows), "timed_out": len(rows) - len(scored),
            "within_1.25": sum(x <= 1.25 for x in ratios) / max(len(ratios), 1),
            "worst": max(ratios, default=None),
            "median": statistics.median(ratios) if ratios else None,
            "all_in_bracket": all(r["in_bracket"] for r in scored),
            "max_rel_err": max(errs, default=None), "with_exact": len(errs),
            "choice_s_at_n_ge_1e4": max((r["auto"]["choice_s"] / r["auto"]["seconds"]
                                         for r in big), default=None),
            "choice_s_max": max((r["auto"]["choice_s"] for r in scored), default=None),
            "choice_s_small": max((r["auto"]["choice_s"] for r in scored
                                   if r["n"] <= 100), default=None)}


def report(res: dict) -> List[str]:
    rows, s = res["rows"], res["summary"]

    def t(v):
        if v is None:
            return "—"
        if v.get("refused"):
            return "refused (memory)"
        if v.get("seconds") is None:
            return f"> {v['past_s']:.3g}"
        return f"{v['seconds']:.3g}" + ("" if v["converged"] else " (not certified)")
    body = []
    for r in rows:
        a = r["auto"]
        if a is None:
            body.append([r["problem"], "—", f"> {AUTO_CAP:.0f}", "—"]
                        + ["—"] * len(ROUTES) + ["—", "—", "—"])
            continue
        pred = a.get("predicted_s", {}).get(a["route"])
        body.append([r["problem"], a["route"], f"{a['seconds']:.3g}",
                     "—" if pred is None else f"{pred:.3g}"]
                    + [t(r["routes"].get(k)) for k in ROUTES]
                    + [f"{r['ratio']:.2f}", "—" if r["rel_err"] is None
                       else f"{r['rel_err']:.0e}", "yes" if r["in_bracket"] else "NO"])
    lines = markdown(["problem", "auto took", "auto s", "predicted s"]
                     + [f"{k} s" for k in ROUTES]
                     + ["auto / best", "auto's error vs exact", "in its bracket"], body)
    fmt = (lambda v, f: "—" if v is None else format(v, f))
    lines += ["", f"auto within 1.25x of the fastest route on "
              f"{100 * s['within_1.25']:.0f}% of {s['problems'] - s['timed_out']} problems "
              f"(median {fmt(s['median'], '.2f')}x, worst {fmt(s['worst'], '.2f')}x); "
              f"its value inside its bracket on "
              f"{'every one' if s['all_in_bracket'] else 'NOT every one'}, and within "
              f"{fmt(s['max_rel_err'], '.0e')} of the exact value on the "
              f"{s['with_exact']} where an exact route finished. Its choice (probe and "
              f"model) took at most {fmt(s['choice_s_max'], '.2g')} s ("
              f"{fmt(s['choice_s_small'], '.2g')} s at n = 100), and at most "
              f"{fmt(100 * (s['choice_s_at_n_ge_1e4'] or 0), '.2f')}% of its time at "
              f"n >= 10^4."]
    late = [r for r in rows if r["auto"] is None]
    if late:
        lines[-1] += (f" On {len(late)} problem(s) auto's route ran past {AUTO_CAP:.0f} s "
                      f"and was stopped, no other route timed (not scored): "
                      + ", ".join(r["problem"] for r in late) + ".")
    runs = Counter((r.get("measured"), r.get("why")) for r in rows)
    if len(runs) > 1:
        lines[-1] += (f" The rows come from {len(runs)} runs of the grid: " + "; ".join(
            f"{k} problem(s) measured on {date}"
            + (" (the whole grid)" if why is None else f" ({why})")
            for (date, why), k in sorted(runs.items(), key=lambda kv: str(kv[0][0])))
            + ".")
    lines.append("")
    return lines + predictions(rows)


def predictions(rows: List[dict]) -> List[str]:
    """The cost model's predictions beside the measured times, per route."""
    by = {}
    for r in rows:
        a = r["auto"]
        for route, pred in ((a or {}).get("predicted_s") or {}).items():
            got = r["routes"].get(route)
            if got and got.get("seconds") is not None and got["converged"]:
                by.setdefault(route, []).append(got["seconds"] / pred)
    body = [[k, str(len(v)), f"{statistics.median(v):.2f}", f"{min(v):.2f}",
             f"{max(v):.2f}"] for k, v in sorted(by.items())]
    return ["Measured over predicted time, per route, on the problems where it was "
            "compared and finished:", ""] + markdown(
        ["route", "problems", "median measured / predicted", "min", "max"], body)


def section(res: dict) -> List[str]:
    """The suite's section of the benchmark report (``emdkit bench``): lines."""
    return (["## auto on a held-out grid", "", __doc__.split("\n\n")[2], ""]
            + report(res) + [""])


def merged(old: dict, res: dict) -> dict:
    """The published grid ``old`` with the rows of ``res`` (a run with ``--only``) in
    the places of the same problems and its summary recomputed; every row keeps when
    it was measured and why (``measured``, ``why``: the report groups the rows by
    run)."""
    import re

    def stamped(r):             # a grid published before rows were stamped
        if "measured" in r:
            return r
        part = old.get("remeasured")
        if part and re.search(part["only"], r["problem"]):
            return dict(r, measured=part["date"], why=part["why"])
        return dict(r, measured=part["base_date"] if part else old.get("date"), why=None)
    new = {r["problem"]: r for r in res["rows"]}
    rows = [new.pop(r["problem"], None) or stamped(r) for r in old["rows"]]
    rows += list(new.values())
    return dict(res, rows=rows, summary=summary(rows))


def publish(res: dict, out) -> None:
    """Into ``out/results.json`` as the ``auto_grid`` section (the report re-rendered),
    with its plot ``out/auto_grid.png``; a run with ``--only`` replaces its rows of
    the published grid (``merged``)."""
    import json

    from .plots import auto_grid_plot
    from .run import publish_section

    module = "auto_grid"
    if res.get("only") is not None:
        old = json.loads((Path(out) / "results.json").read_text())["auto_grid"]
        res = merged(old, res)
        module = f"auto_grid --only '{res['only']}' --why '{res['why']}'"
    publish_section(out, "auto_grid", res, "auto held-out grid", module,
                    draw=lambda r, folder: auto_grid_plot(r, Path(folder) / "auto_grid.png"))


def main(argv=None) -> int:
    from .run import section_main

    extra = {"--only": dict(default=None, metavar="REGEX",
                            help="only the problems whose name matches; with --publish "
                                 "they replace their rows of the published grid"),
             "--why": dict(default=None, help="with --only: why they were re-measured "
                                              "(the report says so)")}
    return section_main(argv, __doc__, run, report, publish, "auto held-out grid",
                        extra=extra)


if __name__ == "__main__":
    sys.exit(main())
