"""Basics, recurrent language models and seq2seq: parity, losses and tiny training runs."""
import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from mxnet import autograd, gluon  # noqa: E402

from gluon_dl.data import to_model_input  # noqa: E402
from gluon_dl.losses import MaskedSoftmaxCELoss  # noqa: E402
from gluon_dl.models import get_config, get_model, list_models  # noqa: E402
from gluon_dl.models.basics import basics_spec, l1_penalty, l2_penalty  # noqa: E402
from gluon_dl.models.rnn_lm import lm_spec  # noqa: E402
from gluon_dl.models.rnn_scratch import ScratchRNNLM, scratch_spec  # noqa: E402
from gluon_dl.models.seq2seq import predict_seq2seq, seq2seq_spec  # noqa: E402

SCRATCH = [f"{cell}_scratch_lm" for cell in scratch_spec]
LANGUAGE_MODELS = [n for n in list_models() if n in lm_spec or n in SCRATCH]
TEXT = "the time traveller for so it will be convenient to speak of him "


def _seed(seed=0):
    mx.random.seed(seed)
    np.random.seed(seed)


def test_every_spec_entry_is_registered():
    for table in (basics_spec, lm_spec, seq2seq_spec):
        assert set(table) <= set(list_models())
    assert set(SCRATCH) <= set(list_models())
    assert all(get_config(n).task == "language-model" and get_config(n).num_classes == 28
               for n in LANGUAGE_MODELS)


# ----------------------------------------------------------------- basics
def _train(net, X, y, loss_fn, num_epochs, lr, batch_size=64, optimizer="sgd", wd=0.0):
    trainer = gluon.Trainer(net.collect_params(), optimizer, {"learning_rate": lr, "wd": wd})
    losses = []
    for _ in range(num_epochs):
        total = 0.0
        for i in range(0, len(X), batch_size):
            Xb, yb = mx.nd.array(X[i:i + batch_size]), mx.nd.array(y[i:i + batch_size])
            with autograd.record():
                loss = loss_fn(net(Xb), yb)
            loss.backward()
            trainer.step(len(Xb))
            total += loss.sum().asscalar()
        losses.append(total / len(X))
    return losses


def test_linreg_recovers_the_true_weights():
    _seed()
    true_w, true_b = np.array([2.0, -3.4]), 4.2
    X = np.random.normal(size=(1000, 2)).astype("float32")
    y = (X @ true_w + true_b + np.random.normal(scale=0.01, size=1000)).reshape(-1, 1)
    net = get_model("linreg")
    net.initialize(mx.init.Normal(0.01))
    losses = _train(net, X, y, gluon.loss.L2Loss(), num_epochs=5, lr=0.3, batch_size=100)
    assert losses[-1] < 1e-3 < losses[0]
    np.testing.assert_allclose(net.output.weight.data().asnumpy().ravel(), true_w, atol=0.01)
    np.testing.assert_allclose(net.output.bias.data().asscalar(), true_b, atol=0.01)


@pytest.mark.parametrize("name", [n for n in basics_spec if get_config(n).task ==
                                  "classification"])
def test_classifier_learns_digits(name, mnist_split):
    _seed()
    X_tr, _, y_tr, _ = mnist_split
    pick = np.random.RandomState(0).permutation(len(X_tr))[:1024]
    net = get_model(name)
    net.initialize(mx.init.Xavier())
    losses = _train(net, to_model_input(X_tr[pick], net.config), y_tr[pick], gluon.loss.SoftmaxCrossEntropyLoss(), num_epochs=3,
                    lr=0.1)
    assert losses[-1] < 0.6 * losses[0]


def test_weight_decay_shrinks_weights_and_equals_the_l2_penalty():
    X = np.random.RandomState(0).randn(256, 1, 28, 28).astype("float32")
    y = np.random.RandomState(1).randint(0, 10, 256)
    norms = {}
    for wd in (0.0, 0.5):
        _seed()
        net = get_model("mlp")
        net.initialize(mx.init.Xavier())
        _train(net, X, y, gluon.loss.SoftmaxCrossEntropyLoss(), num_epochs=2, lr=0.1, wd=wd)
        norms[wd] = l2_penalty(net).asscalar()
    assert norms[0.5] < 0.7 * norms[0.0]

    # One SGD step with wd=lambd (biases excluded) equals adding lambd * l2_penalty to the loss.
    lambd, Xb, yb = 0.5, mx.nd.array(X[:32]), mx.nd.array(y[:32])
    loss_fn, results = gluon.loss.SoftmaxCrossEntropyLoss(), []
    for use_wd in (True, False):
        _seed()
        net = get_model("softmax_regression")
        net.initialize(mx.init.Xavier())
        net.collect_params(".*bias").setattr("wd_mult", 0)
        trainer = gluon.Trainer(net.collect_params(), "sgd",
                                {"learning_rate": 0.1, "wd": lambd if use_wd else 0.0})
        with autograd.record():
            loss = loss_fn(net(Xb), yb).mean() + (0 if use_wd else lambd * l2_penalty(net))
        loss.backward()
        trainer.step(1)
        results.append(net.output.weight.data().asnumpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-7)


