"""GoogLeNet (Inception v1): the course version and GluonCV's batch-norm version.

Szegedy et al., "Going deeper with convolutions", CVPR 2015.  Lesson:
networks with parallel concatenations (GoogLeNet).

Both variants share one spec table of nine Inception modules:

* ``googlenet_d2l`` is the course's (Dive into Deep Learning) network for
  Fashion-MNIST at 1x96x96: the paper's modules with 5x5 convolutions in the
  third branch, biased convolutions with ReLU, no auxiliary classifiers.
* ``googlenet`` matches GluonCV's (and torchvision's) ImageNet model: every
  convolution is conv-BN(eps 1e-3)-ReLU without bias, the third branch uses
  a 3x3 convolution (a long-standing deviation of those zoos from the
  paper), and dropout 0.4 precedes the classifier: 6,624,904 trainable
  parameters.

Pooling is 3x3/2 with padding 1 everywhere (d2l); at 224x224 it gives the
same 56/28/14/7 grids as GluonCV's ceil-mode pooling and exports to every
format.  A global average pool replaces GluonCV's fixed 7x7 one, so the
tests run at 32x32.
"""
from mxnet.gluon import nn

from ._config import ModelConfig
from ._registry import register_model
from .layers.conv import conv_bn_act
from ._presets import IMAGENET_MEAN, IMAGENET_STD, FASHION_MNIST_MEAN, FASHION_MNIST_STD, FASHION_MNIST_LABELS

__all__ = ["GoogLeNet", "Inception", "INCEPTION_SPEC"]


# Per stage, the Inception modules as (1x1, (3x3 reduce, 3x3), (5x5 reduce, 5x5), pool proj);
# stages 3 and 4 end with a max pool, stage 5 with global average pooling.
INCEPTION_SPEC = (
    ((64, (96, 128), (16, 32), 32), (128, (128, 192), (32, 96), 64)),
    ((192, (96, 208), (16, 48), 64), (160, (112, 224), (24, 64), 64),
     (128, (128, 256), (24, 64), 64), (112, (144, 288), (32, 64), 64),
     (256, (160, 320), (32, 128), 128)),
    ((256, (160, 320), (32, 128), 128), (384, (192, 384), (48, 128), 128)),
)


def _conv(channels, kernel_size, strides=1, padding=0, batch_norm=False):
    if batch_norm:
        return conv_bn_act(channels, kernel_size, strides, padding, epsilon=1e-3)
    return nn.Conv2D(channels, kernel_size, strides, padding, activation="relu")


def _pool():
    return nn.MaxPool2D(pool_size=3, strides=2, padding=1)


class Inception(nn.HybridBlock):
    """Four parallel branches concatenated along channels.

    Parameters
    ----------
    c1 : int
        Channels of the 1x1 branch.
    c2, c3 : tuple of int
        ``(reduce, out)`` channels of the 3x3 and the "5x5" branches.
    c4 : int
        Channels of the 1x1 projection after the 3x3 max pool.
    branch3_kernel : int
        Kernel of the third branch: 5 (paper, course) or 3 (GluonCV).
    batch_norm : bool
        Conv-BN-ReLU without bias instead of biased conv-ReLU.
    """

    def __init__(self, c1, c2, c3, c4, branch3_kernel=5, batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.p1 = _conv(c1, 1, batch_norm=batch_norm)
            self.p2 = nn.HybridSequential(prefix="")
            self.p2.add(_conv(c2[0], 1, batch_norm=batch_norm),
                        _conv(c2[1], 3, padding=1, batch_norm=batch_norm))
            self.p3 = nn.HybridSequential(prefix="")
            self.p3.add(_conv(c3[0], 1, batch_norm=batch_norm),
                        _conv(c3[1], branch3_kernel, padding=branch3_kernel // 2,
                              batch_norm=batch_norm))
            self.p4 = nn.HybridSequential(prefix="")
            self.p4.add(nn.MaxPool2D(pool_size=3, strides=1, padding=1),
                        _conv(c4, 1, batch_norm=batch_norm))

    def hybrid_forward(self, F, x):
        return F.concat(self.p1(x), self.p2(x), self.p3(x), self.p4(x), dim=1)


class GoogLeNet(nn.HybridBlock):
    """Stem (7x7/2 conv, pool, 1x1 and 3x3 convs, pool), nine Inception modules, classifier.

    Parameters
    ----------
    num_classes : int
    branch3_kernel : int
        5 for the paper's modules, 3 for GluonCV's.
    batch_norm : bool
        Conv-BN-ReLU everywhere (GluonCV) instead of biased conv-ReLU (course).
    dropout : float
        Dropout before the classifier (training only); 0 disables it.
    """

    def __init__(self, num_classes=1000, branch3_kernel=5, batch_norm=False, dropout=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(_conv(64, 7, 2, 3, batch_norm), _pool(),
                              _conv(64, 1, batch_norm=batch_norm),
                              _conv(192, 3, padding=1, batch_norm=batch_norm), _pool())
            for i, stage in enumerate(INCEPTION_SPEC):
                for c1, c2, c3, c4 in stage:
                    self.features.add(Inception(c1, c2, c3, c4, branch3_kernel, batch_norm))
                if i < len(INCEPTION_SPEC) - 1:
                    self.features.add(_pool())
            self.features.add(nn.GlobalAvgPool2D(), nn.Flatten())
            if dropout:
                self.features.add(nn.Dropout(dropout))
            self.output = nn.Dense(num_classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


_PAPER = "Szegedy et al. 2015, Going deeper with convolutions (CVPR)"
_LESSON = "Modern convolutional networks: networks with parallel concatenations (GoogLeNet)"


@register_model(config=ModelConfig(
    name="googlenet", input_shape=(3, 224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD,
    num_classes=1000, test_input_shape=(3, 32, 32), reference_params=6_624_904,
    gluoncv_name="googlenet", paper=_PAPER, lesson=_LESSON))
def googlenet(num_classes=1000, config=None, **kwargs):
    """GoogLeNet with batch normalization, as GluonCV's (6.6M parameters)."""
    return GoogLeNet(num_classes, branch3_kernel=3, batch_norm=True, dropout=0.4, **kwargs)


@register_model(config=ModelConfig(
    name="googlenet_d2l", input_shape=(1, 96, 96), mean=FASHION_MNIST_MEAN,
    std=FASHION_MNIST_STD, num_classes=10, labels=FASHION_MNIST_LABELS,
    test_input_shape=(1, 32, 32), paper=_PAPER,
    lesson=_LESSON + ", Fashion-MNIST at 96x96"))
def googlenet_d2l(num_classes=10, config=None, **kwargs):
    """The course's GoogLeNet: the paper's modules, no BN, Fashion-MNIST at 96x96."""
    return GoogLeNet(num_classes, branch3_kernel=5, batch_norm=False, **kwargs)
