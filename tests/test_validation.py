"""The input contract: each bad input is a ValueError/TypeError naming the argument
and the value received."""

import numpy as np
import pytest

import emdkit

X = np.zeros((3, 2))


@pytest.mark.parametrize("method", ["exact", "1d", "auto"])
def test_empty_samples(method):
    with pytest.raises(ValueError, match=r"a is empty \(shape \(0,\)\)"):
        emdkit.distance([], [1.0], method=method)
    with pytest.raises(ValueError, match=r"b is empty \(shape \(0, 2\)\)"):
        emdkit.distance(X, np.zeros((0, 2)), method=method)


def test_different_dimensions():
    with pytest.raises(ValueError, match=r"same dimension.*a with d=2 .*b with d=3"):
        emdkit.distance(X, np.zeros((4, 3)))


def test_three_dimensional_array():
    with pytest.raises(ValueError, match=r"a must have shape \(n,\) or \(n, d\).*3 "
                                         r"dimensions, shape \(2, 2, 2\)"):
        emdkit.distance(np.zeros((2, 2, 2)), X)


def test_scalar_sample():
    with pytest.raises(ValueError, match=r"b must have shape .*got a scalar 3.0"):
        emdkit.distance([1.0], 3.0)


def test_zero_dimensional_samples():
    with pytest.raises(ValueError, match=r"a has samples of dimension 0"):
        emdkit.distance(np.zeros((3, 0)), np.zeros((3, 0)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(bad):
    a = np.ones((4, 2))
    a[2, 1] = bad
    with pytest.raises(ValueError, match=rf"a contains NaN or inf: 1 non-finite "
                                         rf"value\(s\), the first {bad} at index \(2, 1\)"):
        emdkit.distance(a, X)
    with pytest.raises(ValueError, match=r"b contains NaN or inf.*at index 1"):
        emdkit.distance([0.0, 1.0], [0.0, bad], method="1d")


def test_non_finite_weights():
    with pytest.raises(ValueError, match=r"a_weights contains NaN or inf.*nan at index 1"):
        emdkit.distance(X, X, a_weights=[1.0, np.nan, 1.0])
    with pytest.raises(ValueError, match=r"b_weights contains NaN or inf.*inf at index 0"):
        emdkit.distance(X, X, b_weights=[np.inf, 1.0, 1.0])


def test_negative_weights():
    with pytest.raises(ValueError, match=r"a_weights must be non-negative, got -0.5 at "
                                         r"index 2"):
        emdkit.distance(X, X, a_weights=[1.0, 1.0, -0.5])


def test_zero_total_weight():
    with pytest.raises(ValueError, match=r"b_weights sum to 0.0: the total weight must "
                                         r"be positive"):
        emdkit.distance(X, X, b_weights=[0.0, 0.0, 0.0])


def test_overflowing_total_weight():
    with pytest.raises(ValueError, match=r"a_weights sum to inf: the total weight must "
                                         r"be finite"):
        emdkit.distance(X, X, a_weights=[1e308, 1e308, 1e308])


def test_weights_wrong_length():
    with pytest.raises(ValueError, match=r"a_weights has 2 entries but a has 3 samples"):
        emdkit.distance(X, X, a_weights=[0.5, 0.5])


def test_weights_wrong_shape():
    with pytest.raises(ValueError, match=r"b_weights must be 1-D .*got shape \(3, 1\)"):
        emdkit.distance(X, X, b_weights=np.ones((3, 1)))


@pytest.mark.parametrize("p", [0.5, 0, -1, np.inf, np.nan])
def test_p_below_one_or_not_finite(p):
    with pytest.raises(ValueError, match=rf"p must be a finite real number >= 1, got "
                                         rf"{float(p)}"):
        emdkit.distance(X, X, p=p)


@pytest.mark.parametrize("p", ["2", None, True, 1 + 1j])
def test_p_not_a_number(p):
    with pytest.raises(TypeError, match=r"p must be a real number >= 1, got"):
        emdkit.distance(X, X, p=p)


def test_unknown_metric():
    with pytest.raises(ValueError, match=r"unknown metric 'minkowski'; choose one of "
                                         r"'euclidean', 'cityblock', 'chebyshev'"):
        emdkit.distance(X, X, metric="minkowski")


def test_squared_euclidean_metric_explains_p():
    with pytest.raises(ValueError, match=r"unknown metric 'sqeuclidean'.*metric='euclidean'"
                                         r" with p=2"):
        emdkit.distance(X, X, metric="sqeuclidean")


def test_metric_not_string_or_callable():
    with pytest.raises(TypeError, match=r"metric must be one of .* got 2"):
        emdkit.distance(X, X, metric=2)


def test_metric_aliases():
    a, b = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])
    assert emdkit.distance(a, b, metric="manhattan") == 7.0
    assert emdkit.distance(a, b, metric="L2") == 5.0
    assert emdkit.distance(a, b, metric="linf") == 4.0


def test_strings_rejected():
    with pytest.raises(TypeError, match=r"a must be an array of numbers, got the string "
                                        r"'abc'"):
        emdkit.distance("abc", [1.0])
    with pytest.raises(TypeError, match=r"b must be an array of numbers, got .*dtype <U1"):
        emdkit.distance([1.0], ["a", "b"])


def test_objects_rejected():
    with pytest.raises(TypeError, match=r"a must be an array of numbers, got .*object"):
        emdkit.distance([object(), object()], [1.0])
    with pytest.raises(TypeError, match=r"a_weights must be an array of numbers"):
        emdkit.distance([1.0], [1.0], a_weights=[{}])


def test_complex_rejected():
    with pytest.raises(TypeError, match=r"b must hold real numbers, got complex"):
        emdkit.distance([1.0], [1j])


def test_ragged_lists_rejected():
    with pytest.raises(ValueError, match=r"a must be a rectangular array of numbers"):
        emdkit.distance([[0.0, 1.0], [2.0]], [[1.0, 1.0]])


def test_integers_become_floats():
    value = emdkit.distance([0, 1, 2], [1, 2, 3])
    assert isinstance(value, float) and value == 1.0
    assert emdkit.distance(np.array([[0, 0]], dtype=np.int8), [[3, 4]]) == 5.0


def test_object_arrays_of_numbers_accepted():
    assert emdkit.distance(np.array([1, 2.5], dtype=object), [1.0, 2.5]) == 0.0


def test_inputs_not_modified():
    a = np.array([[0.0, 1.0], [2.0, 3.0]])
    w = np.array([1.0, 3.0])
    a0, w0 = a.copy(), w.copy()
    emdkit.distance(a, a + 1, a_weights=w, p=2)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(w, w0)
