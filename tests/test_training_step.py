"""fit trains every registered model; its fused graph equals separate calls.

Each model's ``config.task`` picks a training recipe (targets and loss) from
``RECIPES``: a model added to the registry is trained here without editing
this file, and a new task fails until it gets a recipe.
"""
import math

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from mxnet import gluon  # noqa: E402

from gluon_dl.losses import MaskedSoftmaxCELoss, vae_elbo_loss, vqvae_loss  # noqa: E402
from gluon_dl.models import example_inputs, get_config, get_model, list_models  # noqa: E402
from gluon_dl.training import fit  # noqa: E402
from gluon_dl.training.callbacks import CallbackList  # noqa: E402
from gluon_dl.training.loop import FitState, _build_train_graph, _make_step  # noqa: E402

BATCH = 4


def _ints(rng, high, shape):
    return mx.nd.array(rng.randint(0, high, shape), dtype="int32")


def _like(rng, out):
    return mx.nd.array(rng.rand(*out.shape))


def _classes(rng, out):
    """Class targets for scores whose last axis is the class axis."""
    return mx.nd.array(rng.randint(0, out.shape[-1], out.shape[:-1]))


class _BertPretrainingLoss(gluon.HybridBlock):
    """Masked-LM plus next-sentence cross-entropy on BERT's (encoded, mlm, nsp) outputs."""

    def __init__(self):
        super().__init__()
        self.ce = gluon.loss.SoftmaxCrossEntropyLoss()

    def hybrid_forward(self, F, out, mlm_label, nsp_label):
        _, mlm, nsp = out
        return self.ce(mlm, mlm_label) + self.ce(nsp, nsp_label)


def _ctc_targets(rng, out):
    """Label sequences of length 4 over the non-blank classes (blank is the last)."""
    return mx.nd.array(rng.randint(0, out.shape[-1] - 1, (out.shape[0], 4)))


# task -> (targets(rng, inputs, output) as a tuple, loss)
RECIPES = {
    "classification": (lambda r, xs, out: (_classes(r, out),),
                       gluon.loss.SoftmaxCrossEntropyLoss),
    "language-model": (lambda r, xs, out: (_classes(r, out),),
                       gluon.loss.SoftmaxCrossEntropyLoss),
    "regression": (lambda r, xs, out: (_like(r, out),), gluon.loss.L2Loss),
    "sequence-regression": (lambda r, xs, out: (_like(r, out),), gluon.loss.L2Loss),
    "reinforcement-learning": (lambda r, xs, out: (_like(r, out),), gluon.loss.HuberLoss),
    "gan-discriminator": (lambda r, xs, out: (mx.nd.array(r.randint(0, 2, out.shape)),),
                          gluon.loss.SigmoidBinaryCrossEntropyLoss),
    "generation": (  # a target image in [0, 1] (Bernoulli likelihoods need one)
        lambda r, xs, out: (_like(r, out[0] if isinstance(out, (tuple, list)) else out),),
        lambda: _generation_loss),
    "seq2seq": (lambda r, xs, out: (_classes(r, out), xs[2]), MaskedSoftmaxCELoss),
    "pretraining": (lambda r, xs, out: (_classes(r, out[1]), _classes(r, out[2])),
                    _BertPretrainingLoss),
    "sequence-recognition": (lambda r, xs, out: (_ctc_targets(r, out),),
                             lambda: gluon.loss.CTCLoss(layout="NTC")),
}


def _generation_loss(out, *targets):
    """Image generators: L2 to a target image; VAEs and VQ-VAEs: their own objectives."""
    if not isinstance(out, (tuple, list)):
        return gluon.loss.L2Loss()(out, targets[0])
    if len(out) == 3:  # VAE: (logits, mu, logvar)
        return vae_elbo_loss(out[0], targets[0], out[1], out[2])
    return vqvae_loss(out[0], targets[0], out[1], out[2])  # (logits, z_e, z_q, codes)


def _setup(name, seed=0):
    """The initialized network, one batch ``(inputs, targets)`` and the loss for ``name``."""
    cfg = get_config(name)
    if cfg.task not in RECIPES:
        pytest.fail(f"no training recipe for task {cfg.task!r} ({name}): add one to RECIPES")
    targets, make_loss = RECIPES[cfg.task]
    mx.random.seed(seed)
    net = get_model(name)
    net.initialize(mx.init.Xavier())
    xs = tuple(example_inputs(cfg, batch=BATCH, seed=seed, small=True))
    out = net(*xs)
    ys = targets(np.random.RandomState(seed + 1), xs, out)
    return net, xs, ys, make_loss()


