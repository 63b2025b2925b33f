"""The training loss: time per step of a fitting loop, ``emdkit.WassersteinLoss``
beside GeomLoss's ``SamplesLoss``, in one process on the CPU.

A 20-step gradient loop moves n source points (a Gaussian) towards n target points
(a ring), d = 2, p = 2, debiased, the point of largest gradient by 0.05 a step. emdkit: epsilon 0.0025 (the issue's setting), tol 1e-6,
warm-started. GeomLoss: ``SamplesLoss("sinkhorn", p=2, blur=0.05, scaling=0.9)``,
the setting it is usually run at. Their problems are not the same one: GeomLoss's
cost is ``|x - y|^2 / 2`` with epsilon ``blur^2``, i.e. ours at epsilon 0.005 halved.
Each value is compared with its own converged target (``emdkit.distance(...,
"sinkhorn", debias=True)`` at 0.0025, and at 0.005 halved for GeomLoss). Times are
the mean per step over the 20 steps (the first included: the warm start pays from
the second), one loop each, for emdkit's two Sinkhorn solvers (``auto``: the numpy
driver for CPU tensors; ``torch``: the batched torch loop that tensors on other
devices take). Batched: (8, 256, 2) in one call against 8 calls.

    python -m emdkit.bench.loss_bench [--quick] [--publish benchmarks/results]
    python -m emdkit.bench.loss_bench --device cuda      # the same on a GPU, printed
"""

from __future__ import annotations

import math
import time
from typing import List

from ..table import markdown

FULL, QUICK = (300, 1000, 3000), (200,)
STEPS, LR, EPS, BLUR = 20, 0.05, 0.0025, 0.05
REPEATS = 3


def _clouds(n, seed=0, device="cpu"):
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64)
    angle = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    y = torch.stack([torch.cos(angle), torch.sin(angle)], 1) * 2.0
    y = y + 0.05 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return x.to(device), y.to(device)


def _loop(loss, x0, y, steps):
    """Mean seconds per step and the last step's (points, value) where the value was
    taken. Each step moves the point of largest gradient by ``LR`` (the two losses'
    gradients differ in scale: a rooted and an unrooted, halved divergence)."""
    x = x0.clone().requires_grad_(True)
    t = time.perf_counter()
    for _ in range(steps):
        seen = x.detach().clone()
        value = loss(x, y)
        (grad,) = _grad(value, x)
        with _no_grad():
            x -= LR * grad / grad.norm(dim=1).max()
    _sync(x)
    return (time.perf_counter() - t) / steps, seen.cpu(), float(value.detach())


def _sync(t):
    """Wait for the device's queued work (GeomLoss never waits: its time would be
    the launches' only)."""
    import torch

    if t.device.type == "cuda":
        torch.cuda.synchronize(t.device)


def _grad(value, x):
    import torch

    return torch.autograd.grad(value, [x])


def _no_grad():
    import torch

    return torch.no_grad()


def _row(n, device="cpu"):
    import emdkit

    x0, y = _clouds(n, device=device)
    y_np = y.cpu().numpy()
    row = {"n": n}
    for solver, key in (("auto", "emdkit"), ("torch", "torch_loop")):
        ours = emdkit.WassersteinLoss("sinkhorn", p=2, epsilon=EPS, solver=solver)
        t_e, x_e, v_e = _loop(ours, x0, y, STEPS)
        truth_e = emdkit.distance(x_e.numpy(), y_np, "sinkhorn", p=2, debias=True,
                                  epsilon=EPS)
        row.update({f"{key}_s": t_e, f"{key}_rel_error": abs(v_e - truth_e) / truth_e})
    try:
        from geomloss import SamplesLoss
    except ImportError:
        return {**row, "geomloss": "not installed"}
    geom = SamplesLoss("sinkhorn", p=2, blur=BLUR, scaling=0.9, debias=True)
    t_g, x_g, v_g = _loop(lambda u, v: geom(u, v), x0, y, STEPS)
    # its problem: cost |x - y|^2 / 2, epsilon blur^2: ours at 2 blur^2, halved
    truth_g = 0.5 * emdkit.distance(x_g.numpy(), y_np, "sinkhorn", p=2, debias=True,
                                    epsilon=2 * BLUR ** 2) ** 2
    return {**row, "geomloss_s": t_g, "ratio": row["emdkit_s"] / t_g,
            "torch_loop_ratio": row["torch_loop_s"] / t_g,
            "geomloss_rel_error": abs(v_g - truth_g) / truth_g}


