"""What fit refuses and where it stops: bad arguments, batches, labels and non-finite numbers.

Also what fit reads from the model's config (the task decides whether
accuracy is logged), the channel-padding switch and the logged fallback
from the fused training graph.
"""
import json
import logging
import math

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from mxnet import autograd, gluon  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from gluon_dl.data import ArrayLoader  # noqa: E402
from gluon_dl.errors import (ArgumentError, DataError, InputShapeError,  # noqa: E402
                             NonFiniteError, UnknownNameError)
from gluon_dl.models import example_inputs, get_model  # noqa: E402
from gluon_dl.training import _channel_pad, as_contexts, evaluate_accuracy, fit  # noqa: E402
from gluon_dl.training import loop, validate  # noqa: E402


def _params(net):
    return {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}


def _lenet(seed=0):
    mx.random.seed(seed)
    return get_model("lenet5")


def _digits(n=12, seed=0):
    rng = np.random.RandomState(seed)
    return rng.rand(n, 1, 28, 28).astype("float32"), rng.randint(0, 10, n).astype("float32")


class _Linear(gluon.HybridBlock):
    """One dense layer under a structural name (``out.weight``)."""

    def __init__(self, units=1, **kwargs):
        super().__init__()
        with self.name_scope():
            self.out = nn.Dense(units, **kwargs)

    def hybrid_forward(self, F, x):
        return self.out(x)


class _SqrtHead(gluon.HybridBlock):
    """sqrt of a projection whose weights start at zero: a finite loss, an infinite gradient."""

    def __init__(self):
        super().__init__()
        with self.name_scope():
            self.proj = nn.Dense(1, use_bias=False, weight_initializer="zeros")

    def hybrid_forward(self, F, x):
        return F.sqrt(self.proj(x))


def _regression(n=8, features=3, scale=1.0, seed=0):
    rng = np.random.RandomState(seed)
    X = (scale * rng.rand(n, features)).astype("float32")
    return X, rng.rand(n, 1).astype("float32") + 0.5


# ---------------------------------------------------------------- arguments

@pytest.mark.parametrize("kwargs, match", [
    ({"lr": 0}, r"lr must be a positive finite number, got 0"),
    ({"lr": -1}, r"lr must be a positive finite number, got -1"),
    ({"lr": float("nan")}, r"lr must be a positive finite number, got nan"),
    ({"lr": float("inf")}, r"lr must be a positive finite number, got inf"),
    ({"lr": "0.1"}, r"lr must be a positive finite number, got '0.1'"),
    ({"optimizer_params": {"learning_rate": 0.0}},
     r"optimizer_params\['learning_rate'\] must be a positive finite number, got 0.0"),
    ({"optimizer_params": [("momentum", 0.9)]}, r"optimizer_params must be a dict"),
    ({"num_epochs": -1}, r"num_epochs must be a whole number >= 0, got -1"),
    ({"num_epochs": 1.5}, r"num_epochs must be a whole number >= 0, got 1.5"),
    ({"num_epochs": True}, r"num_epochs must be a whole number >= 0, got True"),
    ({"ctx": []}, r"ctx is an empty list"),
    ({"ctx": "cpu"}, r"ctx holds 'cpu', which is not an MXNet context"),
    ({"check_finite": "yes"}, r"check_finite must be True or False"),
    ({"channel_pad": "auto"}, r"channel_pad must be None \(automatic\), True or False"),
])
def test_bad_arguments_are_refused_before_the_network_is_touched(kwargs, match):
    net = _lenet()
    kwargs = dict(kwargs)
    epochs = kwargs.pop("num_epochs", 1)
    with pytest.raises(ArgumentError, match=match):
        fit(net, [_digits(4)], epochs, progress=False, **kwargs)
    assert all(p._data is None and p._deferred_init == ()
               for p in net.collect_params().values())  # not even initialized


