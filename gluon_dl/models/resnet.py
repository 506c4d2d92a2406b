"""ResNet v1 and v2 (pre-activation) for ImageNet, GluonCV-compatible.

He et al., "Deep residual learning for image recognition", CVPR 2016 (v1);
He et al., "Identity mappings in deep residual networks", ECCV 2016 (v2).
Lesson: residual networks (ResNet).

The structure follows GluonCV's ``resnet.py`` layer for layer, so the
parameter counts equal GluonCV's model zoo.  One inherited detail: GluonCV's
v1 bottleneck gives its two 1x1 convolutions a bias (redundant before
BatchNorm), so ``resnet50_v1`` has 25,575,912 trainable parameters, 18,880
more than the 25,557,032 of the bias-free Caffe/torchvision ResNet-50.

The residual blocks are shared with :mod:`.cifar_resnet`.  Shortcut
projections are named ``shortcut`` so that tools (and tests) can tell them
from the weight layers that make up the depth in a model's name.
"""
from mxnet.gluon import nn

from ..errors import ArgumentError
from ._config import ModelConfig
from ._registry import register_model
from .layers.conv import conv3x3
from ._presets import IMAGENET_MEAN, IMAGENET_STD, fashion_mnist_config

__all__ = ["BasicBlockV1", "BottleneckV1", "BasicBlockV2", "BottleneckV2", "ResNetV1",
           "ResNetV2", "RESNET_SPEC", "get_resnet"]


# depth: (block type, blocks per stage, channels: stem then one per stage)
RESNET_SPEC = {
    18: ("basic", (2, 2, 2, 2), (64, 64, 128, 256, 512)),
    34: ("basic", (3, 4, 6, 3), (64, 64, 128, 256, 512)),
    50: ("bottleneck", (3, 4, 6, 3), (64, 256, 512, 1024, 2048)),
    101: ("bottleneck", (3, 4, 23, 3), (64, 256, 512, 1024, 2048)),
    152: ("bottleneck", (3, 8, 36, 3), (64, 256, 512, 1024, 2048)),
}


def _shortcut_v1(channels, strides, in_channels):
    out = nn.HybridSequential(prefix="shortcut_")
    with out.name_scope():
        out.add(nn.Conv2D(channels, kernel_size=1, strides=strides, use_bias=False,
                          in_channels=in_channels))
        out.add(nn.BatchNorm())
    return out


class BasicBlockV1(nn.HybridBlock):
    """Two 3x3 conv-BN layers plus the input, then ReLU (ResNet-18/34).

    Parameters
    ----------
    channels : int
        Output channels.
    strides : int
        Stride of the first convolution (2 halves the resolution).
    downsample : bool
        Project the shortcut with a strided 1x1 conv-BN (when the shape changes).
    in_channels : int
        Input channels, 0 to infer.
    """

    def __init__(self, channels, strides, downsample=False, in_channels=0, **kwargs):
        super().__init__(**kwargs)
        self.body = nn.HybridSequential(prefix="")
        self.body.add(conv3x3(channels, strides, in_channels), nn.BatchNorm(),
                      nn.Activation("relu"), conv3x3(channels, 1, channels), nn.BatchNorm())
        self.downsample = _shortcut_v1(channels, strides, in_channels) if downsample else None

    def hybrid_forward(self, F, x):
        residual = self.downsample(x) if self.downsample is not None else x
        return F.Activation(self.body(x) + residual, act_type="relu")


class BottleneckV1(nn.HybridBlock):
    """1x1 reduce, 3x3, 1x1 expand (to ``channels``) plus the input (ResNet-50+).

    As in GluonCV the stride sits on the first 1x1 convolution and both 1x1
    convolutions carry a bias.  Parameters as :class:`BasicBlockV1`.
    """

    def __init__(self, channels, strides, downsample=False, in_channels=0, **kwargs):
        super().__init__(**kwargs)
        mid = channels // 4
        self.body = nn.HybridSequential(prefix="")
        self.body.add(nn.Conv2D(mid, kernel_size=1, strides=strides), nn.BatchNorm(),
                      nn.Activation("relu"), conv3x3(mid, 1, mid), nn.BatchNorm(),
                      nn.Activation("relu"), nn.Conv2D(channels, kernel_size=1), nn.BatchNorm())
        self.downsample = _shortcut_v1(channels, strides, in_channels) if downsample else None

    def hybrid_forward(self, F, x):
        residual = self.downsample(x) if self.downsample is not None else x
        return F.Activation(self.body(x) + residual, act_type="relu")


def _shortcut_v2(channels, strides, in_channels):
    """The projection shortcut of a v2 block (1x1 conv without bias)."""
    return nn.Conv2D(channels, 1, strides, use_bias=False, in_channels=in_channels,
                     prefix="shortcut_")


