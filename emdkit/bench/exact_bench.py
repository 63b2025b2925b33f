"""Exact W_p at scale: ``method="exact"``'s multiscale and grid backends beside POT's
dense network simplex (``ot.emd2``) and its O(n)-memory one (``ot.lp.emd2_lazy``).

One process, on a quiet machine; a cell that took under 5 s is the best of 3 runs
(both emdkit's and POT's), a longer one a single run (seconds to minutes). Each value
is checked against POT's where POT runs (relative difference) and certified by its own
bracket (relative width).

    python -m emdkit.bench.exact_bench [--quick] [--publish benchmarks/results]
    python -m emdkit.bench.exact_bench --child N D P    # one iid row, alone (JSON)
    python -m emdkit.bench.exact_bench --only REGEX --publish DIR --note TEXT
        # re-measure some rows, in place in the published table
"""

from __future__ import annotations

import json
import sys
import time
from typing import List

import numpy as np

from . import peer, publish_table
from ..table import markdown

FULL = {"iid": [(4096, True, True), (10_000, True, True), (30_000, False, True),
                (100_000, False, False), (300_000, False, False)],
        "iid3": [(30_000, False, False), (100_000, False, False)],
        "images": 64, "classes": ("white noise", "GRF rough", "GRF medium", "GRF smooth",
                                  "logit GRF", "Cauchy", "disc"),
        "grid": [128, 256], "real": ("photographs", "microscopy", "astronomy"),
        "real_grid": [128, 256]}
QUICK = {"iid": [(1024, True, True)], "iid3": [], "images": 24, "classes": ("GRF smooth",),
         "grid": [32], "real": ("microscopy",), "real_grid": []}
#: Real image pairs, from the images scikit-image ships in its wheel (nothing is
#: downloaded): two photographs; a phase-contrast micrograph of a cell beside an
#: immunohistochemistry slide; two halves of the Hubble deep field (sparse bright
#: galaxies on a dark sky). ``name[:half]``: the left or right square of the image.
REAL = {"photographs": ("camera", "moon"),
        "microscopy": ("cell", "immunohistochemistry"),
        "astronomy": ("hubble_deep_field:left", "hubble_deep_field:right")}


def image(kind: str, s: int, rng) -> np.ndarray:
    """A positive s x s histogram of one class (two draws of one class are a pair)."""
    from scipy.ndimage import gaussian_filter

    if kind == "white noise":
        return rng.random((s, s))
    if "GRF" in kind:
        sigma = {"rough": 1.0, "medium": 2.0}.get(kind.split()[-1], 4.0)
        z = gaussian_filter(rng.normal(size=(s, s)), sigma)
        z /= z.std()
        if kind.startswith("logit"):
            return 1.0 / (1.0 + np.exp(-2.0 * z))
        return np.exp(z)                            # log-normal: positive
    u = np.stack(np.meshgrid(np.arange(s), np.arange(s), indexing="ij"), -1) / s
    c = rng.random(2) * 0.6 + 0.2
    r2 = ((u - c) ** 2).sum(-1)
    if kind == "Cauchy":
        return 1.0 / (1.0 + r2 / 0.01)
    return (r2 < (0.15 + 0.1 * rng.random()) ** 2).astype(float)        # disc