def test_an_optimizer_instance_trains_with_its_own_rate():
    X, y = _digits(8)
    net = _lenet()
    hist = fit(net, [(X, y)], 2, optimizer=mx.optimizer.SGD(learning_rate=0.05),
               progress=False)
    assert len(hist.history["loss"]) == 2
    with pytest.raises(ArgumentError, match="set them on the SGD instance"):
        fit(_lenet(), [(X, y)], 1, optimizer=mx.optimizer.SGD(), progress=False,
            optimizer_params={"momentum": 0.9})


def test_zero_epochs_train_nothing():
    net = _lenet()
    hist = fit(net, [_digits(4)], 0, progress=False)
    assert hist.history == {}


def test_as_contexts_refuses_an_empty_list():
    with pytest.raises(ArgumentError, match="ctx is an empty list"):
        as_contexts([])


def test_empty_training_data_is_refused():
    with pytest.raises(DataError, match=r"train_iter yielded no batches in epoch 1; check "
                                        r"that the data set is not empty"):
        fit(_lenet(), [], 1, progress=False)


def test_a_generator_used_up_after_one_epoch_is_named():
    batches = (b for b in [tuple(map(mx.nd.array, _digits(4)))])
    with pytest.raises(DataError, match=r"no batches in epoch 2; a generator is used up"):
        fit(_lenet(), batches, 2, progress=False)


def test_items_that_are_not_pairs_are_refused():
    X, y = _digits(4)
    with pytest.raises(DataError, match=r"\(X, y\) pairs, batch 0 is a 3-tuple"):
        fit(_lenet(), [(X, y, y)], 1, progress=False)


def test_resuming_mid_epoch_without_a_resumable_loader_is_refused():
    with pytest.raises(ArgumentError, match=r"epoch 1 at batch 3.*batches\(epoch, start\)"
                                            r".*list has none"):
        loop._epoch_batches([], 0, 3)


# ---------------------------------------------------------------- labels

@pytest.mark.parametrize("bad, shown", [(10, "10"), (-1, "-1"), (2.5, "2.5")])
@pytest.mark.parametrize("hybridize", [True, False], ids=["fused", "separate"])
def test_labels_outside_the_classes_are_refused_at_their_batch(bad, shown, hybridize):
    X, y = _digits(12)
    y[6] = bad  # batch 1 of three
    net = _lenet()
    with pytest.raises(DataError, match=rf"the labels of epoch 1, batch 1 \(global step 2\) "
                                        rf"include {shown}, outside the class ids 0\.\.9 of the "
                                        rf"10 classes of model 'lenet5'"):
        fit(net, ArrayLoader(X, y, 4), 1, progress=False, hybridize=hybridize)


def test_label_check_reads_the_class_count_of_a_plain_block():
    X = np.random.RandomState(0).rand(6, 4).astype("float32")
    y = np.array([0, 1, 2, 3, 1, 0], dtype="float32")  # 3 is not a class of a 3-way head
    with pytest.raises(DataError, match=r"include 3, outside the class ids 0\.\.2 of the 3 "
                                        r"classes;"):
        fit(_Linear(3), [(X, y)], 1, progress=False)


def test_language_model_tokens_are_checked_against_the_vocabulary():
    net = get_model("gru_lm")
    (X,) = example_inputs(net.config, batch=2, small=True)
    vocab = net.config.num_classes
    y = mx.nd.array(np.full(X.shape, vocab))
    with pytest.raises(DataError, match=rf"include {vocab}, outside the class ids "
                                        rf"0\.\.{vocab - 1}"):
        fit(net, [(X, y)], 1, progress=False)


# ---------------------------------------------------------------- inputs against the config

def test_input_of_another_size_than_the_config_is_refused():
    """Deferred weights would size themselves to 32x32: the config's 28x28 rules it out."""
    X = np.zeros((4, 1, 32, 32), dtype="float32")
    net = _lenet()
    with pytest.raises(InputShapeError, match=r"training batch 0 does not fit the network.*"
                                              r"Inputs \(4, 1, 32, 32\).*model 'lenet5' "
                                              r"takes \('N', 1, 28, 28\)"):
        fit(net, [(X, np.zeros(4, "float32"))], 1, progress=False)