def _batched(n, device="cpu"):
    import torch

    import emdkit

    g = torch.Generator().manual_seed(1)
    X = torch.randn(8, n, 2, generator=g, dtype=torch.float64).to(device)
    Y = (torch.randn(8, n, 2, generator=g, dtype=torch.float64) + 1.0).to(device)
    out = {"n": n, "repeats": REPEATS}
    for solver in ("auto", "torch"):
        loss = emdkit.WassersteinLoss("sinkhorn", p=2, epsilon=0.05, warm_start=False,
                                      solver=solver)
        loss(X[:1], Y[:1])                                        # untimed
        batch, items = [], []
        for _ in range(REPEATS):            # interleaved, best of each
            t = time.perf_counter()
            loss(X, Y)
            _sync(X)
            batch.append(time.perf_counter() - t)
            t = time.perf_counter()
            for k in range(8):
                loss(X[k], Y[k])
            _sync(X)
            items.append(time.perf_counter() - t)
        out[solver] = {"batch_s": min(batch), "items_s": min(items)}
    return out


def run(quick: bool, device: str = "cpu") -> dict:
    """The table; ``device`` (``--device cuda``): the same loops on that device, with
    GeomLoss there too (``solver='auto'`` is then the torch loop as well)."""
    import torch

    torch.empty(0, device=device)           # an unknown device fails here, at once
    rows = [_row(n, device) for n in (QUICK if quick else FULL)]
    where = (f"{torch.get_num_threads()} threads" if device == "cpu" else
             f"{device} ({torch.cuda.get_device_name(device)})"
             if device.startswith("cuda") else device)
    return {"rows": rows, "batched": _batched(64 if quick else 256, device),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": device, "where": where}


def report(res: dict) -> List[str]:
    if not res:
        return []
    lines = ["## Training loss: `WassersteinLoss` against GeomLoss per step", "",
             f"A {STEPS}-step SGD loop (d = 2, p = 2, debiased; source a Gaussian, target "
             f"a ring), mean seconds per step, torch {res['torch']} on "
             f"{res.get('where', str(res['threads']) + ' threads')}. emdkit: epsilon {EPS}, tol 1e-6, warm-started; "
             f"GeomLoss: `SamplesLoss('sinkhorn', p=2, blur={BLUR}, scaling=0.9)` (its "
             f"problem is ours at epsilon {2 * BLUR ** 2:g}, halved). *error*: the last "
             f"step's value against its own converged problem. From "
             f"`python -m emdkit.bench.loss_bench`.", ""]
    lines += markdown(["n", "emdkit auto (s/step)", "torch loop (s/step)",
                       "GeomLoss (s/step)", "ratio auto", "ratio torch loop",
                       "emdkit error (auto / torch)", "GeomLoss error"],
                      [[f"{r['n']:,}", f"{r['emdkit_s']:.3f}", f"{r['torch_loop_s']:.3f}",
                        _get(r, "geomloss_s", ".3f"), _get(r, "ratio", ".2f"),
                        _get(r, "torch_loop_ratio", ".2f"),
                        f"{r['emdkit_rel_error']:.1e} / {r['torch_loop_rel_error']:.1e}",
                        _get(r, "geomloss_rel_error", ".1e")] for r in res["rows"]],
                      align="rrrrrrrr") + [""]
    lines += ["*auto* solves CPU tensors with the numpy driver; the *torch loop* is the "
              "path of tensors on other devices (`solver='torch'`), timed here on the "
              "CPU. A ratio below 1 is faster than GeomLoss." if res.get("device", "cpu")
              == "cpu" else "On this device *auto* is the torch loop too. A ratio below "
              "1 is faster than GeomLoss.", ""]
    b = res["batched"]
    lines += [f"Batched (8, {b.get('n', 256)}, 2), epsilon 0.05, cold, best of "
              f"{b.get('repeats', 1)} interleaved: one call {b['auto']['batch_s']:.3f} s "
              f"against 8 calls {b['auto']['items_s']:.3f} s (solver 'auto': the numpy "
              f"driver, item by item); the batched torch loop {b['torch']['batch_s']:.3f} s "
              f"against 8 calls {b['torch']['items_s']:.3f} s.", ""]
    return lines


def _get(row, key, fmt):
    return format(row[key], fmt) if key in row else "-"


def publish(res: dict, out) -> None:
    from .run import publish_section

    if res.get("device", "cpu") != "cpu":
        raise SystemExit("--publish records the CPU run (the report's section); a "
                         "--device run prints its table only")
    publish_section(out, "loss", res, "training-loss", "loss_bench")


def main(argv=None) -> int:
    from .run import section_main

    return section_main(argv, __doc__, run, report, publish, "training-loss",
                        extra={"--device": dict(default="cpu", help=(
                            "run the loops on this torch device (cuda, cuda:1, ...) "
                            "with GeomLoss there too; printed, not published"))})


if __name__ == "__main__":
    raise SystemExit(main())
