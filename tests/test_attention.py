"""Masked softmax and attention layers against numpy references."""
import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from gluon_dl.errors import ArgumentError  # noqa: E402
from gluon_dl.models.layers.attention import (AdditiveAttention,  # noqa: E402
                                              DotProductAttention, MultiHeadAttention)
from gluon_dl.models.layers.masking import MaskedSoftmax, masked_softmax, sequence_mask  # noqa: E402

N, Q, K, D = 2, 3, 5, 8
VALID_LENS = {
    "per_example": np.array([2, 4], dtype="int32"),
    "per_query": np.array([[1, 2, 3], [5, 4, 1]], dtype="int32"),
}


def _np_masked_softmax(scores, valid_len):
    lens = valid_len.reshape(valid_len.shape[0], -1, 1)
    if scores.ndim == 4:
        lens = lens[:, None]
    keep = np.arange(scores.shape[-1]) < lens
    e = np.exp(scores - scores.max(-1, keepdims=True)) * keep
    return e / e.sum(-1, keepdims=True)


def _qkv(seed=0):
    rng = np.random.RandomState(seed)
    return [rng.randn(N, T, D).astype("float32") for T in (Q, K, K)]


def _w(dense):
    return dense.weight.data().asnumpy()


@pytest.mark.parametrize("kind", sorted(VALID_LENS))
def test_masked_softmax_zeroes_masked_keys_and_rows_sum_to_one(kind):
    vl = VALID_LENS[kind]
    scores = np.random.RandomState(0).randn(N, Q, K).astype("float32") * 5
    p = masked_softmax(mx.nd, mx.nd.array(scores), mx.nd.array(vl, dtype="int32")).asnumpy()
    keep = np.broadcast_to(np.arange(K) < vl.reshape(N, -1, 1), p.shape)
    assert (p[~keep] == 0).all(), "masked keys must get exactly zero weight"
    assert (p[keep] > 0).all()
    np.testing.assert_allclose(p.sum(-1), 1, rtol=1e-6)
    np.testing.assert_allclose(p, _np_masked_softmax(scores, vl), rtol=1e-5, atol=1e-7)


def test_masked_softmax_without_lengths_is_softmax_and_block_hybridizes():
    scores = mx.nd.array(np.random.RandomState(1).randn(N, Q, K))
    np.testing.assert_allclose(masked_softmax(mx.nd, scores).asnumpy(),
                               mx.nd.softmax(scores).asnumpy(), rtol=1e-6)
    block = MaskedSoftmax()
    vl = mx.nd.array(VALID_LENS["per_query"], dtype="int32")
    want = block(scores, vl).asnumpy()
    block.hybridize()
    np.testing.assert_allclose(block(scores, vl).asnumpy(), want, rtol=1e-6)


@pytest.mark.parametrize("kind", sorted(VALID_LENS))
def test_masked_softmax_with_a_head_axis_masks_every_head_alike(kind):
    vl = VALID_LENS[kind]
    scores = np.random.RandomState(2).randn(N, 2, Q, K).astype("float32")
    p = masked_softmax(mx.nd, mx.nd.array(scores), mx.nd.array(vl), head_axis=True).asnumpy()
    np.testing.assert_allclose(p, _np_masked_softmax(scores, vl), rtol=1e-5, atol=1e-7)


def test_sequence_mask_marks_valid_steps():
    m = sequence_mask(mx.nd, mx.nd.zeros((3, 4, 7)), mx.nd.array([0, 2, 4], dtype="int32"))
    np.testing.assert_array_equal(m.asnumpy(), [[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]])


@pytest.mark.parametrize("kind", sorted(VALID_LENS))
def test_dot_product_attention_equals_numpy(kind):
    q, k, v = _qkv()
    vl = VALID_LENS[kind]
    att = DotProductAttention(dropout=0.5)  # dropout is inactive outside training
    out = att(*[mx.nd.array(a) for a in (q, k, v)], mx.nd.array(vl, dtype="int32")).asnumpy()
    weights = _np_masked_softmax(q @ k.transpose(0, 2, 1) / np.sqrt(D), vl)
    np.testing.assert_allclose(att.attention_weights.asnumpy(), weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, weights @ v, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(VALID_LENS))
def test_additive_attention_equals_numpy(kind):
    q, k, v = _qkv(1)
    vl = VALID_LENS[kind]
    mx.random.seed(0)
    att = AdditiveAttention(num_hiddens=6, dropout=0.1)
    att.initialize(mx.init.Normal(0.5))
    out = att(*[mx.nd.array(a) for a in (q, k, v)], mx.nd.array(vl, dtype="int32")).asnumpy()
    feats = np.tanh((q @ _w(att.W_q).T)[:, :, None] + (k @ _w(att.W_k).T)[:, None])
    weights = _np_masked_softmax((feats @ _w(att.w_v).T)[..., 0], vl)
    np.testing.assert_allclose(out, weights @ v, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(VALID_LENS))
def test_multi_head_attention_equals_manual_split_and_concat(kind):
    q, k, v = _qkv(2)
    vl, heads, hidden = VALID_LENS[kind], 2, 8
    mx.random.seed(0)
    mha = MultiHeadAttention(hidden, heads, dropout=0.2, use_bias=True)
    mha.initialize(mx.init.Normal(0.3))
    out = mha(*[mx.nd.array(a) for a in (q, k, v)], mx.nd.array(vl, dtype="int32")).asnumpy()
    assert out.shape == (N, Q, hidden)
    assert mha.attention_weights.shape == (N, heads, Q, K)

    def proj(dense, x):
        return x @ _w(dense).T + dense.bias.data().asnumpy()

    d = hidden // heads
    qp, kp, vp = proj(mha.W_q, q), proj(mha.W_k, k), proj(mha.W_v, v)
    per_head = []
    for h in range(heads):
        cols = slice(h * d, (h + 1) * d)
        w = _np_masked_softmax(qp[..., cols] @ kp[..., cols].transpose(0, 2, 1) / np.sqrt(d), vl)
        per_head.append(w @ vp[..., cols])
    want = proj(mha.W_o, np.concatenate(per_head, axis=-1))
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_multi_head_attention_rejects_indivisible_width():
    with pytest.raises(ArgumentError, match="not divisible by num_heads=3"):
        MultiHeadAttention(8, 3)


@pytest.mark.parametrize("make", [lambda: AdditiveAttention(6), DotProductAttention,
                                  lambda: MultiHeadAttention(8, 2)],
                         ids=["additive", "dot", "multihead"])
def test_attention_hybridizes_and_masks_padding_values(make):
    q, k, v = _qkv(3)
    vl = mx.nd.array([2, 4], dtype="int32")
    mx.random.seed(0)
    att = make()
    att.initialize()
    args = [mx.nd.array(a) for a in (q, k, v)]
    want = att(*args, vl).asnumpy()
    # Keys and values past the valid length must not influence the output.
    k2, v2 = k.copy(), v.copy()
    k2[0, 2:], v2[0, 2:] = 100.0, -100.0
    changed = att(args[0], mx.nd.array(k2), mx.nd.array(v2), vl).asnumpy()
    np.testing.assert_allclose(changed[0], want[0], rtol=1e-5, atol=1e-6)
    att.hybridize(static_alloc=True, static_shape=True)
    np.testing.assert_allclose(att(*args, vl).asnumpy(), want, rtol=1e-5, atol=1e-6)
