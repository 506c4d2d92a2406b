"""The CNN families: each learns on a small batch, and each keeps its defining structure."""
import functools
import json
import re

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from gluon_dl.models import count_parameters, example_inputs, get_model, list_models  # noqa: E402
from gluon_dl.models.cifar_resnet import cifar_resnet_spec, get_cifar_resnet  # noqa: E402
from gluon_dl.models.densenet import DENSENET_SPEC, DenseLayer, get_densenet  # noqa: E402
from gluon_dl.models.googlenet import Inception  # noqa: E402
from gluon_dl.models.resnet import get_resnet  # noqa: E402
from gluon_dl.models.vgg import get_vgg  # noqa: E402

# One shell pattern per family module; the models come from the registry.
FAMILIES = ("alexnet", "vgg*", "nin", "googlenet*", "resnet*", "cifar_resnet*", "densenet*",
            "mobilenet*")
RESNETS = list_models("resnet*") + list_models("cifar_resnet*")


def _op_nodes(sym):
    """The operator nodes of a symbol, in topological order."""
    return [n for n in json.loads(sym.tojson())["nodes"] if n["op"] != "null"]


def _weight_shapes(net):
    """``{parameter name: shape}`` of the weights, inferred at the config's input shape."""
    sym = net(mx.sym.var("data"))
    arg_shapes, _, _ = sym.infer_shape(data=net.config.batch_shape)
    return {n: s for n, s in zip(sym.list_arguments(), arg_shapes) if n.endswith("_weight")}


def _depth(name):
    return int(re.search(r"(\d+)", name).group(1))


def _loss(net, X, y):
    # Same dropout masks in every evaluation (re-seeded) and batch statistics in BN,
    # so the loss is a deterministic function of the weights.
    mx.random.seed(1)
    with mx.autograd.train_mode():
        return mx.gluon.loss.SoftmaxCrossEntropyLoss()(net(X), y).mean().asscalar()


@pytest.mark.parametrize("pattern", FAMILIES)
def test_a_few_sgd_steps_lower_the_loss(pattern):
    # The family's smallest model fits 8 fixed random images with 4 labels.
    name = min(list_models(pattern), key=lambda n: count_parameters(get_model(n)))
    mx.random.seed(0)
    net = get_model(name, num_classes=4)
    net.initialize(mx.init.Xavier())
    net.hybridize(static_alloc=True)
    X = example_inputs(net.config, batch=8, seed=0, small=True)[0]
    y = mx.nd.array(np.random.RandomState(0).randint(0, 4, size=8))
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05})
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    before = _loss(net, X, y)
    for _ in range(5):
        with mx.autograd.record():
            loss = loss_fn(net(X), y)
        loss.backward()
        trainer.step(X.shape[0])
    after = _loss(net, X, y)
    assert np.isfinite(before) and after < 0.98 * before, (name, before, after)


@pytest.mark.parametrize("name", list_models("vgg*") + RESNETS)
def test_depth_in_the_name_counts_the_weight_layers(name):
    # Convolutions and dense layers on the main path; shortcut projections do not count.
    ops = _op_nodes(get_model(name)(mx.sym.var("data")))
    layers = [n for n in ops if n["op"] in ("Convolution", "FullyConnected")
              and "shortcut" not in n["name"]]
    assert len(layers) == _depth(name)


@pytest.mark.parametrize("name", RESNETS)
def test_v2_blocks_are_pre_activation(name):
    net = get_model(name)
    stage = next(block for block in net.features if block.prefix.endswith("stage1_"))
    first_op = _op_nodes(stage[0](mx.sym.var("data")))[0]["op"]
    assert first_op == ("BatchNorm" if name.endswith("_v2") else "Convolution")


@pytest.mark.parametrize("depth", [4, 21, 57])
def test_cifar_resnet_depth_must_be_6n_plus_2(depth):
    with pytest.raises(ValueError, match=f"depth {depth} is not 6n\\+2"):
        get_cifar_resnet(1, depth)


