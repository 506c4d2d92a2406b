"""Magnitude pruning of Gluon blocks: prunable-layer registry, masks, fine-tuning."""
import math

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon
from mxnet.gluon import nn, rnn

from deploy.prune import (ConstantSparsity, MagnitudePruner, OneShot, PolynomialDecay,
                          named_prunable_parameters, prunable_parameters, prune_to_sparsity)
from gluon_dl.errors import ArgumentError, ArgumentTypeError, InputShapeError, NonFiniteError
from gluon_dl.models import example_inputs, get_config, get_model, list_models

BATCH = 8


def build_lenet(seed=0, ctx=None):
    mx.random.seed(seed)
    net = get_model("lenet5")
    net.initialize(mx.init.Xavier(), ctx=ctx)
    for c in (ctx if isinstance(ctx, list) else [ctx or mx.cpu()]):
        net(mx.nd.zeros((2, 1, 28, 28), ctx=c))
    return net


@pytest.fixture
def lenet():
    return build_lenet()


def weights_np(net):
    """Every prunable weight of ``net`` as numpy, by ``(layer, name)``."""
    return {(layer, name): p.data().asnumpy() for layer, name, p in named_prunable_parameters(net)}


def biases_np(net):
    return {k: v.data().asnumpy() for k, v in net.collect_params(".*bias").items()}


def toy_batch(seed=0, n=BATCH):
    """Images whose label is the argmax of a fixed random linear teacher."""
    rng = np.random.RandomState(seed)
    X = rng.rand(n, 1, 28, 28).astype("float32")
    teacher = np.random.RandomState(123).randn(28 * 28, 10).astype("float32")
    y = (X.reshape(n, -1) @ teacher).argmax(axis=1).astype("float32")
    return mx.nd.array(X), mx.nd.array(y)


def train_step(net, trainer, X, y):
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    with autograd.record():
        loss = loss_fn(net(X), y)
    loss.backward()
    trainer.step(X.shape[0])
    return float(loss.mean().asscalar())


# ------------------------------------------------------------------- registry

def test_lenet_prunable_weights_are_conv_and_dense_weights(lenet):
    named = named_prunable_parameters(lenet)
    assert [layer for layer, _, _ in named] == [
        "features.0", "features.2", "features.5", "features.6", "output"]
    assert {name for _, name, _ in named} == {"weight"}
    assert [p for _, p in prunable_parameters(lenet)] == [p for _, _, p in named]
    assert named[0][2] is lenet.features[0].weight


def test_biases_norms_and_embeddings_are_not_prunable():
    net = nn.HybridSequential()
    net.add(nn.Embedding(20, 8), nn.Dense(8, in_units=8), nn.BatchNorm(in_channels=8),
            nn.LayerNorm(in_channels=8), nn.Conv2DTranspose(4, 3, in_channels=8),
            nn.Conv1D(4, 3, in_channels=8), nn.Conv3DTranspose(2, 1, in_channels=4))
    keys = [f"{layer}.{name}" for layer, name, _ in named_prunable_parameters(net)]
    assert keys == ["1.weight", "4.weight", "5.weight", "6.weight"]


@pytest.mark.parametrize("layer_cls", [rnn.RNN, rnn.LSTM, rnn.GRU])
def test_rnn_layers_prune_i2h_and_h2h_weights_only(layer_cls):
    layer = layer_cls(6, num_layers=2, bidirectional=True, input_size=4)
    names = [name for _, name, _ in named_prunable_parameters(layer)]
    assert len(names) == 8
    assert all(name.endswith(("_i2h_weight", "_h2h_weight")) for name in names)
    assert not any("bias" in name for name in names)


