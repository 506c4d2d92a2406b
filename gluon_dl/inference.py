"""Using a trained model the way the course does: mean loss, text generation, translation.

The helpers take the course's arguments (``net``, ``vocab``, ``num_steps``)
and work with the registry's models: :func:`predict_lm` with the language
models of :mod:`gluon_dl.models.rnn_lm` and :mod:`gluon_dl.models.rnn_scratch`,
:func:`predict_seq2seq` with those of :mod:`gluon_dl.models.seq2seq` and
:mod:`gluon_dl.models.transformer`.  MXNet is imported when they are called.

Vocabularies
------------
``vocab`` arguments map tokens to ids and back.  Accepted:

- an object with ``vocab[token] -> id`` and ``idx_to_token`` (a list) or
  ``to_tokens(id)``: the course's ``Vocab``, a ``gluonnlp.Vocab``;
- a plain dict ``{token: id}`` (inverted for the way back);
- a pair ``(token_to_idx, idx_to_token)`` of a dict and a list (or dict).

A token the vocabulary lacks reads as ``"<unk>"`` when it has that token.
"""
import contextlib
import numbers
from collections.abc import Mapping

import numpy as np

from .errors import ArgumentError

__all__ = ["evaluate_loss", "predict_lm", "predict_seq2seq"]

UNK = "<unk>"


def evaluate_loss(net, data_iter, loss, ctx=None):
    """Mean loss of ``net`` over the ``(X, y)`` batches of ``data_iter``.

    Defined for the lesson on model selection, underfitting and overfitting
    (polynomial regression), which compares training and validation loss.
    It is :func:`gluon_dl.training.validate`'s ``val_loss``: the network
    runs in inference mode, ``X`` may be a tuple of inputs (``net(*X)``) and
    ``y`` a tuple of targets (``loss(output, *y)``).

    Parameters
    ----------
    net : mxnet.gluon.Block
    data_iter : iterable of (X, y)
    loss : callable
        Returns one loss per example, e.g. ``gluon.loss.L2Loss()``.
    ctx : mxnet.Context, optional
        Default ``mx.cpu()``.

    Returns
    -------
    float
        The sum of the per-example losses divided by the number of examples.
    """
    from .training import validate

    return validate(net, data_iter, loss, ctx)["val_loss"]


def predict_lm(prefix, num_preds, net, vocab, ctx=None):
    """Continue ``prefix`` with the ``num_preds`` most likely next tokens.

    Defined for the lesson on recurrent neural networks from scratch (text
    generation after training on the Time Machine).  The prefix warms up the
    network's state, then each predicted token (the argmax) is fed back.

    Parameters
    ----------
    prefix : str or list of str
        A string is a sequence of characters (the course's character-level
        models); a list is a sequence of tokens (words).
    num_preds : int
        Tokens to generate, >= 0.
    net : mxnet.gluon.Block
        A language model of the registry (``get_model("rnn_lm")``,
        ``"gru_scratch_lm"``...): ``net(X, *state)`` on ids ``(N, T)``
        returns ``[logits (N, T, V), *state]`` and ``net.begin_state(N, ctx=...)``
        gives the first state.  Models unrolled over a fixed ``net.num_steps``
        (the from-scratch ones) are fed padded windows of that length; since
        they are causal, the padding never reaches the logits that are read.
    vocab
        Tokens <-> ids; see the module docstring.
    ctx : mxnet.Context, optional
        Default: where ``net``'s parameters are.

    Returns
    -------
    str or list of str
        The prefix followed by the predictions: joined into a string when
        ``prefix`` is one, else a list of tokens.
    """
    if isinstance(num_preds, bool) or not isinstance(num_preds, numbers.Integral) \
            or num_preds < 0:
        raise ArgumentError(f"predict_lm: num_preds must be an integer >= 0, got {num_preds!r}")
    tokens = list(prefix)
    if not tokens:
        raise ArgumentError("predict_lm: prefix is empty; give at least one token to start from")
    vocab = _Vocab(vocab, "predict_lm")
    stream = _LMStream(net, ctx)
    with _fresh_graph(net):
        logits = stream.feed([vocab.id(t) for t in tokens])
        for k in range(num_preds):
            token_id = int(logits.argmax())
            tokens.append(vocab.token(token_id))
            if k + 1 < num_preds:
                logits = stream.feed([token_id])
    return "".join(tokens) if isinstance(prefix, str) else tokens


