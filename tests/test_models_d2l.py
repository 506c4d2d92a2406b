"""The course-sized CNN presets (``*_d2l``): gray images of a chosen size, and the course's layers."""
import json

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from gluon_dl.errors import ArgumentError  # noqa: E402
from gluon_dl.models import (config_arguments, count_parameters, get_config,  # noqa: E402
                             get_model, list_models)
from gluon_dl.models._presets import FASHION_MNIST_LABELS  # noqa: E402

# The presets that take an image size (googlenet_d2l keeps a fixed 96x96 config).
SIZED = [n for n in list_models("*_d2l") if "image_size" in config_arguments(n)]


def _out_shape(name, size):
    net = get_model(name, image_size=size)
    _, out, _ = net(mx.sym.var("data")).infer_shape(data=(2, 1, size, size))
    return out[0]


def _ops(name):
    nodes = json.loads(get_model(name)(mx.sym.var("data")).tojson())["nodes"]
    return [n for n in nodes if n["op"] != "null"]


def test_the_four_presets_are_registered():
    assert {"alexnet_d2l", "vgg11_d2l", "resnet18_d2l", "densenet_d2l"} <= set(SIZED)


@pytest.mark.parametrize("name", SIZED)
def test_preset_takes_gray_fashion_mnist_at_its_size(name):
    cfg = get_config(name)
    assert cfg.input_shape == (1, 96, 96) and cfg.num_classes == 10
    assert cfg.labels == FASHION_MNIST_LABELS and cfg.paper and "Fashion-MNIST" in cfg.lesson
    smallest = cfg.test_input_shape[-1]
    for size in (96, smallest):
        assert get_config(name, image_size=size).input_shape == (1, size, size)
        assert _out_shape(name, size) == (2, 10)


@pytest.mark.parametrize("name", SIZED)
def test_image_size_below_what_the_poolings_take_is_refused(name):
    smallest = get_config(name).test_input_shape[-1]
    with pytest.raises(ArgumentError, match=f"image_size must be a whole number >= {smallest}"):
        get_model(name, image_size=smallest - 1)
    with pytest.raises(ArgumentError, match="image_size"):
        get_config(name, image_size=64.0)


def test_alexnet_d2l_is_smallest_at_67():
    # 67 is the first size at which the three 3x3/2 poolings all find a window.
    assert get_config("alexnet_d2l").test_input_shape == (1, 67, 67)
    net = get_model("alexnet_d2l")
    with pytest.raises(mx.base.MXNetError):
        net(mx.sym.var("data")).infer_shape(data=(1, 1, 66, 66))


def test_vgg11_d2l_has_a_quarter_of_vgg11s_channels():
    def conv_widths(name):
        return [int(json.loads(n["attrs"]["num_filter"])) for n in _ops(name)
                if n["op"] == "Convolution"]
    assert conv_widths("vgg11_d2l") == [c // 4 for c in conv_widths("vgg11")]
    assert conv_widths("vgg11_d2l") == [16, 32, 64, 64, 128, 128, 128, 128]


def test_resnet18_d2l_is_resnet18_with_one_input_channel_and_ten_classes():
    stem = 64 * 7 * 7  # weights of the 7x7 stem per input channel
    expected = count_parameters(get_model("resnet18_v1")) - 3 * stem + 1 * stem \
        - (512 * 1000 + 1000) + (512 * 10 + 10)
    assert count_parameters(get_model("resnet18_d2l")) == expected


def test_densenet_d2l_has_no_bottleneck_and_248_features():
    net = get_model("densenet_d2l")
    kernels = [n["attrs"]["kernel"] for n in _ops("densenet_d2l") if n["op"] == "Convolution"]
    # the stem, 4 blocks x 4 layers of 3x3, and 3 transitions of 1x1
    assert kernels.count("(3, 3)") == 16 and kernels.count("(1, 1)") == 3 and len(kernels) == 20
    channels = 64
    for block in range(4):
        channels += 4 * 32  # four layers of growth 32
        if block < 3:
            channels //= 2  # a transition
    assert channels == 248 and net.num_features == 248
    dense = [n for n in _ops("densenet_d2l") if n["op"] == "FullyConnected"]
    assert len(dense) == 1


def test_densenet_d2l_learns_a_batch():
    mx.random.seed(0)
    net = get_model("densenet_d2l", image_size=32)
    net.initialize(mx.init.Xavier())
    X = mx.nd.array(np.random.RandomState(0).randn(16, 1, 32, 32))
    y = mx.nd.array(np.arange(16) % 10)
    trainer = mx.gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 1e-3})
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    losses = []
    for _ in range(10):
        with mx.autograd.record():
            loss = loss_fn(net(X), y).mean()
        loss.backward()
        trainer.step(1)
        losses.append(loss.asscalar())
    assert losses[-1] < 0.5 * losses[0]
