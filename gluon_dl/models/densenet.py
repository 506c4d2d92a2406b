"""DenseNet-121/161/169/201 for ImageNet.

Huang et al., "Densely connected convolutional networks", CVPR 2017.
Lesson: densely connected networks (DenseNet).

Layer for layer as GluonCV's ``densenet.py`` (DenseNet-121: 7,978,856
trainable parameters).  Each dense layer is BN-ReLU-conv1x1 (``bn_size`` x
growth channels) then BN-ReLU-conv3x3 (growth channels), and its output is
concatenated to its input; transitions halve channels and resolution.  A
global average pool replaces GluonCV's fixed 7x7 one (the same at 224x224),
so the tests run at 32x32.

``densenet_d2l`` is the course's (Dive into Deep Learning) small DenseNet
for gray Fashion-MNIST at 96x96 (``image_size`` from 32 up): a 64-channel
stem, four dense blocks of four layers with growth rate 32 and no 1x1
bottleneck (each layer is BN-ReLU-conv3x3), transitions that halve the
channels, and 248 features into the classifier (0.76M parameters).
"""
from mxnet.gluon import nn

from ..errors import ArgumentError
from ._config import ModelConfig
from ._registry import register_model
from ._presets import IMAGENET_MEAN, IMAGENET_STD, fashion_mnist_config

__all__ = ["DenseLayer", "DenseNet", "DENSENET_SPEC", "get_densenet"]


# depth: (stem channels, growth rate, dense layers per block)
DENSENET_SPEC = {
    121: (64, 32, (6, 12, 24, 16)),
    161: (96, 48, (6, 12, 36, 24)),
    169: (64, 32, (6, 12, 32, 32)),
    201: (64, 32, (6, 12, 48, 32)),
}


def _bn_relu_conv(seq, channels, kernel_size, padding=0):
    seq.add(nn.BatchNorm(), nn.Activation("relu"),
            nn.Conv2D(channels, kernel_size, padding=padding, use_bias=False))


class DenseLayer(nn.HybridBlock):
    """BN-ReLU-conv1x1 then BN-ReLU-conv3x3; returns ``concat(x, new features)``.

    Parameters
    ----------
    growth_rate : int
        Channels the layer adds.
    bn_size : int
        The bottleneck has ``bn_size * growth_rate`` channels; 0 leaves it out
        (BN-ReLU-conv3x3 only, the course's dense layer).
    dropout : float
        Dropout on the new features (training only).
    """

    def __init__(self, growth_rate, bn_size=4, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.body = nn.HybridSequential(prefix="")
            if bn_size:
                _bn_relu_conv(self.body, bn_size * growth_rate, 1)
            _bn_relu_conv(self.body, growth_rate, 3, padding=1)
            if dropout:
                self.body.add(nn.Dropout(dropout))

    def hybrid_forward(self, F, x):
        return F.concat(x, self.body(x), dim=1)


def transition(channels):
    """BN-ReLU-conv1x1 to ``channels``, then 2x2/2 average pooling."""
    out = nn.HybridSequential(prefix="")
    _bn_relu_conv(out, channels, 1)
    out.add(nn.AvgPool2D(pool_size=2, strides=2))
    return out


class DenseNet(nn.HybridBlock):
    """Stem, dense blocks joined by transitions, BN-ReLU, global pool, dense.

    Parameters
    ----------
    num_init_features : int
        Stem channels.
    growth_rate : int
    block_config : sequence of int
        Dense layers per block.
    bn_size : int
        Bottleneck width in growth rates; 0 for dense layers without one.
    dropout : float
    num_classes : int

    Attributes
    ----------
    num_features : int
        Channels into the classifier.
    num_init_features, growth_rate, block_config :
        The arguments, as built.
    """

    def __init__(self, num_init_features, growth_rate, block_config, bn_size=4, dropout=0.0,
                 num_classes=1000, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.Conv2D(num_init_features, 7, 2, 3, use_bias=False),
                              nn.BatchNorm(), nn.Activation("relu"),
                              nn.MaxPool2D(pool_size=3, strides=2, padding=1))
            channels = num_init_features
            for i, num_layers in enumerate(block_config):
                stage = nn.HybridSequential(prefix=f"stage{i + 1}_")
                with stage.name_scope():
                    for _ in range(num_layers):
                        stage.add(DenseLayer(growth_rate, bn_size, dropout))
                self.features.add(stage)
                channels += num_layers * growth_rate
                if i != len(block_config) - 1:
                    channels //= 2
                    self.features.add(transition(channels))
            self.features.add(nn.BatchNorm(), nn.Activation("relu"), nn.GlobalAvgPool2D(),
                              nn.Flatten())
            self.output = nn.Dense(num_classes)
        self.num_features = channels
        self.num_init_features, self.growth_rate = num_init_features, growth_rate
        self.block_config = tuple(block_config)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def get_densenet(depth, num_classes=1000, **kwargs):
    """Build DenseNet-``depth`` (121, 161, 169 or 201).

    Raises
    ------
    ValueError
        For a depth that is not in :data:`DENSENET_SPEC`.
    """
    if depth not in DENSENET_SPEC:
        raise ArgumentError(f"DenseNet depth {depth!r} is not one of {sorted(DENSENET_SPEC)}")
    num_init_features, growth_rate, block_config = DENSENET_SPEC[depth]
    return DenseNet(num_init_features, growth_rate, block_config, num_classes=num_classes,
                    **kwargs)


_BASE = ModelConfig(
    name="densenet", input_shape=(3, 224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD,
    num_classes=1000, test_input_shape=(3, 32, 32),
    paper="Huang et al. 2017, Densely connected convolutional networks (CVPR)",
    lesson="Modern convolutional networks: densely connected networks (DenseNet)")


def _config(name, reference_params):
    return _BASE.replace(name=name, gluoncv_name=name, reference_params=reference_params)


@register_model(config=_config("densenet121", 7_978_856))
def densenet121(num_classes=1000, config=None, **kwargs):
    """DenseNet-121 (growth 32, 8.0M parameters)."""
    return get_densenet(121, num_classes, **kwargs)


@register_model(config=_config("densenet161", 28_681_000))
def densenet161(num_classes=1000, config=None, **kwargs):
    """DenseNet-161 (growth 48)."""
    return get_densenet(161, num_classes, **kwargs)


@register_model(config=_config("densenet169", 14_149_480))
def densenet169(num_classes=1000, config=None, **kwargs):
    """DenseNet-169 (growth 32)."""
    return get_densenet(169, num_classes, **kwargs)


@register_model(config=_config("densenet201", 20_013_928))
def densenet201(num_classes=1000, config=None, **kwargs):
    """DenseNet-201 (growth 32)."""
    return get_densenet(201, num_classes, **kwargs)


def _d2l_config(image_size=96):
    return fashion_mnist_config("densenet_d2l", image_size, 32, _BASE.paper, _BASE.lesson)


@register_model(config=_d2l_config)
def densenet_d2l(num_classes=10, image_size=96, config=None, **kwargs):
    """The course's small DenseNet (growth 32, 4x4 layers, no bottleneck) for gray Fashion-MNIST."""
    return DenseNet(64, 32, (4, 4, 4, 4), bn_size=0, num_classes=num_classes, **kwargs)