@contextlib.contextmanager
def _fresh_graph(net):
    """Run a hybridized net with other arguments than its cached graph was built for.

    A hybridized block caches the graph of its first call: after ``fit`` (which
    calls ``net(X)``) a call with the recurrent state, ``net(X, *state)``, fails
    with MXNet's "argument structure does not match the cached version".  The
    cache is dropped before the stream runs and again after it, so the caller's
    next ``net(X)`` builds its own graph again.
    """
    clear = getattr(net, "_clear_cached_op", None)
    if clear is not None:
        clear()
    try:
        yield
    finally:
        if clear is not None:
            clear()


class _LMStream:
    """Feeds token ids to a recurrent language model, carrying its state."""

    def __init__(self, net, ctx):
        if not hasattr(net, "begin_state"):
            raise ArgumentError(f"predict_lm: {type(net).__name__} has no begin_state(); pass a "
                                f"recurrent language model such as get_model('rnn_lm')")
        self.net, self.ctx = net, ctx or _net_context(net, "predict_lm")
        self.state = list(net.begin_state(batch_size=1, ctx=self.ctx))
        self.window = getattr(net, "num_steps", None)  # models unrolled over fixed steps
        self.pending = []  # ids fed after self.state, fewer than a window

    def feed(self, ids):
        """Logits ``(V,)`` after the last of ``ids``."""
        if self.window is None:
            logits, self.state = self._run(ids, self.state)
            return logits[-1]
        last = None
        for i in ids:
            self.pending.append(i)
            if len(self.pending) == self.window:
                logits, self.state = self._run(self.pending, self.state)
                self.pending, last = [], logits[-1]
        if self.pending:
            n = len(self.pending)
            logits, _ = self._run(self.pending + [0] * (self.window - n), self.state)
            last = logits[n - 1]
        return last

    def _run(self, ids, state):
        import mxnet as mx

        out = self.net(mx.nd.array([ids], ctx=self.ctx, dtype="int32"), *state)
        return out[0][0].asnumpy(), list(out[1:])


