"""VGG 11/13/16/19, with and without batch normalization.

Simonyan and Zisserman, "Very deep convolutional networks for large-scale
image recognition", ICLR 2015 (configurations A, B, D, E); batch
normalization after each convolution as in GluonCV/torchvision ``*_bn``.
Lesson: networks using blocks (VGG).

Layer for layer as GluonCV's ``vgg.py`` (VGG-16: 138,357,544 trainable
parameters).  The layers bring their own initializers with the variances of
GluonCV's (He: 2 / fan_out for convolutions, 0.01**2 for dense layers), which
let the plain (no BN) networks train; they sample uniformly rather than
normally, because MXNet draws normal numbers about four times slower and
VGG has 10**8 of them.
The dense head takes any input size whose five poolings leave at least 1x1,
so the tests run at 32x32.

``vgg11_d2l`` is the course's (Dive into Deep Learning) small VGG-11 for
gray Fashion-MNIST: every block's channels divided by 4 (the book's
``ratio = 4``: 16-32-64-128-128) and the full 4096-4096 dense head, at
96x96 instead of the book's 224x224 (``image_size`` from 32 up).
"""
import math

from mxnet import init
from mxnet.gluon import nn

from ..errors import ArgumentError
from ._config import ModelConfig
from ._registry import register_model
from ._presets import IMAGENET_MEAN, IMAGENET_STD, fashion_mnist_config

__all__ = ["VGG", "VGG_SPEC", "get_vgg"]


# depth: (convolutions per block, channels per block); a 2x2 max pool ends each block.
VGG_SPEC = {
    11: ((1, 1, 2, 2, 2), (64, 128, 256, 512, 512)),
    13: ((2, 2, 2, 2, 2), (64, 128, 256, 512, 512)),
    16: ((2, 2, 3, 3, 3), (64, 128, 256, 512, 512)),
    19: ((2, 2, 4, 4, 4), (64, 128, 256, 512, 512)),
}


def vgg_block(num_convs, channels, batch_norm=False):
    """``num_convs`` 3x3 convolutions (each + optional BN + ReLU), then max pool 2x2/2."""
    block = nn.HybridSequential(prefix="")
    for _ in range(num_convs):
        block.add(nn.Conv2D(channels, kernel_size=3, padding=1,
                            weight_initializer=init.Xavier(rnd_type="uniform",
                                                           factor_type="out", magnitude=6),
                            bias_initializer="zeros"))
        if batch_norm:
            block.add(nn.BatchNorm())
        block.add(nn.Activation("relu"))
    block.add(nn.MaxPool2D(pool_size=2, strides=2))
    return block


class VGG(nn.HybridBlock):
    """VGG: blocks of 3x3 convolutions, then 4096-4096-``num_classes`` dense layers.

    Parameters
    ----------
    layers : sequence of int
        Convolutions per block.
    channels : sequence of int
        Channels per block.
    num_classes : int
    batch_norm : bool
        BatchNorm after every convolution.
    dropout : float
        Dropout after each hidden dense layer (training only).
    """

    def __init__(self, layers, channels, num_classes=1000, batch_norm=False, dropout=0.5,
                 **kwargs):
        super().__init__(**kwargs)
        if len(layers) != len(channels):
            raise ArgumentError(f"VGG needs one channel count per block: {len(layers)} blocks, "
                             f"{len(channels)} channel counts")
        dense = dict(weight_initializer=init.Uniform(0.01 * math.sqrt(3)),
                     bias_initializer="zeros")
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            for num_convs, c in zip(layers, channels):
                self.features.add(vgg_block(num_convs, c, batch_norm))
            self.features.add(nn.Dense(4096, activation="relu", **dense), nn.Dropout(dropout),
                              nn.Dense(4096, activation="relu", **dense), nn.Dropout(dropout))
            self.output = nn.Dense(num_classes, **dense)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def get_vgg(depth, num_classes=1000, batch_norm=False, **kwargs):
    """Build VGG-``depth`` (11, 13, 16 or 19).

    Raises
    ------
    ValueError
        For a depth that is not in :data:`VGG_SPEC`.
    """
    if depth not in VGG_SPEC:
        raise ArgumentError(f"VGG depth {depth!r} is not one of {sorted(VGG_SPEC)}")
    layers, channels = VGG_SPEC[depth]
    return VGG(layers, channels, num_classes=num_classes, batch_norm=batch_norm, **kwargs)


_BASE = ModelConfig(
    name="vgg", input_shape=(3, 224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD,
    num_classes=1000, test_input_shape=(3, 32, 32),
    paper="Simonyan and Zisserman 2015, Very deep convolutional networks for large-scale "
          "image recognition (ICLR)",
    lesson="Modern convolutional networks: networks using blocks (VGG)")


def _config(name, reference_params=None):
    return _BASE.replace(name=name, gluoncv_name=name, reference_params=reference_params)


@register_model(config=_config("vgg11", reference_params=132_863_336))
def vgg11(num_classes=1000, config=None, **kwargs):
    """VGG-11 (configuration A)."""
    return get_vgg(11, num_classes, **kwargs)


@register_model(config=_config("vgg13", reference_params=133_047_848))
def vgg13(num_classes=1000, config=None, **kwargs):
    """VGG-13 (configuration B)."""
    return get_vgg(13, num_classes, **kwargs)


@register_model(config=_config("vgg16", reference_params=138_357_544))
def vgg16(num_classes=1000, config=None, **kwargs):
    """VGG-16 (configuration D, 138.4M parameters)."""
    return get_vgg(16, num_classes, **kwargs)


@register_model(config=_config("vgg19", reference_params=143_667_240))
def vgg19(num_classes=1000, config=None, **kwargs):
    """VGG-19 (configuration E)."""
    return get_vgg(19, num_classes, **kwargs)


@register_model(config=_config("vgg11_bn", reference_params=132_868_840))
def vgg11_bn(num_classes=1000, config=None, **kwargs):
    """VGG-11 with batch normalization."""
    return get_vgg(11, num_classes, batch_norm=True, **kwargs)


@register_model(config=_config("vgg13_bn", reference_params=133_053_736))
def vgg13_bn(num_classes=1000, config=None, **kwargs):
    """VGG-13 with batch normalization."""
    return get_vgg(13, num_classes, batch_norm=True, **kwargs)


@register_model(config=_config("vgg16_bn", reference_params=138_365_992))
def vgg16_bn(num_classes=1000, config=None, **kwargs):
    """VGG-16 with batch normalization."""
    return get_vgg(16, num_classes, batch_norm=True, **kwargs)


@register_model(config=_config("vgg19_bn", reference_params=143_678_248))
def vgg19_bn(num_classes=1000, config=None, **kwargs):
    """VGG-19 with batch normalization."""
    return get_vgg(19, num_classes, batch_norm=True, **kwargs)


#: The course divides VGG's channel counts by this to train on a CPU or a small GPU.
D2L_RATIO = 4


def _d2l_config(image_size=96):
    return fashion_mnist_config("vgg11_d2l", image_size, 32, _BASE.paper, _BASE.lesson)


@register_model(config=_d2l_config)
def vgg11_d2l(num_classes=10, image_size=96, config=None, **kwargs):
    """The course's VGG-11 with a quarter of the channels, for gray Fashion-MNIST."""
    layers, channels = VGG_SPEC[11]
    return VGG(layers, [c // D2L_RATIO for c in channels], num_classes=num_classes, **kwargs)
