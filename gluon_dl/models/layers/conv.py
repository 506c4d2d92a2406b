"""Convolution + batch norm + activation, the unit most CNN families stack.

Lessons: batch normalization, ResNet, DenseNet, MobileNet.  A convolution
followed by batch normalization needs no bias (the norm's beta replaces
it), so every helper here builds bias-free convolutions; the activation is
a name so that a spec table can choose it.

``ReLU6`` is ``clip(x, 0, 6)``: one operator that every export target
(ONNX ``Clip``, TFLite ``RELU6``) maps natively.
"""
from mxnet.gluon import nn

from ...errors import ArgumentError

__all__ = ["ReLU6", "activation_layer", "conv3x3", "conv_bn_act"]


class ReLU6(nn.HybridBlock):
    """``min(max(x, 0), 6)``, the activation of MobileNet (Howard et al. 2017)."""

    def hybrid_forward(self, F, x):
        return F.clip(x, 0.0, 6.0)


def activation_layer(activation):
    """A block for ``activation``: ``"relu6"`` or any ``nn.Activation`` name.

    Raises
    ------
    ValueError
        For an activation ``nn.Activation`` does not know.
    """
    if activation == "relu6":
        return ReLU6()
    if activation not in ("relu", "sigmoid", "tanh", "softrelu", "softsign"):
        raise ArgumentError(f"unknown activation {activation!r}: use relu, relu6, sigmoid, "
                         "tanh, softrelu or softsign")
    return nn.Activation(activation)


def conv3x3(channels, strides=1, in_channels=0):
    """A bias-free 3x3 convolution with padding 1 (the ResNet building brick)."""
    return nn.Conv2D(channels, kernel_size=3, strides=strides, padding=1, use_bias=False,
                     in_channels=in_channels)


def conv_bn_act(channels, kernel_size=1, strides=1, padding=0, groups=1, activation="relu",
                in_channels=0, epsilon=1e-5, prefix=""):
    """Conv2D (no bias) -> BatchNorm -> activation, as one ``HybridSequential``.

    Parameters
    ----------
    channels : int
        Output channels.
    kernel_size, strides, padding : int or tuple
        As in ``nn.Conv2D``.
    groups : int
        ``groups == channels == in_channels`` gives a depthwise convolution.
    activation : str or None
        ``"relu"``, ``"relu6"``, ... or ``None`` for a linear output (the
        projection of MobileNet v2's inverted residual).
    in_channels : int
        Input channels, 0 to infer them from the first input.
    epsilon : float
        BatchNorm epsilon (GoogLeNet uses 1e-3).
    prefix : str
        Prefix of the returned sequential; its layers are named in the
        enclosing scope.
    """
    # Children are created in the caller's name scope (as GluonCV does), so
    # sibling units get distinct names conv0, conv1, ... without extra prefixes.
    out = nn.HybridSequential(prefix=prefix)
    out.add(nn.Conv2D(channels, kernel_size, strides, padding, groups=groups,
                      use_bias=False, in_channels=in_channels))
    out.add(nn.BatchNorm(epsilon=epsilon, in_channels=channels))
    if activation:
        out.add(activation_layer(activation))
    return out