def predict_seq2seq(net, src_sentence, src_vocab, tgt_vocab, num_steps, ctx=None, *,
                    bos="<bos>", eos="<eos>", pad="<pad>"):
    """Translate one sentence greedily and keep the attention of every decoding step.

    Defined for the lesson on sequence to sequence learning, and used again
    for Bahdanau attention and the Transformer.  As in the course, the
    source gets ``<eos>`` and is padded to ``num_steps``; decoding starts
    from ``<bos>``, feeds each step's argmax back and stops at ``<eos>`` or
    after ``num_steps`` tokens.  The models decode with their own one-step
    machinery, as :func:`gluon_dl.models.seq2seq.predict_seq2seq` (ids in,
    ids out, batched) and :func:`gluon_dl.models.transformer.greedy_translate` do.

    Parameters
    ----------
    net : Seq2Seq or Transformer
        ``get_model("seq2seq_gru")``, ``"seq2seq_attention"`` or ``"transformer"``.
    src_sentence : str or list of str
        A string is lower-cased and split on whitespace (the course's
        preprocessing has put spaces around punctuation already).
    src_vocab, tgt_vocab
        Tokens <-> ids; see the module docstring.  They must hold ``bos``,
        ``eos`` and ``pad``.
    num_steps : int
        Source length after padding (longer sources are cut) and most tokens
        to generate.
    ctx : mxnet.Context, optional
        Default: where ``net``'s parameters are.
    bos, eos, pad : str
        The special tokens.

    Returns
    -------
    translation : str
        The predicted tokens joined by spaces, without ``<eos>``.
    attention_weights : numpy.ndarray or None
        ``(rows, cols, steps, keys)``, ready for
        :func:`gluon_dl.plot.show_heatmaps`: one query row per decoding step
        (the step that emitted ``<eos>`` included) over the source's valid
        keys (its tokens and ``<eos>``; padding, which gets no weight, is
        left out).  Bahdanau attention (``seq2seq_attention``) gives
        ``(1, 1, steps, keys)``; the Transformer its encoder-decoder attention,
        ``(num_layers, num_heads, steps, keys)``.  ``None`` for models
        without attention (``seq2seq_gru``).
    """
    import mxnet as mx

    if isinstance(num_steps, bool) or not isinstance(num_steps, numbers.Integral) \
            or num_steps < 1:
        raise ArgumentError(f"predict_seq2seq: num_steps must be an integer >= 1, "
                            f"got {num_steps!r}")
    src_v, tgt_v = _Vocab(src_vocab, "predict_seq2seq"), _Vocab(tgt_vocab, "predict_seq2seq")
    words = src_sentence.lower().split() if isinstance(src_sentence, str) else list(src_sentence)
    ids = [src_v.id(w) for w in words] + [src_v.id(eos)]
    valid = min(len(ids), num_steps)
    ids = (ids + [src_v.id(pad)] * num_steps)[:num_steps]
    ctx = ctx or _net_context(net, "predict_seq2seq")
    decoder = _decoder_of(net, ctx)
    eos_id, token, out, weights = tgt_v.id(eos), tgt_v.id(bos), [], []
    with _imperative_attention(net):
        decoder.start(mx.nd.array([ids], ctx=ctx, dtype="int32"),
                      mx.nd.array([valid], ctx=ctx, dtype="int32"))
        for _ in range(num_steps):
            logits, w = decoder.step(token)
            token = int(logits.argmax())
            if w is not None:
                weights.append(w[..., :valid])
            if token == eos_id:
                break
            out.append(token)
    attention = np.stack(weights, axis=2) if weights else None
    return " ".join(tgt_v.token(i) for i in out), attention


class _GRUSteps:
    """One-token steps of :class:`gluon_dl.models.seq2seq.Seq2Seq`'s decoder."""

    def __init__(self, net, ctx):
        self.net, self.ctx = net, ctx

    def start(self, src, valid_len):
        self.enc_outputs, self.enc_state = self.net.encoder(src, valid_len)
        self.state, self.valid_len = self.enc_state, valid_len

    def step(self, token):
        """Logits ``(V,)`` and attention ``(1, 1, keys)`` (None without attention)."""
        import mxnet as mx

        X = mx.nd.full((1, 1), token, ctx=self.ctx, dtype="int32")
        logits, self.state = self.net.decoder.unroll(mx.nd, X, self.state, self.enc_outputs,
                                                     self.enc_state, self.valid_len, 1)
        weights = getattr(self.net.decoder, "attention_weights", None)
        w = _numpy(weights[-1]) if weights else None  # (1, 1, keys)
        return logits.asnumpy()[0, -1], w


class _TransformerSteps:
    """One-token steps of :class:`gluon_dl.models.transformer.Transformer` (key/value cache)."""

    def __init__(self, net, ctx):
        self.net, self.ctx = net, ctx

    def start(self, src, valid_len):
        self.state = self.net.init_state(src, valid_len)

    def step(self, token):
        """Logits ``(V,)`` and encoder-decoder attention ``(layers, heads, keys)``."""
        import mxnet as mx

        tokens = mx.nd.full((1,), token, ctx=self.ctx, dtype="int32")
        logits, self.state = self.net.decode_step(tokens, self.state)
        # Each block's attention2 weights: (1, heads, 1 query, keys).
        per_layer = [_numpy(getattr(getattr(blk, "attention2", None), "attention_weights", None))
                     for blk in self.net.decoder.blks]
        w = None if any(a is None for a in per_layer) else np.stack([a[0, :, 0] for a in per_layer])
        return logits.asnumpy()[0], w


