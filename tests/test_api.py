"""The dispatch: methods(), unknown methods and options, auto, Result."""

import numpy as np
import pytest

import emdkit


def test_methods_lists_only_working_methods(rng):
    listed = emdkit.methods()
    assert set(listed) == {"exact", "1d", "auto", "sinkhorn", "sliced", "max-sliced",
                           "critic"}
    x = rng.normal(size=(5, 1))
    for name in listed:
        assert isinstance(listed[name], str) and listed[name]
        # a translation by 1: W_p = 1 for every p; Sinkhorn's debiased W_2 too; in
        # 1-D the (max-)sliced distances are the 1-D distance.
        # The critic is a trained estimate: checked in test_critic.py instead.
        if name == "critic":
            continue
        opts = {"p": 2, "debias": True} if name == "sinkhorn" else {}
        assert emdkit.distance(x, x + 1.0, method=name, **opts) == pytest.approx(
            1.0, rel=1e-9)


def test_unknown_method_lists_available():
    with pytest.raises(ValueError, match=r"unknown method 'simplex'; available methods: "
                                         r"1d, auto, critic, exact, max-sliced, sinkhorn, sliced"):
        emdkit.distance([1.0], [2.0], method="simplex")


def test_method_names_ignore_case_and_underscores():
    x, y = [[0.0, 0.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]
    ref = emdkit.distance(x, y, "max-sliced", seed=0)
    assert emdkit.distance(x, y, "max_sliced", seed=0) == ref
    assert emdkit.distance(x, y, "MAX-SLICED", seed=0) == ref
    assert emdkit.solve(x, y, "Exact").method == "exact"
    with pytest.raises(ValueError, match=r"unknown method 'sinkorn' \(did you mean "
                                         r"'sinkhorn'\?\)"):
        emdkit.distance(x, y, "sinkorn")


@pytest.mark.parametrize("given,meant", [("reg", "epsilon"), ("numItermax", "max_iter"),
                                         ("stopThr", "tol"), ("maxiter", "max_iter")])
def test_option_names_from_other_libraries_get_a_suggestion(given, meant):
    with pytest.raises(TypeError, match=f"did you mean '{meant}' for '{given}'"):
        emdkit.distance([[0.0, 0.0]], [[1.0, 0.0]], "sinkhorn", **{given: 1})


def test_method_not_a_string():
    with pytest.raises(TypeError, match=r"method must be a string.*got None"):
        emdkit.distance([1.0], [2.0], method=None)


def test_a_matrix_where_the_method_goes_is_described_not_printed():
    # POT's emd2(a, b, M) habit: the message names the array's shape, says what it
    # is taken for, and does not print its entries
    M = np.arange(12.0).reshape(3, 4) + 0.123456
    with pytest.raises(TypeError, match=r"got array of shape \(3, 4\).*a matrix where "
                                        r"the method goes") as err:
        emdkit.distance(np.ones(3) / 3, np.ones(4) / 4, M)
    assert "0.123456" not in str(err.value) and len(str(err.value)) < 400
    assert "cost=M" in str(err.value)


def test_unknown_option_names_accepted_ones():
    with pytest.raises(TypeError, match=r"method 'exact' got unexpected option\(s\) "
                                        r"epsilon; it takes backend, rtol, max_iter, memory_limit"):
        emdkit.distance([1.0], [2.0], method="exact", epsilon=0.1)
    with pytest.raises(TypeError, match=r"method 'sinkhorn' got unexpected option\(s\) "
                                        r"eps \(did you mean 'epsilon' for 'eps'\?\); it takes epsilon, rtol, tol, max_iter, debias, "
                                        r"scaling, backend, memory_limit"):
        emdkit.distance([1.0], [2.0], method="sinkhorn", eps=0.1)
    with pytest.raises(TypeError, match=r"method '1d' got unexpected option\(s\) "
                                        r"max_iter; it takes no options"):
        emdkit.distance([1.0], [2.0], method="1d", max_iter=10)


def test_auto_with_options_checks_chosen_method():
    with pytest.raises(TypeError, match=r"method '1d' got unexpected option"):
        emdkit.distance([1.0], [2.0], method="auto", max_iter=10)
    r = emdkit.solve([[1.0, 0.0]], [[2.0, 0.0]], method="auto", max_iter=10)
    assert r.method == "exact" and r.value == 1.0


def test_auto_records_choice(rng):
    x, y = rng.normal(size=20), rng.normal(size=30)
    r1 = emdkit.solve(x, y, method="auto")
    assert r1.method == "1d"
    assert r1.info["requested"] == "auto" and "1-D" in r1.info["reason"]
    r2 = emdkit.solve(rng.normal(size=(20, 3)), rng.normal(size=(30, 3)), method="auto")
    assert r2.method == "exact" and r2.info["requested"] == "auto"
    r3 = emdkit.solve(x, y, method="auto",
                      metric=lambda x, y: np.abs(x - y.T))
    assert r3.method == "exact"
    assert r3.value == pytest.approx(r1.value, rel=1e-12)


def test_result_fields(rng):
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(4, 2))
    r = emdkit.solve(x, y, p=2)
    assert isinstance(r, emdkit.Result)
    assert isinstance(r.value, float) and isinstance(r.cost, float)
    assert r.value == pytest.approx(r.cost ** 0.5, rel=1e-15)
    assert r.method == "exact" and r.p == 2.0 and r.metric == "euclidean"
    assert r.converged is True and r.time > 0
    assert r.plan.shape == (6, 4)
    f, g = r.potentials
    assert f.shape == (6,) and g.shape == (4,)
    assert float(r) == r.value
    assert "method='exact'" in repr(r)


def test_distance_is_solve_value(rng):
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(9, 3))
    assert emdkit.distance(x, y, p=1.5) == emdkit.solve(x, y, p=1.5).value


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, emdkit; heavy = [m for m in ('torch', 'numba', 'ot', "
            "'matplotlib', 'scipy') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_every_documented_api_name_resolves():
    # docs/api.rst documents functions by dotted path; each must import (emdkit.methods
    # is the function, the method modules live in emdkit.solvers: no name clash)
    import importlib
    import re
    from pathlib import Path

    rst = Path(__file__).parents[1] / "docs" / "api.rst"
    names = re.findall(r"^\.\. auto(?:function|class|module):: (\S+)", rst.read_text(), re.M)
    assert "emdkit.methods" in names and "emdkit.solvers.sinkhorn.sinkhorn" in names
    for name in names:
        module = name.rpartition(".")[0]
        if module != "emdkit":
            importlib.import_module(module)
        obj = emdkit
        for part in name.split(".")[1:]:      # as a user types it: emdkit.x.y
            obj = getattr(obj, part)
        assert obj is not None, name
    assert callable(emdkit.methods) and "sinkhorn" in emdkit.methods()
    from emdkit.solvers import REGISTRY
    from emdkit.solvers.exact import exact

    assert REGISTRY["exact"].func is exact