def test_input_with_other_channels_than_the_config_is_refused():
    X = np.zeros((4, 3, 28, 28), dtype="float32")
    with pytest.raises(InputShapeError, match=r"Shape inconsistent.*\(4, 3, 28, 28\).*"
                                              r"takes \('N', 1, 28, 28\)"):
        fit(_lenet(), [(X, np.zeros(4, "float32"))], 1, progress=False)


def test_input_of_another_rank_than_the_config_is_refused():
    X = np.zeros((4, 784), dtype="float32")
    with pytest.raises(InputShapeError, match=r"input 0 \('data'\) of training batch 0 has "
                                              r"shape \(4, 784\) but model 'lenet5' takes "
                                              r"\('N', 1, 28, 28\)"):
        fit(_lenet(), [(X, np.zeros(4, "float32"))], 1, progress=False)


def test_integer_images_for_a_float_model_are_refused():
    X = np.zeros((4, 1, 28, 28), dtype="uint8")
    with pytest.raises(InputShapeError, match=r"input 0 \('data'\) of training batch 0 is "
                                              r"uint8 but model 'lenet5' takes float32"):
        fit(_lenet(), [(X, np.zeros(4, "float32"))], 1, progress=False)


def test_wrong_number_of_inputs_is_refused():
    net = get_model("seq2seq_gru")
    xs = example_inputs(net.config, batch=2)
    with pytest.raises(InputShapeError, match=r"training batch 0 has 2 input\(s\) but model "
                                              r"'seq2seq_gru' takes 3 \(data0, data1, data2\)"):
        fit(net, [(tuple(xs[:2]), xs[1])], 1, progress=False)


def test_other_lengths_that_the_weights_take_still_train():
    """A TCN's weights do not depend on the sequence length: 48 steps are not refused."""
    X = mx.nd.array(np.random.RandomState(0).randn(2, 2, 48))
    probe = get_model("tcn")
    probe.initialize()
    target = mx.nd.zeros(probe(X).shape)
    net = get_model("tcn")
    assert net.config.input_shape == (2, 64) and net.config.test_input_shape == (2, 32)
    hist = fit(net, [(X, target)], 2, loss=gluon.loss.L2Loss(), progress=False)
    assert len(hist.history["loss"]) == 2
    assert all(math.isfinite(v) for v in hist.history["loss"])


# ---------------------------------------------------------------- non-finite numbers

@pytest.mark.parametrize("hybridize", [True, False], ids=["fused", "separate"])
def test_nan_input_stops_at_its_batch_before_the_update(hybridize):
    X, y = _digits(12)
    X[9, 0, 3, 3] = np.nan  # batch 2
    X[10, 0, 4, 4] = np.inf
    net = _lenet()
    with pytest.raises(NonFiniteError, match=r"input 0 \('data'\) of epoch 1, batch 2 \(global "
                                             r"step 3\) holds 1 NaN and 1 Inf values \(of "
                                             r"3136\); the run stopped before"):
        fit(net, ArrayLoader(X, y, 4), 1, progress=False, hybridize=hybridize)
    clean = _lenet()
    fit(clean, ArrayLoader(X[:8], y[:8], 4), 1, progress=False, hybridize=hybridize)
    for k, v in _params(clean).items():
        np.testing.assert_array_equal(_params(net)[k], v, err_msg=k)


def test_non_finite_second_input_is_named_from_the_config():
    net = get_model("vae_mlp")
    image, noise = example_inputs(net.config, batch=2)
    noise[1, 0] = float("inf")
    with pytest.raises(NonFiniteError, match=r"input 1 \('data1'\) of epoch 1, batch 0 "
                                             r"\(global step 1\) holds 0 NaN and 1 Inf"):
        fit(net, [((image, noise), image)], 1, progress=False,
            loss=lambda out, target: gluon.loss.L2Loss()(out[0], target))


