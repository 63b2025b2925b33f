"""emdkit.compare: the table of every method, and its renderings."""

import math

import numpy as np
import pytest

import emdkit
from emdkit import datasets


@pytest.fixture
def translated():
    x = np.random.default_rng(0).normal(size=(150, 2))
    return x, x + [3.0, 4.0]


def test_values_match_distance_and_errors_against_the_truth(translated):
    x, y = translated
    table = emdkit.compare(x, y, truth=5.0)
    assert [r.method for r in table.rows] == ["exact", "sinkhorn", "sliced", "max-sliced"]
    for row in table.rows:
        ref = emdkit.distance(x, y, row.method, seed=0) if row.method in (
            "sliced", "max-sliced") else emdkit.distance(x, y, row.method)
        assert row.value == pytest.approx(ref, rel=1e-12)     # same call, same number
        assert row.error == pytest.approx(row.value / 5.0 - 1.0)
        assert row.seconds > 0 and row.converged
    assert table["exact"].error == pytest.approx(0.0, abs=1e-9)   # translation: |t|
    # sliced W_1 of a translation is c_2 |t| = (2 / pi) * 5, up to its Monte Carlo error
    assert table["sliced"].value == pytest.approx(10 / math.pi, rel=0.05)
    assert table["sliced"].ci[0] < table["sliced"].value < table["sliced"].ci[1]


def test_without_truth_errors_are_against_exact(translated):
    x, y = translated
    table = emdkit.compare(x, y, methods=["sinkhorn", "exact"])
    assert table.reference == "exact on the samples"
    assert table.truth == pytest.approx(table["exact"].value)
    assert table["sinkhorn"].error == pytest.approx(
        table["sinkhorn"].value / table["exact"].value - 1)


def test_one_dimensional_default_includes_1d_and_pair_input():
    pair = datasets.uniforms_1d(2000, a=(0, 1), b=(0.5, 2.5), seed=0)
    table = emdkit.compare(pair, p=2)
    assert table["1d"].value == pytest.approx(table["exact"].value, rel=1e-9)
    assert table.truth == pair.truth(2) and table.reference == "population truth"
    # a pair whose truth is unknown for this p falls back to exact
    table = emdkit.compare(datasets.gaussian_scale(100, d=2), p=3, methods=["exact"])
    assert table.reference == "exact on the samples"


def test_the_table_says_which_truth_and_explains_the_sampling_gap():
    # d = 10, n = 300: exact on the samples overshoots the population W_1 = 1 by far
    pair = datasets.translation(300, d=10, shift=1.0, seed=0)
    table = emdkit.compare(pair, methods=["exact"])
    assert "population truth = 1" in str(table) and "error vs population truth" in str(table)
    assert table["exact"].error > 0.05
    assert "finite samples' own gap to the population" in table["exact"].note
    given = emdkit.compare(pair.x, pair.y, truth=1.0, methods=["exact"])
    assert given.reference == "truth" and given["exact"].note == ""


def test_methods_that_do_not_apply_get_a_row_saying_why(translated):
    x, y = translated
    table = emdkit.compare(x, y, methods=["1d", "critic", "exact"], p=2)
    assert table["1d"].value is None and "1-D" in table["1d"].note
    assert table["critic"].value is None and "p = 1 only" in table["critic"].note
    assert table["exact"].value == pytest.approx(5.0)
    assert "-" in str(table).splitlines()[3]     # the 1d row prints dashes


def test_per_method_options_and_seed(translated):
    x, y = translated
    t1 = emdkit.compare(x, y, methods=["sinkhorn", "sliced"],
                        options={"sinkhorn": {"epsilon": 0.5}, "sliced": {"n_projections": 7}})
    t2 = emdkit.compare(x, y, methods=["sinkhorn", "sliced"])
    assert t1["sinkhorn"].value > t2["sinkhorn"].value         # more blur, larger cost
    assert t1["sliced"].value == emdkit.distance(x, y, "sliced", n_projections=7, seed=0)
    t3 = emdkit.compare(x, y, methods=["sliced"], seed=5)
    assert t3["sliced"].value == emdkit.distance(x, y, "sliced", seed=5)


def test_renderings(translated):
    x, y = translated
    table = emdkit.compare(x, y, truth=5.0, methods=["exact", "sliced"])
    text = str(table)
    assert text.splitlines()[0].startswith("W_1 between samples of shapes (150, 2)")
    assert "error vs truth" in text and "exact" in text and repr(table) == text
    md = table._repr_markdown_()
    assert "| method | W_1 | error vs truth | seconds | note |" in md
    assert md.count("\n| ") == 3
    html = table._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == 3
    d = table.to_dict()
    assert set(d) == {"exact", "sliced"} and d["exact"]["value"] == pytest.approx(5.0)
    with pytest.raises(KeyError, match="no row for method 'critic'"):
        table["critic"]


def test_bad_arguments(translated):
    x, y = translated
    with pytest.raises(ValueError, match="unknown method 'lp' in methods"):
        emdkit.compare(x, y, methods=["lp"])
    with pytest.raises(TypeError, match=r"options\['sinkhorn'\] must be a dict"):
        emdkit.compare(x, y, options={"sinkhorn": 0.1})
    with pytest.raises(TypeError, match="options must be a dict of per-method"):
        emdkit.compare(x, y, options=[("sinkhorn", {})])
    with pytest.raises(ValueError, match="options given for unknown method"):
        emdkit.compare(x, y, options={"simplex": {}})
    with pytest.raises(ValueError, match="truth must be a finite non-negative number"):
        emdkit.compare(x, y, truth=float("nan"))
    with pytest.raises(TypeError, match="needs two samples"):
        emdkit.compare(x)
    with pytest.raises(TypeError, match="b must be omitted"):
        emdkit.compare(datasets.translation(10), y)
    with pytest.raises(ValueError, match="p must be"):
        emdkit.compare(x, y, p=0.5)
    # bad samples: the usual validation error, in the row of every method
    table = emdkit.compare(x, y[:, :1], methods=["exact"])
    assert table["exact"].value is None and "dimension" in table["exact"].note


def test_plot_returns_axes(translated):
    pytest.importorskip("matplotlib", reason="plotting needs matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    x, y = translated
    table = emdkit.compare(x, y, truth=5.0, methods=["exact", "sinkhorn", "sliced"])
    ax = table.plot()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.collections) == 3            # one point per method
    ax2 = emdkit.compare(x, y, methods=["sliced"]).plot()   # no reference: values
    assert ax2.get_yscale() == "linear"
