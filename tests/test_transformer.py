"""Transformer: position encoding, masking, incremental decoding and a toy copy task."""
import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from mxnet import autograd, gluon  # noqa: E402

from gluon_dl.models import get_model  # noqa: E402
from gluon_dl.models.transformer import (BOS, EOS, greedy_translate,  # noqa: E402
                                         positional_encoding)


def _net(hybridize=False, **kwargs):
    mx.random.seed(0)
    np.random.seed(0)
    net = get_model("transformer", **kwargs)
    net.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    return net


def _batch(seed=0, n=3, S=7, T=6, vocab=100):
    rng = np.random.RandomState(seed)
    src = mx.nd.array(rng.randint(3, vocab, (n, S)), dtype="int32")
    tgt = mx.nd.array(rng.randint(3, vocab, (n, T)), dtype="int32")
    valid = mx.nd.array(rng.randint(2, S + 1, n), dtype="int32")
    return src, tgt, valid


def test_positional_encoding_matches_the_paper():
    d = 8
    got = positional_encoding(mx.nd, mx.nd.zeros((1, 6, d)), d, offset=3).asnumpy()[0]
    pos = np.arange(3, 9)[:, None]
    angle = pos / 10000 ** (np.arange(0, d, 2) / d)
    want = np.zeros((6, d))
    want[:, 0::2], want[:, 1::2] = np.sin(angle), np.cos(angle)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_output_shape_and_causal_masking():
    net = _net()
    src, tgt, valid = _batch()
    logits = net(src, tgt, valid).asnumpy()
    assert logits.shape == (3, 6, 100)
    changed = tgt.asnumpy()
    changed[:, 4:] = (changed[:, 4:] + 1) % 100
    logits2 = net(src, mx.nd.array(changed, dtype="int32"), valid).asnumpy()
    np.testing.assert_allclose(logits2[:, :4], logits[:, :4], atol=1e-6)
    assert np.abs(logits2[:, 4:] - logits[:, 4:]).min(axis=-1).max() > 1e-4


def test_source_padding_is_ignored():
    net = _net()
    src, tgt, valid = _batch()
    padded = src.asnumpy()
    for row, n in zip(padded, valid.asnumpy()):
        row[n:] = 0
    logits = net(src, tgt, valid).asnumpy()
    np.testing.assert_allclose(net(mx.nd.array(padded, dtype="int32"), tgt, valid).asnumpy(),
                               logits, atol=1e-6)
    full = mx.nd.full((3,), 7, dtype="int32")
    assert np.abs(net(src, tgt, full).asnumpy() - logits).max() > 1e-4


@pytest.mark.parametrize("hybridize", [False, True])
def test_incremental_decoding_equals_the_parallel_pass(hybridize):
    net = _net(hybridize)
    src, tgt, valid = _batch(seed=1)
    parallel = net(src, tgt, valid).asnumpy()
    state = net.init_state(src, valid)
    for t in range(tgt.shape[1]):
        logits, state = net.decode_step(tgt[:, t], state)
        np.testing.assert_allclose(logits.asnumpy(), parallel[:, t], atol=1e-5)
    assert state["position"] == tgt.shape[1]
    assert state["caches"][0]["self_k"].shape == (3, 4, tgt.shape[1], 8)


def _copy_task(rng, n, T, vocab):
    src = np.zeros((n, T), "int32")
    tgt_in, tgt_out = np.zeros((n, T), "int32"), np.zeros((n, T), "int32")
    weight, valid, seqs = np.zeros((n, T), "float32"), np.zeros(n, "int32"), []
    for i in range(n):
        L = rng.randint(2, T)
        seq = rng.randint(EOS + 1, vocab, L)
        seqs.append(seq.tolist())
        src[i, :L], src[i, L], valid[i] = seq, EOS, L + 1
        tgt_in[i, 0], tgt_in[i, 1:L + 1] = BOS, seq
        tgt_out[i, :L], tgt_out[i, L], weight[i, :L + 1] = seq, EOS, 1
    arrays = [mx.nd.array(a, dtype=a.dtype) for a in (src, tgt_in, tgt_out, weight, valid)]
    return arrays, seqs


def test_tiny_transformer_overfits_a_copy_task():
    vocab, T = 10, 7
    net = _net(hybridize=True, src_vocab=vocab, tgt_vocab=vocab, dropout=0.0)
    (src, tgt_in, tgt_out, weight, valid), seqs = _copy_task(np.random.RandomState(0), 24, T,
                                                             vocab)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 5e-3})
    ce = gluon.loss.SoftmaxCrossEntropyLoss()
    losses = []
    for step in range(64):
        with autograd.record():
            # ce averages over the T steps; rescale to the mean over valid tokens.
            loss = ce(net(src, tgt_in, valid), tgt_out, weight.expand_dims(-1)).sum() * T
            loss = loss / weight.sum()
        loss.backward()
        trainer.step(1)
        losses.append(loss.asscalar())
    assert losses[-1] < 0.05 < np.log(vocab) / 2 < losses[0]
    assert greedy_translate(net, src, valid, max_len=T + 1) == seqs


def test_greedy_translate_stops_at_eos_and_max_len():
    net = _net(src_vocab=10, tgt_vocab=10)
    src, _, valid = _batch(vocab=10, n=2)
    out = greedy_translate(net, src, valid, max_len=4)
    assert len(out) == 2 and all(len(s) <= 4 and EOS not in s for s in out)