def test_non_finite_target_is_named():
    X, y = _regression()
    y[5, 0] = np.nan
    with pytest.raises(NonFiniteError, match=r"target 0 of epoch 1, batch 1 \(global step 2\) "
                                             r"holds 1 NaN"):
        fit(_Linear(), ArrayLoader(X, y, 4), 1, loss=gluon.loss.L2Loss(), progress=False)


@pytest.mark.parametrize("ctx", [[mx.cpu(0)], [mx.cpu(0), mx.cpu(1)]], ids=["one", "two"])
@pytest.mark.parametrize("hybridize", [True, False], ids=["fused", "separate"])
def test_infinite_gradient_names_the_parameter(hybridize, ctx):
    X, y = _regression()
    with pytest.raises(NonFiniteError, match=r"gradient of 'proj\.weight' holds 0 NaN and 3 "
                                             r"Inf values \(of 3\) after epoch 1, batch 0 "
                                             r"\(global step 1\); the update with it is "
                                             r"applied"):
        fit(_SqrtHead(), [(X, y)], 1, loss=gluon.loss.L2Loss(), optimizer="sgd", lr=0.1,
            progress=False, hybridize=hybridize, ctx=ctx)


def test_without_the_checks_an_infinite_gradient_trains_on_silently():
    """What check_finite=True prevents: a finite loss while the weights turn non-finite."""
    X, y = _regression()
    net = _SqrtHead()
    hist = fit(net, [(X, y)], 1, loss=gluon.loss.L2Loss(), optimizer="sgd", lr=0.1,
               progress=False, check_finite=False)
    assert math.isfinite(hist.history["loss"][0])
    assert not np.isfinite(net.proj.weight.data().asnumpy()).all()


@pytest.mark.parametrize("hybridize", [True, False], ids=["fused", "separate"])
def test_update_that_overflows_names_the_parameter(hybridize):
    """Finite gradients, a finite rate, an update beyond float32's range."""
    X, y = _regression(scale=1000.0)
    with pytest.raises(NonFiniteError, match=r"parameter of 'out\.weight' holds \d+ NaN and "
                                             r"\d+ Inf values \(of 3\) after epoch 1, batch 0 "
                                             r"\(global step 1\); restore the weights"):
        fit(_Linear(), [(X, y)], 1, loss=gluon.loss.L2Loss(), optimizer="sgd", lr=1e38,
            progress=False, hybridize=hybridize)


@pytest.mark.parametrize("check_finite", [True, False])
def test_non_finite_loss_stops_the_run_either_way(check_finite):
    def log_of_zero(out, y):
        return -mx.nd.log(out.sum(axis=1) * 0)

    X, y = _digits(4)
    with pytest.raises(NonFiniteError, match=r"loss became inf at epoch 1, batch 0 "
                                             r"\(global step 1\); lower the learning rate"):
        fit(_lenet(), [(X, y)], 1, loss=log_of_zero, progress=False,
            check_finite=check_finite)


def test_huge_finite_values_are_not_taken_for_infinities():
    """The device flags are sums of squares; a value of 1e20 overflows them, not float32."""
    X, y = _regression()
    net = _Linear()
    net.initialize()
    net(mx.nd.array(X))
    net.out.bias.set_data(mx.nd.array([1e20]))
    assert 1e20 ** 2 > np.finfo(np.float32).max  # its flag overflows: the exact test runs
    hist = fit(net, [(X, y * 1e20)], 1, loss=gluon.loss.L1Loss(), optimizer="sgd", lr=1e-3,
               progress=False)
    assert math.isfinite(hist.history["loss"][0])


