"""The measurements behind ``method="auto"``'s cost model, and the check that it pays.

    python -m emdkit.bench.auto_model               # about 30 minutes on 2 cores
    python -m emdkit.bench.auto_model --multiscale  # only the two sparse routes
    python -m emdkit.bench.auto_model --dense       # only the two dense routes
    python -m emdkit.bench.auto_model --refit       # the fit again, from the file
    python -m emdkit.bench.auto_model --check       # only the 5000 x 5000 comparison

For ``exact`` (``backend="dense"``) and for ``sinkhorn`` with ``rtol=0.01`` (what
``auto`` would run), on pairs of 2-D and 10-D Gaussian clouds (the second shifted by
one unit along the first axis, so W_p is of the order of the spread, or two samples
of one Gaussian: "iid"), p = 1 and 2, n = m from 250 to 4000, and on small image
pairs (``SMALL_IMAGES``: 24 x 24 and 48 x 48 white noise, random fields, Cauchy
densities, a 96 x 96 disc): the best of ``reps`` wall-clock times, and the peak
resident memory of one run in a fresh child process (Linux ``VmHWM``, reset before
the run). A log-log fit ``time = c * (n m) ** alpha * (d / 2) ** beta * (1 + ratio)
** gamma`` per method and p (``ratio``: the probe below), and ``bytes = k * n m``
per method (k at the largest n). For ``exact`` with ``backend="multiscale"`` and
``rtol=0.01`` (what ``auto`` runs: pricing stops within it): 2-D,
3-D and 5-D (the route's reach), shifted pairs and iid pairs (two samples of one
Gaussian), n = m from 2500 to 10,000, and pairs of images (``FIT_IMAGES``: white
noise, rough and smooth random fields, Cauchy densities at 64 x 64, a mostly empty
disc at 192 x 192), one run each, ``time = c * (n + m) ** alpha * (d / 2) ** beta *
(1 + ratio) ** gamma`` per p (``ratio``: ``solvers.oned.spacing_ratio``, how many
spacings W_p reaches; a shifted pair took up to 11x longer than an iid one), and the
memory per point between 20,000 and
60,000 points. The same for ``sinkhorn(rtol=0.01, backend="multiscale")`` at p = 2
(at p = 1 it is several times slower, and ``auto`` does not send p = 1 there), also
at 1000 points and on ``SMALL_IMAGES`` (it is a route at every size).
All are written to ``--out`` (default
``benchmarks/results/auto_model.json``, the published fit, from the repository root);
``emdkit/_auto.py`` holds the
same numbers (a test checks they agree). ``--check`` then times ``auto``, ``exact``
and ``sinkhorn(rtol=0.01)`` at 5000 + 5000 2-D points, p = 1, in one process,
in rotating order, medians of 5.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
import warnings
from pathlib import Path
from typing import List

import numpy as np

import emdkit

from ..table import markdown

from ._child import run_child

#: Where the fit is written: the repository's published results, run from its root.
OUT = Path("benchmarks") / "results" / "auto_model.json"
SIZES = (250, 500, 1000, 2000, 4000)
MULTISCALE_SIZES = (2500, 5000, 10_000)
#: The multiscale Sinkhorn is a route, and fitted, only where W_p reaches at least
#: this many spacings of the points (``solvers.oned.spacing_ratio``): on two samples
#: of one distribution (ratio 1 to 5) it needs every level and was slower than the
#: multiscale exact solver at every size measured (see ``emdkit/_auto.py``).
MIN_RATIO = 10.0
#: The sparse routes measured by ``measure_multiscale``.
SPARSE = ("exact-multiscale", "sinkhorn-multiscale")
#: What each measured route runs (``emdkit.solve`` method and options).
RUNS = {"exact": ("exact", {"backend": "dense"}), "sinkhorn": ("sinkhorn", {"rtol": 0.01}),
        "exact-multiscale": ("exact", {"backend": "multiscale", "rtol": 0.01}),
        "sinkhorn-multiscale": ("sinkhorn", {"rtol": 0.01, "backend": "multiscale"})}


def pair(n: int, d: int, seed: int = 0, shift: float = 1.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(n, d))
    y[:, 0] += shift
    return x, y


_PEAK = """
import sys, numpy as np, emdkit
from emdkit.bench.auto_model import pair, RUNS
route, n, d, p = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
x, y = pair(n, d)
method, opts = RUNS[route]
w = 2100 if route.endswith("multiscale") else 50      # through the sparse path
emdkit.solve(x[:w], y[:w], method, p=p, **opts)          # imports and compilation
def rss(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
base = rss("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")           # reset the peak to now
emdkit.solve(x, y, method, p=p, **opts)
print(rss("VmHWM:") - base)
"""


def peak_bytes(method: str, n: int, d: int, p: float) -> int:
    """Peak resident memory of one solve above the process's resident size before
    it, in a fresh interpreter."""
    out = run_child(["-c", _PEAK, method, str(n), str(d), str(p)])
    return int(out.stdout.strip().splitlines()[-1])


def fit(rows, key, size="pairs", ratio=False):
    """Least squares of log(time) on log(size) (n m, or n + m: ``size="points"``),
    log(d / 2) and, with ``ratio``, log(1 + ratio) and whether the pair lies on one
    grid (``"grid"``): ``(c, alpha, beta)``, with ``ratio`` ``(c, alpha, beta,
    gamma, grid factor)``."""
    cols = [np.ones(len(rows)), np.log([r[size] for r in rows]),
            np.log([r["d"] / 2 for r in rows])]
    if ratio:
        cols += [np.log1p([r["ratio"] for r in rows]),
                 np.array([float(r["grid"]) for r in rows])]
    y = np.log([r[key] for r in rows])
    coef, *_ = np.linalg.lstsq(np.column_stack(cols), y, rcond=None)
    out = (float(math.exp(coef[0])),) + tuple(float(c) for c in coef[1:4])
    return out + ((float(math.exp(coef[4])),) if ratio else ())


def _model(rows, memory, routes):
    """The fitted constants of ``routes`` (``MODEL``'s entries) from their rows."""
    model = {}
    for route in routes:
        for p in PS[route]:
            # a run that did not certify rtol is no measurement of the route; the
            # multiscale Sinkhorn is a route only past its threshold: fitted there
            sel = [r for r in rows if r["method"] == route and r["p"] == p
                   and r.get("converged", True) and (
                       route != "sinkhorn-multiscale" or r["ratio"] >= MIN_RATIO)]
            c, alpha, beta, gamma, grid = fit(
                sel, "seconds", "points" if route in SPARSE else "pairs", ratio=True)
            model[f"{route}/p={p:g}"] = {"c": c, "alpha": alpha, "beta": beta,
                                         "gamma": gamma, "grid": grid}
        mem = [m for m in memory if m["method"] == route]
        if route in SPARSE:
            m1, m2 = mem
            model[f"{route}/bytes_per_point"] = ((m2["bytes"] - m1["bytes"])
                                                 / (m2["points"] - m1["points"]))
        else:       # the largest n: fixed overheads (imports, buffers) weigh least
            model[f"{route}/bytes_per_pair"] = mem[-1]["bytes_per_pair"]
        if route == "sinkhorn-multiscale":
            model[f"{route}/min_ratio"] = MIN_RATIO
    return model


#: The values of p each route is fitted at.
PS = {"exact": (1.0, 2.0), "sinkhorn": (1.0, 2.0), "exact-multiscale": (1.0, 2.0),
      "sinkhorn-multiscale": (2.0,)}


def _row(route, p, label, d, x, y, a, b, reps) -> dict:
    """A row of the fit: ``route``'s best of ``reps`` times on one pair, with the
    probes the model sees. Only the multiscale Sinkhorn may stop uncertified (the
    row says so, and is not fitted); any other route raises."""
    from ..geometry.problem import prepare
    from ..solvers.grid_flow import on_grid
    from ..solvers.oned import spacing_ratio

    method, opts = RUNS[route]
    ts = []
    for _ in range(reps):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = emdkit.solve(x, y, method, p=p, a_weights=a, b_weights=b, **opts)
        ts.append(time.perf_counter() - start)
        if not r.converged and route != "sinkhorn-multiscale":
            raise RuntimeError(f"{route} {label} d={d} p={p} did not converge")
    ratio = spacing_ratio(prepare(x, y, p=p, a_weights=a, b_weights=b))
    n, m = x.shape[0], y.shape[0]
    print(f"{route:8s} p={p:g} d={d:2d} {label:18s} ratio {ratio:7.2f} {min(ts):8.3f} s"
          + ("" if r.converged else " (not certified)"), flush=True)
    return {"method": route, "p": p, "d": d, "n": n, "pair": label, "pairs": n * m,
            "points": n + m, "ratio": ratio, "seconds": min(ts),
            "converged": bool(r.converged), "grid": on_grid(x, y) is not None}


def measure(reps: int = 2) -> dict:
    emdkit.solve(*pair(50, 2), "sinkhorn", rtol=0.01)      # warm up
    rows = [_row(route, p, *problem, reps) for route in ("exact", "sinkhorn")
            for p in PS[route] for problem in _dense_problems()]
    memory = []
    for method in ("exact", "sinkhorn"):
        for n in (1000, 2000, 4000):
            b = peak_bytes(method, n, 2, 1.0)
            memory.append({"method": method, "n": n, "pairs": n * n, "bytes": b,
                           "bytes_per_pair": b / (n * n)})
            print(f"{method:8s} n={n:5d} peak {b / 2 ** 20:8.1f} MiB "
                  f"({b / (n * n):.1f} B/pair)", flush=True)
    model = _model(rows, memory, ("exact", "sinkhorn"))
    return {"rows": rows, "memory": memory, "model": model,
            "versions": {"numpy": np.__version__, "emdkit": emdkit.__version__}}


#: Image pairs in the sparse routes' fits: two draws of one class (``exact_bench.image``)
#: at ``s`` x ``s`` pixels; the disc (mostly empty) at 192 px a side, so that its
#: ~4,600 pixels pass the dense threshold.
FIT_IMAGES = (("white noise", 64), ("GRF rough", 64), ("GRF smooth", 64),
              ("Cauchy", 64), ("disc", 192))
#: Smaller image pairs, in the dense routes' fits and the multiscale Sinkhorn's (a
#: route at every size): other sizes than the held-out grid's (``auto_grid``).
SMALL_IMAGES = tuple((kind, s) for s in (24, 48) for kind in (
    "white noise", "GRF rough", "GRF smooth", "Cauchy")) + (("disc", 96),)


def _images(specs, seed):
    from .exact_bench import image

    rng = np.random.default_rng(seed)
    for kind, s in specs:
        (x, a), (y, b) = (emdkit.grid(image(kind, s, rng)) for _ in range(2))
        yield (f"{s}x{s} {kind}", 2, x, y, a, b)


def _dense_problems():
    """``(label, d, x, y, a_weights, b_weights)`` of the dense routes' fits: shifted
    and iid Gaussian pairs in 2 and 10 dimensions at ``SIZES``, then the small image
    pairs (``SMALL_IMAGES``). W_p against the spacing of the points (the probe) set
    Sinkhorn's time apart by 7x at one size (4000 points, p = 2: iid 17.5 s,
    shifted 2.5 s)."""
    for d in (2, 10):
        for shift, kind in ((1.0, "shifted"), (0.0, "iid")):
            for n in SIZES:
                yield (f"{kind} n={n}", d) + pair(n, d, shift=shift) + (None, None)
    yield from _images(SMALL_IMAGES, 12)


def _sparse_problems(d_list=(2, 3, 5), small=False):
    """``(label, d, x, y, a_weights, b_weights)``: shifted and iid Gaussian pairs at
    ``MULTISCALE_SIZES`` in every dimension the sparse routes take up to 5 (fitted on
    2-D and 3-D alone, the exact LP's time was under-predicted 2.8-3.4x at 10^4 5-D
    points in the held-out grid), then the image pairs of ``FIT_IMAGES``; with
    ``small``, also 1000 points and ``SMALL_IMAGES``."""
    sizes = ((1000,) if small else ()) + MULTISCALE_SIZES
    for d in d_list:
        for shift, kind in ((1.0, "shifted"), (0.0, "iid")):
            for n in sizes:
                yield (f"{kind} n={n}", d) + pair(n, d, shift=shift) + (None, None)
    yield from _images(FIT_IMAGES, 11)
    if small:
        yield from _images(SMALL_IMAGES, 12)


def measure_multiscale(route: str = "exact-multiscale", reps: int = 1) -> dict:
    """A sparse route's times, memory and fit (see the docstring): ``exact``'s
    multiscale backend at p = 1 and 2, or the multiscale ``sinkhorn(rtol=0.01)``
    (``"sinkhorn-multiscale"``) at p = 2 only (``auto`` does not send p = 1 there)."""
    method, opts = RUNS[route]
    w = pair(2100, 2)
    emdkit.solve(w[0], w[1], method, **opts)                        # compiled
    rows = [_row(route, p, *problem, reps) for p in PS[route] for problem in
            _sparse_problems(small=route == "sinkhorn-multiscale")]
    memory = []
    for n in (20_000, 60_000):
        b = peak_bytes(route, n, 2, 2.0)
        memory.append({"method": route, "n": n, "points": 2 * n, "bytes": b})
        print(f"{route} n={n:6d} peak {b / 2 ** 20:8.1f} MiB", flush=True)
    model = _model(rows, memory, (route,))
    return {"rows": rows, "memory": memory, "model": model}


def check(reps: int = 5, n: int = 5000) -> dict:
    """auto, exact and sinkhorn(rtol=0.01) at n + n 2-D points, p = 1, interleaved."""
    x, y = pair(n, 2)
    emdkit.solve(x[:50], y[:50], "sinkhorn", rtol=0.01)
    runs = {"auto": {}, "exact": {}, "sinkhorn": {"rtol": 0.01}}
    times = {k: [] for k in runs}
    values, chosen = {}, None
    names = list(runs)
    for k in range(reps):
        for name in names[k % 3:] + names[:k % 3]:     # rotating order
            opts = runs[name]
            start = time.perf_counter()
            r = emdkit.solve(x, y, name, **opts)
            times[name].append(time.perf_counter() - start)
            values[name] = r.value
            if name == "auto":
                chosen = (r.method, r.info["reason"])
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {"n": n, "median_seconds": med, "values": values, "auto_chose": chosen[0],
           "reason": chosen[1], "reps": reps}
    for k in runs:
        print(f"{k:9s} {med[k]:7.2f} s  value {values[k]:.6f}")
    print(f"auto chose {chosen[0]}: {chosen[1]}")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only the 5000^2 comparison")
    ap.add_argument("--multiscale", nargs="*", default=None, choices=SPARSE,
                    help="only these sparse routes (default both; merged into the file)")
    ap.add_argument("--dense", action="store_true",
                    help="only the dense routes (merged into the file)")
    ap.add_argument("--refit", action="store_true",
                    help="only fit the model again from the file's measurements")
    ap.add_argument("--out", type=Path, default=OUT, help=f"the JSON file (default {OUT})")
    args = ap.parse_args(argv)
    out = args.out
    data = json.loads(out.read_text()) if out.exists() else {}
    parts = []
    if args.refit:
        data["model"].update(_model(data["rows"], data["memory"], PS))
    elif not args.check and args.multiscale is None:
        parts.append((("exact", "sinkhorn"), measure()))
    if not (args.check or args.dense or args.refit):
        parts += [((route,), measure_multiscale(route))
                  for route in args.multiscale or SPARSE]
    for methods, part in parts:
        for key in ("rows", "memory"):
            data[key] = [r for r in data.get(key, [])
                         if r["method"] not in methods] + part[key]
        data.setdefault("model", {}).update(part["model"])
        if "versions" in part:
            data["versions"] = part["versions"]
    data["check"] = check()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1))
    print(f"wrote {out}")


def report_check(check: dict) -> List[str]:
    """The table of ``check``: auto beside exact and sinkhorn."""
    med = check["median_seconds"]
    lines = [f"## auto against exact and sinkhorn (n = m = {check['n']}, 2-D, p = 1)", "",
             f"Medians of {check['reps']} runs in rotating order, one process. auto chose "
             f"**{check['auto_chose']}**: {check['reason']}.", ""]
    rows = [["sinkhorn (rtol=0.01)" if k == "sinkhorn" else k, f"{med[k]:.2f}",
             f"{check['values'][k]:.6f}"] for k in ("auto", "exact", "sinkhorn")]
    return lines + markdown(["method", "median (s)", "value"], rows) + [""]


if __name__ == "__main__":
    main()
