"""TCN (causality, receptive field, adding problem), CTC decoding and CRNN + CTC training."""
import itertools

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from mxnet import autograd, gluon  # noqa: E402

from gluon_dl import ctc  # noqa: E402
from gluon_dl.errors import ArgumentError  # noqa: E402
from gluon_dl.models import get_model  # noqa: E402
from gluon_dl.models.tcn import receptive_field  # noqa: E402


def _seed(seed=0):
    mx.random.seed(seed)
    np.random.seed(seed)


def _net(name, **kwargs):
    _seed()
    net = get_model(name, **kwargs)
    net.initialize(mx.init.Xavier())
    return net


# --------------------------------------------------------------------------- TCN

@pytest.mark.parametrize("name", ["tcn", "wavenet_tcn"])
def test_tcn_is_causal(name):
    net = _net(name)
    x = np.random.RandomState(1).randn(2, 2, 40).astype("float32")
    y = net(mx.nd.array(x)).asnumpy()
    assert y.shape == (2, 1, 40)
    t0 = 25
    x2 = x.copy()
    x2[:, :, t0:] += np.random.RandomState(2).randn(2, 2, 40 - t0)
    y2 = net(mx.nd.array(x2)).asnumpy()
    np.testing.assert_array_equal(y2[:, :, :t0], y[:, :, :t0])
    assert np.abs(y2[:, :, t0] - y[:, :, t0]).max() > 1e-4, "step t0 must see input t0"


@pytest.mark.parametrize("name, kernel, rf", [("tcn", 3, 125), ("wavenet_tcn", 2, 63)])
def test_tcn_receptive_field_matches_the_formula(name, kernel, rf):
    assert receptive_field(kernel, 5) == rf == 1 + 2 * (kernel - 1) * (2 ** 5 - 1)
    net = _net(name)
    assert net.receptive_field == rf
    T = rf + 20
    x = mx.nd.array(np.random.RandomState(0).rand(4, 2, T))
    x.attach_grad()
    with autograd.record():
        last = net(x)[:, :, T - 1].sum()
    last.backward()
    seen = np.flatnonzero(np.abs(x.grad.asnumpy()).sum(axis=(0, 1)) > 0)
    assert seen.min() == T - rf and seen.max() == T - 1


def _adding_problem(rng, n, T):
    values = rng.rand(n, T)
    markers = np.zeros((n, T))
    first = rng.randint(0, T // 2, n)
    second = rng.randint(T // 2, T, n)
    markers[np.arange(n), first] = 1
    markers[np.arange(n), second] = 1
    target = values[np.arange(n), first] + values[np.arange(n), second]
    X = np.stack([values, markers], axis=1).astype("float32")
    return mx.nd.array(X), mx.nd.array(target[:, None].astype("float32"))


def test_tcn_learns_the_adding_problem():
    net = _net("tcn", levels=(24,) * 3)   # receptive field 29 >= T
    net.hybridize()
    rng = np.random.RandomState(0)
    X, y = _adding_problem(rng, 512, 16)
    X_te, y_te = _adding_problem(np.random.RandomState(1), 256, 16)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 1e-2})
    l2 = gluon.loss.L2Loss()

    def test_mse():
        return 2 * l2(net(X_te)[:, :, -1], y_te).mean().asscalar()

    before = test_mse()
    for step in range(100):
        idx = rng.randint(0, 512, 32)
        with autograd.record():
            loss = l2(net(X[idx])[:, :, -1], y[idx]).mean()
        loss.backward()
        trainer.step(1)
    # Always predicting the mean 1.0 gives an MSE of 1/6; 100 steps reach about 0.02.
    assert test_mse() < 0.3 / 6 < before


# --------------------------------------------------------------------------- CTC decoding

def _one_hot_probs(path, num_symbols, confidence=0.9):
    probs = np.full((len(path), num_symbols), (1 - confidence) / (num_symbols - 1))
    probs[np.arange(len(path)), path] = confidence
    return probs


def test_greedy_collapses_repeats_and_drops_blanks():
    b = 3   # blank is the last of 4 symbols
    probs = _one_hot_probs([1, 1, b, 1, 2, 2, b, b, 0], 4)
    assert ctc.greedy_decode(probs) == [1, 1, 2, 0]
    assert ctc.greedy_decode(np.stack([probs, probs[::-1]])) == [[1, 1, 2, 0], [0, 2, 1, 1]]
    assert ctc.greedy_decode(probs, lengths=None, blank=1) == [3, 2, 3, 0]
    assert ctc.greedy_decode(probs[None], lengths=[4]) == [[1, 1]]


def test_beam_search_beats_greedy_on_the_classic_counterexample():
    # Two frames, symbols {a, blank}: the best path is "blank blank" (0.36), but
    # "a" has aa + a- + -a = 0.16 + 0.24 + 0.24 = 0.64.
    probs = np.array([[0.4, 0.6], [0.4, 0.6]])
    assert ctc.greedy_decode(probs) == []
    seq, score = ctc.beam_search_decode(probs, beam_width=2, return_scores=True)
    assert seq == [0]
    np.testing.assert_allclose(np.exp(score), 0.64)
    np.testing.assert_allclose(np.exp(ctc.sequence_log_prob(probs, [])), 0.36)


def _all_labelings(T, num_classes):
    for n in range(T + 1):
        yield from itertools.product(range(num_classes), repeat=n)


