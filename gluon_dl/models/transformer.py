"""The Transformer encoder-decoder, with incremental decoding for inference.

Vaswani et al., "Attention Is All You Need", NeurIPS 2017.  Lesson:
attention mechanisms and Transformers (machine translation).

Inputs (layout ``NT``, ``int32``): source tokens ``(N, S)``, target tokens
``(N, T)`` (the shifted-right targets: ``<bos> y_1 ... y_{T-1}``) and the
source valid lengths ``(N,)``; output: logits ``(N, T, tgt_vocab)``.

Training runs the decoder over all target steps at once; its self-attention
is causal through per-query valid lengths ``1 .. T`` (a ``(1, T)`` array that
broadcasts over the batch, so no mask is tiled).  Inference uses
:meth:`Transformer.decode_step`, which consumes one target token per call and
keeps the projected keys and values of the past steps in a cache, and
:func:`greedy_translate` built on it.

The blocks here (:class:`PositionWiseFFN`, :class:`AddNorm`,
:class:`TransformerEncoderBlock`) are shared by :mod:`gluon_dl.models.bert`.
"""
import functools
import math

import numpy as np

from mxnet import nd
from mxnet.gluon import nn

from ..errors import ArgumentError
from ._config import token_config, token_input, valid_length_input
from ._registry import register_model
from .layers.attention import MultiHeadAttention

TRANSFORMER_SPECS = {
    # The course's toy translation model.
    "transformer": dict(num_hiddens=32, ffn_hiddens=64, num_heads=4, num_layers=2,
                        dropout=0.1),
    # The paper's "base" model (65M parameters with a 37k shared vocabulary).
    "base": dict(num_hiddens=512, ffn_hiddens=2048, num_heads=8, num_layers=6, dropout=0.1),
}

PAD, BOS, EOS = 0, 1, 2


def positional_encoding(F, X, num_hiddens, offset=0):
    """Add the sinusoidal position encodings of Vaswani et al. to ``X``.

    ``P[t, 2i] = sin(t / 10000^(2i/d))`` and ``P[t, 2i+1] = cos(t / 10000^(2i/d))``,
    computed from position ramps (no table, no length limit).

    Parameters
    ----------
    F : module
        ``mx.nd`` or ``mx.sym``.
    X : NDArray or Symbol
        ``(N, T, d)`` embeddings.
    num_hiddens : int
        ``d``.
    offset : int
        Position of the first step (incremental decoding).
    """
    pos = F.reshape(F.cast(F.contrib.arange_like(X, axis=1), "float32") + offset, (-1, 1))
    dims = F.reshape(F.cast(F.contrib.arange_like(X, axis=2), "float32"), (1, -1))
    pair = F.floor(dims / 2)
    odd = dims - 2 * pair                                           # 0 for sin, 1 for cos
    inv_freq = F.exp(pair * (-2 * math.log(10000.0) / num_hiddens))
    angle = F.broadcast_mul(pos, inv_freq)                          # (T, d)
    enc = F.broadcast_mul(F.sin(angle), 1 - odd) + F.broadcast_mul(F.cos(angle), odd)
    return F.broadcast_add(X, F.expand_dims(enc, axis=0))


