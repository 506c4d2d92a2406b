"""Attention scoring layers: additive, scaled dot-product and multi-head.

Lesson: attention mechanisms (Bahdanau attention, multi-head attention);
the Transformer and BERT are built from these blocks.  Every layer takes
``(queries, keys, values, valid_lens=None)`` with queries ``(N, Q, d_q)``,
keys ``(N, K, d_k)``, values ``(N, K, d_v)`` and ``valid_lens`` of shape
``(N,)`` (valid keys per example) or ``(N, Q)`` (per query, e.g. causal
masks), and returns ``(N, Q, d_out)``.  The attention weights of the last
imperative call are kept in ``attention_weights`` for plotting.

References: Bahdanau et al. 2015, "Neural machine translation by jointly
learning to align and translate"; Vaswani et al. 2017, "Attention is all
you need".
"""
from mxnet.gluon import nn

from ...errors import ArgumentError
from .masking import masked_softmax

__all__ = ["AdditiveAttention", "DotProductAttention", "MultiHeadAttention", "masked_softmax"]


class AdditiveAttention(nn.HybridBlock):
    """Additive (Bahdanau) attention: ``w_v^T tanh(W_q q + W_k k)``.

    Parameters
    ----------
    num_hiddens : int
        Width of the hidden layer that scores each query-key pair.
    dropout : float
        Dropout on the attention weights (training only).
    """

    def __init__(self, num_hiddens, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.attention_weights = None
        with self.name_scope():
            self.W_q = nn.Dense(num_hiddens, use_bias=False, flatten=False)
            self.W_k = nn.Dense(num_hiddens, use_bias=False, flatten=False)
            self.w_v = nn.Dense(1, use_bias=False, flatten=False)
            self.dropout = nn.Dropout(dropout)

    def hybrid_forward(self, F, queries, keys, values, valid_lens=None):
        # (N, Q, 1, h) + (N, 1, K, h) -> (N, Q, K, h), by broadcasting.
        features = F.tanh(F.broadcast_add(F.expand_dims(self.W_q(queries), axis=2),
                                          F.expand_dims(self.W_k(keys), axis=1)))
        scores = F.reshape(self.w_v(features), (0, 0, -1))
        weights = masked_softmax(F, scores, valid_lens)
        self.attention_weights = weights
        return F.batch_dot(self.dropout(weights), values)


class DotProductAttention(nn.HybridBlock):
    """Scaled dot-product attention: ``softmax(Q K^T / sqrt(d)) V``.

    Parameters
    ----------
    dropout : float
        Dropout on the attention weights (training only).
    head_axis : bool
        Whether inputs carry a head axis, ``(N, heads, Q, d)``; used by
        :class:`MultiHeadAttention`, which then needs no repeated lengths.
    """

    def __init__(self, dropout=0.0, head_axis=False, **kwargs):
        super().__init__(**kwargs)
        self.attention_weights = None
        self._head_axis = head_axis
        with self.name_scope():
            self.dropout = nn.Dropout(dropout)

    def hybrid_forward(self, F, queries, keys, values, valid_lens=None):
        scores = F.batch_dot(F.contrib.div_sqrt_dim(queries), keys, transpose_b=True)
        weights = masked_softmax(F, scores, valid_lens, head_axis=self._head_axis)
        self.attention_weights = weights
        return F.batch_dot(self.dropout(weights), values)


class MultiHeadAttention(nn.HybridBlock):
    """Multi-head attention: ``num_heads`` scaled dot-product attentions in parallel.

    Queries, keys and values are projected to ``num_hiddens`` features, split
    into ``num_heads`` heads of ``num_hiddens // num_heads`` features, attended
    per head, concatenated and projected by ``W_o``.

    Parameters
    ----------
    num_hiddens : int
        Model width; must be divisible by ``num_heads``.
    num_heads : int
    dropout : float
        Dropout on the attention weights (training only).
    use_bias : bool
        Whether the four projections have biases.
    """

    def __init__(self, num_hiddens, num_heads, dropout=0.0, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        if num_hiddens % num_heads:
            raise ArgumentError(f"MultiHeadAttention: num_hiddens={num_hiddens} is not divisible "
                             f"by num_heads={num_heads}; choose a multiple of num_heads")
        self.num_heads = num_heads
        with self.name_scope():
            self.attention = DotProductAttention(dropout, head_axis=True)
            self.W_q = nn.Dense(num_hiddens, use_bias=use_bias, flatten=False)
            self.W_k = nn.Dense(num_hiddens, use_bias=use_bias, flatten=False)
            self.W_v = nn.Dense(num_hiddens, use_bias=use_bias, flatten=False)
            self.W_o = nn.Dense(num_hiddens, use_bias=use_bias, flatten=False)

    @property
    def attention_weights(self):
        """Weights of the last imperative call, ``(N, num_heads, Q, K)``."""
        return self.attention.attention_weights

    def _split_heads(self, F, X):
        # (N, T, H) -> (N, heads, T, H / heads); kept 4-D so no -3/-4 reshape is needed.
        return F.transpose(F.reshape(X, (0, 0, self.num_heads, -1)), axes=(0, 2, 1, 3))

    def hybrid_forward(self, F, queries, keys, values, valid_lens=None):
        out = self.attention(self._split_heads(F, self.W_q(queries)),
                             self._split_heads(F, self.W_k(keys)),
                             self._split_heads(F, self.W_v(values)), valid_lens)
        # (N, heads, Q, d) -> (N, Q, heads * d)
        out = F.reshape(F.transpose(out, axes=(0, 2, 1, 3)), (0, 0, -1))
        return self.W_o(out)