def _preactivate(F, block, x):
    """BN-ReLU of a v2 block's input, and the residual taken from it.

    The projection shortcut sees the pre-activated input; the identity
    shortcut the raw one (He et al. 2016b).
    """
    act = F.Activation(block.bn1(x), act_type="relu")
    residual = block.downsample(act) if block.downsample is not None else x
    return act, residual


class BasicBlockV2(nn.HybridBlock):
    """Pre-activation basic block: BN-ReLU-conv3x3 twice, plus the input.

    The first operation is BatchNorm, so the identity path stays clean
    (He et al. 2016b).  A projection shortcut takes the pre-activated input.
    Parameters as :class:`BasicBlockV1`.
    """

    def __init__(self, channels, strides, downsample=False, in_channels=0, **kwargs):
        super().__init__(**kwargs)
        self.bn1 = nn.BatchNorm()
        self.conv1 = conv3x3(channels, strides, in_channels)
        self.bn2 = nn.BatchNorm()
        self.conv2 = conv3x3(channels, 1, channels)
        self.downsample = _shortcut_v2(channels, strides, in_channels) if downsample else None

    def hybrid_forward(self, F, x):
        x, residual = _preactivate(F, self, x)
        x = self.conv1(x)
        x = self.conv2(F.Activation(self.bn2(x), act_type="relu"))
        return x + residual


class BottleneckV2(nn.HybridBlock):
    """Pre-activation bottleneck: BN-ReLU before each of 1x1, 3x3, 1x1 convs.

    The stride sits on the 3x3 convolution (GluonCV v2).  Parameters as
    :class:`BasicBlockV1`.
    """

    def __init__(self, channels, strides, downsample=False, in_channels=0, **kwargs):
        super().__init__(**kwargs)
        mid = channels // 4
        self.bn1 = nn.BatchNorm()
        self.conv1 = nn.Conv2D(mid, kernel_size=1, use_bias=False)
        self.bn2 = nn.BatchNorm()
        self.conv2 = conv3x3(mid, strides, mid)
        self.bn3 = nn.BatchNorm()
        self.conv3 = nn.Conv2D(channels, kernel_size=1, use_bias=False)
        self.downsample = _shortcut_v2(channels, strides, in_channels) if downsample else None

    def hybrid_forward(self, F, x):
        x, residual = _preactivate(F, self, x)
        x = self.conv1(x)
        x = self.conv2(F.Activation(self.bn2(x), act_type="relu"))
        x = self.conv3(F.Activation(self.bn3(x), act_type="relu"))
        return x + residual


def make_stage(block, num_blocks, channels, strides, in_channels, stage_index):
    """``num_blocks`` residual blocks; the first changes stride/channels."""
    stage = nn.HybridSequential(prefix=f"stage{stage_index}_")
    with stage.name_scope():
        stage.add(block(channels, strides, channels != in_channels or strides != 1,
                        in_channels=in_channels, prefix=""))
        for _ in range(num_blocks - 1):
            stage.add(block(channels, 1, False, in_channels=channels, prefix=""))
    return stage