def _unbox(value):
    return value[0] if len(value) == 1 else value


@pytest.mark.parametrize("name", list_models())
def test_fit_trains_every_registered_model(name):
    """Four Adam steps on one batch through fit lower the loss of every model."""
    net, xs, ys, loss = _setup(name)
    batch = [(_unbox(xs), _unbox(ys))]
    hist = fit(net, batch, 4, loss=loss, optimizer="adam", lr=5e-4, seed=0, progress=False)
    losses = hist.history["loss"]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses), losses
    assert losses[-1] < losses[0], f"{name}: loss did not go down: {losses}"


def _fused_models():
    """Models that train at their full input shape in a test (the ImageNet-size ones
    take the same code path through the CIFAR ResNets)."""
    return [n for n in list_models() if get_config(n).test_input_shape is None]


def _steps(name, fuse, steps=3):
    net, xs, ys, loss = _setup(name)
    net.hybridize(static_alloc=True, static_shape=True)
    # a rate at which every model's loss stays finite: the step stops at a non-finite one
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01})
    state = FitState(num_epochs=1)
    step = _make_step(net, loss, trainer, [mx.cpu()], state, CallbackList([]), fuse=fuse)
    for i in range(steps):
        step(i, _unbox(xs), _unbox(ys))
    params = {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}
    return params, state


@pytest.mark.parametrize("name", _fused_models())
def test_fused_step_equals_separate_calls(name):
    """Same weights, loss sum and hit count after a few SGD steps, fused or not."""
    fused, s_fused = _steps(name, fuse=True)
    plain, s_plain = _steps(name, fuse=False)
    for k in plain:
        np.testing.assert_allclose(fused[k], plain[k], rtol=1e-5, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(s_fused.loss_sum, s_plain.loss_sum, rtol=1e-5)
    assert s_fused.correct == s_plain.correct
    assert s_fused.seen == s_plain.seen == 3 * BATCH


def _lenet():
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier())
    return net


def test_train_graph_is_built_for_a_hybridized_classifier():
    net = _lenet()
    net.hybridize()
    x, y = mx.nd.zeros((4, 1, 28, 28)), mx.nd.zeros((4,))
    graph = _build_train_graph(net, gluon.loss.SoftmaxCrossEntropyLoss(), (x,), (y,))
    assert graph is not None and graph.classify
    losses, metrics = graph(x, y)
    assert losses.shape == (4,) and metrics.shape == (2,)
    assert not graph.collect_params().keys() - net.collect_params().keys()  # owns nothing


def test_train_graph_takes_several_inputs_and_targets():
    net, xs, ys, loss = _setup("seq2seq_gru")
    net.hybridize()
    graph = _build_train_graph(net, loss, xs, ys)
    assert graph is not None and not graph.classify and graph.num_inputs == 3
    losses, metrics = graph(*xs, *ys)
    np.testing.assert_allclose(losses.asnumpy(), loss(net(*xs), *ys).asnumpy(), rtol=1e-5)
    assert metrics.shape == (1,)


def test_train_graph_counts_no_hits_for_regression():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(1))
    net.initialize()
    net.hybridize()
    x, y = mx.nd.ones((4, 3)), mx.nd.ones((4, 1))
    graph = _build_train_graph(net, gluon.loss.L2Loss(), (x,), (y,))
    assert graph is not None and not graph.classify
    _, metrics = graph(x, y)
    assert metrics.shape == (1,)


class _Untraceable(gluon.HybridBlock):
    """A block that only runs imperatively (it reads values back to numpy)."""

    def hybrid_forward(self, F, x):
        return F.array(x.asnumpy() * 2)


class _UntraceableLoss(gluon.HybridBlock):
    """A loss that only runs imperatively."""

    def hybrid_forward(self, F, out, label):
        return F.array(np.abs(out.asnumpy()).sum(axis=1))


@pytest.mark.parametrize("case", ["not hybridized", "python loss", "imperative block",
                                  "untraceable block", "untraceable loss"])