def _decoder_of(net, ctx):
    if hasattr(net, "init_state") and hasattr(net, "decode_step"):
        return _TransformerSteps(net, ctx)
    if hasattr(net, "encoder") and hasattr(getattr(net, "decoder", None), "unroll"):
        return _GRUSteps(net, ctx)
    raise ArgumentError(f"predict_seq2seq: {type(net).__name__} is neither a Transformer "
                        f"(init_state/decode_step) nor a Seq2Seq (decoder.unroll); pass "
                        f"get_model('seq2seq_attention'), 'seq2seq_gru' or 'transformer'")


def _numpy(x):
    """``x`` as numpy if it is an NDArray (a hybridized layer keeps a Symbol instead)."""
    import mxnet as mx

    return x.asnumpy() if isinstance(x, mx.nd.NDArray) else None


@contextlib.contextmanager
def _imperative_attention(net):
    """Run the attention layers of ``net`` imperatively for the duration.

    A hybridized layer runs its cached graph and keeps a graph symbol in
    ``attention_weights``; run imperatively it keeps the weights themselves.
    The rest of the network stays hybridized, and the layers are hybridized
    again afterwards (their cached graphs are kept).
    """
    switched = []
    net.apply(lambda b: switched.append(b) if "attention_weights" in vars(b)
              and getattr(b, "_active", False) else None)
    for block in switched:
        block._active = False
    try:
        yield
    finally:
        for block in switched:
            block._active = True


def _net_context(net, owner):
    """The context of ``net``'s first parameter."""
    import mxnet as mx

    params = list(net.collect_params().values())
    if not params:
        return mx.cpu()
    try:
        return params[0].list_ctx()[0]
    except RuntimeError as exc:
        raise ArgumentError(f"{owner}: the network's parameters are not initialized ({exc}); "
                            f"train it or call net.initialize() first") from exc


class _Vocab:
    """Tokens <-> ids over any of the vocabularies the module docstring lists."""

    def __init__(self, vocab, owner):
        self.owner = owner
        if isinstance(vocab, tuple) and len(vocab) == 2:
            to_id, to_token = vocab
        elif isinstance(vocab, Mapping) and not hasattr(vocab, "idx_to_token"):
            to_id, to_token = vocab, {i: t for t, i in vocab.items()}
        else:
            to_id = vocab
            to_token = getattr(vocab, "idx_to_token", None)
            if to_token is None:
                to_token = getattr(vocab, "to_tokens", None)
        if not hasattr(to_id, "__getitem__") or to_token is None:
            raise ArgumentError(f"{owner}: {type(vocab).__name__} is not a vocabulary; pass one "
                                f"with vocab[token] and idx_to_token or to_tokens, a dict "
                                f"{{token: id}} or a pair (token_to_idx, idx_to_token)")
        self._to_id, self._to_token = to_id, to_token

    def id(self, token):
        try:
            return int(self._to_id[token])
        except KeyError:
            if token == UNK:
                raise ArgumentError(f"{self.owner}: token {token!r} is not in the vocabulary") \
                    from None
            try:
                return int(self._to_id[UNK])
            except KeyError:
                raise ArgumentError(f"{self.owner}: token {token!r} is not in the vocabulary, "
                                    f"which has no {UNK!r} for unknown tokens either; add one "
                                    f"of them") from None

    def token(self, i):
        if callable(self._to_token) and not isinstance(self._to_token, (Mapping, list, tuple)):
            return self._to_token(i)
        try:
            return self._to_token[i]
        except (KeyError, IndexError):
            raise ArgumentError(f"{self.owner}: the network predicted id {i}, which the "
                                f"vocabulary does not have; use the vocabulary the network "
                                f"was trained with") from None
