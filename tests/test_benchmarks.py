"""A tiny run of the benchmark runner: every contender runs, and all agree on the value."""

import json

import numpy as np
import pytest

from emdkit.bench import run, speed


def test_tiny_run_values_agree_with_peers():
    cases = (speed.bench_1d(3000, rounds=1, weighted=False)
             + speed.bench_1d(3000, rounds=1, weighted=True)
             + speed.bench_exact(60, 2, rounds=1))
    for case in cases:
        res = case["results"]
        assert "emdkit" in res and len(res) >= 2, case["case"]
        for name, r in res.items():
            assert r["median_s"] > 0 and r["ratio_to_emdkit"] > 0
            if not name.startswith("floor"):
                # peers compute the same W_p (converted to the rooted convention)
                assert r["rel_diff_value"] < 1e-9, (case["case"], name)
    results = {"date": "today", "command": "test", "machine": run.machine(),
               "cases": cases}
    text = run.report(results)
    assert text.count("## ") == len(cases)
    json.dumps(results)   # serialisable


def test_time_case_rotates_and_counts():
    calls = []
    res = speed.time_case({"a": lambda: calls.append("a") or 1.0,
                         "b": lambda: calls.append("b") or 2.0}, rounds=3)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert res["a"]["rounds"] == 3 and res["b"]["value"] == pytest.approx(2.0)


def test_agreement_cell_and_report():
    # one tiny cell of the agreement study: every method runs, errors are relative to
    # the truth (translation by 1: truth 1), and the report renders
    from emdkit.bench import agreement

    pytest.importorskip("torch", reason="the critic needs torch")
    cell = agreement.measure_cell("translation", 2, 60, critic_steps=20, modes=("groupsort",))
    res = cell["results"]
    assert cell["truth"] == 1.0
    assert set(res) == {"exact", "sinkhorn", "sliced", "max-sliced", "critic-groupsort",
                        "sliced / c_d"}
    for r in res.values():
        assert r["err_vs_truth"] == pytest.approx(r["value"] - 1.0)
        assert r["err_vs_exact"] == pytest.approx(r["value"] / res["exact"]["value"] - 1)
    assert res["sliced / c_d"]["value"] == pytest.approx(
        res["sliced"]["value"] / agreement.c_d(2))
    assert agreement.c_d(2) == pytest.approx(2 / 3.141592653589793)   # 0.637
    # a second draw: other samples and seeds; the cell keeps medians and the spread
    other = agreement.measure_cell("translation", 2, 60, critic_steps=20,
                                   modes=("groupsort",), draw=1)
    assert other["results"]["exact"]["value"] != res["exact"]["value"]
    both = agreement.combine([cell, other])
    assert both["n_draws"] == 2 and len(both["draws"]) == 2
    for m, r in both["results"].items():
        errs = sorted(c["results"][m]["err_vs_truth"] for c in (cell, other))
        assert r["err_vs_truth"] == pytest.approx(sum(errs) / 2)     # median of two
        assert r["spread_truth"] == errs
    study = {"grid": {"families": ["translation"], "dims": [2], "sizes": [60],
                      "critic_steps": 20, "modes": ["groupsort"], "draws": 2},
             "cells": [both]}
    text = "\n".join(agreement.report(study))
    assert "### translation" in text and "critic-groupsort" in text
    lo, hi = both["results"]["exact"]["spread_truth"]
    assert f"({lo:+.0%} to {hi:+.0%})" in text
    found = agreement.findings(study)
    assert any("Sinkhorn (default epsilon) is within" in f for f in found)
    assert "median over the 2 independent draws" in found[0]
    # a threshold that one draw meets and the other misses is named
    near, far = sorted(abs(c["results"]["exact"]["err_vs_truth"]) for c in (cell, other))
    assert agreement._crosses(both, "exact", "err_vs_truth", (near + far) / 2)
    assert not agreement._crosses(both, "exact", "err_vs_truth", far * 2)


#: The agreement study's large-n section left out (tested on its own).
NO_LARGE = dict(dims=(), sizes=(), draws=1, exact_max=0, sinkhorn_max=0)


