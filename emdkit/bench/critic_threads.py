"""The critic with torch on one thread (emdkit's default inside a call) against the
user's thread count, alone and beside a busy process.

    python -m emdkit.bench.critic_threads [--steps 100] [--n 500] [--rounds 3]

Prints the median of interleaved rounds for each case; the busy process is a plain
Python loop on one core, started before the timed rounds and stopped after.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
import warnings
from contextlib import contextmanager, nullcontext


def _spin(stop):
    while not stop.is_set():
        pass


@contextmanager
def _busy(on: bool):
    if not on:
        yield
        return
    stop = multiprocessing.Event()
    proc = multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
    proc.start()
    try:
        time.sleep(0.2)
        yield
    finally:
        stop.set()
        proc.join(5)


def _time(a, b, steps: int, limited: bool) -> float:
    import emdkit
    from emdkit import api

    real = api.one_torch_thread
    if not limited:
        api.one_torch_thread = nullcontext        # torch keeps the user's threads
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            t = time.perf_counter()
            emdkit.distance(a, b, "critic", steps=steps, seed=0)
            return time.perf_counter() - t
    finally:
        api.one_torch_thread = real


def run(n: int = 500, steps: int = 100, rounds: int = 3) -> list:
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 1.0
    _time(a[:50], b[:50], 10, True)                      # warm: imports, first calls
    rows = []
    for busy in (False, True):
        times = {True: [], False: []}
        with _busy(busy):
            for _ in range(rounds):
                for limited in (True, False):
                    times[limited].append(_time(a, b, steps, limited))
        rows.append({"busy": busy, "one_thread_s": statistics.median(times[True]),
                     "user_threads_s": statistics.median(times[False]),
                     "user_threads": torch.get_num_threads()})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    for r in run(args.n, args.steps, args.rounds):
        print(f"{'beside a busy process' if r['busy'] else 'alone':>22}: one thread "
              f"{r['one_thread_s']:.2f} s, {r['user_threads']} threads "
              f"{r['user_threads_s']:.2f} s ({r['user_threads_s'] / r['one_thread_s']:.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
