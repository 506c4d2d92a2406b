"""A small BERT: a Transformer encoder pretrained by masked LM and next-sentence prediction.

Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for
Language Understanding", NAACL 2019.  Lesson: pretraining (BERT).

Inputs (all ``int32``; exported as ``data0 .. data3``):

- ``tokens`` ``(N, T)``: ``<cls> sentence A <sep> sentence B <sep>``, padded;
- ``segments`` ``(N, T)``: 0 for sentence A, 1 for sentence B;
- ``valid_len`` ``(N,)``: tokens before the padding;
- ``pred_positions`` ``(N, P)``: the positions whose tokens the masked LM predicts.

Outputs: the encodings ``(N, T, d)``, the masked-LM logits ``(N, P, vocab)``
and the next-sentence logits ``(N, 2)`` (class 1 = "is the next sentence").

Embeddings are the sum of token, segment and learned position embeddings,
then layer-normalized (as in the paper's code); encoder blocks use GELU.
The masked LM's decoder is not tied to the token embedding, as in d2l.
"""
import functools

from mxnet.gluon import nn

from ..errors import ArgumentError
from ._config import InputSpec, token_config, valid_length_input
from ._registry import register_model
from .transformer import TransformerEncoderBlock

BERT_SPECS = {
    "bert_small": dict(vocab_size=1000, num_hiddens=64, ffn_hiddens=128, num_heads=2,
                       num_layers=2, max_len=64, dropout=0.1),
    # The paper's BERT-base (L=12, H=768, A=12).
    "base": dict(vocab_size=30522, num_hiddens=768, ffn_hiddens=3072, num_heads=12,
                 num_layers=12, max_len=512, dropout=0.1),
}


class BERTEncoder(nn.HybridBlock):
    """Token + segment + position embeddings, layer norm, Transformer encoder blocks.

    Parameters
    ----------
    vocab_size, num_hiddens, ffn_hiddens, num_heads, num_layers : int
    max_len : int
        Longest sequence (rows of the position embedding).
    dropout : float
    """

    def __init__(self, vocab_size, num_hiddens, ffn_hiddens, num_heads, num_layers, max_len=64,
                 dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.token_embedding = nn.Embedding(vocab_size, num_hiddens)
            self.segment_embedding = nn.Embedding(2, num_hiddens)
            self.pos_embedding = nn.Embedding(max_len, num_hiddens)
            self.ln = nn.LayerNorm()
            self.dropout = nn.Dropout(dropout)
            self.blks = nn.HybridSequential(prefix="")
            for _ in range(num_layers):
                self.blks.add(TransformerEncoderBlock(num_hiddens, ffn_hiddens, num_heads,
                                                      dropout, use_bias=True,
                                                      activation="gelu"))

    def hybrid_forward(self, F, tokens, segments, valid_len):
        positions = self.pos_embedding(F.contrib.arange_like(tokens, axis=1))     # (T, d)
        X = self.token_embedding(tokens) + self.segment_embedding(segments)
        X = self.dropout(self.ln(F.broadcast_add(X, F.expand_dims(positions, axis=0))))
        for blk in self.blks:
            X = blk(X, valid_len)
        return X


def gather_positions(F, X, positions):
    """``X[n, positions[n, p]]`` as ``(N, P, d)``.

    A one-hot ``(N, P, T)`` matrix from broadcast comparisons times ``X``: no
    gather with repeated batch indices, so the graph exports cleanly.
    """
    ramp = F.reshape(F.cast(F.contrib.arange_like(X, axis=1), "float32"), (1, 1, -1))
    wanted = F.expand_dims(F.cast(positions, "float32"), axis=2)
    return F.batch_dot(F.broadcast_equal(wanted, ramp), X)


class MaskLM(nn.HybridBlock):
    """Masked-LM head: ``Dense -> GELU -> LayerNorm -> Dense(vocab)`` at the masked positions."""

    def __init__(self, vocab_size, num_hiddens, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.mlp = nn.HybridSequential(prefix="")
            self.mlp.add(nn.Dense(num_hiddens, flatten=False), nn.GELU(), nn.LayerNorm(),
                         nn.Dense(vocab_size, flatten=False))

    def hybrid_forward(self, F, X, pred_positions):
        return self.mlp(gather_positions(F, X, pred_positions))


class NextSentencePred(nn.HybridBlock):
    """Next-sentence head: two logits from the pooled ``<cls>`` representation."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.output = nn.Dense(2)

    def hybrid_forward(self, F, X):
        return self.output(X)


class BERTModel(nn.HybridBlock):
    """BERT encoder with its two pretraining heads.

    Parameters
    ----------
    vocab_size, num_hiddens, ffn_hiddens, num_heads, num_layers, max_len : int
    dropout : float

    ``net(tokens, segments, valid_len, pred_positions)`` returns
    ``(encoded (N, T, d), mlm_logits (N, P, vocab), nsp_logits (N, 2))``.
    """

    def __init__(self, vocab_size=1000, num_hiddens=64, ffn_hiddens=128, num_heads=2,
                 num_layers=2, max_len=64, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.encoder = BERTEncoder(vocab_size, num_hiddens, ffn_hiddens, num_heads,
                                       num_layers, max_len, dropout)
            self.mlm = MaskLM(vocab_size, num_hiddens)
            self.pooler = nn.Dense(num_hiddens, activation="tanh")
            self.nsp = NextSentencePred()

    def hybrid_forward(self, F, tokens, segments, valid_len, pred_positions):
        encoded = self.encoder(tokens, segments, valid_len)
        mlm_logits = self.mlm(encoded, pred_positions)
        cls = F.reshape(F.slice_axis(encoded, axis=1, begin=0, end=1), (0, -1))
        return encoded, mlm_logits, self.nsp(self.pooler(cls))


SEQ_LEN, NUM_PREDS = 16, 3  # the deployment shape: tokens per sequence, masked positions


def _config(name, vocab_size=None, **_):
    vocab = vocab_size or BERT_SPECS[name]["vocab_size"]
    seq_len, num_preds = SEQ_LEN, NUM_PREDS
    # data0 = tokens, data1 = segments, data2 = valid lengths, data3 = masked-LM positions
    return token_config(
        name, seq_len, vocab, input_name="data0",
        extra_inputs=(InputSpec("data1", (seq_len,), "int32", (0, 2)),
                      valid_length_input("data2", seq_len),
                      InputSpec("data3", (num_preds,), "int32", (0, seq_len))),
        task="pretraining",
        paper="Devlin et al. 2019, BERT: Pre-training of Deep Bidirectional Transformers "
              "for Language Understanding",
        lesson="Natural language processing: pretraining BERT",
    )


def get_bert(spec="bert_small", **kwargs):
    """A :class:`BERTModel` from :data:`BERT_SPECS`; ``kwargs`` override the spec."""
    if spec not in BERT_SPECS:
        raise ArgumentError(f"unknown BERT spec '{spec}'; choose one of {sorted(BERT_SPECS)}")
    return BERTModel(**{**BERT_SPECS[spec], **kwargs})


@register_model(config=functools.partial(_config, "bert_small"))
def bert_small(config=None, **kwargs):
    """A 2-layer, 64-wide BERT for the course's pretraining lesson."""
    return get_bert("bert_small", **kwargs)