def test_agreement_large_n_section(monkeypatch):
    # exact on the samples on every draw up to exact_max points a side, past it in
    # exact_far_dims on the first exact_far_draws draws only (with exact_far_rtol);
    # dense Sinkhorn up to sinkhorn_max on the first sinkhorn_draws draws; the report
    # says where a method ran on some draws only
    pytest.importorskip("torch", reason="the critic needs torch")
    from emdkit.bench import agreement

    monkeypatch.setattr(agreement, "QUICK", dict(dims=(2,), sizes=(40,), critic_steps=20,
                                                 draws=1, korotin_n=None, digits=()))
    big_grid = dict(dims=(2,), sizes=(50, 80), draws=2, exact_max=50, exact_far_dims=(3,),
                    exact_far_draws=1, exact_far_rtol=1e-3, sinkhorn_max=80,
                    sinkhorn_draws=1)
    monkeypatch.setattr(agreement, "LARGE_QUICK", big_grid)
    monkeypatch.setattr(agreement, "FAMILIES", ("translation",))
    monkeypatch.setattr(agreement, "MODES", ("groupsort",))
    tasks, _ = agreement.plan(True)
    assert [t[7] for t in tasks if t[2] == 80] == [("exact",), ("exact", "sinkhorn")]
    monkeypatch.setitem(big_grid, "exact_far_dims", (2,))
    tasks, groups = agreement.plan(True)
    assert len(tasks) == 2 * 2 + 1
    # the largest first, exact's draw first among them, with its rtol; within
    # exact_max exact runs on every draw, to optimality
    assert [(t[2], t[6], t[7], t[8]) for t in tasks[:4]] == [
        (80, 0, (), 1e-3), (80, 1, ("exact", "sinkhorn"), 1e-3),
        (50, 0, (), None), (50, 1, ("sinkhorn",), None)]
    study = agreement.run(True)
    small, big = study["large"]["cells"]
    assert (small["n"], big["n"], small["n_draws"], big["n_draws"]) == (50, 80, 2, 2)
    assert "exact" in small["results"]
    # Sinkhorn on the first draw only, against exact on that draw
    sk = small["results"]["sinkhorn"]
    assert sk["draws_run"] == 1 and sk["err_vs_exact"] == pytest.approx(
        small["draws"][0]["sinkhorn"]["value"] / small["draws"][0]["exact"]["value"] - 1)
    assert "sinkhorn" not in small["draws"][1]
    assert "err_vs_exact" in small["results"]["sliced"]
    assert "exact_draws" not in small["results"]["sliced"]
    # past exact_max: exact on draw 1 only, and the errors against it from that draw
    ex = big["results"]["exact"]
    assert ex["draws_run"] == 1 and ex["bracket"] <= 1e-3
    sl = big["results"]["sliced"]
    assert sl["exact_draws"] == 1 and "draws_run" not in sl
    assert sl["err_vs_exact"] == pytest.approx(
        big["draws"][0]["sliced"]["value"] / big["draws"][0]["exact"]["value"] - 1.0)
    assert "exact" not in big["draws"][1]
    assert big["results"]["critic-groupsort"]["err_vs_truth"] == pytest.approx(
        big["results"]["critic-groupsort"]["value"] / big["truth"] - 1.0)
    text = "\n".join(agreement.section(study))
    assert "## Large n: d = 2, up to 80 points a side" in text
    assert ("past it on the first draw in d = 2 only, stopped once its certified "
            "bracket") in text
    row = next(line for line in text.splitlines()
               if line.startswith("| translation | 2 | 80 | 1.000 |"))
    assert f"{ex['err_vs_truth']:+.1%} (1 draw)" in row
    assert f"{sl['err_vs_exact']:+.1%} vs exact (1 draw)" in row
    assert ("dense Sinkhorn (default epsilon) up to 80 points a side (its n x n "
            "matrices) on the first draw only") in text
    bsk = big["results"]["sinkhorn"]
    assert f"{bsk['err_vs_truth']:+.1%} (1 draw)" in row
    # the headline findings (README, docs) are computed from the same numbers
    lines = agreement.headline(study)
    assert any(line.startswith("- **critic-groupsort** within 5% / 10%") for line in lines)
    line = next(line for line in lines if line.startswith("- **n = 80**"))
    assert line.startswith("- **n = 80**, translation, d = 2: critic-groupsort "
                           f"{big['results']['critic-groupsort']['err_vs_truth']:+.1%}")
    assert "; against exact on the samples (1 draw): critic-groupsort" in line
    assert f"(exact itself {ex['err_vs_truth']:+.1%} from the truth)" in line
    worst = max(abs(c["results"]["sinkhorn"]["err_vs_exact"]) for c in (small, big))
    assert any(line.startswith(f"- **sinkhorn at n = 80** (the large-n section, first "
                               f"draw): within {worst:.2%} of exact") for line in lines)


