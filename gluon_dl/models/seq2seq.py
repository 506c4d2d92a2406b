"""GRU encoder-decoder for machine translation, plain and with Bahdanau attention.

Lessons: sequence to sequence learning; Bahdanau attention.  ``net(src, tgt,
src_valid_len)`` maps source tokens ``(N, T)``, decoder input tokens ``(N, T)``
(``<bos>`` then the target shifted right: teacher forcing) and the source
valid lengths ``(N,)`` to logits ``(N, T, tgt_vocab)``.  Train with
:class:`gluon_dl.losses.MaskedSoftmaxCELoss`; translate with :func:`predict_seq2seq`.

Unlike the course's encoder, whose final state also runs over the padding,
each encoder layer is its own ``gluon.rnn.GRU`` and the state handed to the
decoder is read at each sequence's last valid step, so padding never leaks
into the translation.  The selection is a broadcast comparison with the valid
lengths, which exports.
"""
import functools

import numpy as np

from mxnet.gluon import nn, rnn

from ._config import token_config, token_input, valid_length_input
from ._registry import register_model
from .layers.attention import AdditiveAttention
from .rnn_lm import StackedRNN

__all__ = ["GRUDecoder", "AttentionGRUDecoder", "Seq2Seq", "Seq2SeqEncoder", "predict_seq2seq",
           "seq2seq_spec"]

VOCAB_SIZE, NUM_STEPS, EMBED_SIZE, NUM_HIDDENS, NUM_LAYERS = 32, 10, 32, 64, 2

# name: (attention decoder?, paper, lesson)
seq2seq_spec = {
    "seq2seq_gru": (False, "Sutskever, Vinyals & Le 2014, Sequence to sequence learning with "
                    "neural networks; Cho et al. 2014", "Modern RNNs: sequence to sequence learning"),
    "seq2seq_attention": (True, "Bahdanau, Cho & Bengio 2015, Neural machine translation by "
                          "jointly learning to align and translate",
                          "Attention mechanisms: Bahdanau attention"),
}


def _config(name, src_vocab=VOCAB_SIZE, tgt_vocab=VOCAB_SIZE, num_steps=NUM_STEPS, **_):
    _, paper, lesson = seq2seq_spec[name]
    return token_config(
        name, num_steps, src_vocab, num_classes=tgt_vocab,
        input_name="data0",  # data0 = source, data1 = decoder input, data2 = source valid lengths
        extra_inputs=(token_input("data1", num_steps, tgt_vocab),
                      valid_length_input("data2", num_steps)),
        task="seq2seq", paper=paper, lesson=lesson)


def _last_valid(F, outputs, valid_len):
    """``outputs[n, valid_len[n] - 1]`` as ``(N, H)``, by a broadcast one-hot selection."""
    positions = F.reshape(F.cast(F.contrib.arange_like(outputs, axis=1), "float32"), (1, -1))
    last = F.reshape(F.cast(valid_len, "float32") - 1, (-1, 1))
    select = F.expand_dims(F.broadcast_equal(positions, last), axis=2)
    return F.sum(F.broadcast_mul(outputs, select), axis=1)


class Seq2SeqEncoder(nn.HybridBlock):
    """Embedding and a stack of GRU layers: ``(src, valid_len) -> (outputs, state)``.

    ``outputs`` is the top layer's ``(N, T, H)``; ``state`` ``(num_layers, N, H)``
    holds each layer's hidden state after the last valid token.
    """

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_layers = num_layers
        with self.name_scope():
            self.embedding = nn.Embedding(vocab_size, embed_size)
            self.layers = nn.HybridSequential()
            for i in range(num_layers):
                self.layers.add(rnn.GRU(num_hiddens, layout="NTC",
                                        input_size=embed_size if i == 0 else num_hiddens))
            self.dropout = nn.Dropout(dropout)

    def hybrid_forward(self, F, X, valid_len):
        out, states = self.embedding(X), []
        for i in range(self.num_layers):
            if i:
                out = self.dropout(out)  # between layers, as the fused GRU's dropout
            out = self.layers[i](out)
            states.append(_last_valid(F, out, valid_len))
        return out, F.stack(*states, axis=0)