def test_wide_beam_search_is_exact():
    rng = np.random.RandomState(0)
    for _ in range(5):
        probs = rng.dirichlet(np.ones(3), size=5)   # T=5, classes {0, 1} + blank
        scored = {lab: ctc.sequence_log_prob(probs, lab) for lab in _all_labelings(5, 2)}
        np.testing.assert_allclose(np.logaddexp.reduce(list(scored.values())), 0.0, atol=1e-9)
        best = max(scored, key=scored.get)
        seq, score = ctc.beam_search_decode(probs, beam_width=64, return_scores=True)
        assert tuple(seq) == best
        np.testing.assert_allclose(score, scored[best], atol=1e-9)


def test_beam_width_one_equals_greedy_on_confident_frames():
    rng = np.random.RandomState(0)
    for _ in range(20):
        path = rng.randint(0, 5, size=12)
        probs = rng.dirichlet(np.ones(5), size=12) * 0.05 + _one_hot_probs(path, 5, 1.0) * 0.95
        assert ctc.beam_search_decode(probs, beam_width=1) == ctc.greedy_decode(probs)


def test_pad_labels_and_validation():
    np.testing.assert_array_equal(ctc.pad_labels([[1, 2], [3]]), [[1, 2], [3, -1]])
    with pytest.raises(ArgumentError, match="max_len"):
        ctc.pad_labels([[1, 2, 3]], max_len=2)
    with pytest.raises(ArgumentError, match="beam_width"):
        ctc.beam_search_decode(np.ones((2, 2)) / 2, beam_width=0)


def test_gluon_ctc_loss_uses_the_last_index_as_blank():
    rng = np.random.RandomState(0)
    logits = rng.randn(3, 8, 5).astype("float32")   # 4 classes + blank
    labels = [[0, 1, 1], [3], [2, 0]]
    loss = ctc.ctc_loss()(mx.nd.array(logits), mx.nd.array(ctc.pad_labels(labels))).asnumpy()
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    want = [-ctc.sequence_log_prob(p, lab) for p, lab in zip(probs, labels)]
    np.testing.assert_allclose(loss, want, rtol=1e-4)
    # With label lengths the padding value no longer matters.
    padded0 = mx.nd.array([[0, 1, 1], [3, 0, 0], [2, 0, 0]])
    loss_len = ctc.ctc_loss()(mx.nd.array(logits), padded0, None, mx.nd.array([3, 1, 2]))
    np.testing.assert_allclose(loss_len.asnumpy(), want, rtol=1e-4)


# --------------------------------------------------------------------------- CRNN

# 3x5 bitmaps of the digits 0-9.
_GLYPHS = ["111101101101111", "010110010010111", "111001111100111", "111001111001111",
           "101101111001001", "111100111001111", "111100111101111", "111001001001001",
           "111101111101111", "111101111001111"]


def digit_strips(rng, n, width=64, max_digits=4, scale=3):
    """Noisy 1x32xW images of 1..max_digits digits and their label rows."""
    images = rng.rand(n, 1, 32, width).astype("float32") * 0.2
    labels = []
    cell = 4 * scale + 2
    for i in range(n):
        digits = rng.randint(0, 10, rng.randint(1, max_digits + 1))
        x = rng.randint(0, width - cell * len(digits) + 1)
        y = rng.randint(2, 32 - 5 * scale - 2)
        for d in digits:
            glyph = np.array([int(c) for c in _GLYPHS[d]], dtype="float32").reshape(5, 3)
            big = np.kron(glyph, np.ones((scale, scale)))
            images[i, 0, y:y + 5 * scale, x:x + 3 * scale] += big * 0.8
            x += cell
        labels.append(list(digits))
    return (images - 0.5) / 0.5, labels


def test_crnn_output_shape_puts_the_blank_last():
    net = _net("crnn")
    out = net(mx.nd.zeros((2, 1, 32, 100)))
    assert out.shape == (2, 25, 11) and net.config.num_classes == 10
    assert _net("crnn", num_classes=36)(mx.nd.zeros((1, 1, 32, 64))).shape == (1, 16, 37)


def test_crnn_learns_digit_strips_with_ctc():
    net = _net("crnn", convs=((8, (2, 2)), (16, (2, 2)), (16, (2, 1)), (32, (2, 1))),
               final_channels=32, hidden=32, num_layers=1)
    net.hybridize()
    rng = np.random.RandomState(0)
    images, labels = digit_strips(rng, 64)
    X, Y = mx.nd.array(images), mx.nd.array(ctc.pad_labels(labels))
    held_X, held_labels = digit_strips(np.random.RandomState(1), 32)
    held_Y = mx.nd.array(ctc.pad_labels(held_labels))
    loss_fn = ctc.ctc_loss()

    def held_out_loss():
        return loss_fn(net(mx.nd.array(held_X)), held_Y).mean().asscalar()

    before = held_out_loss()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 1e-2})
    losses = []
    for step in range(30):
        idx = mx.nd.array(rng.randint(0, 64, 16))
        with autograd.record():
            loss = loss_fn(net(X.take(idx)), Y.take(idx)).mean()
        loss.backward()
        trainer.step(1)
        losses.append(loss.asscalar())
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < 0.4 * np.mean(losses[:3])
    assert held_out_loss() < 0.4 * before