def real_image(spec: str, s: int) -> np.ndarray:
    """A scikit-image sample image as an s x s histogram: grey levels (colour
    images by luminance), a centred square (``name:left`` / ``name:right``: the
    left or right square), averaged down to s x s."""
    import skimage.color
    import skimage.data
    import skimage.transform

    name, _, side = spec.partition(":")
    im = getattr(skimage.data, name)()
    im = skimage.color.rgb2gray(im) if im.ndim == 3 else im / 255.0
    h, w = im.shape
    k = min(h, w)
    top = (h - k) // 2
    left = {"left": 0, "right": w - k}.get(side, (w - k) // 2)
    im = im[top:top + k, left:left + k]
    return skimage.transform.resize(im, (s, s), anti_aliasing=True)


#: A cell faster than this many seconds is timed ``REPEATS`` times, the best kept
#: (one run of a 0.25 s solve varied by up to 25% between runs of the suite).
REPEAT_BELOW, REPEATS = 5.0, 3


def _timed(fn):
    """``(fn(), seconds)``: one run, or the best of ``REPEATS`` where the first
    took under ``REPEAT_BELOW`` seconds."""
    t = time.perf_counter()
    out = fn()
    best = time.perf_counter() - t
    if best < REPEAT_BELOW:
        for _ in range(REPEATS - 1):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
    return out, best


def _row(problem, n, ours, pot=None, lazy=None):
    r, t = ours
    row = {"problem": problem, "n": n, "backend": r.info["backend"], "emdkit_s": t,
           "value": r.value, "bracket": r.info["bracket_width"]}
    if pot is not None:
        row["pot_s"], row["pot_rel"] = pot[1], abs(r.value - pot[0]) / pot[0]
    if lazy is not None:
        row["lazy_s"], row["lazy_rel"] = lazy[1], abs(r.value - lazy[0]) / lazy[0]
    return row


def _peak_mb():
    """The process's peak resident memory so far (MB; Linux), or None."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _in_child(n, d, p) -> dict:
    """One multiscale solve of iid N(0, I) clouds in a fresh process (``--child``):
    its time, value, bracket and the process's peak resident memory."""
    import subprocess

    out = subprocess.run([sys.executable, "-m", "emdkit.bench.exact_bench", "--child",
                          str(n), str(d), str(p)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _clouds(n, d):
    """The iid N(0, I) pair of a ``--child`` run (the parent draws it again for POT's
    lazy solver)."""
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d))


def _child(n, d, p) -> dict:
    import emdkit

    rng = np.random.default_rng(2)
    emdkit.solve(rng.normal(size=(2100, d)), rng.normal(size=(2100, d)), p=p,
                 backend="multiscale")      # compiled (the sparse path at p), untimed
    x, y = _clouds(n, d)
    row = _row(f"iid N(0, I) {d}-D, W_{p}", n,
               _timed(lambda: emdkit.solve(x, y, p=p, backend="multiscale")))
    row["peak_mb"] = _peak_mb()
    return row


def _lazy(x, y, u, p):
    import ot

    out = ot.lp.emd2_lazy(x, y, u, u, metric="sqeuclidean" if p == 2 else "euclidean",
                          numItermax=10 ** 9, return_matrix=False)
    return float(out[0] if isinstance(out, tuple) else out) ** (1 / p)


def run(quick: bool = False, only=None) -> List[dict]:
    """The suite's rows; ``only`` (a compiled regex, optional) keeps the rows whose
    ``"{problem} @ {n}"`` it finds (``--only``; every pair is drawn all the same, so
    a row measured alone is the row of a whole run)."""
    import ot
    from scipy.spatial.distance import cdist

    import emdkit

    def wanted(label, n):
        return only is None or only.search(f"{label} @ {n}") is not None

    grid = QUICK if quick else FULL
    rng, warm = np.random.default_rng(0), np.random.default_rng(2)
    for backend in ("multiscale", "dense"):                 # compiled, untimed
        emdkit.solve(rng.normal(size=(2100, 2)), rng.normal(size=(2100, 2)),
                     backend=backend)
        emdkit.solve(warm.normal(size=(2100, 2)), warm.normal(size=(2100, 2)),
                     backend=backend, p=1)
    rows = []
    for d, n, dense, lazy in ([(2,) + c for c in grid["iid"]] +
                              [(3,) + c for c in grid["iid3"]]):
        if not dense:               # alone in a fresh process: its own peak memory
            for p in ((2, 1) if d == 2 else (2,)):
                if not wanted(f"iid N(0, I) {d}-D, W_{p}", n):
                    continue
                rows.append(_in_child(n, d, p))
                if lazy and p == 2:     # POT's O(n)-memory solver on the same pair
                    x, y = _clouds(n, d)
                    value, t = _timed(lambda: _lazy(x, y, np.full(n, 1.0 / n), p))
                    rows[-1].update(lazy_s=t,
                                    lazy_rel=abs(rows[-1]["value"] - value) / value)
            continue
        x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d))
        u = np.full(n, 1.0 / n)
        for p in ((2, 1) if d == 2 else (2,)):
            label = f"iid N(0, I) {d}-D, W_{p}"
            if not wanted(label, n):
                continue
            ours = _timed(lambda: emdkit.solve(x, y, p=p, backend="multiscale"))
            pot = _timed(lambda: ot.emd2(u, u, cdist(x, y) ** p, numItermax=10 ** 9) **
                         (1 / p)) if dense else None
            lz = _timed(lambda: _lazy(x, y, u, p)) if lazy else None
            rows.append(_row(label, n, ours, pot, lz))
    rng = np.random.default_rng(1)          # the images' own draws
    s = grid["images"]
    small = [(kind, image(kind, s, rng), image(kind, s, rng)) for kind in grid["classes"]]
    large = [(s_, "GRF smooth", image("GRF smooth", s_, rng), image("GRF smooth", s_, rng))
             for s_ in grid["grid"]]
    real = peer("skimage") is not None
    if real:
        small += [(f"{kind} (real)", *(real_image(spec, s) for spec in REAL[kind]))
                  for kind in grid["real"]]
        large += [(s_, f"{kind} (real)", *(real_image(spec, s_) for spec in REAL[kind]))
                  for s_ in grid["real_grid"] for kind in grid["real"]]
    for label, A, B in small:           # beside POT's dense solver
        xa, wa = emdkit.grid(A)
        xb, wb = emdkit.grid(B)
        for p, metric in ((2, "euclidean"), (1, "euclidean"), (1, "cityblock")):
            problem = f"{s}x{s} {label}, W_{p} {metric}"
            if not wanted(problem, xa.shape[0]):
                continue
            ours = _timed(lambda: emdkit.solve(xa, xb, a_weights=wa, b_weights=wb, p=p,
                                               metric=metric))
            M = cdist(xa, xb, metric) ** p
            pot = _timed(lambda: ot.emd2(wa / wa.sum(), wb / wb.sum(), M,
                                         numItermax=10 ** 9) ** (1 / p))
            rows.append(_row(problem, xa.shape[0], ours, pot))
    if not real and only is None:
        rows.append({"problem": "real images: scikit-image is not installed (the bench "
                     "extra has it), not run", "n": 0, "backend": "—", "emdkit_s": None,
                     "value": None, "bracket": None})
    for s, label, A, B in large:
        xa, wa = emdkit.grid(A)
        xb, wb = emdkit.grid(B)
        for p, metric in ((1, "cityblock"), (1, "euclidean"), (2, "euclidean")):
            problem = f"{s}x{s} {label}, W_{p} {metric}"
            if not wanted(problem, xa.shape[0]):
                continue
            ours = _timed(lambda: emdkit.solve(xa, xb, a_weights=wa, b_weights=wb, p=p,
                                               metric=metric))
            rows.append(_row(problem, xa.shape[0], ours))
    return rows


