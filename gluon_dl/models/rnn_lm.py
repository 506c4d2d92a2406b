"""Language models on ``gluon.rnn`` layers: RNN, GRU, LSTM, deep and bidirectional.

Lessons: concise implementation of RNNs, deep RNNs, bidirectional RNNs.
Tokens are one-hot encoded as in the course, run through a fused
``gluon.rnn`` layer (batch-major, layout ``NTC``) and a dense output layer.

Deep layers are a stack of one-layer ``gluon.rnn`` layers (:class:`StackedRNN`)
rather than one fused multi-layer layer: MXNet 1.9's ONNX exporter writes
wrong weight shapes (GRU) or an unsorted graph (LSTM) for fused stacks.

Registered names: ``{rnn,gru,lstm}_lm`` (one layer), ``{gru,lstm}_lm_deep``
(two layers) and ``lstm_lm_bidirectional`` (one layer each way; the course
shows it cannot predict the next token, since it sees the future, but it is
the encoder of many taggers).
"""
import functools

from mxnet.gluon import nn, rnn

from ..errors import ArgumentError
from ._config import token_config
from ._registry import register_model

__all__ = ["RNNLM", "StackedRNN", "lm_spec"]

VOCAB_SIZE, NUM_STEPS, NUM_HIDDENS = 28, 35, 128
TEST_STEPS = 16  # any length works; tests use a short one

_PAPERS = {
    "rnn": "Elman 1990, Finding structure in time",
    "gru": "Cho et al. 2014, Learning phrase representations using RNN encoder-decoder",
    "lstm": "Hochreiter & Schmidhuber 1997, Long short-term memory",
}
_LAYERS = {"rnn": rnn.RNN, "gru": rnn.GRU, "lstm": rnn.LSTM}

# name: (cell, num_layers, bidirectional, lesson)
lm_spec = {
    "rnn_lm": ("rnn", 1, False, "Recurrent neural networks: concise implementation"),
    "gru_lm": ("gru", 1, False, "Modern RNNs: GRU, concise implementation"),
    "lstm_lm": ("lstm", 1, False, "Modern RNNs: LSTM, concise implementation"),
    "gru_lm_deep": ("gru", 2, False, "Modern RNNs: deep recurrent neural networks"),
    "lstm_lm_deep": ("lstm", 2, False, "Modern RNNs: deep recurrent neural networks"),
    "lstm_lm_bidirectional": ("lstm", 1, True, "Modern RNNs: bidirectional RNNs"),
}


def _config(name, vocab_size=VOCAB_SIZE, **_):
    cell, _, bidirectional, lesson = lm_spec[name]
    paper = _PAPERS[cell]
    if bidirectional:
        paper += "; Schuster & Paliwal 1997, Bidirectional recurrent neural networks"
    return token_config(name, NUM_STEPS, vocab_size, num_classes=vocab_size,
                        test_input_shape=(TEST_STEPS,), task="language-model", paper=paper,
                        lesson=lesson)