def test_l1_penalty_sums_absolute_weights_only():
    net = get_model("mlp")
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 1, 28, 28)))
    want = sum(np.abs(p.data().asnumpy()).sum() for n, p in net.collect_params().items()
               if n.endswith("weight"))
    np.testing.assert_allclose(l1_penalty(net).asscalar(), want, rtol=1e-5)


# ------------------------------------------------- scratch RNN parity with gluon.rnn
def _gluon_twin(cell, vocab, hidden):
    layer = {"rnn": gluon.rnn.RNN, "gru": gluon.rnn.GRU, "lstm": gluon.rnn.LSTM}[cell]
    extra = {"activation": "tanh"} if cell == "rnn" else {}
    return layer(hidden, layout="NTC", input_size=vocab, **extra)


# MXNet's fused gate order (i2h/h2h weights stacked in this order) -> the course's names.
_GATE_ORDER = {"rnn": ("h",), "gru": ("r", "z", "h"), "lstm": ("i", "f", "c", "o")}


def _copy_weights(scratch, twin, cell, hidden):
    """Set the scratch weights from the gluon layer's (stacked, transposed) ones."""
    p = {k.split("_", 1)[1]: v.data().asnumpy() for k, v in twin.collect_params().items()}
    mine = {name: param for name, param in scratch._reg_params.items()}
    for k, g in enumerate(_GATE_ORDER[cell]):
        rows = slice(k * hidden, (k + 1) * hidden)
        mine[f"W_x{g}"].set_data(p["l0_i2h_weight"][rows].T)
        mine[f"W_h{g}"].set_data(p["l0_h2h_weight"][rows].T)
        bias = p["l0_i2h_bias"][rows]
        if cell == "gru" and g == "h":
            mine["b_hh"].set_data(p["l0_h2h_bias"][rows])  # inside the reset product
        else:
            bias = bias + p["l0_h2h_bias"][rows]
        mine[f"b_{g}"].set_data(bias)


@pytest.mark.parametrize("cell", sorted(scratch_spec))
def test_scratch_cells_equal_gluon_rnn_layers(cell):
    vocab, hidden, steps, batch = 7, 5, 4, 3
    _seed()
    twin = _gluon_twin(cell, vocab, hidden)
    twin.initialize(mx.init.Uniform(0.5))
    scratch = ScratchRNNLM(cell, vocab, hidden, steps, reset_after=True)
    scratch.initialize()
    _copy_weights(scratch, twin, cell, hidden)
    X = mx.nd.array(np.random.RandomState(0).randint(0, vocab, (batch, steps)), dtype="int32")
    state = [mx.nd.array(np.random.RandomState(i + 1).randn(batch, hidden))
             for i in range(scratch.num_states)]
    # An identity output head makes the first `hidden` logits the hidden states.
    scratch.W_hq.set_data(mx.nd.eye(hidden, vocab))
    out, *twin_state = twin(mx.nd.one_hot(X, vocab), [s.expand_dims(0) for s in state])
    logits, *final = scratch(X, *state)
    np.testing.assert_allclose(logits.asnumpy()[..., :hidden], out.asnumpy(), rtol=1e-5,
                               atol=1e-6)
    for got, want in zip(final, twin_state[0]):
        np.testing.assert_allclose(got.asnumpy(), want[0].asnumpy(), rtol=1e-5, atol=1e-6)


def test_course_gru_resets_before_the_product_unlike_cudnn():
    _seed()
    nets = []
    for reset_after in (False, True):
        mx.random.seed(0)
        net = ScratchRNNLM("gru", 7, 5, 4, reset_after=reset_after)
        net.initialize()
        for p in net.collect_params().values():  # weights larger than the 0.01 default
            p.set_data(mx.nd.random.uniform(-0.5, 0.5, p.shape))
        nets.append(net)
    X = mx.nd.array([[1, 2, 3, 4]], dtype="int32")
    a, b = (net(X).asnumpy() for net in nets)
    assert np.abs(a - b).max() > 1e-4  # R * (H W) != (R * H) W


# ------------------------------------------------------------- language models
def _text_batches(num_steps, batch_size, rng):
    vocab = sorted(set(TEXT))
    ids = np.array([vocab.index(c) for c in TEXT * 8])
    starts = rng.randint(0, len(ids) - num_steps - 1, batch_size)
    X = np.stack([ids[s:s + num_steps] for s in starts])
    Y = np.stack([ids[s + 1:s + num_steps + 1] for s in starts])
    return mx.nd.array(X, dtype="int32"), mx.nd.array(Y)


