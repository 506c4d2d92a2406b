"""AlexNet, the network that won ImageNet 2012, in the torchvision/GluonCV layout.

Krizhevsky, Sutskever and Hinton, "ImageNet classification with deep
convolutional neural networks", NeurIPS 2012.  Lesson: deep convolutional
neural networks (AlexNet).

The single-GPU layout of GluonCV and torchvision (64-192-384-256-256
channels, no local response normalization) has 61,100,840 trainable
parameters at 224x224 for 1000 classes.  The smallest input it accepts is
63x63 (every pooling needs a 3x3 window).

``alexnet_d2l`` is the course's (Dive into Deep Learning) AlexNet for gray
Fashion-MNIST: the paper's 96-256-384-384-256 channels with an unpadded
11x11/4 first convolution, two 4096-unit dense layers with dropout 0.5 and
10 classes, at 96x96 instead of the book's 224x224 (``image_size`` from 67,
the smallest its poolings take, up); 21.6M parameters at 96x96, where the
last pooling leaves 1x1 maps.
"""
from mxnet.gluon import nn

from ._config import ModelConfig
from ._registry import register_model
from ._presets import IMAGENET_MEAN, IMAGENET_STD, fashion_mnist_config

__all__ = ["AlexNet", "ALEXNET_SPEC", "ALEXNET_D2L_SPEC"]


# (channels, kernel, stride, padding, max pool 3x3/2 after it)
ALEXNET_SPEC = ((64, 11, 4, 2, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False),
                (256, 3, 1, 1, False), (256, 3, 1, 1, True))
ALEXNET_D2L_SPEC = ((96, 11, 4, 0, True), (256, 5, 1, 2, True), (384, 3, 1, 1, False),
                    (384, 3, 1, 1, False), (256, 3, 1, 1, True))


class AlexNet(nn.HybridBlock):
    """Five convolutions with ReLU and max pooling, two 4096-unit dense layers.

    Parameters
    ----------
    num_classes : int
    spec : sequence of tuple
        ``(channels, kernel, stride, padding, pool)`` per convolution.
    hidden : int
        Width of the two hidden dense layers.
    dropout : float
        Dropout before each hidden dense layer's successor (training only).
    """

    def __init__(self, num_classes=1000, spec=ALEXNET_SPEC, hidden=4096, dropout=0.5,
                 **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            for channels, kernel, stride, padding, pool in spec:
                self.features.add(nn.Conv2D(channels, kernel, stride, padding,
                                            activation="relu"))
                if pool:
                    self.features.add(nn.MaxPool2D(pool_size=3, strides=2))
            self.features.add(nn.Flatten(),
                              nn.Dense(hidden, activation="relu"), nn.Dropout(dropout),
                              nn.Dense(hidden, activation="relu"), nn.Dropout(dropout))
            self.output = nn.Dense(num_classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


_PAPER = ("Krizhevsky et al. 2012, ImageNet classification with deep convolutional neural "
          "networks (NeurIPS)")
_LESSON = "Modern convolutional networks: deep convolutional neural networks (AlexNet)"


@register_model(config=ModelConfig(
    name="alexnet", input_shape=(3, 224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD,
    num_classes=1000, test_input_shape=(3, 64, 64), reference_params=61_100_840,
    gluoncv_name="alexnet",
    paper=_PAPER, lesson=_LESSON))
def alexnet(num_classes=1000, config=None, **kwargs):
    """AlexNet for 224x224 ImageNet images (61.1M parameters)."""
    return AlexNet(num_classes=num_classes, **kwargs)


def _d2l_config(image_size=96):
    return fashion_mnist_config("alexnet_d2l", image_size, 67, _PAPER, _LESSON, test_size=67)


@register_model(config=_d2l_config)
def alexnet_d2l(num_classes=10, image_size=96, config=None, **kwargs):
    """The course's AlexNet for gray Fashion-MNIST images of ``image_size`` (default 96)."""
    return AlexNet(num_classes=num_classes, spec=ALEXNET_D2L_SPEC, **kwargs)
