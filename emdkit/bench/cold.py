"""Cold start: import time and first calls in fresh processes, with numba's cache warm
and empty (the difference is compilation)."""

from __future__ import annotations

import json
import os
import tempfile
from typing import List, Optional

from ..table import markdown
from ._child import run_child


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


def run() -> dict:
    """First calls in fresh processes: with numba's cache warm, then with an empty
    cache (so the difference is compilation)."""
    def run(env_extra):
        env = dict(os.environ, **env_extra)
        out = run_child(["-c", _COLD], env=env)
        return json.loads(out.stdout)

    run({})  # make sure the package's own cache is populated
    cached = run({})
    with tempfile.TemporaryDirectory() as tmp:
        cold = run({"NUMBA_CACHE_DIR": tmp})
    return {"cached_kernels": cached, "empty_numba_cache": cold,
            "note": "fresh Python process each; the exact call includes importing POT"}


def report(cold: Optional[dict]) -> List[str]:
    if not cold:
        return []
    rows = []
    for label, key in (("numba cache warm", "cached_kernels"),
                       ("numba cache empty (compiles)", "empty_numba_cache")):
        c = cold[key]
        rows.append([label] + [f"{c[k]:.3f} s" for k in (
            "import_s", "first_1d_s", "first_exact_s", "first_weighted_1d_s",
            "first_radix_1d_s")])
    return (["## Cold start (fresh process)", ""]
            + markdown(["", "import emdkit", "first 1d (n=1000)", "first exact (n=300)",
                        "first weighted 1d", "first 1d with radix sort (n=1e5)"], rows)
            + ["", f"Note: {cold['note']}.", ""])
