"""pairwise and cdist: every entry against the loop of distance calls, the shared
sorting of 1d and sliced, the schedulers (local processes, a real Dask LocalCluster
with a worker killed mid-run), out= resuming, and clear errors."""

import logging
import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import emdkit
from emdkit.many import _matrix


def _clouds(rng, N, d, lo=20, hi=120):
    out = [rng.normal(k * 0.3, 1.0 + 0.1 * k, (int(rng.integers(lo, hi)), d))
           for k in range(N)]
    return [c[:, 0] for c in out] if d == 1 else out


def check_weights(rng, clouds):
    return [None if k % 2 else rng.random(len(c)) + 0.01 for k, c in enumerate(clouds)]


def _loop(xs, ys, method, w_a=None, w_b=None, **kw):
    w_a = w_a or [None] * len(xs)
    w_b = w_b or [None] * len(ys)
    return np.array([[emdkit.distance(x, y, method, a_weights=u, b_weights=v, **kw)
                      for y, v in zip(ys, w_b)] for x, u in zip(xs, w_a)])


# The 1-D merge is the one distance runs; the values differ only by the power-of-two
# scaling and the order of a sum: a few units in the last place.
SHARED_RTOL = 1e-12


@pytest.mark.parametrize("p", [1, 1.5, 2, 3, 40])
def test_1d_pairwise_equals_the_loop(rng, p):
    clouds = _clouds(rng, 7, 1)
    w = check_weights(rng, clouds)
    D = emdkit.pairwise(clouds, "1d", p=p, weights=w)
    L = _loop(clouds, clouds, "1d", w, w, p=p)
    np.fill_diagonal(L, 0.0)
    np.testing.assert_allclose(D, L, rtol=SHARED_RTOL, atol=0)
    assert np.array_equal(D, D.T) and (np.diag(D) == 0).all()


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("directions", ["orthogonal", "random"])
def test_sliced_pairwise_equals_the_loop_with_one_seed(rng, p, directions):
    # the tolerance, 1e-10; measured about 2e-16
    clouds = _clouds(rng, 6, 4)
    w = check_weights(rng, clouds)
    kw = dict(p=p, seed=7, n_projections=30, directions=directions)
    D = emdkit.pairwise(clouds, "sliced", weights=w, **kw)
    L = _loop(clouds, clouds, "sliced", w, w, **kw)
    iu = np.triu_indices(6, 1)
    np.testing.assert_allclose(D[iu], L[iu], rtol=1e-10, atol=0)


def test_sliced_with_own_projections(rng):
    clouds = _clouds(rng, 4, 3)
    theta = rng.normal(size=(10, 3))
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)
    D = emdkit.cdist(clouds[:2], clouds[2:], "sliced", projections=theta)
    L = _loop(clouds[:2], clouds[2:], "sliced", projections=theta)
    np.testing.assert_allclose(D, L, rtol=1e-10, atol=0)


# The same solver on the same samples; the weights, normalised once when validated,
# are normalised again per pair: a few units in the last place.
@pytest.mark.parametrize("method,kw", [("exact", {}), ("sinkhorn", {"epsilon": 0.05}),
                                       ("auto", {})])
def test_cdist_equals_the_loop(rng, method, kw, rtol=1e-14):
    a, b = _clouds(rng, 3, 2, 10, 40), _clouds(rng, 4, 2, 10, 40)
    wa, wb = check_weights(rng, a), check_weights(rng, b)
    C = emdkit.cdist(a, b, method, p=2, a_weights=wa, b_weights=wb, scheduler="serial",
                     **kw)
    L = _loop(a, b, method, wa, wb, p=2, **kw)
    assert C.shape == (3, 4)
    np.testing.assert_allclose(C, L, rtol=rtol, atol=0)


def test_array_input_and_one_distribution(rng):
    X = rng.normal(size=(5, 30, 2))
    D = emdkit.pairwise(X, "exact")
    np.testing.assert_allclose(D[1, 3], emdkit.distance(X[1], X[3]), rtol=0)
    H = rng.normal(size=(4, 50))           # (N, n): N distributions of 1-D samples
    assert emdkit.pairwise(H, "1d")[0, 1] == pytest.approx(
        emdkit.distance(H[0], H[1], "1d"), rel=SHARED_RTOL)
    assert emdkit.pairwise([X[0]]).tolist() == [[0.0]]


