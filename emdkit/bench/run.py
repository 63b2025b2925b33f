"""The benchmark suite: emdkit beside its peers, and when the methods agree.

    emdkit bench --quick --out bench-out   # (= python -m emdkit.bench) under 5 minutes
    emdkit bench --out bench-out           # the full run (about an hour on 2 cores)

Speed: every case runs each contender (POT, SciPy, GeomLoss when installed) once per
round, in rotating order, for several rounds; the report gives medians, the ratio of
each peer's median to emdkit's, and the relative difference of the values; a scaling
sweep gives time and peak memory against n with the log-log slope; numba compilation
and the cold first call are measured apart. Agreement: every method against the
population truth of ``emdkit.datasets`` families, exact on the samples and the WGAN
critic over a grid of dimensions and sample sizes. Training: the WGAN example's critic
estimate against the exact W_1. Writes ``report.md``, ``results.json`` and PNG plots to
``--out``. A missing peer is reported as missing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

import emdkit

from . import peer


def _plain(obj):
    """numpy scalars in the results as plain JSON numbers and booleans."""
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def bench_sinkhorn(quick: bool) -> dict:
    from . import sinkhorn_bench as sb

    out: dict = {}
    if peer("ot") is not None:
        out["pot"] = (sb.bench_vs_pot(300, [0.05], reps=2, slow_reps={}) if quick else
                      sb.bench_vs_pot(1000, [0.05, 0.01], reps=3, slow_reps={0.01: 1}))
    out["geomloss"] = sb.bench_vs_geomloss(500 if quick else 4000, 0.05,
                                           reps=1 if quick else 2)
    runs = [(2000, 2, "dense", 10_000), (3000, 3, "online", 3)] if quick else \
        [(4000, 2, "dense", 10_000), (50_000, 3, "online", 2)]
    out["memory"] = [sb.bench_memory(*r) for r in runs]
    return out


def bench_sliced(quick: bool) -> dict:
    from . import sliced_bench as sb

    if quick:
        return {"sliced": sb.bench_sliced(20_000, 10, 100, reps=2, pot_reps=1),
                "max_sliced": sb.bench_max_sliced(500, 10, reps=1),
                "memory": sb.bench_memory(10 ** 6, 3, 20)}
    return {"sliced": sb.bench_sliced(10 ** 5, 10, 200, reps=5, pot_reps=2),
            "max_sliced": sb.bench_max_sliced(2000, 10, reps=3),
            "memory": sb.bench_memory(10 ** 7, 3, 100)}


def time_case(contenders: Dict[str, Callable[[], float]], rounds: int) -> dict:
    """Run each contender once per round in rotating order; medians and values."""
    names = list(contenders)
    times: Dict[str, List[float]] = {k: [] for k in names}
    values: Dict[str, float] = {}
    for name in names:  # warm-up: compilation, imports, caches
        values[name] = float(contenders[name]())
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - t0)
    return {name: {"median_s": statistics.median(times[name]), "min_s": min(times[name]),
                   "rounds": rounds, "value": values[name]} for name in names}


def _ratios(res: dict, ours: str = "emdkit") -> None:
    base = res[ours]["median_s"]
    ref = res[ours]["value"]
    for r in res.values():
        r["ratio_to_emdkit"] = r["median_s"] / base
        if r["value"] == r["value"] and ref != 0:
            r["rel_diff_value"] = abs(r["value"] - ref) / abs(ref)


def bench_1d(n: int, rounds: int, weighted: bool) -> List[dict]:
    ot, scipy_stats = peer("ot"), None
    try:
        from scipy import stats as scipy_stats
    except ImportError:  # pragma: no cover
        pass
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=n), rng.normal(size=n) * 1.5 + 0.5
    wa = rng.random(n) if weighted else None
    wb = rng.random(n) if weighted else None
    out = []
    for p in (1, 2):
        c: Dict[str, Callable[[], float]] = {
            "emdkit": lambda: emdkit.distance(x, y, "1d", p=p, a_weights=wa, b_weights=wb)}
        if ot is not None:   # POT returns W_p^p: root it
            na = None if wa is None else wa / wa.sum()
            nb = None if wb is None else wb / wb.sum()
            if na is None:
                c["POT wasserstein_1d"] = lambda: ot.wasserstein_1d(x, y, p=p) ** (1 / p)
            else:
                c["POT wasserstein_1d"] = lambda: ot.wasserstein_1d(x, y, na, nb,
                                                                     p=p) ** (1 / p)
        if scipy_stats is not None and p == 1:   # SciPy's W_1 only
            c["SciPy wasserstein_distance"] = lambda: scipy_stats.wasserstein_distance(
                x, y, wa, wb)
        if not weighted:
            c["floor: np.sort(a), np.sort(b)"] = lambda: (np.sort(x), np.sort(y))[0][0]
        res = time_case(c, rounds)
        res["floor: np.sort(a), np.sort(b)"] = res.get("floor: np.sort(a), np.sort(b)")
        res = {k: v for k, v in res.items() if v is not None}
        _ratios(res)
        for k in res:
            if k.startswith("floor"):
                res[k].pop("rel_diff_value", None)
        out.append({"case": f"1d, n = m = {n:,}, p = {p}, "
                            f"{'weighted' if weighted else 'unweighted'}",
                    "method": "1d", "n": n, "p": p, "weighted": weighted, "results": res})
    return out


def bench_exact(n: int, d: int, rounds: int) -> List[dict]:
    ot = peer("ot")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 1.0
    u = np.full(n, 1.0 / n)
    out = []
    for p in (1, 2):
        c: Dict[str, Callable[[], float]] = {"emdkit": lambda: emdkit.distance(x, y, p=p)}
        if ot is not None:   # emd2 returns W_p^p for the cost dist ** p: root it
            c["POT dist + emd2"] = lambda: ot.emd2(
                u, u, ot.dist(x, y, metric="euclidean") ** p, numItermax=1_000_000) ** (1 / p)
        res = time_case(c, rounds)
        _ratios(res)
        out.append({"case": f"exact, n = m = {n:,}, d = {d}, p = {p}", "method": "exact",
                    "n": n, "d": d, "p": p, "results": res})
    return out


_COLD = r"""
import time, json, sys
t0 = time.perf_counter()
import emdkit
t1 = time.perf_counter()
import numpy as np
rng = np.random.default_rng(0)
a, b = rng.normal(size=1000), rng.normal(size=1000)
t2 = time.perf_counter()
emdkit.distance(a, b, method="1d")
t3 = time.perf_counter()
emdkit.distance(np.c_[a, b][:300], np.c_[b, a][:300], method="exact")
t4 = time.perf_counter()
emdkit.distance(a, b, method="1d", a_weights=rng.random(1000))
t5 = time.perf_counter()
big = rng.normal(size=10**5)
t6 = time.perf_counter()
emdkit.distance(big, big + 1, method="1d")   # radix-sort kernels
t7 = time.perf_counter()
json.dump({"import_s": t1 - t0, "first_1d_s": t3 - t2, "first_exact_s": t4 - t3,
           "first_weighted_1d_s": t5 - t4, "first_radix_1d_s": t7 - t6}, sys.stdout)
