"""BERT: output shapes, padding, the parameter count and a short MLM + NSP run."""
import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from mxnet import autograd, gluon  # noqa: E402

from gluon_dl.models import count_parameters, get_model  # noqa: E402
from gluon_dl.models.bert import gather_positions  # noqa: E402

PAD, CLS, SEP, MASK, FIRST = 0, 1, 2, 3, 4


def _net(**kwargs):
    mx.random.seed(0)
    np.random.seed(0)
    net = get_model("bert_small", **kwargs)
    net.initialize(mx.init.Xavier())
    return net


def _inputs(rng, n=3, T=16, P=3, vocab=1000):
    tokens = rng.randint(FIRST, vocab, (n, T))
    segments = (np.arange(T)[None] >= T // 2).astype(int).repeat(n, axis=0)
    valid = rng.randint(T // 2, T + 1, n)
    positions = rng.randint(1, T // 2, (n, P))
    return [mx.nd.array(a, dtype="int32") for a in (tokens, segments, valid, positions)]


def test_output_shapes_and_mlm_gathers_the_predicted_positions():
    net = _net()
    tokens, segments, valid, positions = _inputs(np.random.RandomState(0))
    encoded, mlm, nsp = net(tokens, segments, valid, positions)
    assert encoded.shape == (3, 16, 64) and mlm.shape == (3, 3, 1000) and nsp.shape == (3, 2)
    gathered = gather_positions(mx.nd, encoded, positions).asnumpy()
    want = np.stack([e[p] for e, p in zip(encoded.asnumpy(), positions.asnumpy())])
    np.testing.assert_allclose(gathered, want, atol=1e-6)
    np.testing.assert_allclose(mlm.asnumpy(), net.mlm.mlp(mx.nd.array(want)).asnumpy(),
                               atol=1e-5)


def test_padding_beyond_valid_len_does_not_change_valid_encodings():
    net = _net()
    rng = np.random.RandomState(1)
    tokens, segments, valid, positions = _inputs(rng)
    encoded = net(tokens, segments, valid, positions)[0].asnumpy()
    tok, seg = tokens.asnumpy(), segments.asnumpy()
    for i, n in enumerate(valid.asnumpy()):
        tok[i, n:] = rng.randint(FIRST, 1000, 16 - n)
        seg[i, n:] = 1 - seg[i, n:]
    encoded2 = net(mx.nd.array(tok, dtype="int32"), mx.nd.array(seg, dtype="int32"), valid,
                   positions)[0].asnumpy()
    for i, n in enumerate(valid.asnumpy()):
        np.testing.assert_allclose(encoded2[i, :n], encoded[i, :n], atol=1e-5)
    # The mask matters: with every position valid, the encodings change.
    full = mx.nd.full((3,), 16, dtype="int32")
    short = int(valid.asnumpy().min())
    assert short < 16
    changed = net(tokens, segments, full, positions)[0].asnumpy()
    assert np.abs(changed - encoded)[np.argmin(valid.asnumpy()), :short].max() > 1e-4


def _expected_parameters(V, d, f, L, max_len):
    embeddings = V * d + 2 * d + max_len * d + 2 * d             # token, segment, position, LN
    block = (4 * (d * d + d)                                      # Q, K, V, O with biases
             + 2 * d + (d * f + f) + (f * d + d) + 2 * d)         # LN, FFN, LN
    mlm = (d * d + d) + 2 * d + (d * V + V)                       # dense, LN, decoder
    nsp = (d * d + d) + (2 * d + 2)                               # pooler, classifier
    return embeddings + L * block + mlm + nsp


def test_parameter_count_matches_the_formula():
    assert count_parameters(get_model("bert_small")) == _expected_parameters(1000, 64, 128, 2, 64)
    net = _net(vocab_size=50, num_hiddens=16, ffn_hiddens=24, num_heads=4, num_layers=3,
               max_len=20)
    net(*_inputs(np.random.RandomState(0), T=10, vocab=50))
    counted = sum(p.data().size for p in net.collect_params().values() if p.grad_req != "null")
    # 1184 embedding + 3 * 1960 block + 1154 masked LM + 306 pooler and NSP
    assert counted == _expected_parameters(50, 16, 24, 3, 20) == 8524


def _pretraining_batch(rng, n, vocab, T=16, P=2):
    """Runs of consecutive ids: masked tokens follow from their neighbours, and
    sentence B continues sentence A exactly when it is the next sentence."""
    half = (T - 3) // 2
    span = vocab - FIRST
    tokens, segments, labels, positions, is_next = [], [], [], [], []
    for _ in range(n):
        start = rng.randint(span)
        a = [FIRST + (start + i) % span for i in range(half)]
        nxt = rng.rand() < 0.5
        b_start = start + half if nxt else rng.randint(span)
        b = [FIRST + (b_start + i) % span for i in range(half)]
        seq = [CLS] + a + [SEP] + b + [SEP]
        pos = rng.choice(np.arange(2, len(seq) - 2), P, replace=False)
        labels.append([seq[p] for p in pos])
        for p in pos:
            seq[p] = MASK
        tokens.append(seq + [PAD] * (T - len(seq)))
        segments.append([0] * (half + 2) + [1] * (T - half - 2))
        positions.append(pos)
        is_next.append(int(nxt))
    valid = [2 * half + 3] * n
    arrays = [np.array(a) for a in (tokens, segments, valid, positions, labels, is_next)]
    return [mx.nd.array(a, dtype="int32") for a in arrays]


def test_mlm_and_nsp_losses_decrease():
    vocab = 40
    net = _net(vocab_size=vocab, dropout=0.0)
    net.hybridize()
    tokens, segments, valid, positions, labels, is_next = _pretraining_batch(
        np.random.RandomState(0), 32, vocab)
    ce = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 5e-3})
    mlm_losses, nsp_losses = [], []
    for step in range(32):
        with autograd.record():
            _, mlm, nsp = net(tokens, segments, valid, positions)
            mlm_loss = ce(mlm, labels).mean()
            nsp_loss = ce(nsp, is_next).mean()
            loss = mlm_loss + nsp_loss
        loss.backward()
        trainer.step(1)
        mlm_losses.append(mlm_loss.asscalar())
        nsp_losses.append(nsp_loss.asscalar())
    assert mlm_losses[0] > 0.8 * np.log(vocab) and nsp_losses[0] > 0.5 * np.log(2)
    assert np.mean(mlm_losses[-3:]) < 0.4 * np.mean(mlm_losses[:3])
    assert np.mean(nsp_losses[-3:]) < 0.6 * np.mean(nsp_losses[:3])