@pytest.mark.parametrize("hybridize", [True, False], ids=["fused", "separate"])
def test_checks_do_not_change_the_numbers(hybridize):
    """With or without the checks, the same weights and losses, bit for bit."""
    X, y = _digits(24)
    runs = []
    for check in (True, False):
        net = _lenet()
        hist = fit(net, ArrayLoader(X, y, 8, shuffle=True), 2, optimizer="sgd", lr=0.05,
                   seed=3, progress=False, hybridize=hybridize, check_finite=check)
        runs.append((_params(net), hist.history))
    (a, hist_a), (b, hist_b) = runs
    assert hist_a == hist_b
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_separate_calls_match_a_plain_gluon_loop_exactly():
    """fit's unfused step is the textbook loop: record, loss, backward, step."""
    X, y = _digits(16)
    net = _lenet()
    fit(net, ArrayLoader(X, y, 8), 1, optimizer="sgd", lr=0.05, progress=False,
        hybridize=False)
    ref = _lenet()
    ref.initialize(mx.init.Xavier())
    trainer = gluon.Trainer(ref.collect_params(), "sgd", {"learning_rate": 0.05})
    ce = gluon.loss.SoftmaxCrossEntropyLoss()
    for i in range(2):
        xb, yb = mx.nd.array(X[8 * i:8 * i + 8]), mx.nd.array(y[8 * i:8 * i + 8])
        with autograd.record():
            loss = ce(ref(xb), yb)
        loss.backward()
        trainer.step(8)
    for k, v in _params(ref).items():
        np.testing.assert_array_equal(_params(net)[k], v, err_msg=k)


# ---------------------------------------------------------------- the task decides the metrics

def test_regression_logs_no_accuracy():
    net = get_model("linreg")
    rng = np.random.RandomState(0)
    X = rng.randn(16, 2).astype("float32")
    y = (X @ np.array([[2.0], [-3.4]]) + 4.2).astype("float32")
    data = ArrayLoader(X, y, 8)
    hist = fit(net, data, 2, loss=gluon.loss.L2Loss(), val_iter=data, lr=0.03,
               progress=False)
    assert set(hist.history) == {"loss", "val_loss"}
    assert "val_acc" not in validate(net, data, gluon.loss.L2Loss())
    with pytest.raises(ArgumentError, match="not a regression model; use validate"):
        evaluate_accuracy(net, data)


def test_plain_block_with_one_output_logs_no_accuracy():
    """Scores of one column against (N,) targets are a regression, not one class."""
    X, y = _regression()
    hist = fit(_Linear(), [(X, y[:, 0])], 1, loss=gluon.loss.L2Loss(), progress=False)
    assert "acc" not in hist.history


def test_plain_block_with_class_scores_logs_accuracy():
    X = np.random.RandomState(0).rand(6, 4).astype("float32")
    y = np.array([0, 1, 2, 2, 1, 0], dtype="float32")
    hist = fit(_Linear(3), [(X, y)], 1, val_iter=[(X, y)], progress=False)
    assert 0.0 <= hist.history["acc"][0] <= 1.0 and "val_acc" in hist.history


def test_language_model_logs_loss_only():
    net = get_model("gru_lm")
    (X,) = example_inputs(net.config, batch=2, small=True)
    y = mx.nd.array(np.random.RandomState(0).randint(0, net.config.num_classes, X.shape))
    hist = fit(net, [(X, y)], 1, val_iter=[(X, y)], progress=False)
    assert set(hist.history) == {"loss", "val_loss"}


# ---------------------------------------------------------------- the fused graph

