"""Channel pruning: removed filters, rewired consumers, the same function as zeroed channels."""
import json

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from mxnet import autograd, gluon  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from deploy.prune import (ChannelPrunedNet, named_prunable_parameters, prune_channels,  # noqa: E402
                          prune_to_sparsity)
from gluon_dl.errors import ArgumentError, ArgumentTypeError  # noqa: E402
from gluon_dl.models import ModelConfig, example_inputs, get_config, get_model, list_models  # noqa: E402

def _outputs(out):
    if isinstance(out, (list, tuple)):
        return [o for item in out for o in _outputs(item)]
    return [out]


def _build(name, seed=0):
    """A model at its small test input, with random BatchNorm statistics.

    Random running means, variances, gammas and betas make a zeroed channel
    visible downstream unless its BatchNorm entries are removed too.
    """
    config = get_config(name)
    mx.random.seed(seed)
    net = get_model(name)
    net.initialize(mx.init.Xavier())
    inputs = example_inputs(config, small=True, seed=seed)
    net(*inputs)
    rng = np.random.RandomState(seed)
    for pname, p in net.collect_params().items():
        shape = p.shape
        if pname.endswith(("running_var", "moving_var")):
            p.set_data(mx.nd.array(rng.uniform(0.5, 1.5, shape)))
        elif pname.endswith(("running_mean", "moving_mean", "beta")):
            p.set_data(mx.nd.array(rng.normal(0, 0.2, shape)))
        elif pname.endswith("gamma"):
            p.set_data(mx.nd.array(rng.uniform(0.5, 1.5, shape)))
    mx.nd.waitall()  # the forward pass reorders weights in place; snapshots come after it
    return net, config, inputs


def _zero_removed(net, report):
    """Zero, in the original network, the entries the removed channels own."""
    params = net.collect_params()
    for name, (axis, indices) in report.removed_entries.items():
        data = params[name].data().asnumpy()
        index = [slice(None)] * data.ndim
        index[axis] = list(indices)
        data[tuple(index)] = 0
        params[name].set_data(mx.nd.array(data))


def _trainable_size(net):
    return sum(int(np.prod(p.shape)) for p in net.collect_params().values()
               if p.grad_req != "null")


def _must_be_prunable(config, net):
    """Classifiers of float inputs with a hidden layer: channel pruning has to support them."""
    return (config.task == "classification" and config.input_dtype == "float32"
            and len(named_prunable_parameters(net)) > 1)


def _slow_if_imagenet(name):
    # The 224x224 networks (up to 144M weights) take seconds each to build and prune; the
    # default suite still covers their layer types in the CIFAR and 96x96 models.
    shape = get_config(name).input_shape
    big = len(shape) == 3 and shape[1] * shape[2] >= 224 * 224
    return pytest.param(name, marks=pytest.mark.slow) if big else name


# ------------------------------------------------------------------ every model

@pytest.mark.parametrize("name", [_slow_if_imagenet(n) for n in list_models()])
def test_pruned_model_computes_the_original_with_removed_channels_zeroed(name):
    """Pruned, or refused with the project's error naming a layer; never a crash."""
    net, config, inputs = _build(name)
    before = {k: p.data().asnumpy() for k, p in net.collect_params().items()}
    try:
        pruned, report = prune_channels(net, 0.5, config=config)
    except ArgumentError as err:
        assert not _must_be_prunable(config, net), f"{name} refused: {err}"
        assert name in str(err)
        assert "layer '" in str(err) or "no convolution or dense layer" in str(err)
        return
    # the caller's network is untouched
    for k, p in net.collect_params().items():
        np.testing.assert_array_equal(p.data().asnumpy(), before[k], err_msg=k)
    assert isinstance(pruned, ChannelPrunedNet) and pruned.config is config
    assert report.params[1] < report.params[0] and report.flops[1] < report.flops[0]
    assert _trainable_size(pruned) == report.params[1]
    assert _trainable_size(net) == report.params[0]
    json.dumps(report.to_dict())

    got = [o.asnumpy() for o in _outputs(pruned(*inputs))]
    _zero_removed(net, report)
    want = [o.asnumpy() for o in _outputs(net(*inputs))]
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(w).max()))


# ------------------------------------------------------------------ ranking and groups

def test_lenet_filters_with_the_smallest_l1_norm_go():
    net, config, inputs = _build("lenet5")
    pruned, report = prune_channels(net, 0.5, config=config)
    rows = {r.layer: r for r in report.rows}
    assert rows["features.0"].channels == (6, 3) and rows["features.2"].channels == (16, 8)
    assert rows["features.5"].in_features == (400, 200)  # 8 channels x 5 x 5 after Flatten
    assert rows["output"].channels == (10, 10)  # the classes stay
    groups = {g.layers: g for g in report.groups}
    for layer in ("features.0", "features.2", "features.5", "features.6"):
        weight = getattr(_layer(net, layer), "weight").data().asnumpy()
        l1 = np.abs(weight).reshape(weight.shape[0], -1).sum(axis=1)
        kept = np.array(groups[(layer,)].kept)
        removed = np.setdiff1d(np.arange(len(l1)), kept)
        assert len(kept) == len(l1) - len(l1) // 2
        assert l1[removed].max() <= l1[kept].min(), layer
    assert groups[("output",)].reason == "produces the network's output"
    assert pruned(*inputs).shape == (2, 10)