class PositionWiseFFN(nn.HybridBlock):
    """Two dense layers applied to every position: ``W_2 act(W_1 x)``.

    Parameters
    ----------
    ffn_hiddens : int
    num_outputs : int
    activation : str
        ``"relu"`` (Transformer) or ``"gelu"`` (BERT).
    """

    def __init__(self, ffn_hiddens, num_outputs, activation="relu", **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.dense1 = nn.Dense(ffn_hiddens, flatten=False)
            self.act = nn.GELU() if activation == "gelu" else nn.Activation(activation)
            self.dense2 = nn.Dense(num_outputs, flatten=False)

    def hybrid_forward(self, F, X):
        return self.dense2(self.act(self.dense1(X)))


class AddNorm(nn.HybridBlock):
    """Residual connection then layer normalization: ``LN(X + dropout(Y))``."""

    def __init__(self, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.dropout = nn.Dropout(dropout)
            self.ln = nn.LayerNorm()

    def hybrid_forward(self, F, X, Y):
        return self.ln(X + self.dropout(Y))


class TransformerEncoderBlock(nn.HybridBlock):
    """Self-attention and a position-wise FFN, each wrapped in :class:`AddNorm`.

    Parameters
    ----------
    num_hiddens, ffn_hiddens, num_heads : int
    dropout : float
    use_bias : bool
        Biases in the attention projections (BERT has them).
    activation : str
        Activation of the FFN.
    """

    def __init__(self, num_hiddens, ffn_hiddens, num_heads, dropout=0.0, use_bias=False,
                 activation="relu", **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.attention = MultiHeadAttention(num_hiddens, num_heads, dropout, use_bias)
            self.addnorm1 = AddNorm(dropout)
            self.ffn = PositionWiseFFN(ffn_hiddens, num_hiddens, activation)
            self.addnorm2 = AddNorm(dropout)

    def hybrid_forward(self, F, X, valid_lens):
        Y = self.addnorm1(X, self.attention(X, X, X, valid_lens))
        return self.addnorm2(Y, self.ffn(Y))


class _BlockStack(nn.HybridBlock):
    """Token embedding scaled by ``sqrt(d)``, position encoding and ``num_layers`` blocks."""

    block_class = None

    def __init__(self, vocab_size, num_hiddens, ffn_hiddens, num_heads, num_layers,
                 dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self._num_hiddens = num_hiddens
        with self.name_scope():
            self.embedding = nn.Embedding(vocab_size, num_hiddens)
            self.dropout = nn.Dropout(dropout)
            self.blks = nn.HybridSequential(prefix="")
            for _ in range(num_layers):
                self.blks.add(self.block_class(num_hiddens, ffn_hiddens, num_heads, dropout))

    def _embed(self, F, tokens, offset=0):
        X = self.embedding(tokens) * math.sqrt(self._num_hiddens)
        return self.dropout(positional_encoding(F, X, self._num_hiddens, offset))


class TransformerEncoder(_BlockStack):
    """Token embedding scaled by ``sqrt(d)``, position encoding, encoder blocks."""

    block_class = TransformerEncoderBlock

    def hybrid_forward(self, F, tokens, valid_lens):
        X = self._embed(F, tokens)
        for blk in self.blks:
            X = blk(X, valid_lens)
        return X


def _split_heads(X, num_heads):
    # (N, T, d) -> (N, heads, T, d / heads), as MultiHeadAttention does internally.
    return nd.transpose(nd.reshape(X, (0, 0, num_heads, -1)), axes=(0, 2, 1, 3))


def _attend(mha, queries, key_heads, value_heads, valid_lens):
    """Multi-head attention of ``mha`` on keys and values already projected and split."""
    out = mha.attention(_split_heads(mha.W_q(queries), mha.num_heads), key_heads, value_heads,
                        valid_lens)
    return mha.W_o(nd.reshape(nd.transpose(out, axes=(0, 2, 1, 3)), (0, 0, -1)))


def _project(mha, X):
    """The keys and values that ``mha`` computes from ``X``, split into heads."""
    return _split_heads(mha.W_k(X), mha.num_heads), _split_heads(mha.W_v(X), mha.num_heads)


class TransformerDecoderBlock(nn.HybridBlock):
    """Causal self-attention, attention to the encoder, FFN; each with :class:`AddNorm`."""

    def __init__(self, num_hiddens, ffn_hiddens, num_heads, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.attention1 = MultiHeadAttention(num_hiddens, num_heads, dropout)
            self.addnorm1 = AddNorm(dropout)
            self.attention2 = MultiHeadAttention(num_hiddens, num_heads, dropout)
            self.addnorm2 = AddNorm(dropout)
            self.ffn = PositionWiseFFN(ffn_hiddens, num_hiddens)
            self.addnorm3 = AddNorm(dropout)

    def hybrid_forward(self, F, X, enc_outputs, enc_valid_lens, causal_lens):
        Y = self.addnorm1(X, self.attention1(X, X, X, causal_lens))
        Z = self.addnorm2(Y, self.attention2(Y, enc_outputs, enc_outputs, enc_valid_lens))
        return self.addnorm3(Z, self.ffn(Z))

    def step(self, X, cache, enc_valid_lens):
        """One decoding step (imperative): ``X`` is ``(N, 1, d)``.

        ``cache`` holds ``self_k``/``self_v`` (the past steps' projected keys
        and values, ``None`` at the first step) and ``enc_k``/``enc_v`` (the
        encoder's, projected once); returns the output and the updated cache.
        """
        k, v = _project(self.attention1, X)
        if cache["self_k"] is not None:
            k = nd.concat(cache["self_k"], k, dim=2)
            v = nd.concat(cache["self_v"], v, dim=2)
        # Every cached step is in the past, so all keys are valid.
        seen = nd.full((X.shape[0],), k.shape[2], ctx=X.context)
        Y = self.addnorm1(X, _attend(self.attention1, X, k, v, seen))
        Z = self.addnorm2(Y, _attend(self.attention2, Y, cache["enc_k"], cache["enc_v"],
                                     enc_valid_lens))
        return self.addnorm3(Z, self.ffn(Z)), dict(cache, self_k=k, self_v=v)


class TransformerDecoder(_BlockStack):
    """Embedding, position encoding, decoder blocks and the output projection."""

    block_class = TransformerDecoderBlock

    def __init__(self, vocab_size, *args, **kwargs):
        super().__init__(vocab_size, *args, **kwargs)
        with self.name_scope():
            self.dense = nn.Dense(vocab_size, flatten=False)

    def hybrid_forward(self, F, tokens, enc_outputs, enc_valid_lens):
        # Query t may attend to keys 0..t: valid lengths 1..T, shape (1, T), broadcast.
        causal_lens = F.reshape(F.contrib.arange_like(tokens, axis=1) + 1, (1, -1))
        X = self._embed(F, tokens)
        for blk in self.blks:
            X = blk(X, enc_outputs, enc_valid_lens, causal_lens)
        return self.dense(X)

    def init_cache(self, enc_outputs):
        """Per-block caches: the encoder keys/values and empty self-attention ones."""
        caches = []
        for blk in self.blks:
            enc_k, enc_v = _project(blk.attention2, enc_outputs)
            caches.append(dict(enc_k=enc_k, enc_v=enc_v, self_k=None, self_v=None))
        return caches

    def step(self, tokens, caches, enc_valid_lens, position):
        """Logits ``(N, vocab)`` for one step of ``tokens`` ``(N,)`` at ``position``."""
        X = self._embed(nd, nd.reshape(tokens, (-1, 1)), position)
        new_caches = []
        for blk, cache in zip(self.blks, caches):
            X, cache = blk.step(X, cache, enc_valid_lens)
            new_caches.append(cache)
        return nd.reshape(self.dense(X), (0, -1)), new_caches


class Transformer(nn.HybridBlock):
    """Encoder-decoder Transformer.

    Parameters
    ----------
    src_vocab, tgt_vocab : int
        Vocabulary sizes.
    num_hiddens : int
        Model width ``d``.
    ffn_hiddens : int
        Inner width of the position-wise FFN.
    num_heads : int
    num_layers : int
        Blocks in the encoder and in the decoder.
    dropout : float

    Calling ``net(src, tgt, src_valid_len)`` returns ``(N, T, tgt_vocab)`` logits.
    """

    def __init__(self, src_vocab=100, tgt_vocab=100, num_hiddens=32, ffn_hiddens=64,
                 num_heads=4, num_layers=2, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.encoder = TransformerEncoder(src_vocab, num_hiddens, ffn_hiddens, num_heads,
                                              num_layers, dropout)
            self.decoder = TransformerDecoder(tgt_vocab, num_hiddens, ffn_hiddens, num_heads,
                                              num_layers, dropout)

    def hybrid_forward(self, F, src, tgt, src_valid_len):
        return self.decoder(tgt, self.encoder(src, src_valid_len), src_valid_len)

    def init_state(self, src, src_valid_len):
        """Encode ``src`` once; the state that :meth:`decode_step` carries."""
        enc = self.encoder(src, src_valid_len)
        return dict(caches=self.decoder.init_cache(enc), valid_len=src_valid_len, position=0)

    def decode_step(self, tokens, state):
        """Feed one target token per sequence; returns ``(logits (N, vocab), state)``."""
        logits, caches = self.decoder.step(tokens, state["caches"], state["valid_len"],
                                           state["position"])
        return logits, dict(state, caches=caches, position=state["position"] + 1)


def greedy_translate(net, src, src_valid_len, max_len, bos=BOS, eos=EOS):
    """Greedy decoding with the key/value cache: one decoder step per token.

    Parameters
    ----------
    net : Transformer
    src : NDArray
        ``(N, S)`` source tokens.
    src_valid_len : NDArray
        ``(N,)``.
    max_len : int
        Most tokens to generate per sequence.
    bos, eos : int
        Start and end tokens.

    Returns
    -------
    list of list of int
        The generated tokens of each sequence, without ``bos`` and ``eos``.
    """
    state = net.init_state(src, src_valid_len)
    tokens = nd.full((src.shape[0],), bos, ctx=src.context, dtype="int32")
    outputs, done = [], np.zeros(src.shape[0], dtype=bool)
    for _ in range(max_len):
        logits, state = net.decode_step(tokens, state)
        tokens = nd.argmax(logits, axis=-1).astype("int32")
        step = tokens.asnumpy()
        outputs.append(np.where(done, eos, step))
        done |= step == eos
        if done.all():
            break
    result = []
    for row in np.stack(outputs, axis=1):
        seq = row.tolist()
        result.append(seq[:seq.index(eos)] if eos in seq else seq)
    return result


SEQ_LEN = 10  # the deployment length of the toy translation tasks


def _config(name, src_vocab=100, tgt_vocab=100, **_):
    seq_len = SEQ_LEN
    return token_config(
        name, seq_len, src_vocab,
        input_name="data0",  # data0 = source, data1 = decoder input, data2 = source valid lengths
        extra_inputs=(token_input("data1", seq_len, tgt_vocab),
                      valid_length_input("data2", seq_len)),
        task="seq2seq",
        paper="Vaswani et al. 2017, Attention Is All You Need",
        lesson="Attention mechanisms: the Transformer (machine translation)",
    )


def get_transformer(spec="transformer", src_vocab=100, tgt_vocab=100, **kwargs):
    """A :class:`Transformer` from :data:`TRANSFORMER_SPECS`; ``kwargs`` override it."""
    if spec not in TRANSFORMER_SPECS:
        raise ArgumentError(f"unknown Transformer spec '{spec}'; choose one of "
                         f"{sorted(TRANSFORMER_SPECS)}")
    return Transformer(src_vocab, tgt_vocab, **{**TRANSFORMER_SPECS[spec], **kwargs})


@register_model(config=functools.partial(_config, "transformer"))
def transformer(src_vocab=100, tgt_vocab=100, config=None, **kwargs):
    """A 2-layer, 32-wide Transformer for the course's toy translation tasks."""
    return get_transformer("transformer", src_vocab, tgt_vocab, **kwargs)