def merged(old: List[dict], new: List[dict]) -> List[dict]:
    """The published rows ``old`` with the re-measured ``new`` in their places (same
    problem and n, or the same problem where the table has it once: an image pair's
    non-empty pixels, its n, depend on its draw); a new row not there goes after the
    last row of its size (the problem's first word), else at the end."""
    out = list(old)
    for row in new:
        key = (row["problem"], row["n"])
        at = [i for i, r in enumerate(out) if (r["problem"], r["n"]) == key]
        same = [i for i, r in enumerate(out) if r["problem"] == row["problem"]]
        at = at or (same if len(same) == 1 else [])
        if at:
            out[at[0]] = row
            continue
        head = row["problem"].split()[0]
        same = [i for i, r in enumerate(out) if r["problem"].split()[0] == head]
        out.insert(same[-1] + 1 if same else len(out), row)
    return out


def report(rows: List[dict]) -> str:
    def f(v, fmt):
        return "—" if v is None else format(v, fmt)

    def ratio(r, key):
        return f(r[key] / r["emdkit_s"], ".1f") if r.get(key) is not None else "—"
    body = [[r["problem"], f"{r['n']:,}", r["backend"], f(r["emdkit_s"], ".2f"),
             f(r.get("peak_mb"), ".0f"), f(r.get("pot_s"), ".2f"), ratio(r, "pot_s"),
             f(r.get("lazy_s"), ".2f"), ratio(r, "lazy_s"),
             f(r.get("pot_rel", r.get("lazy_rel")), ".0e"), f(r["bracket"], ".0e")]
            for r in rows]
    return "\n".join(markdown(["problem", "n", "backend", "emdkit s", "peak MB",
                               "POT emd2 s", "POT / emdkit", "POT lazy s",
                               "lazy / emdkit", "|diff| / POT", "bracket width"], body))