class GRUDecoder(nn.HybridBlock):
    """The course's seq2seq decoder: the encoder's final top state is a context
    concatenated to every input embedding; the GRU starts from the encoder state."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.embedding = nn.Embedding(vocab_size, embed_size)
            # One-layer GRUs stacked: mx2onnx mis-shapes fused multi-layer GRU weights.
            self.rnn = StackedRNN("gru", num_hiddens, num_layers, dropout=dropout,
                                  input_size=embed_size + num_hiddens)
            self.dense = nn.Dense(vocab_size, flatten=False)

    def unroll(self, F, X, state, enc_outputs, enc_state, valid_len, num_steps):
        """Logits ``(N, T, V)`` and the final state for decoder inputs ``X`` ``(N, T)``."""
        emb = self.embedding(X)
        context = F.squeeze(F.slice_axis(enc_state, axis=0, begin=-1, end=None), axis=0)
        # Broadcast the context over time (no repeat/Tile, which onnx2tf rejects).
        context = F.broadcast_like(F.expand_dims(context, axis=1), emb, lhs_axes=(1,),
                                   rhs_axes=(1,))
        out, state = self.rnn(F.concat(emb, context, dim=2), [state])
        return self.dense(out), state[0]


class AttentionGRUDecoder(GRUDecoder):
    """Bahdanau decoder: at every step the previous top hidden state queries the
    encoder outputs with additive attention; the context is fed with the embedding.

    ``attention_weights`` keeps one ``(N, 1, T_src)`` array per decoded step of
    the last imperative call.
    """

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0.0, **kwargs):
        super().__init__(vocab_size, embed_size, num_hiddens, num_layers, dropout, **kwargs)
        self.attention_weights = []
        with self.name_scope():
            self.attention = AdditiveAttention(num_hiddens, dropout)

    def unroll(self, F, X, state, enc_outputs, enc_state, valid_len, num_steps):
        steps = F.split(self.embedding(X), num_outputs=num_steps, axis=1)
        steps = [steps] if num_steps == 1 else list(steps)
        outputs, self.attention_weights = [], []
        for x in steps:
            query = F.swapaxes(F.slice_axis(state, axis=0, begin=-1, end=None), 0, 1)
            context = self.attention(query, enc_outputs, enc_outputs, valid_len)
            self.attention_weights.append(self.attention.attention_weights)
            out, new_state = self.rnn(F.concat(context, x, dim=2), [state])
            outputs.append(out)
            state = new_state[0]
        out = outputs[0] if num_steps == 1 else F.concat(*outputs, dim=1)
        return self.dense(out), state


class Seq2Seq(nn.HybridBlock):
    """Encoder-decoder: ``net(src, tgt, src_valid_len) -> logits (N, T, tgt_vocab)``.

    Parameters
    ----------
    attention : bool
        Use the Bahdanau attention decoder.
    src_vocab, tgt_vocab, embed_size, num_hiddens, num_layers : int
    num_steps : int
        Decoder input length ``T``; the attention decoder unrolls that many steps.
    dropout : float
    """

    def __init__(self, attention=False, src_vocab=VOCAB_SIZE, tgt_vocab=VOCAB_SIZE,
                 embed_size=EMBED_SIZE, num_hiddens=NUM_HIDDENS, num_layers=NUM_LAYERS,
                 num_steps=NUM_STEPS, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_steps = num_steps
        decoder = AttentionGRUDecoder if attention else GRUDecoder
        with self.name_scope():
            self.encoder = Seq2SeqEncoder(src_vocab, embed_size, num_hiddens, num_layers, dropout)
            self.decoder = decoder(tgt_vocab, embed_size, num_hiddens, num_layers, dropout)

    def hybrid_forward(self, F, src, tgt, src_valid_len):
        enc_outputs, enc_state = self.encoder(src, src_valid_len)
        logits, _ = self.decoder.unroll(F, tgt, enc_state, enc_outputs, enc_state,
                                        src_valid_len, self.num_steps)
        return logits


def predict_seq2seq(net, src, src_valid_len, bos, num_steps=None, eos=None):
    """Greedy decoding: feed each step's most likely token back as the next input.

    Lesson: sequence to sequence learning (prediction).  Inference only; the
    Python loop runs ``num_steps`` decoder steps on the whole batch.

    Parameters
    ----------
    net : Seq2Seq
    src : array-like of int, shape (N, T_src)
    src_valid_len : array-like of int, shape (N,)
    bos : int
        Id of the beginning-of-sequence token, the first decoder input.
    num_steps : int, optional
        Tokens to generate, default ``net.num_steps``.
    eos : int, optional
        End-of-sequence id: tokens after each sequence's first ``eos`` are
        replaced by ``eos``.

    Returns
    -------
    numpy.ndarray of int, shape (N, num_steps)
    """
    import mxnet as mx

    num_steps = num_steps or net.num_steps
    src = mx.nd.array(src, dtype="int32")
    valid_len = mx.nd.array(src_valid_len, dtype="int32")
    enc_outputs, enc_state = net.encoder(src, valid_len)
    state, token = enc_state, mx.nd.full((src.shape[0], 1), bos, dtype="int32")
    tokens = []
    for _ in range(num_steps):
        logits, state = net.decoder.unroll(mx.nd, token, state, enc_outputs, enc_state,
                                           valid_len, 1)
        token = logits.argmax(axis=2).astype("int32")
        tokens.append(token.asnumpy()[:, 0])
    out = np.stack(tokens, axis=1)
    if eos is not None:
        ended = np.cumsum(out == eos, axis=1) - (out == eos) > 0
        out[ended] = eos
    return out


def _build(name, **kwargs):
    return Seq2Seq(attention=seq2seq_spec[name][0], **kwargs)


@register_model(config=functools.partial(_config, "seq2seq_gru"))
def seq2seq_gru(**kwargs):
    """Two-layer GRU encoder-decoder with a fixed context (Sutskever et al. 2014)."""
    return _build("seq2seq_gru", **kwargs)


@register_model(config=functools.partial(_config, "seq2seq_attention"))
def seq2seq_attention(**kwargs):
    """GRU encoder-decoder with additive attention (Bahdanau et al. 2015)."""
    return _build("seq2seq_attention", **kwargs)
