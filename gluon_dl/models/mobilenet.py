"""MobileNet v1 and v2 with width multipliers, for ImageNet and the edge.

Howard et al., "MobileNets: efficient convolutional neural networks for
mobile vision applications", arXiv:1704.04861, 2017 (v1);
Sandler et al., "MobileNetV2: inverted residuals and linear bottlenecks",
CVPR 2018 (v2).  Lesson: efficient networks for edge deployment (MobileNet).

Layer for layer as GluonCV's ``mobilenet.py``: every channel count is
``int(c * multiplier)``; v2 keeps its last 1x1 convolution at 1280 channels
for multipliers <= 1 and classifies with a bias-free 1x1 convolution on the
pooled features.  That classifier is why GluonCV's MobileNetV2-1.0 has
3,503,872 trainable parameters and torchvision's 3,504,872: torchvision's
``Linear(1280, 1000)`` adds 1,000 biases.
"""
from mxnet.gluon import nn

from ._config import ModelConfig
from ._registry import register_model
from .layers.conv import conv_bn_act
from ._presets import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["MobileNet", "MobileNetV2", "InvertedResidual", "MOBILENET_SPEC",
           "MOBILENETV2_SPEC"]


# v1: (output channels, stride) of the depthwise-separable layers after a 32-channel stem.
MOBILENET_SPEC = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                  (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
# v2: (expansion t, output channels c, repeats n, first stride s), Table 2 of the paper.
MOBILENETV2_SPEC = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _scale(channels, multiplier):
    return int(channels * multiplier)


class MobileNet(nn.HybridBlock):
    """MobileNet v1: a 3x3/2 stem, 13 depthwise-separable layers, global pool, dense.

    Parameters
    ----------
    multiplier : float
        Width multiplier alpha: every layer has ``int(c * alpha)`` channels.
    num_classes : int
    """

    def __init__(self, multiplier=1.0, num_classes=1000, **kwargs):
        super().__init__(**kwargs)
        self.multiplier = multiplier
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            in_channels = _scale(32, multiplier)
            self.features.add(conv_bn_act(in_channels, 3, 2, 1))
            for channels, stride in MOBILENET_SPEC:
                channels = _scale(channels, multiplier)
                self.features.add(
                    conv_bn_act(in_channels, 3, stride, 1, groups=in_channels),  # depthwise
                    conv_bn_act(channels, 1))  # pointwise
                in_channels = channels
            self.features.add(nn.GlobalAvgPool2D(), nn.Flatten())
            self.output = nn.Dense(num_classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


class InvertedResidual(nn.HybridBlock):
    """1x1 expand (ReLU6), 3x3 depthwise (ReLU6), linear 1x1 project; + input if shapes match.

    Parameters
    ----------
    in_channels, channels : int
    expansion : int
        The hidden width is ``in_channels * expansion`` (no expand conv when 1).
    strides : int
    """

    def __init__(self, in_channels, channels, expansion, strides, **kwargs):
        super().__init__(**kwargs)
        self.use_shortcut = strides == 1 and in_channels == channels
        hidden = in_channels * expansion
        with self.name_scope():
            self.out = nn.HybridSequential(prefix="")
            if expansion != 1:
                self.out.add(conv_bn_act(hidden, 1, activation="relu6"))
            self.out.add(conv_bn_act(hidden, 3, strides, 1, groups=hidden, activation="relu6"),
                         conv_bn_act(channels, 1, activation=None))

    def hybrid_forward(self, F, x):
        out = self.out(x)
        return out + x if self.use_shortcut else out


class MobileNetV2(nn.HybridBlock):
    """MobileNet v2: stem, 17 inverted residuals, 1x1 conv to 1280, pool, 1x1 classifier.

    Parameters
    ----------
    multiplier : float
        Width multiplier: ``int(c * multiplier)`` channels; the last 1x1 conv
        has ``int(1280 * multiplier)`` channels only when multiplier > 1.
    num_classes : int
    """

    def __init__(self, multiplier=1.0, num_classes=1000, **kwargs):
        super().__init__(**kwargs)
        self.multiplier = multiplier
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="features_")
            with self.features.name_scope():
                in_channels = _scale(32, multiplier)
                self.features.add(conv_bn_act(in_channels, 3, 2, 1, activation="relu6"))
                for t, c, n, s in MOBILENETV2_SPEC:
                    channels = _scale(c, multiplier)
                    for i in range(n):
                        self.features.add(InvertedResidual(in_channels, channels, t,
                                                           s if i == 0 else 1))
                        in_channels = channels
                last = _scale(1280, multiplier) if multiplier > 1.0 else 1280
                self.features.add(conv_bn_act(last, 1, activation="relu6"),
                                  nn.GlobalAvgPool2D())
            self.output = nn.HybridSequential(prefix="output_")
            with self.output.name_scope():
                self.output.add(nn.Conv2D(num_classes, 1, use_bias=False, prefix="pred_"),
                                nn.Flatten())

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


_BASE = ModelConfig(
    name="mobilenet", input_shape=(3, 224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD,
    num_classes=1000, test_input_shape=(3, 32, 32),
    paper="Howard et al. 2017, MobileNets: efficient convolutional neural networks for "
          "mobile vision applications (arXiv:1704.04861)",
    lesson="Edge deployment: efficient networks (MobileNet)")
_V2 = _BASE.replace(
    paper="Sandler et al. 2018, MobileNetV2: inverted residuals and linear bottlenecks (CVPR)")


def _config(name, reference_params=None):
    base = _V2 if name.startswith("mobilenetv2") else _BASE
    return base.replace(name=name, gluoncv_name=name, reference_params=reference_params)


@register_model(config=_config("mobilenet1.0", 4_231_976), name="mobilenet1.0")
def mobilenet1_0(num_classes=1000, config=None, **kwargs):
    """MobileNet v1, width 1.0 (4.2M parameters)."""
    return MobileNet(1.0, num_classes, **kwargs)


@register_model(config=_config("mobilenet0.75"), name="mobilenet0.75")
def mobilenet0_75(num_classes=1000, config=None, **kwargs):
    """MobileNet v1, width 0.75."""
    return MobileNet(0.75, num_classes, **kwargs)


@register_model(config=_config("mobilenet0.5"), name="mobilenet0.5")
def mobilenet0_5(num_classes=1000, config=None, **kwargs):
    """MobileNet v1, width 0.5."""
    return MobileNet(0.5, num_classes, **kwargs)


@register_model(config=_config("mobilenet0.25"), name="mobilenet0.25")
def mobilenet0_25(num_classes=1000, config=None, **kwargs):
    """MobileNet v1, width 0.25."""
    return MobileNet(0.25, num_classes, **kwargs)


@register_model(config=_config("mobilenetv2_1.0", 3_503_872), name="mobilenetv2_1.0")
def mobilenetv2_1_0(num_classes=1000, config=None, **kwargs):
    """MobileNet v2, width 1.0 (3.5M parameters)."""
    return MobileNetV2(1.0, num_classes, **kwargs)


@register_model(config=_config("mobilenetv2_0.75"), name="mobilenetv2_0.75")
def mobilenetv2_0_75(num_classes=1000, config=None, **kwargs):
    """MobileNet v2, width 0.75."""
    return MobileNetV2(0.75, num_classes, **kwargs)


@register_model(config=_config("mobilenetv2_0.5"), name="mobilenetv2_0.5")
def mobilenetv2_0_5(num_classes=1000, config=None, **kwargs):
    """MobileNet v2, width 0.5."""
    return MobileNetV2(0.5, num_classes, **kwargs)


@register_model(config=_config("mobilenetv2_0.25"), name="mobilenetv2_0.25")
def mobilenetv2_0_25(num_classes=1000, config=None, **kwargs):
    """MobileNet v2, width 0.25."""
    return MobileNetV2(0.25, num_classes, **kwargs)
