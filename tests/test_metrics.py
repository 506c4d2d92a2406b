"""BLEU: the course's examples scored by hand, the brevity penalty, k, the corpus form."""
import math

import pytest

import gluon_dl
from gluon_dl.errors import ArgumentError, ArgumentTypeError
from gluon_dl.metrics import bleu, corpus_bleu


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_a_perfect_translation_scores_one(k):
    assert bleu("je suis chez moi .", "je suis chez moi .", k) == pytest.approx(1.0)
    assert bleu(["va", "!"], ["va", "!"], k) == pytest.approx(1.0)


def test_the_course_example_scores_what_hand_arithmetic_gives():
    # "il est riche ." for "il est calme .": 3 of 4 words, 1 of 3 bigrams, same length.
    assert bleu("il est riche .", "il est calme .", k=2) == pytest.approx(
        math.sqrt(3 / 4) * (1 / 3) ** 0.25)
    assert bleu("il est riche .", "il est calme .", k=2) == pytest.approx(0.658, abs=5e-4)


def test_the_brevity_penalty_charges_a_short_prediction():
    # every predicted word and bigram is right, but 2 words for 4
    assert bleu("je suis", "je suis chez moi", k=2) == pytest.approx(math.exp(1 - 4 / 2))
    # a longer prediction pays no penalty, only its lower precision
    assert bleu("a b c d", "a b", k=1) == pytest.approx((2 / 4) ** 0.5)


def test_k_weighs_longer_ngrams_and_counts_are_clipped():
    pred, label = "a b a b", "a b c d"
    # unigrams: "a" and "b" match once each (clipped) = 2/4; bigrams: "a b" once = 1/3;
    # trigrams: none
    assert bleu(pred, label, k=1) == pytest.approx(0.5 ** 0.5)
    assert bleu(pred, label, k=2) == pytest.approx(0.5 ** 0.5 * (1 / 3) ** 0.25)
    assert bleu(pred, label, k=3) == 0.0
    assert bleu("the the the", "the cat", k=1) == pytest.approx((1 / 3) ** 0.5)


def test_short_and_empty_predictions():
    assert bleu("", "il est", k=2) == 0.0
    assert bleu([], [], k=2) == 1.0
    # one word: no bigram to score, unigram precision times the penalty
    assert bleu("il", "il est", k=2) == pytest.approx(math.exp(1 - 2))


def test_corpus_bleu_sums_counts_before_dividing():
    preds, labels = ["il est riche .", "va !"], ["il est calme .", "va !"]
    # unigrams 5/6, bigrams 2/4 (1 + 1 of 3 + 1), equal total lengths
    assert corpus_bleu(preds, labels, k=2) == pytest.approx((5 / 6) ** 0.5 * (2 / 4) ** 0.25)
    assert corpus_bleu(preds, labels) != pytest.approx(
        (bleu(preds[0], labels[0]) + bleu(preds[1], labels[1])) / 2)
    assert corpus_bleu(labels, labels, k=4) == pytest.approx(1.0)
    # a one-word sentence has no bigrams but does not zero the corpus
    assert corpus_bleu(["va", "il est"], ["va", "il est"]) == pytest.approx(1.0)


def test_bleu_is_exported_at_the_top_level():
    assert gluon_dl.bleu is bleu and gluon_dl.corpus_bleu is corpus_bleu


@pytest.mark.parametrize("call, error", [
    (lambda: bleu("a", "a", k=0), ArgumentError),
    (lambda: bleu("a", "a", k=True), ArgumentError),
    (lambda: bleu(3, "a"), ArgumentTypeError),
    (lambda: bleu(["a", 1], "a"), ArgumentTypeError),
    (lambda: corpus_bleu(["a"], ["a", "b"]), ArgumentError),
    (lambda: corpus_bleu([], []), ArgumentError),
    (lambda: corpus_bleu("a", "a"), ArgumentTypeError),
])
def test_bad_arguments_get_the_projects_errors(call, error):
    with pytest.raises(error):
        call()


def test_evaluate_bleu_refuses_a_model_that_does_not_translate():
    mx = pytest.importorskip("mxnet")
    from gluon_dl.data import Vocab
    from gluon_dl.metrics import evaluate_bleu

    net = mx.gluon.nn.Dense(2)
    net.initialize()
    vocab = Vocab(["a"], reserved_tokens=["<pad>", "<bos>", "<eos>"])
    with pytest.raises(ArgumentTypeError, match="no translation model"):
        evaluate_bleu(net, [["a"]], [["a"]], vocab, vocab, 4)
    with pytest.raises(ArgumentError, match="one target per source"):
        evaluate_bleu(net, [["a"]], [], vocab, vocab, 4)