@settings(max_examples=25)
@given(st.integers(0, 2 ** 31), st.sampled_from([1.0, 2.0, 3.5]))
def test_triangle_inequality(seed, p):
    # W_p is a metric: D[i, k] <= D[i, j] + D[j, k] (up to rounding)
    rng = np.random.default_rng(seed)
    clouds = [rng.normal(rng.normal(), 1 + rng.random(), int(rng.integers(1, 40)))
              for _ in range(5)]
    D = emdkit.pairwise(clouds, "1d", p=p)
    gap = D[:, None, :] - D[:, :, None] - D[None, :, :].transpose(0, 2, 1)
    assert (gap <= 1e-12 * (1 + D.max())).all()


def test_warnings_of_pairs_are_gathered_once(rng):
    clouds = _clouds(rng, 4, 2, 30, 40)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        emdkit.pairwise(clouds, "sinkhorn", epsilon=1e-4, max_iter=3,
                        scheduler="serial")
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(runtime) == 1
    assert "6 of 6 entries warned" in str(runtime[0].message)


def test_torch_samples_give_a_differentiable_matrix(rng):
    torch = pytest.importorskip("torch")
    clouds = [torch.tensor(c, requires_grad=True) for c in _clouds(rng, 3, 2, 10, 20)]
    D = emdkit.pairwise(clouds, "exact", p=2)
    assert isinstance(D, torch.Tensor) and D.shape == (3, 3)
    ref = emdkit.pairwise([c.detach().numpy() for c in clouds], "exact", p=2)
    np.testing.assert_allclose(D.detach().numpy(), ref, rtol=1e-12)
    D.sum().backward()
    assert clouds[0].grad is not None and torch.isfinite(clouds[0].grad).all()
    with pytest.raises(TypeError, match="torch samples"):
        emdkit.pairwise(clouds, "exact", scheduler="processes")