def test_cifar_resnet_spec_follows_6n_plus_2():
    assert cifar_resnet_spec(20) == (3, 3, 3)
    assert cifar_resnet_spec(110) == (18, 18, 18)


@pytest.mark.parametrize("build", [lambda: get_resnet(1, 19), lambda: get_vgg(17),
                                   lambda: get_densenet(100)])
def test_unknown_depths_are_rejected_by_name(build):
    with pytest.raises(ValueError, match=r"depth (19|17|100) is not one of"):
        build()


@functools.lru_cache(maxsize=None)
def _conv_widths(name):
    """Output channels of every convolution of ``name`` except a conv classifier."""
    return [s[0] for n, s in _weight_shapes(get_model(name)).items()
            if len(s) == 4 and "pred" not in n]


@pytest.mark.parametrize("name", list_models("mobilenet*"))
def test_width_multiplier_scales_every_channel_count(name):
    net = get_model(name)
    full = re.sub(r"[\d.]+$", "1.0", name)  # GluonCV names end with the multiplier
    expected = [int(c * net.multiplier) for c in _conv_widths(full)]
    if type(net).__name__ == "MobileNetV2":
        expected[-1] = 1280  # v2 keeps its last 1x1 conv at 1280 channels for widths <= 1
    assert _conv_widths(name) == expected and expected[0] == int(32 * net.multiplier)


def test_width_multiplier_orders_the_parameter_counts():
    by_type = {}
    for name in list_models("mobilenet*"):
        net = get_model(name)
        by_type.setdefault(type(net).__name__, []).append((net.multiplier, count_parameters(net)))
    assert sorted(by_type) == ["MobileNet", "MobileNetV2"]
    for counts in by_type.values():
        ordered = [c for _, c in sorted(counts)]
        assert len(ordered) == 4 and ordered == sorted(set(ordered))


@pytest.mark.parametrize("branch3_kernel", [3, 5])
def test_inception_concatenates_its_four_branches(branch3_kernel):
    block = Inception(64, (96, 128), (16, 32), 32, branch3_kernel=branch3_kernel)
    block.initialize()
    out = block(mx.nd.ones((2, 192, 8, 8)))
    assert out.shape == (2, 64 + 128 + 32 + 32, 8, 8)


def test_inception_5x5_branch_has_the_papers_extra_weights():
    sizes = {}
    for k in (3, 5):
        block = Inception(64, (96, 128), (16, 32), 32, branch3_kernel=k)
        block.initialize()
        block(mx.nd.ones((1, 192, 4, 4)))
        sizes[k] = sum(p.data().size for p in block.collect_params().values())
    assert sizes[5] - sizes[3] == 16 * 32 * (5 * 5 - 3 * 3)


def test_dense_layer_appends_growth_rate_channels():
    layer = DenseLayer(growth_rate=12, bn_size=4)
    layer.initialize()
    x = mx.nd.random.normal(shape=(2, 20, 6, 6))
    out = layer(x)
    assert out.shape == (2, 32, 6, 6)
    np.testing.assert_array_equal(out[:, :20].asnumpy(), x.asnumpy())


@pytest.mark.parametrize("name", list_models("densenet*"))
def test_densenet_classifier_sees_all_accumulated_features(name):
    net = get_model(name)
    init, growth, blocks = net.num_init_features, net.growth_rate, net.block_config
    if name[len("densenet"):].isdigit():  # densenet121...: the spec table's depths
        assert (init, growth, blocks) == DENSENET_SPEC[_depth(name)]
    channels = init
    for n in blocks[:-1]:  # each transition halves the channels
        channels = (channels + n * growth) // 2
    channels += blocks[-1] * growth
    dense = [s for n, s in _weight_shapes(net).items() if len(s) == 2]
    assert net.num_features == channels and dense == [(net.config.num_classes, channels)]
    if name == "densenet121":
        assert channels == 1024  # Huang et al. 2017, Table 1


def test_nin_has_no_dense_layer():
    ops = {n["op"] for n in _op_nodes(get_model("nin")(mx.sym.var("data")))}
    assert "FullyConnected" not in ops and "Pooling" in ops
