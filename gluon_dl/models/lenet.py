"""LeNet-5, the first convolutional network of the course.

LeCun et al., "Gradient-based learning applied to document recognition",
Proc. IEEE 1998.  Lesson: convolutional neural networks (LeNet).  The
modern variant uses ReLU and max pooling, which train far faster than the
original sigmoid/average pooling and export to every edge format.
"""
from mxnet.gluon import nn

from ._config import ModelConfig
from ._registry import register_model

MNIST_CONFIG = ModelConfig(
    name="lenet5",
    input_shape=(1, 28, 28),
    layout="NCHW",
    mean=(0.1307,),
    std=(0.3081,),
    num_classes=10,
    labels=tuple(str(i) for i in range(10)),
    paper="LeCun et al. 1998, Gradient-based learning applied to document recognition",
    lesson="Convolutional neural networks: LeNet",
)


class LeNet5(nn.HybridBlock):
    """LeNet-5: two 5x5 convolutions with pooling, then three dense layers.

    Parameters
    ----------
    num_classes : int
        Number of output classes.
    activation : str
        ``"relu"`` (default) or ``"sigmoid"`` as in the 1998 paper.
    """

    def __init__(self, num_classes=10, activation="relu", config=None, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(
                nn.Conv2D(6, kernel_size=5, padding=2, activation=activation),
                nn.MaxPool2D(pool_size=2, strides=2),
                nn.Conv2D(16, kernel_size=5, activation=activation),
                nn.MaxPool2D(pool_size=2, strides=2),
                nn.Flatten(),
                nn.Dense(120, activation=activation),
                nn.Dense(84, activation=activation),
            )
            self.output = nn.Dense(num_classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


@register_model(config=MNIST_CONFIG)
def lenet5(num_classes=10, activation="relu", config=None, **kwargs):
    """LeNet-5 for 28x28 grayscale digits (LeCun et al. 1998)."""
    return LeNet5(num_classes=num_classes, activation=activation, **kwargs)
