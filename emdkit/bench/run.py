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
import sys
import time
from pathlib import Path
from typing import Callable, List, NamedTuple, Optional

import numpy as np

import emdkit

from . import peer


class Context(NamedTuple):
    """What every suite is given."""
    quick: bool
    rounds: int
    out: Path
    torch_ok: bool
    progress: Callable[[str], None]     # one tick of the run's progress bar


class Suite(NamedTuple):
    """One family of cases, ``name`` on the command line (``--only``): ``run(ctx)``
    measures (its result lands in ``results[key]``), ``report(result)`` renders the
    report's section."""
    name: str
    key: str
    label: str
    run: Callable[[Context], object]
    report: Callable[[object], List[str]]
    #: for suites that tick the progress bar themselves (one tick per cell), how many
    #: ticks they take; None: one tick, before the suite runs
    ticks: Optional[Callable[[Context], int]] = None


def _module(name):
    import importlib

    return importlib.import_module(f"{__package__}.{name}")


def _suite(key, label, module, run, ticks=None, report="report", name=None):
    """A suite whose code is ``emdkit.bench.<module>`` (imported when it runs)."""
    return Suite(name or key, key, label, lambda ctx: run(_module(module), ctx),
                 lambda res: getattr(_module(module), report)(res), ticks)


def _cells(module, ctx):
    """Progress ticks of a grid suite (scaling, agreement): one per cell."""
    if module == "scaling":
        sc = _module("scaling")
        grid = sc.QUICK if ctx.quick else sc.FULL
        return sum(len(v) for k, v in grid.items() if ctx.torch_ok or k != "critic")
    return len(_module("agreement").plan(ctx.quick, ctx.torch_ok)[0])


def _ticking(ctx):
    return lambda label, k, total: ctx.progress(label)


#: The suites, in the order they run and appear in the report.
SUITES: List[Suite] = [
    _suite("cases", "1d and exact", "speed", lambda m, c: m.run(c.quick, c.rounds),
           name="speed"),
    _suite("sinkhorn", "sinkhorn", "sinkhorn_bench", lambda m, c: m.run(c.quick)),
    _suite("sliced", "sliced", "sliced_bench", lambda m, c: m.run(c.quick)),
    _suite("sinkhorn_matched", "sinkhorn at matched accuracy", "sinkhorn_matched",
           lambda m, c: m.run(sizes=(500,) if c.quick else (1000, 2000),
                              reps=2 if c.quick else 5)),
    _suite("sinkhorn_robustness", "sinkhorn robustness sweep", "sinkhorn_robustness",
           lambda m, c: m.run(c.quick)),
    _suite("multiscale", "large clouds (multiscale)", "multiscale_bench",
           lambda m, c: m.run(c.quick)),
    _suite("exact_scale", "exact at scale (multiscale, grid)", "exact_bench",
           lambda m, c: m.run(c.quick), report="section"),
    _suite("cost", "cost matrices (cost=)", "cost_bench", lambda m, c: m.run(c.quick)),
    _suite("many", "many distributions (pairwise)", "many_bench",
           lambda m, c: m.run(c.quick)),
    _suite("loss", "training loss", "loss_bench", lambda m, c: m.run(c.quick)),
    _suite("brackets", "certified brackets", "brackets", lambda m, c: m.run(c.quick)),
    _suite("auto", "auto against exact and sinkhorn", "auto_model",
           lambda m, c: m.check(reps=3, n=1500 if c.quick else 5000),
           report="report_check"),
    _suite("auto_routes", "auto beside every route", "auto_routes",
           lambda m, c: m.run(c.quick), report="section"),
    _suite("auto_grid", "auto on a held-out grid", "auto_grid",
           lambda m, c: m.run(c.quick, progress=lambda line: None), report="section"),
    _suite("scaling", "scaling", "scaling",
           lambda m, c: m.run(c.quick, progress=_ticking(c), torch_ok=c.torch_ok),
           ticks=lambda c: _cells("scaling", c)),
    _suite("cold", "cold start", "cold", lambda m, c: m.run()),
    _suite("agreement", "agreement", "agreement",
           lambda m, c: m.run(c.quick, progress=_ticking(c), torch_ok=c.torch_ok),
           ticks=lambda c: _cells("agreement", c), report="section"),
    _suite("critic_early", "critic early stopping", "critic_early",
           lambda m, c: m.run(c.quick) if c.torch_ok else {"skipped": "no torch"},
           report="section"),
    _suite("korotin_gap", "Korotin gap", "korotin_gap",
           lambda m, c: m.run(c.quick) if c.torch_ok else {"skipped": "no torch"},
           report="section"),
    _suite("training", "training trace", "training", lambda m, c: m.run(c.quick, c.out)),
]


