"""emdkit's own times in two runs of the suite, side by side (a code change's effect).

    python -m emdkit.bench.compare_runs BEFORE/results.json AFTER/results.json

Reads the ``results.json`` of two ``emdkit bench`` runs (for example before and after
a change, each run by its own checkout) and prints a Markdown table of every emdkit
time both have: the speed cases, the Sinkhorn cases, the training loss and the
multiscale suite, with the ratio after / before. Peers' times are left out: they did
not change.
"""

from __future__ import annotations

import json
import sys
from typing import Dict, List, Tuple


def emdkit_times(results: dict) -> List[Tuple[str, float]]:
    """``(case, seconds)`` for every emdkit time in a run's results."""
    out = []
    for c in results.get("cases", []):
        if "emdkit" in c["results"]:
            out.append((c["case"], c["results"]["emdkit"]["median_s"]))
    sink = results.get("sinkhorn", {})
    for c in sink.get("pot", []):
        out.append((c["case"], c["results"]["emdkit sinkhorn"]["median_s"]))
    if sink.get("geomloss"):
        g = sink["geomloss"]
        out.append((g["case"], g["results"]["emdkit sinkhorn, debias"]["median_s"]))
    loss = results.get("loss", {})
    for row in loss.get("rows", []):
        out.append((f"WassersteinLoss n = {row['n']}, solver 'auto' (numpy driver)",
                    row["emdkit_s"]))
        out.append((f"WassersteinLoss n = {row['n']}, solver 'torch'", row["torch_loop_s"]))
    batched = loss.get("batched")
    if batched:
        for solver in ("auto", "torch"):
            out.append((f"WassersteinLoss batched, {batched['n']} points, solver "
                        f"{solver!r}", batched[solver]["batch_s"]))
    ms = results.get("multiscale", {})
    for key in ("rows", "dense", "online", "iid"):
        for row in ms.get(key) or []:
            out.append((f"sinkhorn {row['backend']}, {row['pair']} pair, n = {row['n']:,}, "
                        f"d = {row['d']}", row["seconds"]))
    return out


def table(before: dict, after: dict) -> str:
    a: Dict[str, float] = dict(emdkit_times(before))
    b: Dict[str, float] = dict(emdkit_times(after))
    lines = ["| case | before (s) | after (s) | after / before |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {a[k]:.4g} | {b[k]:.4g} | {b[k] / a[k]:.2f} |"
              for k in a if k in b and a[k] > 0]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with open(argv[0]) as fa, open(argv[1]) as fb:
        print(table(json.load(fa), json.load(fb)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
