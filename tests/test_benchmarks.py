"""A tiny run of the benchmark runner: every contender runs, and all agree on the value."""

import json

import pytest

from benchmarks import run


def test_tiny_run_values_agree_with_peers():
    cases = (run.bench_1d(3000, rounds=1, weighted=False)
             + run.bench_1d(3000, rounds=1, weighted=True)
             + run.bench_exact(60, 2, rounds=1))
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
    res = run.time_case({"a": lambda: calls.append("a") or 1.0,
                         "b": lambda: calls.append("b") or 2.0}, rounds=3)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert res["a"]["rounds"] == 3 and res["b"]["value"] == pytest.approx(2.0)