def _plain(obj):
    """numpy scalars in the results as plain JSON numbers and booleans."""
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


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
    """The report: a header (date, command, machine, peers, figures) and each suite's
    section, for the suites present in ``results``."""
    peers = results.get("peers", {})
    lines = ["# emdkit benchmark", "",
             f"Measured {results['date']} with `{results['command']}`"
             + (f" in {results['total_seconds'] / 60:.0f} minutes"
                if "total_seconds" in results else "") + ".", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in results["machine"].items()),
             "", "Peers: " + ", ".join(f"{k} {v}" for k, v in peers.items()), "",
             "Figures: " + ", ".join(f"`{f}`" for f in figures), ""]
    if results.get("addenda"):
        lines += [f"Addenda: {results['addenda']}.", ""]
    if results.get("scheduler"):
        lines += [f"Scheduler: {results['scheduler']}. The suites ran at the same time, "
                  f"one per worker: their times are of a shared machine unless each "
                  f"worker had one of its own.", ""]
    for suite in SUITES:
        if results.get(suite.key):
            lines += suite.report(results[suite.key])
    return "\n".join(lines)


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


def _suite_names(text: str) -> List[str]:
    import difflib

    names = [t.strip() for t in text.split(",") if t.strip()]
    known = [s.name for s in SUITES]
    for name in [n for n in names if n not in known] or ([] if names else [text]):
        near = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise argparse.ArgumentTypeError(f"unknown suite {name!r}{hint}; the suites: "
                                         f"{', '.join(known)}")
    return names


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="emdkit bench", description=__doc__.split("\n")[0],
        epilog="suites (in order): " + ", ".join(s.name for s in SUITES))
    ap.add_argument("--quick", action="store_true",
                    help="small sizes and grid (under 5 minutes on 2 cores)")
    ap.add_argument("--out", default="bench-out", help="directory for the report")
    ap.add_argument("--rounds", type=_positive_int, default=None,
                    help="rounds per speed case")
    ap.add_argument("--only", type=_suite_names, default=None, metavar="SUITE[,SUITE]",
                    help="run only these suites (default: all)")
    ap.add_argument("--scheduler", choices=("serial", "dask"), default="serial",
                    help="serial: one suite after the other (the default, for timings); "
                         "dask: each suite a task on a LocalCluster of --workers "
                         "processes started for the run")
    ap.add_argument("--client", metavar="ADDRESS", default=None,
                    help="run the suites as tasks on the Dask scheduler at ADDRESS "
                         "(tcp://host:8786); the plots and files go to --out as the "
                         "workers see it")
    ap.add_argument("--workers", type=_positive_int, default=None,
                    help="with --scheduler dask: worker processes (default: the cores)")
    ap.add_argument("--render", action="store_true",
                    help="measure nothing: rewrite OUT/report.md from OUT/results.json "
                         "(the plots already there are listed, not redrawn)")
    return ap


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    out = Path(args.out)
    if args.render:
        return render(out)
    out.mkdir(parents=True, exist_ok=True)
    suites = [s for s in SUITES if args.only is None or s.name in args.only]
    holder: list = []
    ctx = Context(args.quick, args.rounds or (3 if args.quick else 9), out,
                  peer("torch") is not None, lambda label: holder[0].step(label))
    bar = _Progress(sum(1 if s.ticks is None else s.ticks(ctx) for s in suites))
    holder.append(bar)
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M"),
                     "command": "emdkit bench " + " ".join(argv if argv is not None
                                                           else sys.argv[1:]),
                     "machine": machine()}
    results["peers"] = {name: (getattr(peer(mod), "__version__", "installed")
                               if peer(mod) is not None else "missing")
                        for name, mod in (("POT", "ot"), ("SciPy", "scipy"),
                                          ("GeomLoss", "geomloss"), ("torch", "torch"))}
    t_start = time.perf_counter()
    if args.scheduler == "serial" and args.client is None:
        for suite in suites:
            if suite.ticks is None:
                bar.step(suite.label)
            results[suite.key] = suite.run(ctx)
    else:
        results.update(_on_dask(suites, ctx, args, bar))
        results["scheduler"] = (f"Dask at {args.client}" if args.client else
                                f"Dask LocalCluster, {args.workers or 'one per core'} "
                                f"worker processes")
    bar.close()
    results["total_seconds"] = time.perf_counter() - t_start
    (out / "results.json").write_text(json.dumps(results, indent=2, default=_plain))
    figures = _plots(results, out)
    (out / "report.md").write_text(report(results, [p.relative_to(out).as_posix()
                                                    for p in figures]))
    _which_method(results, out)
    print(f"wrote {out / 'report.md'}, {out / 'results.json'} and "
          f"{', '.join(p.name for p in figures)} in {results['total_seconds']:.0f} s")
    return 0