def test_out_resumes_only_what_is_missing(rng, tmp_path, monkeypatch):
    clouds = _clouds(rng, 5, 2, 10, 30)
    out = tmp_path / "d.npy"
    full = emdkit.pairwise(clouds, "exact", out=out)
    assert np.array_equal(np.load(out), full)
    arr = np.lib.format.open_memmap(out, mode="r+")
    arr[0, 3] = arr[3, 0] = arr[1, 2] = arr[2, 1] = np.nan     # as if stopped there
    arr.flush()
    del arr
    import emdkit.dispatch as dispatch

    calls = []
    real = dispatch.solve_problem
    monkeypatch.setattr(dispatch, "solve_problem",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    again = emdkit.pairwise(clouds, "exact", out=str(out))
    assert len(calls) == 2 and np.array_equal(again, full)
    with pytest.raises(ValueError, match="another matrix.*method"):
        emdkit.pairwise(clouds, "sinkhorn", out=out)
    with pytest.raises(ValueError, match="another matrix.*samples"):
        emdkit.pairwise(clouds[:4] + [clouds[4] + 1], "exact", out=out)
    with pytest.raises(ValueError, match=r"\.npy"):
        emdkit.pairwise(clouds, "exact", out=tmp_path / "d.txt")
    np.save(tmp_path / "other.npy", np.zeros((5, 5)))
    with pytest.raises(ValueError, match="not an emdkit matrix"):
        emdkit.pairwise(clouds, "exact", out=tmp_path / "other.npy")


@pytest.mark.parametrize("call,match", [
    (lambda c: emdkit.pairwise([], "1d"), "samples is empty"),
    (lambda c: emdkit.pairwise("abc"), "sequence of distributions"),
    (lambda c: emdkit.pairwise([c[0], c[1][:, :1]]), r"samples\[1\] has d=1"),
    (lambda c: emdkit.cdist([c[0]], [np.ones((3, 3))]), r"samples_b\[0\] has d=3"),
    (lambda c: emdkit.pairwise([c[0], np.array([[0, np.nan]])]),
     r"samples\[1\] contains NaN"),
    (lambda c: emdkit.pairwise(c, weights=[None]), "weights has 1 entries"),
    (lambda c: emdkit.pairwise(c[:2], weights=[None, [1.0]]),
     r"weights\[1\] has 1 entries"),
    (lambda c: emdkit.pairwise(c, scheduler="threads"), "scheduler must be"),
    (lambda c: emdkit.pairwise(c, scheduler="serial", client=object()), "client="),
    (lambda c: emdkit.pairwise(c, "1d"), "needs 1-D samples"),
    (lambda c: emdkit.pairwise(c, "sliced", out="x.npy"), "needs an int seed"),
    (lambda c: emdkit.pairwise(c, "sliced", directions="sobol"), "directions must"),
    (lambda c: emdkit.pairwise(c, n_workers=0), "n_workers"),
    (lambda c: emdkit.pairwise(c, "exact", epsilon=1), "unexpected option"),
    (lambda c: emdkit.pairwise(c, "nope"), "unknown method"),
])
def test_clear_errors(rng, call, match):
    clouds = _clouds(rng, 3, 2, 5, 10)
    with pytest.raises((ValueError, TypeError), match=match):
        call(clouds)


def test_local_processes_equal_this_process(rng):
    clouds = _clouds(rng, 6, 2, 40, 60)
    serial = emdkit.pairwise(clouds, "exact", scheduler="serial")
    procs = emdkit.pairwise(clouds, "exact", scheduler="processes", n_workers=2,
                            block_size=3)
    assert np.array_equal(serial, procs)


def test_default_scheduler_picks_processes_only_for_long_runs(rng):
    store = _matrix.Samples(x=[], w=[], method="exact", p=1, metric="euclidean",
                            options={})
    assert _matrix._choose(None, None, store, 0.5, 2) == "serial"
    assert _matrix._choose(None, None, store, 60.0, 2) == "processes"
    assert _matrix._choose(None, None, store, 60.0, 1) == "serial"


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed", reason="the dask extra is not "
                                      "installed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                       processes=True, dashboard_address=":0",
                                       silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_client_equals_this_process(rng, dask_client):
    clouds = _clouds(rng, 6, 2, 40, 60)
    serial = emdkit.pairwise(clouds, "exact", scheduler="serial")
    on_dask = emdkit.pairwise(clouds, "exact", client=dask_client, block_size=2)
    # the workers' BLAS runs on one thread: the cost matrices' sums may round apart
    np.testing.assert_allclose(on_dask, serial, rtol=1e-13, atol=0)
    lines = [c[:, 0] for c in clouds]
    np.testing.assert_allclose(emdkit.cdist(lines[:2], lines, "1d", client=dask_client),
                               emdkit.cdist(lines[:2], lines, "1d"), rtol=0, atol=0)


@pytest.mark.slow   # 8-10 s: CI's `pytest -m slow`
def test_a_worker_killed_mid_run_loses_nothing(rng, dask_client, tmp_path):
    clouds = _clouds(rng, 20, 2, 350, 400)
    total = 20 * 19 // 2
    reference = emdkit.pairwise(clouds, "exact", client=dask_client, block_size=2)
    out = tmp_path / "killed.npy"
    state = {}

    def killer():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "done" not in state:
            try:
                done = int(np.isfinite(np.load(out, mmap_mode="r")[
                    np.triu_indices(20, 1)]).sum())
            except (OSError, ValueError, EOFError):   # not there yet, or being created
                done = 0
            if done >= 16:
                busy = [w for w, tasks in dask_client.processing().items() if tasks]
                pids = dask_client.run(os.getpid, workers=busy[:1])
                for pid in pids.values():
                    os.kill(pid, signal.SIGKILL)
                state["killed_at"] = done
                return
            time.sleep(0.01)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        result = emdkit.pairwise(clouds, "exact", client=dask_client, block_size=2,
                                 out=out)
    finally:
        state["done"] = True
        thread.join()
    assert 16 <= state.get("killed_at", total) < total, state   # killed mid-run
    assert np.array_equal(result, reference)


def test_scheduler_dask_starts_its_own_cluster(rng):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    clouds = _clouds(rng, 4, 2, 20, 30)
    np.testing.assert_allclose(
        emdkit.pairwise(clouds, "exact", scheduler="dask", n_workers=2),
        emdkit.pairwise(clouds, "exact", scheduler="serial"), rtol=1e-13, atol=0)


def test_out_keeps_the_warnings_of_earlier_runs(rng, tmp_path):
    clouds = _clouds(rng, 3, 2, 30, 40)
    out = tmp_path / "w.npy"
    kw = dict(epsilon=1e-4, max_iter=3, scheduler="serial", out=out)
    with pytest.warns(RuntimeWarning, match="3 of 3 entries warned"):
        emdkit.pairwise(clouds, "sinkhorn", **kw)
    # everything is computed: a second call reads the file, and still warns
    with pytest.warns(RuntimeWarning, match="3 of 3 entries warned"):
        emdkit.pairwise(clouds, "sinkhorn", **kw)


def test_sorted_rows_that_would_not_fit_are_refused(rng, monkeypatch):
    import emdkit.memory as costs

    monkeypatch.setattr(costs, "available_memory", lambda: 10_000)
    with pytest.raises(emdkit.ProblemTooLargeError, match="sorted projections"):
        emdkit.pairwise(_clouds(rng, 3, 2), "sliced", n_projections=50)


def test_progress_bar_on_request(rng, capsys):
    from emdkit.many._matrix import _bar

    assert _bar(10, False) is None
    bar = _bar(10, True)
    assert bar is not None and bar.total == 10
    bar.close()
    clouds = _clouds(rng, 4, 1)
    np.testing.assert_array_equal(emdkit.pairwise(clouds, "1d", progress=True),
                                  emdkit.pairwise(clouds, "1d", progress=False))


def test_a_run_stopped_mid_way_resumes_from_its_file(rng, tmp_path, monkeypatch):
    from emdkit.many import schedule

    clouds = _clouds(rng, 7, 2, 20, 30)
    out = tmp_path / "stopped.npy"
    full = emdkit.pairwise(clouds, "exact", scheduler="serial")
    real = schedule.run_block
    seen = []

    def stop_after_three_blocks(store, pi, pj):
        if len(seen) == 3:
            raise KeyboardInterrupt
        seen.append(len(pi))
        return real(store, pi, pj)

    monkeypatch.setattr(schedule, "run_block", stop_after_three_blocks)
    with pytest.raises(KeyboardInterrupt):
        emdkit.pairwise(clouds, "exact", scheduler="serial", block_size=2, out=out)
    partial = np.load(out)
    iu = np.triu_indices(7, 1)
    done = int(np.isfinite(partial[iu]).sum())
    assert done == 2 + sum(seen) < len(iu[0])      # the first two pairs, three blocks
    monkeypatch.setattr(schedule, "run_block", real)
    import emdkit.dispatch as dispatch

    calls = []
    solve = dispatch.solve_problem
    monkeypatch.setattr(dispatch, "solve_problem",
                        lambda *a, **k: calls.append(1) or solve(*a, **k))
    resumed = emdkit.pairwise(clouds, "exact", scheduler="serial", block_size=2, out=out)
    assert len(calls) == len(iu[0]) - done
    assert np.array_equal(resumed, full)


def test_ctrl_c_with_processes_stops_at_once_and_writes_what_finished(rng, tmp_path,
                                                                       monkeypatch):
    # a Ctrl-C while the first pool block is being recorded: the workers are
    # stopped at once (a graceful shutdown waited 17-21 s for the running blocks), and
    # the blocks that finished meanwhile are written to out= before leaving (178 of
    # 196 entries had stayed NaN)
    from emdkit.many import _out

    clouds = _clouds(rng, 16, 2, 150, 200)
    out = tmp_path / "D.npy"
    real_save, seen = _out.Notes.save, {"calls": 0}

    def save(self, notes, new):
        real_save(self, notes, new)
        seen["calls"] += 1
        if seen["calls"] == 3:          # 2 pairs ran in this process, then the pool's
            written = np.load(out, mmap_mode="r")[np.triu_indices(16, 1)]
            seen["before"] = int(np.isfinite(written).sum())
            time.sleep(1.5)             # the workers finish more blocks meanwhile
            seen["raised"] = time.monotonic()
            raise KeyboardInterrupt

    monkeypatch.setattr(_out.Notes, "save", save)
    with pytest.raises(KeyboardInterrupt):
        emdkit.pairwise(clouds, "exact", scheduler="processes", n_workers=2,
                        block_size=2, out=out)
    took = time.monotonic() - seen["raised"]
    written = np.isfinite(np.load(out)[np.triu_indices(16, 1)]).sum()
    assert took < 1.5, took
    assert written > seen["before"] + 2     # more blocks than the one being recorded
    ref = emdkit.pairwise(clouds, "exact")
    got = np.load(out)
    ok = np.isfinite(got)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-13)