def test_agreement_draws_on_two_processes_match_the_serial_run(monkeypatch):
    pytest.importorskip("torch", reason="the critic needs torch")
    from emdkit.bench import agreement

    monkeypatch.setattr(agreement, "QUICK", dict(dims=(2,), sizes=(40,), critic_steps=20,
                                                 draws=2, korotin_n=None, digits=()))
    monkeypatch.setattr(agreement, "LARGE_QUICK", NO_LARGE)
    monkeypatch.setattr(agreement, "FAMILIES", ("translation",))
    monkeypatch.setattr(agreement, "MODES", ("groupsort",))
    serial = agreement.run(True)
    pooled = agreement.run(True, workers=2)
    assert pooled["grid"]["workers"] == 2 and serial["grid"]["workers"] == 1
    [a], [b] = serial["cells"], pooled["cells"]
    for m in a["results"]:      # seeded draws: the same values in either process
        assert [dr[m]["value"] for dr in a["draws"]] == [dr[m]["value"] for dr in b["draws"]]


def test_agreement_korotin_table_and_digits(monkeypatch):
    pytest.importorskip("torch", reason="the critic needs torch")
    pytest.importorskip("sklearn", reason="the digits come with scikit-learn (bench extra)")
    from emdkit.bench import agreement

    monkeypatch.setattr(agreement, "QUICK", dict(dims=(2,), sizes=(40,), critic_steps=20,
                                                 draws=2, korotin_n=40,
                                                 digits=("digits 4 vs 4 moved",)))
    monkeypatch.setattr(agreement, "LARGE_QUICK", NO_LARGE)
    monkeypatch.setattr(agreement, "FAMILIES", ("translation",))
    monkeypatch.setattr(agreement, "MODES", ("gp", "clip"))
    study = agreement.run(True)
    k64, k4 = study["korotin"]
    assert (k64["family"], k64["d"], k4["family"]) == ("lipschitz-rays:64", 128,
                                                       "lipschitz-rays:4")
    assert k64["truth"] == 1.0 and k64["n_draws"] == 2
    [moved] = study["digits"]
    assert "err_vs_truth" not in moved["results"]["exact"]      # no population truth
    text = "\n".join(agreement.section(study))
    # the published figures beside ours: WGAN-GP 0.711 of 1.045 is -32%
    assert "WGAN-GP: -32% (0.711 of 1.045)" in text and "WGAN-GP: -0.6%" in text
    assert "(WGAN-LP: no emdkit mode)" in text
    assert "| 4 vs 4 moved | " in text and "within 10% of exact (median)" in text
    # the moved copy: every image one pixel to the right, the first column empty
    four, shifted = agreement.digits_pair("digits 4 vs 4 moved", 0)
    a, b = four.reshape(-1, 8, 8), shifted.reshape(-1, 8, 8)
    assert (b[:, :, 0] == 0).all() and (b[:, :, 1:] == a[:, :, :-1]).all()
    halves = agreement.digits_pair("digits halves", 3)
    assert halves[0].shape[0] + halves[1].shape[0] == 1797