def _suite_task(name: str, quick: bool, rounds: int, out: str, torch_ok: bool):
    """One suite on a Dask worker; its result as plain JSON values."""
    [suite] = [s for s in SUITES if s.name == name]
    ctx = Context(quick, rounds, Path(out), torch_ok, lambda label: None)
    return json.loads(json.dumps(suite.run(ctx), default=_plain))


def _on_dask(suites, ctx, args, bar) -> dict:
    """The suites as tasks on a Dask cluster (``--client`` or a LocalCluster of
    ``--workers``), each cell of the grid of suites on one worker; results as they
    finish."""
    from ..many.schedule import local_cluster
    from ..threads import workers

    if args.client:
        from distributed import Client

        client, close = Client(args.client), None
    else:
        client, close = local_cluster(args.workers or workers())
    try:
        from distributed import as_completed

        futures = {client.submit(_suite_task, s.name, ctx.quick, ctx.rounds,
                                 str(ctx.out.resolve()), ctx.torch_ok, pure=False): s
                   for s in suites}
        results = {}
        for f in as_completed(list(futures)):
            suite = futures[f]
            results[suite.key] = f.result()
            for _ in range(1 if suite.ticks is None else suite.ticks(ctx)):
                bar.step(suite.label)
        return results
    finally:
        client.close() if close is None else close()


def publish_section(out, key: str, res: dict, label: str, module: str,
                    draw=None) -> None:
    """Put ``res`` into ``out/results.json`` as its section ``key``, with the date
    and the command in the addenda (replacing that section's earlier note), redraw
    its plot by ``draw(res, out)`` where it has one, and re-render the report."""
    import re

    out = Path(out)
    results = json.loads((out / "results.json").read_text())
    stamp = time.strftime("%Y-%m-%d %H:%M")
    res.update(date=stamp, command=f"python -m emdkit.bench.{module} --publish {out}")
    results[key] = res
    took = (f"{res['seconds'] / 60:.0f} minutes" if res["seconds"] >= 120
            else f"{res['seconds']:.0f} s")
    note = f"the {label} section measured {stamp} with `{res['command']}` ({took})"
    pattern = rf"the {re.escape(label)} section measured [^;]*"
    old = results.get("addenda", "")
    results["addenda"] = (re.sub(pattern, note, old) if re.search(pattern, old)
                          else f"{old}; {note}" if old else note)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    if draw is not None:
        draw(res, out)
    render(out)


def section_main(argv, doc: str, run, report, publish, label: str,
                 extra: Optional[dict] = None) -> int:
    """The command line of a suite that is also measured and published on its own
    (``python -m emdkit.bench.<module> [--quick] [--publish DIR]``); ``extra``: more
    options, ``{"--name": argparse keywords}``, passed to ``run`` by name."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--publish", metavar="DIR", default=None,
                    help=f"store the run as DIR/results.json's {label} section and "
                         f"re-render DIR/report.md")
    names = [ap.add_argument(flag, **kw).dest for flag, kw in (extra or {}).items()]
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = run(args.quick, **{name: getattr(args, name) for name in names})
    res["seconds"] = time.perf_counter() - t0
    print("\n".join(report(res)))
    if args.publish:
        publish(res, args.publish)
    return 0


def render(out: Path) -> int:
    """Rewrite ``out/report.md`` from ``out/results.json`` and the plots present."""
    results = json.loads((out / "results.json").read_text())
    names = ["scaling.png", "agreement_heatmap.png", "error_vs_d.png", "which_method.png",
             "multiscale.png", "auto_grid.png",
             (results.get("training") or {}).get("plot")]
    figures = [name for name in names if name and (out / name).exists()]
    (out / "report.md").write_text(report(results, figures))
    _which_method(results, out)
    print(f"wrote {out / 'report.md'} from {out / 'results.json'}")
    return 0


def _which_method(results: dict, out: Path) -> None:
    """``out/which_method.md``, the agreement study's "which method when" tables, and
    ``out/agreement_findings.md``, its main findings: the README and the docs show them
    as the suite made them."""
    if results.get("agreement"):
        ag = _module("agreement")
        (out / "which_method.md").write_text("\n".join(ag.which_method_table(
            results["agreement"])) + "\n")
        (out / "agreement_findings.md").write_text("\n".join(ag.headline(
            results["agreement"])) + "\n")


def _plots(results, out):
    if peer("matplotlib") is None:
        print("matplotlib is not installed: no plots (pip install matplotlib)",
              file=sys.stderr)
        return []
    from . import plots

    paths = plots.all_plots(results, out)
    if results.get("agreement"):
        ag, study = _module("agreement"), results["agreement"]
        paths.insert(paths.index(out / "error_vs_d.png") + 1, plots.which_method_plot(
            study, out / "which_method.png", ag.which_method(study), ag.WHICH_TOLS))
    return paths
