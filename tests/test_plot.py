"""emdkit.plot: helpers take axes, draw what they are given, and return the axes."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib", reason="plotting needs matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import emdkit  # noqa: E402
from emdkit import plot  # noqa: E402


def test_plan_draws_one_segment_per_carried_entry():
    a = np.array([[0.0, 0.0], [1.0, 0.0]])
    b = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    P = np.array([[0.3, 0.2, 0.0], [0.0, 0.0, 0.5]])
    fig, ax = plt.subplots()
    assert plot.plan(a, b, P, ax) is ax
    lines = ax.collections[0]
    segs = lines.get_segments()
    assert len(segs) == 3
    # the heaviest entry first, drawn from a[1] to b[2], fully opaque
    np.testing.assert_array_equal(segs[0], [[1.0, 0.0], [2.0, 1.0]])
    alphas = lines.get_colors()[:, 3]
    np.testing.assert_allclose(alphas, [1.0, 0.6, 0.4])
    plt.close(fig)


def test_plan_checks_the_shape():
    with pytest.raises(ValueError, match=r"coupling must have shape \(2, 3\)"):
        plot.plan(np.zeros((2, 2)), np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="a must be 1-D or 2-D points"):
        plot.samples(np.zeros((4, 3)), np.zeros((4, 2)))


def test_transport_solves_and_titles():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 2))
    ax = plot.transport(x, x + [1.0, 0.0], p=2)
    assert ax.get_title() == "exact: W_2 = 1"
    assert len(ax.collections[0].get_segments()) == 10      # a matching: 10 segments
    with pytest.raises(ValueError, match="returns no transport plan"):
        plot.transport(x, x + 1.0, method="sliced")
    plt.close("all")


def test_one_dimensional_samples_on_a_line_and_curves():
    ax = plot.samples([0.0, 1.0], [2.0, 3.0])
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_array_equal(offsets, [[0.0, 0.0], [1.0, 0.0]])
    ax = plot.curve([1, 2, 3], {"a": [1, 2, 3]}, bands={"a": ([0, 1, 2], [2, 3, 4])},
                    logx=True)
    assert ax.get_xscale() == "log" and len(ax.lines) == 1 and len(ax.collections) == 1
    plt.close("all")


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch", reason="torch input needs torch")
    x = torch.randn(6, 2)
    r = emdkit.solve(x, x + 1.0)
    ax = plot.plan(x, x + 1.0, r.plan)
    assert len(ax.collections[0].get_segments()) == 6
    plt.close("all")


def test_lazy_submodules():
    import subprocess
    import sys

    code = ("import sys, emdkit; assert 'matplotlib' not in sys.modules; "
            "assert 'torch' not in sys.modules; emdkit.datasets.translation(3); "
            "emdkit.plot; assert 'emdkit.plot' in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_weights_size_the_markers_and_images_are_drawn_as_imshow_draws_them():
    h = np.zeros((5, 6))
    h[1, 4], h[3, 0] = 3.0, 1.0                     # row 1, column 4 carries 3x
    g = np.zeros((5, 6))
    g[4, 2] = 1.0
    (x, wx), (y, wy) = emdkit.grid(h), emdkit.grid(g)
    ax = plot.transport(x, y, a_weights=wx, b_weights=wy, image=True)
    a_pts, b_pts = ax.collections[1], ax.collections[2]     # lines, then a, then b
    sizes = a_pts.get_sizes()
    assert sizes[0] / sizes[1] == pytest.approx(3.0)       # area proportional to weight
    # (row, column) drawn as (x = column, y = row), row 0 at the top
    np.testing.assert_array_equal(a_pts.get_offsets(), [[4, 1], [0, 3]])
    assert ax.yaxis_inverted()
    assert b_pts.get_facecolors().size == 0 or b_pts.get_facecolors()[0][3] == 0  # hollow
    with pytest.raises(ValueError, match="a_weights must have one weight per point"):
        plot.samples(x, y, a_weights=[1.0])


def test_a_plan_without_weights_sizes_points_by_its_marginals():
    x = np.array([[0.0, 0.0], [1.0, 0.0]])
    P = np.array([[0.75], [0.25]])
    ax = plot.plan(x, np.array([[0.0, 1.0]]), P)
    sizes = ax.collections[1].get_sizes()
    assert sizes[0] / sizes[1] == pytest.approx(3.0)


def test_comparison_plot_keeps_its_labels_inside_the_figure():
    table = emdkit.compare([0.0, 1.0, 2.0], [0.5, 1.5], methods=["1d", "exact"])
    ax = table.plot()
    assert ax.figure.get_layout_engine() is not None        # constrained: no clipping
