"""DCGAN: convolutional generator and discriminator, and their training step.

Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", ICLR 2016.  Lesson:
generative adversarial networks (DCGAN).

The paper's recipe: transposed convolutions with batch normalization and
ReLU in the generator, a tanh output; strided convolutions with batch
normalization (not on the first layer) and LeakyReLU(0.2) in the
discriminator; no pooling, no hidden dense layers.  The generator takes the
latent ``z`` as its input, so it is deterministic and exports like any
other network.  Images live in [-1, 1]: the configs normalize [0, 1]
pixels with mean 0.5 and std 0.5.

One deviation: the generator's last layer is a 3x3 convolution after the
final upsampling instead of a transposed convolution with ``channels``
outputs, because MXNet 1.9.1's MKL-DNN backend cannot differentiate a
transposed convolution with a single output channel ("could not create a
primitive descriptor for a reorder primitive").

The first transposed convolution (1x1 latent to a k x k feature map) is
computed as what it is, the latent times its weight matrix (the paper's
"project and reshape"), with the same weight: as a transposed convolution,
oneDNN stored that weight in place in a layout chosen for the batch size of
the first inference call, and MXNet 1.9.1 then refused any other batch size
("Check failed: weights.GetMKLDNNData()->get_desc() == ..."); a copy of the
weight in front of it crashed the imperative backward pass instead.
"""
from mxnet.gluon import nn

from ..errors import ArgumentError
from ._config import ModelConfig
from ._registry import register_model

# image size: (generator, discriminator) layers as (kernel, stride, padding,
# channels at width 64).  The generator's transposed convolutions grow 1x1 to
# the image size; the discriminator's convolutions shrink it back to 1x1.
DCGAN_SPECS = {
    28: (((7, 1, 0, 128), (4, 2, 1, 64), (4, 2, 1, 32)),  # 1 -> 7 -> 14 -> 28
         ((4, 2, 1, 64), (4, 2, 1, 128), (7, 1, 0, 1))),  # 28 -> 14 -> 7 -> 1
    32: (((4, 1, 0, 256), (4, 2, 1, 128), (4, 2, 1, 64), (4, 2, 1, 32)),  # 1 -> 4 -> ... -> 32
         ((4, 2, 1, 64), (4, 2, 1, 128), (4, 2, 1, 256), (4, 1, 0, 1))),  # 32 -> ... -> 4 -> 1
}
LATENT_DIM = 64
PAPER = "Radford et al. 2016, Unsupervised representation learning with deep convolutional GANs"
LESSON = "Generative adversarial networks: DCGAN"

GENERATOR_CONFIG = ModelConfig(  # a latent vector in, whatever the image size and channels
    name="dcgan_generator",
    input_shape=(LATENT_DIM,),
    layout="NC",
    input_range=(-3.0, 3.0),  # z ~ N(0, I)
    task="generation",
    paper=PAPER,
    lesson=LESSON,
)


def discriminator_config(image_size=28, channels=1, **_):
    """The discriminator's config: ``channels x image_size x image_size`` images in [-1, 1]."""
    _spec(image_size)
    return ModelConfig(
        name="dcgan_discriminator",
        input_shape=(channels, image_size, image_size),
        layout="NCHW",
        mean=(0.5,),
        std=(0.5,),
        task="gan-discriminator",  # one real-vs-fake logit per image
        paper=PAPER,
        lesson=LESSON,
    )


def _spec(image_size):
    if image_size not in DCGAN_SPECS:
        raise ArgumentError(f"DCGAN supports image_size {sorted(DCGAN_SPECS)}, got {image_size!r}")
    return DCGAN_SPECS[image_size]


class _Projection(nn.Conv2DTranspose):
    """A transposed convolution of a 1x1 input (stride 1, no padding) as a matrix product.

    Same parameters (weight ``(in, out, kh, kw)``), same function: output
    ``[n, o, i, j] = sum_c x[n, c] * weight[c, o, i, j]``.  See the module's notes.
    """

    def hybrid_forward(self, F, x, weight, bias=None):
        kh, kw = self._kwargs["kernel"]
        y = F.dot(F.reshape(x, (0, -1)), F.reshape(weight, (0, -1)))
        y = F.reshape(y, (0, self._channels, kh, kw))
        if bias is not None:
            y = F.broadcast_add(y, F.reshape(bias, (1, -1, 1, 1)))
        return self.act(y) if self.act is not None else y


