"""Training trace: the WGAN example's critic estimate against the exact W_1."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import List, Optional

from ..table import markdown
from . import peer

from ._child import run_child


def run(quick: bool, out: Path) -> Optional[dict]:
    """The WGAN example (critic estimate against exact W_1 over training), run in a
    fresh process into ``out / "training"``."""
    if peer("torch") is None or peer("matplotlib") is None:
        return {"skipped": "needs torch and matplotlib"}
    args = ["--steps", "60", "--every", "20"] if quick else []
    t0 = time.perf_counter()
    run_child(["-m", "emdkit.bench.wgan_ring", "--out", str(out / "training")] + args)
    curves = json.loads((out / "training" / "curves.json").read_text())
    return {"seconds": time.perf_counter() - t0, "curves": curves,
            "plot": "training/wgan_ring.png",
            "command": f"python -m emdkit.bench.wgan_ring {' '.join(args)}".strip()}


def report(tr: Optional[dict]) -> List[str]:
    lines = ["## Training trace: the WGAN critic's estimate against the exact W_1", ""]
    if not tr or "skipped" in (tr or {}):
        return lines + [f"Skipped: {(tr or {}).get('skipped', 'not run')}.", ""]
    lines += [f"`{tr['command']}` ({tr['seconds']:.0f} s): a WGAN-GP on a ring of 8 "
              "Gaussians; every few generator steps, 1000 real and 1000 generated points "
              "are measured by the critic (E f(real) - E f(fake)) and by emdkit. Plot: "
              f"`{tr['plot']}`.", ""]
    rows = [[r["step"], f"{r['critic_estimate']:.3f}", f"{r['exact']:.3f}",
             f"{r['critic_estimate'] / r['exact'] - 1:+.1%}", f"{r['sinkhorn']:.3f}",
             f"{r['sliced']:.3f}"] for r in tr["curves"]]
    lines += markdown(["step", "critic estimate", "exact W_1", "critic / exact - 1",
                       "Sinkhorn", "sliced"], rows, align="rrrrrr")
    return lines + [""]