class ResNetV1(nn.HybridBlock):
    """ResNet v1: conv7x7-BN-ReLU-maxpool stem, four stages, global pool, dense.

    Parameters
    ----------
    block : type
        :class:`BasicBlockV1` or :class:`BottleneckV1`.
    layers : sequence of int
        Blocks per stage.
    channels : sequence of int
        Stem channels, then the output channels of each stage.
    num_classes : int
    thumbnail : bool
        Replace the stem by one 3x3 convolution (small images).
    """

    def __init__(self, block, layers, channels, num_classes=1000, thumbnail=False, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            _add_stem_and_stages(self.features, block, layers, channels, thumbnail)
            self.features.add(nn.GlobalAvgPool2D())
            self.output = nn.Dense(num_classes, in_units=channels[-1])

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def _add_stem_and_stages(features, block, layers, channels, thumbnail):
    """The stem (7x7/2 conv + 3x3/2 pool, or one 3x3 conv) and the residual stages."""
    if thumbnail:
        features.add(conv3x3(channels[0], 1, 0))
    else:
        features.add(nn.Conv2D(channels[0], 7, 2, 3, use_bias=False),
                     nn.BatchNorm(), nn.Activation("relu"), nn.MaxPool2D(3, 2, 1))
    for i, num_blocks in enumerate(layers):
        features.add(make_stage(block, num_blocks, channels[i + 1], 1 if i == 0 else 2,
                                channels[i], i + 1))


class ResNetV2(nn.HybridBlock):
    """ResNet v2: a data BatchNorm, the stem, pre-activation stages, BN-ReLU, pool, dense.

    The leading BatchNorm has neither scale nor shift (no trainable
    parameters): it only standardizes the raw input, as in GluonCV.
    Parameters as :class:`ResNetV1` with v2 blocks.
    """

    def __init__(self, block, layers, channels, num_classes=1000, thumbnail=False, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.BatchNorm(scale=False, center=False))
            _add_stem_and_stages(self.features, block, layers, channels, thumbnail)
            self.features.add(nn.BatchNorm(), nn.Activation("relu"), nn.GlobalAvgPool2D(),
                              nn.Flatten())
            self.output = nn.Dense(num_classes, in_units=channels[-1])

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


_NETS = {1: ResNetV1, 2: ResNetV2}
_BLOCKS = {(1, "basic"): BasicBlockV1, (1, "bottleneck"): BottleneckV1,
           (2, "basic"): BasicBlockV2, (2, "bottleneck"): BottleneckV2}


def get_resnet(version, depth, num_classes=1000, **kwargs):
    """Build ResNet ``version`` (1 or 2) of ``depth`` (a key of :data:`RESNET_SPEC`).

    Raises
    ------
    ValueError
        For an unknown version or depth.
    """
    if version not in _NETS:
        raise ArgumentError(f"ResNet version {version!r} is not 1 or 2")
    if depth not in RESNET_SPEC:
        raise ArgumentError(f"ResNet depth {depth!r} is not one of {sorted(RESNET_SPEC)}")
    block_type, layers, channels = RESNET_SPEC[depth]
    return _NETS[version](_BLOCKS[version, block_type], layers, channels,
                          num_classes=num_classes, **kwargs)


_BASE = ModelConfig(
    name="resnet", input_shape=(3, 224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD,
    num_classes=1000, test_input_shape=(3, 32, 32),
    paper="He et al. 2016, Deep residual learning for image recognition (CVPR)",
    lesson="Modern convolutional networks: residual networks (ResNet)")
_V2 = _BASE.replace(
    paper="He et al. 2016, Identity mappings in deep residual networks (ECCV)")


def _config(version, depth, reference_params=None):
    name = f"resnet{depth}_v{version}"
    return (_BASE if version == 1 else _V2).replace(
        name=name, gluoncv_name=name, reference_params=reference_params)


@register_model(config=_config(1, 18, reference_params=11_689_512))
def resnet18_v1(num_classes=1000, config=None, **kwargs):
    """ResNet-18 v1 (11.7M parameters)."""
    return get_resnet(1, 18, num_classes, **kwargs)


@register_model(config=_config(1, 34, reference_params=21_797_672))
def resnet34_v1(num_classes=1000, config=None, **kwargs):
    """ResNet-34 v1."""
    return get_resnet(1, 34, num_classes, **kwargs)


@register_model(config=_config(1, 50))
def resnet50_v1(num_classes=1000, config=None, **kwargs):
    """ResNet-50 v1, GluonCV layout (biased 1x1 convs: 25,575,912 parameters)."""
    return get_resnet(1, 50, num_classes, **kwargs)


@register_model(config=_config(1, 101))
def resnet101_v1(num_classes=1000, config=None, **kwargs):
    """ResNet-101 v1, GluonCV layout."""
    return get_resnet(1, 101, num_classes, **kwargs)


@register_model(config=_config(1, 152))
def resnet152_v1(num_classes=1000, config=None, **kwargs):
    """ResNet-152 v1, GluonCV layout."""
    return get_resnet(1, 152, num_classes, **kwargs)


@register_model(config=_config(2, 18))
def resnet18_v2(num_classes=1000, config=None, **kwargs):
    """ResNet-18 v2 (pre-activation)."""
    return get_resnet(2, 18, num_classes, **kwargs)


@register_model(config=_config(2, 34))
def resnet34_v2(num_classes=1000, config=None, **kwargs):
    """ResNet-34 v2 (pre-activation)."""
    return get_resnet(2, 34, num_classes, **kwargs)


@register_model(config=_config(2, 50))
def resnet50_v2(num_classes=1000, config=None, **kwargs):
    """ResNet-50 v2 (pre-activation)."""
    return get_resnet(2, 50, num_classes, **kwargs)


@register_model(config=_config(2, 101))
def resnet101_v2(num_classes=1000, config=None, **kwargs):
    """ResNet-101 v2 (pre-activation)."""
    return get_resnet(2, 101, num_classes, **kwargs)


@register_model(config=_config(2, 152))
def resnet152_v2(num_classes=1000, config=None, **kwargs):
    """ResNet-152 v2 (pre-activation)."""
    return get_resnet(2, 152, num_classes, **kwargs)


def _d2l_config(image_size=96):
    return fashion_mnist_config("resnet18_d2l", image_size, 32, _BASE.paper, _BASE.lesson)


@register_model(config=_d2l_config)
def resnet18_d2l(num_classes=10, image_size=96, config=None, **kwargs):
    """The course's ResNet-18 for gray Fashion-MNIST images of ``image_size`` (default 96)."""
    return get_resnet(1, 18, num_classes, **kwargs)