class StackedRNN(nn.HybridBlock):
    """``num_layers`` one-layer ``gluon.rnn`` layers with dropout between them.

    A drop-in for a fused ``gluon.rnn`` layer with layout ``NTC`` and the same
    parameter shapes: ``net(X)`` returns the top layer's outputs, ``net(X,
    states)`` returns ``(outputs, states)`` with each state ``(num_layers *
    directions, N, num_hiddens)`` as the fused layer has them.

    Parameters
    ----------
    cell : str
        ``"rnn"`` (tanh), ``"gru"`` or ``"lstm"``.
    num_hiddens, num_layers, input_size : int
    dropout : float
        Dropout on the outputs of every layer but the last (training only).
    bidirectional : bool
    """

    def __init__(self, cell, num_hiddens, num_layers=1, input_size=0, dropout=0.0,
                 bidirectional=False, **kwargs):
        super().__init__(**kwargs)
        if cell not in _LAYERS:
            raise ArgumentError(f"unknown cell {cell!r}; choose one of {sorted(_LAYERS)}")
        self.num_layers, self.directions = num_layers, 2 if bidirectional else 1
        # gluon.rnn.RNN defaults to ReLU; the course's (Elman) RNN is tanh.
        extra = {"activation": "tanh"} if cell == "rnn" else {}
        with self.name_scope():
            self.layers = nn.HybridSequential()
            for i in range(num_layers):
                self.layers.add(_LAYERS[cell](
                    num_hiddens, layout="NTC", bidirectional=bidirectional,
                    input_size=input_size if i == 0 else num_hiddens * self.directions, **extra))
            self.dropout = nn.Dropout(dropout)

    def begin_state(self, batch_size, **kwargs):
        """Zero states, each ``(num_layers * directions, N, num_hiddens)``."""
        import mxnet as mx
        per_layer = self.layers[0].begin_state(batch_size, **kwargs)
        return [mx.nd.concat(*[s] * self.num_layers, dim=0) for s in per_layer]

    def hybrid_forward(self, F, X, states=None):
        if states is not None:
            split = [F.split(s, num_outputs=self.num_layers, axis=0) if self.num_layers > 1
                     else [s] for s in states]
            layer_states = [[s[i] for s in split] for i in range(self.num_layers)]
        out, finals = X, []
        for i in range(self.num_layers):
            if i:
                out = self.dropout(out)
            if states is None:
                out = self.layers[i](out)
            else:
                out, final = self.layers[i](out, layer_states[i])
                finals.append(final)
        if states is None:
            return out
        return out, [F.concat(*[f[k] for f in finals], dim=0) if self.num_layers > 1
                     else finals[0][k] for k in range(len(states))]


class RNNLM(nn.HybridBlock):
    """One-hot tokens -> ``gluon.rnn`` layer -> dense logits ``(N, T, vocab_size)``.

    Parameters
    ----------
    cell : str
        ``"rnn"`` (tanh), ``"gru"`` or ``"lstm"``.
    vocab_size, num_hiddens, num_layers : int
    bidirectional : bool
    dropout : float
        Dropout between stacked layers (training only).
    """

    def __init__(self, cell="rnn", vocab_size=VOCAB_SIZE, num_hiddens=NUM_HIDDENS,
                 num_layers=1, bidirectional=False, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        with self.name_scope():
            self.rnn = StackedRNN(cell, num_hiddens, num_layers, input_size=vocab_size,
                                  dropout=dropout, bidirectional=bidirectional)
            self.dense = nn.Dense(vocab_size, flatten=False)

    def begin_state(self, batch_size, **kwargs):
        """Zero states of the recurrent layer (``[H]``, or ``[H, C]`` for the LSTM)."""
        return self.rnn.begin_state(batch_size, **kwargs)

    def hybrid_forward(self, F, X, *state):
        """Logits for tokens ``X``; with ``state`` given, ``[logits, *final_state]``."""
        inputs = F.one_hot(X, self.vocab_size)
        if not state:
            return self.dense(self.rnn(inputs))
        out, new_state = self.rnn(inputs, list(state))
        return [self.dense(out)] + list(new_state)


def _build(name, **kwargs):
    cell, num_layers, bidirectional, _ = lm_spec[name]
    kwargs.setdefault("num_layers", num_layers)
    kwargs.setdefault("bidirectional", bidirectional)
    return RNNLM(cell, **kwargs)


@register_model(config=functools.partial(_config, "rnn_lm"))
def rnn_lm(**kwargs):
    """One-layer tanh RNN language model."""
    return _build("rnn_lm", **kwargs)


@register_model(config=functools.partial(_config, "gru_lm"))
def gru_lm(**kwargs):
    """One-layer GRU language model."""
    return _build("gru_lm", **kwargs)


@register_model(config=functools.partial(_config, "lstm_lm"))
def lstm_lm(**kwargs):
    """One-layer LSTM language model."""
    return _build("lstm_lm", **kwargs)


@register_model(config=functools.partial(_config, "gru_lm_deep"))
def gru_lm_deep(**kwargs):
    """Two-layer GRU language model."""
    return _build("gru_lm_deep", **kwargs)


@register_model(config=functools.partial(_config, "lstm_lm_deep"))
def lstm_lm_deep(**kwargs):
    """Two-layer LSTM language model."""
    return _build("lstm_lm_deep", **kwargs)


@register_model(config=functools.partial(_config, "lstm_lm_bidirectional"))
def lstm_lm_bidirectional(**kwargs):
    """One bidirectional LSTM layer; outputs see the future (course's counter-example)."""
    return _build("lstm_lm_bidirectional", **kwargs)
