"""RNN, GRU and LSTM language models written from the course's gate equations.

Lessons: recurrent neural networks from scratch, gated recurrent units (GRU)
and long short-term memory (LSTM).  Tokens are one-hot encoded (computed as a
row lookup of ``W_x*``, which is the same product), the recurrence is unrolled
over a fixed ``num_steps`` with ``F.split`` so the graph exports, and every
weight is declared with ``self.params.get`` under the course's names
(``W_xz``, ``W_hz``, ``b_z``, ...).

GRU candidate state: the course (Cho et al. 2014) resets before the matrix
product, ``tanh(X W_xh + (R * H) W_hh + b_h)``; cuDNN and ``gluon.rnn.GRU``
reset after it, ``tanh(X W_xh + b_h + R * (H W_hh + b_hh))``.  ``reset_after``
selects the second form, which then equals ``gluon.rnn.GRU`` exactly.
"""
import functools

from mxnet import init
from mxnet.gluon import nn

from ..errors import ArgumentError
from ._config import token_config
from ._registry import register_model

__all__ = ["ScratchRNNLM", "gru_scratch_lm", "lstm_scratch_lm", "rnn_scratch_lm",
           "scratch_spec"]

# cell: (gates, each with its input/hidden weights and bias, paper, lesson)
scratch_spec = {
    "rnn": (("h",), "Elman 1990, Finding structure in time",
            "Recurrent neural networks: RNN from scratch"),
    "gru": (("z", "r", "h"), "Cho et al. 2014, On the properties of neural machine "
            "translation: encoder-decoder approaches", "Modern RNNs: GRU from scratch"),
    "lstm": (("i", "f", "o", "c"), "Hochreiter & Schmidhuber 1997, Long short-term memory",
             "Modern RNNs: LSTM from scratch"),
}

VOCAB_SIZE, NUM_STEPS, NUM_HIDDENS = 28, 16, 64


def _config(cell, vocab_size=VOCAB_SIZE, num_steps=NUM_STEPS, **_):
    _, paper, lesson = scratch_spec[cell]
    return token_config(f"{cell}_scratch_lm", num_steps, vocab_size, num_classes=vocab_size,
                        task="language-model", paper=paper, lesson=lesson)


class ScratchRNNLM(nn.HybridBlock):
    """A one-layer recurrent language model with explicit gate equations.

    ``net(X)`` maps tokens ``(N, num_steps)`` to logits ``(N, num_steps,
    vocab_size)``; ``net(X, *state)`` starts from ``state`` (see
    :meth:`begin_state`) and returns ``[logits, *final_state]``.

    Parameters
    ----------
    cell : str
        ``"rnn"``, ``"gru"`` or ``"lstm"``.
    vocab_size, num_hiddens, num_steps : int
    reset_after : bool
        GRU only: the cuDNN form of the candidate state (see the module docstring).
    """

    def __init__(self, cell="rnn", vocab_size=VOCAB_SIZE, num_hiddens=NUM_HIDDENS,
                 num_steps=NUM_STEPS, reset_after=False, **kwargs):
        super().__init__(**kwargs)
        if cell not in scratch_spec:
            raise ArgumentError(f"unknown cell {cell!r}; choose one of {sorted(scratch_spec)}")
        self.cell, self.vocab_size = cell, vocab_size
        self.num_hiddens, self.num_steps = num_hiddens, num_steps
        self.reset_after = reset_after and cell == "gru"
        normal = init.Normal(0.01)
        shapes = {}
        for g in scratch_spec[cell][0]:
            shapes.update({f"W_x{g}": (vocab_size, num_hiddens),
                           f"W_h{g}": (num_hiddens, num_hiddens), f"b_{g}": (num_hiddens,)})
        if self.reset_after:
            shapes["b_hh"] = (num_hiddens,)
        shapes.update(W_hq=(num_hiddens, vocab_size), b_q=(vocab_size,))
        with self.name_scope():
            for name, shape in shapes.items():
                # An attribute, so Gluon passes it to hybrid_forward by name.
                setattr(self, name, self.params.get(
                    name, shape=shape, init=init.Zero() if name.startswith("b") else normal))

    @property
    def num_states(self):
        return 2 if self.cell == "lstm" else 1

    def begin_state(self, batch_size, ctx=None):
        """Zero states, ``[H]`` (or ``[H, C]`` for the LSTM), each ``(N, num_hiddens)``."""
        import mxnet as mx
        return [mx.nd.zeros((batch_size, self.num_hiddens), ctx=ctx)
                for _ in range(self.num_states)]

    def _step(self, F, xs, state, p):
        """One time step; ``xs[g]`` is the input term ``X W_xg`` of gate ``g``."""
        def gate(g, act, h=state[0]):
            return act(F.broadcast_add(xs[g] + F.dot(h, p[f"W_h{g}"]), p[f"b_{g}"]))
        H = state[0]
        if self.cell == "rnn":
            return [gate("h", F.tanh)]
        if self.cell == "gru":
            Z, R = gate("z", F.sigmoid), gate("r", F.sigmoid)
            if self.reset_after:
                hidden = F.broadcast_add(F.dot(H, p["W_hh"]), p["b_hh"])
                cand = F.tanh(F.broadcast_add(xs["h"], p["b_h"]) + R * hidden)
            else:
                cand = gate("h", F.tanh, h=R * H)
            return [Z * H + (1 - Z) * cand]
        I, Fg, O = gate("i", F.sigmoid), gate("f", F.sigmoid), gate("o", F.sigmoid)
        C = Fg * state[1] + I * gate("c", F.tanh)
        return [O * F.tanh(C), C]

    def hybrid_forward(self, F, X, *state, **params):
        gates = scratch_spec[self.cell][0]
        # Row lookup == one_hot(X) @ W_x*, for all steps at once: (N, T, H) per gate.
        inputs = {g: F.split(F.Embedding(X, params[f"W_x{g}"], input_dim=self.vocab_size,
                                         output_dim=self.num_hiddens),
                             num_outputs=self.num_steps, axis=1, squeeze_axis=True)
                  for g in gates}
        if self.num_steps == 1:
            inputs = {g: [x] for g, x in inputs.items()}
        given = bool(state)
        if not given:
            # Zeros of shape (N, H) without knowing N: exports without shape codes.
            state = [F.zeros_like(inputs[gates[0]][0])] * self.num_states
        outputs = []
        for t in range(self.num_steps):
            state = self._step(F, {g: inputs[g][t] for g in gates}, state, params)
            outputs.append(state[0])
        hidden = F.stack(*outputs, axis=1)
        logits = F.broadcast_add(F.dot(hidden, params["W_hq"]), params["b_q"])
        return [logits] + list(state) if given else logits


def _build(cell, **kwargs):
    return ScratchRNNLM(cell, **kwargs)


@register_model(config=functools.partial(_config, "rnn"))
def rnn_scratch_lm(**kwargs):
    """Tanh RNN language model from scratch: ``H = tanh(X W_xh + H W_hh + b_h)``."""
    return _build("rnn", **kwargs)


@register_model(config=functools.partial(_config, "gru"))
def gru_scratch_lm(**kwargs):
    """GRU language model from scratch (update gate Z, reset gate R, candidate)."""
    return _build("gru", **kwargs)


@register_model(config=functools.partial(_config, "lstm"))
def lstm_scratch_lm(**kwargs):
    """LSTM language model from scratch (input, forget, output gates, memory cell)."""
    return _build("lstm", **kwargs)