def section(rows: List[dict]) -> List[str]:
    """The suite's section of the benchmark report (``emdkit bench``): lines."""
    return (["## Exact W_p at scale: the multiscale and grid backends", "",
             __doc__.split("\n\n")[1], ""] + report(rows).splitlines() + [""])


def plot(rows: List[dict], path: str) -> None:
    """Time against n, 2-D iid W_2: emdkit's multiscale beside POT's dense and lazy
    network simplex (log-log), saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sel = sorted((r for r in rows if r["problem"] == "iid N(0, I) 2-D, W_2"),
                 key=lambda r: r["n"])
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for key, label, style in (("emdkit_s", "emdkit exact (multiscale)", "o-"),
                              ("pot_s", "POT emd2 (dense)", "s--"),
                              ("lazy_s", "POT emd2_lazy", "^:")):
        pts = [(r["n"], r[key]) for r in sel if r.get(key) is not None]
        if pts:
            ax.loglog(*zip(*pts), style, label=label)
    ax.set_xlabel("points per cloud (2-D, iid N(0, I))")
    ax.set_ylabel("seconds (best of 3 under 5 s)")
    ax.set_title("Exact W_2: time against n")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--publish", default=None)
    ap.add_argument("--child", nargs=3, type=int, default=None, metavar=("N", "D", "P"),
                    help="one multiscale solve of N + N iid N(0, I) points in D "
                         "dimensions, W_P, in this process: its row as JSON (the 10^6 "
                         "row of the published run: --child 1000000 2 2, about an hour)")
    ap.add_argument("--only", default=None, metavar="REGEX",
                    help="measure only the rows whose '{problem} @ {n}' matches; with "
                         "--publish, they replace their rows in the published table")
    ap.add_argument("--note", default=None,
                    help="with --publish: a paragraph on how this table was run")
    args = ap.parse_args(argv)
    if args.only and args.publish and args.note is None:
        # the table's note is rewritten on every publish: without one, a partial run
        # would silently drop the paragraph that says which run each row is from
        ap.error("--only with --publish needs --note: the published table's paragraph "
                 "on which run each row is from is replaced by it")
    if args.child:
        print(json.dumps(_child(*args.child)))
        return 0
    import re

    rows = run(args.quick, None if args.only is None else re.compile(args.only))
    if args.only and args.publish:
        import os

        with open(os.path.join(args.publish, "exact_scale.json")) as fh:
            rows = merged(json.load(fh), rows)
    text = report(rows)
    print(text)
    if args.publish:
        import os

        intro = __doc__.split("\n\n")[1] + ("" if args.note is None else
                                             "\n\n" + args.note)
        publish_table(args.publish, "exact_scale", "Exact W_p at scale", intro, rows, text,
                      "\n![time against n](exact_scale.png)\n")
        plot(rows, os.path.join(args.publish, "exact_scale.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
