"""The critic's early stopping, before and after, on the agreement study's cells.

    python -m emdkit.bench.critic_early [--quick] [--publish benchmarks/results]

On each cell (family, d, n) of the agreement study's grid below, and each draw, every
Lipschitz mode of ``method="critic"`` trains twice on the same samples with the same
seed: ``early_stopping=False`` (every one of its 1000 steps, per critic, as before)
and ``early_stopping=True`` (the default: each of the two cross-fitted critics stops
once its per-step objective is flat at two checks in a row, checked every 100 steps
from step 300 on). Reported per mode: the median error against the population W_1 of each, the
median and largest change of the estimate (after - before, relative to the truth),
the total seconds and the steps run. The draws run two at a time (one per core),
as in the agreement study.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from typing import Dict, List, Optional

from ..table import markdown

FULL = dict(families=("translation", "gaussian-scale", "lipschitz-rays"),
            dims=(2, 10, 128), sizes=(250, 1000, 4000), draws=3, steps=None)
QUICK = dict(families=("translation",), dims=(2,), sizes=(250,), draws=1, steps=200)


def measure(family: str, d: int, n: int, draw: int, steps: Optional[int]) -> dict:
    """Every mode with early stopping off and on, on draw ``draw`` of the cell."""
    import emdkit

    from .agreement import MODES, _pair

    pair = _pair(family, n, d, draw)
    truth = pair.truth(1)
    out = {"family": family, "d": d, "n": n, "draw": draw, "truth": truth, "modes": {}}
    opts = {} if steps is None else {"steps": steps}
    for mode in MODES:
        rec = {}
        for early in (False, True):
            t0 = time.perf_counter()
            with warnings.catch_warnings():     # not levelled: in the record
                warnings.simplefilter("ignore")
                r = emdkit.solve(pair.x, pair.y, "critic", lipschitz=mode, seed=draw,
                                 early_stopping=early, progress=False, **opts)
            secs = time.perf_counter() - t0
            value = float(r.value)
            if mode == "clip":          # as the study reads it: rescaled by K
                value /= r.info["max_grad_norm"]
            rec["after" if early else "before"] = {
                "value": value, "err": value / truth - 1.0, "seconds": secs,
                "steps": sum(r.info["steps_run"]), "converged": bool(r.converged)}
        out["modes"][mode] = rec
    return out


def run(quick: bool = False, workers: Optional[int] = None) -> Dict:
    from .agreement import _workers, pooled

    g = QUICK if quick else FULL
    tasks = [(f, d, n, k, g["steps"]) for f in g["families"] for d in g["dims"]
             for n in g["sizes"] for k in range(g["draws"])]
    workers = _workers(1 if quick and workers is None else workers)
    rows = list(pooled(measure, tasks, workers))
    return {"grid": {k: list(v) if isinstance(v, tuple) else v for k, v in g.items()},
            "workers": workers, "rows": rows, "summary": summary(rows)}


def summary(rows: List[dict]) -> Dict[str, dict]:
    """Per mode: the medians and extremes the report gives."""
    out = {}
    for mode in rows[0]["modes"]:
        recs = [r["modes"][mode] for r in rows]
        change = [r["after"]["err"] - r["before"]["err"] for r in recs]
        before = sum(r["before"]["seconds"] for r in recs)
        after = sum(r["after"]["seconds"] for r in recs)
        out[mode] = {
            "median_abs_err_before": statistics.median(abs(r["before"]["err"]) for r in recs),
            "median_abs_err_after": statistics.median(abs(r["after"]["err"]) for r in recs),
            "median_change": statistics.median(change),
            "largest_change": max(change, key=abs),
            "seconds_before": before, "seconds_after": after, "speedup": before / after,
            "median_s_before": statistics.median(r["before"]["seconds"] for r in recs),
            "median_s_after": statistics.median(r["after"]["seconds"] for r in recs),
            "median_steps_after": statistics.median(r["after"]["steps"] for r in recs),
            "converged_before": sum(r["before"]["converged"] for r in recs),
            "converged_after": sum(r["after"]["converged"] for r in recs),
            "runs": len(recs)}
    return out


def report(res: dict) -> List[str]:
    if res.get("skipped"):
        return ["## The critic's early stopping, before and after", "",
                f"Not run: {res['skipped']}.", ""]
    g, s = res["grid"], res["summary"]
    head = (f"Cells: families {', '.join(g['families'])}; d in {g['dims']}; n in "
            f"{g['sizes']} (n + n samples); {g['draws']} draw(s) each, "
            f"{res['workers']} at a time; every mode trained with early stopping off "
            f"({g['steps'] or 1000} steps per critic, 2 critics) and on, same samples and seeds. "
            f"Errors against the population W_1 (clip: divided by its measured "
            f"Lipschitz constant, as in the agreement study); *change*: after - before, "
            f"relative to the truth; seconds: of one estimate (both critics), and the "
            f"sum over the cells.")
    rows = [[mode, f"{v['median_abs_err_before']:.1%}", f"{v['median_abs_err_after']:.1%}",
             f"{v['median_change']:+.2%}", f"{v['largest_change']:+.1%}",
             f"{v['median_s_before']:.1f} / {v['median_s_after']:.1f}",
             f"{v['seconds_before']:.0f}", f"{v['seconds_after']:.0f}",
             f"{v['speedup']:.2f}x", f"{v['median_steps_after']:.0f} of {2 * (g['steps'] or 1000)}",
             f"{v['converged_before']} / {v['converged_after']} of {v['runs']}"]
            for mode, v in s.items()]
    return ["## The critic's early stopping, before and after", "", head, ""] + markdown(
        ["mode", "median abs error, before", "after", "median change",
         "largest change", "seconds per estimate, median before / after",
         "total seconds before", "after", "speed-up",
         "median steps after", "levelled before / after"], rows) + [""]


def section(res: dict) -> List[str]:
    return report(res)


def publish(res: dict, out) -> None:
    from .run import publish_section

    publish_section(out, "critic_early", res, "critic early stopping", "critic_early")


def main(argv=None) -> int:
    from .run import section_main

    return section_main(argv, __doc__, run, report, publish, "critic early stopping")


if __name__ == "__main__":
    sys.exit(main())
