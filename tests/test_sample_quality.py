"""The inception score: its bounds, a hand-computed case, and what it refuses."""
import math

import numpy as np
import pytest

from gluon_dl.errors import ArgumentError
from gluon_dl.sample_quality import inception_score


def test_confident_samples_covering_every_class_score_the_class_count():
    probs = np.eye(10)[np.arange(50) % 10]
    assert inception_score(probs) == pytest.approx(10.0)


@pytest.mark.parametrize("row", [np.eye(10)[3], np.full(10, 0.1)], ids=["one-class", "uniform"])
def test_samples_that_all_look_alike_score_one(row):
    assert inception_score(np.tile(row, (20, 1))) == pytest.approx(1.0)


def test_hand_computed_score():
    # Two samples, p(y|x) = (0.9, 0.1) and (0.1, 0.9): p(y) = (0.5, 0.5), and each
    # KL is 0.9 log 1.8 + 0.1 log 0.2.
    probs = np.array([[0.9, 0.1], [0.1, 0.9]])
    kl = 0.9 * math.log(1.8) + 0.1 * math.log(0.2)
    assert inception_score(probs) == pytest.approx(math.exp(kl))


def test_score_lies_between_one_and_the_class_count():
    rng = np.random.RandomState(0)
    logits = rng.normal(0, 3, (200, 10))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert 1.0 < inception_score(probs) < 10.0


@pytest.mark.parametrize("probs, match", [
    (np.ones(10) / 10, r"shape \(N, classes\)"),
    (np.zeros((0, 10)), r"shape \(N, classes\)"),
    (np.ones((4, 1)), r"shape \(N, classes\)"),
    (np.full((4, 10), 0.5), "apply softmax"),
    (np.array([[1.5, -0.5]]), "apply softmax"),
    (np.array([[np.nan, 1.0]]), "apply softmax"),
])
def test_refuses_what_is_not_class_probabilities(probs, match):
    with pytest.raises(ArgumentError, match=match):
        inception_score(probs)
