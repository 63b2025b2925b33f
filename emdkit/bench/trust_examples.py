"""The failure classes of the trust review, each run once and printed with its outcome.

    python -m emdkit.bench.trust_examples

Each line: the case, what emdkit returns now (value, converged, bracket, the first
warning or the error), and the right answer. Run it on an older checkout to see the
"before" (it uses only ``emdkit.solve`` and ``emdkit.distance``).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

import emdkit


def _outcome(fn):
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn()
        except Exception as exc:   # what a user would see
            return f"{type(exc).__name__}: {str(exc)[:90]}", time.perf_counter() - start
    text = out
    if hasattr(out, "value"):
        bounds = getattr(out, "bounds", None)
        text = (f"{float(out.value):.6g} converged={out.converged}"
                + (f" bounds=({bounds[0]:.4g}, {bounds[1]:.4g})" if bounds else ""))
    elif hasattr(out, "detach"):
        text = f"{float(out.detach()):.6g}"
    elif isinstance(out, float):
        text = f"{out:.6g}"
    if caught:
        text += f" [warns: {str(caught[0].message)[:70]}]"
    return text, time.perf_counter() - start


def cases():
    rng = np.random.default_rng(0)
    A = rng.uniform(-300, 300, size=(200, 2))
    B = (A + [0.3, 0.4])[rng.permutation(200)]
    yield "spread pair, sinkhorn default eps, p=2", "0.5", \
        lambda: emdkit.solve(A, B, "sinkhorn", p=2)
    yield "spread pair, sinkhorn rtol=0.01, p=2", "0.5", \
        lambda: emdkit.solve(A, B, "sinkhorn", p=2, rtol=0.01)
    yield "spread pair, auto, p=2", "0.5", lambda: emdkit.solve(A, B, "auto", p=2)

    def grads():
        import torch

        fails = 0
        for seed in range(10):
            r = np.random.default_rng(seed)
            a = r.normal(size=(20, 2))
            b = a + r.normal(size=(20, 2))
            at = torch.tensor(a, requires_grad=True)
            try:
                emdkit.distance(at, torch.tensor(b), "sinkhorn").backward()
            except Exception:
                fails += 1
        return f"{fails} of 10 backward passes failed"
    yield "torch sinkhorn gradients, 10 seeds of 20 points", "0 of 10 fail", grads

    def debias_zero():
        fails = 0
        for seed in range(50):
            r = np.random.default_rng(seed)
            n, m = r.integers(3, 30, 2)
            wa = r.uniform(size=n) * (r.uniform(size=n) > 0.3)
            wb = r.uniform(size=m) * (r.uniform(size=m) > 0.3)
            wa[0] += 0.1
            wb[0] += 0.1
            try:
                emdkit.distance(r.normal(size=(n, 2)), r.normal(size=(m, 2)), "sinkhorn",
                                debias=True, a_weights=wa, b_weights=wb)
            except Exception:
                fails += 1
        return f"{fails} of 50 raised"
    yield "debias=True with zero weights, 50 problems", "0 of 50", debias_zero
    x = rng.normal(size=50)
    yield "1d, p=1000, x vs x + 1.5", "1.5", lambda: emdkit.distance(x, x + 1.5, "1d", p=1000)
    yield "1d, p=1000, solve(...).cost (x*1e3)", "1.5**1000 = 1.23e176", \
        lambda: float(emdkit.solve(x * 1e3, x * 1e3 + 1.5, "1d", p=1000).cost)
    yield "exact, p=1000, x vs x + 1.5", "1.5 or a warning", \
        lambda: emdkit.solve(x, x + 1.5, p=1000)
    X = rng.uniform(-300, 300, size=(100, 2))
    yield "max-sliced, p=100, spread, shift (1.5, 1.5)", "2.12132", \
        lambda: emdkit.distance(X, X + 1.5, "max-sliced", p=100, seed=0)
    Ao = rng.normal(size=(200, 2))
    Ao[0] = 1e6
    Bo = (Ao + [0.01, 0.0])[rng.permutation(200)]
    yield "exact, an outlier at 1e6, p=2, shift 0.01", "0.01 or a warning", \
        lambda: emdkit.solve(Ao, Bo, p=2)
    yield "sliced, seed='x'", "an error naming seed", \
        lambda: emdkit.distance(X, X, "sliced", seed="x")

    def meta():
        import torch

        t = torch.zeros(5, 2, device="meta")
        return emdkit.distance(t, t)
    yield "a 'meta' tensor", "an error naming a", meta
    a, b = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    from scipy.spatial.distance import cdist

    indep = float(cdist(a * 1e-10, b * 1e-10).mean())
    yield "sinkhorn, epsilon=1e300, data * 1e-10", f"<a x b, C> = {indep:.6g}", \
        lambda: emdkit.distance(a * 1e-10, b * 1e-10, "sinkhorn", epsilon=1e300)
    yield "critic, steps=1", "converged=False", \
        lambda: emdkit.solve(a, b, "critic", steps=1)
    yield "auto, 200,000 + 200,000 2-D points", "a refusal with figures, fast", \
        lambda: emdkit.solve(np.zeros((200_000, 2)), np.ones((200_000, 2)), "auto")


def main() -> None:
    for name, truth, fn in cases():
        text, secs = _outcome(fn)
        print(f"{name:48s} | {text} | right: {truth} | {secs:.2f} s")


if __name__ == "__main__":
    main()
