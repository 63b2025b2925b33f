"""Inputs that crashed deep inside a library now work or give an error that names the
argument (one test per case of the trust issue)."""

import os

import numpy as np
import pytest
import torch

import emdkit


@pytest.mark.parametrize("args,kw,err,match", [
    (("abc",), {}, TypeError, "h must be an array of numbers"),
    ((np.ones((2, 2)) + 1j,), {}, TypeError, "h must hold real numbers"),
    ((np.ones((6, 7)),), {"spacing": [np.arange(6), np.arange(7)]}, ValueError,
     "spacing must be a float or 2 floats"),
    ((np.ones((2, 2)),), {"spacing": "x"}, TypeError, "spacing must be an array"),
    ((np.ones((2, 2)),), {"origin": [1, 2, 3]}, ValueError, "origin must be a float or 2"),
])
def test_grid_names_the_argument(args, kw, err, match):
    with pytest.raises(err, match=match):
        emdkit.grid(*args, **kw)


@pytest.mark.parametrize("p", [1, 1.5, 2, 3])
def test_subnormal_distances_in_1d_agree_with_exact(p):
    # 2.2e-313 is subnormal: 1 / (the largest distance moved) was inf
    a, b = [0.0, 2.2e-313], [0.0]
    ref = emdkit.distance(a, b, "exact", p=p)
    assert ref > 0
    assert emdkit.distance(a, b, "1d", p=p) == pytest.approx(ref, rel=1e-12)
    assert emdkit.pairwise([a, b], method="1d", p=p)[0, 1] == pytest.approx(ref, rel=1e-12)
    t = emdkit.distance(torch.tensor(a, dtype=torch.float64),
                        torch.tensor(b, dtype=torch.float64), "1d", p=p)
    assert float(t) == pytest.approx(ref, rel=1e-12)
    pts = [[[0.0, 0.0], [2.2e-313, 0.0]], [[0.0, 0.0]]]
    assert emdkit.pairwise(pts, method="sliced", p=p, seed=0)[0, 1] == pytest.approx(
        emdkit.distance(*pts, "sliced", p=p, seed=0), rel=1e-12)


@pytest.mark.parametrize("method", ["sinkhorn", "exact", "sliced", "1d"])
def test_the_loss_of_an_empty_batch_is_empty_for_every_method(method):
    x = torch.zeros(0, 5, 1 if method == "1d" else 2, dtype=torch.float64)
    out = emdkit.WassersteinLoss(method)(x, x)
    assert out.shape == (0,) and out.dtype == torch.float64


def test_the_loss_suggests_the_option_meant():
    with pytest.raises(TypeError, match="did you mean 'epsilon' for 'eps'"):
        emdkit.WassersteinLoss("sinkhorn", eps=0.1)
    with pytest.raises(TypeError, match="did you mean 'max_iter' for 'max_itr'"):
        emdkit.WassersteinLoss("sinkhorn", max_itr=5)


def _clouds():
    return [np.random.default_rng(i).random((10, 2)) for i in range(3)]


def test_pairwise_client_address_that_does_not_answer_names_client(monkeypatch):
    pytest.importorskip("distributed")
    from emdkit.many import _matrix

    monkeypatch.setattr(_matrix, "CONNECT_TIMEOUT", 1)      # 10 s by default
    with pytest.raises(ValueError, match=r"client='tcp://127.0.0.1:1': no Dask scheduler"):
        emdkit.pairwise(_clouds(), client="tcp://127.0.0.1:1")
    with pytest.raises(TypeError, match="client must be a dask.distributed.Client"):
        emdkit.pairwise(_clouds(), client=3)


def test_pairwise_client_address_is_accepted():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        D = emdkit.pairwise(_clouds(), client=cluster.scheduler_address)
    np.testing.assert_allclose(D, emdkit.pairwise(_clouds()), rtol=1e-14)


