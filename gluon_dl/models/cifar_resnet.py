"""ResNets for 32x32 CIFAR-10 images: depth 6n+2, three stages of 16/32/64 channels.

He et al., "Deep residual learning for image recognition", CVPR 2016,
section 4.2 (v1); He et al., "Identity mappings in deep residual networks",
ECCV 2016 (v2).  Lesson: image classification on CIFAR-10 (ResNet).

As in GluonCV's ``cifarresnet.py`` the shortcuts that change shape are 1x1
projections (the paper's option B; option A zero-pads instead), so the
counts equal GluonCV's: 272,474 trainable parameters for ResNet-20 v1
(the paper's "0.27M").  Unlike GluonCV the v1 stem ends with a ReLU, as in
the paper; ReLU has no parameters, so the counts are unchanged.
"""
from mxnet.gluon import nn

from ..errors import ArgumentError
from ._config import ModelConfig
from ._registry import register_model
from .layers.conv import conv3x3
from ._presets import CIFAR10_MEAN, CIFAR10_STD, CIFAR10_LABELS
from .resnet import BasicBlockV1, BasicBlockV2, make_stage

__all__ = ["CIFARResNet", "cifar_resnet_spec", "get_cifar_resnet"]

CHANNELS = (16, 16, 32, 64)  # stem, then one per stage


def cifar_resnet_spec(depth):
    """Blocks per stage for a CIFAR ResNet of ``depth = 6n + 2`` weight layers.

    Raises
    ------
    ValueError
        When ``depth`` is not of the form 6n+2 with n >= 1 (20, 32, 44, 56, 110, ...).
    """
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ArgumentError(f"CIFAR ResNet depth {depth!r} is not 6n+2 for an integer n >= 1 "
                         "(e.g. 20, 32, 44, 56, 110)")
    n = (depth - 2) // 6
    return (n,) * (len(CHANNELS) - 1)


class CIFARResNet(nn.HybridBlock):
    """3x3 stem, three stages of basic blocks (strides 1, 2, 2), global pool, dense.

    Parameters
    ----------
    version : int
        1 (post-activation) or 2 (pre-activation: a data BatchNorm without
        parameters first, BN-ReLU before the pooling).
    layers : sequence of int
        Basic blocks per stage.
    num_classes : int
    """

    def __init__(self, version, layers, num_classes=10, **kwargs):
        super().__init__(**kwargs)
        block = {1: BasicBlockV1, 2: BasicBlockV2}[version]
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            if version == 1:
                self.features.add(conv3x3(CHANNELS[0]), nn.BatchNorm(), nn.Activation("relu"))
            else:
                self.features.add(nn.BatchNorm(scale=False, center=False), conv3x3(CHANNELS[0]))
            for i, num_blocks in enumerate(layers):
                self.features.add(make_stage(block, num_blocks, CHANNELS[i + 1],
                                             1 if i == 0 else 2, CHANNELS[i], i + 1))
            if version == 2:
                self.features.add(nn.BatchNorm(), nn.Activation("relu"))
            self.features.add(nn.GlobalAvgPool2D(), nn.Flatten())
            self.output = nn.Dense(num_classes, in_units=CHANNELS[-1])

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def get_cifar_resnet(version, depth, num_classes=10, **kwargs):
    """Build CIFAR ResNet ``version`` (1 or 2) with ``depth = 6n + 2`` layers.

    Raises
    ------
    ValueError
        For a depth that is not 6n+2 or a version other than 1 and 2.
    """
    if version not in (1, 2):
        raise ArgumentError(f"CIFAR ResNet version {version!r} is not 1 or 2")
    return CIFARResNet(version, cifar_resnet_spec(depth), num_classes=num_classes, **kwargs)


_BASE = ModelConfig(
    name="cifar_resnet", input_shape=(3, 32, 32), mean=CIFAR10_MEAN, std=CIFAR10_STD,
    num_classes=10, labels=CIFAR10_LABELS,
    paper="He et al. 2016, Deep residual learning for image recognition (CVPR), sec. 4.2",
    lesson="Computer vision: image classification on CIFAR-10 (ResNet)")
_V2 = _BASE.replace(paper="He et al. 2016, Identity mappings in deep residual networks (ECCV)")


def _config(version, depth):
    name = f"cifar_resnet{depth}_v{version}"
    return (_BASE if version == 1 else _V2).replace(name=name, gluoncv_name=name)


@register_model(config=_config(1, 20))
def cifar_resnet20_v1(num_classes=10, config=None, **kwargs):
    """CIFAR ResNet-20 v1 (0.27M parameters)."""
    return get_cifar_resnet(1, 20, num_classes, **kwargs)


@register_model(config=_config(1, 56))
def cifar_resnet56_v1(num_classes=10, config=None, **kwargs):
    """CIFAR ResNet-56 v1 (0.86M parameters)."""
    return get_cifar_resnet(1, 56, num_classes, **kwargs)


@register_model(config=_config(2, 20))
def cifar_resnet20_v2(num_classes=10, config=None, **kwargs):
    """CIFAR ResNet-20 v2 (pre-activation)."""
    return get_cifar_resnet(2, 20, num_classes, **kwargs)


@register_model(config=_config(2, 56))
def cifar_resnet56_v2(num_classes=10, config=None, **kwargs):
    """CIFAR ResNet-56 v2 (pre-activation)."""
    return get_cifar_resnet(2, 56, num_classes, **kwargs)
