"""Many distributions: ``emdkit.pairwise`` beside the loop of ``emdkit.distance`` calls,
and on a Dask ``LocalCluster`` of one and of two worker processes, in one process.

- ``1d`` and ``sliced`` (one int seed): the shared sorting against the loop, with the
  largest difference between the two matrices;
- ``exact`` and ``sinkhorn`` (fixed epsilon): a ``LocalCluster`` of 1 and then 2
  worker processes (one thread each, started outside the timing; the distributions
  scattered inside it), and from the one-worker run's task times (Dask's task
  stream) the time a list schedule of the same tasks would take on 2, 4 and 8
  workers: an estimate that leaves out communication, set beside the measured two.

Times are the best of ``reps`` runs after an untimed one (the loop of the largest 1d
case: one run of a tenth of its pairs, scaled); on the clusters one run each, after a
pair on every worker has warmed it.

    python -m emdkit.bench.many_bench [--quick] [--publish benchmarks/results]
"""

from __future__ import annotations

import heapq
import logging
import time
from typing import List

import numpy as np

from ..table import markdown

# (N distributions, n points, d, L projections)
SHARED_FULL = [("1d", 100, 2000, 1, None), ("1d", 1000, 2000, 1, None),
               ("sliced", 40, 1000, 5, 100)]
SHARED_QUICK = [("1d", 30, 500, 1, None), ("sliced", 10, 300, 5, 50)]
# (method, options, N, n)
CLUSTER_FULL = [("exact", {}, 40, 500), ("sinkhorn", {"epsilon": 0.01}, 40, 500)]
CLUSTER_QUICK = [("exact", {}, 8, 100)]