def test_out_errors_name_out(tmp_path):
    with pytest.raises(ValueError, match="out='/nonexistent-emdkit/D.npy' cannot be written"):
        emdkit.pairwise(_clouds(), out="/nonexistent-emdkit/D.npy")
    afile = tmp_path / "file"
    afile.write_text("")
    with pytest.raises(ValueError, match="cannot be written there"):
        emdkit.pairwise(_clouds(), out=str(afile / "D.npy"))    # a file as a folder
    out = tmp_path / "D.npy"
    emdkit.pairwise(_clouds(), out=str(out))
    side = tmp_path / "D.npy.json"
    good = side.read_text()
    side.write_text("{bad")
    with pytest.raises(ValueError, match="its record D.npy.json is corrupted"):
        emdkit.pairwise(_clouds(), out=str(out))
    side.write_text(good)
    out.write_bytes(out.read_bytes()[:20])
    with pytest.raises(ValueError, match="is not a readable .npy matrix"):
        emdkit.pairwise(_clouds(), out=str(out))


def test_many_report_without_dask_says_what_to_install():
    from emdkit.bench import many_bench

    res = {"shared": [], "cluster": [], "reps": 2, "cores": 2, "numpy": np.__version__,
           "dask": None}
    text = "\n".join(many_bench.report(res))
    assert "Dask is not installed" in text and "emdkit[bench]" in text


def test_a_child_process_imports_this_emdkit_beside_a_folder_named_emdkit(tmp_path,
                                                                           monkeypatch):
    from emdkit.bench._child import ChildError, run_child

    (tmp_path / "emdkit").mkdir()                  # a clone's folder, no package
    monkeypatch.chdir(tmp_path)
    out = run_child(["-c", "import emdkit; print(emdkit.distance([0.0], [2.0]))"])
    assert out.stdout.strip() == "2.0"
    with pytest.raises(ChildError, match="ZeroDivisionError"):
        run_child(["-c", "1 / 0"])
    assert os.getcwd() == str(tmp_path)


def test_a_divergence_that_is_rounding_alone_is_zero_with_a_finite_gradient():
    # equal inputs gave 1.49e-8, the square root of a rounding of 2e-16
    x = torch.randn(100, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    xt = x.clone().requires_grad_(True)
    v = emdkit.WassersteinLoss("sinkhorn")(xt, x.clone())
    v.backward()
    assert float(v.detach()) == 0.0 and torch.isfinite(xt.grad).all()
    xt = x.clone().requires_grad_(True)
    v = emdkit.distance(xt, x.clone(), "sinkhorn", debias=True, p=2)
    v.backward()
    assert float(v.detach()) == 0.0 and torch.isfinite(xt.grad).all()
    assert emdkit.distance(x.numpy(), x.numpy(), "sinkhorn", debias=True, p=2) == 0.0
    # a small true divergence is still seen: a translation by 1e-3 gives |t|
    t = float(emdkit.WassersteinLoss("sinkhorn")(x, x + 1e-3).detach())
    assert t == pytest.approx(2 ** 0.5 * 1e-3, rel=1e-3)


def test_compare_refuses_options_for_a_method_it_does_not_run():
    with pytest.raises(ValueError, match="options given for 'critic', which is not"):
        emdkit.compare([0.0, 1.0], [2.0], methods=["1d"], options={"critic": {"steps": 5}})


def test_exact_starts_its_clock_after_importing_pot():
    # Result.time of a first call had included importing POT (and torch through it):
    # 3.8 s for a 200 x 200 solve that then took 0.003 s. In a fresh process, POT's
    # solver must already be imported when exact reads the clock.
    import subprocess
    import sys

    code = ("import sys, time, emdkit\n"
            "import emdkit.solvers.exact as e\n"
            "seen = []\n"
            "class Clock:\n"
            "    @staticmethod\n"
            "    def perf_counter():\n"
            "        seen.append('ot.lp.emd_wrap' in sys.modules)\n"
            "        return time.perf_counter()\n"
            "e.time = Clock\n"
            "emdkit.solve([[0.0], [1.0]], [[2.0]])\n"
            "print(seen[0])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "True"