def _layer(net, path):
    block = net
    for part in path.split("."):
        block = block[int(part)] if part.isdigit() else getattr(block, part)
    return block


def test_residual_stream_is_one_group_ranked_by_the_summed_l1():
    net, config, _ = _build("cifar_resnet20_v1")
    _, report = prune_channels(net, 0.5, config=config)
    stem = next(g for g in report.groups if "features.0" in g.layers)
    # The stem and the second convolution of every stage-1 block write into one stream.
    assert len(stem.layers) == 4 and stem.channels == 16 and len(stem.kept) == 8
    score = sum(np.abs(_layer(net, layer).weight.data().asnumpy()).reshape(16, -1).sum(axis=1)
                for layer in stem.layers)
    removed = np.setdiff1d(np.arange(16), stem.kept)
    assert score[removed].max() <= score[list(stem.kept)].min()
    inner = [g for g in report.groups if len(g.layers) == 1 and g.reason is None]
    assert len(inner) == 9  # the first convolution of each of the nine blocks is on its own


def test_concatenated_channels_keep_their_place():
    class TwoBranches(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.a = nn.Conv2D(4, 3, padding=1, in_channels=2)
            self.b = nn.Conv2D(6, 1, in_channels=2)
            self.bn = nn.BatchNorm(in_channels=10)
            self.head = nn.Conv2D(3, 1, in_channels=10)

        def hybrid_forward(self, F, x):
            return self.head(F.relu(self.bn(F.concat(self.a(x), self.b(x), dim=1))))

    mx.random.seed(0)
    net = TwoBranches()
    net.initialize(mx.init.Xavier())
    config = ModelConfig(name="two_branches", input_shape=(2, 5, 5), task="regression")
    x = mx.nd.random.normal(shape=(2, 2, 5, 5))
    pruned, report = prune_channels(net, 0.5, config=config)
    assert report.removed_entries[net.bn.gamma.name][0] == 0
    removed = report.removed_entries[net.bn.gamma.name][1]
    kept_a = {g.layers: g.kept for g in report.groups}[("a",)]
    kept_b = {g.layers: g.kept for g in report.groups}[("b",)]
    assert sorted(set(range(10)) - set(removed)) == list(kept_a) + [4 + i for i in kept_b]
    assert pruned.collect_params()[net.head.weight.name].shape == (3, 5, 1, 1)
    _zero_removed(net, report)
    np.testing.assert_allclose(pruned(x).asnumpy(), net(x).asnumpy(), rtol=1e-5, atol=1e-6)


def test_depthwise_convolutions_follow_their_input():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 1, in_channels=3), nn.BatchNorm(in_channels=8), nn.Activation("relu"),
            nn.Conv2D(8, 3, padding=1, groups=8, in_channels=8), nn.BatchNorm(in_channels=8),
            nn.Conv2D(4, 1, in_channels=8), nn.GlobalAvgPool2D(), nn.Flatten())
    mx.random.seed(1)
    net.initialize(mx.init.Xavier())
    config = ModelConfig(name="depthwise", input_shape=(3, 6, 6), task="regression")
    x = mx.nd.random.normal(shape=(2, 3, 6, 6))
    pruned, report = prune_channels(net, 0.5, config=config)
    assert [(r.op, r.channels) for r in report.rows] == [
        ("conv", (8, 4)), ("dwconv", (8, 4)), ("conv", (4, 4))]
    _zero_removed(net, report)
    np.testing.assert_allclose(pruned(x).asnumpy(), net(x).asnumpy(), rtol=1e-5, atol=1e-6)


def test_exclude_keeps_a_layer_and_its_residual_group():
    net, config, _ = _build("cifar_resnet20_v1")
    _, report = prune_channels(net, 0.5, config=config, exclude=["features.0"])
    stem = next(g for g in report.groups if "features.0" in g.layers)
    assert stem.kept == tuple(range(16)) and "excluded" in stem.reason
    assert any(g.reason is None and len(g.kept) < g.channels for g in report.groups)


def test_at_least_one_channel_survives():
    net, config, inputs = _build("lenet5")
    pruned, report = prune_channels(net, 0.99, config=config)
    assert {r.layer: r.channels[1] for r in report.rows}["features.0"] == 1
    assert np.isfinite(pruned(*inputs).asnumpy()).all()


# ------------------------------------------------------------------ the pruned network

def test_report_table_and_dict():
    net, config, _ = _build("lenet5")
    _, report = prune_channels(net, 0.5, config=config)
    text = str(report)
    assert "features.0" in text and "6 -> 3" in text and text.splitlines()[-1].startswith("total")
    d = json.loads(json.dumps(report.to_dict()))
    assert d["totals"]["params"] == {"before": 61706, "after": report.params[1]}
    assert [row["layer"] for row in d["layers"]] == [r.layer for r in report.rows]
    assert d["totals"]["flops"]["after"] == sum(row["flops"]["after"] for row in d["layers"])