@pytest.mark.slow   # whole-suite / many-process run: CI's `pytest -m slow`
def test_tiny_run_of_the_whole_suite(tmp_path, monkeypatch):
    # the suite end to end on toy sizes: report, JSON and the plots are written
    pytest.importorskip("matplotlib", reason="the plots need matplotlib")
    from emdkit.bench import agreement, scaling

    monkeypatch.setattr(agreement, "QUICK", dict(dims=(1, 3), sizes=(40, 60), critic_steps=10,
                                                 draws=1, korotin_n=None, digits=()))
    monkeypatch.setattr(agreement, "LARGE_QUICK", NO_LARGE)
    monkeypatch.setattr(agreement, "MODES", ("groupsort", "gp"))
    from emdkit.bench import critic_early

    monkeypatch.setattr(critic_early, "QUICK", dict(critic_early.QUICK, steps=20))
    from emdkit.bench import korotin_gap

    monkeypatch.setattr(korotin_gap, "QUICK", dict(draws=1, tasks=[
        (4, "gp", ("the study's", 40, 10, 8, 2)), (4, "gp", ("more", 60, 10, 8, 2))]))
    monkeypatch.setattr(scaling, "QUICK", {"1d": [200, 400], "exact": [30, 60],
                                           "sinkhorn": [30, 60], "sliced": [200, 400],
                                           "critic": [30, 60]})
    from emdkit.bench import cold, multiscale_bench, sinkhorn_bench, sliced_bench, training

    monkeypatch.setattr(multiscale_bench, "QUICK", {"multiscale": [(300, 2), (600, 2)],
                                                    "dense": [(300, 2)],
                                                    "online": [(200, 3)], "iid": [(300, 2)]})

    from emdkit.bench import many_bench

    monkeypatch.setattr(many_bench, "SHARED_QUICK", [("1d", 5, 50, 1, None)])
    monkeypatch.setattr(many_bench, "CLUSTER_QUICK", [])
    from emdkit.bench import loss_bench

    monkeypatch.setattr(loss_bench, "QUICK", (40,))
    monkeypatch.setattr(loss_bench, "_batched", lambda n, device: {
        "n": 8, **{s: {"batch_s": 0.0, "items_s": 0.0} for s in ("auto", "torch")}})
    monkeypatch.setattr(sinkhorn_bench, "run", lambda quick: {})
    monkeypatch.setattr(sliced_bench, "run", lambda quick: {})
    monkeypatch.setattr(cold, "run", lambda: None)
    monkeypatch.setattr(training, "run", lambda quick, out: {"skipped": "test"})
    monkeypatch.setattr(speed, "run", lambda quick, rounds: speed.bench_exact(30, 2, rounds=1))
    from emdkit.bench import auto_model, brackets

    real_check = auto_model.check
    monkeypatch.setattr(auto_model, "check", lambda reps, n: real_check(reps=1, n=200))
    from emdkit.bench import sinkhorn_matched, sinkhorn_robustness

    monkeypatch.setattr(sinkhorn_matched, "run", lambda sizes, reps: {"skipped": "test"})
    monkeypatch.setattr(sinkhorn_robustness, "run", lambda quick: {
        "count": 1, "failures": [], "seconds": 0.0})
    from emdkit.bench import auto_grid

    monkeypatch.setattr(auto_grid, "QUICK", auto_grid.QUICK[:1])
    first_pair = list(brackets.pairs(True))[:1]
    monkeypatch.setattr(brackets, "pairs", lambda quick: first_pair)
    assert run.main(["--quick", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results["agreement"]["cells"]) == 3 * 2 * 2
    assert set(results["scaling"]) >= {"1d", "exact", "sinkhorn", "sliced"}
    for method in results["scaling"].values():
        assert all(r["seconds"]["emdkit"] > 0 for r in method["rows"])
    for png in ("scaling.png", "agreement_heatmap.png", "error_vs_d.png", "multiscale.png",
                "auto_grid.png"):
        assert (tmp_path / png).stat().st_size > 5000, png
    text = (tmp_path / "report.md").read_text()
    for heading in ("# Speed", "## Scaling", "# Agreement", "### Findings", "## Training trace",
                    "## Certified brackets", "## auto against exact and sinkhorn",
                    "## Sinkhorn robustness sweep", "## Sinkhorn at matched accuracy",
                    "## Large clouds: the multiscale Sinkhorn backend",
                    "## Many distributions", "## Training loss",
                    "## Exact W_p at scale", "## auto beside every certified route",
                    "## auto on a held-out grid",
                    "## The critic's early stopping, before and after"):
        assert heading in text


@pytest.mark.slow   # whole-suite / many-process run: CI's `pytest -m slow`
def test_suites_run_as_tasks_on_a_local_cluster(tmp_path):
    # emdkit bench --scheduler dask: each suite a task on a LocalCluster of 2 workers
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    assert run.main(["--quick", "--only", "cost,many", "--scheduler", "dask",
                     "--workers", "2", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert {r["n"] for r in results["cost"]["rows"]} == {100, 300}
    assert all(r["rel_diff"] < 1e-9 for r in results["cost"]["rows"])
    assert results["many"]["cluster"][0]["max_rel_diff_1_vs_2"] == 0.0
    assert "Dask LocalCluster, 2 worker processes" in (tmp_path / "report.md").read_text()


def test_bench_command_is_wired(monkeypatch, tmp_path):
    from emdkit import cli

    seen = []
    monkeypatch.setattr(run, "main", lambda argv: seen.append(argv) or 0)
    assert cli.main(["bench", "--quick", "--out", str(tmp_path)]) == 0
    assert seen == [["--quick", "--out", str(tmp_path)]]


def test_bad_rounds_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        run.main(["--rounds", "0"])
    assert exc.value.code == 2
    assert "must be a positive integer, got '0'" in capsys.readouterr().err


def test_brackets_report_measures_what_it_says():
    from emdkit.bench import brackets

    rows = brackets.run(quick=True, reps=1)
    by = {(r["pair"], r["method"], tuple(r["options"].items())): r for r in rows}
    for (pair, method, opts), r in by.items():
        if method in ("exact", "1d") or method.startswith("auto"):
            assert r["bracket_width"] <= 1e-9 and abs(r["error"]) <= 1e-9, (pair, method)
        if method == "sinkhorn" and ("rtol", 0.01) in opts:
            assert r["converged"] and r["bracket_width"] <= 0.01 and abs(r["error"]) <= 0.01
        if method == "sliced":
            assert r["bracket_width"] is None
        if method == "max-sliced":
            assert r["bracket_width"] == "lower" and r["error"] <= 1e-9
    spread = by[("spread +-300, shift 0.5 (2-D)", "sinkhorn", ())]
    assert "default epsilon" in spread["warning"]       # the default's failure, flagged
    text = "\n".join(brackets.report(rows))
    assert "certified bracket width" in text and "lower bound only" in text


def test_the_package_never_imports_the_repository_benchmarks_folder():
    # the suite ships inside the package; benchmarks/ at the root holds results only
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    pattern = re.compile(r"^\s*(from|import)\s+benchmarks\b", re.M)
    offenders = [str(p) for p in (root / "emdkit").rglob("*.py")
                 if pattern.search(p.read_text())]
    assert offenders == []
    assert not list((root / "benchmarks").glob("*.py"))


def test_robustness_sweep_quick_run_converges():
    from emdkit.bench import sinkhorn_robustness

    res = sinkhorn_robustness.run(quick=True)
    assert res["count"] == 12 and res["failures"] == []
    assert "**0 failed**" in "\n".join(sinkhorn_robustness.report(res))


def test_only_runs_the_named_suites_and_render_rewrites_the_report(tmp_path, monkeypatch):
    from emdkit.bench import brackets

    first_pair = list(brackets.pairs(True))[:1]
    monkeypatch.setattr(brackets, "pairs", lambda quick: first_pair)
    assert run.main(["--quick", "--only", "brackets", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert "brackets" in results and not {"cases", "scaling", "agreement"} & set(results)
    text = (tmp_path / "report.md").read_text()
    assert "## Certified brackets" in text and "# Speed" not in text
    (tmp_path / "report.md").unlink()
    assert run.main(["--render", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "report.md").read_text() == text


def test_unknown_suite_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        run.main(["--only", "sinkhron"])
    assert exc.value.code == 2
    assert "unknown suite 'sinkhron' (did you mean 'sinkhorn'?)" in capsys.readouterr().err


def test_the_published_report_is_rendered_from_its_results():
    # benchmarks/results/report.md is what the report renderer makes of results.json:
    # no figure in it was typed by hand
    from pathlib import Path

    published = Path(__file__).parents[1] / "benchmarks" / "results"
    if not (published / "results.json").exists():
        pytest.skip("the published results are in the source repository only")
    results = json.loads((published / "results.json").read_text())
    figures = [f for f in ("scaling.png", "agreement_heatmap.png", "error_vs_d.png",
                           "which_method.png", "multiscale.png", "auto_grid.png",
                           results["training"]["plot"]) if (published / f).exists()]
    assert run.report(results, figures) == (published / "report.md").read_text()
    # "which method when": the suite's tables, and the README's copy of them
    from emdkit.bench.agreement import which_method_table

    which = (published / "which_method.md").read_text()
    assert which == "\n".join(which_method_table(results["agreement"])) + "\n"
    readme = (published.parents[1] / "README.md").read_text()
    block = readme.split("<!-- which-method: begin -->\n")[1].split(
        "<!-- which-method: end -->")[0]
    assert block == which, ("README's which-method block differs from "
                            "benchmarks/results/which_method.md: copy it over")
    from emdkit.bench.agreement import headline

    found = (published / "agreement_findings.md").read_text()
    assert found == "\n".join(headline(results["agreement"])) + "\n"
    block = readme.split("<!-- agreement-findings: begin -->\n")[1].split(
        "<!-- agreement-findings: end -->")[0]
    assert block == found, ("README's agreement-findings block differs from "
                            "benchmarks/results/agreement_findings.md: copy it over")


def test_compare_runs_tables_emdkits_own_times(tmp_path, capsys):
    from emdkit.bench import compare_runs

    def run(t):
        return {"cases": [{"case": "1d, n = 10", "results": {
                    "emdkit": {"median_s": t}, "POT": {"median_s": 1.0}}}],
                "loss": {"rows": [{"n": 300, "emdkit_s": 2 * t, "torch_loop_s": 3 * t}]}}
    paths = []
    for name, t in (("before", 0.5), ("after", 0.25)):
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(run(t)))
        paths.append(str(p))
    assert compare_runs.main(paths) == 0
    out = capsys.readouterr().out
    assert "| 1d, n = 10 | 0.5 | 0.25 | 0.50 |" in out
    assert "WassersteinLoss n = 300, solver 'torch' | 1.5 | 0.75 | 0.50 |" in out
    assert "POT" not in out
    assert compare_runs.main(paths[:1]) == 2


def test_real_images_of_the_exact_suite():
    # the real pairs come from the images scikit-image ships (the bench extra)
    pytest.importorskip("skimage", reason="scikit-image (the bench extra) is not installed")
    from emdkit.bench import exact_bench

    for kind, specs in exact_bench.REAL.items():
        A, B = (exact_bench.real_image(spec, 16) for spec in specs)
        for im in (A, B):
            assert im.shape == (16, 16) and im.min() >= 0.0 and im.max() <= 1.0
            assert im.std() > 0.01, kind        # an image, not a constant
        assert not np.allclose(A, B), kind


def test_exact_suite_measures_some_rows_and_merges_them():
    """``--only``: the rows it names, drawn as in a whole run, put in place of their
    published rows; a new row after its size's last row."""
    import re

    from emdkit.bench import exact_bench

    rows = exact_bench.run(quick=True, only=re.compile(r"^24x24 GRF smooth, W_1 eucl"))
    assert [r["problem"] for r in rows] == ["24x24 GRF smooth, W_1 euclidean"]
    assert rows[0]["pot_rel"] < 1e-12 and rows[0]["bracket"] < 1e-9
    old = [{"problem": "iid, W_2", "n": 10}, {"problem": "24x24 GRF smooth, W_1 euclidean",
                                              "n": 576, "emdkit_s": 9.0},
           {"problem": "24x24 disc, W_2", "n": 50}, {"problem": "64x64 disc, W_2", "n": 9},
           {"problem": "iid, W_2", "n": 20}]
    new = [dict(rows[0]), {"problem": "24x24 Cauchy, W_1", "n": 576},
           {"problem": "24x24 disc, W_2", "n": 40, "emdkit_s": 1.0},   # another draw
           {"problem": "iid, W_2", "n": 30}]       # the label twice: by n only
    out = exact_bench.merged(old, new)
    assert [(r["problem"], r["n"]) for r in out] == [
        ("iid, W_2", 10), ("24x24 GRF smooth, W_1 euclidean", 576), ("24x24 disc, W_2", 40),
        ("24x24 Cauchy, W_1", 576), ("64x64 disc, W_2", 9), ("iid, W_2", 20),
        ("iid, W_2", 30)]
    assert out[1]["emdkit_s"] == rows[0]["emdkit_s"] and old[1]["emdkit_s"] == 9.0


def test_exact_bench_partial_publish_needs_its_note(tmp_path, capsys):
    # a partial run published without --note would drop the table's paragraph on
    # which run each row is from: refused before anything is measured
    from emdkit.bench import exact_bench

    with pytest.raises(SystemExit) as err:
        exact_bench.main(["--only", "disc", "--publish", str(tmp_path)])
    assert err.value.code == 2
    assert "--only with --publish needs --note" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_auto_grid_only_rows_replace_theirs_in_the_published_grid():
    from emdkit.bench import auto_grid

    def row(problem, ratio):
        auto = {"seconds": ratio, "choice_s": 0.0, "route": "exact", "converged": True,
                "value": 1.0, "bounds": [1.0, 1.0], "predicted_s": {"exact": 1.0}}
        return {"problem": problem, "n": 10, "auto": auto, "ratio": ratio, "best": "exact",
                "best_s": 1.0, "in_bracket": True, "rel_err": 0.0,
                "routes": {"exact": {"seconds": 1.0, "converged": True, "value": 1.0}}}

    old = {"rows": [row("a, W_1", 3.0), row("b, W_2", 1.0)], "date": "2026-12-01 10:00"}
    old["summary"] = auto_grid.summary(old["rows"])
    res = {"rows": [dict(row("a, W_1", 1.1), measured="2026-12-02 11:00", why="a refit"),
                    dict(row("c, W_1", 1.0), measured="2026-12-02 11:00", why="a refit")],
           "only": "W_1", "why": "a refit"}
    out = auto_grid.merged(old, res)
    assert [(r["problem"], r["ratio"]) for r in out["rows"]] == [
        ("a, W_1", 1.1), ("b, W_2", 1.0), ("c, W_1", 1.0)]
    assert out["summary"]["worst"] == 1.1 and old["summary"]["worst"] == 3.0
    # an unstamped row keeps the whole run's date
    assert [(r["measured"], r["why"]) for r in out["rows"]] == [
        ("2026-12-02 11:00", "a refit"), ("2026-12-01 10:00", None),
        ("2026-12-02 11:00", "a refit")]
    text = "\n".join(auto_grid.report(dict(out, seconds=1.0)))
    assert ("from 2 runs of the grid: 1 problem(s) measured on 2026-12-01 10:00 (the "
            "whole grid); 2 problem(s) measured on 2026-12-02 11:00 (a refit)." in text)
    # merged again later: each row keeps its own run
    again = auto_grid.merged(out, dict(res, rows=[dict(res["rows"][0], why="again",
                                                        measured="2026-12-03 09:00")]))
    assert [(r["measured"], r["why"]) for r in again["rows"]] == [
        ("2026-12-03 09:00", "again"), ("2026-12-01 10:00", None),
        ("2026-12-02 11:00", "a refit")]
    assert "from 3 runs of the grid" in "\n".join(auto_grid.report(dict(again, seconds=1)))
    # a grid published before rows were stamped: its note says which run each row is of
    legacy = {"rows": [row("a, W_1", 3.0), row("b, W_2", 1.0)], "date": "2026-12-04 00:00",
              "remeasured": {"only": "W_1", "why": "a fix", "date": "2026-12-04 01:00",
                             "base_date": "2026-12-01 10:00", "problems": 1}}
    out = auto_grid.merged(legacy, dict(res, rows=[]))
    assert [(r["measured"], r["why"]) for r in out["rows"]] == [
        ("2026-12-04 01:00", "a fix"), ("2026-12-01 10:00", None)]


def test_auto_grid_stops_a_route_past_its_time_and_scores_auto(monkeypatch):
    from emdkit.bench import auto_grid

    spec = {"kind": "shifted", "n": 400, "d": 1, "p": 2}
    monkeypatch.setattr(auto_grid, "QUICK", [spec, dict(spec, kind="iid")])
    monkeypatch.setattr(auto_grid, "ROUTES", {k: auto_grid.ROUTES[k] for k in ("1d", "exact")})
    calls = []
    real = auto_grid.Worker.run

    def run_once(self, spec, route, timeout):
        # the first problem's exact route is given no time at all: the worker is
        # stopped, the route reported as past its limit, and a fresh worker serves on
        calls.append(route)
        return real(self, spec, route, 0.0 if len(calls) == 2 else timeout)
    monkeypatch.setattr(auto_grid.Worker, "run", run_once)
    res = auto_grid.run(quick=True, progress=lambda line: None)
    stopped, served = res["rows"]
    assert calls == ["auto", "exact", "auto", "exact"]
    assert stopped["routes"]["exact"] == {"seconds": None, "past_s": auto_grid.FLOOR}
    assert served["routes"]["exact"]["converged"]
    for row in res["rows"]:
        assert row["auto"]["route"] == "1d" and row["best"] in ("1d", "exact")
        own = row["routes"]["1d"]["seconds"]
        assert own == row["auto"]["seconds"] - row["auto"]["choice_s"]
        assert row["ratio"] == row["auto"]["seconds"] / row["best_s"] >= 1.0
        assert row["in_bracket"]
    # the closed form against the LP (another route) on the second problem: rounding
    assert served["rel_err"] < 1e-12
    assert served["routes"]["exact"]["value"] == pytest.approx(
        served["auto"]["value"], rel=1e-12)
    assert res["summary"]["problems"] == 2 and res["summary"]["timed_out"] == 0
    text = "\n".join(auto_grid.report(res))
    within = sum(row["ratio"] <= 1.25 for row in res["rows"]) / 2
    assert "> 5 |" in text and f"on {100 * within:.0f}% of 2 problems" in text
    # a problem whose own route ran past AUTO_CAP: a row of its own, not scored
    late = {"problem": "late", "n": 10, "kind": "iid", "auto": None, "routes": {}}
    res["rows"].append(late)
    res["summary"] = auto_grid.summary(res["rows"])
    assert res["summary"]["timed_out"] == 1
    text = "\n".join(auto_grid.report(res))
    assert f"| late | — | > {auto_grid.AUTO_CAP:.0f} |" in text
    assert "On 1 problem(s) auto's route ran past" in text


def test_korotin_gap_rows_summary_and_findings(monkeypatch):
    # each estimate is compared with the population W_1 of its lipschitz-rays pair
    # (D = 128); the summary gives the median and range over the draws per setting,
    # and the findings set the study's setting beside the last, with the published
    # figure of the same critic and potential
    pytest.importorskip("torch", reason="the critic needs torch")
    from emdkit.bench import korotin_gap

    monkeypatch.setattr(korotin_gap, "QUICK", dict(draws=2, tasks=[
        (4, "gp", ("the study's", 40, 10, 8, 2)), (4, "gp", ("more", 60, 20, 8, 2))]))
    res = korotin_gap.run(quick=True)
    rows = res["rows"]
    assert len(rows) == 4 and {r["draw"] for r in rows} == {0, 1}
    for r in rows:
        assert r["truth"] == 1.0 and r["err"] == pytest.approx(r["value"] - 1.0, abs=1e-15)
        assert r["steps_run"] <= 2 * r["steps"]     # two cross-fitted critics
    by_label = {s["label"]: s for s in res["summary"]}
    first = [r["err"] for r in rows if r["label"] == "the study's"]
    assert by_label["the study's"]["median_err"] == pytest.approx(sum(first) / 2)
    assert by_label["the study's"]["min_err"] == min(first)
    assert [s["label"] for s in res["summary"]] == ["the study's", "more"]
    text = "\n".join(korotin_gap.report(res))
    # 4 pieces: Korotin et al. published -0.6% for WGAN-GP
    assert "critic-gp, 4 pieces" in text and "WGAN-GP: -0.6%" in text
    assert f"{by_label['more']['median_err']:+.1%} with 60" in text


def test_korotin_gap_findings_cite_the_64_piece_figure():
    # synthetic summary (no training): the 64-piece line gives the published -32%
    from emdkit.bench import korotin_gap

    def row(label, n, steps, width, err):
        return {"pieces": 64, "mode": "gp", "label": label, "n": n, "steps": steps,
                "width": width, "depth": 2, "median_err": err}
    res = {"summary": [row("the study's", 4000, 1000, 32, -0.9),
                       row("25x the samples", 100_000, 1000, 32, -0.7),
                       row("all", 100_000, 5000, 128, -0.45)]}
    (line,) = korotin_gap.findings(res)
    assert line.startswith("- critic-gp, 64 pieces: -90.0% with 4,000 samples")
    assert "-45.0% with 100,000, 5000 and 128 x 2" in line
    assert "(Korotin et al., WGAN-GP: -32.0%)" in line