class DCGANGenerator(nn.HybridBlock):
    """``z (batch, latent_dim)`` to images ``(batch, channels, size, size)`` in [-1, 1].

    Parameters
    ----------
    image_size : int
        28 or 32.
    channels : int
        Output image channels.
    width : int
        Scales the channel counts of :data:`DCGAN_SPECS` by ``width / 64``.
    """

    def __init__(self, image_size=28, channels=1, width=64, **kwargs):
        super().__init__(**kwargs)
        layers, _ = _spec(image_size)
        with self.name_scope():
            self.body = nn.HybridSequential(prefix="")
            for i, (k, s, p, c) in enumerate(layers):
                layer = (nn.Conv2DTranspose(c * width // 64, k, strides=s, padding=p,
                                            use_bias=False) if i or (s, p) != (1, 0) else
                         _Projection(c * width // 64, k, use_bias=False, in_channels=LATENT_DIM))
                self.body.add(layer, nn.BatchNorm(), nn.Activation("relu"))
            self.body.add(nn.Conv2D(channels, 3, padding=1), nn.Activation("tanh"))

    def hybrid_forward(self, F, z):
        return self.body(F.reshape(z, shape=(0, 0, 1, 1)))


class DCGANDiscriminator(nn.HybridBlock):
    """Images ``(batch, channels, size, size)`` to one real-vs-fake logit ``(batch,)``.

    Parameters
    ----------
    image_size : int
        28 or 32.
    width : int
        Scales the channel counts of :data:`DCGAN_SPECS` by ``width / 64``.
    """

    def __init__(self, image_size=28, width=64, **kwargs):
        super().__init__(**kwargs)
        _, layers = _spec(image_size)
        with self.name_scope():
            self.body = nn.HybridSequential(prefix="")
            for i, (k, s, p, c) in enumerate(layers[:-1]):
                self.body.add(nn.Conv2D(c * width // 64, k, strides=s, padding=p,
                                        use_bias=i == 0))
                if i > 0:  # the paper leaves the discriminator's input layer unnormalized
                    self.body.add(nn.BatchNorm())
                self.body.add(nn.LeakyReLU(0.2))
            k, s, p, c = layers[-1]
            self.body.add(nn.Conv2D(c, k, strides=s, padding=p))

    def hybrid_forward(self, F, x):
        return F.reshape(self.body(x), shape=(-1,))


@register_model(config=GENERATOR_CONFIG)
def dcgan_generator(image_size=28, channels=1, width=64, config=None, **kwargs):
    """DCGAN generator for 28x28 grayscale digits from a 64-d latent."""
    return DCGANGenerator(image_size=image_size, channels=channels, width=width, **kwargs)


@register_model(config=discriminator_config)
def dcgan_discriminator(image_size=28, channels=1, width=64, config=None, **kwargs):
    """DCGAN discriminator for 28x28 grayscale digits (``channels`` sets the config's input)."""
    return DCGANDiscriminator(image_size=image_size, width=width, **kwargs)


def gan_train_step(G, D, real, z, trainer_G, trainer_D, loss=None):
    """One alternating GAN update: the discriminator, then the generator.

    Defined for the lesson on GANs (Goodfellow et al. 2014, Algorithm 1 with
    one discriminator step per generator step).

    Parameters
    ----------
    G, D : HybridBlock
        Generator ``z -> images`` and discriminator ``images -> logits``.
    real : NDArray
        A batch of real images, scaled like ``G``'s output ([-1, 1]).
    z : NDArray
        Latent batch for the fakes.
    trainer_G, trainer_D : mxnet.gluon.Trainer
        Over ``G``'s and ``D``'s parameters.
    loss : mxnet.gluon.loss.Loss, optional
        ``loss(logits, labels)``, e.g. ``SigmoidBinaryCrossEntropyLoss()``;
        default: the non-saturating binary cross-entropy of
        :func:`gluon_dl.losses.gan_discriminator_loss` /
        :func:`gluon_dl.losses.gan_generator_loss`.

    Returns
    -------
    (float, float)
        Mean discriminator loss and mean generator loss of this step.
    """
    import mxnet as mx
    from mxnet import autograd

    from ..losses.generative import gan_discriminator_loss, gan_generator_loss

    if loss is None:
        d_loss_fn, g_loss_fn = gan_discriminator_loss, gan_generator_loss
    else:
        def d_loss_fn(real_logits, fake_logits):
            ones, zeros = mx.nd.ones_like(real_logits), mx.nd.zeros_like(fake_logits)
            return loss(real_logits, ones) + loss(fake_logits, zeros)

        def g_loss_fn(fake_logits):
            return loss(fake_logits, mx.nd.ones_like(fake_logits))

    with autograd.record():  # G in training mode, as in the generator step
        fake = G(z)
        loss_D = d_loss_fn(D(real), D(fake.detach()))
    loss_D.backward()
    trainer_D.step(real.shape[0])
    with autograd.record():
        loss_G = g_loss_fn(D(G(z)))
    loss_G.backward()
    trainer_G.step(z.shape[0])
    return float(loss_D.mean().asscalar()), float(loss_G.mean().asscalar())