"""


def bench_cold() -> dict:
    """First calls in fresh processes: with numba's cache warm, then with an empty
    cache (so the difference is compilation)."""
    def run(env_extra):
        env = dict(os.environ, **env_extra)
        out = subprocess.run([sys.executable, "-c", _COLD], capture_output=True, text=True,
                             env=env, check=True)
        return json.loads(out.stdout)

    run({})  # make sure the package's own cache is populated
    cached = run({})
    with tempfile.TemporaryDirectory() as tmp:
        cold = run({"NUMBA_CACHE_DIR": tmp})
    return {"cached_kernels": cached, "empty_numba_cache": cold,
            "note": "fresh Python process each; the exact call includes importing POT"}


def machine() -> dict:
    import numba
    import scipy

    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpu": _cpu_name(), "cores": os.cpu_count(), "numpy": np.__version__,
            "scipy": scipy.__version__, "numba": numba.__version__,
            "emdkit": emdkit.__version__}
    ot = peer("ot")
    info["POT"] = ot.__version__ if ot else "not installed"
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def report(results: dict, figures=()) -> str:
    from . import agreement, scaling

    peers = results.get("peers", {})
    lines = ["# emdkit benchmark", "",
             f"Measured {results['date']} with `{results['command']}`"
             + (f" in {results['total_seconds'] / 60:.0f} minutes"
                if "total_seconds" in results else "") + ".", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in results["machine"].items()),
             "", "Peers: " + ", ".join(f"{k} {v}" for k, v in peers.items()), "",
             "Figures: " + ", ".join(f"`{f}`" for f in figures), "",
             "# Speed", "", "Times are medians over interleaved rounds; *ratio* is the contender's "
             "median over emdkit's (above 1: emdkit is faster); *value diff* is the "
             "relative difference from emdkit's value (all values are W_p, rooted).", ""]
    for case in results["cases"]:
        lines += [f"## {case['case']}", "",
                  "| contender | median (s) | min (s) | ratio | value diff |",
                  "|---|---:|---:|---:|---:|"]
        for name, r in case["results"].items():
            diff = r.get("rel_diff_value")
            lines.append(f"| {name} | {r['median_s']:.4f} | {r['min_s']:.4f} | "
                         f"{r['ratio_to_emdkit']:.2f} | "
                         f"{'' if diff is None else f'{diff:.1e}'} |")
        lines.append("")
    if results.get("sinkhorn"):
        from .sinkhorn_bench import report as sinkhorn_report

        lines += sinkhorn_report(results["sinkhorn"])
    if results.get("sliced"):
        from .sliced_bench import report as sliced_report

        lines += sliced_report(results["sliced"])
    if results.get("critic"):
        from .critic_bench import report as critic_report

        lines += critic_report(results["critic"])
    for key, module in (("sinkhorn_matched", "sinkhorn_matched"),
                        ("sinkhorn_robustness", "sinkhorn_robustness")):
        if results.get(key):
            import importlib

            lines += importlib.import_module(f"emdkit.bench.{module}").report(results[key])
    if results.get("brackets"):
        from .brackets import report as brackets_report

        lines += brackets_report(results["brackets"])
    if results.get("auto"):
        from .brackets import auto_report

        lines += auto_report(results["auto"])
    if results.get("scaling"):
        lines += scaling.report(results["scaling"])
    cold = results.get("cold")
    if cold:
        lines += ["## Cold start (fresh process)", "",
                  "| | import emdkit | first 1d (n=1000) | first exact (n=300) | "
                  "first weighted 1d | first 1d with radix sort (n=1e5) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for label, key in (("numba cache warm", "cached_kernels"),
                           ("numba cache empty (compiles)", "empty_numba_cache")):
            c = cold[key]
            lines.append(f"| {label} | {c['import_s']:.3f} s | {c['first_1d_s']:.3f} s | "
                         f"{c['first_exact_s']:.3f} s | {c['first_weighted_1d_s']:.3f} s | "
                         f"{c['first_radix_1d_s']:.3f} s |")
        lines += ["", f"Note: {cold['note']}.", ""]
    if results.get("agreement"):
        lines += ["# Agreement", ""] + agreement.report(results["agreement"])
    if "training" in results:
        lines += training_report(results["training"])
    return "\n".join(lines)


def bench_training(quick: bool, out: Path) -> Optional[dict]:
    """The WGAN example (critic estimate against exact W_1 over training), run in a
    fresh process into ``out / "training"``."""
    if peer("torch") is None or peer("matplotlib") is None:
        return {"skipped": "needs torch and matplotlib"}
    args = ["--steps", "60", "--every", "20"] if quick else []
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "emdkit.bench.wgan_ring", "--out",
                    str(out / "training")] + args,
                   check=True, capture_output=True, text=True)
    curves = json.loads((out / "training" / "curves.json").read_text())
    return {"seconds": time.perf_counter() - t0, "curves": curves,
            "plot": "training/wgan_ring.png",
            "command": f"python -m emdkit.bench.wgan_ring {' '.join(args)}".strip()}


def training_report(tr: Optional[dict]) -> List[str]:
    lines = ["## Training trace: the WGAN critic's estimate against the exact W_1", ""]
    if not tr or "skipped" in (tr or {}):
        return lines + [f"Skipped: {(tr or {}).get('skipped', 'not run')}.", ""]
    lines += [f"`{tr['command']}` ({tr['seconds']:.0f} s): a WGAN-GP on a ring of 8 "
              "Gaussians; every few generator steps, 1000 real and 1000 generated points "
              "are measured by the critic (E f(real) - E f(fake)) and by emdkit. Plot: "
              f"`{tr['plot']}`.", "",
              "| step | critic estimate | exact W_1 | critic / exact - 1 | Sinkhorn | sliced |",
              "|---:|---:|---:|---:|---:|---:|"]
    for r in tr["curves"]:
        lines.append(f"| {r['step']} | {r['critic_estimate']:.3f} | {r['exact']:.3f} | "
                     f"{r['critic_estimate'] / r['exact'] - 1:+.1%} | {r['sinkhorn']:.3f} | "
                     f"{r['sliced']:.3f} |")
    return lines + [""]


class _Progress:
    """One progress bar over the whole run (tqdm when installed, else lines)."""

    def __init__(self, total: int):
        try:
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=sys.stderr, unit="step",
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]")
        except ImportError:
            self.bar = None
        self.total, self.done = total, 0

    def step(self, label: str) -> None:
        if self.bar is not None:
            self.bar.set_description(label[:48])
            if self.done:
                self.bar.update(1)
        else:
            print(f"[bench] ({self.done + 1}/{self.total}) {label}", file=sys.stderr,
                  flush=True)
        self.done += 1

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.close()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def main(argv: Optional[List[str]] = None) -> int:
    from . import agreement, plots, scaling

    ap = argparse.ArgumentParser(prog="emdkit bench", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small sizes and grid (under 5 minutes on 2 cores)")
    ap.add_argument("--out", default="bench-out", help="directory for the report")
    ap.add_argument("--rounds", type=_positive_int, default=None,
                    help="rounds per speed case")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    quick = args.quick
    n1d, nexact = (10 ** 5, 500) if quick else (10 ** 6, 2000)
    rounds = args.rounds or (3 if quick else 9)
    torch_ok = peer("torch") is not None
    grid = agreement.QUICK if quick else agreement.FULL
    n_cells = len(agreement.FAMILIES) * len(grid["dims"]) * len(grid["sizes"])
    sc = scaling.QUICK if quick else scaling.FULL
    n_scaling = sum(len(v) for k, v in sc.items() if torch_ok or k != "critic")
    bar = _Progress(8 + n_scaling + n_cells)
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M"),
                     "command": "emdkit bench " + " ".join(argv if argv is not None
                                                           else sys.argv[1:]),
                     "machine": machine(), "cases": []}
    results["peers"] = {name: (getattr(peer(mod), "__version__", "installed")
                               if peer(mod) is not None else "missing")
                        for name, mod in (("POT", "ot"), ("SciPy", "scipy"),
                                          ("GeomLoss", "geomloss"), ("torch", "torch"))}
    t_start = time.perf_counter()
    bar.step("1d")
    results["cases"] += bench_1d(n1d, rounds, weighted=False) + \
        bench_1d(n1d, rounds, weighted=True)
    bar.step("exact")
    results["cases"] += bench_exact(nexact, 2, rounds + 6)
    bar.step("sinkhorn")
    results["sinkhorn"] = bench_sinkhorn(quick)
    bar.step("sliced")
    results["sliced"] = bench_sliced(quick)
    bar.step("sinkhorn at matched accuracy, robustness sweep")
    from . import sinkhorn_matched, sinkhorn_robustness

    results["sinkhorn_matched"] = sinkhorn_matched.run(
        sizes=(500,) if quick else (1000, 2000), reps=2 if quick else 5)
    results["sinkhorn_robustness"] = sinkhorn_robustness.run(quick)
    bar.step("brackets and auto")
    from . import auto_model, brackets

    results["brackets"] = brackets.run(quick)
    results["auto"] = auto_model.check(reps=3, n=1500 if quick else 5000)
    results["scaling"] = scaling.run(quick, progress=lambda label, k, t: bar.step(label),
                                     torch_ok=torch_ok)
    results["agreement"] = agreement.run(quick, progress=lambda label, k, t: bar.step(label),
                                         torch_ok=torch_ok)
    bar.step("training trace")
    results["training"] = bench_training(quick, out)
    bar.step("cold start")
    results["cold"] = bench_cold()
    bar.close()
    results["total_seconds"] = time.perf_counter() - t_start
    (out / "results.json").write_text(json.dumps(results, indent=2, default=_plain))
    if peer("matplotlib") is not None:
        figures = plots.all_plots(results, out)
    else:
        figures = []
        print("matplotlib is not installed: no plots (pip install matplotlib)",
              file=sys.stderr)
    text = report(results, [p.relative_to(out).as_posix() for p in figures])
    (out / "report.md").write_text(text)
    print(f"wrote {out / 'report.md'}, {out / 'results.json'} and "
          f"{', '.join(p.name for p in figures)} in {results['total_seconds']:.0f} s")
    return 0