def test_train_graph_falls_back_to_separate_calls(case):
    """Blocks that cannot be traced run as separate calls (fit still trains them)."""
    x, y = mx.nd.zeros((2, 1, 28, 28)), mx.nd.zeros((2,))
    net, loss = _lenet(), gluon.loss.SoftmaxCrossEntropyLoss()
    if case == "python loss":
        net.hybridize()
        loss = lambda out, label: mx.nd.softmax_cross_entropy(out, label)  # noqa: E731
    elif case == "imperative block":
        net = gluon.nn.Sequential()
        net.add(gluon.nn.Dense(10))
        net.initialize()
    elif case == "untraceable block":
        net = _Untraceable()
        net.hybridize()
    elif case == "untraceable loss":
        net.hybridize()
        loss = _UntraceableLoss()
    assert _build_train_graph(net, loss, (x,), (y,)) is None


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "separate"])
@pytest.mark.parametrize("case", ["input channels", "target length"])
def test_batch_that_does_not_fit_gets_one_clear_error(case, fused):
    from gluon_dl.errors import InputShapeError

    net = _lenet()
    net(mx.nd.zeros((1, 1, 28, 28)))  # weights now fixed to one input channel
    X, y = mx.nd.zeros((4, 1, 28, 28)), mx.nd.zeros((4,))
    if case == "input channels":
        X = mx.nd.zeros((4, 3, 28, 28))
    else:
        y = mx.nd.zeros((5,))
    with pytest.raises(InputShapeError) as err:
        fit(net, [(X, y)], 1, progress=False, hybridize=fused)
    msg = str(err.value)
    assert "batch 0" in msg and str(tuple(X.shape)) in msg and str(tuple(y.shape)) in msg
    assert "model 'lenet5' takes ('N', 1, 28, 28)" in msg and "Shape inconsistent" in msg
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_validation_reports_loss_for_every_model_and_accuracy_for_classifiers():
    from gluon_dl.training import EarlyStopping, validate

    net, xs, ys, loss = _setup("seq2seq_gru")
    batch = [(xs, ys)]
    stop = EarlyStopping("val_loss", patience=1)
    hist = fit(net, batch, 3, loss=loss, val_iter=batch, optimizer="adam", lr=5e-3,
               callbacks=[stop], progress=False)
    h = hist.history
    assert "val_acc" not in h and "acc" not in h and len(h["val_loss"]) == 3
    assert h["val_loss"][-1] < h["val_loss"][0]  # the same batch: validation follows training
    np.testing.assert_allclose(validate(net, batch, loss)["val_loss"],
                               float(loss(net(*xs), *ys).mean().asscalar()), rtol=1e-5)

    clf, cx, cy, closs = _setup("lenet5")
    logs = validate(clf, [(cx[0], cy[0])], closs)
    want = float((clf(cx[0]).argmax(axis=1) == cy[0]).mean().asscalar())
    assert logs["val_acc"] == pytest.approx(want) and logs["val_loss"] > 0


def test_two_contexts_match_one_for_a_multi_input_model():
    """Every input and target is split across the contexts; the result equals one context."""
    results = []
    for ctx in ([mx.cpu(0)], [mx.cpu(0), mx.cpu(1)]):
        net, xs, ys, loss = _setup("seq2seq_attention")
        hist = fit(net, [(xs, ys)], 3, loss=loss, optimizer="sgd", lr=0.1, ctx=ctx,
                   progress=False)
        params = {k: p.data(ctx[0]).asnumpy() for k, p in net._collect_params_with_prefix().items()}
        results.append((params, hist.history["loss"]))
    (one, loss_one), (two, loss_two) = results
    np.testing.assert_allclose(loss_two, loss_one, rtol=1e-5)
    assert loss_one[-1] < loss_one[0]
    for k in one:
        np.testing.assert_allclose(two[k], one[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_evaluate_accuracy_refuses_outputs_that_are_not_class_scores():
    from gluon_dl.errors import GluonDLError
    from gluon_dl.training import evaluate_accuracy

    net, xs, ys, _ = _setup("gru_lm")
    with pytest.raises(GluonDLError, match="class scores.*validate"):
        evaluate_accuracy(net, [(xs[0], ys[0])])
