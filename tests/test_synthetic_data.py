"""The synthetic generators: deterministic given a seed, and exactly the tasks they name."""
import numpy as np
import pytest

from gluon_dl.data import (adding_problem, addition_pairs, copy_pairs, digit_strips,
                           reverse_pairs, synthetic_linear)
from gluon_dl.errors import ArgumentError, ArgumentTypeError


def test_synthetic_linear_follows_the_linear_model():
    X, y = synthetic_linear([2, -3.4], 4.2, 1000, seed=0)
    assert X.shape == (1000, 2) and y.shape == (1000, 1) and X.dtype == y.dtype == np.float32
    coef, *_ = np.linalg.lstsq(np.c_[X, np.ones(len(X))], y[:, 0], rcond=None)
    np.testing.assert_allclose(coef, [2, -3.4, 4.2], atol=0.01)
    np.testing.assert_array_equal(synthetic_linear([2, -3.4], 4.2, 1000, seed=0)[1], y)
    assert not np.array_equal(synthetic_linear([2, -3.4], 4.2, 1000, seed=1)[1], y)
    X, y = synthetic_linear([1.0], 0.0, 5, noise=0.0)
    np.testing.assert_allclose(y[:, 0], X[:, 0])


def test_copy_and_reverse_pairs():
    pairs = copy_pairs(50, length=(2, 5), vocab_size=7, seed=3)
    assert pairs == copy_pairs(50, length=(2, 5), vocab_size=7, seed=3)
    assert all(src == tgt and 2 <= len(src) <= 5 for src, tgt in pairs)
    assert {t for src, _ in pairs for t in src} == set(range(7))
    assert {len(src) for src, _ in pairs} == {2, 3, 4, 5}
    reversed_ = reverse_pairs(50, length=(2, 5), vocab_size=7, seed=3)
    assert [src for src, _ in reversed_] == [src for src, _ in pairs]
    assert all(tgt == src[::-1] for src, tgt in reversed_)
    assert all(len(src) == 4 for src, _ in copy_pairs(10, length=4))


def test_addition_pairs_add_up():
    pairs = addition_pairs(200, digits=2, seed=0)
    assert pairs == addition_pairs(200, digits=2, seed=0)
    for src, tgt in pairs:
        a, b = src.split("+")
        assert int(a) + int(b) == int(tgt) and int(a) < 100 and int(b) < 100


def test_adding_problem_marks_one_value_in_each_half():
    X, y = adding_problem(100, T=20, seed=0)
    assert X.shape == (100, 2, 20) and y.shape == (100,) and X.dtype == y.dtype == np.float32
    markers = X[:, 1]
    assert np.all(markers.sum(axis=1) == 2)
    assert np.all(markers[:, :10].sum(axis=1) == 1) and np.all(markers[:, 10:].sum(axis=1) == 1)
    np.testing.assert_allclose((X[:, 0] * markers).sum(axis=1), y, rtol=1e-6)
    np.testing.assert_array_equal(adding_problem(100, T=20, seed=0)[0], X)


def test_digit_strips_place_the_digits_side_by_side():
    # Each "digit" image is filled with its own label, so the strip spells its labels.
    y = np.arange(20) % 10
    X = np.repeat(y.astype(np.uint8)[:, None, None] + 1, 28, axis=1).repeat(28, axis=2)
    strips, labels = digit_strips(30, num_digits=(1, 3), X=X, y=y, height=32, seed=0)
    assert strips.shape == (30, 32, 84) and labels.shape == (30, 3)
    assert strips.dtype == np.uint8 and labels.dtype == np.int32
    for strip, label in zip(strips, labels):
        k = int((label >= 0).sum())
        assert 1 <= k <= 3 and np.all(label[k:] == -1)
        cells = strip[2:30].reshape(28, 3, 28)
        assert [int(cells[0, i, 0]) - 1 for i in range(k)] == label[:k].tolist()
        assert not strip[:, 28 * k:].any() and not strip[:2].any() and not strip[30:].any()
    again = digit_strips(30, num_digits=(1, 3), X=X, y=y, height=32, seed=0)
    np.testing.assert_array_equal(again[0], strips)


def test_digit_strips_default_to_the_embedded_mnist():
    strips, labels = digit_strips(4, num_digits=2)
    assert strips.shape == (4, 28, 56) and np.all(labels >= 0) and strips.max() == 255


@pytest.mark.parametrize("call, error, match", [
    (lambda: copy_pairs(0), ArgumentError, "n must be at least 1"),
    (lambda: copy_pairs(5, length=(4, 2)), ArgumentError, "range .* is empty"),
    (lambda: copy_pairs(5, length="3"), ArgumentTypeError, "whole number or a"),
    (lambda: reverse_pairs(5, vocab_size=2.5), ArgumentTypeError, "vocab_size must be a whole"),
    (lambda: addition_pairs(True), ArgumentTypeError, "n must be a whole number"),
    (lambda: adding_problem(5, T=1), ArgumentError, "T must be an integer >= 2"),
    (lambda: synthetic_linear([1], 0, 5, noise=-1), ArgumentError, "noise must be >= 0"),
    (lambda: digit_strips(2, X=np.zeros((3, 28, 28), np.uint8)), ArgumentError,
     "pass both X .* and y"),
    (lambda: digit_strips(2, height=20, X=np.zeros((3, 28, 28), np.uint8), y=np.zeros(3)),
     ArgumentError, "height must be an integer >= 28"),
])
def test_bad_arguments_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()