def _built_graphs(monkeypatch):
    built = []
    build = loop._build_train_graph

    def spy(*args, **kwargs):
        built.append(build(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(loop, "_build_train_graph", spy)
    return built


def _filters(graph):
    nodes = json.loads(graph._cached_graph[1].tojson())["nodes"]
    return [int(n["attrs"]["num_filter"]) for n in nodes if n["op"] == "Convolution"]


@pytest.mark.parametrize("setting", [True, False, None])
def test_channel_pad_switch_decides_the_training_graph(monkeypatch, setting):
    built = _built_graphs(monkeypatch)
    fit(_lenet(), [_digits(4)], 1, progress=False, channel_pad=setting)
    padded = setting if setting is not None else _channel_pad.worthwhile()
    assert built[0].pad_channels is padded
    assert _filters(built[0]) == ([_channel_pad.block(), 16] if padded else [6, 16])


def test_channel_pad_never_applies_off_the_cpu():
    assert _channel_pad.wanted(True, mx.cpu()) and not _channel_pad.wanted(False, mx.cpu())
    assert not _channel_pad.wanted(True, mx.gpu(0))
    assert _channel_pad.wanted(None, mx.cpu()) is _channel_pad.worthwhile()


class _UntraceableLoss(gluon.HybridBlock):
    """A loss that reads its input's shape, which only NDArrays have: it runs, but not traced."""

    def hybrid_forward(self, F, out, label):
        return gluon.loss.SoftmaxCrossEntropyLoss()(out.reshape((out.shape[0], -1)), label)


@pytest.mark.parametrize("case, level, reason", [
    ("python loss", logging.INFO, "the loss is a function, not a HybridBlock"),
    ("not hybridized", logging.INFO, "the network is not hybridized"),
    ("untraceable loss", logging.WARNING, "cannot be traced symbolically (AttributeError: "),
])
def test_falling_back_to_separate_calls_is_logged_once(caplog, case, level, reason):
    X = np.random.RandomState(0).rand(6, 4).astype("float32")
    y = np.array([0, 1, 2, 2, 1, 0], dtype="float32")
    net, loss = _Linear(3), (_UntraceableLoss() if case == "untraceable loss" else None)
    if case == "python loss":
        loss = lambda out, label: mx.nd.softmax_cross_entropy(out, label)  # noqa: E731
    with caplog.at_level(logging.INFO, logger="gluon_dl.training"):
        fit(net, [(X, y), (X, y)], 2, loss=loss, progress=False,
            hybridize=case != "not hybridized")
    records = [r for r in caplog.records if r.name == "gluon_dl.training"]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].levelno == level and reason in records[0].getMessage()
    assert "separate calls" in records[0].getMessage()


def test_the_fused_graph_logs_nothing(caplog):
    with caplog.at_level(logging.DEBUG, logger="gluon_dl.training"):
        fit(_lenet(), [_digits(4)], 1, progress=False)
    assert not [r for r in caplog.records if r.name == "gluon_dl.training"]


# --- components, devices and evaluation data -----------------------------------------------

@pytest.mark.parametrize("kwargs, error, match", [
    ({"loss": "mse"}, ArgumentError, "loss must be callable"),
    ({"optimizer": "adamm"}, UnknownNameError, "unknown optimizer 'adamm'; did you mean adam"),
    ({"optimizer": 3}, ArgumentError, "optimizer must be a name"),
    ({"kvstore": "nope"}, UnknownNameError, "unknown kvstore 'nope'"),
    ({"callbacks": 5}, ArgumentError, "callbacks must be a list"),
    ({"callbacks": [print]}, ArgumentError, "callbacks must be a list"),
    ({"ctx": mx.gpu(0)}, ArgumentError, r"ctx asks for gpu\(0\), but this MXNet sees 0 GPU"),
], ids=["loss-str", "optimizer-typo", "optimizer-int", "kvstore", "callbacks-int",
        "callbacks-function", "gpu-on-cpu-build"])
def test_components_fit_cannot_use_are_refused(kwargs, error, match):
    if mx.context.num_gpus() and "ctx" in kwargs:
        pytest.skip("this machine has a GPU")
    X = np.random.RandomState(0).rand(8, 1, 28, 28).astype("float32")
    with pytest.raises(error, match=match):
        fit(get_model("lenet5"), [(X, np.zeros(8, "float32"))], 1, progress=False, **kwargs)


def test_targets_that_are_not_numbers_are_refused():
    X = np.random.RandomState(0).rand(8, 1, 28, 28).astype("float32")
    with pytest.raises(DataError, match=r"target 0 of epoch 1, batch 0 .* array of <U1"):
        fit(get_model("lenet5"), [(X, np.array(list("abcdefgh")))], 1, progress=False)


def test_evaluating_on_no_data_is_an_error_not_a_score():
    net = get_model("lenet5")
    net.initialize()
    with pytest.raises(DataError, match="yielded no samples"):
        evaluate_accuracy(net, [])
    with pytest.raises(DataError, match="yielded no samples"):
        validate(net, iter([]))
