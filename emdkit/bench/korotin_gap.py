"""What separates the agreement study's critics from Korotin et al.'s published ones.

    python -m emdkit.bench.korotin_gap [--quick] [--publish benchmarks/results]

In the agreement study's Korotin setting (``agreement.KOROTIN_D`` = 128 dimensions, a
lipschitz-rays pair with W_1 = 1 whose potential has 64 or 4 affine pieces, 4000 +
4000 samples) every critic misses about 90% of W_1 with 64 pieces, where Korotin et al.
(NeurIPS 2022) published -32% for WGAN-GP on their 64-funnel pair. What differs most is
the training: their critics draw fresh samples at every step (unlimited data, long
runs, wide networks), ours train on the n + n samples given, 1000 steps, a 32 x 2
network, and are evaluated on the half they did not see (2-fold cross-fitting).

Here the same critics are trained with one thing changed at a time: more samples
(``n``), more steps, a wider and deeper network, then all of them, and each estimate
is compared with the population W_1 (= 1). ``CONFIGS`` lists the settings; each runs
``draws`` times (samples and critic seeds), two at a time on 2 cores.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from typing import Dict, List, Optional

from ..table import markdown

#: (label, samples a side, steps, width, depth): the study's setting first, then one
#: change at a time, then all together.
CONFIGS = (("the study's", 4000, 1000, 32, 2),
           ("5x the samples", 20_000, 1000, 32, 2),
           ("25x the samples", 100_000, 1000, 32, 2),
           ("25x the samples, 5x the steps", 100_000, 5000, 32, 2),
           ("a 256 x 3 network", 4000, 1000, 256, 3),
           ("25x the samples, 5x the steps, a 128 x 3 network", 100_000, 5000, 128, 3))
#: Which (pieces, mode) pairs run which configurations: the GP critic (the one
#: Korotin et al. published for both potentials) at every setting with 64 pieces,
#: the first and last with 4; the GroupSort critic (the study's reference) at the
#: first and last with 64.
FULL = dict(draws=2, tasks=[(64, "gp", c) for c in CONFIGS]
            + [(4, "gp", CONFIGS[0]), (4, "gp", CONFIGS[-1]),
               (64, "groupsort", CONFIGS[0]), (64, "groupsort", CONFIGS[-1])])
QUICK = dict(draws=1, tasks=[(4, "gp", ("the study's", 250, 50, 8, 2)),
                             (4, "gp", ("4x the samples", 1000, 50, 8, 2))])


def measure(pieces: int, mode: str, config: tuple, draw: int) -> dict:
    """One critic estimate on draw ``draw`` of the pair with ``pieces`` pieces."""
    import emdkit

    from .agreement import KOROTIN_D, _pair

    label, n, steps, width, depth = config
    pair = _pair(f"lipschitz-rays:{pieces}", n, KOROTIN_D, draw)
    truth = pair.truth(1)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # the report gives convergence itself
        r = emdkit.solve(pair.x, pair.y, "critic", lipschitz=mode, seed=draw,
                         steps=steps, width=width, depth=depth)
    return {"pieces": pieces, "mode": mode, "label": label, "n": n, "steps": steps,
            "width": width, "depth": depth, "draw": draw, "truth": truth,
            "value": float(r.value), "err": float(r.value) / truth - 1.0,
            "seconds": time.perf_counter() - start,
            "steps_run": sum(r.info["steps_run"]), "converged": bool(r.converged)}


def run(quick: bool = False, workers: Optional[int] = None) -> Dict:
    """Every task of the grid, each ``draws`` times; the longest first, so that the
    two processes end together."""
    from .agreement import _workers, pooled

    g = QUICK if quick else FULL
    tasks = sorted(((pieces, mode, config, k) for pieces, mode, config in g["tasks"]
                    for k in range(g["draws"])),
                   key=lambda t: -t[2][1] * t[2][2] * t[2][3] ** 2)
    workers = _workers(1 if quick and workers is None else workers)
    rows = list(pooled(measure, tasks, workers))
    return {"draws": g["draws"], "workers": workers, "rows": rows,
            "summary": summary(rows)}


def summary(rows: List[dict]) -> List[dict]:
    """Per (pieces, mode, setting), 64 pieces first, the GP critic first, settings
    in ``CONFIGS``' order: the median error and its range over the draws, the median
    seconds and steps run."""
    groups: Dict[tuple, List[dict]] = {}
    for r in rows:
        groups.setdefault((r["pieces"], r["mode"], r["label"]), []).append(r)
    out = []
    for (pieces, mode, label), rs in sorted(groups.items(), key=lambda kv: (
            -kv[0][0], kv[0][1] != "gp", kv[0][1], _order(kv[0][2]))):
        errs = [r["err"] for r in rs]
        out.append({"pieces": pieces, "mode": mode, "label": label, "n": rs[0]["n"],
                    "steps": rs[0]["steps"], "width": rs[0]["width"],
                    "depth": rs[0]["depth"], "median_err": statistics.median(errs),
                    "min_err": min(errs), "max_err": max(errs), "draws": len(rs),
                    "median_s": statistics.median(r["seconds"] for r in rs),
                    "median_steps_run": statistics.median(r["steps_run"] for r in rs)})
    return out


def _order(label: str) -> int:
    labels = [c[0] for c in CONFIGS]
    return labels.index(label) if label in labels else len(labels)


def findings(res: dict) -> List[str]:
    """The study's setting against the last (every change together), per critic
    and potential, beside the published figure where there is one."""
    from .agreement import KOROTIN_PUBLISHED, KOROTIN_TRUTH

    published = {mode: (name, v64 / KOROTIN_TRUTH - 1.0, e4)
                 for name, (mode, v64, e4) in KOROTIN_PUBLISHED.items() if mode}
    lines = []
    by = {}
    for s in res["summary"]:
        by.setdefault((s["pieces"], s["mode"]), []).append(s)
    for (pieces, mode), ss in by.items():
        if len(ss) < 2:
            continue
        first, last = ss[0], max(ss[1:], key=lambda s: s["n"] * s["steps"] * s["width"])
        theirs = published.get(f"critic-{mode}")
        pub = ""
        if theirs is not None:
            err = theirs[1] if pieces == 64 else theirs[2]
            if err is not None:
                pub = f" (Korotin et al., {theirs[0]}: {err:+.1%})"
        lines.append(
            f"- critic-{mode}, {pieces} pieces: {first['median_err']:+.1%} with "
            f"{first['n']:,} samples, {first['steps']} steps and a {first['width']} x "
            f"{first['depth']} network; {last['median_err']:+.1%} with {last['n']:,}, "
            f"{last['steps']} and {last['width']} x {last['depth']}{pub}.")
    return lines


def report(res: dict) -> List[str]:
    head = ["## Korotin et al.'s gap: the critics with more data, steps and width", ""]
    if res.get("skipped"):
        return head + [f"Not run: {res['skipped']}.", ""]
    rows = [[s["pieces"], f"critic-{s['mode']}", s["label"], f"{s['n']:,}",
             f"{s['steps']} ({s['median_steps_run']:.0f} run)",
             f"{s['width']} x {s['depth']}",
             f"{s['median_err']:+.1%} ({s['min_err']:+.0%} to {s['max_err']:+.0%})",
             f"{s['median_s']:.1f}"] for s in res["summary"]]
    return head + [
        f"lipschitz-rays in D = 128 (W_1 = 1), as in the agreement study's Korotin "
        f"section; each critic trained with one setting changed at a time, "
        f"{res['draws']} draw(s) each (samples and seed), {res['workers']} at a time. "
        f"Samples: n + n, half of them training each of the two cross-fitted critics. "
        f"Steps: the most per critic (early stopping on; the median run in brackets, "
        f"both critics together). Error against the population W_1, median (smallest "
        f"to largest).", ""] + markdown(
        ["pieces", "critic", "setting", "samples", "steps", "network",
         "error vs truth", "seconds"], rows) + [""] + findings(res) + [""]


def section(res: dict) -> List[str]:
    return report(res)


def publish(res: dict, out) -> None:
    from .run import publish_section

    publish_section(out, "korotin_gap", res, "Korotin gap", "korotin_gap")


def main(argv=None) -> int:
    from .run import section_main

    return section_main(argv, __doc__, run, report, publish, "Korotin gap")


if __name__ == "__main__":
    sys.exit(main())