def test_pruned_net_trains_hybridizes_and_magnitude_prunes():
    from gluon_dl.training import fit

    net, config, _ = _build("cifar_resnet20_v1")
    pruned, _ = prune_channels(net, 0.5, config=config)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(32, 3, 32, 32)).astype("float32")
    y = rng.randint(0, 4, size=32).astype("float32")
    batches = [(mx.nd.array(X[i:i + 16]), mx.nd.array(y[i:i + 16])) for i in (0, 16)]
    history = fit(pruned, batches, 4, lr=1e-2, progress=False, seed=0)
    losses = history.history["loss"] if hasattr(history, "history") else history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert pruned._active  # fit hybridized it
    pruner = prune_to_sparsity(pruned, 0.5)
    assert len(pruner.keys) == 22 and pruner.overall_sparsity() == pytest.approx(0.5, abs=1e-3)


def test_pruning_a_pruned_net_again_keeps_the_layer_names():
    net, config, inputs = _build("lenet5")
    once, _ = prune_channels(net, 0.5, config=config)
    twice, report = prune_channels(once, 0.5, config=config)
    assert {r.layer: r.channels for r in report.rows}["features.2"] == (8, 4)
    assert twice(*inputs).shape == (2, 10)


def test_pruned_net_exports_to_onnx_and_matches_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from deploy.export import onnx as onnx_export

    net, config, _ = _build("cifar_resnet20_v1")
    pruned, _ = prune_channels(net, 0.5, config=config)
    pruned.hybridize()
    x = np.random.RandomState(3).normal(size=(4, 3, 32, 32)).astype("float32")
    want = pruned(mx.nd.array(x)).asnumpy()
    path = onnx_export.export(pruned, tmp_path / "pruned.onnx", config=config)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_pruned_net_exports_to_tflite_and_matches_the_edge_runtime(tmp_path):
    pytest.importorskip("onnx2tf")
    from deploy.export import tflite
    from deploy.runtime import load

    net, config, _ = _build("lenet5")
    pruned, _ = prune_channels(net, 0.5, config=config)
    x = np.random.RandomState(4).normal(size=(1, 1, 28, 28)).astype("float32")
    want = pruned(mx.nd.array(x)).asnumpy()
    path = tflite.export(pruned, tmp_path / "pruned.tflite", config=config)
    got = np.asarray(load(path).predict(x, normalize=False)).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("sparsity, error", [
    (0.0, ArgumentError), (1.0, ArgumentError), (-0.5, ArgumentError), (True, ArgumentTypeError),
    ("0.5", ArgumentTypeError)])
def test_bad_sparsity(sparsity, error):
    net, config, _ = _build("lenet5")
    with pytest.raises(error, match="sparsity"):
        prune_channels(net, sparsity, config=config)


def test_bad_config_exclude_and_networks():
    net, config, _ = _build("lenet5")
    with pytest.raises(ArgumentTypeError, match="ModelConfig"):
        prune_channels(net, 0.5, config="lenet5")
    with pytest.raises(ArgumentError, match=r"\['classifier'\] match no.*features.0"):
        prune_channels(net, 0.5, config=config, exclude="classifier")
    with pytest.raises(ArgumentTypeError, match="HybridBlock"):
        prune_channels(nn.Sequential(), 0.5, config=config)
    with pytest.raises(ArgumentError, match="removes no channel.*120 channels.*at least 0.00833"):
        prune_channels(net, 0.005, config=config)


def test_uninitialized_network_asks_for_a_forward_pass():
    net = get_model("lenet5")
    net.initialize()
    with pytest.raises(ArgumentError, match="layer 'features.0'.*forward pass"):
        prune_channels(net, 0.5, config=net.config)


def test_weights_are_read_after_the_callers_queued_forward_pass(monkeypatch):
    """An inference pass left queued reorders convolution weights in place (MXNet's
    oneDNN layout); prune_channels lets the engine finish before copying them."""
    import deploy.prune.structured as structured

    net, config, inputs = _build("lenet5")
    events = []
    real_numpy, real_wait = structured._numpy, mx.nd.waitall
    monkeypatch.setattr(mx.nd, "waitall", lambda: events.append("wait") or real_wait())
    monkeypatch.setattr(structured, "_numpy",
                        lambda p, layer: events.append("read") or real_numpy(p, layer))
    net(*inputs)  # queued, never read
    prune_channels(net, 0.5, config=config)
    assert events[0] == "wait" and "read" in events


def test_recurrent_model_is_refused_naming_the_layer():
    net, config, _ = _build("rnn_lm")
    with pytest.raises(ArgumentError, match=r"'rnn_lm'.*layer 'dense' \(FullyConnected\)"):
        prune_channels(net, 0.5, config=config)


def test_training_mode_batchnorm_sees_the_same_channels():
    net, config, inputs = _build("cifar_resnet20_v2")
    pruned, report = prune_channels(net, 0.5, config=config)
    _zero_removed(net, report)
    with autograd.train_mode():
        got, want = pruned(*inputs).asnumpy(), net(*inputs).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    assert isinstance(pruned, gluon.HybridBlock)