def test_custom_attribute_names_form_the_path():
    class Encoder(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.proj = nn.Dense(4, in_units=3)
            self.cell = rnn.LSTMCell(5, input_size=4)

    class Model(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.encoder = Encoder(prefix="enc_")
            self.classifier = nn.Dense(2, in_units=5)

    keys = [f"{layer}.{name}" for layer, name, _ in named_prunable_parameters(Model())]
    assert keys == ["encoder.proj.weight", "encoder.cell.i2h_weight",
                    "encoder.cell.h2h_weight", "classifier.weight"]


def test_shared_parameters_are_listed_once():
    first = nn.Dense(4, in_units=4)
    net = nn.HybridSequential()
    net.add(first, nn.Dense(4, in_units=4, params=first.params))
    named = named_prunable_parameters(net)
    assert [(layer, name) for layer, name, _ in named] == [("0", "weight")]


class MaskedLinear(nn.HybridBlock):
    """A custom block that opts in: only its own kernel is prunable."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.kernel = self.params.get("kernel", shape=(6, 6))
            self.head = nn.Dense(3, in_units=6)

    def hybrid_forward(self, F, x, kernel):
        return self.head(F.dot(x, kernel))

    def get_prunable_weights(self):
        return [self.kernel]


class DenseKeptDense(nn.Dense):
    """A Dense subclass that opts out through the protocol."""

    def get_prunable_weights(self):
        return []


def test_protocol_block_decides_for_its_subtree():
    net = nn.HybridSequential()
    net.add(nn.Dense(6, in_units=6), MaskedLinear(), DenseKeptDense(3, in_units=3))
    named = named_prunable_parameters(net)
    assert [(layer, name) for layer, name, _ in named] == [("0", "weight"), ("1", "kernel")]
    assert named[1][2] is net[1].kernel


def test_protocol_block_is_pruned_through_its_weights():
    mx.random.seed(3)
    net = MaskedLinear()
    net.initialize()
    head_before = net.head.weight.data().asnumpy()
    pruner = prune_to_sparsity(net, 0.75)
    report = pruner.sparsity_report()
    assert [(r["layer"], r["param"], r["zeros"]) for r in report] == [("", "kernel", 27)]
    assert (net.kernel.data().asnumpy() == 0).sum() == 27
    np.testing.assert_array_equal(net.head.weight.data().asnumpy(), head_before)


def test_protocol_must_return_parameters():
    class Broken(nn.HybridBlock):
        def get_prunable_weights(self):
            return ["weight"]

    with pytest.raises(ArgumentTypeError, match="Broken.*not a gluon.Parameter"):
        named_prunable_parameters(Broken())


# ------------------------------------------------------------------- pruning

@pytest.mark.parametrize("sparsity", [0.75, 0.9])
def test_layer_granularity_zeros_the_exact_fraction_of_smallest_weights(lenet, sparsity):
    before, biases = weights_np(lenet), biases_np(lenet)
    prune_to_sparsity(lenet, sparsity)
    for key, after in weights_np(lenet).items():
        pruned = after == 0
        assert pruned.sum() == math.floor(sparsity * after.size), key
        magnitude = np.abs(before[key])
        assert magnitude[pruned].max() <= magnitude[~pruned].min(), key
        np.testing.assert_array_equal(after[~pruned], before[key][~pruned])
    for key, bias in biases_np(lenet).items():
        np.testing.assert_array_equal(bias, biases[key])


@pytest.mark.parametrize("sparsity", [0.75, 0.9])
def test_global_granularity_reaches_the_overall_target(lenet, sparsity):
    before = weights_np(lenet)
    pruner = prune_to_sparsity(lenet, sparsity, granularity="global")
    after = weights_np(lenet)
    total = sum(w.size for w in after.values())
    zeros = sum(int((w == 0).sum()) for w in after.values())
    assert zeros == math.floor(sparsity * total)
    assert pruner.overall_sparsity() == pytest.approx(zeros / total)
    all_before = np.concatenate([np.abs(w).ravel() for w in before.values()])
    all_pruned = np.concatenate([(w == 0).ravel() for w in after.values()])
    assert all_before[all_pruned].max() <= all_before[~all_pruned].min()
    layer_sparsities = {r["sparsity"] for r in pruner.sparsity_report()}
    assert len(layer_sparsities) > 1, "global pruning should spread unevenly over layers"


def test_ties_prune_the_lowest_indices_first():
    layer = nn.Dense(2, in_units=5)
    layer.initialize(mx.init.Constant(0.5))
    layer.weight.data()[:, 4] = 0.1
    prune_to_sparsity(layer, 0.5)
    # 5 of 10 pruned: both 0.1s, then the first three of the tied 0.5s in flat order.
    expected = np.array([[0, 0, 0, 0.5, 0], [0.5, 0.5, 0.5, 0.5, 0]], dtype="float32")
    np.testing.assert_array_equal(layer.weight.data().asnumpy(), expected)


def test_sparsity_report_fields(lenet):
    pruner = prune_to_sparsity(lenet, 0.75)
    first = pruner.sparsity_report()[0]
    assert first == {"layer": "features.0", "param": "weight", "shape": (6, 1, 5, 5),
                     "size": 150, "zeros": 112, "sparsity": 112 / 150}
    assert pruner.keys[0] == "features.0.weight"


def test_update_follows_the_schedule(lenet):
    pruner = MagnitudePruner(lenet, ConstantSparsity(0.5, begin_step=2, frequency=3))
    assert pruner.overall_sparsity() == 0.0
    assert [pruner.update(step) for step in range(6)] == [False, False, True, False, False, True]
    assert pruner.step == 5
    assert pruner.overall_sparsity() == pytest.approx(0.5, abs=1e-3)


def test_masks_survive_a_training_step(lenet):
    pruner = prune_to_sparsity(lenet, 0.75)
    pruned = {k: w == 0 for k, w in weights_np(lenet).items()}
    before = weights_np(lenet)
    trainer = gluon.Trainer(lenet.collect_params(), "sgd",
                            {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-3})
    X, y = toy_batch()
    for _ in range(2):
        train_step(lenet, trainer, X, y)
        pruner.apply_masks()
    for key, after in weights_np(lenet).items():
        assert (after[pruned[key]] == 0).all(), key
        assert (after[~pruned[key]] != before[key][~pruned[key]]).mean() > 0.5, key


def test_without_apply_masks_the_optimizer_revives_pruned_weights(lenet):
    prune_to_sparsity(lenet, 0.75)
    trainer = gluon.Trainer(lenet.collect_params(), "sgd", {"learning_rate": 0.1, "wd": 1e-2})
    train_step(lenet, trainer, *toy_batch())
    for key, weight in weights_np(lenet).items():
        assert (weight == 0).mean() < 0.75, key


def test_pruned_hybridized_net_computes_with_zeroed_weights():
    mx.random.seed(1)
    layer = nn.Dense(4, in_units=10, use_bias=False)
    layer.initialize()
    layer.hybridize()
    x = mx.nd.random.uniform(shape=(3, 10))
    layer(x)
    prune_to_sparsity(layer, 0.9)
    w = layer.weight.data().asnumpy()
    assert (w == 0).sum() == 36
    np.testing.assert_allclose(layer(x).asnumpy(), x.asnumpy() @ w.T, rtol=1e-5, atol=1e-6)


def test_parameters_on_several_contexts_are_all_masked():
    ctxs = [mx.cpu(0), mx.cpu(1)]
    net = build_lenet(ctx=ctxs)
    pruner = prune_to_sparsity(net, 0.9)
    for _, _, param in named_prunable_parameters(net):
        copies = [d.asnumpy() for d in param.list_data()]
        assert [d.context for d in param.list_data()] == ctxs
        np.testing.assert_array_equal(copies[0] == 0, copies[1] == 0)
        assert (copies[1] == 0).sum() == math.floor(0.9 * copies[1].size)
    assert pruner.overall_sparsity() == pytest.approx(0.9, abs=1e-4)


def test_exclude_keeps_matching_layers_dense(lenet):
    pruner = prune_to_sparsity(lenet, 0.9, exclude=["output", "features.0.*"])
    assert pruner.keys == ["features.2.weight", "features.5.weight", "features.6.weight"]
    assert (lenet.output.weight.data().asnumpy() == 0).sum() == 0
    assert (lenet.features[0].weight.data().asnumpy() == 0).sum() == 0


def test_exclude_pattern_that_matches_nothing_is_an_error(lenet):
    with pytest.raises(ArgumentError, match=r"\['classifier'\] match no prunable weight.*output"):
        MagnitudePruner(lenet, OneShot(0.5), exclude="classifier")


def test_a_dict_of_schedules_gives_layers_their_own_sparsity(lenet):
    # First pattern wins ("features.5" before "features.*"); "output" matches nothing: dense.
    pruner = MagnitudePruner(lenet, {"features.0": OneShot(0.2), "features.5": OneShot(0.95),
                                     "features.*": OneShot(0.6)})
    assert pruner.keys == ["features.0.weight", "features.5.weight", "features.2.weight",
                           "features.6.weight"]
    assert pruner.update(0) and pruner.sparsity == {"features.0": 0.2, "features.5": 0.95,
                                                    "features.*": 0.6}
    zeros = {layer: (w == 0).sum() / w.size for (layer, _), w in weights_np(lenet).items()}
    assert zeros == {"features.0": pytest.approx(0.2, abs=0.01), "features.2": 0.6,
                     "features.5": 0.95, "features.6": 0.6, "output": 0.0}


def test_global_granularity_ranks_each_schedules_weights_together(lenet):
    pruner = MagnitudePruner(lenet, {"features.0": OneShot(0.5), "*": OneShot(0.9)},
                             granularity="global")
    pruner.update(0)
    report = {r["layer"]: r for r in pruner.sparsity_report()}
    assert report["features.0"]["zeros"] == 75
    rest = [r for layer, r in report.items() if layer != "features.0"]
    assert sum(r["zeros"] for r in rest) == math.floor(0.9 * sum(r["size"] for r in rest))
    assert len({r["sparsity"] for r in rest}) > 1


def test_schedules_of_different_steps_resume_at_their_own_last_pruning_step(lenet):
    slow = PolynomialDecay(0.0, 0.8, begin_step=0, end_step=12, frequency=6)
    fast = PolynomialDecay(0.0, 0.5, begin_step=0, end_step=12, frequency=1)
    pruner = MagnitudePruner(lenet, {"features.5": slow, "*": fast})
    pruner.resume(9)  # slow pruned last at step 6, fast at 9
    assert pruner.step == 9
    assert pruner.sparsity == {"features.5": slow.sparsity_at(6), "*": fast.sparsity_at(9)}
    report = {r["layer"]: r["sparsity"] for r in pruner.sparsity_report()}
    assert report["features.5"] == pytest.approx(slow.sparsity_at(6), abs=1e-4)
    assert report["features.6"] == pytest.approx(fast.sparsity_at(9), abs=1e-3)


@pytest.mark.parametrize("schedule, error, match", [
    ({}, ArgumentError, "empty dict"),
    ({"classifier": OneShot(0.5)}, ArgumentError, r"\['classifier'\] match no prunable weight"),
    ({"*": OneShot(0.5), "output": OneShot(0.1)}, ArgumentError, r"\['output'\].*earlier"),
    ({"output": "0.5"}, ArgumentTypeError, "schedule for 'output' must be callable"),
    ({3: OneShot(0.5)}, ArgumentTypeError, "patterns of layer paths")])
def test_bad_dicts_of_schedules_are_named(lenet, schedule, error, match):
    with pytest.raises(error, match=match):
        MagnitudePruner(lenet, schedule)


def test_strip_keeps_zeros_and_drops_masks(lenet):
    pruner = prune_to_sparsity(lenet, 0.75)
    assert pruner.strip() is lenet
    assert pruner.state_dict()["masks"] == {}
    assert pruner.overall_sparsity() == pytest.approx(0.75, abs=1e-4)
    assert MagnitudePruner.remove_masks is MagnitudePruner.strip


def test_state_dict_round_trip_restores_masks_and_step(lenet):
    schedule = PolynomialDecay(0.0, 0.8, begin_step=0, end_step=10, frequency=5)
    pruner = MagnitudePruner(lenet, schedule)
    for step in range(7):
        pruner.update(step)
    state = pruner.state_dict()
    assert state["step"] == 6
    assert all(isinstance(m, np.ndarray) for m in state["masks"].values())

    other_net = build_lenet(seed=42)
    resumed = MagnitudePruner(other_net, schedule)
    resumed.load_state_dict(state)
    assert resumed.step == 6 and resumed.sparsity == pruner.sparsity
    for key, mask in resumed.state_dict()["masks"].items():
        np.testing.assert_array_equal(mask, state["masks"][key])
    for (key, weight), mask in zip(weights_np(other_net).items(), state["masks"].values()):
        assert (weight[mask == 0] == 0).all(), key


def test_load_state_dict_rejects_mismatched_masks(lenet):
    state = prune_to_sparsity(lenet, 0.5).state_dict()
    pruner = MagnitudePruner(build_lenet(seed=1), OneShot(0.5))
    wrong_shape = dict(state, masks=dict(state["masks"], **{"output.weight": np.ones((3, 3))}))
    with pytest.raises(InputShapeError, match=r"output.weight.*\(3, 3\).*\(10, 84\)"):
        pruner.load_state_dict(wrong_shape)
    missing = dict(state, masks={"output.weight": state["masks"]["output.weight"]})
    with pytest.raises(ArgumentError, match="do not match"):
        pruner.load_state_dict(missing)
    with pytest.raises(ArgumentError, match=r"lacks \['step'\]"):
        pruner.load_state_dict({"masks": {}, "sparsity": None})


def test_uninitialized_net_is_a_clear_error():
    with pytest.raises(ArgumentError, match=r"'features.0.weight'.*net.initialize\(\)"):
        MagnitudePruner(get_model("lenet5"), OneShot(0.5))


def test_deferred_initialization_asks_for_a_forward_pass():
    net = get_model("lenet5")
    net.initialize()
    with pytest.raises(ArgumentError, match=r"'features.0.weight'.*forward pass"):
        prune_to_sparsity(net, 0.5)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(granularity="channel"), ValueError, "granularity"),
    (dict(schedule=0.5), TypeError, "schedule must be callable"),
])
def test_bad_pruner_arguments(lenet, kwargs, error, match):
    args = dict(schedule=OneShot(0.5), granularity="layer")
    args.update(kwargs)
    with pytest.raises(error, match=match):
        MagnitudePruner(lenet, **args)


def test_schedule_returning_bad_sparsity_is_named(lenet):
    pruner = MagnitudePruner(lenet, lambda step: (True, 1.0))
    with pytest.raises(ArgumentError, match="sparsity 1.0 at step 3"):
        pruner.update(3)


def test_nan_weights_are_reported():
    layer = nn.Dense(2, in_units=3)
    layer.initialize()
    layer.weight.data()[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="'weight' contains NaN"):
        prune_to_sparsity(layer, 0.5)


def test_fine_tuning_keeps_loss_finite_and_sparsity_on_target(lenet):
    final = 0.75
    pruner = MagnitudePruner(lenet, PolynomialDecay(0.0, final, begin_step=0, end_step=20,
                                                    frequency=5))
    trainer = gluon.Trainer(lenet.collect_params(), "sgd",
                            {"learning_rate": 0.05, "momentum": 0.9})
    losses = []
    for step in range(40):
        pruner.update(step)
        losses.append(train_step(lenet, trainer, *toy_batch(seed=step % 4, n=32)))
        pruner.apply_masks()
    assert all(math.isfinite(loss) for loss in losses)
    assert np.mean(losses[-8:]) < np.mean(losses[:8])
    for r in pruner.sparsity_report():
        assert r["zeros"] == math.floor(final * r["size"]), r["layer"]


# ------------------------------------------------------------------ every registered model

def _outputs(out):
    if isinstance(out, (list, tuple)):
        return [o for item in out for o in _outputs(item)]
    return [out]


def _slow_if_imagenet(name):
    # Building and pruning the 224x224 networks (up to 144M weights) takes seconds each; the
    # default suite still prunes their layer types in the CIFAR and 96x96 models.
    shape = get_config(name).input_shape
    big = len(shape) == 3 and shape[1] * shape[2] >= 224 * 224
    return pytest.param(name, marks=pytest.mark.slow) if big else name


@pytest.mark.parametrize("name", [_slow_if_imagenet(n) for n in list_models()])
def test_every_registered_model_prunes_to_half_and_still_runs(name):
    """Recurrent, attention and convolutional models alike: no model is left out or crashes."""
    config = get_config(name)
    mx.random.seed(0)
    net = get_model(name)
    net.initialize(mx.init.Xavier())
    inputs = example_inputs(config, small=True)
    net(*inputs)
    zeros_before = {(layer, pname): int((p.data() == 0).sum().asscalar())
                    for layer, pname, p in named_prunable_parameters(net)}
    pruner = prune_to_sparsity(net, 0.5)
    report = pruner.sparsity_report()
    assert [(r["layer"], r["param"]) for r in report] == list(zeros_before)
    for r in report:
        target = math.floor(0.5 * r["size"])
        assert r["zeros"] == max(target, zeros_before[r["layer"], r["param"]]), r
    assert pruner.overall_sparsity() >= 0.5 - 1e-3
    outputs = _outputs(net(*inputs))
    assert all(o.shape[0] == 2 and np.isfinite(o.asnumpy()).all() for o in outputs)
