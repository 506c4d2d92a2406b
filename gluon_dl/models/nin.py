"""Network in Network (NiN), the course version for Fashion-MNIST.

Lin, Chen and Yan, "Network in network", ICLR 2014 (arXiv 2013).  Lesson:
network in network (NiN).

This is the configuration of Dive into Deep Learning (d2l, MXNet
edition): Fashion-MNIST images resized to 1x224x224, four NiN blocks
(a kxk convolution followed by two 1x1 convolutions, each with ReLU) with
AlexNet-like kernels 11/5/3/3 and 96/256/384/classes channels, dropout,
and global average pooling instead of dense layers.  As in d2l the last
block ends with a ReLU, so the class scores are non-negative.  GluonCV has
no NiN; its trainable parameter count is 1,992,166 for 10 classes.
"""
from mxnet.gluon import nn

from ._config import ModelConfig
from ._registry import register_model
from ._presets import FASHION_MNIST_MEAN, FASHION_MNIST_STD, FASHION_MNIST_LABELS

__all__ = ["NiN", "NIN_SPEC", "nin_block"]


# (channels, kernel, stride, padding) of the three hidden NiN blocks; each is
# followed by a 3x3/2 max pool, the classifier block by global average pooling.
NIN_SPEC = ((96, 11, 4, 0), (256, 5, 1, 2), (384, 3, 1, 1))


def nin_block(channels, kernel_size, strides, padding):
    """A kxk convolution and two 1x1 convolutions ("MLP conv"), each with ReLU."""
    block = nn.HybridSequential(prefix="")
    block.add(nn.Conv2D(channels, kernel_size, strides, padding, activation="relu"),
              nn.Conv2D(channels, kernel_size=1, activation="relu"),
              nn.Conv2D(channels, kernel_size=1, activation="relu"))
    return block


class NiN(nn.HybridBlock):
    """NiN blocks with max pooling, dropout, a classifier NiN block and global pooling.

    Parameters
    ----------
    num_classes : int
    spec : sequence of tuple
        ``(channels, kernel, stride, padding)`` of the hidden NiN blocks.
    dropout : float
        Dropout before the classifier block (training only).
    """

    def __init__(self, num_classes=10, spec=NIN_SPEC, dropout=0.5, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            for channels, kernel, stride, padding in spec:
                self.features.add(nin_block(channels, kernel, stride, padding),
                                  nn.MaxPool2D(pool_size=3, strides=2))
            self.features.add(nn.Dropout(dropout))
            self.output = nn.HybridSequential(prefix="")
            self.output.add(nin_block(num_classes, 3, 1, 1), nn.GlobalAvgPool2D(),
                            nn.Flatten())

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


@register_model(config=ModelConfig(
    name="nin", input_shape=(1, 224, 224), mean=FASHION_MNIST_MEAN, std=FASHION_MNIST_STD,
    num_classes=10, labels=FASHION_MNIST_LABELS, test_input_shape=(1, 96, 96),
    paper="Lin et al. 2013, Network in network (arXiv:1312.4400, ICLR 2014)",
    lesson="Modern convolutional networks: network in network (NiN), Fashion-MNIST at 224x224"))
def nin(num_classes=10, config=None, **kwargs):
    """NiN for Fashion-MNIST resized to 224x224 (the d2l course configuration)."""
    return NiN(num_classes=num_classes, **kwargs)