def _best(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def _clouds(rng, N, n, d):
    shape = (n,) if d == 1 else (n, d)
    return [rng.normal(0.02 * k, 1.0 + 0.01 * k, shape) for k in range(N)]


def _loop(clouds, pairs, method, kw):
    import emdkit

    return [emdkit.distance(clouds[i], clouds[j], method, **kw) for i, j in pairs]


def _shared_row(rng, method, N, n, d, L, reps):
    import emdkit

    clouds = _clouds(rng, N, n, d)
    kw = {} if L is None else {"n_projections": L, "seed": 0}
    t_pw, D = _best(lambda: emdkit.pairwise(clouds, method, **kw), reps)
    iu = np.triu_indices(N, 1)
    K = iu[0].shape[0]
    # at 1000 x 2000 the loop's half a million calls would take minutes: time a tenth
    step = 10 if K > 100_000 else 1
    pairs = list(zip(iu[0][::step].tolist(), iu[1][::step].tolist()))
    t_loop, vals = _best(lambda: _loop(clouds, pairs, method, kw), 1 if step > 1 else reps)
    ref = D[iu[0][::step], iu[1][::step]]
    return {"method": method, "N": N, "n": n, "d": d, "L": L, "pairs": K,
            "pairwise_s": t_pw, "loop_s": t_loop * step, "loop_scaled": step > 1,
            "speedup": t_loop * step / t_pw,
            "max_rel_diff": float(np.max(np.abs(np.asarray(vals) - ref) / ref))}


def _lpt(durations, k):
    """Makespan of the longest-first list schedule of ``durations`` on k workers."""
    loads = [0.0] * k
    for d in sorted(durations, reverse=True):
        heapq.heapreplace(loads, loads[0] + d)
    return max(loads)


def _cluster_row(rng, method, kw, N, n):
    from distributed import Client, LocalCluster, get_task_stream

    import emdkit

    clouds = _clouds(rng, N, n, 2)
    pairs = N * (N - 1) // 2
    # 64 tasks, so that the list schedule has tasks to share out between 8 workers
    size = max(1, -(-pairs // 64))
    row = {"method": method, "options": kw, "N": N, "n": n, "pairs": pairs,
           "block_size": size}
    emdkit.distance(clouds[0][:50], clouds[1][:50], method, **kw)   # warm this process
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
                Client(cluster) as client:
            # warm every worker (imports, numba's cache) on a pair, then time one run;
            # its task stream gives the task times
            client.run(emdkit.distance, clouds[0][:50], clouds[1][:50], method, **kw)
            with get_task_stream(client) as stream:
                t = time.perf_counter()
                D = emdkit.pairwise(clouds, method, client=client, block_size=size, **kw)
                row[f"w{workers}_s"] = time.perf_counter() - t
            if workers == 1:
                tasks = [sum(s["stop"] - s["start"] for s in rec["startstops"]
                             if s["action"] == "compute") for rec in stream.data]
                tasks = [d for d in tasks if d > 0]
                row["tasks"] = len(tasks)
                row["task_s"] = float(sum(tasks))
                for k in (2, 4, 8):
                    row[f"sim{k}"] = float(sum(tasks) / _lpt(tasks, k))
                one = D
            else:
                row["max_rel_diff_1_vs_2"] = float(np.max(np.abs(D - one)) / one.max())
    row["speedup_2"] = row["w1_s"] / row["w2_s"]
    return row


def run(quick: bool) -> dict:
    import os

    from . import peer

    rng = np.random.default_rng(0)
    reps = 2 if quick else 3
    shared = [_shared_row(rng, *spec, reps) for spec in
              (SHARED_QUICK if quick else SHARED_FULL)]
    dask = peer("distributed") and peer("dask")
    # the cluster part needs Dask's distributed scheduler (the bench extra has it)
    cluster = [_cluster_row(rng, m, kw, N, n) for m, kw, N, n in
               (CLUSTER_QUICK if quick else CLUSTER_FULL)] if dask else []
    return {"shared": shared, "cluster": cluster, "reps": reps,
            "cores": os.cpu_count(), "numpy": np.__version__,
            "dask": dask.__version__ if dask else None}


def report(res: dict) -> List[str]:
    if not res:
        return []
    lines = ["## Many distributions: `pairwise` against the loop, and on Dask", "",
             f"From `python -m emdkit.bench.many_bench`, {res['cores']} cores, numpy "
             f"{res['numpy']}, dask {res['dask'] or 'not installed'}; best of {res['reps']} after an "
             f"untimed run (on the clusters: one run after warming the workers). "
             f"*loop*: one `emdkit.distance` call per pair (marked * where "
             f"a tenth of the pairs was timed and scaled by 10). *max rel. diff.*: the "
             f"largest |pairwise - loop| / loop over the pairs timed.", ""]
    lines += markdown(
        ["method", "N", "n", "d", "projections", "pairs", "pairwise (s)", "loop (s)",
         "speed-up", "max rel. diff."],
        [[r["method"], f"{r['N']:,}", f"{r['n']:,}", str(r["d"]),
          "-" if r["L"] is None else str(r["L"]), f"{r['pairs']:,}",
          f"{r['pairwise_s']:.3f}", f"{r['loop_s']:.2f}" + ("*" if r["loop_scaled"] else ""),
          f"{r['speedup']:.1f}x", f"{r['max_rel_diff']:.1e}"] for r in res["shared"]],
        align="lrrrrrrrrr") + [""]
    if not res["cluster"]:
        return lines + ["Dask is not installed: the `LocalCluster` part was skipped "
                        "(`pip install 'emdkit[bench]'` or `pip install "
                        "'dask[distributed]'` for it).", ""]
    lines += ["On a `LocalCluster` (`client=`), N clouds of n points in 2-D, one thread per "
              "worker, blocks of ceil(pairs / 64) pairs (the first two pairs run in the "
              "calling process, the rest in about 60 tasks): the time with 1 and with 2 workers, and *estimated* speed-ups on "
              "2, 4 and 8 workers from the one-worker run's task times (a longest-first "
              "list schedule; no communication, scheduler or scatter costs).", ""]
    lines += markdown(
        ["method", "N", "n", "tasks", "1 worker (s)", "2 workers (s)", "speed-up",
         "est. 2", "est. 4", "est. 8", "1 vs 2 rel. diff."],
        [[r["method"] + (f" {r['options']}" if r["options"] else ""), str(r["N"]),
          str(r["n"]), str(r["tasks"]), f"{r['w1_s']:.2f}", f"{r['w2_s']:.2f}",
          f"{r['speedup_2']:.2f}x", f"{r['sim2']:.2f}x", f"{r['sim4']:.2f}x",
          f"{r['sim8']:.2f}x", f"{r['max_rel_diff_1_vs_2']:.1e}"] for r in res["cluster"]],
        align="lrrrrrrrrrr") + [""]
    return lines


def publish(res: dict, out) -> None:
    from .run import publish_section

    publish_section(out, "many", res, "many-distributions", "many_bench")


def main(argv=None) -> int:
    from .run import section_main

    return section_main(argv, __doc__, run, report, publish, "many-distributions")


if __name__ == "__main__":
    raise SystemExit(main())
