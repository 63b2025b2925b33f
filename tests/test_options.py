"""Options validated once: each method's checks beside its function, its defaults in
its signature only, and the one path from a validated problem to a result."""

import inspect

import numpy as np
import pytest

import emdkit
from emdkit import dispatch
from emdkit.geometry import epsilon as eps_rules
from emdkit.solvers import REGISTRY, check_method_options


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_every_option_has_one_check_and_one_default(method):
    spec = REGISTRY[method]
    assert set(spec.checks) == set(spec.options)
    params = inspect.signature(spec.func).parameters
    assert spec.defaults == {k: params[k].default for k in spec.options}
    # the default passes its own check unchanged (None stays None)
    checked = check_method_options(method, {k: v for k, v in spec.defaults.items()
                                            if k != "device"})
    for k, v in checked.items():
        assert v == spec.defaults[k] or (v is None and spec.defaults[k] is None), k


def test_sliced_defaults_are_read_from_the_signature():
    assert REGISTRY["sliced"].defaults["n_projections"] == 200
    assert REGISTRY["sliced"].defaults["directions"] == "orthogonal"


def test_a_check_names_the_option_and_the_value():
    with pytest.raises(ValueError, match=r"epsilon must be a positive finite number, "
                                         r"got -1\.0"):
        check_method_options("sinkhorn", {"epsilon": -1})
    with pytest.raises(ValueError, match=r"directions must be one of 'orthogonal', "
                                         r"'random', got 'sobol'"):
        check_method_options("sliced", {"directions": "sobol"})
    with pytest.raises(TypeError, match=r"debias must be True or False, got 1"):
        check_method_options("sinkhorn", {"debias": 1})
    with pytest.raises(TypeError, match=r"unexpected option\(s\) eps \(did you mean "
                                        r"'epsilon' for 'eps'\?\)"):
        check_method_options("sinkhorn", {"eps": 0.1})
    # numbers come back as the method uses them
    assert check_method_options("exact", {"max_iter": np.int64(7)}) == {"max_iter": 7}


def test_the_critics_lipschitz_choices_are_the_networks():
    pytest.importorskip("torch")
    from emdkit import wgan

    with pytest.raises(ValueError, match="lipschitz must be one of"):
        check_method_options("critic", {"lipschitz": "weight-norm"})
    for mode in wgan.LIPSCHITZ:
        assert check_method_options("critic", {"lipschitz": mode})["lipschitz"] == mode


def test_auto_checks_its_own_options_and_leaves_the_rest_to_its_choice():
    out = dispatch.check_options("auto", {"memory_limit": 1e9})
    assert out == {"rtol": dispatch.AUTO_RTOL, "memory_limit": 1e9}
    with pytest.raises(ValueError, match="rtol must be"):
        dispatch.check_options("auto", {"rtol": 0})
    with pytest.raises(TypeError, match="method '1d' got unexpected option"):
        emdkit.distance([0.0, 1.0], [2.0], "auto", n_projections=3)


def test_pairs_reuse_the_validated_distributions(rng, monkeypatch):
    # pairwise validates each distribution and the options once; every pair is a
    # Problem built from those arrays (no prepare, no option check per pair)
    import emdkit.geometry.problem as problem
    import emdkit.solvers as solvers

    clouds = [rng.normal(size=(6, 2)) + k for k in range(4)]
    calls = {"prepare": 0, "options": 0, "solve": 0}
    real_prepare, real_check = problem.prepare, solvers.check_method_options
    real_solve = dispatch.solve_problem

    def count(name, fn):
        def wrapped(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        return wrapped
    monkeypatch.setattr(problem, "prepare", count("prepare", real_prepare))
    monkeypatch.setattr(dispatch, "check_method_options", count("options", real_check))
    monkeypatch.setattr(dispatch, "solve_problem", count("solve", real_solve))
    D = emdkit.pairwise(clouds, "exact", scheduler="serial")
    assert calls == {"prepare": 0, "options": 1, "solve": 6}
    assert D[0, 3] == pytest.approx(emdkit.distance(clouds[0], clouds[3]), rel=1e-12)


def test_the_epsilon_schedule_halves_down_to_the_target_once():
    assert eps_rules.schedule(8.0, 1.0, 0.5) == [8.0, 4.0, 2.0, 1.0]
    assert eps_rules.schedule(1.0, 1.0, 0.5) == [1.0]
    assert eps_rules.schedule(3.7, 1.0, 0.5) == [3.7, 1.85, 1.0]
    for top in (2.0 ** 10, 1e6, 12.5):
        s = eps_rules.schedule(top, 1e-3, 0.5)
        assert s[0] == top and s[-1] == 1e-3 and all(e > 1e-3 for e in s[:-1])
        assert all(b == pytest.approx(a / 2) for a, b in zip(s[:-2], s[1:-1]))