@pytest.mark.parametrize("name", LANGUAGE_MODELS)
def test_language_model_training_lowers_the_loss(name):
    _seed()
    net = get_model(name)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    num_steps = (net.config.test_input_shape or net.config.input_shape)[0]
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.03,
                                                           "clip_gradient": 1.0})
    loss_fn, rng, losses = gluon.loss.SoftmaxCrossEntropyLoss(), np.random.RandomState(0), []
    for _ in range(25):
        X, Y = _text_batches(num_steps, 8, rng)
        with autograd.record():
            loss = loss_fn(net(X), Y).mean()
        loss.backward()
        trainer.step(1)
        losses.append(loss.asscalar())
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:5])


@pytest.mark.parametrize("name", LANGUAGE_MODELS)
def test_language_model_state_in_state_out(name):
    _seed()
    net = get_model(name)
    net.initialize(mx.init.Xavier())
    X = mx.nd.array(np.random.RandomState(0).randint(0, 28, (2, net.config.input_shape[0])),
                    dtype="int32")
    logits, *state = net(X, *net.begin_state(2))
    np.testing.assert_allclose(logits.asnumpy(), net(X).asnumpy(), rtol=1e-5, atol=1e-6)
    assert len(state) == len(net.begin_state(2))
    assert all(s.shape == z.shape for s, z in zip(state, net.begin_state(2)))


# --------------------------------------------------------------------- seq2seq
def test_masked_softmax_ce_ignores_padding_exactly():
    rng = np.random.RandomState(0)
    pred = rng.randn(3, 5, 7).astype("float32")
    label = rng.randint(0, 7, (3, 5))
    valid_len = mx.nd.array([5, 2, 3], dtype="int32")
    loss_fn = MaskedSoftmaxCELoss()
    base = loss_fn(mx.nd.array(pred), mx.nd.array(label), valid_len).asnumpy()
    logp = pred - np.log(np.exp(pred).sum(-1, keepdims=True))
    per_step = -np.take_along_axis(logp, label[..., None], -1)[..., 0]
    keep = np.arange(5) < valid_len.asnumpy()[:, None]
    np.testing.assert_allclose(base, (per_step * keep).mean(1), rtol=1e-5)

    pred2, label2 = pred.copy(), label.copy()
    pred2[~keep] = rng.randn(int((~keep).sum()), 7) * 10
    label2[~keep] = (label2[~keep] + 3) % 7
    pred_nd = mx.nd.array(pred2)
    pred_nd.attach_grad()
    with autograd.record():
        changed = loss_fn(pred_nd, mx.nd.array(label2), valid_len)
    changed.backward()
    np.testing.assert_array_equal(changed.asnumpy(), base)
    assert (pred_nd.grad.asnumpy()[~keep] == 0).all()
    assert (np.abs(pred_nd.grad.asnumpy()[keep]).sum(-1) > 0).all()


PAD, BOS, EOS, FIRST = 0, 1, 2, 3


def _reverse_task(n, num_steps, vocab, rng):
    """Source: 2..num_steps-1 random tokens; target: them reversed, then <eos>, padded."""
    src = np.full((n, num_steps), PAD)
    tgt = np.full((n, num_steps), PAD)
    lens = rng.randint(2, num_steps, n)
    for i, length in enumerate(lens):
        seq = rng.randint(FIRST, vocab, length)
        src[i, :length] = seq
        tgt[i, :length + 1] = list(seq[::-1]) + [EOS]
    dec_in = np.concatenate([np.full((n, 1), BOS), tgt[:, :-1]], axis=1)
    return src, dec_in, tgt, lens, lens + 1


@pytest.mark.parametrize("name", sorted(seq2seq_spec))
def test_seq2seq_overfits_reversal_and_greedy_decoding_reproduces_it(name):
    _seed()
    num_steps, vocab = 6, 8
    net = get_model(name, src_vocab=vocab, tgt_vocab=vocab, embed_size=16, num_hiddens=32,
                    num_layers=1, num_steps=num_steps)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    src, dec_in, tgt, src_len, tgt_len = _reverse_task(32, num_steps, vocab,
                                                       np.random.RandomState(0))
    args = [mx.nd.array(a, dtype="int32") for a in (src, dec_in, src_len)]
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.05,
                                                           "clip_gradient": 1.0})
    loss_fn, losses = MaskedSoftmaxCELoss(), []
    for _ in range(30):
        with autograd.record():
            loss = loss_fn(net(*args), mx.nd.array(tgt), mx.nd.array(tgt_len)).mean()
        loss.backward()
        trainer.step(1)
        losses.append(loss.asscalar())
    assert losses[-1] < 0.1 * losses[0]
    pred = predict_seq2seq(net, src, src_len, BOS, num_steps, eos=EOS)
    keep = np.arange(num_steps) < tgt_len[:, None]
    exact = [(p[k] == t[k]).all() for p, t, k in zip(pred, tgt, keep)]
    assert np.mean(exact) >= 0.9, f"greedy decoding reproduced {np.mean(exact):.0%}"
